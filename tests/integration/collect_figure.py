"""collect_figure: `nerve collect`'s figure draws what its caption promises (issue 20,
item 4): per model and configuration the mean test accuracy over seeds with an error
bar of one standard deviation, at the values of results.csv, and its legend off the
points (in a strip under the panel). Read from collect/results.svg, the SVG twin of
results.png: cairo writes each bar set as one stroked path (a bar and two caps per
configuration) in the model's colour, and each marker as a filled path."""
import csv
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))

from nervetest import check, finish, run, tmpdir, write  # noqa: E402

d = tmpdir("collect")
cfg = write(os.path.join(d, "s.cfg"), """experiment = "c";
data: { spheres: { dim = 4; points_per_class = 40; }; };
models: { hidden = [8, 8]; bottleneck_width = 2; activation = ["relu", "tanh"]; };
train: { epochs = 3; batch_size = 16; lr = 0.01; };
snapshots: { epochs = [3]; };
seeds = [1, 2, 3];
""")
sw = os.path.join(d, "sw")
run(["sweep", cfg, "--out", sw, "--run", "--jobs", "2"])
run(["collect", sw, "--quiet"])
svg_path = os.path.join(sw, "collect", "results.svg")
check(os.path.exists(svg_path), "collect writes results.svg beside results.png")
svg = open(svg_path).read()
rows = list(csv.DictReader(open(os.path.join(sw, "collect", "results.csv"))))
models = ["expressive", "bottleneck", "linear"]
PALETTE = {"expressive": "0%,44.705882%,69.803922%", "bottleneck": "83.529412%,36.862745%,0%",
           "linear": "0%,61.960784%,45.098039%"}


def nums(d):
    return [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", d)]


data_y, legend_y = [], []
for model in models:
    col = PALETTE[model]
    bars = [d_ for st, d_ in re.findall(r'<path style="([^"]*stroke-width:1;[^"]*stroke:rgb\(%s\)[^"]*)" d="([^"]*)"' % re.escape(col), svg)]
    check(len(bars) == 1, "%s: one error-bar path (found %d)" % (model, len(bars)))
    if not bars:
        continue
    segs = re.findall(r"M ([-\d.]+) ([-\d.]+) L ([-\d.]+) ([-\d.]+)", bars[0])
    check(len(segs) == 3 * len(rows), "%s: a bar and two caps per configuration (%d segments)" % (model, len(segs)))
    # each marker's bounding-box centre (circle, square or triangle alike in x)
    centres = []
    for dd in re.findall(r'<path style=" stroke:none;fill-rule:nonzero;fill:rgb\(%s\);[^"]*" d="([^"]*)"' % re.escape(col), svg):
        v = nums(dd)
        xs_, ys_ = v[0::2], v[1::2]
        centres.append(((min(xs_) + max(xs_)) / 2, (min(ys_) + max(ys_)) / 2))
    centres.sort(key=lambda c: c[1])
    # the legend's sample marker is the lowest on the page (largest y)
    legend_y.append(centres[-1][1])
    marker_xy = centres[:-1]
    marker_y = [c[1] for c in marker_xy]
    check(len(marker_y) == len(rows), "%s: a marker per configuration (%d)" % (model, len(marker_y)))
    # Bars: y = a + b * value. Fit a, b from the bar ends (mean - sd, mean + sd) of
    # results.csv and check every end, and that each marker sits at a + b * mean.
    ends, vals = [], []
    for k, r in enumerate(rows):
        x0, y0, x1, y1 = map(float, segs[3 * k])
        mean, sd = float(r["%s_test_acc_mean" % model]), float(r["%s_test_acc_std" % model])
        ends += [max(y0, y1), min(y0, y1)]
        vals += [mean - sd, mean + sd]
        data_y += [y0, y1]
    if len(set(vals)) > 1:
        n = len(vals)
        mx, my = sum(vals) / n, sum(ends) / n
        b = sum((v - mx) * (e - my) for v, e in zip(vals, ends)) / sum((v - mx) ** 2 for v in vals)
        a = my - b * mx
        worst = max(abs(a + b * v - e) for v, e in zip(vals, ends))
        check(b < 0 and worst < 0.05, "%s: every bar spans mean +- sd of results.csv (worst %.3f pt)" % (model, worst))
    # every marker sits on a bar of its colour (same x, between the caps)
    on = 0
    for cx, cy in marker_xy:
        on += any(abs(float(sg[0]) - cx) < 0.05 and min(float(sg[1]), float(sg[3])) - 0.05 <= cy <=
                  max(float(sg[1]), float(sg[3])) + 0.05 for sg in segs[0::3])
    check(on == len(marker_xy), "%s: every marker sits on its error bar (%d of %d)" % (model, on, len(marker_xy)))
    data_y += marker_y
check(legend_y and data_y and min(legend_y) > max(data_y) + 10,
      "the legend is below every point and bar (legend y %.1f, lowest data y %.1f)"
      % (min(legend_y) if legend_y else -1, max(data_y) if data_y else -1))
finish()
