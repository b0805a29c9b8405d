#!/usr/bin/env bash
# Measures the real binaries on loopback and prints one key=value line per case.
#   scripts/bench.sh [SIZES...]        (default: 640x480 1280x720 1920x1080)
# For each size: a camera-like y4m (a real photograph from Debian's mate-backgrounds, slowly
# panned and zoomed, with sensor-like noise, made once with ffmpeg into .cache/bench/), then
#   floor            pure encode and decode ms per frame of the same frames, in one process;
#                    again last (floor-after), and the targets take the lower of the two sums
#   headless-unpaced streamer --fps 0 into viewer --headless
#   window-unpaced   the same into a real window under Xvfb
#   window-30fps     --fps 30 into a real window: latency and glass-to-glass figures
#   window-30fps-hud-off  the same without the figures band (`--hud off`), to show its cost
#   reference-decode the reference viewer's cv2.imdecode per frame, unsliced and --slices 2
#   *-slices2        the unpaced headless and the 30 fps window case with streamer --slices 2
#   window-30fps-slices4  the 30 fps window case with --slices 4 (`auto` on a 4-core board): more
#                    strips than this machine's 2 cores, claimed in turn, so unequal strips even out
#   targets          issues 16 and 27: from the medians above, glass p50 with --slices 2
#                    against encode + decode floor, sliced encode and split decode speed-ups
# CPU ms per frame and peak RSS come from GNU time. Each case runs RUNS times (default 3) and
# the line printed holds the median of every figure, with runs=N. Run it on an otherwise idle
# machine.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(640x480 1280x720 1920x1080)
frames_unpaced=${FRAMES:-600}
frames_paced=${PACED_FRAMES:-300}
runs=${RUNS:-3}

log() { printf '== %s\n' "$*" >&2; }
# needs, media, value, median, wait_listening
. scripts/bench-common.sh

scripts/setup.sh >&2
needs ffmpeg time

log "building release binaries"
cargo build --locked --release -p streamer -p viewer -p benches >&2
# The kernel writes a fresh build out to disk for a while after it; wait for that here, not
# during the floors (one run right after a build measured a 0.7 ms slower floor sum).
sync

# A private X server for the windowed cases.
xvfb_pid=""
cleanup() { [ -n "$xvfb_pid" ] && kill "$xvfb_pid" 2>/dev/null || true; }
trap cleanup EXIT
exec 3< <(Xvfb -noreset -displayfd 1 -screen 0 1920x1200x24 -nolisten tcp 2>/dev/null)
read -r display <&3
xvfb_pid=$(pgrep -n Xvfb)
export DISPLAY=":$display"

run_case() {
  local size=$1 name=$2 fps=$3 frames=$4 video=$5 viewer_mode=$6 slices=${7:-1}
  local dir; dir=$(mktemp -d)
  local vargs=(--listen 127.0.0.1:0 --measure)
  [ "$viewer_mode" = headless ] && vargs+=(--headless)
  [ "$viewer_mode" = window-hud-off ] && vargs+=(--hud off)
  /usr/bin/time -f '%U %S %M' -o "$dir/viewer.time" \
    target/release/viewer "${vargs[@]}" >"$dir/viewer.out" 2>"$dir/viewer.err" &
  local vpid=$!
  local addr; addr=$(wait_listening "$dir/viewer.err" "viewer: listening on")
  /usr/bin/time -f '%U %S %M' -o "$dir/streamer.time" \
    target/release/streamer --source "$video" --loop --stamp --fps "$fps" --frames "$frames" --slices "$slices" --quiet "$addr" \
    >"$dir/streamer.out" 2>"$dir/streamer.err"
  sleep 0.3
  kill -TERM "$(pgrep -P "$vpid" viewer || echo "$vpid")" 2>/dev/null || true
  wait "$vpid" 2>/dev/null || true
  local sent; sent=$(value frames "$dir/streamer.out")
  local got; got=$(value frames "$dir/viewer.out")
  read -r su ss smax < "$dir/streamer.time"
  read -r vu vs vmax < "$dir/viewer.time"
  awk -v size="$size" -v name="$name" -v sent="$sent" -v got="$got" \
      -v su="$su" -v ss="$ss" -v smax="$smax" -v vu="$vu" -v vs="$vs" -v vmax="$vmax" \
      -v fps="$(value fps "$dir/streamer.out")" \
      -v p50="$(value latency_p50_ms "$dir/streamer.out")" \
      -v p95="$(value latency_p95_ms "$dir/streamer.out")" \
      -v max="$(value latency_max_ms "$dir/streamer.out")" \
      -v g50="$(value glass_p50_ms "$dir/viewer.out")" \
      -v g95="$(value glass_p95_ms "$dir/viewer.out")" \
      -v bpf="$(value bytes_per_frame "$dir/streamer.out")" \
      -v dropped="$(value dropped "$dir/viewer.out")" \
      'BEGIN { printf "bench size=%s case=%s frames=%s viewer_frames=%s viewer_dropped=%s fps=%s latency_p50_ms=%s latency_p95_ms=%s latency_max_ms=%s glass_p50_ms=%s glass_p95_ms=%s streamer_cpu_ms_per_frame=%.2f viewer_cpu_ms_per_frame=%.2f streamer_rss_mb=%.1f viewer_rss_mb=%.1f bytes_per_frame=%s\n",
        size, name, sent, got, dropped, fps, p50, p95, max, g50, g95,
        (su + ss) * 1000 / sent, (vu + vs) * 1000 / sent, smax / 1024, vmax / 1024, bpf }'
  rm -rf "$dir"
}

# The floors, with the same frames also encoded in 2 strips and decoded split and whole.
floor_line() { echo "bench size=$1 case=$3 $(target/release/codec-floor "$2" 2)"; }

# reference_decode SIZE VIDEO: the reference viewer's decode (OpenCV's cv2.imdecode, Debian's
# libjpeg-turbo) of every frame, unsliced and in 2 strips (restart markers turn off
# libjpeg-turbo's fast Huffman decoder for a whole-image decode).
reference_decode() {
  local dir; dir=$(mktemp -d)
  target/release/codec-floor "$2" 2 "$dir" >/dev/null
  /usr/bin/python3 - "$1" "$dir" <<'PY'
import glob, sys, time
import cv2, numpy
size, d = sys.argv[1], sys.argv[2]
def cost(kind):
    frames = [numpy.frombuffer(open(f, "rb").read(), numpy.uint8)
              for f in sorted(glob.glob(f"{d}/*-{kind}.jpg"))]
    best = None
    for _ in range(3):
        t = time.perf_counter()
        for f in frames:
            assert cv2.imdecode(f, cv2.IMREAD_COLOR) is not None
        ms = (time.perf_counter() - t) * 1e3 / len(frames)
        best = ms if best is None else min(best, ms)
    return best
plain, sliced = cost("unsliced"), cost("sliced")
print(f"bench size={size} case=reference-decode cv2_unsliced_ms={plain:.3f} "
      f"cv2_sliced_ms={sliced:.3f} cv2_sliced_over_unsliced={sliced / plain:.3f}")
PY
  rm -rf "$dir"
}

# targets FILE: issue 16's targets from the median lines of one size.
targets() {
  python3 - "$1" <<'PY'
import sys
cases = {}
for line in open(sys.argv[1]):
    kv = dict(w.split("=", 1) for w in line.split() if "=" in w)
    cases[kv.get("case")] = kv
f, g = cases["floor"], cases["window-30fps-slices2"]
# The floors are the least the codec needs, and noise only adds to them: the lower of the two
# measured (before and after the window cases) counts.
sums = [float(c["encode_floor_ms"]) + float(c["decode_floor_ms"])
        for c in (f, cases["floor-after"])]
floor_sum = min(sums)
glass = float(g["glass_p50_ms"])
glass4 = float(cases["window-30fps-slices4"]["glass_p50_ms"])
print(f"bench size={f['size']} case=targets glass_p50_slices2_ms={glass:g} "
      f"floor_sum_ms={floor_sum:.3f} floor_sum_before_ms={sums[0]:.3f} floor_sum_after_ms={sums[1]:.3f} "
      f"glass_within_floor_sum={int(glass <= floor_sum)} "
      f"glass_p50_slices4_ms={glass4:g} glass_slices4_within_floor_sum={int(glass4 <= floor_sum)} "
      f"encode_speedup={f['encode_speedup']} encode_target=1.7 "
      f"decode_speedup={f['decode_speedup']} decode_target=1.6 "
      f"encode_cpu_ratio={f['encode_cpu_ratio']} decode_cpu_ratio={f['decode_cpu_ratio']} "
      f"load_avg={open('/proc/loadavg').read().split()[0]} "
      f"size_cost_pct={f['size_cost_pct']} "
      f"glass_p50_unsliced_ms={cases['window-30fps']['glass_p50_ms']}")
PY
}

for size in "${sizes[@]}"; do
  video=$(media "$size")
  lines=$(mktemp)
  log "$size: codec floor"
  median floor_line "$size" "$video" floor | tee -a "$lines"
  log "$size: reference viewer's decode"
  reference_decode "$size" "$video"
  log "$size: headless, unpaced"
  median run_case "$size" headless-unpaced 0 "$frames_unpaced" "$video" headless | tee -a "$lines"
  log "$size: window, unpaced"
  median run_case "$size" window-unpaced 0 "$frames_unpaced" "$video" window | tee -a "$lines"
  log "$size: window, 30 fps"
  median run_case "$size" window-30fps 30 "$frames_paced" "$video" window | tee -a "$lines"
  log "$size: headless, unpaced, --slices 2"
  median run_case "$size" headless-unpaced-slices2 0 "$frames_unpaced" "$video" headless 2 | tee -a "$lines"
  log "$size: window, 30 fps, --slices 2"
  median run_case "$size" window-30fps-slices2 30 "$frames_paced" "$video" window 2 | tee -a "$lines"
  log "$size: window, 30 fps, --slices 4"
  median run_case "$size" window-30fps-slices4 30 "$frames_paced" "$video" window 4 | tee -a "$lines"
  log "$size: window, 30 fps, figures band off"
  median run_case "$size" window-30fps-hud-off 30 "$frames_paced" "$video" window-hud-off
  log "$size: codec floor again"
  median floor_line "$size" "$video" floor-after | tee -a "$lines"
  targets "$lines"
  rm -f "$lines"
done
