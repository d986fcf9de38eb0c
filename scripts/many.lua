-- wrk script: POST /oauth/token for EDGEAUTH_BENCH_CLIENTS clients c0..cN-1 (secret "s<i>",
-- made by bench.sh), chosen at random per request, with client_secret_post credentials.
local clients = tonumber(os.getenv("EDGEAUTH_BENCH_CLIENTS") or "1")

init = function(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 1000)
end

request = function()
  local i = math.random(0, clients - 1)
  local body = "grant_type=client_credentials&client_id=c" .. i .. "&client_secret=s" .. i
  return wrk.format("POST", "/oauth/token",
    { ["Content-Type"] = "application/x-www-form-urlencoded" }, body)
end

done = function(summary, latency, requests)
  io.write(string.format(
    "RESULT requests=%d duration_us=%d non2xx=%d socket_errors=%d p50_us=%d p99_us=%d p999_us=%d\n",
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
