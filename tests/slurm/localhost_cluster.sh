#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, from Debian's packages, for the SLURM test.
#
#   tests/slurm/localhost_cluster.sh start STATE_DIR   # prints the SLURM_CONF to export
#   tests/slurm/localhost_cluster.sh stop STATE_DIR
#
# Everything the daemons write (state, spool, logs, the job-completion log that the test reads
# to prove the jobs went through the scheduler) stays in STATE_DIR.  The configuration goes to
# /etc/slurm/slurm.conf, SLURM's default path: snakemake-executor-plugin-slurm-jobstep removes
# SLURM_CONF (with every SLURM_* variable) before its inner srun, so a configuration elsewhere
# is not found inside the jobs.  An /etc/slurm/slurm.conf this script did not write is never
# replaced.  Needs root (the daemons run as root, so they can write STATE_DIR and start jobs as
# the submitting user).  No accounting database: job states come from squeue, which keeps
# finished jobs for MinJobAge.
set -euo pipefail

action=${1:?usage: $0 start|stop STATE_DIR}
state=$(realpath -m "${2:?usage: $0 start|stop STATE_DIR}")
conf=/etc/slurm/slurm.conf
marker="# factor localhost test cluster"

stop() {
    for pidfile in "$state/slurmd.pid" "$state/slurmctld.pid"; do
        if [[ -s $pidfile ]]; then
            kill "$(cat "$pidfile")" 2>/dev/null || true
        fi
    done
    sleep 1
}

if [[ $action == stop ]]; then
    stop
    exit 0
fi
[[ $action == start ]] || { echo "unknown action $action" >&2; exit 2; }

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null \
        || ! command -v sbatch >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq slurmctld slurmd slurm-client munge >/dev/null
fi

stop
if [[ -e $conf ]] && ! head -1 "$conf" | grep -qx "$marker"; then
    echo "$conf exists and was not written by this script; not replacing it" >&2
    exit 1
fi
mkdir -p "$state/spool" "$state/ctld" /etc/slurm
host=$(hostname -s)
cpus=$(nproc)
mem_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
cat > "$conf" <<CONF
$marker
ClusterName=factortest
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/spool
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/slurmctld.log
SlurmdLogFile=$state/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MinJobAge=900
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$state/jobcomp.log
MpiDefault=none
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=factor Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF

if ! pgrep -x munged >/dev/null; then
    mkdir -p /run/munge && chown munge:munge /run/munge
    runuser -u munge -- munged
fi
slurmctld -f "$conf"
slurmd -f "$conf"
for _ in $(seq 60); do
    if sinfo -h -o %T 2>/dev/null | grep -qx idle; then
        echo "SLURM up: $(sinfo -h -o '%P %c CPUs %m MB %T')"
        exit 0
    fi
    sleep 1
done
echo "the localhost SLURM node did not come up; see $state/slurmctld.log and $state/slurmd.log" >&2
exit 1
