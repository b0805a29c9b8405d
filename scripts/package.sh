#!/usr/bin/env bash
# Builds Debian packages of the streamer and the viewer with dpkg-deb:
#   target/debian/streamer_VERSION_ARCH.deb  /usr/bin/streamer, streamer.service (enabled on
#       install, restarted on upgrade, stopped and disabled on removal), /etc/streamer.conf
#       as a conffile (an upgrade never overwrites your edits), and the per-camera template
#       streamer@.service (streamer@NAME reads /etc/streamer/NAME.conf; enabled by the admin);
#   target/debian/viewer_VERSION_ARCH.deb    /usr/bin/viewer.
# Usage: scripts/package.sh [amd64|arm64|all]   (default: all)
# amd64 comes from a native release build, arm64 from scripts/cross-build.sh (glibc <= 2.31,
# for Ubuntu 20.04 and newer boards). VERSION (default: the workspace version with Debian
# revision 1, e.g. 0.1.0-1) and BINARIES_AMD64 / BINARIES_ARM64 (a directory holding
# `streamer` and `viewer` already built, to skip the build) may be set.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PATH="$HOME/.cargo/bin:$PATH"

die() { echo "package: $*" >&2; exit 1; }

arches=${1:-all}
case $arches in
  all) arches="amd64 arm64" ;;
  amd64 | arm64) ;;
  *) die "usage: $0 [amd64|arm64|all]" ;;
esac
for tool in dpkg-deb help2man readelf objdump; do
  command -v "$tool" >/dev/null || die "$tool is missing: run scripts/setup.sh"
done
upstream=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
[ -n "$upstream" ] || die "no version in Cargo.toml's [workspace.package]"
version=${VERSION:-$upstream-1}
case $version in
  [0-9]*-[0-9]*) ;;
  *) die "VERSION must look like UPSTREAM-REVISION (e.g. 0.1.0-2), not '$version'" ;;
esac
out=$root/target/debian
mkdir -p "$out"
# The Maintainer field and changelog signature: MAINTAINER, else the last commit's author.
maintainer=${MAINTAINER:-$(git log -1 --format='%an <%ae>')}

# Each needed shared library must map to a Debian package, with the newest glibc symbol
# version the binary uses as the libc6 minimum.
depends_for() {
  local deps=() lib glibc
  for lib in $(readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    case $lib in
      libc.so.6 | libm.so.6 | libpthread.so.0 | libdl.so.2 | librt.so.1 | ld-linux-*.so.*) ;;
      libgcc_s.so.1) deps+=("libgcc-s1") ;;
      *) die "$1 needs $lib, which this script does not know the package of" ;;
    esac
  done
  glibc=$(objdump -T "$1" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n1)
  [ -n "$glibc" ] || die "$1 uses no versioned glibc symbol; is it a dynamic glibc binary?"
  deps=("libc6 (>= $glibc)" "${deps[@]}")
  local IFS=,
  echo "${deps[*]}" | sed 's/,/, /g'
}

# build_package NAME ARCH BINARY_DIR DESCRIPTION LONG_DESCRIPTION EXTRA_DEPENDS
build_package() {
  local name=$1 arch=$2 bin=$3 summary=$4 long=$5 extra=$6
  local pkg=$out/pkg-$name-$arch
  rm -rf "$pkg"
  mkdir -p "$pkg/DEBIAN" "$pkg/usr/bin" "$pkg/usr/share/doc/$name"
  install -m 755 "$bin/$name" "$pkg/usr/bin/$name"
  # Symbols stay out of the package (lintian: unstripped-binary-or-object).
  case $arch in
    amd64) strip --strip-unneeded -R .comment "$pkg/usr/bin/$name" ;;
    arm64) aarch64-linux-gnu-strip --strip-unneeded -R .comment "$pkg/usr/bin/$name" ;;
  esac
  sed "s/@PACKAGE@/$name/" scripts/debian/copyright >"$pkg/usr/share/doc/$name/copyright"
  {
    echo "$name ($version) unstable; urgency=medium"
    echo
    echo "  * Package built by scripts/package.sh from the $upstream sources."
    echo
    echo " -- $maintainer  $(date -R -d "@${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}")"
  } | gzip -9n >"$pkg/usr/share/doc/$name/changelog.Debian.gz"
  if [ "$name" = streamer ]; then
    mkdir -p "$pkg/lib/systemd/system" "$pkg/etc" "$pkg/usr/lib/sysusers.d"
    # The service's own user (postinst makes it now; systemd-sysusers at boot in an image).
    install -m 644 scripts/board/streamer.sysusers "$pkg/usr/lib/sysusers.d/streamer.conf"
    scripts/board/render-unit.sh /usr/bin/streamer /etc/streamer.conf \
      >"$pkg/lib/systemd/system/streamer.service"
    # One service per camera: streamer@NAME reads /etc/streamer/NAME.conf (not enabled here).
    scripts/board/render-unit.sh --per-camera /usr/bin/streamer '/etc/streamer/%i.conf' \
      >"$pkg/lib/systemd/system/streamer@.service"
    sed 's|^# Written by scripts/install-on-board.sh.*|# Installed by the streamer package: upgrades keep your edits (a conffile).|' \
      scripts/board/streamer.conf.example >"$pkg/etc/streamer.conf"
    chmod 644 "$pkg/lib/systemd/system/streamer.service" "$pkg/lib/systemd/system/streamer@.service" \
      "$pkg/etc/streamer.conf"
    echo /etc/streamer.conf >"$pkg/DEBIAN/conffiles"
    install -m 755 scripts/debian/streamer.postinst "$pkg/DEBIAN/postinst"
    install -m 755 scripts/debian/streamer.prerm "$pkg/DEBIAN/prerm"
    install -m 755 scripts/debian/streamer.postrm "$pkg/DEBIAN/postrm"
  fi
  # Manual pages from --help (help2man), made with the native binary: same sources, same text.
  mkdir -p "$pkg/usr/share/man/man1"
  help2man --no-info --no-discard-stderr --name "$summary" --version-string "$upstream" \
    "$native/$name" | gzip -9n >"$pkg/usr/share/man/man1/$name.1.gz"
  # libjpeg-turbo 3 is built into the binaries on purpose (the same codec with SIMD on every
  # board, Debian bookworm ships 2.1); lintian's embedded-library check says so as an error.
  mkdir -p "$pkg/usr/share/lintian/overrides"
  {
    echo "# libjpeg-turbo 3 (with SIMD) is vendored on purpose: the same codec on every board."
    echo "$name: embedded-library libjpeg [usr/bin/$name]"
  } >"$pkg/usr/share/lintian/overrides/$name"
  local depends
  depends=$(depends_for "$pkg/usr/bin/$name")
  [ -z "$extra" ] || depends="$depends, $extra"
  cat >"$pkg/DEBIAN/control" <<CONTROL
Package: $name
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
Depends: $depends
Section: video
Priority: optional
Description: $summary
$long
CONTROL
  (cd "$pkg" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z |
    xargs -0 md5sum >DEBIAN/md5sums)
  local deb=$out/${name}_${version}_${arch}.deb
  dpkg-deb --root-owner-group -Zxz --build "$pkg" "$deb" >/dev/null
  rm -rf "$pkg"
  echo "package: $deb ($(du -k "$deb" | cut -f1) KiB)"
}

# The native binaries write the manual pages (an arm64 binary cannot run here).
if [ -n "${BINARIES_AMD64:-}" ]; then
  native=$BINARIES_AMD64
else
  echo "package: release build for amd64"
  cargo build --locked --release -p streamer -p viewer
  native=$root/target/release
fi

for arch in $arches; do
  case $arch in
    amd64)
      bin=$native
      ;;
    arm64)
      bin=${BINARIES_ARM64:-}
      if [ -z "$bin" ]; then
        echo "package: cross build for arm64 (scripts/cross-build.sh)"
        scripts/cross-build.sh
        bin=$root/target/aarch64
      fi
      ;;
  esac
  build_package streamer "$arch" "$bin" \
    "camera streamer: JPEG frames to a viewer over TCP" \
    " Captures frames from a V4L2 camera (or a test pattern, a .y4m file or a
 still image), compresses them with libjpeg-turbo and sends them to a viewer
 over TCP, printing the latency of every frame. Runs as streamer.service,
 configured in /etc/streamer.conf." ""
  build_package viewer "$arch" "$bin" \
    "camera viewer: shows the JPEG frames streamers send" \
    " Receives JPEG frames from one or more streamers over TCP, acknowledges each
 one at once, decodes the newest and shows it in a window (X11), or runs
 headless." "libx11-6, libxext6, libxcursor1, libxrandr2, libxi6, libxkbcommon0"
done
