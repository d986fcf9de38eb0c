-- wrk script for node-oidc-provider (scripts/bench-peer.sh): scripts/token.lua with the
-- provider's token path. POST /token with HTTP Basic and the same form body.
-- Credentials come from the environment (EDGEAUTH_BENCH_AUTH = base64 of "id:secret").
dofile("scripts/wrk-common.lua")

wrk.method = "POST"
wrk.path = "/token"
wrk.body = "grant_type=client_credentials&scope=read"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. os.getenv("EDGEAUTH_BENCH_AUTH")

pipeline(tonumber(os.getenv("EDGEAUTH_BENCH_PIPELINE") or "1"))
