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

stage "tests: unit tests, then end-to-end and window tests"
cargo test --locked --workspace

stage "done"
