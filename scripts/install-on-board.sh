#!/usr/bin/env bash
# Installs the cross-built streamer on an arm64 board over ssh and starts it as a systemd
# service (streamer.service) that runs at boot, streams to the viewer named in
# /etc/streamer.conf, and restarts when it fails.
#
#   scripts/install-on-board.sh [OPTIONS] USER@BOARD [VIEWER_ADDR]
#
#   VIEWER_ADDR      the laptop running `viewer` (host, host:port or ip:port); written into the
#                    board's /etc/streamer.conf. Needed the first time; later runs keep the
#                    board's config (and only change VIEWER_ADDR when it is given).
#   --config FILE    install FILE as /etc/streamer.conf (see scripts/board/streamer.conf.example)
#   --binary FILE    install FILE instead of building target/aarch64/streamer
#   --destdir DIR    install under DIR on the board (for building an image); no systemctl
#   --no-start       install and enable, but do not (re)start the service now
#
# Files on the board: /usr/local/bin/streamer, /etc/streamer.conf,
# /etc/systemd/system/streamer.service, /etc/sysusers.d/streamer.conf (the service's user,
# streamer, made with systemd-sysusers). Needs ssh access and root or sudo on the board; with a
# terminal, ssh and sudo may ask for passwords, without one (CI) they must not need to.
# Builds the binary with scripts/cross-build.sh first (cargo redoes only what changed) unless
# --binary is given. $SSH replaces `ssh`.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

usage() { sed -n '6,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
die() { echo "install-on-board: $*" >&2; exit 1; }

config="" binary="" destdir="" start=1 board="" viewer=""
while [ $# -gt 0 ]; do
  case $1 in
    --config) [ $# -ge 2 ] || usage; config=$2; shift 2 ;;
    --binary) [ $# -ge 2 ] || usage; binary=$2; shift 2 ;;
    --destdir) [ $# -ge 2 ] || usage; destdir=$2; shift 2 ;;
    --no-start) start=0; shift ;;
    -h | --help) usage ;;
    -*) echo "install-on-board: unknown option $1" >&2; usage ;;
    *)
      if [ -z "$board" ]; then board=$1
      elif [ -z "$viewer" ]; then viewer=$1
      else usage
      fi
      shift ;;
  esac
done
[ -n "$board" ] || usage
case $viewer in
  *[!A-Za-z0-9.:_\[\]-]*) die "'$viewer' does not look like host, host:port or ip:port" ;;
esac
[ -z "$config" ] || [ -f "$config" ] || die "no config file $config"
case $destdir in
  *[!A-Za-z0-9/._-]*) die "--destdir: only letters, digits and / . _ - please" ;;
  "" | /*) ;;
  *) die "--destdir must be an absolute path on the board" ;;
esac

if [ -z "$binary" ]; then
  # Every time, not only when there is none: a binary from before an edit would go on as it was.
  binary=$root/target/aarch64/streamer
  echo "install-on-board: building $binary with scripts/cross-build.sh"
  scripts/cross-build.sh </dev/null
fi
[ -x "$binary" ] || die "$binary is not an executable"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bundle=$work/bundle
mkdir -p "$bundle"

echo "install-on-board: preparing the bundle (streamer, unit, config, installer)"
cp "$binary" "$bundle/streamer"
scripts/board/render-unit.sh /usr/local/bin/streamer /etc/streamer.conf >"$bundle/streamer.service"
cp scripts/board/streamer.conf.example "$bundle/streamer.conf.example"
cp scripts/board/streamer.sysusers "$bundle/streamer.sysusers"
[ -z "$config" ] || cp "$config" "$bundle/streamer.conf"
printf '%s\n' "$viewer" >"$bundle/viewer-addr"
# Runs on the board as root, from the unpacked bundle: checks the binary runs there, installs
# it atomically (the service may be running it), writes the config and (re)starts the service.
cat >"$bundle/install.sh" <<'EOF'
#!/bin/sh
set -eu
d=$(dirname "$0")
destdir=$1 start=$2
say() { echo "board: $*"; }
arch=$(uname -m)
[ "$arch" = aarch64 ] || { say "this is $arch, the streamer is built for aarch64" >&2; exit 1; }
say "$(getconf GNU_LIBC_VERSION 2>/dev/null || echo 'glibc version unknown'), $(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-}")"
"$d/streamer" --version >/dev/null || { say "the streamer does not run on this board" >&2; exit 1; }
conf=$destdir/etc/streamer.conf
viewer=$(cat "$d/viewer-addr")
if [ ! -f "$d/streamer.conf" ] && [ ! -f "$conf" ] && [ -z "$viewer" ]; then
  say "no $conf yet: give the viewer's address (VIEWER_ADDR) the first time" >&2
  exit 1
fi

say "installing $destdir/usr/local/bin/streamer ($("$d/streamer" --version))"
mkdir -p "$destdir/usr/local/bin" "$destdir/etc/systemd/system"
install -m 755 "$d/streamer" "$destdir/usr/local/bin/.streamer.new"
mv -f "$destdir/usr/local/bin/.streamer.new" "$destdir/usr/local/bin/streamer"

if [ -f "$d/streamer.conf" ]; then
  say "installing $conf from the given file"
  install -m 644 "$d/streamer.conf" "$conf"
elif [ ! -f "$conf" ]; then
  say "writing $conf from the example"
  install -m 644 "$d/streamer.conf.example" "$conf"
else
  say "keeping $conf"
fi
if [ -n "$viewer" ]; then
  say "setting VIEWER_ADDR=$viewer in $conf"
  if grep -q '^VIEWER_ADDR=' "$conf"; then
    sed -i "s|^VIEWER_ADDR=.*|VIEWER_ADDR=$viewer|" "$conf"
  else
    echo "VIEWER_ADDR=$viewer" >>"$conf"
  fi
fi
grep -q '^VIEWER_ADDR=.' "$conf" || { say "$conf sets no VIEWER_ADDR" >&2; exit 1; }

say "installing $destdir/etc/systemd/system/streamer.service and its user (sysusers.d)"
install -m 644 "$d/streamer.service" "$destdir/etc/systemd/system/streamer.service"
mkdir -p "$destdir/etc/sysusers.d"
install -m 644 "$d/streamer.sysusers" "$destdir/etc/sysusers.d/streamer.conf"
if [ -n "$destdir" ]; then
  say "--destdir given: not touching systemctl"
else
  systemd-sysusers /etc/sysusers.d/streamer.conf
  systemctl daemon-reload
  systemctl enable streamer.service
  if [ "$start" = 1 ]; then
    say "restarting streamer.service"
    systemctl restart streamer.service
    sleep 3
    if systemctl is-active --quiet streamer.service; then
      say "streamer.service is running; its log: journalctl -u streamer -f"
    else
      journalctl -u streamer.service -n 20 --no-pager || true
      say "streamer.service is not running (see above)" >&2
      exit 1
    fi
  fi
fi
EOF

# One ssh connection for all steps, so a password is asked for at most once.
read -r -a ssh_cmd <<<"${SSH:-ssh}"
ssh_cmd+=(-o ControlMaster=auto -o "ControlPath=$work/ssh-%C" -o ControlPersist=60)
tty=()
if [ -t 0 ]; then
  tty=(-t)
else
  ssh_cmd+=(-o BatchMode=yes)
fi

echo "install-on-board: copying the bundle to $board"
# shellcheck disable=SC2016 # expanded on the board
remote_dir=$(tar -C "$bundle" -cf - . | "${ssh_cmd[@]}" "$board" \
  'd=$(mktemp -d /tmp/streamer-install.XXXXXX) && tar -C "$d" -xf - && echo "$d"')
[ -n "$remote_dir" ] || die "could not copy the bundle to $board"

echo "install-on-board: installing on $board"
# Root logs in directly; anyone else goes through sudo (-n without a terminal: never prompt).
remote="sh $remote_dir/install.sh '$destdir' $start"
# shellcheck disable=SC2016 # expanded on the board
sudo_cmd='if [ "$(id -u)" -eq 0 ]; then s=; elif [ -t 0 ]; then s=sudo; else s="sudo -n"; fi'
status=0
"${ssh_cmd[@]}" "${tty[@]}" "$board" "$sudo_cmd; \$s $remote; rc=\$?; rm -rf '$remote_dir'; exit \$rc" || status=$?
"${ssh_cmd[@]}" -O exit "$board" 2>/dev/null || true
[ $status -eq 0 ] || die "installation on $board failed (exit $status)"
echo "install-on-board: done. On $board: systemctl status streamer; journalctl -u streamer -f"
