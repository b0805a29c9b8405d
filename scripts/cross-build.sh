#!/usr/bin/env bash
# Cross-builds release `streamer` and `viewer` for 64-bit ARM boards (aarch64-unknown-linux-gnu:
# Sunrise X3 Pi, Jetson, Raspberry Pi 3/4/5 with a 64-bit OS) on an x86_64 Debian or Ubuntu
# machine. The binaries are linked against a glibc 2.31 sysroot (Debian bullseye's arm64 libc),
# so they run on Ubuntu 20.04 and anything newer; the script checks that no GLIBC_ symbol
# version above 2.31 is needed.
#
# Output: target/aarch64/streamer and target/aarch64/viewer (cargo's own output stays under
# target/cross/ so the native target/ directory and its lock are never touched).
#
# Rust for the target, in this order (CROSS_TOOLCHAIN=rustup or =debian forces one):
#   rustup: `rustup target add aarch64-unknown-linux-gnu` (a normal developer machine);
#   debian: Debian bookworm's rustc-web, cargo-web and libstd-rust-web-dev:arm64, called as
#           /usr/bin/rustc and /usr/bin/cargo (for machines without access to rustup's servers).
# Installs what is missing with apt (sudo when not root) and says what; downloads and the
# sysroot are cached in .cache/cross/, so a second run only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PATH="$HOME/.cargo/bin:$PATH"

target=aarch64-unknown-linux-gnu
max_glibc=2.31
cache=$root/.cache/cross
sysroot=$cache/sysroot-bullseye-arm64
out=$root/target/aarch64

stage() { printf '\n== cross-build: %s (%s)\n' "$1" "$(date +%T)"; }
die() { echo "cross-build: $*" >&2; exit 1; }

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi

[ "$(uname -m)" = x86_64 ] || die "expected an x86_64 build machine, this is $(uname -m)"
command -v dpkg-query >/dev/null 2>&1 || die "expected Debian or Ubuntu (dpkg and apt)"

is_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}
# Installs the named packages that are missing; "apt-get update" only when something is.
apt_install() {
  local missing=() p
  for p in "$@"; do
    is_installed "$p" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "cross-build: already installed: $*"
    return
  fi
  echo "cross-build: installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" </dev/null >/dev/null
}

stage "system packages: cross compiler, binutils, cmake, libclang (for bindgen)"
# gcc-aarch64-linux-gnu: C compiler and linker for the target (libjpeg-turbo, the final link).
# libclang-dev: bindgen (nokhwa's V4L2 bindings). debian-archive-keyring: to check the bullseye
# packages the sysroot is made of (on Ubuntu it comes from universe).
apt_install gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu cmake pkg-config libclang-dev \
  debian-archive-keyring ca-certificates

stage "Rust toolchain for $target"
choice=${CROSS_TOOLCHAIN:-auto}
case $choice in
  auto | rustup | debian) ;;
  *) die "CROSS_TOOLCHAIN must be auto, rustup or debian, not '$choice'" ;;
esac
if [ "$choice" != debian ] && command -v rustup >/dev/null 2>&1; then
  if rustup target list --installed 2>/dev/null | grep -qx "$target"; then
    echo "cross-build: rustup already has the $target standard library"
    choice=rustup
  else
    echo "cross-build: adding the $target standard library with rustup"
    if timeout 300 rustup target add "$target" </dev/null; then
      choice=rustup
    elif [ "$choice" = rustup ]; then
      die "'rustup target add $target' failed"
    else
      echo "cross-build: rustup could not add the target; trying Debian's Rust packages"
    fi
  fi
elif [ "$choice" = rustup ]; then
  die "CROSS_TOOLCHAIN=rustup but rustup is not installed"
fi
if [ "$choice" != rustup ]; then
  # Debian's Rust for the target. Never touches rustup's toolchain in ~/.cargo/bin.
  apt-cache show rustc-web >/dev/null 2>&1 ||
    die "no rustup target and no rustc-web package (Debian bookworm has it): install rustup (https://rustup.rs) and rerun"
  if is_installed rustc && ! is_installed rustc-web; then
    die "Debian's 'rustc' package is installed and rustc-web would replace it; remove it or use rustup"
  fi
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    echo "cross-build: enabling the arm64 package architecture (dpkg --add-architecture arm64)"
    $sudo dpkg --add-architecture arm64
    $sudo apt-get update -qq
  fi
  apt_install rustc-web cargo-web libstd-rust-web-dev:arm64
  choice=debian
  cargo=(env RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc /usr/bin/cargo)
  echo "cross-build: using Debian's $(/usr/bin/rustc --version)"
else
  cargo=(cargo)
  echo "cross-build: using rustup's $(rustc --version)"
fi

stage "glibc $max_glibc sysroot from Debian bullseye (cached in .cache/cross)"
# libc6, libc6-dev and libgcc-s1 are what the final link and the C code need (glibc 2.31, as on
# Ubuntu 20.04); linux-libc-dev gives the kernel headers bindgen reads for V4L2. Only bullseye
# itself, not bullseye-security: the link needs the 2.31 ABI, not the newest patch, and the
# security mirror does not always carry arm64 files.
sysroot_debs=(libc6 libc6-dev linux-libc-dev libgcc-s1)
debs=$cache/debs
mkdir -p "$debs"
# shellcheck source=scripts/debian-apt.sh
. scripts/debian-apt.sh
debian_apt "$cache/apt" arm64 bullseye
apt_priv=(apt-get "${apt_opts[@]}")
have_all_debs() {
  local p
  for p in "${sysroot_debs[@]}"; do
    compgen -G "$debs/${p}_*_arm64.deb" >/dev/null || return 1
  done
}
if have_all_debs; then
  echo "cross-build: bullseye packages already downloaded: ${sysroot_debs[*]}"
else
  echo "cross-build: downloading bullseye arm64 packages: ${sysroot_debs[*]}"
  "${apt_priv[@]}" update </dev/null >/dev/null
  rm -f "$debs"/*.deb
  (cd "$debs" && "${apt_priv[@]}" download "${sysroot_debs[@]}" </dev/null >/dev/null)
  have_all_debs || die "could not download ${sysroot_debs[*]} from bullseye"
fi
stamp=$(find "$debs" -name '*.deb' -printf '%f\n' | sort | tr '\n' ' ')
if [ -f "$sysroot/.stamp" ] && [ "$(cat "$sysroot/.stamp")" = "$stamp" ]; then
  echo "cross-build: sysroot up to date: $sysroot"
else
  echo "cross-build: unpacking the sysroot into $sysroot"
  rm -rf "$sysroot.tmp" "$sysroot"
  mkdir -p "$sysroot.tmp"
  for deb in "$debs"/*.deb; do
    dpkg-deb -x "$deb" "$sysroot.tmp"
  done
  # Absolute symlinks (libm.so -> /lib/aarch64-linux-gnu/libm.so.6) would point into the build
  # machine's own /lib; make each one relative so it stays inside the sysroot.
  while IFS= read -r link; do
    dest=$(readlink "$link")
    case $dest in
      /*) ln -sfn "$(realpath -m --relative-to="$(dirname "$link")" "$sysroot.tmp$dest")" "$link" ;;
    esac
  done < <(find "$sysroot.tmp" -type l)
  echo "$stamp" >"$sysroot.tmp/.stamp"
  mv "$sysroot.tmp" "$sysroot"
fi
[ -e "$sysroot/lib/ld-linux-aarch64.so.1" ] || die "the sysroot has no dynamic loader"

stage "compiler wrapper: aarch64-linux-gnu-gcc on the sysroot"
# The sysroot's headers and libraries come before the cross compiler's own (bookworm's glibc
# 2.36, whose symbols would need GLIBC_2.34). The same wrapper compiles libjpeg-turbo (through
# cmake) and links the Rust binaries.
wrapper=$cache/bin/aarch64-linux-gnu-gcc-glibc231
mkdir -p "$(dirname "$wrapper")"
cat >"$wrapper.tmp" <<EOF
#!/bin/sh
# Generated by scripts/cross-build.sh: aarch64-linux-gnu-gcc on the glibc 2.31 sysroot.
S="$sysroot"
exec aarch64-linux-gnu-gcc --sysroot="\$S" \\
  -isystem "\$S/usr/include/aarch64-linux-gnu" -isystem "\$S/usr/include" \\
  -B"\$S/usr/lib/aarch64-linux-gnu" \\
  -L"\$S/usr/lib/aarch64-linux-gnu" -L"\$S/lib/aarch64-linux-gnu" \\
  "\$@"
EOF
chmod +x "$wrapper.tmp"
mv "$wrapper.tmp" "$wrapper"
echo "cross-build: $wrapper"

stage "build: cargo build --release --target $target -p streamer -p viewer ($choice toolchain)"
env_target=${target//-/_}
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=$wrapper
export "CC_$env_target=$wrapper"
export "AR_$env_target=aarch64-linux-gnu-ar"
# bindgen (nokhwa's V4L2 bindings) parses the target's kernel and libc headers from the sysroot.
export "BINDGEN_EXTRA_CLANG_ARGS_$env_target=--sysroot=$sysroot -isystem $sysroot/usr/include/aarch64-linux-gnu -isystem $sysroot/usr/include"
# pkg-config must never hand the build machine's x86_64 libraries to the target.
export "PKG_CONFIG_ALLOW_CROSS_$env_target=1"
export "PKG_CONFIG_SYSROOT_DIR_$env_target=$sysroot"
export "PKG_CONFIG_LIBDIR_$env_target=$sysroot/usr/lib/aarch64-linux-gnu/pkgconfig:$sysroot/usr/share/pkgconfig"
# One target directory per toolchain: switching between them must not rebuild everything.
export CARGO_TARGET_DIR=$root/target/cross/$choice
"${cargo[@]}" build --locked --release --target "$target" -p streamer -p viewer </dev/null

mkdir -p "$out"
for bin in streamer viewer; do
  cp -f "$CARGO_TARGET_DIR/$target/release/$bin" "$out/$bin.tmp"
  mv -f "$out/$bin.tmp" "$out/$bin"
done

stage "check: AArch64 executables needing glibc <= $max_glibc"
status=0
for bin in streamer viewer; do
  f=$out/$bin
  aarch64-linux-gnu-readelf -h "$f" | grep -q 'Machine:.*AArch64' || die "$f is not an AArch64 executable"
  needed=$(aarch64-linux-gnu-readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
  versions=$(aarch64-linux-gnu-objdump -T "$f" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV)
  highest=$(echo "$versions" | tail -n1)
  too_new=$(echo "$versions" | while read -r v; do
    [ "$(printf '%s\n%s\n' "$v" "$max_glibc" | sort -V | tail -n1)" = "$max_glibc" ] || echo "GLIBC_$v"
  done | tr '\n' ' ')
  echo "cross-build: $bin: $(du -h "$f" | cut -f1), needs $needed, highest symbol version GLIBC_$highest"
  if [ -n "$too_new" ]; then
    echo "cross-build: $bin needs $too_new, newer than glibc $max_glibc (Ubuntu 20.04)" >&2
    status=1
  fi
done
[ $status -eq 0 ] || exit 1
echo "cross-build: done: $out/streamer and $out/viewer run on aarch64 Linux with glibc >= $max_glibc"
