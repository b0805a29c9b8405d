#!/usr/bin/env bash
# Checks the board's systemd units: renders scripts/board/streamer.service.in and the
# per-camera template streamer@.service.in into a temporary directory (pointing at a real
# executable and config file, which systemd-analyze requires) and runs `systemd-analyze
# verify` on the unit and on an instance of the template; any warning about them fails. Also
# checks that the rendered ExecStart is what install-on-board.sh relies on, and runs
# install-on-board.sh against a fake board (ssh replaced by a local shell, --destdir into a
# temporary directory, a stand-in binary). Installs the systemd package if it is missing.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v systemd-analyze >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "test-unit: installing Debian packages: systemd"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    systemd </dev/null >/dev/null
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin" "$work/etc" "$work/unit"
printf '#!/bin/sh\nexit 0\n' >"$work/bin/streamer"
chmod +x "$work/bin/streamer"
cp streamer.conf.example "$work/etc/streamer.conf"

echo "test-unit: rendering streamer.service for $work/bin/streamer"
./render-unit.sh "$work/bin/streamer" "$work/etc/streamer.conf" >"$work/unit/streamer.service"
if grep -n '@[A-Z]*@' "$work/unit/streamer.service"; then
  echo "test-unit: placeholders left in the rendered unit" >&2
  exit 1
fi
grep -qx "ExecStart=$work/bin/streamer --quiet \$STREAMER_ARGS \${VIEWER_ADDR}" "$work/unit/streamer.service" ||
  { echo "test-unit: unexpected ExecStart line" >&2; exit 1; }
grep -qx "EnvironmentFile=$work/etc/streamer.conf" "$work/unit/streamer.service" ||
  { echo "test-unit: unexpected EnvironmentFile line" >&2; exit 1; }
for bad in relative/streamer "/with space/streamer"; do
  if ./render-unit.sh "$bad" /etc/streamer.conf >/dev/null 2>&1; then
    echo "test-unit: render-unit.sh accepted the path '$bad'" >&2
    exit 1
  fi
done

# The example config must hold exactly the two variables the unit reads, as NAME=value lines.
names=$(grep -v -e '^#' -e '^$' streamer.conf.example | cut -d= -f1 | sort | tr '\n' ' ')
[ "$names" = "STREAMER_ARGS VIEWER_ADDR " ] ||
  { echo "test-unit: streamer.conf.example sets '$names', expected STREAMER_ARGS and VIEWER_ADDR" >&2; exit 1; }

echo "test-unit: systemd-analyze verify ($(systemd-analyze --version | head -n1))"
out=$(systemd-analyze verify --man=no "$work/unit/streamer.service" 2>&1) || {
  echo "$out" >&2
  echo "test-unit: systemd-analyze verify failed" >&2
  exit 1
}
if echo "$out" | grep -F "streamer.service"; then
  echo "test-unit: systemd-analyze verify complained about the unit" >&2
  exit 1
fi
[ -z "$out" ] || echo "$out"

# The per-camera template: rendered, then one instance verified with its own config file.
echo "test-unit: rendering streamer@.service (one service per camera)"
mkdir -p "$work/etc/streamer"
cp streamer.conf.example "$work/etc/streamer/front.conf"
./render-unit.sh --per-camera "$work/bin/streamer" "$work/etc/streamer/%i.conf" \
  >"$work/unit/streamer@.service"
if grep -n '@[A-Z]*@' "$work/unit/streamer@.service"; then
  echo "test-unit: placeholders left in the rendered template unit" >&2
  exit 1
fi
grep -qx "EnvironmentFile=$work/etc/streamer/%i.conf" "$work/unit/streamer@.service" ||
  { echo "test-unit: the template does not read its instance's config file" >&2; exit 1; }
grep -qx "ExecStart=$work/bin/streamer --quiet --name %i \$STREAMER_ARGS \${VIEWER_ADDR}" "$work/unit/streamer@.service" ||
  { echo "test-unit: unexpected ExecStart line in the template" >&2; exit 1; }
out=$(systemd-analyze verify --man=no "$work/unit/streamer@front.service" 2>&1) || {
  echo "$out" >&2
  echo "test-unit: systemd-analyze verify failed on streamer@front.service" >&2
  exit 1
}
if echo "$out" | grep -F "streamer@"; then
  echo "test-unit: systemd-analyze verify complained about the template unit" >&2
  exit 1
fi
[ -z "$out" ] || echo "$out"

echo "test-unit: install-on-board.sh against a fake board"
fake=$work/fake
mkdir -p "$fake/bin"
# The "board": runs the remote command here, with uname -m saying aarch64.
cat >"$fake/ssh" <<FAKE
#!/usr/bin/env bash
host=""
while [ \$# -gt 0 ]; do
  case \$1 in
    -o) shift 2 ;;
    -t) shift ;;
    -O) exit 0 ;;
    *) if [ -z "\$host" ]; then host=\$1; shift; else break; fi ;;
  esac
done
PATH=$fake/bin:\$PATH exec sh -c "\$*"
FAKE
# shellcheck disable=SC2016 # expanded by the fake uname
printf '#!/bin/sh\nif [ "$1" = -m ]; then echo aarch64; else exec /bin/uname "$@"; fi\n' >"$fake/bin/uname"
printf '#!/bin/sh\necho "streamer 0.0.0-fake"\n' >"$fake/streamer"
chmod +x "$fake/ssh" "$fake/bin/uname" "$fake/streamer"
install=(env SSH="$fake/ssh" ../install-on-board.sh --binary "$fake/streamer" --destdir "$work/board")
if "${install[@]}" user@board </dev/null >"$work/install.log" 2>&1; then
  cat "$work/install.log" >&2
  echo "test-unit: the first install without a viewer address should fail" >&2
  exit 1
fi
[ ! -e "$work/board/usr/local/bin/streamer" ] ||
  { echo "test-unit: a failed install left a binary behind" >&2; exit 1; }
"${install[@]}" user@board 192.168.3.20:9000 </dev/null >"$work/install.log" 2>&1 ||
  { cat "$work/install.log" >&2; echo "test-unit: install-on-board.sh failed" >&2; exit 1; }
"${install[@]}" user@board laptop.local </dev/null >"$work/install.log" 2>&1 ||
  { cat "$work/install.log" >&2; echo "test-unit: the second install failed" >&2; exit 1; }
cmp -s "$work/board/usr/local/bin/streamer" "$fake/streamer" ||
  { echo "test-unit: the binary was not installed" >&2; exit 1; }
./render-unit.sh /usr/local/bin/streamer /etc/streamer.conf |
  cmp -s - "$work/board/etc/systemd/system/streamer.service" ||
  { echo "test-unit: the installed unit differs from the rendered one" >&2; exit 1; }
if [ "$(grep -c '^VIEWER_ADDR=' "$work/board/etc/streamer.conf")" != 1 ] ||
  ! grep -qx 'VIEWER_ADDR=laptop.local' "$work/board/etc/streamer.conf" ||
  ! grep -q '^STREAMER_ARGS=' "$work/board/etc/streamer.conf"; then
  cat "$work/board/etc/streamer.conf" >&2
  echo "test-unit: wrong config on the board" >&2
  exit 1
fi
echo "test-unit: ok"
