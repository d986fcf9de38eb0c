-- Shared by the wrk scripts (loaded with dofile from the repository root, where bench.sh
-- runs wrk): HTTP pipelining and the RESULT line bench.sh parses.

-- EDGEAUTH_BENCH_PIPELINE=N: send N copies of the request per write.
function pipeline(depth)
  if depth <= 1 then
    return
  end
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
