#!/usr/bin/env bash
# Checks the Debian packages scripts/package.sh builds (amd64 and arm64): lintian runs and
# reports no errors; dpkg-deb --contents puts every file where it belongs and the arm64 binaries are
# aarch64 with no glibc symbol above 2.31; the amd64 streamer package installed with the real
# dpkg into a scratch root (dpkg --root, maintainer scripts run outside a chroot with
# DPKG_ROOT set) runs `streamer --version`, installs the per-camera streamer@.service (not
# enabled), gets its unit enabled by the real
# deb-systemd-helper, keeps an edited /etc/streamer.conf across an upgrade, is disabled on
# removal and forgotten on purge, with the links of streamer@ instances. The maintainer
# scripts' running-system branch (start, restart on upgrade, stop on removal, streamer@
# instances included) runs in a private mount namespace that shows a running systemd, under a
# stand-in systemctl and deb-systemd-invoke that record their calls.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PATH="$HOME/.cargo/bin:$PATH"

die() { echo "package-test: $*" >&2; exit 1; }
say() { echo "package-test: $*"; }
# dpkg --root installs root-owned files and unshare --mount needs CAP_SYS_ADMIN.
[ "$(id -u)" -eq 0 ] || die "needs root (dpkg --root, unshare --mount): run it as root or with sudo"
for tool in lintian dpkg-deb help2man unshare; do
  command -v "$tool" >/dev/null || die "$tool is missing: run scripts/setup.sh"
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=$root/target/debian
upstream=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
v1=$upstream-1
v2=$upstream-2

say "building version $v1 for amd64 and arm64, then $v2 for amd64 (the upgrade)"
rm -f "$out"/*.deb
VERSION=$v1 scripts/package.sh all
VERSION=$v2 BINARIES_AMD64=$root/target/release scripts/package.sh amd64

say "lintian ($(lintian --version))"
# With --fail-on none lintian exits 0 whatever it finds, so any other exit is lintian itself
# failing (a run-time error, an unreadable package, a crash): that is a failure, never a clean
# report. Findings are judged from its output.
lrc=0
lintian_out=$(lintian --fail-on none "$out"/*_"$v1"_*.deb 2>&1) || lrc=$?
echo "$lintian_out"
[ "$lrc" -eq 0 ] || die "lintian itself failed (exit $lrc), so the packages were not checked"
if echo "$lintian_out" | grep -q '^E:'; then
  die "lintian reports errors"
fi

# The files each package must hold, and nothing of the streamer's outside them.
for arch in amd64 arm64; do
  s=$out/streamer_${v1}_$arch.deb
  v=$out/viewer_${v1}_$arch.deb
  dpkg-deb --contents "$s" >"$work/s.list"
  dpkg-deb --contents "$v" >"$work/v.list"
  for path in ./usr/bin/streamer ./lib/systemd/system/streamer.service \
    ./lib/systemd/system/streamer@.service ./etc/streamer.conf ./usr/lib/sysusers.d/streamer.conf \
    ./usr/share/doc/streamer/copyright ./usr/share/doc/streamer/changelog.Debian.gz \
    ./usr/share/man/man1/streamer.1.gz; do
    grep -q " $path\$" "$work/s.list" || die "streamer_$arch: $path is missing"
  done
  grep -q '^-rwxr-xr-x root/root .* ./usr/bin/streamer$' "$work/s.list" ||
    die "streamer_$arch: /usr/bin/streamer is not an executable owned by root"
  for path in ./usr/bin/viewer ./usr/share/doc/viewer/copyright ./usr/share/man/man1/viewer.1.gz; do
    grep -q " $path\$" "$work/v.list" || die "viewer_$arch: $path is missing"
  done
  [ "$(dpkg-deb --field "$s" Architecture)" = "$arch" ] || die "streamer_$arch: wrong Architecture"
  dpkg-deb --ctrl-tarfile "$s" | tar -xO ./conffiles | grep -qx /etc/streamer.conf ||
    die "streamer_$arch: /etc/streamer.conf is not a conffile"
  mkdir -p "$work/x-$arch"
  dpkg-deb -x "$s" "$work/x-$arch"
  dpkg-deb -x "$v" "$work/x-$arch"
  machine=$([ "$arch" = amd64 ] && echo X86-64 || echo AArch64)
  for bin in streamer viewer; do
    readelf -h "$work/x-$arch/usr/bin/$bin" | grep -q "Machine: *.*$machine" ||
      die "${bin}_$arch: /usr/bin/$bin is not a $machine binary"
  done
  scripts/board/render-unit.sh /usr/bin/streamer /etc/streamer.conf |
    cmp -s - "$work/x-$arch/lib/systemd/system/streamer.service" ||
    die "streamer_$arch: the unit differs from scripts/board/render-unit.sh's"
  scripts/board/render-unit.sh --per-camera /usr/bin/streamer '/etc/streamer/%i.conf' |
    cmp -s - "$work/x-$arch/lib/systemd/system/streamer@.service" ||
    die "streamer_$arch: streamer@.service differs from scripts/board/render-unit.sh's"
  say "streamer_$arch and viewer_$arch: files, modes, conffile, unit and $machine binaries as expected"
done
glibc=$(objdump -T "$work/x-arm64/usr/bin/streamer" "$work/x-arm64/usr/bin/viewer" |
  grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n1)
[ "$(printf '%s\n2.31\n' "$glibc" | sort -V | tail -n1)" = 2.31 ] ||
  die "the arm64 binaries need glibc $glibc, above 2.31"
dpkg-deb --field "$out/streamer_${v1}_arm64.deb" Depends | grep -q "libc6 (>= $glibc)" ||
  die "streamer_arm64: Depends does not ask for libc6 >= $glibc"
say "arm64: newest glibc symbol $glibc (<= 2.31), and Depends says so"

# Stand-ins: systemctl and deb-systemd-invoke only record (they must never reach the host's
# systemd); deb-systemd-helper records, then runs the real one when DPKG_ROOT points it at
# the scratch root.
mkdir -p "$work/bin"
calls=$work/calls.log
for tool in systemctl deb-systemd-invoke deb-systemd-helper; do
  cat >"$work/bin/$tool" <<STANDIN
#!/bin/sh
echo "$tool \$* DPKG_ROOT=\${DPKG_ROOT:-}" >>"$calls"
if [ "$tool" = deb-systemd-helper ] && [ -n "\${DPKG_ROOT:-}" ]; then
  exec /usr/bin/deb-systemd-helper "\$@"
fi
exit 0
STANDIN
  chmod +x "$work/bin/$tool"
done
calls_since() { tail -n +"$(($1 + 1))" "$calls"; }
ncalls() { wc -l <"$calls"; }
touch "$calls"

r=$work/root
mkdir -p "$r/var/lib/dpkg/info" "$r/var/lib/dpkg/updates"
touch "$r/var/lib/dpkg/status" "$r/var/lib/dpkg/available"
# --force-depends: the scratch root has no libc6 package; --force-script-chrootless: the
# scripts run here with DPKG_ROOT set, as dpkg does for a root without a shell of its own.
dpkg_r() {
  PATH="$work/bin:$PATH" dpkg --root="$r" --force-script-chrootless --force-depends \
    --log=/dev/null "$@" </dev/null >"$work/dpkg.log" 2>&1 || {
    cat "$work/dpkg.log" >&2
    die "dpkg $* failed"
  }
}
wants=$r/etc/systemd/system/multi-user.target.wants/streamer.service

say "install $v1 into a scratch root with dpkg --root"
n=$(ncalls)
dpkg_r -i "$out/streamer_${v1}_amd64.deb" "$out/viewer_${v1}_amd64.deb"
"$r/usr/bin/streamer" --version | grep -qx "streamer $upstream" || die "streamer --version failed"
"$r/usr/bin/viewer" --version | grep -qx "viewer $upstream" || die "viewer --version failed"
[ "$(readlink "$wants")" = /lib/systemd/system/streamer.service ] ||
  die "the unit was not enabled (no link $wants)"
calls_since "$n" | grep -q "^deb-systemd-helper enable streamer.service DPKG_ROOT=$r\$" ||
  die "postinst did not enable the unit"
if calls_since "$n" | grep -q -e '^systemctl' -e '^deb-systemd-invoke'; then
  die "postinst touched a running systemd while installing into another root"
fi
[ -f "$r/lib/systemd/system/streamer@.service" ] || die "the per-camera streamer@.service was not installed"
if ls "$r"/etc/systemd/system/multi-user.target.wants/streamer@* >/dev/null 2>&1; then
  die "the install enabled a streamer@ instance; instances are the admin's to enable"
fi
say "installed: streamer --version runs, streamer.service enabled ($wants), streamer@.service in place"

say "edit /etc/streamer.conf, upgrade to $v2"
sed -i 's/^VIEWER_ADDR=.*/VIEWER_ADDR=10.9.8.7:9000/' "$r/etc/streamer.conf"
echo 'STREAMER_ARGS=--source test --fps 5' >>"$r/etc/streamer.conf"
cp "$r/etc/streamer.conf" "$work/edited.conf"
dpkg_r -i "$out/streamer_${v2}_amd64.deb"
cmp -s "$r/etc/streamer.conf" "$work/edited.conf" || die "the upgrade changed the edited /etc/streamer.conf"
[ ! -e "$r/etc/streamer.conf.dpkg-new" ] && [ ! -e "$r/etc/streamer.conf.dpkg-old" ] ||
  die "the upgrade left a .dpkg-new or .dpkg-old file"
dpkg --root="$r" -s streamer | grep -qx "Version: $v2" || die "the upgrade did not install $v2"
[ -L "$wants" ] || die "the unit is no longer enabled after the upgrade"
say "upgraded to $v2: the edited /etc/streamer.conf kept byte for byte, unit still enabled"

say "remove, then purge"
# An instance the admin enabled with systemctl: only purge takes its link.
front=$r/etc/systemd/system/multi-user.target.wants/streamer@front.service
ln -s /lib/systemd/system/streamer@.service "$front"
n=$(ncalls)
dpkg_r -r streamer
[ ! -e "$r/usr/bin/streamer" ] || die "removal left /usr/bin/streamer"
[ ! -L "$wants" ] || die "removal left the unit enabled"
calls_since "$n" | grep -q "^deb-systemd-helper disable streamer.service" || die "postrm did not disable"
cmp -s "$r/etc/streamer.conf" "$work/edited.conf" || die "removal (not purge) lost /etc/streamer.conf"
dpkg_r -P streamer
[ ! -e "$r/etc/streamer.conf" ] || die "purge left /etc/streamer.conf"
calls_since "$n" | grep -q "^deb-systemd-helper purge streamer.service" || die "postrm purge did not run"
[ ! -L "$front" ] || die "purge left the link of the enabled streamer@front.service"
say "removed: unit disabled, config kept; purged: config and streamer@ instance links gone"

say "maintainer scripts on a running systemd (private mount namespace, stand-in tools)"
dpkg-deb -e "$out/streamer_${v2}_amd64.deb" "$work/ctrl"
# Each line: the script's arguments, then the calls to systemctl and deb-systemd-invoke it
# must make, in order.
cat >"$work/cases" <<'CASES'
postinst configure|systemctl --system daemon-reload;deb-systemd-invoke start streamer.service
postinst configure 0.1.0-1|systemctl --system daemon-reload;deb-systemd-invoke restart streamer.service;systemctl --system try-restart streamer@*.service
prerm upgrade 0.1.0-2|
prerm remove|deb-systemd-invoke stop streamer.service;systemctl --system stop streamer@*.service
postrm remove|systemctl --system daemon-reload
CASES
# run_script yes|no ARGS: runs a maintainer script with its arguments in a private mount
# namespace whose /run/systemd/system exists (systemd running) or not (a chroot, an image).
run_script() {
  # shellcheck disable=SC2016 # expanded by the inner shell
  unshare --mount sh -c 'mount -t tmpfs none /run/systemd 2>/dev/null || mount -t tmpfs none /run
      mkdir -p /run/systemd
      [ "$1" = no ] || mkdir /run/systemd/system
      # shellcheck disable=SC2086 # the arguments are words
      exec env -u DPKG_ROOT PATH="$2:$PATH" sh "$3" $4' \
    sh "$1" "$work/bin" "$work/ctrl/${2%% *}" "${2#* }" </dev/null || die "'$2' failed"
}
while IFS='|' read -r args expected; do
  : >"$calls"
  run_script yes "$args"
  got=$({ grep -v '^deb-systemd-helper' "$calls" || true; } | sed 's/ DPKG_ROOT=$//' | paste -sd';' -)
  [ "$got" = "$expected" ] || die "'$args' made the calls '$got', expected '$expected'"
  say "$args: ${got:-no systemctl or deb-systemd-invoke call}"
done <"$work/cases"
: >"$calls"
run_script no "postinst configure"
if grep -q -e '^systemctl' -e '^deb-systemd-invoke' "$calls"; then
  die "postinst started the unit without a running systemd"
fi
grep -q '^deb-systemd-helper enable' "$calls" || die "postinst did not enable without a running systemd"
say "postinst configure without a running systemd: enabled, not started"
say "ok"
