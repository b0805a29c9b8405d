#!/usr/bin/env bash
# README's first command as a user runs it: scripts/demo.sh on a desktop, here a private X
# server (Xvfb). The window appears and shows the stream (its title names the peer and rate),
# Esc closes it, both programs print their summaries with frames, and the script exits 0.
#   scripts/demo-test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

for tool in Xvfb xdotool; do
  command -v "$tool" >/dev/null || { echo "demo-test: $tool is missing: run scripts/setup.sh" >&2; exit 1; }
done
work=$(mktemp -d)
xvfb_pid="" demo_pid=""
cleanup() {
  [ -n "$demo_pid" ] && kill -TERM "$demo_pid" 2>/dev/null || true
  [ -n "$xvfb_pid" ] && kill "$xvfb_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "demo-test: $*" >&2; echo "--- demo.sh stdout (tail)"; tail -5 "$work/out" >&2; echo "--- stderr"; tail -20 "$work/err" >&2; exit 1; }

# Xvfb writes its display number once it is ready.
Xvfb -noreset -displayfd 3 -screen 0 1600x900x24 -nolisten tcp 3>"$work/display" 2>/dev/null &
xvfb_pid=$!
for _ in $(seq 100); do [ -s "$work/display" ] && break; sleep 0.1; done
[ -s "$work/display" ] || fail "Xvfb did not start"
export DISPLAY=":$(cat "$work/display")"

# Release binaries are usually built by now (the camera, package and Windows stages); if not,
# demo.sh builds them, hence the long limits.
timeout 900 scripts/demo.sh --source test --size 640x360 >"$work/out" 2>"$work/err" &
demo_pid=$!
window=""
for _ in $(seq 6000); do
  window=$(xdotool search --name '^viewer' 2>/dev/null | head -n1 || true)
  [ -n "$window" ] && break
  kill -0 "$demo_pid" 2>/dev/null || fail "demo.sh ended before its window appeared"
  sleep 0.1
done
[ -n "$window" ] || fail "no viewer window within 10 minutes"
# The title names the stream once pictures arrive: "viewer - NAME (127.0.0.1:PORT) - N fps".
title=""
for _ in $(seq 300); do
  title=$(timeout 10 xdotool getwindowname "$window" || true)
  case "$title" in *"(127.0.0.1:"*" fps") break ;; esac
  sleep 0.1
done
case "$title" in *"(127.0.0.1:"*" fps") ;; *) fail "the window shows no stream: title '$title'" ;; esac
frames=$(grep -c '^frame=' "$work/out" || true)
[ "$frames" -gt 0 ] || fail "no frame lines from the streamer"

# Esc, held as a person holds it (the window polls key state).
timeout 10 xdotool windowfocus --sync "$window" keydown Escape || true
sleep 0.3
timeout 10 xdotool keyup Escape || true
for _ in $(seq 300); do kill -0 "$demo_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$demo_pid" 2>/dev/null && fail "demo.sh still running 30 s after Esc"
status=0
wait "$demo_pid" || status=$?
demo_pid=""
[ "$status" = 0 ] || fail "demo.sh exited with $status"
summaries=$(grep -c '^summary:' "$work/out" || true)
[ "$summaries" = 2 ] || fail "$summaries summary lines, not the streamer's and the viewer's"
grep '^summary:' "$work/out" | grep -q ' decoded=[1-9]' || fail "the viewer decoded nothing"
echo "demo-test: ok: window '$title', $frames frames, both summaries"
