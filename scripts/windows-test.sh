#!/usr/bin/env bash
# Proves the Windows build under Wine: builds the zip (scripts/windows-build.sh), unpacks it
# into target/windows/test and runs what it holds with Debian's wine (8.0):
#   viewer.exe --headless receives 100 frames from the native Linux streamer over loopback;
#   the native viewer receives 100 frames from streamer.exe;
#   under Xvfb viewer.exe's window shows the test pattern's colour bars (screenshot);
#   streamer.exe --source camera fails with a line naming --source test.
# Wine 8.0 lacks bcryptprimitives.dll, whose ProcessPrng Rust's standard library imports: a
# test-only stand-in (scripts/windows/bcryptprimitives.c) is built with mingw and put beside
# the .exe files in the test directory, never into the zip. The Wine prefix is cached in
# .cache/wine/. Every run is bounded by a timeout.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PATH="$HOME/.cargo/bin:$PATH"

die() { echo "windows-test: $*" >&2; exit 1; }
say() { echo "windows-test: $*"; }
for tool in wine Xvfb xdotool xwininfo import python3 unzip; do
  command -v "$tool" >/dev/null || die "$tool is missing: run scripts/setup.sh"
done

scripts/windows-build.sh
cargo build --locked --release -p streamer -p viewer
native=$root/target/release
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
name=streamer-viewer-$version-windows-x86_64
zip=$root/target/windows/$name.zip

listing=$(unzip -Z1 "$zip" | sort | tr '\n' ' ')
[ "$listing" = "$name/ $name/README.txt $name/streamer.exe $name/viewer.exe " ] ||
  die "the zip holds '$listing', expected README.txt, streamer.exe and viewer.exe only"
t=$root/target/windows/test
rm -rf "$t"
mkdir -p "$t"
unzip -q "$zip" -d "$t"
t=$t/$name
x86_64-w64-mingw32-gcc -O2 -shared -Wl,--kill-at -o "$t/bcryptprimitives.dll" \
  scripts/windows/bcryptprimitives.c -ladvapi32
say "unpacked $zip into $t, with the test-only bcryptprimitives.dll"

work=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -z "${WINEPREFIX:-}" ] || timeout 20 wineserver -k 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

Xvfb -noreset -displayfd 3 -screen 0 1280x800x24 -nolisten tcp 3>"$work/display" 2>/dev/null &
pids+=($!)
for _ in $(seq 50); do [ -s "$work/display" ] && break; sleep 0.1; done
[ -s "$work/display" ] || die "Xvfb did not start"
export DISPLAY=:$(cat "$work/display")
export WINEPREFIX=$root/.cache/wine/prefix WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
mkdir -p "$root/.cache/wine"
say "wine $(wine --version), prefix $WINEPREFIX, display $DISPLAY"
timeout 180 wineboot --init >/dev/null 2>&1 || die "wineboot failed"

# listen_addr FILE: waits up to 30 s for the viewer's "listening on" line and prints the address.
listen_addr() {
  local a=""
  for _ in $(seq 300); do
    a=$(sed -n 's/^viewer: listening on //p' "$1" | tr -d '\r')
    [ -z "$a" ] || break
    sleep 0.1
  done
  [ -n "$a" ] || { cat "$1" >&2; die "no 'listening on' line in $1"; }
  echo "$a"
}
# summary_has FILE KEY=VALUE: the summary line in FILE has that pair.
summary_has() {
  tr -d '\r' <"$1" | grep '^summary:' | tr ' ' '\n' | grep -qx "$2" ||
    { cat "$1" >&2; die "$1: the summary does not say $2"; }
}

# pair TAG VIEWER STREAMER: runs the viewer (headless, 100 frames) and the streamer (100
# frames) against each other; each program is "wine PATH.exe" or a native PATH (no spaces).
pair() {
  local tag=$1 vpid addr viewer streamer
  read -r -a viewer <<<"$2"
  read -r -a streamer <<<"$3"
  timeout 120 "${viewer[@]}" --headless --listen 127.0.0.1:0 --frames 100 \
    >"$work/$tag-v.out" 2>"$work/$tag-v.err" &
  vpid=$!
  addr=$(listen_addr "$work/$tag-v.err")
  timeout 120 "${streamer[@]}" --source test --frames 100 --quiet "$addr" \
    >"$work/$tag-s.out" 2>"$work/$tag-s.err" ||
    { cat "$work/$tag-s.err" >&2; die "${streamer[*]} failed"; }
  wait "$vpid" || { cat "$work/$tag-v.err" >&2; die "${viewer[*]} failed"; }
  summary_has "$work/$tag-v.out" frames=100
  summary_has "$work/$tag-v.out" errors=0
  summary_has "$work/$tag-s.out" frames=100
  say "   viewer: $(tr -d '\r' <"$work/$tag-v.out" | grep '^summary:')"
  say "   streamer: $(tr -d '\r' <"$work/$tag-s.out" | grep '^summary:')"
}

say "1. viewer.exe --headless under wine, 100 frames from the native streamer"
pair 1 "wine $t/viewer.exe" "$native/streamer"
say "2. the native viewer, 100 frames from streamer.exe under wine"
pair 2 "$native/viewer" "wine $t/streamer.exe"

say "3. viewer.exe's window under Xvfb shows the test pattern"
timeout 120 wine "$t/viewer.exe" --listen 127.0.0.1:0 --size 640x360 --frames 900 \
  >"$work/v3.out" 2>"$work/v3.err" &
vpid=$!
addr=$(listen_addr "$work/v3.err")
timeout 120 "$native/streamer" --source test --size 640x360 --fps 30 --frames 900 --quiet \
  "$addr" >"$work/s3.out" 2>"$work/s3.err" &
spid=$!
pids+=("$vpid" "$spid")
# The visible window titled "viewer..." that has the size asked for (Wine may map and
# unmap others on the way).
id="" geometry=""
field() { echo "$geometry" | sed -n "s/^ *$1: *//p"; }
for _ in $(seq 100); do
  for candidate in $(xdotool search --onlyvisible --name '^viewer' 2>/dev/null); do
    geometry=$(xwininfo -id "$candidate" 2>/dev/null) || continue
    if [ "$(field Width)x$(field Height)" = 640x360 ]; then
      id=$candidate
      break 2
    fi
  done
  sleep 0.1
done
[ -n "$id" ] || die "no visible 640x360 viewer window appeared"
wx=$(field "Absolute upper-left X") wy=$(field "Absolute upper-left Y")
ww=$(field Width) wh=$(field Height)
# Screenshots until the bars are there: in a new Wine prefix the first window takes seconds
# more to show what it draws. Both programs would stop by themselves after 30 s.
shown=no
for _ in $(seq 40); do
  import -window root -depth 8 "$work/shot.ppm"
  if python3 scripts/windows/bars.py "$work/shot.ppm" streamer/src/source/pattern.rs \
    "$wx" "$wy" "$ww" "$wh" >"$work/bars.txt"; then
    shown=yes
    break
  fi
  sleep 0.5
done
cp "$work/shot.ppm" "$root/target/windows/wine-window.ppm"
cat "$work/bars.txt"
say "   window $id at ${wx},${wy} size ${ww}x${wh}; screenshot in target/windows/wine-window.ppm"
[ "$shown" = yes ] || {
  cat "$work/v3.err" "$work/s3.err" >&2
  die "the window does not show the test pattern's bars"
}
kill "$spid" "$vpid" 2>/dev/null || true
grep -q "drawing through" "$work/v3.err" && say "   $(grep "drawing through" "$work/v3.err" | tr -d '\r')"

say "4. streamer.exe --source camera says what to use instead"
if timeout 60 wine "$t/streamer.exe" --source camera 127.0.0.1:9 >/dev/null 2>"$work/c.err"; then
  die "streamer.exe --source camera succeeded"
fi
grep -q -- "--source test" "$work/c.err" || { cat "$work/c.err" >&2; die "the camera error does not name --source test"; }
say "   $(tr -d '\r' <"$work/c.err")"
say "ok"
