#!/usr/bin/env bash
# slurm_sweep.sh: a sweep on a real Slurm. Starts a private one-node cluster
# (its own slurm.conf, ports, state and PID files in a temporary directory; no
# munge: auth/none + cred/none), submits a 4-task sweep as real job arrays
# (training, then analysis with --dependency=aftercorr), requeues one task in the
# middle of its training (scontrol requeue), waits by polling squeue, and checks
#   - every task finished, the requeued one resumed from its checkpoint,
#   - each analysis task ran after its training task (the step is `nerve verify`,
#     which needs the finished run's hashes.json),
#   - every task's hashes.json and the collected table are the same bytes as the
#     same sweep run locally (`nerve sweep --run`).
# Stops the daemons by their PID files. A cluster that does not start FAILS the
# test (exit 1 with the reason): this is the test of the cluster path.
set -u
NERVE=${NERVE:-build/nerve}
fail() { echo "FAIL: $*"; exit 1; }

# Debian's slurm-wlm (scripts/deps.sh --test installs it; as a fallback here too).
if ! command -v slurmctld >/dev/null || ! command -v sbatch >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing slurm-wlm (not found)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge >/dev/null 2>&1 ||
      fail "slurm-wlm is not installed and apt-get install slurm-wlm munge failed"
  else
    fail "slurm-wlm is not installed and this is not root: run scripts/deps.sh --test as root"
  fi
fi
# slurmd runs the jobs as root in this private cluster (SlurmdUser=root).
[ "$(id -u)" = 0 ] || fail "a private Slurm needs root here (SlurmdUser=root); run the suite as root"

tmp=$(mktemp -d /tmp/nerve-slurm-XXXXXX)
export SLURM_CONF=$tmp/slurm.conf
cg_mounts=()
stop_cluster() {
  # by PID files only, read once (the daemons remove them as they exit); never by
  # name: other clusters may run on this machine
  local pids=() f p
  for f in "$tmp/slurmd.pid" "$tmp/slurmctld.pid"; do
    p=$(cat "$f" 2>/dev/null) && [ -n "$p" ] && pids+=("$p")
  done
  [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null
  for _ in $(seq 1 50); do
    alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  rm -rf "$tmp"
  local i
  for ((i = ${#cg_mounts[@]} - 1; i >= 0; i--)); do umount "${cg_mounts[i]}" 2>/dev/null; done
}
trap stop_cluster EXIT
# slurmd 22.05 initialises its cgroup plugin even with proctrack/linuxproc and
# task/none, and gives up when /sys/fs/cgroup holds no cgroup filesystem (a chroot or
# a minimal container). Mount one there for the test in that case, of the version
# this process lives in (/proc/self/cgroup: v1 controllers, or only the v2 line; slurmd
# refuses a mix), and unmount it again at the end.
if [ ! -e /sys/fs/cgroup/cgroup.controllers ] && ! ls /sys/fs/cgroup/*/tasks >/dev/null 2>&1; then
  mkdir -p /sys/fs/cgroup 2>/dev/null
  v1=$(awk -F: '$2 != "" && $2 !~ /^name=/ {print $2}' /proc/self/cgroup | tr ',' '\n' | sort -u)
  if [ -n "$v1" ]; then
    mount -t tmpfs cgroup_root /sys/fs/cgroup || fail "cannot mount a tmpfs on /sys/fs/cgroup for slurmd"
    cg_mounts+=(/sys/fs/cgroup)
    for c in $(awk -F: '$2 != "" {print $2}' /proc/self/cgroup); do
      d=/sys/fs/cgroup/${c#name=}
      mkdir -p "$d"
      if [[ $c == name=* ]]; then mount -t cgroup -o none,"$c" cgroup "$d"; else mount -t cgroup -o "$c" cgroup "$d"; fi &&
        cg_mounts+=("$d")
    done
  else
    mount -t cgroup2 none /sys/fs/cgroup || fail "no cgroup filesystem at /sys/fs/cgroup and mounting one failed"
    cg_mounts+=(/sys/fs/cgroup)
  fi
fi

# Ports out of the way of a system Slurm and of a concurrent run of this test.
port=$((20000 + RANDOM % 20000))
mkdir -p "$tmp/state" "$tmp/spool"
cat > "$SLURM_CONF" <<EOF
ClusterName=nervetest
SlurmctldHost=localhost
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/none
CredType=cred/none
# a requeued job waits cred_expire seconds before it may start again (default 120)
AuthInfo=cred_expire=5
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerParameters=sched_min_interval=0,batch_sched_delay=0
ReturnToService=2
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/slurmctld.log
SlurmdLogFile=$tmp/slurmd.log
NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
slurmctld -i || fail "slurmctld did not start: $(tail -30 "$tmp/slurmctld.log" 2>/dev/null)"
slurmd -N localhost || fail "slurmd did not start: $(tail -30 "$tmp/slurmd.log" 2>/dev/null)"
state=""
for _ in $(seq 1 100); do
  state=$(sinfo -h -o %t 2>/dev/null)
  [ "$state" = idle ] && break
  sleep 0.2
done
[ "$state" = idle ] || fail "the node did not become idle (state '$state'): $(tail -5 "$tmp/slurmctld.log")"
echo "private Slurm up on port $port: $(sinfo -h -o '%P %D %t %c')"

# 2 activations x 2 seeds = 4 tasks, each long enough to requeue one in the middle
# of its training: 600 epochs, so that the expressive net (trained last) takes
# about a second after its first checkpoint on an idle machine. (At 150 epochs it
# took 0.3 s, and a requeue delivered by a loaded slurmd arrived after the run had
# finished: nothing left to resume, a failure of this test and not of nerve.)
cd "$tmp"
cat > sweep.cfg <<'EOF'
experiment = "slurmtest";
data: { source = "spheres"; spheres: { dim = 6; points_per_class = 3000; }; };
models: { activation = ["relu", "tanh"]; hidden = [16, 16]; };
train: { epochs = 600; batch_size = 8; };
snapshots: { count = 4; };
seeds = [1, 2];
EOF

"$NERVE" sweep sweep.cfg --out sl --slurm --analyze=verify > submit.txt 2>&1 || { cat submit.txt; fail "nerve sweep --slurm failed"; }
cat submit.txt
grep -q '^#SBATCH --requeue' sl/slurm/train.sbatch || fail "train.sbatch lacks --requeue"
grep -q '%A_%a' sl/slurm/train.sbatch || fail "train.sbatch logs lack %A_%a"
read -r tj aj < <(/usr/bin/python3 -c "import json; j = json.load(open('sl/slurm/jobs.json')); print(j['train'], j['analyze'])")
[ -n "$tj" ] && [ -n "$aj" ] || fail "no job ids in sl/slurm/jobs.json"
dep=$(scontrol show job "$aj" 2>/dev/null | grep -o 'Dependency=[^ ]*' | head -1)
echo "training array $tj, analysis array $aj ($dep)"
case "$dep" in *aftercorr:$tj*) ;; *) fail "analysis array $aj has '$dep', expected aftercorr:$tj" ;; esac

# Requeue task 1 once it has a checkpoint and before it finishes.
requeued=0
for _ in $(seq 1 300); do
  if [ -f sl/tasks/0001/run/checkpoints/expressive.h5 ] && [ ! -f sl/tasks/0001/run/hashes.json ]; then
    scontrol requeue "${tj}_1" && requeued=1
    break
  fi
  [ -f sl/tasks/0001/run/hashes.json ] && break
  sleep 0.05
done
[ $requeued = 1 ] || fail "could not requeue task 1 during its training"
echo "requeued ${tj}_1 during training"

# Wait by polling squeue (sbatch --wait polls slowly).
for i in $(seq 1 1200); do
  [ -z "$(squeue -h -j "$tj,$aj" 2>/dev/null)" ] && break
  sleep 0.1
done
[ -z "$(squeue -h -j "$tj,$aj" 2>/dev/null)" ] || { squeue; fail "jobs still queued after 120 s"; }
echo "all jobs left the queue after $((i / 10)) s"

for t in 0 1 2 3; do
  n=$(printf '%04d' $t)
  [ -f sl/tasks/$n/run/hashes.json ] || { cat sl/logs/train_${tj}_$t.out; fail "task $n did not finish"; }
  grep -q 'match hashes.json' sl/logs/analyze_${aj}_$t.out || { cat sl/logs/analyze_${aj}_$t.out; fail "analysis task $t did not verify its run"; }
done
grep -q 'DUE TO JOB REQUEUE' sl/logs/train_${tj}_1.out || fail "task 1's log shows no requeue"
grep -q 'expressive: resuming at epoch' sl/logs/train_${tj}_1.out || { cat sl/logs/train_${tj}_1.out; fail "task 1 did not resume after its requeue"; }
echo "task 1: $(grep -a -m1 'resuming at epoch' sl/logs/train_${tj}_1.out)"

# The same sweep, run here.
"$NERVE" sweep sweep.cfg --out local --run --analyze=verify > local.txt 2>&1 || { cat local.txt; fail "the local sweep failed"; }
for t in 0000 0001 0002 0003; do
  cmp -s local/tasks/$t/run/hashes.json sl/tasks/$t/run/hashes.json || fail "task $t: hashes.json differs between Slurm and local"
done
"$NERVE" collect sl --quiet > /dev/null 2>&1 || fail "nerve collect sl failed"
"$NERVE" collect local --quiet > /dev/null 2>&1 || fail "nerve collect local failed"
cmp sl/collect/results.csv local/collect/results.csv || fail "the collected tables differ"
cmp sl/collect/analysis.csv local/collect/analysis.csv || fail "the collected analysis tables differ"
cat sl/collect/results.csv
"$NERVE" verify sl > /dev/null || fail "nerve verify of the Slurm sweep failed"
echo "PASS: Slurm job arrays (with a requeue) give the same bytes and the same table as the local sweep"
