#!/usr/bin/env bash
# Installs what the tests start themselves, only when it is missing:
#   nats-server (Debian package `nats-server`) for the NATS transport tests;
#   locust (Debian package `python3-locust`) for the self-healing scenario in the cluster suite.
# Safe to run again; needs root (or sudo) only when something has to be installed.
set -euo pipefail

need=()
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || need+=(nats-server)
command -v locust >/dev/null 2>&1 || need+=(python3-locust)

if [ ${#need[@]} -eq 0 ]; then
  echo "install-test-deps: nothing to install"
  exit 0
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then as_root=(sudo); else
    echo "install-test-deps: ${need[*]} missing and not root; install with: apt-get install -y ${need[*]}" >&2
    exit 1
  fi
fi

echo "install-test-deps: installing ${need[*]}"
# `update` first: on a fresh machine the package lists may be empty or old.
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}"
