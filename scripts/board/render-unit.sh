#!/usr/bin/env bash
# Prints streamer.service for the given streamer binary and config file, from the template
# next to this script: scripts/board/render-unit.sh /usr/local/bin/streamer /etc/streamer.conf
# With --per-camera first, prints the template unit streamer@.service instead, whose config
# file names the instance with %i: render-unit.sh --per-camera /usr/bin/streamer /etc/streamer/%i.conf
set -euo pipefail
unit=streamer.service.in
if [ "${1:-}" = --per-camera ]; then
  unit=streamer@.service.in
  shift
fi
[ $# -eq 2 ] || { echo "usage: $0 [--per-camera] STREAMER_BINARY CONFIG_FILE" >&2; exit 2; }
case "$1$2" in
  *[[:space:]\|\&\\]*) echo "render-unit: paths with spaces, |, & or \\ are not supported" >&2; exit 2 ;;
esac
case $1 in /*) ;; *) echo "render-unit: $1 must be an absolute path" >&2; exit 2 ;; esac
case $2 in /*) ;; *) echo "render-unit: $2 must be an absolute path" >&2; exit 2 ;; esac
sed -e "s|@BIN@|$1|g" -e "s|@CONFIG@|$2|g" "$(dirname "$0")/$unit"
