#!/bin/bash
# naitzat_di.sh: the whole reproduction of experiment D-I of Naitzat, Zhitnikov and
# Lim, "Topology of Deep Neural Networks" (JMLR 2020) in one command
# (docs/naitzat-di.md has the geometry, the settings and the result).
#
#   experiments/naitzat_di.sh [NERVE] [OUT]     # defaults: $NERVE or build/nerve, /tmp/naitzat_di
#
# 1. `nerve sweep experiments/naitzat_di.cfg --run`: 2 activations x 10 seeds, each
#    task training the expressive and the bottlenecked net (snapshots at the last
#    epoch, every layer);
# 2. `nerve ph RUN` on every task at the paper's setting: kNN graph with k = 14,
#    Betti numbers read at 2 hops (--scale 2; the Rips threshold is the scale), on
#    LANDMARKS max-min landmarks per class (see the doc for why 500);
# 3. `nerve collect` (collect/analysis.csv: mean and std over seeds per layer), and
#    OUT/naitzat_di.md: class a (class 0) beta0 and beta1 per layer of the
#    expressive net, ReLU next to tanh and the paper's ReLU beta0.
# Idempotent: finished trainings and PH files are reused (sweep, ph), so an
# interrupted call can simply be run again. Exit status: the first failing step's.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
NERVE=${1:-${NERVE:-$root/build/nerve}}
OUT=${2:-/tmp/naitzat_di}
JOBS=${JOBS:-$(nproc)}
LANDMARKS=${LANDMARKS:-500}

[ -x "$NERVE" ] || { echo "naitzat_di.sh: no nerve binary at $NERVE (build with make, or pass its path)" >&2; exit 2; }

echo "== training: $NERVE sweep $root/experiments/naitzat_di.cfg --out $OUT --run --jobs $JOBS"
"$NERVE" sweep "$root/experiments/naitzat_di.cfg" --out "$OUT" --run --jobs "$JOBS"

echo "== persistent homology: k = 14, scale = 2 hops, $LANDMARKS landmarks per class ($JOBS at once)"
ls -d "$OUT"/tasks/*/run | xargs -P "$JOBS" -I{} sh -c \
    '"$0" ph "$1" --metric knn-hops --k 14 --scale 2 --landmarks "$2" --threads 1 --no-figures > "$1/../ph.log" 2>&1 || { echo "nerve ph $1 failed (see $1/../ph.log)" >&2; exit 255; }' \
    "$NERVE" {} "$LANDMARKS"

echo "== collect"
"$NERVE" collect "$OUT" --no-figure --quiet

# The table: class-0 Betti numbers of the expressive net at the last epoch, mean
# +- sample std over seeds (collect/analysis.csv), and the paper's ReLU beta0.
awk -F, -v out="$OUT/naitzat_di.md" '
NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
$col["model"] == "expressive" && ($col["quantity"] == "betti0_class0" || $col["quantity"] == "betti1_class0") {
    key = $col["models.activation"] SUBSEP $col["layer"] SUBSEP $col["quantity"]
    val[key] = sprintf("%.2f ± %.2f", $col["mean"], $col["std"] == "" ? 0 : $col["std"])
    n[$col["models.activation"]] = $col["n"]
}
END {
    split("input hidden1 hidden2 hidden3 hidden4 hidden5 hidden6 hidden7 hidden8 hidden9 logits", L, " ")
    split("9 8.4 6.4 3.5 2.2 1.6 1.2 1.1 1.1 1.1 1", P, " ")
    printf "| layer | ReLU beta0 | ReLU beta1 | tanh beta0 | tanh beta1 | paper ReLU beta0 |\n" > out
    printf "|---|---|---|---|---|---|\n" >> out
    for (i = 1; i <= 11; i++) {
        l = L[i]
        printf "| %d (%s) | %s | %s | %s | %s | %s |\n", i - 1, l,
            val["relu", l, "betti0_class0"], val["relu", l, "betti1_class0"],
            val["tanh", l, "betti0_class0"], val["tanh", l, "betti1_class0"], P[i] >> out
    }
    printf "\nclass a = class 0; mean ± sample std over seeds (ReLU: %s seeds, tanh: %s seeds); expressive net, last epoch, split all.\n", n["relu"], n["tanh"] >> out
}' "$OUT/collect/analysis.csv"

echo "== training accuracy (collect/results.csv)"
cut -d, -f1-7 "$OUT/collect/results.csv"
echo "== $OUT/naitzat_di.md"
cat "$OUT/naitzat_di.md"
