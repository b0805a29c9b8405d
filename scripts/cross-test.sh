#!/usr/bin/env bash
# Proves the arm64 build works: cross-builds streamer and viewer (scripts/cross-build.sh, cached
# after the first run), checks that neither needs a GLIBC_ symbol version above 2.31, then runs
# the cross-built `streamer --source test --frames 100` under qemu-aarch64-static against the
# native `viewer --headless --frames 100` on 127.0.0.1 and checks that both report 100 frames.
# Then it checks that arm64 and x86_64 make the same bytes: one two-frame .y4m sent by each
# streamer with --slices 3 into a viewer's --save-dir, the saved files compared with cmp.
# With --bench it also times 100 frames at 1280x720 with --fps 0 under qemu: an EMULATED figure
# (qemu on this x86_64 machine), not a claim about any board's speed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PATH="$HOME/.cargo/bin:$PATH"

bench=0
for arg in "$@"; do
  case $arg in
    --bench) bench=1 ;;
    *) echo "usage: scripts/cross-test.sh [--bench]" >&2; exit 2 ;;
  esac
done

max_glibc=2.31
sysroot=$root/.cache/cross/sysroot-bullseye-arm64
arm=$root/target/aarch64
frames=100
start=$(date +%s)

stage() { printf '\n== cross-test: %s (%s)\n' "$1" "$(date +%T)"; }
die() { echo "cross-test: $*" >&2; exit 1; }

stage "cross-build (scripts/cross-build.sh)"
scripts/cross-build.sh </dev/null

stage "qemu-aarch64-static"
if ! command -v qemu-aarch64-static >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "cross-test: installing Debian packages: qemu-user-static"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    qemu-user-static </dev/null >/dev/null
fi
qemu-aarch64-static --version | head -n1
# The loader and libraries come from the glibc 2.31 sysroot, the oldest the binaries must run
# on. (Not /usr/aarch64-linux-gnu or the multiarch /lib/aarch64-linux-gnu: with bookworm's
# libc6:arm64 installed that pairing makes threaded programs hang under qemu.)
qemu=(qemu-aarch64-static -L "$sysroot")

stage "glibc check: no GLIBC_ symbol version above $max_glibc"
for bin in streamer viewer; do
  highest=$(aarch64-linux-gnu-objdump -T "$arm/$bin" | grep -o 'GLIBC_[0-9][0-9.]*' |
    sed 's/GLIBC_//' | sort -uV | tail -n1)
  [ -n "$highest" ] || die "$bin: no GLIBC_ symbol versions found (not dynamically linked?)"
  [ "$(printf '%s\n%s\n' "$highest" "$max_glibc" | sort -V | tail -n1)" = "$max_glibc" ] ||
    die "$bin needs GLIBC_$highest, newer than $max_glibc"
  echo "cross-test: $bin: highest GLIBC_$highest <= $max_glibc, ok"
done
"${qemu[@]}" "$arm/streamer" --version </dev/null ||
  die "the cross-built streamer does not start under qemu"

# The debug viewer and streamer: scripts/test.sh has already built it with this very command (so this costs
# nothing in CI: `-p viewer` alone would unify fewer features, build `shared` without its
# test-util feature and so rebuild the workspace), and its speed does not matter here (it
# acknowledges each frame before decoding it).
stage "native viewer (cargo build --workspace --all-targets, as scripts/test.sh's build stage)"
cargo build --locked --workspace --all-targets </dev/null

work=$(mktemp -d)
viewer_pid=""
cleanup() {
  if [ -n "$viewer_pid" ]; then kill -TERM "$viewer_pid" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# start_viewer ARGS...: starts the native headless viewer in the background (pid in
# $viewer_pid) and sets $addr to the address it listens on.
start_viewer() {
  : >"$work/viewer.err"
  timeout 300 target/debug/viewer --headless --listen 127.0.0.1:0 "$@" \
    >"$work/viewer.out" 2>"$work/viewer.err" </dev/null &
  viewer_pid=$!
  addr=""
  local _
  for _ in $(seq 100); do
    addr=$(sed -n 's/^viewer: listening on //p' "$work/viewer.err" | head -n1)
    [ -n "$addr" ] && break
    kill -0 "$viewer_pid" 2>/dev/null || { cat "$work/viewer.err" >&2; die "the viewer did not start"; }
    sleep 0.1
  done
  [ -n "$addr" ] || die "the viewer did not report its address"
}

# Runs the native headless viewer for $frames frames and the emulated streamer against it with
# the given streamer arguments; leaves the summaries in $work/viewer.out and $work/streamer.out.
run_pair() {
  start_viewer --frames "$frames"
  echo "cross-test: viewer listening on $addr; qemu-aarch64-static streamer $* $addr"
  local t0 t1
  t0=$(date +%s%N)
  if ! timeout 300 "${qemu[@]}" "$arm/streamer" "$@" --frames "$frames" "$addr" \
    >"$work/streamer.out" 2>"$work/streamer.err" </dev/null; then
    cat "$work/streamer.err" >&2
    die "the emulated streamer failed or timed out (300 s)"
  fi
  t1=$(date +%s%N)
  if ! wait "$viewer_pid"; then
    viewer_pid=""
    cat "$work/viewer.err" >&2
    die "the viewer failed or timed out"
  fi
  viewer_pid=""
  echo "cross-test: the streamer ran $(((t1 - t0) / 1000000)) ms under qemu"
}

# Checks that a program's summary line reports exactly $frames frames.
check_summary() {
  local who=$1 file=$2 line
  line=$(grep '^summary: ' "$file" | tail -n1 || true)
  [ -n "$line" ] || { cat "$file" >&2; die "the $who printed no summary line"; }
  echo "cross-test: $who: $line"
  case " $line " in
    *" frames=$frames "*) ;;
    *) die "the $who reported $(echo "$line" | grep -o 'frames=[0-9]*'), expected frames=$frames" ;;
  esac
}

stage "emulated streamer -> native viewer: $frames test-pattern frames over 127.0.0.1"
run_pair --source test
check_summary "streamer (aarch64, qemu)" "$work/streamer.out"
check_summary "viewer (native)" "$work/viewer.out"
lines=$(grep -c '^frame=' "$work/streamer.out" || true)
[ "$lines" -eq "$frames" ] || die "the streamer printed $lines frame lines, expected $frames"

stage "same bytes: --slices 3 from the arm64 streamer (qemu) and the x86_64 one"
# Two frames of an odd-sized picture (neither side a multiple of 16), limited range like a
# camera's, so the range stretch, the strips and the join all take part.
python3 - "$work/frames.y4m" <<'PY'
import sys
w, h = 646, 362
out = bytearray(b"YUV4MPEG2 W%d H%d F30:1 Ip A1:1 C420jpeg\n" % (w, h))
for f in range(2):
    out += b"FRAME\n"
    out += bytes(16 + (x * 3 + y * 5 + f * 40 + (x * y) % 23) % 220 for y in range(h) for x in range(w))
    cw, ch = (w + 1) // 2, (h + 1) // 2
    out += bytes(16 + (x * 7 + y + f * 9) % 224 for y in range(ch) for x in range(cw))
    out += bytes(16 + (x + y * 3 + f * 17) % 224 for y in range(ch) for x in range(cw))
open(sys.argv[1], "wb").write(out)
PY
# The native streamer is the debug one built with the viewer above (`cargo build -p streamer`
# alone would unify other features and rebuild half the workspace: 74 s in CI).
# save_frames NAME STREAMER...: the native viewer saves what the given streamer sends.
save_frames() {
  local name=$1 saved=$work/saved-$1
  shift
  start_viewer --frames 2 --save-dir "$saved"
  timeout 300 "$@" --source "$work/frames.y4m" --fps 0 --slices 3 --frames 2 --quiet "$addr" \
    >"$work/streamer.out" 2>"$work/streamer.err" </dev/null ||
    { cat "$work/streamer.err" >&2; die "$name streamer failed"; }
  wait "$viewer_pid" || { cat "$work/viewer.err" >&2; die "the viewer failed"; }
  viewer_pid=""
  [ "$(ls "$saved" | wc -l)" -eq 2 ] || die "$name: expected 2 saved frames in $saved"
}
save_frames x86_64 target/debug/streamer
save_frames aarch64 "${qemu[@]}" "$arm/streamer"
for f in "$work"/saved-x86_64/*; do
  cmp "$f" "$work/saved-aarch64/$(basename "$f")" ||
    die "arm64 and x86_64 made different bytes for $(basename "$f")"
  echo "cross-test: $(basename "$f"): $(stat -c %s "$f") bytes, identical from arm64 and x86_64"
done

if [ $bench -eq 1 ]; then
  stage "EMULATED encode figure: 1280x720, --fps 0, under qemu on $(nproc) x86_64 cores"
  run_pair --source test --size 1280x720 --fps 0 --quiet
  echo "cross-test: EMULATED (qemu-aarch64-static on x86_64, not a board figure):"
  check_summary "streamer (aarch64, qemu)" "$work/streamer.out"
  check_summary "viewer (native)" "$work/viewer.out"
fi

stage "done in $(($(date +%s) - start)) s: the aarch64 streamer ran $frames frames under qemu and needs glibc <= $max_glibc"
