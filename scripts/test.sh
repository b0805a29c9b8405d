#!/usr/bin/env bash
# Runs every test: installs what is missing, checks formatting and lints, builds, then runs the
# unit and property tests, the end-to-end tests (real binaries on 127.0.0.1, real window under
# Xvfb), the timing-sensitive ones again with both cores busy (stress-ng), the camera on a
# real V4L2 driver in a VM, a bounded fuzz run, the board service check and the arm64 build
# under qemu. Prints what each stage is doing; ends with one
# "summary: N passed, N failed" line. Downloads are cached in .cache/.
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

stage "load: the timing-sensitive integration tests again with both cores busy (stress-ng --cpu 2)"
scripts/load-test.sh

stage "camera: a real V4L2 driver (vivid) in a QEMU VM"
scripts/vm-camera-test.sh

stage "fuzz: the framing, the extension exchange, the JPEG strip splitter and the recording readers under libFuzzer for 40 s each"
scripts/fuzz.sh 40

stage "board: systemd unit (systemd-analyze verify) and install script on a fake board"
scripts/board/test-unit.sh

stage "arm64: cross-build, glibc <= 2.31 check, streamer under qemu against the native viewer"
scripts/cross-test.sh

stage "packages: .deb for amd64 and arm64, lintian, contents, install/upgrade/remove in a scratch root"
scripts/package-test.sh

stage "windows: mingw cross build, zip, both programs under wine both ways, window screenshot"
scripts/windows-test.sh

stage "done"
# One closing line for the whole run: cargo's own last line is a doc-test count of 0.
# The load stage, the camera VM, the fuzz run, the board test, the arm64 test, the package
# test and the Windows test count as one test each (each exits non-zero on failure, which
# stops this script before here).
echo "summary: $((passed + 7)) passed, ${failed} failed"
