#!/usr/bin/env bash
# `streamer --source ros2:TOPIC` measured: Eclipse Cyclone DDS (tests/peers/ros2_pub.py)
# publishes 1280x720 JPEGs at 30 Hz best effort into the streamer, which sends them to a
# headless viewer with --measure, directly (loopback) or through the test relay's emulated
# Wi-Fi (wifi: 20 Mbit/s, 5 ms +- 2 ms each way, as scripts/link-bench.sh's wifi profile);
# one key=value line per profile:
#   publisher_write_p50_ms          header.stamp to Cyclone's write() returning (the publisher's
#                                   own cost: the message built and handed to DDS)
#   stamp_to_sent_p50_ms / _p95_ms  header.stamp to the frame leaving the streamer (the
#                                   viewer's encode_ms + queue_ms, both on the streamer's clock)
#   glass_p50_ms / _p95_ms          header.stamp to the picture decoded on the viewer
#   frames, fps, dropped            frames measured; the streamer's summary figures
#   streamer_cpu_pct                the streamer's CPU from its start to the last message (% of
#                                   one core; start-up included)
#   streamer_rss_kb                 its peak resident memory
# and for wifi the physical limit, as link-bench defines it with this run's own floors:
#   limit_ms = stamp_to_sent p50 + one-way delay + jitter + bytes per frame x 8 / rate + the
#   viewer's decode p50, glass p50 and p95 over it; link_fps (what 20 Mbit/s carries at this
#   frame size, at most 30) and fps over it.
# Everything runs inside a network namespace of its own (scripts/netns.sh, root): no DDS
# packet reaches the machine's network.
#   scripts/ros2-bench.sh [loopback] [wifi]   loopback by default; FRAMES=300 by default
#                                             (FRAMES=30 for a quick check)
set -euo pipefail
cd "$(dirname "$0")/.."
frames=${FRAMES:-300}
build=${BUILD:-release}
profiles=("$@")
[ ${#profiles[@]} -gt 0 ] || profiles=(loopback)
for p in "${profiles[@]}"; do
  case $p in
    loopback | wifi) ;;
    *) echo "ros2-bench: unknown profile $p (loopback wifi)" >&2; exit 2 ;;
  esac
done

if [ "${ROS2_BENCH_INSIDE:-}" != 1 ]; then
  scripts/py-env.sh >&2
  if [ "$build" = release ]; then
    cargo build --locked --release -p streamer -p viewer >&2
    cargo build --locked --release -p integration-tests --bin link-relay >&2
  fi
  ROS2_BENCH_INSIDE=1 exec scripts/netns.sh "$0" "${profiles[@]}"
fi

# wait_listening
. scripts/bench-common.sh
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
bin=target/$build
py=.cache/venv/bin/python
topic=/bench/image/compressed
wifi_args=(--rate-mbit 20 --delay-ms 5 --jitter-ms 2)

# 30 distinct camera-like JPEGs (a moving gradient with noise), published in turn.
mkdir -p "$tmp/in"
"$py" - "$tmp/in" <<'PY'
import os, sys, random
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

run_case() {
  local profile=$1 dir="$tmp/$1"
  mkdir -p "$dir"
  "$bin/viewer" --headless --measure --listen 127.0.0.1:0 >"$dir/v.out" 2>"$dir/v.err" &
  local vpid=$! rpid=""
  local addr; addr=$(wait_listening "$dir/v.err" "viewer: listening on")
  if [ "$profile" = wifi ]; then
    "$bin/link-relay" --to "$addr" --max-seconds 600 "${wifi_args[@]}" 2>"$dir/r.err" &
    rpid=$!
    addr=$(wait_listening "$dir/r.err" "link-relay: listening on")
  fi
  local t0; t0=$(date +%s.%N)
  "$bin/streamer" --source "ros2:$topic" --quiet "$addr" >"$dir/s.out" 2>"$dir/s.err" &
  local spid=$!
  "$py" tests/peers/ros2_pub.py "$topic" compressed "$tmp/in" --count "$frames" --wait 30 \
    --timing >"$dir/p.out"
  # The streamer's CPU and peak memory over the run, from /proc.
  local ticks rss elapsed
  ticks=$(awk '{print $14 + $15}' "/proc/$spid/stat")
  rss=$(awk '/VmHWM/ {print $2}' "/proc/$spid/status")
  elapsed=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {print b - a}')
  # Frames still crossing the emulated link arrive before the streamer is stopped.
  [ "$profile" = wifi ] && sleep 0.5
  kill -TERM "$spid"; wait "$spid" || true
  [ -n "$rpid" ] && { kill "$rpid"; wait "$rpid" || true; }
  kill -TERM "$vpid"; wait "$vpid" || true
  "$py" - "$profile" "$dir" "$ticks" "$(getconf CLK_TCK)" "$elapsed" "$rss" <<'PY'
import statistics, sys
profile, d, ticks, hz, elapsed, rss = sys.argv[1], sys.argv[2], int(sys.argv[3]), \
    int(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
def words(line):
    return dict(w.split("=", 1) for w in line.split() if "=" in w)
sent, glass, decode = [], [], []
for line in open(f"{d}/v.out"):
    if not line.startswith("peer=") or "glass_ms=unknown" in line:
        continue
    kv = words(line)
    sent.append(float(kv["encode_ms"]) + float(kv["queue_ms"]))
    glass.append(float(kv["glass_ms"]))
    decode.append(float(kv["decode_ms"]))
summary = next((words(l) for l in open(f"{d}/s.out") if l.startswith("summary:")), {})
pub = next((words(l) for l in open(f"{d}/p.out") if "write_p50_ms=" in l), {})
def q(v, p):
    return statistics.quantiles(v, n=100)[p - 1] if len(v) > 1 else None
def f(x):
    return "unknown" if x is None else f"{x:.2f}"
out = [f"ros2-bench link={profile}",
       f"publisher_write_p50_ms={pub.get('write_p50_ms', 'unknown')}",
       f"stamp_to_sent_p50_ms={f(q(sent, 50))}", f"stamp_to_sent_p95_ms={f(q(sent, 95))}",
       f"glass_p50_ms={f(q(glass, 50))}", f"glass_p95_ms={f(q(glass, 95))}",
       f"frames={len(sent)}", f"fps={summary.get('fps', 'unknown')}",
       f"dropped={summary.get('dropped', 'unknown')}",
       f"bytes_per_frame={summary.get('bytes_per_frame', 'unknown')}",
       f"streamer_cpu_pct={100 * ticks / hz / elapsed:.1f}", f"streamer_rss_kb={rss}"]
if profile == "wifi":
    rate_mbit, delay, jitter = 20.0, 5.0, 2.0
    size = float(summary.get("bytes_per_frame", "nan"))
    parts = [q(sent, 50), q(decode, 50)]
    if None in parts or size != size:
        out.append("limit_ms=unknown")
    else:
        limit = parts[0] + delay + jitter + size * 8 / (rate_mbit * 1000) + parts[1]
        link_fps = min(30.0, rate_mbit * 1e6 / 8 / size)
        out += [f"limit_ms={limit:.1f}", f"glass_p50_over_limit={q(glass, 50) / limit:.2f}",
                f"glass_p95_over_limit={q(glass, 95) / limit:.2f}", f"link_fps={link_fps:.1f}"]
        if "fps" in summary:
            out.append(f"fps_over_link={float(summary['fps']) / link_fps:.2f}")
print(" ".join(out))
PY
}

for profile in "${profiles[@]}"; do
  run_case "$profile"
done
