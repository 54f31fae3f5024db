#!/usr/bin/env bash
# A real single-node Slurm cluster on this machine, for torc's Slurm tests and for trying
# torc's Slurm commands by hand. Run as root on Debian with the packages listed in
# scripts/test-env/packages.d/slurm.txt installed (scripts/test-env/install.sh does that).
#
#   bash scripts/slurm/up.sh          start what is not running (idempotent); exit 0 when the
#                                     node accepts jobs and sacct answers
#   bash scripts/slurm/up.sh stop     stop the daemons this script manages
#   bash scripts/slurm/up.sh status   one line per daemon, then sinfo
#
# The cluster "torctest" has two nodes, node1 and node2: two slurmd daemons on this host (at
# 127.0.0.1, ports 17001-17002), so multi-node allocations and one worker per node are real.
# Two partitions span both: "main" (the default, 1 day) and "short" (30 minutes), so
# partition matching has a real choice (neither oversubscribed: Slurm keeps jobs of partitions
# with different OverSubscribe settings off each other's nodes). Each node advertises
# TORC_SLURM_CPUS CPUs (default 4) and TORC_SLURM_MEMORY_MB of memory (default 4096) whatever
# the hardware
# (SlurmdParameters=config_overrides): test allocations mostly sleep, and a few must run side
# by side on a two-core machine.
# Memory limits are enforced without cgroups: jobacct_gather samples every second and
# OverMemoryKill kills a step whose processes use more than its --mem.
# Exit codes: 0 up, 2 usage, 3 not root, 4 packages missing, 5 a daemon did not come up.
set -euo pipefail

CLUSTER=torctest
CPUS="${TORC_SLURM_CPUS:-4}"
MEMORY_MB="${TORC_SLURM_MEMORY_MB:-4096}"
NODES=(node1 node2)
STATE=/var/lib/torc-slurm          # our pid files, logs, database and spool directories
CONF_DIR=/etc/slurm
DB_DIR="$STATE/db"                 # MariaDB's data, socket, pid file and log (user mysql)
DB_SOCKET="$DB_DIR/mysqld.sock"
DB_PORT="${TORC_SLURM_DB_PORT:-3316}"  # loopback only; not 3306, to stay clear of a system MariaDB
HOST="$(hostname -s)"

log() { printf 'slurm-up: %s\n' "$*" >&2; }
die() { log "$2"; exit "$1"; }

running() {  # running PIDFILE: the process named in PIDFILE is alive
    [[ -s "$1" ]] && kill -0 "$(<"$1")" 2>/dev/null
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND every 0.25 s
    local seconds=$1 what=$2 deadline
    shift 2
    deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.25
    done
}

stop_daemon() {  # stop_daemon NAME PIDFILE
    local pid
    running "$2" || { rm -f "$2"; return 0; }
    pid="$(<"$2")"
    log "stopping $1 (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$2"
}

stop_all() {
    local node
    for node in "${NODES[@]}"; do stop_daemon "slurmd $node" "$STATE/slurmd-$node.pid"; done
    stop_daemon slurmctld "$STATE/slurmctld.pid"
    stop_daemon slurmdbd "$STATE/slurmdbd.pid"
    stop_daemon mariadbd "$DB_DIR/mariadbd.pid"
    stop_daemon munged "$STATE/munged.pid"
}

status() {
    local name pidfile
    for name in munged mariadbd slurmdbd slurmctld "${NODES[@]/#/slurmd-}"; do
        pidfile="$STATE/$name.pid"
        [[ "$name" != mariadbd ]] || pidfile="$DB_DIR/mariadbd.pid"
        if running "$pidfile"; then
            echo "$name: running (pid $(<"$pidfile"))"
        else
            echo "$name: stopped"
        fi
    done
    sinfo 2>&1 || true
}

check_prerequisites() {
    [[ "$(id -u)" -eq 0 ]] || die 3 "must run as root (it starts munged, slurmctld and slurmd)"
    local missing=() binary
    for binary in munged munge slurmctld slurmd slurmdbd sbatch sacct sacctmgr mariadbd \
        mariadb mariadb-install-db; do
        command -v "$binary" >/dev/null || missing+=("$binary")
    done
    ((${#missing[@]} == 0)) || die 4 "missing ${missing[*]} (run scripts/test-env/install.sh)"
}

start_munge() {
    install -d -m 0755 "$STATE"
    install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
    install -d -o munge -g munge -m 0755 /run/munge
    if [[ ! -s /etc/munge/munge.key ]]; then
        head -c 1024 /dev/urandom >/etc/munge/munge.key
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
    if ! running "$STATE/munged.pid"; then
        rm -f /run/munge/munged.pid
        runuser -u munge -- munged --force
        # munged writes its own pid file as user munge; keep a copy beside ours.
        wait_for 10 munged test -s /run/munge/munged.pid ||
            die 5 "munged did not start (see /var/log/munge/munged.log)"
        cp -f /run/munge/munged.pid "$STATE/munged.pid"
    fi
    wait_for 10 "munge credentials" bash -c 'munge -n | unmunge' ||
        die 5 "munged does not answer (see /var/log/munge/munged.log)"
}

start_mariadb() {
    install -d -o mysql -g mysql -m 0755 "$DB_DIR" "$DB_DIR/data"
    if ! running "$DB_DIR/mariadbd.pid"; then
        if [[ ! -d "$DB_DIR/data/mysql" ]]; then
            mariadb-install-db --user=mysql --datadir="$DB_DIR/data" --skip-test-db \
                >"$DB_DIR/install.log" 2>&1 ||
                die 5 "mariadb-install-db failed (see $DB_DIR/install.log)"
        fi
        # Our own instance, on a private socket and a loopback port: a MariaDB of the machine
        # (if any) is left alone.
        setsid mariadbd --user=mysql --datadir="$DB_DIR/data" --socket="$DB_SOCKET" \
            --pid-file="$DB_DIR/mariadbd.pid" --bind-address=127.0.0.1 --port="$DB_PORT" \
            --log-error="$DB_DIR/mariadbd.log" </dev/null >/dev/null 2>&1 &
    fi
    wait_for 60 MariaDB mariadb --socket="$DB_SOCKET" -e 'SELECT 1' ||
        die 5 "MariaDB did not start (see $DB_DIR/mariadbd.log)"
    mariadb --socket="$DB_SOCKET" <<'SQL'
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'torc-slurm-test';
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'torc-slurm-test';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
SQL
}

CHANGED=""
write_if_changed() {  # write_if_changed PATH MODE OWNER: stdin -> PATH; CHANGED=yes if new
    local new
    new="$(cat)"
    CHANGED=""
    if [[ ! -f "$1" ]] || [[ "$(<"$1")" != "$new" ]]; then
        printf '%s\n' "$new" >"$1"
        CHANGED=yes
    fi
    chmod "$2" "$1"
    chown "$3" "$1"
}

write_configs() {
    install -d -o slurm -g slurm "$STATE/ctld" "$STATE/logs"
    local node
    for node in "${NODES[@]}"; do install -d "$STATE/slurmd/$node"; done
    chown slurm:slurm "$STATE/logs"
    chmod 0777 "$STATE/logs"
    getent hosts "$HOST" >/dev/null || echo "127.0.1.1 $HOST" >>/etc/hosts
    write_if_changed "$CONF_DIR/slurm.conf" 0644 root:root < <(slurm_conf)
    SLURM_CHANGED=$CHANGED
    write_if_changed "$CONF_DIR/slurmdbd.conf" 0600 slurm:slurm < <(slurmdbd_conf)
    DBD_CHANGED=$CHANGED
}

slurm_conf() {
    cat <<EOF
# Written by torc's scripts/slurm/up.sh: a one-node test cluster.
ClusterName=$CLUSTER
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd-%n.pid
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/slurmd/%n
SlurmctldLogFile=$STATE/logs/slurmctld.log
SlurmdLogFile=$STATE/logs/slurmd-%n.log
SlurmdParameters=config_overrides
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=5,bf_interval=5
DefMemPerCPU=$((MEMORY_MB / CPUS))
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
JobAcctGatherParams=OverMemoryKill
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobCompType=jobcomp/none
ReturnToService=2
InactiveLimit=0
KillWait=5
MinJobAge=300
SlurmctldTimeout=30
SlurmdTimeout=30
MailProg=/bin/true
NodeName=node[1-2] NodeHostname=$HOST NodeAddr=127.0.0.1 Port=[17001-17002] CPUs=$CPUS RealMemory=$MEMORY_MB State=UNKNOWN
PartitionName=main Nodes=node[1-2] Default=YES MaxTime=1-00:00:00 State=UP
PartitionName=short Nodes=node[1-2] MaxTime=00:30:00 State=UP
EOF
}

slurmdbd_conf() {
    cat <<EOF
# Written by torc's scripts/slurm/up.sh.
AuthType=auth/munge
DbdHost=localhost
SlurmUser=slurm
PidFile=$STATE/slurmdbd.pid
LogFile=$STATE/logs/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageLoc=slurm_acct_db
StorageUser=slurm
StoragePass=torc-slurm-test
EOF
}

start_slurmdbd() {
    if [[ -n "$DBD_CHANGED" ]]; then stop_daemon slurmdbd "$STATE/slurmdbd.pid"; fi
    running "$STATE/slurmdbd.pid" || slurmdbd
    wait_for 30 slurmdbd sacctmgr -n list cluster ||
        die 5 "slurmdbd does not answer (see $STATE/logs/slurmdbd.log)"
    if ! sacctmgr -n -P list cluster format=cluster | grep -qx "$CLUSTER"; then
        sacctmgr -i add cluster "$CLUSTER" >/dev/null
    fi
}

start_slurm() {
    if running "$STATE/slurmctld.pid"; then
        [[ -z "$SLURM_CHANGED" ]] || scontrol reconfigure
    else
        slurmctld
    fi
    wait_for 30 slurmctld scontrol ping || die 5 "slurmctld does not answer (see $STATE/logs)"
    local node
    for node in "${NODES[@]}"; do
        if [[ -n "$SLURM_CHANGED" ]]; then stop_daemon "slurmd $node" "$STATE/slurmd-$node.pid"; fi
        running "$STATE/slurmd-$node.pid" || slurmd -N "$node"
    done
    for node in "${NODES[@]}"; do wait_for_node "$node"; done
    wait_for 30 sacct sacct -n -X -S now ||
        die 5 "sacct does not answer (see $STATE/logs/slurmdbd.log)"
}

wait_for_node() {  # wait_for_node NAME: until the node takes jobs (resumed if down)
    local state=""
    for _ in $(seq 120); do
        state="$(sinfo -h -n "$1" -o %T 2>/dev/null | head -1)"
        case "$state" in
            idle* | mixed* | allocated*) return 0 ;;
            down* | drain*) scontrol update NodeName="$1" State=RESUME 2>/dev/null || true ;;
        esac
        sleep 0.25
    done
    die 5 "node $1 is '${state:-unknown}', not accepting jobs (see $STATE/logs)"
}

case "${1:-start}" in
    start) ;;
    stop) stop_all; exit 0 ;;
    status) status; exit 0 ;;
    *) die 2 "usage: $0 [start|stop|status]" ;;
esac

check_prerequisites
start_munge
start_mariadb
write_configs
start_slurmdbd
start_slurm
log "cluster $CLUSTER is up: nodes ${NODES[*]} on $HOST, partitions main (default) and short"
