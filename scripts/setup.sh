#!/usr/bin/env bash
# Installs what building, running and testing need on Debian or Ubuntu: the Rust toolchain
# (with rustfmt and clippy) and a few system packages. Idempotent: installs only what is missing.
# With --demo (scripts/demo.sh), only what building and running the two programs need: no test
# tools (browser, wine, QEMU, PyPI and npm clients), so the first command is quick and cannot
# fail on them.
set -euo pipefail
demo=false
if [ "${1:-}" = --demo ]; then
  demo=true
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi

# Headless Chromium is the chromium package on Debian, chromium-browser on Ubuntu: whichever
# apt has a version of, after an update when its lists are still empty (a fresh container).
# (apt-cache show also succeeds, printing nothing, for a name other packages merely mention.)
known() { [[ $(apt-cache show "$1" 2>/dev/null) == *$'\nVersion: '* ]]; }
browser=chromium
if ! $demo && ! known chromium; then
  known chromium-browser || $sudo apt-get update -qq
  known chromium || browser=chromium-browser
fi

# Build: cmake + nasm build the bundled libjpeg-turbo 3 with SIMD.
# Window and its tests: the X libraries minifb opens at run time, Xvfb, xdotool, xwininfo
# (x11-utils) and ImageMagick for screenshots. python3 runs the reference-peer tests.
packages=(
  build-essential cmake nasm pkg-config
  libx11-6 libxext6 libxcursor1 libxrandr2 libxi6 libxkbcommon0
  xvfb x11-utils xdotool imagemagick
  # The window's recordings are read back with ffprobe and ffmpeg in tests/field.rs.
  ffmpeg
  python3 procps bc
  # MCAP recordings (tests/mcap.rs) are judged by PyPI readers in a virtualenv (scripts/py-env.sh).
  python3-venv
  # Camera: bindgen needs libclang for the V4L2 bindings; scripts/vm-camera-test.sh boots a
  # VM with QEMU and builds its initramfs from busybox, cpio and xz.
  libclang-dev qemu-system-x86 busybox-static cpio xz-utils
  # The VM's kernel and the arm64 sysroot come from Debian's archive through a private apt
  # (scripts/debian-apt.sh), on Ubuntu too: its signing keys.
  debian-archive-keyring
  # Pipe and HTTP sources (tests/pipes.rs): ffmpeg and GStreamer producers, and OpenCV for
  # examples/opencv_overlay.py (Debian's python3 sees python3-opencv).
  ffmpeg gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  python3-opencv python3-numpy
  # The viewer's HTTP hub (tests/hub.rs): headless Chromium loads the page, ffmpeg/ffprobe and
  # OpenCV read the MJPEG stream, promtool (in prometheus) checks /metrics; scripts/hub-bench.sh
  # runs curl as clients.
  "$browser" python3-opencv prometheus curl
  # The hub over https (tests/hub_tls.rs): the openssl CLI makes the tests' self-signed certificates.
  openssl
  # Sliced frames (tests/slices.rs, tests/peers/decoders.py) must decode alike in djpeg,
  # OpenCV (the reference viewer's cv2.imdecode), Pillow, ffmpeg and Chromium.
  libjpeg-turbo-progs python3-pil
  # Foxglove live (tests/foxglove.rs): npm's @foxglove/ws-protocol client runs on Node
  # (scripts/npm-env.sh; NodeSource's nodejs carries npm, Debian's gets it below).
  nodejs
  # ROS 2 tests (tests/ros2.rs, scripts/netns.sh): each DDS participant in a network
  # namespace of its own (unshare from util-linux, ip from iproute2).
  iproute2 util-linux
  # The load stage (scripts/load-test.sh) keeps both cores busy while the timing-sensitive
  # integration tests run again.
  stress-ng
  # Debian packages (scripts/package-test.sh): lintian checks them, help2man writes the manual
  # pages, the real deb-systemd-helper enables the unit in a scratch root.
  lintian help2man init-system-helpers
  # Glass-to-glass across clocks that differ (tests/clocks.rs): libfaketime shifts and steps the
  # streamer's wall clock on this one host.
  faketime
  # Windows (scripts/windows-test.sh): mingw-w64 cross-builds the .exe files and the test-only
  # DLL, zip packs them, wine runs them.
  gcc-mingw-w64-x86-64 g++-mingw-w64-x86-64 zip unzip wine wine64
)

if $demo; then
  packages=(build-essential cmake nasm pkg-config libclang-dev
    libx11-6 libxext6 libxcursor1 libxrandr2 libxi6 libxkbcommon0 procps)
fi
missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: Debian packages already installed"
fi
# Debian's and Ubuntu's nodejs only suggest npm, which --no-install-recommends leaves out.
if ! $demo && ! command -v npm >/dev/null 2>&1; then
  echo "setup: nodejs came without npm; installing Debian packages: npm"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
# A distribution's cargo (Debian 12's rustc 1.63) is older than the workspace needs and has no
# rustup to update it: rustup's toolchain goes first on PATH instead.
need=$(sed -n '/^\[workspace.package\]/,/^\[/s/^rust-version = "\(.*\)"/\1/p' "$(dirname "$0")/../Cargo.toml")
too_old() {
  local have
  have=$(rustc --version 2>/dev/null | cut -d' ' -f2)
  [ -z "$have" ] || [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -n1)" != "$need" ]
}
if ! command -v cargo >/dev/null 2>&1 || { too_old && ! command -v rustup >/dev/null 2>&1; }; then
  echo "setup: no Rust toolchain of $need or newer found; installing one with rustup (https://rustup.rs)"
  $sudo apt-get install -y -qq curl ca-certificates >/dev/null
  curl --proto '=https' --tlsv1.2 -sSf --connect-timeout 20 --max-time 300 https://sh.rustup.rs |
    sh -s -- -y --profile minimal
  export PATH="$HOME/.cargo/bin:$PATH"
fi
# An old rustup default would stop the build later, less clearly; say so now.
if too_old; then
  echo "setup: rustc $(rustc --version | cut -d' ' -f2) is older than the workspace's rust-version $need: update it (rustup update stable)" >&2
  exit 1
fi
if command -v rustup >/dev/null 2>&1; then
  for c in rustfmt clippy; do
    if ! rustup component list --installed 2>/dev/null | grep -q "^$c"; then
      echo "setup: adding the $c component"
      rustup component add "$c"
    fi
  done
fi
if $demo; then
  echo "setup: $(cargo --version) (what the demo needs; scripts/test.sh installs the rest)"
  exit 0
fi
# The test runner (scripts/test.sh): a time limit per test, each in its own process.
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "setup: installing cargo-nextest from crates.io"
  cargo install cargo-nextest --locked
fi
echo "setup: $(cargo --version)"
# The MCAP readers the tests judge recordings by, in the git-ignored .cache/venv.
"$(dirname "$0")/py-env.sh"
# The npm Foxglove WebSocket client the hub is judged by (tests/foxglove.rs), in .cache/npm-foxglove.
"$(dirname "$0")/npm-env.sh"
