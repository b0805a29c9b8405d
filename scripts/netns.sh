#!/usr/bin/env bash
# Runs a command in a network namespace of its own (needs root or CAP_SYS_ADMIN): only `lo`,
# up, with multicast and the 224.0.0.0/4 route on it, so DDS discovery works between the
# programs inside and none of its traffic reaches the machine's network. For ROS 2 tests and
# benches (tests/ros2.rs does the same for its own thread).
#   scripts/netns.sh COMMAND [ARGS...]
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }
exec unshare -n sh -c '
  ip link set lo up &&
  ip link set lo multicast on &&
  ip route add 224.0.0.0/4 dev lo &&
  exec "$@"' netns "$@"
