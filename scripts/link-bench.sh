#!/usr/bin/env bash
# Measures the real binaries over emulated links and prints one key=value line per case.
#   scripts/link-bench.sh [PROFILES...]   (default: all of them)
# Profiles (each direction; link-relay, a user-space relay, since this kernel has no netem):
#   loopback   no relay at all
#   wifi       20 Mbit/s, 5 ms +- 2 ms one way
#   lte        50 Mbit/s, 25 ms +- 3 ms one way
#   stalls     wifi, and the link down 1 % of the time in stalls of 100 ms
#   bursts     10 Mbit/s, 15 ms +- 4 ms, delivered in 32 KB bursts (Wi-Fi aggregation)
#   packets    10 Mbit/s, 15 ms +- 4 ms, delivered a 1448-byte packet at a time
#   long       40 Mbit/s, 35 ms +- 10 ms (a long, jittery round trip)
# Modes: strict (--window 1), window3 (--window 3), auto (the default, --window auto),
# adapt (the default and --adapt), fresh (the default and --fresh), secret (the default with
# --secret on both sides: every frame and answer sealed; compare its latency and glass with
# auto's). MODES="auto secret" runs only those, e.g.
# `MODES="auto secret" RUNS=3 scripts/link-bench.sh loopback wifi`.
# Each case: FRAMES (300) frames of the camera-like 1280x720 y4m at 30 fps, quality QUALITY (40,
# about 74 KB a frame; QUALITY=62 makes about 108 KB, as a busier camera picture's at 40), with
# the time mark, into a headless viewer with --measure (glass = capture to decoded picture).
# Each case runs RUNS times (default 1) and prints the median of every figure, and the case's
# physical limit: one-way delay + jitter + bytes per frame x 8 / rate + the encode and decode
# floors (codec-floor on the same y4m), with glass p50 and p95 over it; and what the link can
# carry at that frame size (link_fps: rate / bytes per frame, at most 30) with fps over it.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

profiles=("$@")
[ ${#profiles[@]} -gt 0 ] || profiles=(loopback wifi lte stalls bursts packets long)
frames=${FRAMES:-300}
quality=${QUALITY:-40}
runs=${RUNS:-1}

log() { printf '== %s\n' "$*" >&2; }
# needs, media, value, median, wait_listening
. scripts/bench-common.sh

scripts/setup.sh >&2
needs ffmpeg

log "building release binaries"
cargo build --locked --release -p streamer -p viewer >&2
cargo build --locked --release -p integration-tests --bin link-relay >&2
cargo build --locked --release -p benches --bin codec-floor >&2
video=$(media 1280x720)
# The codec's share of the physical limit: encode_floor_ms=... decode_floor_ms=... on this y4m.
floors=$(target/release/codec-floor "$video")
floor() { sed -n 's/.*'"$1"'=\([^ ]*\).*/\1/p' <<<"$floors"; }
encode_floor=$(floor encode_floor_ms)
decode_floor=$(floor decode_floor_ms)

link_args() {
  case $1 in
    loopback) ;;
    wifi) echo "--rate-mbit 20 --delay-ms 5 --jitter-ms 2" ;;
    lte) echo "--rate-mbit 50 --delay-ms 25 --jitter-ms 3" ;;
    stalls) echo "--rate-mbit 20 --delay-ms 5 --jitter-ms 2 --stalls 1:100" ;;
    bursts) echo "--rate-mbit 10 --delay-ms 15 --jitter-ms 4 --burst 32768" ;;
    packets) echo "--rate-mbit 10 --delay-ms 15 --jitter-ms 4" ;;
    long) echo "--rate-mbit 40 --delay-ms 35 --jitter-ms 10" ;;
    *) echo "link-bench: unknown profile $1 (loopback wifi lte stalls bursts packets long)" >&2
       exit 2 ;;
  esac
}

# The shared secret of the secret mode, readable by its owner only (the programs insist).
secret_dir=$(mktemp -d)
trap 'rm -rf "$secret_dir"' EXIT
head -c 32 /dev/urandom | base64 >"$secret_dir/key"
chmod 600 "$secret_dir/key"

# want MODE: whether MODES (default: all) names MODE.
want() { [ -z "${MODES:-}" ] || [[ " $MODES " == *" $1 "* ]]; }

run_case() {
  local profile=$1 mode=$2; shift 2
  local dir; dir=$(mktemp -d)
  local vargs=()
  [ "$mode" = secret ] && vargs=(--secret "$secret_dir/key")
  target/release/viewer --listen 127.0.0.1:0 --headless --measure "${vargs[@]}" \
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
    --quality "$quality" --frames "$frames" --quiet "$@" "$addr" \
    >"$dir/streamer.out" 2>"$dir/streamer.err" || true
  sleep 0.3
  [ -n "$rpid" ] && kill "$rpid" 2>/dev/null
  kill -TERM "$vpid" 2>/dev/null || true
  wait 2>/dev/null || true
  local changes sizes
  changes=$(grep -c "adapt:" "$dir/streamer.err" || true)
  # Size changes: "half size" on one side of the arrow only.
  sizes=$({ grep "adapt:" "$dir/streamer.err" || true; } | sed 's/ (a frame needs.*//' |
    awk -F' -> ' '{ if (($1 ~ /half size/) != ($2 ~ /half size/)) n++ } END { print n + 0 }')
  echo "link-bench link=$profile mode=$mode quality=$quality frames=$(value frames "$dir/streamer.out")" \
    "fps=$(value fps "$dir/streamer.out")" \
    "latency_p50_ms=$(value latency_p50_ms "$dir/streamer.out")" \
    "latency_p95_ms=$(value latency_p95_ms "$dir/streamer.out")" \
    "glass_p50_ms=$(value glass_p50_ms "$dir/viewer.out")" \
    "glass_p95_ms=$(value glass_p95_ms "$dir/viewer.out")" \
    "bytes_per_frame=$(value bytes_per_frame "$dir/streamer.out")" \
    "quality_p50=$(value quality_p50 "$dir/streamer.out")" \
    "dropped=$(value dropped "$dir/streamer.out")" \
    "viewer_dropped=$(value dropped "$dir/viewer.out")" \
    "adapt_changes=$changes" "size_changes=$sizes" \
    "rate_mbit=$(value rate_mbit "$dir/streamer.out")" \
    "in_flight_p50=$(value in_flight_p50 "$dir/streamer.out")" \
    "$(limit "$profile" "$dir")"
  rm -rf "$dir"
}

# arg FLAG ARGS...: the value after FLAG in a relay's arguments (0 if absent)
arg() { local f=$1; shift; while [ $# -gt 0 ]; do [ "$1" = "$f" ] && { echo "$2"; return; }; shift; done; echo 0; }

# limit PROFILE DIR: the case's physical limit and glass over it, what the link carries at the
# frame size and fps over it, as key=value words.
limit() {
  # shellcheck disable=SC2046
  set -- "$(value bytes_per_frame "$2/streamer.out")" "$(value glass_p50_ms "$2/viewer.out")" \
    "$(value glass_p95_ms "$2/viewer.out")" "$(value fps "$2/streamer.out")" $(link_args "$1")
  local bytes=$1 g50=$2 g95=$3 fps=$4; shift 4
  awk -v bytes="$bytes" -v g50="$g50" -v g95="$g95" -v fps="$fps" \
    -v rate="$(arg --rate-mbit "$@")" \
    -v delay="$(arg --delay-ms "$@")" -v jitter="$(arg --jitter-ms "$@")" \
    -v enc="$encode_floor" -v dec="$decode_floor" 'BEGIN {
      if (bytes == "" || enc == "") { print "limit_ms=unknown"; exit }
      wire = rate > 0 ? bytes * 8 / (rate * 1000) : 0
      l = delay + jitter + wire + enc + dec
      printf "limit_ms=%.1f", l
      if (g50 != "") printf " glass_p50_over_limit=%.2f glass_p95_over_limit=%.2f", g50 / l, g95 / l
      if (rate > 0 && bytes > 0) {
        carried = rate * 1e6 / 8 / bytes
        if (carried > 30) carried = 30
        printf " link_fps=%.1f", carried
        if (fps != "") printf " fps_over_link=%.2f", fps / carried
      }
      printf "\n"
    }'
}

for profile in "${profiles[@]}"; do
  link_args "$profile" >/dev/null
  if want strict; then
    log "$profile: strict"
    median run_case "$profile" strict --window 1
  fi
  if want window3; then
    log "$profile: --window 3"
    median run_case "$profile" window3 --window 3
  fi
  if want auto; then
    log "$profile: default (--window auto)"
    median run_case "$profile" auto
  fi
  if want fresh; then
    log "$profile: default and --fresh (wait for the next capture on a link too slow for every frame)"
    median run_case "$profile" fresh --fresh
  fi
  if want adapt; then
    log "$profile: default and --adapt"
    median run_case "$profile" adapt --adapt
  fi
  if want secret; then
    log "$profile: default and --secret (every frame and answer sealed)"
    median run_case "$profile" secret --secret "$secret_dir/key"
  fi
done
