#!/usr/bin/env bash
# A real Slurm job array over a test corpus: a single-node Slurm (Debian's slurmctld + slurmd, munge
# authentication) is started in a temporary folder, `sbatch --array=0-3 --wait` runs `afx extract` in four
# tasks that take their shard from SLURM_ARRAY_TASK_ID/COUNT, and the union of the shards must equal a
# single-process run (every output byte for byte, the index lines in order), for the npy and the WebDataset
# formats. Everything it starts is stopped and removed at the end; the whole run is bounded by a timeout.
#   tests/slurm/array.sh AFX_BINARY [EXAMPLES_DIR]
# Needs root (it installs slurmctld, slurmd, slurm-client and munge with apt-get when missing).
set -euo pipefail
afx=$(readlink -f "$1")
examples=$(readlink -f "${2:-$(dirname "$0")/../../examples/audio}")
here=$(cd "$(dirname "$0")" && pwd)
export DEBIAN_FRONTEND=noninteractive
need=()
for p in slurmctld slurmd slurm-client munge; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need+=("$p")
done
if ((${#need[@]})); then
  echo "slurm: installing ${need[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

work=$(mktemp -d /tmp/afx-slurm-XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  set +e
  [ -n "${SLURM_CONF:-}" ] && scancel --quiet --user=root >/dev/null 2>&1
  for f in "$work"/run/slurmd.pid "$work"/run/slurmctld.pid "$work"/munge/munged.pid; do
    [ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null
  done
  sleep 1
  for f in "$work"/run/slurmd.pid "$work"/run/slurmctld.pid "$work"/munge/munged.pid; do
    [ -s "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
  done
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "slurm: FAILED: $*" >&2; for l in "$work"/log/* "$work"/munge/*.log; do echo "--- $l"; tail -20 "$l"; done >&2; exit 1; }

# munge: its own key, socket and pid file in the work folder, run as the munge user.
mkdir -p "$work/munge" "$work/run" "$work/log" "$work/state" "$work/spool"
chown munge:munge "$work/munge"
chmod 700 "$work/munge"
runuser -u munge -- mungekey --create --keyfile="$work/munge/munge.key" >/dev/null 2>&1 ||
  runuser -u munge -- sh -c "head -c 1024 /dev/urandom > '$work/munge/munge.key'; chmod 600 '$work/munge/munge.key'"
runuser -u munge -- munged --key-file="$work/munge/munge.key" --socket="$work/munge/munge.socket" \
  --pid-file="$work/munge/munged.pid" --log-file="$work/munge/munged.log" --seed-file="$work/munge/seed" --force
for _ in $(seq 50); do [ -S "$work/munge/munge.socket" ] && break; sleep 0.1; done
[ -S "$work/munge/munge.socket" ] || fail "munged did not start"

host=$(hostname -s)
cpus=$(nproc)
mem=$(awk '/MemTotal/ {print int($2 / 1024 / 2)}' /proc/meminfo)
export SLURM_CONF="$work/slurm.conf"
cat >"$SLURM_CONF" <<CONF
ClusterName=afxci
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$work/munge/munge.socket
SlurmctldPort=16817
SlurmdPort=16818
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/run/slurmctld.pid
SlurmdPidFile=$work/run/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=ci Nodes=$host Default=YES MaxTime=30 State=UP
CONF
slurmctld -c -f "$SLURM_CONF" || fail "slurmctld did not start"
slurmd -f "$SLURM_CONF" || fail "slurmd did not start"
for _ in $(seq 100); do
  sinfo -h -o %T 2>/dev/null | grep -qE '^idle' && break
  sleep 0.2
done
sinfo -h -o %T | grep -qE '^idle' || fail "the node is not idle: $(sinfo -h 2>&1)"

# The corpus: nested folders with duplicate basenames, 18 clips.
corpus="$work/corpus"
k=0
for f in "$examples"/*; do
  case "$f" in *.wav|*.flac|*.oga|*.mp3) ;; *) continue ;; esac
  for d in a b; do
    mkdir -p "$corpus/$d/$((k % 2))"
    cp "$f" "$corpus/$d/$((k % 2))/clip$((k / 2)).${f##*.}"
  done
  k=$((k + 1))
done
"$afx" extract -q --jobs 1 "$corpus" -o "$work/single_npy"
"$afx" extract -q --jobs 1 --format wds --shard-size 5 "$corpus" -o "$work/single_wds"

cat >"$work/task.sh" <<TASK
#!/bin/sh
set -e
"$afx" extract -q --jobs 1 "$corpus" -o "$work/array_npy"
"$afx" extract -q --jobs 1 --format wds --shard-size 5 "$corpus" -o "$work/array_wds"
TASK
chmod +x "$work/task.sh"
start=$(date +%s)
timeout 240 sbatch --wait --array=0-3 --cpus-per-task=1 --output="$work/log/task-%a.out" --chdir="$work" \
  "$work/task.sh" >"$work/log/sbatch.out" 2>&1 || fail "sbatch --array failed: $(cat "$work/log/sbatch.out")"
echo "slurm: array of 4 tasks done in $(( $(date +%s) - start )) s ($(cat "$work/log/sbatch.out"))"

python3 "$here/compare.py" "$work/single_npy" "$work/array_npy" 4 || fail "npy shards"
python3 "$here/compare.py" "$work/single_wds" "$work/array_wds" 4 || fail "wds shards"
echo "slurm: the union of the 4 array tasks equals the single-process run (npy and wds)"
