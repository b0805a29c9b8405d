#!/usr/bin/env bash
# Makes the git-ignored Python environment .cache/venv with the MCAP readers the tests judge
# our recordings by (tests/mcap.rs, tests/peers/mcap_check.py): PyPI mcap and
# mcap-ros2-support, and rerun-sdk (its MCAP importer; about 800 MB installed). Pinned, so a
# new release cannot change what the tests prove. cyclonedds (Eclipse Cyclone DDS, ROS 2's
# default middleware) is the independent ROS 2 peer of tests/ros2.rs (tests/peers/ros2_*.py).
# Idempotent: installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

pins=(mcap==1.6.0 mcap-ros2-support==0.6.0 rerun-sdk==0.41.0 websockets==15.0.1 cyclonedds==11.0.1)
venv=.cache/venv

if [ ! -x "$venv/bin/python" ]; then
  echo "py-env: creating $venv"
  python3 -m venv "$venv"
fi
installed=$("$venv/bin/pip" freeze 2>/dev/null)
missing=()
for p in "${pins[@]}"; do
  grep -qixF -e "$p" <<<"$installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "py-env: ${pins[*]} already installed"
else
  echo "py-env: installing ${missing[*]}"
  "$venv/bin/pip" install -q "${missing[@]}"
fi
