#!/usr/bin/env bash
# A real single-node SLURM on this machine, for tests and trying the cluster path.
#
#   scripts/slurm_local.sh install        # Debian packages (root; once per machine)
#   scripts/slurm_local.sh up DIR         # start munged, slurmctld, slurmd; config in DIR
#   scripts/slurm_local.sh down DIR       # stop exactly what `up` started
#
# After `up`, export SLURM_CONF=DIR/slurm.conf so sbatch/squeue/scancel find it.
# Facts this follows (shared/notes/slurm-localhost.md): munged refuses root, so it runs as
# munge; daemons are started in the foreground (-D) in the background of this shell; ports
# 6817/6818 must be free first; a stopped daemon may linger as a zombie.
set -euo pipefail

cmd=${1:-}
dir=${2:-}

pid_alive() {  # a zombie counts as dead
  local pid=$1
  [ -r "/proc/$pid/stat" ] || return 1
  local state
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo Z)
  [ "$state" != "Z" ]
}

port_busy() { (echo > "/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

case "$cmd" in
install)
  if command -v slurmctld >/dev/null && command -v munged >/dev/null; then exit 0; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
  ;;
up)
  [ -n "$dir" ] || { echo "usage: $0 up DIR" >&2; exit 2; }
  for port in 6817 6818; do
    if port_busy "$port"; then echo "port $port is busy: another SLURM is running" >&2; exit 1; fi
  done
  mkdir -p "$dir"/{state,spool,log}
  mkdir -p /run/munge && chown munge:munge /run/munge
  [ -f /etc/munge/munge.key ] || { echo "no /etc/munge/munge.key: run '$0 install'" >&2; exit 1; }
  mem_mb=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)
  cat > "$dir/slurm.conf" <<CONF
ClusterName=t1dmc-local
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MailProg=/bin/true
ReturnToService=2
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
  setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged -F \
    > "$dir/log/munged.out" 2>&1 &
  echo $! > "$dir/munged.started"
  sleep 0.3
  slurmctld -D -c -f "$dir/slurm.conf" > "$dir/log/slurmctld.out" 2>&1 &
  echo $! > "$dir/slurmctld.started"
  slurmd -D -N localhost -f "$dir/slurm.conf" > "$dir/log/slurmd.out" 2>&1 &
  echo $! > "$dir/slurmd.started"
  export SLURM_CONF="$dir/slurm.conf"
  for _ in $(seq 1 100); do
    state=$(timeout 5 sinfo -h -o %T 2>/dev/null | head -n1 || true)
    if [ "$state" = "idle" ]; then echo "SLURM up: SLURM_CONF=$dir/slurm.conf"; exit 0; fi
    for d in munged slurmctld slurmd; do
      pid=$(cat "$dir/$d.started")
      if ! pid_alive "$pid"; then echo "$d died; see $dir/log" >&2; exit 1; fi
    done
    sleep 0.2
  done
  echo "SLURM did not become idle; see $dir/log" >&2
  exit 1
  ;;
down)
  [ -n "$dir" ] || { echo "usage: $0 down DIR" >&2; exit 2; }
  export SLURM_CONF="$dir/slurm.conf"
  ctld=$(cat "$dir/slurmctld.started" 2>/dev/null || echo)
  if [ -n "$ctld" ] && pid_alive "$ctld"; then timeout 10 scancel --user=root >/dev/null 2>&1 || true; fi
  for d in slurmd slurmctld munged; do
    pid=$(cat "$dir/$d.started" 2>/dev/null || echo)
    [ -n "$pid" ] && pid_alive "$pid" && kill "$pid" 2>/dev/null || true
  done
  for _ in $(seq 1 50); do
    alive=0
    for d in slurmd slurmctld munged; do
      pid=$(cat "$dir/$d.started" 2>/dev/null || echo)
      [ -n "$pid" ] && pid_alive "$pid" && alive=1
    done
    [ $alive -eq 0 ] && exit 0
    sleep 0.1
  done
  for d in slurmd slurmctld munged; do
    pid=$(cat "$dir/$d.started" 2>/dev/null || echo)
    [ -n "$pid" ] && pid_alive "$pid" && kill -9 "$pid" 2>/dev/null || true
  done
  ;;
*)
  echo "usage: $0 install | up DIR | down DIR" >&2
  exit 2
  ;;
esac
