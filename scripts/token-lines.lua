-- wrk script: POST /oauth/token with single-use credentials, a different request each time,
-- from files of lines made by examples/bench_credentials.rs (scripts/bench-auth.sh).
--
--   EDGEAUTH_BENCH_BODIES   form bodies, one per line (private_key_jwt assertions); unset or
--                           empty: the fixed body grant_type=client_credentials&scope=read
--   EDGEAUTH_BENCH_DPOP     DPoP proofs, one per line; the n-th goes with the n-th body
--   EDGEAUTH_BENCH_AUTH     base64 of "id:secret": HTTP Basic on every request (unset or
--                           empty: none)
--   EDGEAUTH_BENCH_THREADS  wrk's -t (1): wrk does not tell a script how many threads it runs
--   EDGEAUTH_BENCH_PIPELINE requests per write (scripts/wrk-common.lua)
--
-- Thread t (0-based) of T takes lines t, t+T, t+2T, ... of each file, so no two threads send
-- the same line. Its requests are formatted in init(), which runs before wrk's clock starts,
-- so request() only hands out the next one. A thread that runs out of lines starts over:
-- replays, which the server refuses (401 for an assertion, 400 for a proof), so they show
-- as non-2xx; and done() prints, after the RESULT line,
--   LINES threads=T available=N taken=M exhausted=K
-- (K: how many times a thread started over), so the report can refuse the cell. With neither
-- file the request is fixed, as in scripts/token.lua, and no LINES line is printed.
dofile("scripts/wrk-common.lua")

local bodies_path = os.getenv("EDGEAUTH_BENCH_BODIES") or ""
local dpop_path = os.getenv("EDGEAUTH_BENCH_DPOP") or ""
local auth = os.getenv("EDGEAUTH_BENCH_AUTH") or ""
local declared_threads = tonumber(os.getenv("EDGEAUTH_BENCH_THREADS") or "1")
local from_files = bodies_path ~= "" or dpop_path ~= ""

wrk.method = "POST"
wrk.path = "/oauth/token"
wrk.body = "grant_type=client_credentials&scope=read"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
if auth ~= "" then
  wrk.headers["Authorization"] = "Basic " .. auth
end

-- setup() runs in wrk's main Lua state, once per thread, before any thread starts: number
-- the threads, and keep them so that done() can read their counts.
local threads = {}
function setup(thread)
  if #threads >= declared_threads then
    error("token-lines.lua: more wrk threads than EDGEAUTH_BENCH_THREADS=" .. declared_threads)
  end
  thread:set("thread_index", #threads)
  threads[#threads + 1] = thread
end

if not from_files then
  pipeline(depth)
  return
end

local requests = {}
-- Read by done() through thread:get.
available, taken, exhausted = 0, 0, 0

-- The requests of this thread's share of the lines, formatted as they are read (the files
-- in step), so that only the requests stay in memory.
function init(args)
  local bodies = bodies_path ~= "" and assert(io.open(bodies_path, "r"))
  local proofs = dpop_path ~= "" and assert(io.open(dpop_path, "r"))
  local n = 0
  while true do
    local body = bodies and bodies:read("*l")
    local proof = proofs and proofs:read("*l")
    if (bodies and not body) or (proofs and not proof) then
      if (bodies and body) or (proofs and proof) then
        error("token-lines.lua: EDGEAUTH_BENCH_BODIES and EDGEAUTH_BENCH_DPOP differ in length")
      end
      break
    end
    if n % declared_threads == thread_index then
      if proof then
        wrk.headers["DPoP"] = proof
      end
      available = available + 1
      requests[available] = wrk.format(nil, nil, nil, body or wrk.body)
    end
    n = n + 1
  end
  if bodies then
    bodies:close()
  end
  if proofs then
    proofs:close()
  end
  if available == 0 then
    error("token-lines.lua: no lines for thread " .. thread_index)
  end
end

local next_line = 0
request = pipelined(function()
  next_line = next_line + 1
  if next_line > available then
    next_line = 1
    exhausted = exhausted + 1
  end
  taken = taken + 1
  return requests[next_line]
end)

local result_line = done
done = function(summary, latency, requests_stats)
  result_line(summary, latency, requests_stats)
  local n, t, k = 0, 0, 0
  for _, thread in ipairs(threads) do
    n = n + thread:get("available")
    t = t + thread:get("taken")
    k = k + thread:get("exhausted")
  end
  io.write(string.format("LINES threads=%d available=%d taken=%d exhausted=%d\n", #threads, n, t, k))
end
