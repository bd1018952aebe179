#!/usr/bin/env bash
# Debian packages the tests need, installed when missing (as root, as on CI); a no-op otherwise.
set -euo pipefail
packages=()
if ((${#packages[@]} == 0)); then
  exit 0
fi
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
((${#missing[@]})) || exit 0
if [[ $(id -u) != 0 ]]; then
  echo "system-deps: missing Debian packages ${missing[*]}; install them as root (apt-get install ${missing[*]})" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
