#!/usr/bin/env python3
"""labelled_table.py: the labelled kNN filtration of several seeds of one experiment
side by side (docs/topology.md), from runs analysed with `nerve ph RUN`
(analysis/ph/labelled.csv).

    labelled_table.py RUN [RUN ...] [--layer L] [--out FILE.md]

For each net (expressive, bottleneck), epoch and layer: mean and sample standard
deviation over the runs of the topological reading (mixing) and of its two
geometric baselines (cross-class share of the kNN edges at k = k_max, and the
Friedman-Rafsky share of the spanning tree). Then the acceptance figure of
docs/topology.md: at the last epoch and the last hidden layer (or --layer), the
difference between the nets' means divided by the larger of their standard
deviations. Standard library only."""
import csv
import math
import os
import sys

QUANT = [("mixing", "mixing"), ("cross_share", "cross-class kNN edges"), ("mst_cross", "Friedman-Rafsky")]


def mean_sd(v):
    m = sum(v) / len(v)
    sd = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else 0.0
    return m, sd


def main():
    args = sys.argv[1:]
    out = layer = None
    if "--out" in args:
        i = args.index("--out")
        out = args[i + 1]
        del args[i:i + 2]
    if "--layer" in args:
        i = args.index("--layer")
        layer = args[i + 1]
        del args[i:i + 2]
    if not args:
        sys.exit(__doc__)
    data = {}  # (model, epoch, layer, quantity) -> [value per run]
    layers = {}
    for run in args:
        path = os.path.join(run, "analysis", "ph", "labelled.csv")
        if not os.path.exists(path):
            sys.stderr.write("labelled_table.py: %s: no labelled reading (run nerve ph %s first)\n" % (path, run))
            sys.exit(2)
        for r in csv.DictReader(open(path)):
            layers.setdefault(r["model"], [])
            if r["layer"] not in layers[r["model"]]:
                layers[r["model"]].append(r["layer"])
            for q, _ in QUANT:
                data.setdefault((r["model"], int(r["epoch"]), r["layer"], q), []).append(float(r[q]))
    epochs = sorted({k[1] for k in data})
    lines = ["| net | epoch | layer | " + " | ".join(n for _, n in QUANT) + " |", "|---|---|---|---|---|---|"]
    for model in ("expressive", "bottleneck"):
        for e in epochs:
            for lay in layers.get(model, []):
                cells = []
                for q, _ in QUANT:
                    v = data.get((model, e, lay, q))
                    cells.append("%.3f ± %.3f" % mean_sd(v) if v else "")
                lines.append("| %s | %d | %s | %s |" % (model, e, lay, " | ".join(cells)))
    last = epochs[-1]
    lay = layer or [l for l in layers["expressive"] if l.startswith("hidden")][-1]
    lines.append("")
    lines.append("Runs: %d. Epoch %d, layer %s, expressive vs bottleneck, |difference| / larger SD:" %
                 (len(args), last, lay))
    for q, name in QUANT:
        a = mean_sd(data[("expressive", last, lay, q)])
        b = mean_sd(data[("bottleneck", last, lay, q)])
        sd = max(a[1], b[1])
        lines.append("- %s: %.3f ± %.3f vs %.3f ± %.3f: %.1f SDs (ratio of means %.1fx)" %
                     (name, a[0], a[1], b[0], b[1], abs(a[0] - b[0]) / sd if sd > 0 else float("inf"),
                      max(a[0], b[0]) / min(a[0], b[0]) if min(a[0], b[0]) > 0 else float("inf")))
    text = "\n".join(lines) + "\n"
    if out:
        with open(out, "w") as f:
            f.write(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
