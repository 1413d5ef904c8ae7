#!/bin/bash
# naitzat_di.sh: the reproduction of experiment D-I of Naitzat, Zhitnikov and Lim,
# "Topology of Deep Neural Networks" (JMLR 2020), on the paper's protocol, in one
# command (docs/naitzat-di.md has the protocol, the result and what still differs).
#
#   experiments/naitzat_di.sh [NERVE] [OUT]     # defaults: $NERVE or build/nerve, /tmp/naitzat_di
#   env: JOBS (tasks at once, default the cores), SEEDS (only the first SEEDS seeds of
#        the config, default all 10), CONFIG (default experiments/naitzat_di.cfg)
#
# 1. `nerve sweep CONFIG` writes the tasks (3 activations x 10 seeds);
# 2. each task, seed by seed (so that a partial run has every activation): `nerve
#    train` (the expressive and the bottlenecked net, snapshots at the last epoch),
#    then `nerve ph` on the paper's protocol: every point of each class of the test
#    split (--landmarks all), exact duplicate rows removed (--dedup), the kNN graph
#    with k = 13 (scikit-learn's 14), hop counts, Betti numbers at 2 hops (the Rips
#    threshold is the scale); the bottlenecked net is analysed only in the leaky ReLU
#    tasks (the paper's bottleneck row);
# 3. experiments/naitzat_table.py: OUT/naitzat_di.md, mean beta0(M_a) by layer over
#    the nets with 100% train accuracy (and, when the config checks its stopping rule
#    every N epochs, --paper-rule N: the selection of the paper's code), next to the
#    paper's (exit 1 of the table with
#    --check is left to the caller: tests/long/naitzat_di.sh);
# 4. experiments/naitzat_grid.py: OUT/naitzat_di_grid.md, the same nets on the
#    homology protocol of the paper's public code (a grid over the input square,
#    classes by the net's prediction), beside nerve's.
# Idempotent: finished trainings and PH files are reused, so an interrupted call can
# simply be run again. Exit status: the first failing step's.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
NERVE=${1:-${NERVE:-$root/build/nerve}}
OUT=${2:-/tmp/naitzat_di}
JOBS=${JOBS:-$(nproc)}
CONFIG=${CONFIG:-$root/experiments/naitzat_di.cfg}
SEEDS=${SEEDS:-0}

[ -x "$NERVE" ] || { echo "naitzat_di.sh: no nerve binary at $NERVE (build with make, or pass its path)" >&2; exit 2; }
case "$SEEDS" in ''|*[!0-9]*) echo "naitzat_di.sh: SEEDS=$SEEDS: expected a count of seeds" >&2; exit 2 ;; esac

echo "== tasks: $NERVE sweep $CONFIG --out $OUT"
"$NERVE" sweep "$CONFIG" --out "$OUT" > /dev/null

# The tasks ordered by seed, then by task number: a run cut short (or SEEDS=n) has
# the same seeds of every activation.
tasks=$(for t in "$OUT"/tasks/*/; do
            s=$(sed -n 's/^seed = \([0-9]*\);.*/\1/p' "$t/config.cfg" | head -n 1)
            echo "$s ${t%/}"
        done | sort -n -k1,1 -k2,2 | awk -v n="$SEEDS" '
            { if (!($1 in seen)) { seen[$1] = 1; k++ } if (n == 0 || k <= n) print $2 }')
echo "== training and persistent homology ($(echo "$tasks" | wc -l) tasks, $JOBS at once)"
echo "$tasks" | xargs -P "$JOBS" -I{} sh -c '
    t=$1; nerve=$2
    models=expressive
    grep -q "activation = \"leaky_relu\"" "$t/config.cfg" && models=expressive,bottleneck
    [ -f "$t/run/summary.json" ] ||
        "$nerve" train "$t/config.cfg" --out "$t/run" --resume > "$t/train.log" 2>&1 ||
        { echo "nerve train $t failed (see $t/train.log)" >&2; exit 255; }
    "$nerve" ph "$t/run" --metric knn-hops --k 13 --scale 2 --landmarks all --dedup --splits test \
        --models "$models" --label-k 0 --threads 1 --no-figures --no-distances > "$t/ph.log" 2>&1 ||
        { echo "nerve ph $t/run failed (see $t/ph.log)" >&2; exit 255; }
    echo "$t: done"' sh {} "$NERVE"

echo "== the table: $OUT/naitzat_di.md"
# the selection of the paper's code, at the config's check interval (docs/naitzat-di.md)
rule=$(sed -n 's/.*stop_check_every = \([0-9]*\);.*/\1/p' "$CONFIG" | head -n 1)
python3 "$here/naitzat_table.py" di "$OUT" ${rule:+--paper-rule "$rule"} --out "$OUT/naitzat_di.md"
# the same nets on the homology protocol of the paper's code (a grid, classes by
# the net's prediction; docs/naitzat-di.md), beside nerve's
echo "== the paper code's protocol: $OUT/naitzat_di_grid.md"
/usr/bin/python3 "$here/naitzat_grid.py" "$NERVE" "$OUT" ${rule:+--paper-rule "$rule"} --jobs "$JOBS" \
    --out "$OUT/naitzat_di_grid.md" > /dev/null
