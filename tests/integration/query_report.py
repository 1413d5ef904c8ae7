#!/usr/bin/env python3
"""query_report.py: the report's Queries section (docs/queries.md, "In the report").

`nerve report RUN --compare RUN2` on a small recorded run (and a twin with another
train.order_seed) writes the presets' answers under RUN/analysis/queries/ with
index.json; each listed table must be exactly what its listed command prints (the
command is run again with --format csv and the file must appear in its output
verbatim), every preset must be there, and report.html must show each table
(data-kind="query-<preset>", its first row). A run without a dynamics record gets no
query files and a line saying so. Queries leave the run's other files alone.
"""
import html
import json
import os
import shlex
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
try:
    import numpy as np  # noqa: F401
except ImportError as e:  # pragma: no cover
    print(f"SKIP: numpy not importable ({e}); run under /usr/bin/python3")
    sys.exit(77)
from querylib import NERVE, check, finish, train  # noqa: E402

tmp = tempfile.mkdtemp(prefix="nerve-qrep-")
run = train(tmp, "run", wevery=8)
other = train(tmp, "other", wevery=8, order_seed=11)
p = subprocess.run([NERVE, "report", run, "--compare", other], capture_output=True, text=True)
check("nerve report RUN --compare RUN2", p.returncode == 0, p.stderr[-1000:])
idx = json.load(open(os.path.join(run, "analysis", "queries", "index.json")))
check("index.json: format", idx["format"] == "nerve-query-report" and idx["format_version"] == 1)
presets = {t["preset"] for t in idx["tables"] if t["file"] and t["rows"] > 0}
check(f"the presets answered ({sorted(presets)}; pre-explosion finds no event in this calm run)",
      presets == {"top-samples", "weight-groups", "compare-runs", "weight-to-zero"})
check("pre-explosion: listed, with a note", any(t["preset"] == "pre-explosion" and "no recorded step" in t["note"]
                                               for t in idx["tables"]))
page = open(os.path.join(run, "analysis", "report.html")).read()
check("report.html has the Queries section", 'id="queries"' in page)
for t in idx["tables"]:
    if not t["file"]:
        continue
    text = open(os.path.join(run, "analysis", "queries", t["file"])).read()
    cmd = shlex.split(t["command"])
    check(f"{t['file']}: its command is nerve query", cmd[:2] == ["nerve", "query"])
    out = subprocess.run([NERVE] + cmd[1:] + ["--format", "csv"], capture_output=True, text=True).stdout
    check(f"{t['file']} ({t['rows']} rows) = what `{t['command']}` prints", text in out)
    check(f"{t['file']}: shown in the report", f'data-kind="query-{t["preset"]}" data-source="analysis/queries/{t["file"]}"'
          in page)
    if t["rows"] > 0:
        first = text.splitlines()[1].split(",")[0]
        check(f"{t['file']}: its first row is on the page", f"<td>{html.escape(first)}</td>" in page)

plain = os.path.join(tmp, "plain")
cfg = os.path.join(tmp, "plain.cfg")
with open(cfg, "w") as f:
    f.write('experiment = "plain";\ndata: { spheres: { dim = 6; points_per_class = 60; }; };\n'
            'models: { hidden = [8]; bottleneck_width = 2; linear_baseline = false; };\n'
            'train: { epochs = 1; batch_size = 32; };\nsnapshots: { epochs = [1]; layers = ["logits"]; };\n')
subprocess.run([NERVE, "train", cfg, "--out", plain], capture_output=True)
p = subprocess.run([NERVE, "report", plain], capture_output=True, text=True)
check("nerve report on a run without a dynamics record", p.returncode == 0, p.stderr[-500:])
check("no query files for it", not os.path.exists(os.path.join(plain, "analysis", "queries")))
check("its page says there is no record to query",
      "No training-dynamics record to query" in open(os.path.join(plain, "analysis", "report.html")).read())
finish()
