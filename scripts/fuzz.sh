#!/usr/bin/env bash
# Run every fuzz target (fuzz/fuzz_targets/) for a while with cargo fuzz (libFuzzer, nightly).
#
#   scripts/fuzz.sh                 every target, 60 s each
#   SECONDS_PER_TARGET=3600 scripts/fuzz.sh http_request pg_backend
#
# Each target starts from its saved inputs in fuzz/regressions/<target>/ (kept in git: the
# seeds and every crash ever found) plus a working corpus under fuzz/corpus/ (not kept).
# A crash stops the run and leaves its input in fuzz/artifacts/<target>/: fix the bug, then
# copy the input into fuzz/regressions/<target>/, where tests/fuzz_regressions.rs runs it on
# stable Rust with every scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${SECONDS_PER_TARGET:-60}
if ! command -v cargo-fuzz >/dev/null; then
  echo "fuzz.sh: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked
fi
if ! rustup toolchain list | grep -q nightly; then
  echo "fuzz.sh: cargo fuzz needs the nightly toolchain (rustup toolchain install nightly)" >&2
  exit 1
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cd fuzz && cargo +nightly fuzz list)
fi
for target in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$target"
  echo "fuzz.sh: $target for ${seconds}s" >&2
  (cd fuzz && cargo +nightly fuzz run "$target" "corpus/$target" "regressions/$target" -- \
    -max_total_time="$seconds" -max_len=70000 -timeout=10 -print_final_stats=1) 2>&1 |
    grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==|SUMMARY|Done)' || true
  if [ -n "$(ls -A "fuzz/artifacts/$target" 2>/dev/null)" ]; then
    echo "fuzz.sh: $target found a crash: fuzz/artifacts/$target/" >&2
    exit 1
  fi
done
