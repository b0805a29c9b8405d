#!/usr/bin/env bash
# The HTTP hub under attack (issue: a hub no client can starve), with the real release
# binaries on loopback: the test pattern at 640x480 and 30 fps into a headless viewer with
# --http, while scripts/hub-attack.py runs its battery from 127.0.0.1 (request heads sent a
# byte a second, idle connections, fast MJPEG readers, a flood of bad requests; each kind
# reconnects as soon as it is closed) and a good client on 127.0.0.2 asks /api/streams every
# 100 ms and reads /stream/1. Prints one key=value line:
#   good_200_within_1s of good_requests, good_p50_ms, good_max_ms: the good client's requests;
#   good_stream_fps_min: its MJPEG stream, parts a second, the worst second after the first two;
#   fps, latency_p50_ms: the streamer's summary (the hub must never delay its answers);
#   viewer_rss_max_mb, stderr_lines_max_per_s: sampled every second.
# Targets: every good request 200 within 1 s, the streamer at 30 fps, RSS < 64 MB,
# stderr <= 10 lines a second.
#   scripts/hub-attack-bench.sh            ATTACK_SECONDS=20 sets the attack's length
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
seconds=${ATTACK_SECONDS:-20}
cargo build --locked --release -q -p streamer -p viewer
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
. scripts/bench-common.sh

target/release/viewer --headless --listen 127.0.0.1:0 --http 127.0.0.1:0 \
  >"$tmp/v.out" 2>"$tmp/v.err" &
vpid=$!
addr=$(wait_listening "$tmp/v.err" "viewer: listening on")
http=$(wait_listening "$tmp/v.err" "viewer: serving HTTP on")
frames=$(( (seconds + 6) * 30 ))
target/release/streamer "$addr" --source test --size 640x480 --fps 30 --frames "$frames" --quiet \
  >"$tmp/s.out" 2>"$tmp/s.err" &
spid=$!
# The stream first, so that /stream/1 exists when the battery starts.
for _ in $(seq 100); do
  grep -q "streamer connected" "$tmp/v.err" && break
  sleep 0.1
done
attack=$(python3 scripts/hub-attack.py --http "$http" --seconds "$seconds" \
  --viewer-pid "$vpid" --viewer-err "$tmp/v.err")
wait "$spid" || true
kill -TERM "$vpid" 2>/dev/null || true
wait "$vpid" 2>/dev/null || true
echo "$attack fps=$(value fps "$tmp/s.out") latency_p50_ms=$(value latency_p50_ms "$tmp/s.out")" \
  "latency_p95_ms=$(value latency_p95_ms "$tmp/s.out")"
