#!/bin/bash
# naitzat_dii.sh: experiment D-II of Naitzat, Zhitnikov and Lim, "Topology of Deep
# Neural Networks" (JMLR 2020): nine pairs of linked solid tori (data.source "tori"),
# in one command (docs/naitzat-di.md, section D-II).
#
#   experiments/naitzat_dii.sh [NERVE] [OUT]     # defaults: $NERVE or build/nerve, /tmp/naitzat_dii
#   env: JOBS (tasks at once, default the cores), SEEDS (only the first SEEDS seeds of
#        the config, default all 10), CONFIG (default experiments/naitzat_dii.cfg),
#        MIN_ACC (train accuracy a net needs to be analysed and enter the table,
#        default 1.0, the paper's rule; nets below it skip the homology's minutes),
#        PAPER_RULE (N > 0: the table also applies naitzat_table.py --paper-rule N,
#        the no-progress selection of the paper's code; default 0: every net at
#        MIN_ACC counts, docs/naitzat-di.md says why)
#
# As experiments/naitzat_di.sh, with the paper's D-II homology: every point of each
# class (split all, --landmarks all, duplicates removed), the kNN graph with k = 34
# (scikit-learn's 35), hop counts, Betti numbers at 2 hops, only the expressive net;
# the table (experiments/naitzat_table.py dii) has beta0 and beta1 of each class by
# layer, over the nets with at least MIN_ACC train accuracy.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
NERVE=${1:-${NERVE:-$root/build/nerve}}
OUT=${2:-/tmp/naitzat_dii}
JOBS=${JOBS:-$(nproc)}
CONFIG=${CONFIG:-$root/experiments/naitzat_dii.cfg}
SEEDS=${SEEDS:-0}

[ -x "$NERVE" ] || { echo "naitzat_dii.sh: no nerve binary at $NERVE (build with make, or pass its path)" >&2; exit 2; }
case "$SEEDS" in ''|*[!0-9]*) echo "naitzat_dii.sh: SEEDS=$SEEDS: expected a count of seeds" >&2; exit 2 ;; esac

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
    t=$1; nerve=$2; rule=$3; min_acc=$4
    models=expressive
    [ -f "$t/run/summary.json" ] ||
        "$nerve" train "$t/config.cfg" --out "$t/run" --resume > "$t/train.log" 2>&1 ||
        { echo "nerve train $t failed (see $t/train.log)" >&2; exit 255; }
    if python3 -c "import json, sys; acc = json.load(open(sys.argv[1]))[\"models\"][\"expressive\"][\"train_acc\"]; sys.exit(0 if acc < float(sys.argv[2]) else 1)" "$t/run/summary.json" "$min_acc"; then
        echo "$t: below the bar, not analysed"; exit 0
    fi
    "$nerve" ph "$t/run" --metric knn-hops --k 34 --scale 2 --landmarks all --dedup --splits all \
        --models "$models" --label-k 0 --threads 1 --no-figures --no-distances > "$t/ph.log" 2>&1 ||
        { echo "nerve ph $t/run failed (see $t/ph.log)" >&2; exit 255; }
    echo "$t: done"' sh {} "$NERVE" "${PAPER_RULE:-0}" "${MIN_ACC:-1.0}"

echo "== the table: $OUT/naitzat_dii.md"
python3 "$here/naitzat_table.py" dii "$OUT" --min-acc "${MIN_ACC:-1.0}" --paper-rule "${PAPER_RULE:-0}" \
    --out "$OUT/naitzat_dii.md"
