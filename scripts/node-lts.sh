#!/usr/bin/env bash
# Installs the pinned Node.js LTS (scripts/node-lts.version) once, from the npm registry's `node` package (it
# carries the official binaries), into ~/.cache/job-executor-node/<version>, and prints its bin directory:
#   PATH="$(bash scripts/node-lts.sh):$PATH" node --version
set -euo pipefail
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=node-lts.version
source "$SCRIPT_DIR/node-lts.version"
ROOT=${JOB_EXECUTOR_NODE_CACHE:-$HOME/.cache/job-executor-node}/$NODE_LTS_VERSION
BIN=$ROOT/node_modules/node/bin
if [ ! -x "$BIN/node" ] || [ "$("$BIN/node" --version)" != "v$NODE_LTS_VERSION" ]; then
  echo "node-lts: installing Node.js $NODE_LTS_VERSION into $ROOT" >&2
  mkdir -p "$ROOT"
  npm install --no-audit --no-fund --no-save --prefix "$ROOT" "node@$NODE_LTS_VERSION" >&2
fi
[ "$("$BIN/node" --version)" = "v$NODE_LTS_VERSION" ] || { echo "node-lts: $BIN/node is not v$NODE_LTS_VERSION" >&2; exit 1; }
echo "$BIN"
