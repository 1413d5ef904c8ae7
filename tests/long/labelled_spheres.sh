#!/bin/bash
# labelled_spheres.sh (long test): the acceptance measurement of docs/topology.md on
# the default experiment: experiments/spheres.cfg trained for seeds 1, 2, 3, `nerve
# ph RUN` on each, and experiments/labelled_table.py over the three: at the last
# epoch and the last hidden layer (hidden3) the expressive and the bottlenecked
# net's mixing must differ by more than 3 times the larger SD over the seeds, the
# expressive net's must be below the bottlenecked net's, and both geometric
# baselines must agree in direction.
# Slow (a few minutes on 2 cores): runs only under make test-long (NERVE_LONG=1).
# Exit 0 pass, 77 skip, 1 fail.
set -u
if [ "${NERVE_LONG:-}" != "1" ]; then
    echo "SKIP labelled_spheres: trains 3 runs of the default experiment; runs under make test-long (NERVE_LONG=1)"
    exit 77
fi
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
NERVE=${NERVE:-$root/build/nerve}
out=$(mktemp -d /tmp/nerve-labelled-spheres.XXXXXX)
trap 'rm -rf "$out"' EXIT

for s in 1 2 3; do
    if ! "$NERVE" train "$root/experiments/spheres.cfg" --set "seed = $s;" --out "$out/s$s" > "$out/train$s.log" 2>&1 ||
       ! "$NERVE" ph "$out/s$s" --no-distances > "$out/ph$s.log" 2>&1; then
        tail -n 20 "$out/train$s.log" "$out/ph$s.log"
        echo "FAIL labelled_spheres: seed $s did not train or analyse"
        exit 1
    fi
done
python3 "$root/experiments/labelled_table.py" "$out/s1" "$out/s2" "$out/s3" > "$out/table.md" || {
    echo "FAIL labelled_spheres: labelled_table.py failed"; exit 1; }
# "- mixing: A ± a vs B ± b: N SDs (ratio of means Rx)"
if awk '
    /^- / { gsub(/[±:,()]/, " "); q = $2 == "mixing" ? "m" : ($2 == "cross-class" ? "c" : "f")
            n = split($0, f, " "); for (i = 1; i <= n; i++) if (f[i] == "vs") { a = f[i - 2]; b = f[i + 1]; sds = f[i + 3] }
            A[q] = a; B[q] = b; S[q] = sds }
    END { ok = A["m"] < B["m"] && S["m"] > 3 && A["c"] < B["c"] && A["f"] < B["f"]; exit ok ? 0 : 1 }' "$out/table.md"; then
    echo "PASS labelled_spheres"
    grep -E "^(Runs|- )" "$out/table.md"
    exit 0
fi
cat "$out/table.md"
echo "FAIL labelled_spheres: the nets do not differ by more than 3 SDs at the last hidden layer"
exit 1
