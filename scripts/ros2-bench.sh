#!/usr/bin/env bash
# `streamer --source ros2:TOPIC` measured: Eclipse Cyclone DDS (tests/peers/ros2_pub.py)
# publishes 1280x720 JPEGs at 30 Hz best effort into the streamer, which sends them to a
# headless viewer with --measure; one key=value line:
#   stamp_to_sent_p50_ms / _p95_ms  header.stamp to the frame leaving the streamer (the
#                                   viewer's encode_ms + queue_ms, both on the streamer's clock)
#   glass_p50_ms                    header.stamp to the picture decoded on the viewer
#   frames, streamer_cpu_pct        frames measured; the streamer's CPU from its start to the
#                                   last message (% of one core; start-up included)
#   streamer_rss_kb                 its peak resident memory
# Everything runs inside a network namespace of its own (scripts/netns.sh, root): no DDS
# packet reaches the machine's network.
#   scripts/ros2-bench.sh            FRAMES=300 by default; FRAMES=30 for a quick check
set -euo pipefail
cd "$(dirname "$0")/.."
frames=${FRAMES:-300}
profile=${PROFILE:-release}

if [ "${1:-}" != "--inside" ]; then
  scripts/py-env.sh >&2
  if [ "$profile" = release ]; then
    cargo build --locked --release -p streamer -p viewer >&2
  fi
  exec scripts/netns.sh "$0" --inside
fi

tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
bin=target/$profile
py=.cache/venv/bin/python
topic=/bench/image/compressed

# 30 distinct camera-like JPEGs (a moving gradient with noise), published in turn.
mkdir -p "$tmp/in"
"$py" - "$tmp/in" <<'PY'
import os, sys, zlib, struct, random, subprocess
out = sys.argv[1]
w, h = 1280, 720
for i in range(30):
    rnd = random.Random(i)
    rows = bytearray()
    for y in range(h):
        rows += bytes(((x + y + 4 * i + rnd.randrange(8)) % 256) for x in range(w))
    pgm = b"P5 %d %d 255\n" % (w, h) + bytes(rows)
    open(os.path.join(out, f"{i:03}.pgm"), "wb").write(pgm)
PY
for f in "$tmp"/in/*.pgm; do
  ffmpeg -v error -y -i "$f" -q:v 5 "${f%.pgm}.jpg" && rm "$f"
done

"$bin/viewer" --headless --measure --listen 127.0.0.1:9000 >"$tmp/v.out" 2>"$tmp/v.err" &
vpid=$!
t0=$(date +%s.%N)
"$bin/streamer" --source "ros2:$topic" --quiet 127.0.0.1:9000 2>"$tmp/s.err" &
spid=$!
"$py" tests/peers/ros2_pub.py "$topic" compressed "$tmp/in" --count "$frames" --wait 30 >"$tmp/p.out"
# The streamer's CPU and peak memory over the run, from /proc.
ticks=$(awk '{print $14 + $15}' "/proc/$spid/stat")
rss=$(awk '/VmHWM/ {print $2}' "/proc/$spid/status")
hz=$(getconf CLK_TCK)
elapsed=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {print b - a}')
kill -TERM "$spid"; wait "$spid" || true
kill -TERM "$vpid"; wait "$vpid" || true
"$py" - "$tmp/v.out" "$ticks" "$hz" "$elapsed" "$rss" <<'PY'
import statistics, sys
path, ticks, hz, elapsed, rss = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
sent, glass = [], []
for line in open(path):
    if not line.startswith("peer=") or "glass_ms=unknown" in line:
        continue
    kv = dict(w.split("=", 1) for w in line.split() if "=" in w)
    sent.append(float(kv["encode_ms"]) + float(kv["queue_ms"]))
    glass.append(float(kv["glass_ms"]))
def q(v, p):
    return f"{statistics.quantiles(v, n=100)[p - 1]:.2f}" if len(v) > 1 else "unknown"
print(f"stamp_to_sent_p50_ms={q(sent, 50)} stamp_to_sent_p95_ms={q(sent, 95)} "
      f"glass_p50_ms={q(glass, 50)} frames={len(sent)} "
      f"streamer_cpu_pct={100 * ticks / hz / elapsed:.1f} streamer_rss_kb={rss}")
PY
