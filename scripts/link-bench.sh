#!/usr/bin/env bash
# Measures the real binaries over emulated links and prints one key=value line per case.
#   scripts/link-bench.sh [PROFILES...]   (default: loopback wifi lte stalls)
# Profiles (each direction; link-relay, a user-space relay, since this kernel has no netem):
#   loopback   no relay at all
#   wifi       20 Mbit/s, 5 ms +- 2 ms one way
#   lte        50 Mbit/s, 25 ms +- 3 ms one way
#   stalls     wifi, and the link down 1 % of the time in stalls of 100 ms
# Modes: strict (stop-and-wait), window3 (--window 3), adapt (--window 3 --adapt).
# Each case: FRAMES (300) frames of the camera-like 1280x720 y4m at 30 fps, quality 40, with
# the time mark, into a headless viewer with --measure (glass = capture to decoded picture).
# Each case runs RUNS times (default 1) and prints the median of every figure.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

profiles=("$@")
[ ${#profiles[@]} -gt 0 ] || profiles=(loopback wifi lte stalls)
frames=${FRAMES:-300}
runs=${RUNS:-1}

log() { printf '== %s\n' "$*" >&2; }
# needs, media, value, median, wait_listening
. scripts/bench-common.sh

scripts/setup.sh >&2
needs ffmpeg

log "building release binaries"
cargo build --locked --release -p streamer -p viewer >&2
cargo build --locked --release -p integration-tests --bin link-relay >&2
video=$(media 1280x720)

link_args() {
  case $1 in
    loopback) ;;
    wifi) echo "--rate-mbit 20 --delay-ms 5 --jitter-ms 2" ;;
    lte) echo "--rate-mbit 50 --delay-ms 25 --jitter-ms 3" ;;
    stalls) echo "--rate-mbit 20 --delay-ms 5 --jitter-ms 2 --stalls 1:100" ;;
    *) echo "link-bench: unknown profile $1 (loopback, wifi, lte, stalls)" >&2; exit 2 ;;
  esac
}

run_case() {
  local profile=$1 mode=$2; shift 2
  local dir; dir=$(mktemp -d)
  target/release/viewer --listen 127.0.0.1:0 --headless --measure \
    >"$dir/viewer.out" 2>"$dir/viewer.err" &
  local vpid=$! rpid=""
  local addr; addr=$(wait_listening "$dir/viewer.err" "viewer: listening on")
  if [ "$profile" != loopback ]; then
    # shellcheck disable=SC2046
    target/release/link-relay --to "$addr" --max-seconds 120 $(link_args "$profile") \
      2>"$dir/relay.err" &
    rpid=$!
    addr=$(wait_listening "$dir/relay.err" "link-relay: listening on")
  fi
  timeout 120 target/release/streamer --source "$video" --loop --stamp --fps 30 \
    --frames "$frames" --quiet "$@" "$addr" >"$dir/streamer.out" 2>"$dir/streamer.err" || true
  sleep 0.3
  [ -n "$rpid" ] && kill "$rpid" 2>/dev/null
  kill -TERM "$vpid" 2>/dev/null || true
  wait 2>/dev/null || true
  local changes; changes=$(grep -c "adapt:" "$dir/streamer.err" || true)
  echo "link-bench link=$profile mode=$mode frames=$(value frames "$dir/streamer.out")" \
    "fps=$(value fps "$dir/streamer.out")" \
    "latency_p50_ms=$(value latency_p50_ms "$dir/streamer.out")" \
    "latency_p95_ms=$(value latency_p95_ms "$dir/streamer.out")" \
    "glass_p50_ms=$(value glass_p50_ms "$dir/viewer.out")" \
    "glass_p95_ms=$(value glass_p95_ms "$dir/viewer.out")" \
    "bytes_per_frame=$(value bytes_per_frame "$dir/streamer.out")" \
    "quality_p50=$(value quality_p50 "$dir/streamer.out")" \
    "dropped=$(value dropped "$dir/streamer.out")" \
    "viewer_dropped=$(value dropped "$dir/viewer.out")" \
    "adapt_changes=$changes"
  rm -rf "$dir"
}

for profile in "${profiles[@]}"; do
  link_args "$profile" >/dev/null
  log "$profile: strict"
  median run_case "$profile" strict
  log "$profile: --window 3"
  median run_case "$profile" window3 --window 3
  log "$profile: --window 3 --adapt"
  median run_case "$profile" adapt --window 3 --adapt
done
