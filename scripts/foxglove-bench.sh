#!/usr/bin/env bash
# What Foxglove WebSocket fan-out costs the viewer: the real release binaries on loopback, the
# test pattern at SIZE (default 1280x720, 30 fps, FRAMES frames, default 300) into a headless
# viewer with --http, and N WebSocket clients (Python `websockets`, .cache/venv from
# scripts/py-env.sh, all in one process) subscribed to the image channel throughout. One
# key=value line per case: the viewer's CPU over the stream (utime + stime from /proc, in % of
# one core), the CPU each client adds against 0 clients, the streamer's fps, and the frames
# each client received (min and mean).
#   scripts/foxglove-bench.sh [SIZE] [CLIENTS...]      (default clients: 10 50)
# PROFILE=debug runs the debug binaries (a quick check that the script works, not figures).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
size=${1:-1280x720}
shift || true
clients=("$@")
[ ${#clients[@]} -gt 0 ] || clients=(10 50)
frames=${FRAMES:-300}
python=.cache/venv/bin/python
[ -x "$python" ] || { echo "foxglove-bench: run scripts/py-env.sh first" >&2; exit 1; }
profile=${PROFILE:-release}
if [ "$profile" = release ]; then
  cargo build --locked --release -q -p streamer -p viewer
else
  cargo build --locked -q -p streamer -p viewer
fi
. scripts/bench-common.sh
scratch

cat > "$tmp/clients.py" <<'PY'
import asyncio, json, sys
from websockets.asyncio.client import connect
url, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
counts = [0] * n
async def client(i):
    async with connect(url, subprotocols=["foxglove.websocket.v1"], max_size=None) as ws:
        async for m in ws:
            if isinstance(m, str):
                if '"advertise"' in m:
                    c = min(c["id"] for c in json.loads(m)["channels"] if c["topic"].endswith("/image/compressed"))
                    await ws.send(json.dumps({"op": "subscribe", "subscriptions": [{"id": 1, "channelId": c}]}))
            elif m[0] == 1:
                counts[i] += 1
                with open(out, "w") as f:
                    f.write(f"{min(counts)} {sum(counts) / n:.1f}\n")
async def main():
    await asyncio.gather(*(client(i) for i in range(n)), return_exceptions=True)
asyncio.run(main())
PY

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# run CLIENTS: prints the case's line and sets cpu_pct
run() {
  local n=$1
  # Every client comes from 127.0.0.1, whose default share of the hub is 16 connections.
  start_viewer "target/$profile/viewer" --headless --http 127.0.0.1:0 --http-max-per-client 64
  echo "0 0" > "$tmp/counts"
  if [ "$n" -gt 0 ]; then
    "$python" "$tmp/clients.py" "ws://$web/" "$n" "$tmp/counts" 2> "$tmp/c.err" &
    pids+=("$!")
  fi
  target/$profile/streamer --source test --size "$size" --fps 30 --quiet --frames "$frames" \
    "127.0.0.1:$port" > "$tmp/s.out" 2> "$tmp/s.err" &
  local streamer=$!
  local t0 c0
  t0=$(date +%s.%N)
  c0=$(ticks "$viewer")
  wait "$streamer"
  local c1 t1 hz
  c1=$(ticks "$viewer")
  t1=$(date +%s.%N)
  hz=$(getconf CLK_TCK)
  cpu_pct=$(awk -v a="$c0" -v b="$c1" -v s="$t0" -v e="$t1" -v hz="$hz" 'BEGIN { printf "%.1f", (b - a) / hz / (e - s) * 100 }')
  for p in "${pids[@]:1}"; do kill "$p" 2>/dev/null || true; done
  kill -TERM "$viewer"; wait "$viewer" || true
  local got min mean per
  got=$(sed -n 's/^summary: .*fps=\([^ ]*\).*/\1/p' "$tmp/s.out")
  read -r min mean < "$tmp/counts"
  per=unknown
  [ "$n" -gt 0 ] && [ -n "${base:-}" ] && per=$(awk -v c="$cpu_pct" -v b="$base" -v n="$n" 'BEGIN { printf "%.2f", (c - b) / n }')
  echo "case=ws-$n size=$size frames=$frames ws_clients=$n viewer_cpu_pct=$cpu_pct cpu_pct_per_client=$per streamer_fps=$got frames_per_client_min=$min frames_per_client_mean=$mean"
}

run 0
base=$cpu_pct
for n in "${clients[@]}"; do run "$n"; done
