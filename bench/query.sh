#!/usr/bin/env bash
# query.sh: what `nerve query` costs on a dynamics store of at least 1 GB
# (docs/queries.md; results in docs/benchmarks.md), side by side with a
# straightforward numpy implementation in one run (docs/CONTRACTS.md, "Benchmarks":
# the same machine, threads and OpenBLAS kernels, alternating, medians of RUNS).
#
# The store: experiments/spheres_dynamics.cfg (every tier at every step; about 1.1 GB,
# of which the expressive net's records are 0.66 GB), trained here unless RUN is given.
# Cases (targets from issue 16):
#   one weight      top-samples of one weight for one epoch          < 100 ms
#                   weight-to-zero of one weight (an event at step 608; and a weight
#                   that never reaches zero: every step replayed)
#   whole layer     top-samples of hidden2 (64 x 65 weights, 6400 samples) for one
#                   epoch, nerve --threads 1 against bench/query_numpy.py with
#                   OPENBLAS_NUM_THREADS=1 (reading through the store's index with
#                   h5py, every per-sample gradient in float64, argpartition)    >= 10x
#   SQL             two statements over steps and layers                          < 1 s
# Each case reports the median over RUNS of: the time inside the process (nerve's
# --time: opening the store, answering and printing; numpy's own clock: reading and
# computing), the wall time of the whole command, and its CPU time (user + sys: the
# figure a loaded machine disturbs least). The whole-layer answers of both sides are
# compared (equal, except the order among samples whose contributions tie exactly,
# which numpy's argpartition leaves arbitrary).
#
#   bash bench/query.sh [RUNS=5] [RUN]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
RUN=${2:-}
NERVE=${NERVE:-${BUILD:-build}/nerve}
source scripts/openblas-env.sh
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nerve-qbench-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
if [ -z "$RUN" ]; then
  RUN=$tmp/run
  echo "# training experiments/spheres_dynamics.cfg into $RUN (the store)"
  "$NERVE" train experiments/spheres_dynamics.cfg --out "$RUN" > "$tmp/train.log" 2>&1
fi
bytes=$(du -sb "$RUN/dynamics" | cut -f1)
echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(getconf _NPROCESSORS_ONLN) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "# store: $RUN/dynamics, $(awk -v b="$bytes" 'BEGIN{printf "%.2f GB", b/1e9}') ($(ls "$RUN"/dynamics/*/chunk_*.h5 | wc -l) chunk files); OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}, 1 thread"
[ "$bytes" -ge 1000000000 ] || echo "# NOTE: the store is below 1 GB"
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# one NAME CMD...: runs CMD, appends "inproc wall cpu" to $tmp/NAME (inproc from a
# "query: X s" or "numpy: X s" line on stderr)
one() {
  local name=$1; shift
  /usr/bin/time -f "%e %U %S" -o "$tmp/time" "$@" > "$tmp/out.$name" 2> "$tmp/err.$name"
  local inproc; inproc=$(grep -oE '(query|numpy): [0-9.]+ s' "$tmp/err.$name" | tail -1 | awk '{print $2}')
  read -r wall user sys < <(tail -1 "$tmp/time")
  echo "$inproc $wall $(awk -v u="$user" -v s="$sys" 'BEGIN{print u+s}')" >> "$tmp/$name"
}
Q="$NERVE query $RUN --threads 1 --time"
SQL1="SELECT s.model, l.layer, AVG(l.grad_norm) AS mean_grad, MAX(l.alarm_fraction) AS worst_alarm, MIN(s.loss) AS best_loss FROM steps s JOIN layers l USING (run, model, step) GROUP BY s.model, l.layer_index"
SQL2="SELECT s.model, s.epoch, AVG(s.loss) AS loss, MAX(l.grad_norm) AS max_grad FROM steps s JOIN layers l USING (run, model, step) WHERE l.layer = 'logits' GROUP BY s.model, s.epoch ORDER BY s.model, s.epoch"
for i in $(seq "$RUNS"); do
  # alternate the order of the whole-layer pair each round
  if [ $((i % 2)) = 1 ]; then
    one layer_nerve $Q --preset top-samples --epoch 30 --layer hidden2 -k 10 --format csv
    one layer_numpy /usr/bin/python3 bench/query_numpy.py "$RUN" expressive hidden2 30 10 "$tmp/numpy.csv"
  else
    one layer_numpy /usr/bin/python3 bench/query_numpy.py "$RUN" expressive hidden2 30 10 "$tmp/numpy.csv"
    one layer_nerve $Q --preset top-samples --epoch 30 --layer hidden2 -k 10 --format csv
  fi
  one weight_top $Q --preset top-samples --epoch 30 --layer hidden2 --weight 5,7 -k 10
  one weight_zero $Q --preset weight-to-zero --layer hidden2 --weight 0,10
  one weight_zero_all $Q --preset weight-to-zero --layer hidden2 --weight 0,2
  one sql_steps_layers $Q "$SQL1"
  one sql_by_epoch $Q "$SQL2"
done

# the whole-layer answers: nerve's top_samples table against numpy's
awk -F, '/^# top_samples/{t=1; getline; next} /^$/{t=0} t && NF==7 {print $1","$2","$3","$4","$7}' "$tmp/out.layer_nerve" > "$tmp/nerve.csv"
/usr/bin/python3 - "$tmp/nerve.csv" "$tmp/numpy.csv" <<'EOF'
import sys
a = [l.strip().split(",") for l in open(sys.argv[1])]
b = [l.strip().split(",") for l in open(sys.argv[2])]
same_v = len(a) == len(b) and all(float(x[4]) == float(y[4]) and x[:3] == y[:3] for x, y in zip(a, b))
diff = [(x, y) for x, y in zip(a, b) if x[3] != y[3]]
# where the ids differ the two samples' contributions are equal (the values match): a tie
print(f"# whole layer: {len(a)} rows; every weight's k values equal: {same_v}; sample ids differ in {len(diff)} "
      f"rows, all exact ties: {same_v}")
EOF

printf '\n| case | nerve in-process (s) | wall (s) | CPU (s) | baseline in-process | wall | CPU | ratio in-process / wall / CPU |\n|---|---:|---:|---:|---:|---:|---:|---|\n'
row() { # NAME LABEL [BASELINE]
  local m=(); for c in 1 2 3; do m+=("$(awk -v c=$c '{print $c}' "$tmp/$1" | median)"); done
  if [ -n "${3:-}" ]; then
    local b=(); for c in 1 2 3; do b+=("$(awk -v c=$c '{print $c}' "$tmp/$3" | median)"); done
    printf '| %s | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.1fx / %.1fx / %.1fx |\n' "$2" "${m[@]}" "${b[@]}" \
      "$(awk -v a="${b[0]}" -v b="${m[0]}" 'BEGIN{print a/b}')" "$(awk -v a="${b[1]}" -v b="${m[1]}" 'BEGIN{print a/b}')" \
      "$(awk -v a="${b[2]}" -v b="${m[2]}" 'BEGIN{print a/b}')"
  else
    printf '| %s | %.3f | %.3f | %.3f | | | | |\n' "$2" "${m[@]}"
  fi
}
row weight_top "one weight: top-samples, epoch 30, hidden2[5,7], k 10"
row weight_zero "one weight: weight-to-zero hidden2[0,10] (event at step 608)"
row weight_zero_all "one weight: weight-to-zero hidden2[0,2] (no event: 6000 steps)"
row layer_nerve "whole layer: top-samples hidden2, epoch 30, k 10 (vs numpy)" layer_numpy
row sql_steps_layers "SQL: steps JOIN layers, per model and layer (72k rows)"
row sql_by_epoch "SQL: steps JOIN layers, logits per model and epoch"
echo "# load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
