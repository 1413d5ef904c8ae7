"""report_chromium: `nerve analyze` on a tiny run writes a report that headless
Chromium (Debian's chromium) renders with every figure loaded, and what the page
shows matches the HDF5 data:
- the Betti numbers in the page's table are the bars alive at the scale in the
  stored diagrams (analysis/ph/<model>/epoch_EEEE.h5);
- the number of points drawn in each PCA grid (markers of each colour in the
  inline SVG) is what the stored projections and labels say it must be.
And what the page tells a newcomer (issue 20, item 4):
- it opens with sentences generated from the run: the pair's widths, each net's test
  accuracy and the gap (summary.json), the layer where the linear probes part and
  their accuracies there (probes.csv);
- a Betti chart whose panels are all flat and identical is folded away with a
  sentence saying so (checked on the run as it is and on a copy whose summary.csv
  is made flat), and a partly flat one gets a sentence counting its flat panels;
- the page stays under its size limit: --max-size 300K on this run links or
  previews what does not fit (each link names an existing file) and every figure
  still renders; the default limit is 5 MB (the default run's page, 25 MB before,
  is checked by `make demo`, which prints its size);
- no figure title is clipped: in every SVG under analysis/figures every glyph lies
  inside the figure (the linear model's PCA grid and CKA map titles were cut).
A screenshot is kept in $BUILD/test-logs/report.png."""
import csv
import glob
import html.parser
import json
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
    fig = re.search(r'<figure[^>]*data-source="analysis/figures/pca_grid_%s.(svg|png)"[^>]*>(.*?)</figure>' % model,
                    dom, re.S)
    check(fig is not None, "the PCA grid of %s is on the page" % model)
    if not fig:
        continue
    # inline SVG, or (a large grid) its PNG twin or a preview: then count in the SVG file
    body = fig.group(2) if fig.group(1) == "svg" else \
        open(os.path.join(out, "analysis", "figures", "pca_grid_%s.svg" % model)).read()
    counts = colour_counts(body)
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

# --- the opening sentences, from the run's numbers ----------------------------------
html = open(page).read()
story = re.search(r'<p class="story" data-kind="story">(.*?)</p>', html, re.S)
check(story is not None, "the page opens with the generated sentences")
if story:
    text = re.sub(r"<[^>]+>", "", story.group(1))
    print("story:", text)
    summ = json.load(open(os.path.join(out, "summary.json")))["models"]
    widths = {m: "-".join(str(w) for w in v["widths"]) for m, v in summ.items()}
    check(all(widths[m] in text for m in ("expressive", "bottleneck")), "it names the pair's widths")
    ae, ab = 100 * summ["expressive"]["test_acc"], 100 * summ["bottleneck"]["test_acc"]
    check("%.1f%%" % ae in text and "%.1f%%" % ab in text and "%.1f points" % abs(ae - ab) in text,
          "it says how far apart the nets end (%.1f%%, %.1f%%, %.1f points)" % (ae, ab, abs(ae - ab)))
    probes = list(csv.DictReader(open(os.path.join(out, "analysis", "stats", "probes.csv"))))
    last = max(int(r["epoch"]) for r in probes)
    acc = {(r["model"], r["layer"]): float(r["test_acc"]) for r in probes if int(r["epoch"]) == last}
    m = re.search(r"from (\w+) on: a linear probe reads the class from ([\d.]+)% of the expressive net's \1 but "
                  r"from ([\d.]+)% of the bottlenecked", text)
    if m:
        layer = m.group(1)
        check(abs(float(m.group(2)) - 100 * acc[("expressive", layer)]) < 0.051 and
              abs(float(m.group(3)) - 100 * acc[("bottleneck", layer)]) < 0.051,
              "the probe accuracies it quotes at %s are probes.csv's" % layer)
        layers = [r["layer"] for r in probes if int(r["epoch"]) == last and r["model"] == "expressive"]
        first = next((lyr for lyr in layers if lyr != "input" and
                      acc[("expressive", lyr)] - acc[("bottleneck", lyr)] >= 0.05), None)
        check(first is None or first == layer, "the layer it names is the first where the probes part by 5 points")
    else:
        check("read the class equally well" in text or "difference shows from" in text,
              "it says where (or that nowhere) the probes part")

# --- flat panels folded away ---------------------------------------------------------------
rows = list(csv.DictReader(open(os.path.join(out, "analysis", "ph", "summary.csv"))))
panels = {}
for r in rows:
    if r["split"] == "all" and r["model"] in ("expressive", "bottleneck"):
        panels.setdefault((r["class"], r["dim"], r["model"]), set()).add(r["betti_at_scale"])
flat = sum(len(v) == 1 for v in panels.values())
if flat == len(panels):
    check('data-kind="collapsed"' in html, "this run's all-flat chart is folded away")
elif flat:
    check('data-kind="flat-note"' in html and "%d of the chart's %d panels are flat" % (flat, len(panels)) in html,
          "a partly flat chart gets a sentence counting its %d flat panels" % flat)
else:
    check('data-kind="collapsed"' not in html, "a chart without flat panels is shown as it is")
flatrun = os.path.join(d, "flat")
shutil.copytree(out, flatrun)
fs = os.path.join(flatrun, "analysis", "ph", "summary.csv")
rows = list(csv.DictReader(open(fs)))
with open(fs, "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
    w.writeheader()
    for r in rows:
        r["betti_at_scale"] = "1" if r["dim"] == "0" else "0"
        w.writerow(r)
run(["report", flatrun])
fh = open(os.path.join(flatrun, "analysis", "report.html")).read()
m = re.search(r'<p class="flat" data-kind="collapsed" data-panels="(\d+)">(.*?)</p>\s*<details><summary>the chart anyway'
              r'</summary>\s*<figure class="fig" data-kind="betti-chart"', fh, re.S)
check(m is not None, "an all-flat chart is folded into <details> after a sentence")
if m:
    check("\u03b20 = 1 and \u03b21 = 0" in m.group(2) and "%s panels" % m.group(1) in m.group(2),
          "the sentence gives the constant values and the panel count: " + m.group(2)[:200])
check("do not tell the nets apart" in fh, "and the opening sentences say the Betti numbers do not part the nets")

# --- the size limit: previews and links -----------------------------------------------------
small = os.path.join(d, "small")
shutil.copytree(out, small)
run(["report", small, "--max-size", "300K"])
sp = os.path.join(small, "analysis", "report.html")
sh = open(sp).read()
check(os.path.getsize(sp) <= 300000, "--max-size 300K: the page is %d bytes" % os.path.getsize(sp))
hrefs = re.findall(r'data-linked="yes"[^>]*data-source="([^"]+)"', sh) + \
        re.findall(r'data-preview="yes" data-source="([^"]+)"', sh)
check(len(hrefs) > 0, "--max-size 300K: %d figures are linked or previewed" % len(hrefs))
check(all(os.path.exists(os.path.join(small, h)) for h in hrefs), "every linked figure's file exists")
for h in re.findall(r'href="(figures/[^"]+)"', sh):
    if not os.path.exists(os.path.join(small, "analysis", h)):
        check(False, "link %s resolves from the page" % h)
        break
else:
    check(True, "every link resolves from the page's directory")
page = sp
dom = chrome("--dump-dom").stdout
m = re.search(r'<body[^>]*data-figures="(\d+)"[^>]*data-figures-bad="(\d+)"', dom)
check(m is not None and int(m.group(2)) == 0, "the small page's figures all render")
check(os.path.getsize(os.path.join(out, "analysis", "report.html")) < 5000000, "the default limit: under 5 MB")

# --- no clipped titles: every glyph of every SVG figure inside the figure --------------
def clipped(svg):
    m = re.search(r'<svg[^>]*width="([\d.]+)pt" height="([\d.]+)pt"', svg)
    W, H = float(m.group(1)), float(m.group(2))
    boxes = {}
    for gid, body in re.findall(r'<symbol overflow="visible" id="([^"]+)">(.*?)</symbol>', svg, re.S):
        v = [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?", " ".join(re.findall(r'd="([^"]*)"', body)))]
        if v:
            boxes[gid] = (min(v[0::2]), max(v[0::2]), min(v[1::2]), max(v[1::2]))
    bad = []
    for gid, x, y in re.findall(r'<use xlink:href="#([^"]+)" x="([-\d.]+)" y="([-\d.]+)"', svg):
        if gid in boxes:
            x0, x1, y0, y1 = boxes[gid]
            x, y = float(x), float(y)
            if x + x0 < -0.5 or x + x1 > W + 0.5 or y + y0 < -0.5 or y + y1 > H + 0.5:
                bad.append((round(x, 1), round(y, 1)))
    return bad


svgs = glob.glob(os.path.join(out, "analysis", "figures", "**", "*.svg"), recursive=True)
check(any("pca_grid_linear" in p_ for p_ in svgs) and any("cka_linear" in p_ for p_ in svgs),
      "the linear model's PCA grid and CKA map are among the %d SVG figures" % len(svgs))
for f in svgs:
    bad = clipped(open(f).read())
    check(not bad, "%s: every glyph inside the figure%s" % (os.path.basename(f), "" if not bad else " (outside: %s)" % bad[:4]))
finish()
