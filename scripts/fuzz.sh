#!/usr/bin/env bash
# Fuzzes the wire framing, the extension exchange's parsers, the JPEG strip splitter and the
# recording readers (Matroska, AVI, concatenated JPEGs) with cargo fuzz (libFuzzer) for a
# bounded time:
#   scripts/fuzz.sh [SECONDS]     (default 60, per target; four targets)
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
# Every target built in one cargo call (the two cores link the four at once); each `cargo fuzz
# run` below then finds its binary built.
echo "fuzz: building the four targets"
cargo fuzz build --fuzz-dir shared/fuzz

corpus=.cache/fuzz-corpus/framing
mkdir -p "$corpus"
# A few real conversations as seeds: the fuzzer mutates from there. %b turns the \xHH escapes
# of the argument into bytes (%s would keep the four characters).
printf '\x40%b' '5, \xff\xd8abc' > "$corpus/seed-flag"
printf '\x40%b' 'SIZE 3\xff\xd8\xd9BYE BYE ' > "$corpus/seed-size"
printf '\x40\x00\x00\x00\x02\xff\xd8' > "$corpus/seed-len32"
# Each seed must hold a JPEG start (bytes FF D8), not the text "\xff\xd8".
for seed in flag size len32; do
  od -An -v -tx1 "$corpus/seed-$seed" | tr -d ' \n' | grep -q ffd8 || {
    echo "fuzz: seed-$seed holds no FF D8 bytes: $(od -c "$corpus/seed-$seed" | head -n 2)" >&2
    exit 1
  }
done

echo "fuzz: running the framing target for ${seconds}s"
cargo fuzz run --fuzz-dir shared/fuzz framing "$corpus" -- \
  -max_total_time="$seconds" -rss_limit_mb=1024 -timeout=10
echo "fuzz: no crash in ${seconds}s"

# The JPEG strip splitter (viewer side of --slices), seeded with the layout it recognizes: a
# 32x32 grey frame whose restart interval (8 MCUs, two MCU rows) cuts it into two strips.
corpus=.cache/fuzz-corpus/jpeg_slices
mkdir -p "$corpus"
python3 - "$corpus/seed-two-strips" <<'PY'
import sys
def seg(marker, body): return bytes([0xFF, marker]) + (len(body) + 2).to_bytes(2, "big") + body
dqt = seg(0xDB, bytes([0]) + bytes([1] * 64))
sof = seg(0xC0, bytes([8, 0, 32, 0, 32, 1, 1, 0x11, 0]))
dht = seg(0xC4, bytes([0x00, 0, 1] + [0] * 14 + [0]) ) + seg(0xC4, bytes([0x10, 0, 1] + [0] * 14 + [0]))
dri = seg(0xDD, (8).to_bytes(2, "big"))
sos = seg(0xDA, bytes([1, 1, 0x00, 0, 63, 0]))
data = b"\x00\x00\xFF\xD0\x00\x00"
open(sys.argv[1], "wb").write(b"\xFF\xD8" + dqt + sof + dht + dri + sos + data + b"\xFF\xD9")
PY
echo "fuzz: running the jpeg_slices target for ${seconds}s"
cargo fuzz run --fuzz-dir shared/fuzz jpeg_slices "$corpus" -- \
  -max_total_time="$seconds" -rss_limit_mb=1024 -timeout=10
echo "fuzz: no crash in ${seconds}s (jpeg_slices)"

# The extension exchange's parsers: a hello, an `F` frame header and an answer, each after the
# knob byte (the maximum frame size).
corpus=.cache/fuzz-corpus/ext
mkdir -p "$corpus"
python3 - "$corpus" <<'PY'
import sys, struct
d = sys.argv[1]
def rec(kind, value): return bytes([kind, len(value)]) + value
body = bytes([1]) + rec(0x01, b"cam") + rec(0x10, struct.pack(">Q", 1_764_700_000_000_000))
open(d + "/seed-hello", "wb").write(b"\x40HI" + struct.pack(">H", len(body)) + body)
recs = rec(0x10, struct.pack(">Q", 1_764_700_000_000_000)) + rec(0x11, struct.pack(">I", 5000))
open(d + "/seed-frame", "wb").write(b"\x40F" + bytes([len(recs)]) + struct.pack(">I", 3) + recs + b"\xff\xd8\xd9")
answer = b"A\x14" + rec(0x20, struct.pack(">Q", 1_764_700_000_000_000)) + rec(0x21, struct.pack(">Q", 1_764_700_000_000_500))
open(d + "/seed-answer", "wb").write(b"\x40" + answer)
PY
echo "fuzz: running the ext target for ${seconds}s"
cargo fuzz run --fuzz-dir shared/fuzz ext "$corpus" -- \
  -max_total_time="$seconds" -rss_limit_mb=1024 -timeout=10
echo "fuzz: no crash in ${seconds}s (ext)"

# The recording readers, seeded with a short MJPEG recording in each container (the knob byte's
# lowest two bits pick the reader: 0 Matroska, 1 concatenated JPEGs, 2 and 3 AVI; a cached
# seed-avi from before the JPEG reader came feeds the JPEG reader now, harmlessly).
corpus=.cache/fuzz-corpus/replay
mkdir -p "$corpus"
for kind in mkv mjpeg avi; do
  if [ ! -s "$corpus/seed3-$kind" ]; then
    ffmpeg -loglevel error -y -f lavfi -i testsrc=size=32x32:rate=5 -frames:v 3 -c:v mjpeg \
      -f "$([ "$kind" = mkv ] && echo matroska || echo "$kind")" "$corpus/tmp.$kind"
    case $kind in mkv) knob='\x40' ;; mjpeg) knob='\x41' ;; avi) knob='\x42' ;; esac
    { printf '%b' "$knob"; cat "$corpus/tmp.$kind"; } > "$corpus/seed3-$kind"
    rm -f "$corpus/tmp.$kind"
  fi
done
echo "fuzz: running the replay target for ${seconds}s"
cargo fuzz run --fuzz-dir shared/fuzz replay "$corpus" -- \
  -max_total_time="$seconds" -rss_limit_mb=1024 -timeout=10
echo "fuzz: no crash in ${seconds}s (replay)"
