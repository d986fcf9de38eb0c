#!/usr/bin/env bash
# Side-by-side benchmark, one invocation, one machine: node-oidc-provider (the peer of issue
# #6) and edgeauth, each issuing client-credentials JWT access tokens signed ES256, each on
# core 0 and driven by the same wrk (core 1, 1 thread, CONNECTIONS connections, DURATION s).
#
#   scripts/bench-peer.sh                  DURATION=10 CONNECTIONS=64 WARMUP=2
#   DURATION=3 scripts/bench-peer.sh       a short run while developing
#   PG_CPU=0 scripts/bench-peer.sh         edgeauth's PostgreSQL pinned to the server's core:
#                                          one core for each whole system (node-oidc-provider
#                                          keeps its tokens in memory)
#
# node-oidc-provider: the version pinned in scripts/peer/package.json (package-lock.json),
# installed with `npm ci` into target/peer (the repository stays clean); one Node process,
# NODE_ENV=production, scripts/peer/provider.mjs (client_credentials, resource indicators
# with accessTokenFormat jwt and jwt.sign.alg ES256, an EC P-256 key generated at start, one
# client_secret_basic client). Token path POST /token: scripts/token.lua with
# EDGEAUTH_BENCH_TOKEN_PATH=/token, so the very request edgeauth gets. Its ceiling: GET /healthz, a middleware in the provider's
# own Koa stack ahead of its router.
#
# edgeauth: as scripts/bench.sh runs it with its defaults (release build, private PostgreSQL,
# one shard, ES256 key generated per run, one client, async durability, cache on), driven with
# scripts/token.lua; its ceiling is /healthz (scripts/static.lua).
#
# Before each run one token is fetched with curl: it must be HTTP 200 with a JWT whose header
# says ES256 and whose signature verifies against the server's JWKS (scripts/peer/check-jwt.mjs).
# After the runs the script fails if a token run saw a non-2xx answer. The table is printed
# and appended to bench-results/peers.md; its column "others' CPU" is the CPU that processes
# outside this run used during each token run (scripts/peer/others.py): the machine is shared,
# and a run with a high figure there is not one to quote.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
WARMUP=${WARMUP:-2}
SERVER_CPU=${SERVER_CPU:-0}
WRK_CPU=${WRK_CPU:-1}
PEER_DIR=${PEER_DIR:-$PWD/target/peer}

say() { echo "bench-peer.sh: $*" >&2; }

# shellcheck source=scripts/bench-common.sh
. scripts/bench-common.sh
need_debian_package wrk wrk
need_debian_package node nodejs
need_debian_package npm npm
# node-oidc-provider 9 runs on Node 20.18+ (it warns "Unsupported runtime", asking for 22 LTS)
# and uses URL.parse, which Node 18 lacks: Debian 12's own nodejs (18.20) fails at the first
# request, so the script stops rather than measure that.
if ! node -e 'process.exit(typeof URL.parse === "function" ? 0 : 1)'; then
  say "node-oidc-provider 9 needs Node >= 20.18 (URL.parse); this node is $(node --version)"; exit 1
fi
scripts/pg.sh install

# node-oidc-provider into target/peer: `npm ci` from the committed lockfile, again only when
# the lockfile changed.
mkdir -p "$PEER_DIR"
cp scripts/peer/package.json scripts/peer/package-lock.json scripts/peer/provider.mjs "$PEER_DIR/"
if ! cmp -s scripts/peer/package-lock.json "$PEER_DIR/.installed-lock.json" ||
  [ ! -d "$PEER_DIR/node_modules/oidc-provider" ]; then
  say "npm ci (node-oidc-provider) into $PEER_DIR"
  (cd "$PEER_DIR" && npm ci --omit=dev --no-audit --no-fund --loglevel=error >&2)
  cp scripts/peer/package-lock.json "$PEER_DIR/.installed-lock.json"
fi
peer_version=$(node -p "require('$PEER_DIR/node_modules/oidc-provider/package.json').version")
node_version=$(node --version)

say "building release"
cargo build --release --quiet
bin=$PWD/target/release/edgeauth

work=$(mktemp -d /tmp/edgeauth-bench-peer.XXXXXX)
server=""
trap 'stop_bench_work "$work"' EXIT

port=""
run_wrk() { # script seconds -> RESULT line
  taskset -c "$WRK_CPU" wrk -t1 -c"$CONNECTIONS" -d"${2}s" --latency -s "$1" "http://127.0.0.1:$port" | grep '^RESULT'
}
check_token() { # name token_url jwks_url: one token by curl, HTTP 200, JWT ES256 verified
  local code
  code=$(curl -s -o "$work/token.json" -w '%{http_code}' -H "Authorization: Basic $EDGEAUTH_BENCH_AUTH" \
    -d 'grant_type=client_credentials&scope=read' "$2")
  [ "$code" = 200 ] || { say "$1: token request answered HTTP $code: $(head -c 300 "$work/token.json")"; exit 1; }
  node scripts/peer/check-jwt.mjs "$3" "$1" <"$work/token.json" >&2
}
# Other people's CPU during each token run (scripts/peer/others.py: processes outside this
# script's tree and the private PostgreSQL, % of one core; a lower bound). Others measure on
# this machine too: a run with a high figure here is not one to quote.
postmaster() { if [ -f "$work/pg/data/postmaster.pid" ]; then head -1 "$work/pg/data/postmaster.pid"; fi; }
measure() { # name token_script -> sets token_result (plus others_pct=), ceiling_result, rss_kb
  say "$1: warm-up ${WARMUP}s"
  run_wrk "$2" "$WARMUP" >/dev/null
  say "$1: token endpoint ${DURATION}s, $CONNECTIONS connections"
  python3 scripts/peer/others.py snap "$work/cpu.json"
  token_result=$(run_wrk "$2" "$DURATION")
  token_result="$token_result others_pct=$(python3 scripts/peer/others.py diff "$work/cpu.json" $$ "$(postmaster)")"
  say "$1: $token_result"
  say "$1: static ceiling (/healthz) ${DURATION}s"
  ceiling_result=$(run_wrk scripts/static.lua "$DURATION")
  say "$1: $ceiling_result"
  rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$server/status")
}
export EDGEAUTH_BENCH_PIPELINE=1

# 1. node-oidc-provider, one process on SERVER_CPU.
port=$(free_port)
peer_secret=peer-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
export EDGEAUTH_BENCH_AUTH
EDGEAUTH_BENCH_AUTH=$(printf 'bench:%s' "$peer_secret" | base64 -w0)
say "node-oidc-provider $peer_version (Node $node_version, NODE_ENV=production) on core $SERVER_CPU, port $port"
NODE_ENV=production PEER_PORT=$port PEER_CLIENT_SECRET=$peer_secret \
  taskset -c "$SERVER_CPU" node "$PEER_DIR/provider.mjs" 2>"$work/server.log" &
server=$!
wait_ready "http://127.0.0.1:$port/healthz" "$work/server.log"
check_token node-oidc-provider "http://127.0.0.1:$port/token" "http://127.0.0.1:$port/jwks"
EDGEAUTH_BENCH_TOKEN_PATH=/token measure node-oidc-provider scripts/token.lua
peer_token=$token_result peer_ceiling=$ceiling_result peer_rss=$rss_kb
check_token node-oidc-provider "http://127.0.0.1:$port/token" "http://127.0.0.1:$port/jwks"
kill -TERM "$server"; wait "$server" 2>/dev/null || true; server=""
if grep -q server_error "$work/server.log"; then
  say "node-oidc-provider logged server errors:"; grep -m5 -A3 server_error "$work/server.log" >&2
fi

# 2. edgeauth, as scripts/bench.sh starts it: one shard on SERVER_CPU, ES256.
prepare_edgeauth "$work"
if [ -n "${PG_CPU:-}" ]; then pin_postgres "$work" "$PG_CPU"; fi
port=$(free_port)
export EDGEAUTH_LISTEN=127.0.0.1:$port EDGEAUTH_SHARDS=1 EDGEAUTH_SIGNING_KEYS
EDGEAUTH_SIGNING_KEYS=$(signing_key ES256)
# scripts/bench.sh's defaults, set explicitly.
export EDGEAUTH_IO_DRIVER=auto EDGEAUTH_CACHE_CAPACITY=5000 EDGEAUTH_DURABILITY=async EDGEAUTH_FLUSH_INTERVAL=5s
say "edgeauth ($(git rev-parse --short HEAD), 1 shard) on core $SERVER_CPU, PostgreSQL on ${PG_CPU:-any core}, port $port"
taskset -c "$SERVER_CPU" "$bin" serve 2>"$work/server.log" &
server=$!
wait_ready "http://127.0.0.1:$port/readyz" "$work/server.log"
check_token edgeauth "http://127.0.0.1:$port/oauth/token" "http://127.0.0.1:$port/.well-known/jwks.json"
measure edgeauth scripts/token.lua
edge_token=$token_result edge_ceiling=$ceiling_result edge_rss=$rss_kb
check_token edgeauth "http://127.0.0.1:$port/oauth/token" "http://127.0.0.1:$port/.well-known/jwks.json"
kill -TERM "$server"
wait "$server" || { say "edgeauth exited non-zero"; cat "$work/server.log" >&2; exit 1; }
server=""

# 3. The table.
python3 - "$peer_token" "$peer_ceiling" "$peer_rss" "$edge_token" "$edge_ceiling" "$edge_rss" \
  "$peer_version" "$node_version" <<'PY'
import datetime, os, subprocess, sys

def parse(line):
    return {k: int(v) for k, v in (kv.split("=") for kv in line.split()[1:])}

peer_t, peer_c, peer_rss, edge_t, edge_c, edge_rss = (
    parse(sys.argv[1]), parse(sys.argv[2]), int(sys.argv[3]),
    parse(sys.argv[4]), parse(sys.argv[5]), int(sys.argv[6]))
peer_version, node_version = sys.argv[7], sys.argv[8]
env = os.environ
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
date = datetime.date.today()

def rate(r, ok_only):  # per second over wrk's own duration; tokens: 2xx answers only
    n = r["requests"] - (r["non2xx"] if ok_only else 0)
    return n / (r["duration_us"] / 1e6)

peer_tps, edge_tps = rate(peer_t, True), rate(edge_t, True)
ratio = edge_tps / peer_tps if peer_tps else float("inf")
header = ("| date | commit | server | alg | conns | s | tokens/s | ceiling req/s | token/ceiling | "
          "token p50 / p99 / p99.9 ms | RSS MiB | non-2xx / socket errors | others' CPU % of a core | "
          "tokens/s vs node-oidc-provider |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
def row(name, t, c, rss, tps, vs):
    cps = rate(c, False)
    return (f"| {date} | {commit} | {name} | ES256 | {env.get('CONNECTIONS', '64')} | {env.get('DURATION', '10')} | "
            f"{tps:,.0f} | {cps:,.0f} | {tps / cps:.2f} | "
            f"{t['p50_us'] / 1000:.2f} / {t['p99_us'] / 1000:.2f} / {t['p999_us'] / 1000:.2f} | "
            f"{rss / 1024:.1f} | {t['non2xx']} / {t['socket_errors']} | {t['others_pct']} | {vs} |")
rows = [
    row(f"node-oidc-provider {peer_version} (Node {node_version}, 1 process, production)",
        peer_t, peer_c, peer_rss, peer_tps, "1.00"),
    row("edgeauth (1 shard, cache on, async durability, PostgreSQL on "
        + (f"core {env['PG_CPU']})" if env.get("PG_CPU") else "any core)"),
        edge_t, edge_c, edge_rss, edge_tps, f"**{ratio:.1f}x**"),
]
print(header)
for r in rows:
    print(r)
print(f"edgeauth / node-oidc-provider, ES256 tokens/s, same run: {ratio:.1f}x (issue #6 asks at least 12x: "
      f"{'met' if ratio >= 12 else 'NOT met'})")
os.makedirs("bench-results", exist_ok=True)
path = "bench-results/peers.md"
new = not os.path.exists(path) or not open(path).readline().startswith(header.splitlines()[0])
if new and os.path.exists(path):
    os.rename(path, path.replace(".md", f".before-{date}.md"))
with open(path, "a") as f:
    if new:
        f.write(header + "\n")
    for r in rows:
        f.write(r + "\n")
bad = [n for n, t in (("node-oidc-provider", peer_t), ("edgeauth", edge_t)) if t["non2xx"] or not t["requests"]]
if bad:
    print("bench-peer.sh: token runs with non-2xx answers (or none at all): " + ", ".join(bad), file=sys.stderr)
    sys.exit(1)
PY
