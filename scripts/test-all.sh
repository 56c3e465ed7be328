#!/usr/bin/env bash
# The whole test suite, as CI runs it, on a fresh machine too (`npm run test:all`):
#   1. what the tests need, installed only when missing: Debian packages (chromium, nats-server, locust, the
#      control plane's openssl/curl; as root, else a message naming each), the pinned Node.js LTS
#      (scripts/node-lts.sh, cached in ~/.cache), the control-plane binaries (scripts/testenv build, cached);
#   2. `npm test` on this machine's Node (typecheck, lint, build, unit + integration + browser tests);
#   3. the same tests on the Node.js LTS;
#   4. the cluster suite against a real control plane (`npm run test:cluster`).
# `npm test` alone stays the fast daily loop.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
step() { printf '\n== %s (%ss)\n' "$*" "$((SECONDS - start))"; }

step "dependencies (installed only when missing)"
[ -d node_modules ] || npm ci --no-audit --no-fund
bash scripts/install-browser.sh
bash scripts/install-test-deps.sh
bash scripts/testenv deps
LTS_BIN=$(bash scripts/node-lts.sh)

step "npm test on $(node --version)"
npm test

step "unit and integration tests on the Node.js LTS $("$LTS_BIN/node" --version)"
PATH="$LTS_BIN:$PATH" npx vitest run --config test/vitest.config.ts

step "cluster suite"
npm run test:cluster

step "all passed"
