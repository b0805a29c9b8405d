#!/usr/bin/env bash
# Runs every test: installs what is missing, checks formatting and lints, builds, then runs
# the unit tests and the end-to-end tests (real binaries on 127.0.0.1, real window under Xvfb).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

stage() { printf '\n== %s (%s)\n' "$1" "$(date +%T)"; }

stage "setup: toolchain and system packages"
scripts/setup.sh

stage "format: cargo fmt --check"
cargo fmt --all -- --check

stage "build: workspace, all targets"
cargo build --locked --workspace --all-targets

stage "lint: cargo clippy -D warnings"
cargo clippy --locked --workspace --all-targets -- -D warnings

stage "tests: unit and property tests, then end-to-end, interoperability and window tests"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --locked --workspace 2>&1 | tee "$log"
passed=$(sed -n 's/^test result: .* \([0-9]*\) passed; \([0-9]*\) failed.*/\1/p' "$log" | paste -sd+ - | bc)
failed=$(sed -n 's/^test result: .* \([0-9]*\) passed; \([0-9]*\) failed.*/\2/p' "$log" | paste -sd+ - | bc)

stage "camera: a real V4L2 driver (vivid) in a QEMU VM"
scripts/vm-camera-test.sh

stage "fuzz: the wire framing under libFuzzer for 30 s"
scripts/fuzz.sh 30

stage "done"
# One closing line for the whole run: cargo's own last line is a doc-test count of 0.
# The camera VM and the fuzz run count as one test each (each exits non-zero on failure).
echo "summary: $((passed + 2)) passed, ${failed} failed"
