#!/usr/bin/env bash
# Runs the timing-bound integration tests again while `stress-ng --cpu $(nproc)` keeps every
# core busy, as on a CI machine that is building something else: they must hold there too.
# The set runs twice, so that a test that passes only sometimes shows. The files: end_to_end,
# link, pipes, hub, hub_fair, robustness, field, window, play, replay, clocks, black_box (the
# others check bytes and formats, not times). The load is bounded (it stops by itself after
# LOAD_SECONDS, default 3600) and killed when this script ends, also on a failure or Ctrl-C.
# Arguments replace the set with nextest filters (e.g. `hub::`); a filter that matches no
# test fails.
#   scripts/load-test.sh [TEST FILTER...]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

command -v stress-ng >/dev/null || { echo "load-test: stress-ng is missing: run scripts/setup.sh" >&2; exit 1; }
cargo nextest --version >/dev/null 2>&1 || { echo "load-test: cargo-nextest is missing: run scripts/setup.sh" >&2; exit 1; }
files="end_to_end|link|pipes|hub|hub_fair|robustness|field|window|play|replay|clocks|black_box"
select=(-E "test(/^($files)::/)")
[ $# -eq 0 ] || select=("$@")

# Built before the load starts: the point is the tests under load, not a slower build.
cargo build --locked --workspace --all-targets
cargo nextest run --locked -p integration-tests --test it --profile load --no-run

cores=$(nproc)
stress-ng --cpu "$cores" --timeout "${LOAD_SECONDS:-3600}s" --quiet &
load=$!
trap 'kill "$load" 2>/dev/null || true; wait "$load" 2>/dev/null || true' EXIT
echo "load-test: stress-ng --cpu $cores running (pid $load); tests: ${select[*]}"
started=$(date +%s)
# The X tests get one retry here (.config/nextest.toml); the ones that needed it are named.
out=$(mktemp)
trap 'kill "$load" 2>/dev/null || true; wait "$load" 2>/dev/null || true; rm -f "$out"' EXIT
for round in 1 2; do
  echo "load-test: round $round of 2"
  cargo nextest run --locked -p integration-tests --test it --profile load --no-tests=fail "${select[@]}" 2>&1 | tee -a "$out"
done
flaky=$(grep -E '^ *FLAKY ' "$out" | sed 's/.*integration-tests::it //' | sort -u || true)
echo "load-test: flaky=$(grep -c . <<<"$flaky" || true)${flaky:+ (passed on their retry: $(echo $flaky))}"
kill -0 "$load" 2>/dev/null || { echo "load-test: the load stopped before the tests ended" >&2; exit 1; }
echo "load-test: ok, twice, in $(($(date +%s) - started)) s with all $cores cores busy"
