# Sourced by scripts/slurm-cluster.sh and scripts/kube-testenv.sh: waiting for a daemon, and stopping the
# daemons a script started by the PIDs it recorded ($R/<file> for each file in $PIDS), never by name.
# The sourcing script sets NAME (for messages), R and PIDS.

wait_for() { # <tries of 0.1 s> <command...>
  local n=$1
  shift
  for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "$NAME: timed out waiting for: $*" >&2
  return 1
}

alive() { # zombies count as dead
  local s
  s=$(ps -o stat= -p "$1" 2>/dev/null) && [[ $s != Z* ]]
}

down() { # in the order of $PIDS; SIGTERM, then SIGKILL after 10 s
  local f p
  for f in $PIDS; do
    [[ -f $R/$f ]] || continue
    p=$(cat "$R/$f")
    [[ $p =~ ^[0-9]+$ ]] || continue
    kill "$p" 2>/dev/null || continue
    for _ in $(seq 100); do alive "$p" || break; sleep 0.1; done
    alive "$p" && kill -9 "$p" 2>/dev/null
  done
  return 0
}
