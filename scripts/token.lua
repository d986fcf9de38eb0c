-- wrk script: POST /oauth/token with HTTP Basic and a form body.
-- Credentials come from the environment (EDGEAUTH_BENCH_AUTH = base64 of "id:secret").
-- EDGEAUTH_BENCH_PIPELINE=N sends N requests per write (HTTP pipelining).
local auth = os.getenv("EDGEAUTH_BENCH_AUTH")
local depth = tonumber(os.getenv("EDGEAUTH_BENCH_PIPELINE") or "1")
local path = os.getenv("EDGEAUTH_BENCH_PATH") or "/oauth/token"

wrk.method = "POST"
wrk.path = path
wrk.body = "grant_type=client_credentials&scope=read"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. auth

if depth > 1 then
  init = function(args)
    local r = {}
    for i = 1, depth do
      r[i] = wrk.format()
    end
    req = table.concat(r)
  end
  request = function()
    return req
  end
end

done = function(summary, latency, requests)
  io.write(string.format(
    "RESULT requests=%d duration_us=%d non2xx=%d socket_errors=%d p50_us=%d p99_us=%d p999_us=%d\n",
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
