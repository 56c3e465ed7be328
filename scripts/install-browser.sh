#!/usr/bin/env bash
# Installs what the end-to-end UI test (test/e2e/ui.test.ts) needs: Debian's `chromium` package at
# /usr/bin/chromium, and fonts with Chinese, Japanese and Korean glyphs (fonts-noto-cjk), without which the
# page draws such text as boxes and the test says so. Does nothing when both are there. Needs root (apt-get).
set -euo pipefail

has_cjk_fonts() {
  command -v fc-list >/dev/null 2>&1 || return 1
  local lang
  for lang in zh-cn ja ko; do
    [ -n "$(fc-list ":lang=$lang" family 2>/dev/null)" ] || return 1
  done
}

packages=()
[ -x /usr/bin/chromium ] || packages+=(chromium fonts-dejavu-core)
has_cjk_fonts || packages+=(fonts-noto-cjk)

if [ "${#packages[@]}" -eq 0 ]; then
  echo "chromium and CJK fonts already installed: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-browser: missing ${packages[*]}; installing needs root: run 'sudo bash scripts/install-browser.sh'" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
echo "installed ${packages[*]}: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
