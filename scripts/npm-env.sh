#!/usr/bin/env bash
# Makes the git-ignored .cache/npm-foxglove with the npm Foxglove WebSocket client the tests
# judge the hub by (tests/foxglove.rs, tests/peers/foxglove_client.js): @foxglove/ws-protocol
# and the `ws` WebSocket it runs on under Node (Node 20 has no WebSocket of its own). Pinned,
# so a new release cannot change what the tests prove. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

pins=(@foxglove/ws-protocol@0.7.4 ws@8.18.0)
prefix=.cache/npm-foxglove
command -v npm >/dev/null || { echo "npm-env: npm is missing (install nodejs, or npm beside it)" >&2; exit 1; }

if [ -f "$prefix/node_modules/@foxglove/ws-protocol/package.json" ] && [ -f "$prefix/node_modules/ws/package.json" ]; then
  echo "npm-env: ${pins[*]} already installed"
else
  echo "npm-env: installing ${pins[*]} into $prefix"
  npm install --prefix "$prefix" --no-audit --no-fund --save-exact "${pins[@]}"
fi
