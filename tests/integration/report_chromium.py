"""report_chromium: `nerve analyze` on a tiny run writes a report that headless
Chromium (Debian's chromium) renders with every figure loaded, and what the page
shows matches the HDF5 data:
- the Betti numbers in the page's table are the bars alive at the scale in the
  stored diagrams (analysis/ph/<model>/epoch_EEEE.h5);
- the number of points drawn in each PCA grid (markers of each colour in the
  inline SVG) is what the stored projections and labels say it must be.
A screenshot is kept in $BUILD/test-logs/report.png."""
import csv
import html.parser
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import h5py  # noqa: E402
import numpy as np  # noqa: E402

from nervetest import BUILD, ROOT, check, finish, run, tmpdir, write  # noqa: E402

chromium = shutil.which("chromium")
if not chromium:
    print("FAIL: chromium is not installed (scripts/deps.sh --test installs it)")
    sys.exit(1)

d = tmpdir("report")
cfg = write(os.path.join(d, "r.cfg"), """experiment = "report";
data: { spheres: { dim = 8; points_per_class = 150; }; };
models: { hidden = [16, 16]; bottleneck_width = 2; };
train: { epochs = 3; batch_size = 32; lr = 0.01; };
snapshots: { epochs = [0, 1, 3]; };
""")
out = os.path.join(d, "run")
run(["train", cfg, "--out", out])
rc, so, se = run(["analyze", out, "--threads", "2"])
page = os.path.join(out, "analysis", "report.html")
check(os.path.exists(page), "analyze wrote the report")


def chrome(*args):
    prof = os.path.join(d, "chrome-profile")
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--user-data-dir=" + prof, "--window-size=1200,3000", "--virtual-time-budget=5000"]
    return subprocess.run(cmd + list(args) + ["file://" + page], capture_output=True, text=True, timeout=120)


dom = chrome("--dump-dom").stdout
m = re.search(r'<body[^>]*data-figures="(\d+)"[^>]*data-figures-bad="(\d+)"', dom)
check(m is not None, "the page's script ran (body carries the figure counts)")
if m:
    check(int(m.group(1)) >= 8, "%s figures on the page" % m.group(1))
    check(int(m.group(2)) == 0, "every figure loaded (%s not)" % m.group(2))
check('data-loaded="no"' not in dom, "no image or SVG failed to render")

shot = os.path.join(ROOT, BUILD, "test-logs", "report.png")
os.makedirs(os.path.dirname(shot), exist_ok=True)
chrome("--screenshot=" + shot)
check(os.path.exists(shot) and os.path.getsize(shot) > 10000, "screenshot kept: " + shot)


# --- the Betti numbers the page shows = bars alive at the scale in the diagrams ------
class Tables(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tables, self.cur, self.row, self.cell = {}, None, None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and "data-kind" in a:
            self.cur = self.tables.setdefault(a["data-kind"], [])
        elif tag == "tr" and self.cur is not None:
            self.row = []
        elif tag in ("td", "th") and self.row is not None:
            self.cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.row.append(self.cell)
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.cur.append(self.row)
            self.row = None
        elif tag == "table":
            self.cur = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


t = Tables()
t.feed(dom)
rows = t.tables.get("ph-summary", [])
check(len(rows) > 10, "the page has the Betti-number table (%d rows)" % len(rows))
hdr = rows[0] if rows else []
bad = 0
for r in rows[1:]:
    rec = dict(zip(hdr, r))
    path = os.path.join(out, "analysis", "ph", rec["model"], "epoch_%04d.h5" % int(rec["epoch"]))
    with h5py.File(path, "r") as f:
        setname = "all" if rec["class"] == "all" else "class_" + rec["class"]
        g = f[rec["layer"]][rec["split"]][setname]
        dim, birth, death = g["dim"][...], g["birth"][...], g["death"][...]
        scale = float(g.attrs["scale"])
        alive = int(np.sum((dim == int(rec["dim"])) & (birth <= scale) & (scale < death)))
    if alive != int(rec["betti_at_scale"]):
        bad += 1
        print("mismatch:", rec, "stored diagram has", alive)
check(bad == 0, "every Betti number on the page equals the bars alive at the scale (%d rows)" % (len(rows) - 1))

# --- PCA points drawn = points stored --------------------------------------------------
PALETTE = [(0, 114, 178), (213, 94, 0)]  # Okabe-Ito blue, vermillion (classes 0, 1)


def colour_counts(svg):
    counts = {}
    for m in re.finditer(r'fill:rgb\(([\d.]+)%,([\d.]+)%,([\d.]+)%\)', svg):
        key = tuple(round(float(v) * 2.55) for v in m.groups())
        counts[key] = counts.get(key, 0) + 1
    return counts


def near(c, ref):
    return all(abs(a - b) <= 2 for a, b in zip(c, ref))


for model in ("expressive", "bottleneck"):
    fig = re.search(r'<figure[^>]*data-source="analysis/figures/pca_grid_%s.svg"[^>]*>(.*?)</figure>' % model,
                    dom, re.S)
    check(fig is not None, "the PCA grid of %s is on the page" % model)
    if not fig:
        continue
    counts = colour_counts(fig.group(1))
    expected = {}
    for e in (0, 1, 3):
        with h5py.File(os.path.join(out, "snapshots", model, "epoch_%04d.h5" % e), "r") as s, \
             h5py.File(os.path.join(out, "analysis", "pca", model, "epoch_%04d.h5" % e), "r") as p:
            for layer in p["layers"]:
                for split in ("train", "test"):
                    n = p["layers"][layer]["projections"][split].shape[0]
                    mpts = min(250, n)
                    idx = (np.arange(mpts, dtype=np.int64) * n) // mpts
                    lab = s["labels"][split][...][idx]
                    for c in (0, 1):
                        expected[(c, split)] = expected.get((c, split), 0) + int(np.sum(lab == c))
    for c in (0, 1):
        for split in ("train", "test"):
            ref = PALETTE[c] if split == "train" else tuple(int(v * 0.55) for v in PALETTE[c])
            got = sum(v for k, v in counts.items() if near(k, ref))
            want = expected[(c, split)]
            # + at most one legend marker per series
            check(want <= got <= want + 1, "%s: class %d %s points drawn %d, stored %d" % (model, c, split, got, want))
finish()
