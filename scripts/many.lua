-- wrk script: POST /oauth/token for EDGEAUTH_BENCH_CLIENTS clients c0..cN-1 (secret "s<i>",
-- made by bench.sh), chosen at random per request, with client_secret_post credentials.
-- EDGEAUTH_BENCH_PIPELINE=N sends N of them (each its own client) per write.
dofile("scripts/wrk-common.lua")

local clients = tonumber(os.getenv("EDGEAUTH_BENCH_CLIENTS") or "1")

init = function(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 1000)
end

request = pipelined(function()
  local i = math.random(0, clients - 1)
  local body = "grant_type=client_credentials&client_id=c" .. i .. "&client_secret=s" .. i
  return wrk.format("POST", "/oauth/token",
    { ["Content-Type"] = "application/x-www-form-urlencoded" }, body)
end)
