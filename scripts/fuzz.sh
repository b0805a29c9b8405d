#!/usr/bin/env bash
# Fuzzes the wire framing with cargo fuzz (libFuzzer) for a bounded time:
#   scripts/fuzz.sh [SECONDS]     (default 60)
# Installs cargo-fuzz if missing. cargo fuzz wants nightly-only compiler flags; on a stable
# toolchain RUSTC_BOOTSTRAP=1 lets the stable compiler accept them.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
seconds=${1:-60}

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
if ! rustc --version | grep -q nightly; then
  export RUSTC_BOOTSTRAP=1
fi
corpus=.cache/fuzz-corpus/framing
mkdir -p "$corpus"
# A few real conversations as seeds: the fuzzer mutates from there.
printf '\x40%s' '5, \xff\xd8abc' > "$corpus/seed-flag"
printf '\x40%s' 'SIZE 3\xff\xd8\xd9BYE BYE ' > "$corpus/seed-size"
printf '\x40\x00\x00\x00\x02\xff\xd8' > "$corpus/seed-len32"

echo "fuzz: running the framing target for ${seconds}s"
cargo fuzz run --fuzz-dir shared/fuzz framing "$corpus" -- \
  -max_total_time="$seconds" -rss_limit_mb=1024 -timeout=10
echo "fuzz: no crash in ${seconds}s"
