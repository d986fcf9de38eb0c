-- wrk script: scripts/token.lua with `Connection: close`, so that every request opens a new
-- connection (and, over TLS, does a handshake): handshake-bound load.
dofile("scripts/token.lua")

wrk.headers["Connection"] = "close"
