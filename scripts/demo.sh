#!/usr/bin/env bash
# The main job, on one machine: builds release binaries, starts the viewer and a streamer over
# 127.0.0.1 (on the camera if there is one, else on the built-in test pattern), and stops both
# when the window is closed.
# Extra arguments go to the streamer (e.g. scripts/demo.sh --size 640x480 --fps 60).
# Without a display (no $DISPLAY) the viewer runs headless for 300 frames instead.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

scripts/setup.sh --demo
echo "demo: building release binaries"
cargo build --locked --release -p streamer -p viewer

viewer_args=(--listen 127.0.0.1:0)
if [ -z "${DISPLAY:-}" ]; then
  echo "demo: no DISPLAY, so no window: running the viewer headless for 300 frames"
  viewer_args+=(--headless --frames 300)
fi

log=$(mktemp)
streamer_pid=""
cleanup() {
  [ -n "$streamer_pid" ] && kill -TERM "$streamer_pid" 2>/dev/null || true
  [ -n "${viewer_pid:-}" ] && kill -TERM "$viewer_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -f "$log"
}
trap cleanup EXIT INT TERM

./target/release/viewer "${viewer_args[@]}" 2> >(tee "$log" >&2) &
viewer_pid=$!

# The viewer picks a free port and says which; wait for that line.
addr=""
for _ in $(seq 100); do
  addr=$(sed -n 's/^viewer: listening on //p' "$log" | head -n1)
  [ -n "$addr" ] && break
  kill -0 "$viewer_pid" 2>/dev/null || { echo "demo: the viewer did not start" >&2; exit 1; }
  sleep 0.1
done
[ -n "$addr" ] || { echo "demo: the viewer did not report its address" >&2; exit 1; }

source_args=()
case " $* " in
  *" --source "* | *" --source="*) ;;
  *)
    if compgen -G '/dev/video*' >/dev/null &&
       ! ./target/release/streamer --list-cameras | grep -qi '^no V4L2 capture devices'; then
      echo "demo: streaming the camera (scripts/demo.sh --source test for the test pattern)"
      source_args=(--source camera)
    else
      echo "demo: no camera here, streaming the built-in test pattern"
      source_args=(--source test)
    fi
    ;;
esac
./target/release/streamer "${source_args[@]}" "$@" "$addr" &
streamer_pid=$!

# The viewer ends when its window is closed (or after its frames, headless). Headless, no one
# closes a window, so a streamer that ends first (a refused argument, its own --frames) stops
# the viewer too instead of leaving it waiting for ever.
# (Looked at every 0.2 s: bash 5.0, Ubuntu 20.04's, has no `wait -n -p`.)
if [ -z "${DISPLAY:-}" ]; then
  while kill -0 "$viewer_pid" 2>/dev/null && kill -0 "$streamer_pid" 2>/dev/null; do
    sleep 0.2
  done
  if ! kill -0 "$streamer_pid" 2>/dev/null; then
    wait "$streamer_pid" 2>/dev/null || true
    streamer_pid=""
    kill -TERM "$viewer_pid" 2>/dev/null || true
  fi
fi
wait "$viewer_pid" || true
viewer_pid=""
if [ -n "$streamer_pid" ]; then
  kill -TERM "$streamer_pid" 2>/dev/null || true
  wait "$streamer_pid" 2>/dev/null || true
fi
streamer_pid=""
