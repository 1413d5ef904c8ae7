#!/usr/bin/env bash
# sweep_bad_input.sh: every refusal of `nerve sweep`, `collect` and `verify` is one
# clear message and exit 2 (docs/CONTRACTS.md), and --slurm --dry-run writes scripts
# with the asked-for resources:
#   an empty or too large sweep, a bad value in one task, the wrong list syntax,
#   a directory holding another sweep, a task whose run directory belongs to another
#   config (nerve train's refusal must reach the user), --slurm without sbatch,
#   collect/verify of directories that are not sweeps or runs.
set -u
NERVE=${NERVE:-build/nerve}
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d /tmp/nerve-sweep-bad-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
HEAD='experiment = "bad"; data: { source = "spheres"; spheres: { dim = 4; points_per_class = 40; }; }; train: { epochs = 2; };'

# expect CODE NEEDLE CMD...: runs CMD, wants exit CODE and NEEDLE in its output.
expect() {
  local code=$1 needle=$2
  shift 2
  "$@" > out.txt 2>&1
  local rc=$?
  [ $rc = "$code" ] || { cat out.txt; fail "'$*': exit $rc, expected $code"; }
  grep -q -- "$needle" out.txt || { cat out.txt; fail "'$*': the message lacks '$needle'"; }
  echo "ok ($rc): $(grep -m1 -- "$needle" out.txt | cut -c1-150)"
}

echo "$HEAD models: { activation = []; };" > empty.cfg
expect 2 "the sweep is empty: axis 'models.activation' has no values" "$NERVE" sweep empty.cfg --out e
[ -e e ] && fail "a refused sweep must write nothing"

echo "$HEAD models: { activation = [\"relu\", \"tanh\"]; }; seeds = [1, 2, 3, 4, 5, 6];" > big.cfg
expect 2 "12 tasks, more than the limit of 10; raise it with --max-tasks" "$NERVE" sweep big.cfg --out b --max-tasks 10
expect 0 "12 tasks" "$NERVE" sweep big.cfg --out b --max-tasks 12
echo "$HEAD seeds = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]; models: { activation = [\"relu\", \"tanh\", \"sigmoid\", \"leaky_relu\"]; hidden = ([8], [9], [10], [11], [12], [13], [14], [15], [16], [17], [18], [19], [20], [21], [22], [23], [24]); bottleneck_width = [1, 2]; };" > huge.cfg
expect 2 "1496 tasks, more than the limit of 1000" "$NERVE" sweep huge.cfg --out h

echo "$HEAD models: { activation = [\"relu\", \"swish\"]; };" > badval.cfg
expect 2 "task 0001 (models.activation = swish): key 'models.activation'" "$NERVE" sweep badval.cfg --out v

echo "$HEAD models: { hidden = [[8, 8], [4]]; };" > brackets.cfg
expect 2 "hidden = (\[64, 64\], \[32, 32, 32\])" "$NERVE" sweep brackets.cfg --out k

# A directory holding another sweep.
echo "$HEAD models: { activation = [\"relu\", \"tanh\"]; };" > two.cfg
echo "$HEAD models: { activation = [\"tanh\", \"relu\"]; };" > swapped.cfg
expect 0 "2 tasks" "$NERVE" sweep two.cfg --out d
expect 2 "holds another sweep" "$NERVE" sweep swapped.cfg --out d

# A task whose run directory holds a run of another config: nerve train refuses,
# and the sweep must say so (exit 2, the task, nerve train's message).
echo "$HEAD models: { activation = \"sigmoid\"; };" > other.cfg
"$NERVE" train other.cfg --out d/tasks/0000/run > /dev/null 2>&1 || fail "training the squatter run failed"
expect 2 "task 0000: nerve train exited with 2: nerve train: .*holds a run of a different config" \
  "$NERVE" sweep two.cfg --out d --run
[ -f d/tasks/0001/run/hashes.json ] || fail "the other task must still run"

# --slurm without Slurm, and --dry-run.
expect 2 "no sbatch on PATH" env PATH=/nonexistent "$NERVE" sweep two.cfg --out d --slurm
expect 0 "dry run: nothing submitted" env PATH=/nonexistent "$NERVE" sweep two.cfg --out d --slurm --dry-run \
  --gpu --partition gpu --time 01:00:00 --mem 4G --account proj42 --cpus 2 --analyze=ph,stats
s=d/slurm/train.sbatch
for want in '#SBATCH --array=0-1' '#SBATCH --requeue' '#SBATCH --gres=gpu:1' '#SBATCH --partition=gpu' \
  '#SBATCH --time=01:00:00' '#SBATCH --mem=4G' '#SBATCH --account=proj42' '#SBATCH --cpus-per-task=2' \
  'train_%A_%a.out' '--resume' '--device cuda' 'already trained'; do
  grep -q -- "$want" $s || { cat $s; fail "train.sbatch lacks '$want'"; }
done
grep -q 'for verb in ph stats; do' d/slurm/analyze.sbatch || { cat d/slurm/analyze.sbatch; fail "analyze.sbatch lacks the steps"; }
bash -n $s && bash -n d/slurm/analyze.sbatch || fail "the scripts are not valid bash"
expect 2 "expected one word" "$NERVE" sweep two.cfg --out d --slurm --dry-run --partition 'a b'
expect 2 "go with --slurm" "$NERVE" sweep two.cfg --out d --gpu

# An analysis verb that is not built is skipped with a message, not a failure.
expect 0 "analysis step 'nosuchverb' skipped" "$NERVE" sweep two.cfg --out ok --run --analyze=nosuchverb

expect 2 "is .* a sweep directory" "$NERVE" collect "$tmp"
expect 2 "hashes.json: no such file" "$NERVE" verify "$tmp"
expect 2 "expected one CONFIG file" "$NERVE" sweep
echo "PASS"
