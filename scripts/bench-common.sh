#!/usr/bin/env bash
# Shared by the bench scripts (sourced, not run): the tools they need, the camera-like test
# media, the median of repeated runs, a scratch folder and a viewer started on port 0.

# needs PACKAGE...: installs the Debian packages that are missing.
needs() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    printf '== installing %s\n' "${missing[*]}" >&2
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# media SIZE: prints the path of a camera-like y4m of that size (a real photograph from
# Debian's mate-backgrounds, slowly panned and zoomed, with sensor-like noise; 120 frames at
# 30 fps), made once with ffmpeg into .cache/bench/.
media() {
  local size=$1 cache=.cache/bench
  local out="$cache/photo-$size.y4m"
  mkdir -p "$cache"
  if [ ! -f "$cache/photo.jpg" ]; then
    printf '== fetching a photograph (Dune.jpg from Debian'"'"'s mate-backgrounds)\n' >&2
    local tmp; tmp=$(mktemp -d)
    (cd "$tmp" && apt-get download mate-backgrounds >/dev/null)
    dpkg-deb -x "$tmp"/mate-backgrounds_*.deb "$tmp/x"
    cp "$tmp/x/usr/share/backgrounds/mate/nature/Dune.jpg" "$cache/photo.jpg"
    rm -rf "$tmp"
  fi
  if [ ! -f "$out" ]; then
    printf '== making %s (120 frames)\n' "$out" >&2
    local w=${size%x*}
    ffmpeg -v error -y -loop 1 -framerate 30 -i "$cache/photo.jpg" -vf \
      "scale=$((w * 2)):-2,zoompan=z='1+0.002*on':x='iw/2-(iw/zoom/2)+on*3':y='ih/2-(ih/zoom/2)':d=1:s=$size:fps=30,noise=alls=6:allf=t,format=yuv420p" \
      -frames:v 120 -f yuv4mpegpipe "$out.part"
    mv "$out.part" "$out"
  fi
  echo "$out"
}

# value KEY FILE: the value of KEY=... on the file's summary line
value() { sed -n 's/^summary:.*[ ]'"$1"'=\([^ ]*\).*/\1/p' "$2" | tail -n1; }

# median CMD...: runs CMD $runs times; prints its key=value line with each numeric value
# replaced by the median over the runs (single runs on this kind of VM move by about 10 %).
median() {
  local i
  for ((i = 0; i < runs; i++)); do "$@"; done | python3 -c '
import re, statistics, sys
lines = [l.split() for l in sys.stdin if l.strip()]
out = []
for i, word in enumerate(lines[0]):
    key = word.partition("=")[0]
    values = [l[i].partition("=")[2] for l in lines]
    try:
        out.append(f"{key}={statistics.median(float(v) for v in values):.10g}")
    except ValueError:
        out.append(word)
print(" ".join(out), f"runs={len(lines)}")
'
}

# wait_listening FILE PREFIX: waits (up to 5 s) for "PREFIX ADDR" in FILE and prints ADDR.
wait_listening() {
  local addr="" _
  for _ in $(seq 100); do
    # The program may not have opened the file yet.
    addr=$(sed -n "s/^$2 //p" "$1" 2>/dev/null | head -n1 || true)
    [ -n "$addr" ] && break
    sleep 0.05
  done
  echo "$addr"
}

# scratch: a scratch folder in $tmp, removed at exit with every process in $pids killed.
scratch() {
  tmp=$(mktemp -d)
  pids=()
  trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"' EXIT
}

# start_viewer BINARY ARGS...: starts the viewer on 127.0.0.1:0 (output in $tmp/v.out and
# $tmp/v.err), waits until it listens; sets $viewer (its pid, also first in $pids), $port and,
# with --http, $web (the hub's address).
start_viewer() {
  local bin=$1
  shift
  : > "$tmp/v.err"
  "$bin" --listen 127.0.0.1:0 "$@" > "$tmp/v.out" 2> "$tmp/v.err" &
  viewer=$!
  pids=("$viewer")
  local addr
  addr=$(wait_listening "$tmp/v.err" "viewer: listening on")
  port=${addr##*:}
  web=""
  case " $* " in
    *" --http "*) web=$(wait_listening "$tmp/v.err" "viewer: serving HTTP on") ;;
  esac
}
