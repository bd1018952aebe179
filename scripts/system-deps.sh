#!/usr/bin/env bash
# Debian packages the tests need, installed when missing (as root, as on CI); a no-op otherwise.
set -euo pipefail
# SLURM for tests/slurm (a single-node cluster the tests start: scripts/slurm-cluster.sh), with slurmdbd and
# MariaDB so that sacct works; tmux drives the live `hpoctl watch` view in tests/cli/test_watch.py.
packages=(slurmctld slurmd slurm-client munge slurmdbd mariadb-server tmux)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
((${#missing[@]})) || exit 0
if [[ $(id -u) != 0 ]]; then
  # Not root: the SLURM tests skip with a reason; everything else still runs.
  echo "system-deps: missing Debian packages ${missing[*]} (the SLURM tests will skip); as root: apt-get install ${missing[*]}" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
