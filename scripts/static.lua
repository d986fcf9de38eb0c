-- wrk script: GET /healthz, the static ceiling of the same server.
dofile("scripts/wrk-common.lua")

wrk.method = "GET"
wrk.path = "/healthz"

pipeline(depth)
