-- wrk script: POST /oauth/introspect with HTTP Basic, a different active token each request,
-- cycling through the tokens in EDGEAUTH_BENCH_TOKENS (one a line, made by
-- scripts/bench-issue-tokens.py). With more tokens than the server's verified-token caches
-- hold (bench.sh issues twice as many), every introspection is a cache miss: a cycle through
-- more keys than an LRU holds finds none of them still there.
-- EDGEAUTH_BENCH_AUTH = base64 of "id:secret"; EDGEAUTH_BENCH_WRK_THREADS = wrk's -t, so
-- that each thread starts its own stretch of the list (two threads a few tokens apart would
-- hit each other's entries).
dofile("scripts/wrk-common.lua")

local threads = tonumber(os.getenv("EDGEAUTH_BENCH_WRK_THREADS") or "1")
local started = 0

setup = function(thread)
  thread:set("thread_index", started)
  started = started + 1
end

local requests = {}
local at = 0

init = function(args)
  local headers = {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Authorization"] = "Basic " .. os.getenv("EDGEAUTH_BENCH_AUTH"),
  }
  for line in io.lines(os.getenv("EDGEAUTH_BENCH_TOKENS")) do
    if #line > 0 then
      requests[#requests + 1] = wrk.format("POST", "/oauth/introspect", headers, "token=" .. line)
    end
  end
  at = math.floor((thread_index or 0) * #requests / threads)
end

request = pipelined(function()
  at = at % #requests + 1
  return requests[at]
end)
