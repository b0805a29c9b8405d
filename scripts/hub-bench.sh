#!/usr/bin/env bash
# What serving HTTP costs the stream: the real release binaries on loopback, the test pattern
# at SIZE (default 1280x720) into a headless viewer, unpaced (FRAMES frames, default 1500) and
# at 30 fps (PACED_FRAMES, default 300), printing one key=value line per case:
#   no-http       viewer without --http
#   http-idle     viewer --http, nobody connected
#   http-N        viewer --http with N MJPEG clients (curl) reading /stream/1 throughout
# Figures are the streamer's summary (fps, latency p50/p95) and the viewer's peak RSS (VmHWM).
#   scripts/hub-bench.sh [SIZE] [CLIENTS...]      (default clients: 10 50)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
size=${1:-1280x720}
shift || true
clients=("$@")
[ ${#clients[@]} -gt 0 ] || clients=(10 50)
frames=${FRAMES:-1500}
paced_frames=${PACED_FRAMES:-300}
cargo build --locked --release -q -p streamer -p viewer
. scripts/bench-common.sh
scratch

# run NAME CLIENTS HTTP(yes/no) FPS FRAMES
run() {
  local name=$1 n=$2 http=$3 fps=$4 frames=$5 args=(--headless)
  [ "$http" = yes ] && args+=(--http 127.0.0.1:0)
  start_viewer target/release/viewer "${args[@]}"
  target/release/streamer --source test --size "$size" --fps "$fps" --quiet --frames "$frames" \
    "127.0.0.1:$port" > "$tmp/s.out" 2> "$tmp/s.err" &
  local streamer=$!
  if [ "$n" -gt 0 ]; then
    # The clients join as soon as the stream is live (a few frames in).
    for _ in $(seq 200); do curl -sf -o /dev/null "http://$web/snapshot/1" && break; sleep 0.01; done
    for _ in $(seq "$n"); do
      curl -s -o /dev/null "http://$web/stream/1" &
      pids+=("$!")
    done
  fi
  wait "$streamer"
  local out
  out=$(grep '^summary:' "$tmp/s.out")
  for p in "${pids[@]:1}"; do kill "$p" 2>/dev/null || true; done
  local rss_kb
  rss_kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$viewer/status")
  kill -TERM "$viewer"; wait "$viewer" || true
  local kv got p50 p95
  kv=${out#summary: }
  got=$(sed -n 's/.*fps=\([^ ]*\).*/\1/p' <<< "$kv")
  p50=$(sed -n 's/.*latency_p50_ms=\([^ ]*\).*/\1/p' <<< "$kv")
  p95=$(sed -n 's/.*latency_p95_ms=\([^ ]*\).*/\1/p' <<< "$kv")
  echo "case=$name size=$size paced_fps=$fps frames=$frames http_clients=$n fps=$got latency_p50_ms=$p50 latency_p95_ms=$p95 viewer_peak_rss_mb=$(awk -v k="$rss_kb" 'BEGIN { printf "%.1f", k / 1024 }')"
}

for pace in "0 $frames" "30 $paced_frames"; do
  read -r fps count <<< "$pace"
  run no-http 0 no "$fps" "$count"
  run http-idle 0 yes "$fps" "$count"
  for n in "${clients[@]}"; do run "http-$n" "$n" yes "$fps" "$count"; done
done
