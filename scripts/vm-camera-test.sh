#!/usr/bin/env bash
# Proves camera capture on a real V4L2 driver: boots Debian's own kernel in QEMU (TCG, no
# network) with the vivid virtual webcam, runs `streamer --list-cameras` and then
# `streamer --source camera` against a headless viewer on the VM's 127.0.0.1 in several modes,
# and checks on this side that every run exited 0, that frames arrived and most of them
# decoded, that --list-cameras' config blocks name the camera by its by-id link (or by
# /dev/videoN with a warning when there is none) and stream as they are, that the
# negotiated modes are the ones asked for and that the picture is vivid's colour bars in the
# right colours. Downloads are cached in .cache/vm-camera (git-ignored). Needs root or sudo
# only to install missing Debian packages.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

cache=.cache/vm-camera
work="$cache/run"
frames=30

say() { printf 'vm-camera-test: %s\n' "$*"; }
die() { say "FAIL: $*"; exit 1; }

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi

# --- Tools --------------------------------------------------------------------------------
missing=()
command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q "install ok installed" ||
  missing+=(busybox-static)
command -v cpio >/dev/null || missing+=(cpio)
command -v xz >/dev/null || missing+=(xz-utils)
command -v python3 >/dev/null || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

# --- Release binaries ---------------------------------------------------------------------
say "building release streamer and viewer"
cargo build --release -p streamer -p viewer
bins=(target/release/streamer target/release/viewer)

# --- Debian's kernel: vmlinuz and the media modules vivid needs -----------------------------
# From Debian bookworm through a private apt (scripts/debian-apt.sh), whatever the host runs:
# Ubuntu names its kernels otherwise and keeps vivid, compressed, in linux-modules-extra.
mkdir -p "$cache"
# shellcheck source=scripts/debian-apt.sh
. scripts/debian-apt.sh
debian_apt "$cache/apt" amd64 bookworm
kernel_of() {
  apt-cache "${apt_opts[@]}" depends linux-image-amd64 2>/dev/null |
    awk '/Depends: linux-image-[0-9]/ { print $2; exit }'
}
kpkg=$(kernel_of || true)
if [ -z "$kpkg" ]; then
  apt-get "${apt_opts[@]}" update </dev/null >/dev/null
  kpkg=$(kernel_of || true)
fi
[ -n "$kpkg" ] || die "cannot tell which kernel package Debian bookworm's linux-image-amd64 depends on"
kdir="$cache/$kpkg"
if [ ! -e "$kdir/.unpacked" ]; then
  deb=$(ls "$cache/${kpkg}"_*.deb 2>/dev/null | head -1 || true)
  if [ -z "$deb" ]; then
    # A newer kernel replaces the cached one rather than piling up next to it.
    rm -rf "$cache"/linux-image-*
    say "downloading $kpkg (once; cached in $cache)"
    (cd "$cache" && apt-get "${apt_opts[@]}" download "$kpkg" </dev/null 2>&1 |
      grep -v '^W: Download is performed unsandboxed' || true)
    deb=$(ls "$cache/${kpkg}"_*.deb 2>/dev/null | head -1 || true)
    [ -n "$deb" ] || die "apt-get download $kpkg failed"
  fi
  rm -rf "$kdir"
  mkdir -p "$kdir"
  # Unpacked, never installed, and only what is used: vmlinuz and the media modules (vivid
  # and everything it depends on live under drivers/media).
  dpkg-deb --fsys-tarfile "$deb" |
    tar -x -C "$kdir" --wildcards './boot/vmlinuz-*' '*/kernel/drivers/media/*'
  touch "$kdir/.unpacked"
fi
vmlinuz=$(ls "$kdir"/boot/vmlinuz-* 2>/dev/null | head -1 || true)
[ -n "$vmlinuz" ] || die "$kpkg has no /boot/vmlinuz-*"
# /lib/modules, or /usr/lib/modules on merged-/usr releases.
moddir=$(ls -d "$kdir"/lib/modules/*/kernel "$kdir"/usr/lib/modules/*/kernel 2>/dev/null | head -1 || true)
[ -n "$moddir" ] || die "$kpkg has no modules directory"

rm -rf "$work"
root="$work/root"
mkdir -p "$root"/{bin,modules,usr/bin,proc,sys,dev,tmp}

# Finds a module by name (depends= may say - where the file says _, or the reverse) and
# puts it, decompressed, into the initramfs; prints nothing, fails when it is not there.
fetch_module() {
  local name=$1 alt f
  alt=$(printf '%s' "$name" | tr '_-' '-_')
  f=$(find "$moddir" \( -name "$name.ko*" -o -name "$alt.ko*" \) | head -1)
  [ -n "$f" ] || return 1
  case "$f" in
    *.ko) cp "$f" "$root/modules/$name.ko" ;;
    *.ko.xz) xz -dc "$f" >"$root/modules/$name.ko" ;;
    *.ko.zst) zstd -qdc "$f" >"$root/modules/$name.ko" ;;
    *.ko.gz) gzip -dc "$f" >"$root/modules/$name.ko" ;;
    *) return 1 ;;
  esac
}

# Depth first, dependencies before dependants: the insmod order (there is no modprobe or
# depmod in the VM, and none is needed).
declare -A seen=()
order=()
add_module() {
  local name=$1 deps dep
  [ -n "${seen[$name]:-}" ] && return 0
  seen[$name]=1
  fetch_module "$name" || die "module $name not found in $kpkg"
  deps=$(tr '\0' '\n' <"$root/modules/$name.ko" | sed -n 's/^depends=//p' | head -1)
  for dep in ${deps//,/ }; do
    add_module "$dep"
  done
  order+=("$name")
}
add_module vivid
printf '%s\n' "${order[@]}" >"$root/modules/order"
say "kernel $kpkg; modules in load order: ${order[*]}"

# --- Initramfs: busybox, the modules, the binaries and their shared libraries --------------
cp /bin/busybox "$root/bin/busybox"
cp scripts/vm/camera-init.sh "$root/init"
chmod +x "$root/init"
for b in "${bins[@]}"; do
  cp "$b" "$root/usr/bin/"
  for lib in $(ldd "$b" | grep -o '/[^ ]*'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
done

# name|frames|streamer arguments|expected mode line[|unplug: unbind and rebind vivid mid-run]
# (@conf: the STREAMER_ARGS of the first /etc/streamer/NAME.conf block --list-cameras printed)
cases=(
  "yuyv-640x480|$frames|--camera-format YUYV --size 640x480 --fps 25|YUYV 640x480 @ 25 fps"
  "yuyv-1280x720|$frames|--camera-format YUYV --size 1280x720|YUYV 1280x720 @ 12.5 fps"
  "nv12-640x480|$frames|--camera 0 --camera-format NV12 --size 640x480 --fps 25|NV12 640x480 @ 25 fps"
  "grey-640x480|$frames|--camera /dev/video0 --camera-format GREY --size 640x480 --fps 15|GREY 640x480 @ 15 fps"
  "rgb3-640x360|$frames|--camera-format RGB3 --size 640x360 --fps 30|RGB3 640x360 @ 30 fps"
  "bgr3-320x180|$frames|--camera-format BGR3 --size 320x180 --fps 30|BGR3 320x180 @ 30 fps"
  "auto-default|$frames||YUYV 1280x720 @ 12.5 fps"
  "conf-block|$frames|@conf|YUYV 1280x720 @ 12.5 fps"
  "unplug-replug|150|--camera-format YUYV --size 320x180 --fps 30|YUYV 320x180 @ 30 fps|unplug"
)
for c in "${cases[@]}"; do
  IFS='|' read -r name n args _ action <<<"$c"
  printf '%s|%s|%s|%s\n' "$name" "$n" "$args" "$action"
done >"$root/cases"

initrd="$work/initrd.gz"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$initrd"
say "initramfs $(du -h "$initrd" | cut -f1)"

# --- Boot ---------------------------------------------------------------------------------
say "booting $kpkg under QEMU (TCG, no network)"
started=$(date +%s)
set +e
timeout 300 qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 1024 \
  -nographic -monitor none -no-reboot -nic none \
  -kernel "$vmlinuz" -initrd "$initrd" \
  -append 'console=ttyS0 quiet panic=-1' \
  -serial "file:$work/console.log" -serial "file:$work/results.txt" </dev/null
qrc=$?
set -e
say "VM ran $(($(date +%s) - started)) s (qemu exit $qrc)"

out="$work/out"
mkdir -p "$out"
if ! tr -d '\r' <"$work/results.txt" | sed -n '/^BEGIN-RESULTS$/,/^END-RESULTS$/p' |
  sed '1d;$d' | base64 -d | tar -xz -C "$out" 2>/dev/null; then
  say "console:"
  tail -n 40 "$work/console.log" || true
  die "the VM shipped no results"
fi

# --- Checks -------------------------------------------------------------------------------
python3 scripts/vm/check-camera-results.py "$out" "${cases[@]}"
