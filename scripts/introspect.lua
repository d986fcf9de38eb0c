-- wrk script: POST /oauth/introspect of one active token, with HTTP Basic.
-- EDGEAUTH_BENCH_AUTH = base64 of "id:secret", EDGEAUTH_BENCH_TOKEN = the access token.
dofile("scripts/wrk-common.lua")

wrk.method = "POST"
wrk.path = "/oauth/introspect"
wrk.body = "token=" .. os.getenv("EDGEAUTH_BENCH_TOKEN")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. os.getenv("EDGEAUTH_BENCH_AUTH")

pipeline(depth)
