-- Shared by the wrk scripts (loaded with dofile from the repository root, where bench.sh
-- runs wrk): HTTP pipelining and the RESULT line bench.sh parses.

-- EDGEAUTH_BENCH_PIPELINE=N: send N requests per write (HTTP/1.1 pipelining).
depth = tonumber(os.getenv("EDGEAUTH_BENCH_PIPELINE") or "1")

-- pipeline(N) for a script whose request is the same every time (wrk.method, wrk.path,
-- wrk.headers, wrk.body): N copies, built once.
function pipeline(n)
  if n <= 1 then
    return
  end
  init = function(args)
    local r = {}
    for i = 1, n do
      r[i] = wrk.format()
    end
    req = table.concat(r)
  end
  request = function()
    return req
  end
end

-- pipelined(make) for a script that builds each request itself: request() returns `depth`
-- fresh requests from make() in one write.
function pipelined(make)
  if depth <= 1 then
    return make
  end
  return function()
    local r = {}
    for i = 1, depth do
      r[i] = make()
    end
    return table.concat(r)
  end
end

-- Latency percentiles that do not read 0.
--
-- wrk 4.1 (Debian's) corrects its latency histogram for coordinated omission before done():
-- stats_correct(expected) adds copies of every sample n >= 2*expected at n - expected,
-- n - 2*expected, ... down to expected. It never lowers the histogram's `min`, and
-- stats_percentile() scans from `min` to `max`, so the copies that land below the smallest
-- real sample count in the total but are never reached: every percentile whose rank falls
-- in that hidden mass comes back as 0 (wrk itself prints "99% 0.00us"). This happens when
-- `expected` (run time / responses per connection) is small next to the fastest sample,
-- which is always the case with pipelining: wrk takes one sample per write (the time until
-- the last of its N responses), but `expected` counts every response.
--
-- `visible` is the share of the histogram that percentile() can reach (found by bisection:
-- percentile(p) is 0 exactly when p's rank lies in the hidden mass); percentiles are taken
-- of that part. With one request per write it is 1 (or within rounding of it) and the
-- figures are wrk's own.
local function visible_share(latency)
  if latency:percentile(0) == 0 then
    return 0
  end
  local lo, hi = 0, 100
  for _ = 1, 40 do
    local mid = (lo + hi) / 2
    if latency:percentile(mid) > 0 then lo = mid else hi = mid end
  end
  return lo / 100
end

done = function(summary, latency, requests)
  local share = visible_share(latency)
  local scale = share
  if scale > 0.9999 then
    scale = 1 -- wrk's own percentiles, unchanged
  end
  local function pct(p)
    return latency:percentile(p * scale)
  end
  io.write(string.format(
    "RESULT requests=%d duration_us=%d non2xx=%d socket_errors=%d p50_us=%d p99_us=%d p999_us=%d" ..
      " visible_permille=%d depth=%d\n",
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    pct(50), pct(99), pct(99.9), math.floor(share * 1000 + 0.5), depth))
end
