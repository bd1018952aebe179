#!/usr/bin/env bash
# A single-node SLURM cluster for the tests (Debian 12 slurm-wlm, as root, no systemd): munged, MariaDB +
# slurmdbd (so sacct works), slurmctld and slurmd, all state under one folder, stopped by the PIDs it started.
#
#   scripts/slurm-cluster.sh up|down|status|env     (SLURM_ROOT: the state folder, default /tmp/hpoctl-slurm)
#   export SLURM_CONF=$SLURM_ROOT/etc/slurm.conf    (clients need it; `env` prints this line)
#
# Partitions: `debug` (the default) and `over`, whose cores take up to 4 jobs each, so several 1-CPU array tasks
# run side by side on a 2-core machine. Packages: scripts/system-deps.sh installs them.
set -euo pipefail
R=${SLURM_ROOT:-/tmp/hpoctl-slurm}
export SLURM_CONF=$R/etc/slurm.conf
NAME=slurm-cluster
# shellcheck source=scripts/daemons.sh
source "$(dirname "$0")/daemons.sh"
PIDS="run/slurmd.pid run/slurmctld.pid run/slurmdbd.pid db/mariadbd.pid munge/munged.pid"

check() {
  local missing=()
  for c in munged mariadbd mariadb-install-db slurmdbd slurmctld slurmd sbatch sacct; do
    command -v "$c" >/dev/null || missing+=("$c")
  done
  if ((${#missing[@]})); then
    echo "slurm-cluster: missing ${missing[*]}; run scripts/system-deps.sh as root" >&2
    exit 3
  fi
  if [[ $(id -u) != 0 ]]; then
    echo "slurm-cluster: the test cluster runs as root (SlurmUser=root, SlurmdUser=root)" >&2
    exit 3
  fi
}

write_conf() {
  local host
  host=$(hostname -s)
  mkdir -p "$R"/{etc,state,spool,log,run,munge,db}
  chmod 755 "$R/munge" # munged's socket folder must be o+x
  cat >"$SLURM_CONF" <<EOF
ClusterName=hpoctl
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$R/munge/munge.sock,cred_expire=5
StateSaveLocation=$R/state
SlurmdSpoolDir=$R/spool
SlurmctldPidFile=$R/run/slurmctld.pid
SlurmdPidFile=$R/run/slurmd.pid
SlurmctldLogFile=$R/log/slurmctld.log
SlurmdLogFile=$R/log/slurmd.log
SlurmctldPort=${SLURMCTLD_PORT:-6917}
SlurmdPort=${SLURMD_PORT:-6918}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,bf_interval=1,sched_interval=2
DependencyParameters=kill_invalid_depend
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=${SLURMDBD_PORT:-6919}
AccountingStoragePass=$R/munge/munge.sock
JobCompType=jobcomp/none
ReturnToService=2
MpiDefault=none
MailProg=/bin/true
MinJobAge=600
# Slurm's default: the seconds between a cancelled task's SIGTERM and its SIGKILL, in which the workers record
# their running trials as interrupted; a loaded 2-core machine can need more than a few.
KillWait=30
$(slurmd -C | head -1) NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
PartitionName=over Nodes=$host OverSubscribe=FORCE:4 MaxTime=INFINITE State=UP
EOF
  cat >"$R/etc/slurmdbd.conf" <<EOF
DbdHost=localhost
DbdPort=${SLURMDBD_PORT:-6919}
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$R/munge/munge.sock
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=root
StorageLoc=hpoctl_slurm_acct
PidFile=$R/run/slurmdbd.pid
LogFile=$R/log/slurmdbd.log
EOF
  chmod 600 "$R/etc/slurmdbd.conf" # slurmdbd refuses a conf others can read
}

up() {
  check
  down 2>/dev/null || true
  rm -rf "$R"
  write_conf
  dd if=/dev/urandom of="$R/munge/munge.key" bs=1024 count=1 status=none
  chmod 400 "$R/munge/munge.key"
  munged --key-file="$R/munge/munge.key" --socket="$R/munge/munge.sock" --pid-file="$R/munge/munged.pid" \
    --log-file="$R/munge/munged.log" --seed-file="$R/munge/munged.seed"
  mariadb-install-db --no-defaults --user=root --datadir="$R/db/data" --auth-root-authentication-method=socket \
    --skip-test-db >"$R/log/mariadb-install.log" 2>&1
  setsid mariadbd --no-defaults --user=root --datadir="$R/db/data" --socket="$R/db/mysqld.sock" --skip-networking \
    --pid-file="$R/db/mariadbd.pid" --log-error="$R/log/mariadb.err" --innodb-buffer-pool-size=32M \
    </dev/null >/dev/null 2>&1 &
  wait_for 300 mariadb --no-defaults -S "$R/db/mysqld.sock" -uroot -e 'select 1'
  MYSQL_UNIX_PORT="$R/db/mysqld.sock" slurmdbd # libmariadb honours MYSQL_UNIX_PORT
  wait_for 300 bash -c "echo > /dev/tcp/127.0.0.1/${SLURMDBD_PORT:-6919}"
  slurmctld
  slurmd
  wait_for 300 bash -c '[ "$(sinfo -h -p debug -o %T)" = idle ]'
  wait_for 300 bash -c 'sacctmgr -nP list cluster format=cluster | grep -qx hpoctl'
  echo "export SLURM_CONF=$SLURM_CONF"
}


case "${1:-}" in
up) up ;;
down) down ;;
wipe) down && rm -rf "$R" ;;
status) sinfo && squeue ;;
env) echo "export SLURM_CONF=$SLURM_CONF" ;;
*)
  echo "usage: $0 up|down|wipe|status|env   (SLURM_ROOT=$R)" >&2
  exit 2
  ;;
esac
