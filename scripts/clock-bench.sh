#!/usr/bin/env bash
# Glass-to-glass across clocks that differ, measured with the real binaries; one key=value line
# per case (issue: honest latency between two machines).
#   scripts/clock-bench.sh            RUNS=3 for medians
# Cases, each FRAMES (300) frames of the camera-like 1280x720 y4m at 30 fps into a headless
# viewer with --measure (glass = capture to decoded picture):
#   same       loopback, one clock: the reference figure
#   ahead1h    loopback, the streamer's wall clock +1 hour (libfaketime)
#   behind37s  loopback, the streamer's wall clock -37 s
#   asym       through link-relay, 5 ms out and 15 ms back (one clock: the true offset is 0)
# truth_ms is the offset libfaketime really applied (viewer minus streamer, so -3600000 for a
# streamer an hour ahead); truth_in_bound=1 when |clock_offset_ms - truth_ms| <= clock_error_ms.
# Targets: glass p50 of ahead1h and behind37s within 1 ms of same's, clock_error_ms <= 0.5.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
frames=${FRAMES:-300}
runs=${RUNS:-1}

log() { printf '== %s\n' "$*" >&2; }
# needs, media, value, median, wait_listening
. scripts/bench-common.sh

scripts/setup.sh >&2
needs ffmpeg faketime
log "building release binaries"
cargo build --locked --release -p streamer -p viewer >&2
cargo build --locked --release -p integration-tests --bin link-relay >&2
video=$(media 1280x720)
faketime_lib=$(dpkg -L libfaketime | grep '/libfaketime.so.1$' | head -n1)
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT

# one CASE: one run; prints the case's key=value line.
one() {
  local case=$1 env=() target truth=0
  rm -f "$tmp"/*
  target/release/viewer --headless --measure --listen 127.0.0.1:0 --frames "$frames" \
    >"$tmp/v.out" 2>"$tmp/v.err" &
  local vpid=$!
  target=$(wait_listening "$tmp/v.err" "viewer: listening on")
  case $case in
    ahead1h)
      env=(LD_PRELOAD="$faketime_lib" FAKETIME=+3600s FAKETIME_DONT_FAKE_MONOTONIC=1)
      truth=-3600000
      ;;
    behind37s)
      env=(LD_PRELOAD="$faketime_lib" FAKETIME=-37s FAKETIME_DONT_FAKE_MONOTONIC=1)
      truth=37000
      ;;
    asym)
      target/release/link-relay --to "$target" --delay-up-ms 5 --delay-down-ms 15 \
        --max-seconds 120 2>"$tmp/r.err" &
      target=$(wait_listening "$tmp/r.err" "link-relay: listening on")
      ;;
  esac
  env "${env[@]}" target/release/streamer "$target" --source "$video" --loop --stamp \
    --frames "$frames" --quiet >"$tmp/s.out" 2>"$tmp/s.err" || true
  wait "$vpid" || true
  local offset error inside
  offset=$(value clock_offset_ms "$tmp/v.out")
  error=$(value clock_error_ms "$tmp/v.out")
  inside=$(python3 -c "print(int(abs(float('$offset') - $truth) <= float('$error')))" 2>/dev/null || echo 0)
  printf 'case=%s truth_ms=%s glass_p50_ms=%s glass_p95_ms=%s glass_frames=%s decoded=%s encode_p50_ms=%s link_p50_ms=%s decode_p50_ms=%s clock_offset_ms=%s clock_error_ms=%s truth_in_bound=%s\n' \
    "$case" "$truth" "$(value glass_p50_ms "$tmp/v.out")" "$(value glass_p95_ms "$tmp/v.out")" \
    "$(value glass_frames "$tmp/v.out")" "$(value decoded "$tmp/v.out")" \
    "$(value encode_p50_ms "$tmp/v.out")" "$(value link_p50_ms "$tmp/v.out")" \
    "$(value decode_p50_ms "$tmp/v.out")" "$offset" "$error" "$inside"
}

for case in same ahead1h behind37s asym; do
  log "case $case ($runs run(s) of $frames frames)"
  median one "$case"
done
