#!/usr/bin/env bash
# Cross-builds release `streamer.exe` and `viewer.exe` for 64-bit Windows
# (x86_64-pc-windows-gnu) on an x86_64 Debian or Ubuntu machine with Debian's mingw-w64, and
# packs them with a short README into target/windows/streamer-viewer-VERSION-windows-x86_64.zip.
# Installs what is missing (mingw-w64, cmake and nasm for libjpeg-turbo, zip; Rust's target
# with `rustup target add`). Cargo's output stays under target/windows/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PATH="$HOME/.cargo/bin:$PATH"

target=x86_64-pc-windows-gnu
out=$root/target/windows
die() { echo "windows-build: $*" >&2; exit 1; }

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
missing=()
# gcc/g++ for mingw: the C compiler for libjpeg-turbo and the linker Rust uses for this target.
for p in gcc-mingw-w64-x86-64 g++-mingw-w64-x86-64 cmake nasm zip; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "windows-build: installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" </dev/null >/dev/null
fi
command -v rustup >/dev/null || die "rustup is needed for the $target standard library"
if ! rustup target list --installed | grep -qx "$target"; then
  echo "windows-build: adding the $target standard library with rustup"
  timeout 300 rustup target add "$target" </dev/null
fi

echo "windows-build: cargo build --release --target $target"
# The cmake crate sees the Windows target and the cc crate picks x86_64-w64-mingw32-gcc, so
# libjpeg-turbo is configured for mingw (with nasm's win64 objects) without a toolchain file.
# No debug line tables: the executables are stripped into the zip below, so they would only cost
# build time (CARGO_PROFILE_RELEASE_DEBUG overrides Cargo.toml's release profile for this build).
CARGO_PROFILE_RELEASE_DEBUG=false \
  cargo build --locked --release --target "$target" --target-dir "$out" -p streamer -p viewer

version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
name=streamer-viewer-$version-windows-x86_64
stage=$out/$name
rm -rf "$stage" "$out/$name.zip"
mkdir -p "$stage"
for exe in streamer viewer; do
  x86_64-w64-mingw32-strip -o "$stage/$exe.exe" "$out/$target/release/$exe.exe"
done
# Windows line endings, so that Notepad shows the README as written.
sed 's/$/\r/' scripts/windows/README.txt >"$stage/README.txt"
(cd "$out" && zip -q -r "$name.zip" "$name")
rm -rf "$stage"
echo "windows-build: $out/$name.zip ($(du -k "$out/$name.zip" | cut -f1) KiB)"
