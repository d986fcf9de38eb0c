-- wrk script: POST /oauth/token with HTTP Basic and a form body.
-- Credentials come from the environment (EDGEAUTH_BENCH_AUTH = base64 of "id:secret"); so
-- does the path, for other servers measured the same way (EDGEAUTH_BENCH_TOKEN_PATH,
-- default /oauth/token; scripts/bench-peer.sh).
dofile("scripts/wrk-common.lua")

wrk.method = "POST"
wrk.path = os.getenv("EDGEAUTH_BENCH_TOKEN_PATH") or "/oauth/token"
wrk.body = "grant_type=client_credentials&scope=read"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. os.getenv("EDGEAUTH_BENCH_AUTH")

pipeline(depth)
