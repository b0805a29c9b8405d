#!/usr/bin/env bash
# Runs the timing-sensitive integration tests (end_to_end, link, pipes, hub, robustness,
# field, dialects) again while `stress-ng --cpu 2` keeps both cores busy, as on a CI machine
# that is building something else: they must hold there too. The load is bounded (it stops
# by itself after LOAD_SECONDS, default 3600) and killed when this script ends, also on a
# failure or Ctrl-C. Extra arguments go to the test binary (e.g. a narrower filter).
#   scripts/load-test.sh [TEST FILTER...]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

command -v stress-ng >/dev/null || { echo "load-test: stress-ng is missing: run scripts/setup.sh" >&2; exit 1; }
filters=("$@")
[ ${#filters[@]} -gt 0 ] ||
  filters=(end_to_end:: link:: pipes:: hub:: robustness:: field:: dialects::)

# Built before the load starts: the point is the tests under load, not a slower build.
cargo test --locked -p integration-tests --test it --no-run
cargo build --locked --workspace --bins

stress-ng --cpu 2 --timeout "${LOAD_SECONDS:-3600}s" --quiet &
load=$!
trap 'kill "$load" 2>/dev/null || true; wait "$load" 2>/dev/null || true' EXIT
echo "load-test: stress-ng --cpu 2 running (pid $load); tests: ${filters[*]}"
started=$(date +%s)
cargo test --locked -p integration-tests --test it -- "${filters[@]}"
kill -0 "$load" 2>/dev/null || { echo "load-test: the load stopped before the tests ended" >&2; exit 1; }
echo "load-test: ok in $(($(date +%s) - started)) s with both cores busy"
