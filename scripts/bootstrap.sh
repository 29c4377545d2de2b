#!/usr/bin/env bash
# Install everything powerops, its lab and its tests need on a fresh Debian 12 machine (root). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=$(cat scripts/packages/*.txt | sed 's/#.*//' | tr -s ' \n' '\n' | sort -u | grep -v '^$' || true)
missing=$(for p in $pkgs; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"; done)
if [ -n "$missing" ]; then
  echo "[bootstrap] apt-get install: $(echo $missing | tr '\n' ' ')"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
command -v uv >/dev/null 2>&1 || python3 -m pip install -q uv
uv sync --extra dev --frozen -q
for s in scripts/packages/*.sh; do [ -e "$s" ] && bash "$s"; done
echo "[bootstrap] ready"
