#!/usr/bin/env bash
# Runs every test: installs what is missing, checks formatting and lints, builds, then runs the
# unit and property tests and the end-to-end tests (real binaries on 127.0.0.1, real window
# under Xvfb) under cargo-nextest, each with a time limit, the timing-bound ones twice more
# with every core busy (stress-ng), the camera on a real V4L2 driver in a VM, a bounded fuzz
# run, the board service check, the arm64 build under qemu, the packages, the Windows build and
# README's demo under Xvfb. Prints what each stage is doing; ends with one
# "summary: N passed, N failed" line. Downloads are cached in .cache/.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

# Said at once, not half an hour in when the package test or the camera VM needs them.
[ "$(id -u)" -eq 0 ] || { echo "test: run me as root (sudo -i, a container, a VM): see README.md" >&2; exit 1; }
[ "$(uname -m)" = x86_64 ] || { echo "test: needs an x86_64 machine (cross builds, the amd64 camera VM), not $(uname -m)" >&2; exit 1; }

# Each stage's header says how long the one before took, so a CI log shows where the time goes
# (the budget is 40 minutes from a fresh clone: docs/testing.md).
began=$(date +%s)
last=$began
last_name=""
stage() {
  local now
  now=$(date +%s)
  [ -z "$last_name" ] || printf '\n-- %s: %d s (%d s since the start)\n' "$last_name" $((now - last)) $((now - began))
  last=$now
  last_name=${1%%:*}
  printf '\n== %s (%s)\n' "$1" "$(date +%T)"
}

stage "setup: toolchain and system packages"
scripts/setup.sh

stage "format: cargo fmt --check"
cargo fmt --all -- --check

stage "build: workspace, all targets"
cargo build --locked --workspace --all-targets

stage "lint: cargo clippy -D warnings"
cargo clippy --locked --workspace --all-targets -- -D warnings

stage "tests: unit and property tests, then end-to-end, interoperability and window tests (cargo-nextest)"
# Every test is its own process with a time limit (.config/nextest.toml): a hung test fails
# within minutes, named. The counts come from nextest's own JUnit report. The binaries the
# tests start are checked fresh with the build stage's own targets (`--bins` alone would enable
# fewer dependency features and build every dependency a second time).
cargo build --locked --workspace --all-targets
junit=target/nextest/default/junit.xml
rm -f "$junit"
tests_ok=1
cargo nextest run --locked --workspace --no-tests=fail || tests_ok=0
[ -f "$junit" ] || { echo "tests: nextest wrote no report ($junit)" >&2; echo "summary: 0 passed, 1 failed"; exit 1; }
count() { sed -n "s/.*<testsuites [^>]* $1=\"\([0-9]*\)\".*/\1/p" "$junit" | head -1; }
run=$(count tests); failed=$(( $(count failures) + $(count errors) )); skipped=$(count skipped)
passed=$((run - failed - skipped))
# Doc tests (nextest does not run them): none today, counted if any appear.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --locked --workspace --doc 2>&1 | tee "$log" || tests_ok=0
doc() { sed -n "s/^test result: .* \([0-9]*\) passed; \([0-9]*\) failed.*/\\$1/p" "$log" | paste -sd+ - | sed 's/^$/0/' | bc; }
passed=$((passed + $(doc 1))); failed=$((failed + $(doc 2)))
if [ "$tests_ok" = 0 ]; then
  echo "summary: ${passed} passed, $((failed > 0 ? failed : 1)) failed"
  exit 1
fi

stage "load: the timing-bound integration tests twice more with every core busy (stress-ng --cpu $(nproc))"
scripts/load-test.sh

stage "camera: a real V4L2 driver (vivid) in a QEMU VM"
scripts/vm-camera-test.sh

stage "fuzz: the framing, the extension exchange, the JPEG strip splitter and the recording readers under libFuzzer for 20 s each"
scripts/fuzz.sh 20

stage "board: systemd unit (systemd-analyze verify) and install script on a fake board"
scripts/board/test-unit.sh

stage "arm64: cross-build, glibc <= 2.31 check, streamer under qemu against the native viewer"
scripts/cross-test.sh

stage "packages: .deb for amd64 and arm64, lintian, contents, install/upgrade/remove in a scratch root"
scripts/package-test.sh

stage "windows: mingw cross build, zip, both programs under wine both ways, window screenshot"
scripts/windows-test.sh

stage "demo: scripts/demo.sh, README's first command, under Xvfb: window, stream, Esc, summaries"
scripts/demo-test.sh

stage "done"
# One closing line for the whole run, from nextest's and the doc tests' counts.
# The load stage, the camera VM, the fuzz run, the board test, the arm64 test, the package
# test, the Windows test and the demo count as one test each (each exits non-zero on failure,
# which stops this script before here).
echo "summary: $((passed + 8)) passed, ${failed} failed"
