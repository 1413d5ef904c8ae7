#!/usr/bin/env python3
"""query_sql.py: each preset equals its documented SQL (docs/queries.md).

docs/queries.md shows, per preset, the SQL that gives the preset's main table, as the
exact output of `nerve query ARGS --show-sql` for the ARGS on the block's first line
(`-- nerve query ARGS --show-sql`), with RUN (RUN1, RUN2) standing for the runs. This
test trains small runs under those very names (RUN: every step recorded, weights
saved at step 0 only; RUN1: the same training saving every step's weights; RUN2:
RUN1 with another train.order_seed), then for every block:
  - `--show-sql` prints the block, character for character;
  - the preset's main table equals the rows of its SQL (`--sql`): the same columns and
    rows, exact (weight-groups: total_grad within rtol 1e-5, the SQL summing the
    contributions in double where the preset replays the trained float sgemm; ranks
    may swap only between weights whose totals are that close), and not empty;
and every table and column of `nerve query --schema` is named on the page.
"""
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
try:
    import numpy as np  # noqa: F401  (querylib needs it)
except ImportError as e:  # pragma: no cover
    print(f"SKIP: numpy not importable ({e}); run under /usr/bin/python3")
    sys.exit(77)
import json  # noqa: E402

from querylib import NERVE, check, finish, train  # noqa: E402

ROOT = os.environ.get("NERVE_ROOT", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
doc = open(os.path.join(ROOT, "docs", "queries.md"), encoding="utf-8").read()
blocks = re.findall(r"```sql\n-- nerve query (.*?) --show-sql\n(.*?)```", doc, re.S)
check(f"docs/queries.md has SQL blocks for every preset ({len(blocks)} blocks)",
      {a.split("--preset ")[1].split()[0] for a, _ in blocks} >=
      {"top-samples", "weight-groups", "compare-runs", "pre-explosion", "weight-to-zero"})

tmp = tempfile.mkdtemp(prefix="nerve-qsql-")
train(tmp, "RUN", wevery=1000)
train(tmp, "RUN1", wevery=1)
train(tmp, "RUN2", wevery=1, order_seed=9)


def nq(args, fmt=None):
    cmd = [NERVE, "query"] + args + (["--format", fmt] if fmt else [])
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp)
    if p.returncode != 0:
        print("command:", " ".join(cmd), "\n", p.stderr[-2000:])
        raise SystemExit(f"nerve query exited {p.returncode}")
    return p.stdout


for args, text in blocks:
    a = args.split()
    name = a[a.index("--preset") + 1]
    shown = nq(a + ["--show-sql"])
    check(f"{args}: --show-sql prints the documented SQL", shown == text,
          f"\n--- printed:\n{shown}--- documented:\n{text}")
    pre = json.loads(nq(a, "json"))
    main = next(iter(pre["tables"].values()))
    via = json.loads(nq(a + ["--sql"], "json"))
    check(f"{args}: the preset answers something ({len(main)} rows)", len(main) > 0)
    if name != "weight-groups":
        check(f"{args}: the preset's main table = its SQL's rows ({len(via)})", main == via,
              f"\npreset: {main[:3]}\nsql:    {via[:3]}")
        continue
    cols = [c for c in via[0]] if via else []
    check(f"{args}: the SQL gives the ranking's columns", cols == ["rank", "layer", "row", "col", "total_grad", "total_change"])
    key = lambda r: (r["layer"], r["row"], r["col"])  # noqa: E731
    ok = len(main) == len(via)
    for p_, s_ in zip(main, via):
        if key(p_) != key(s_):  # a swap is allowed only between near-equal totals
            ok &= abs(p_["total_grad"] - s_["total_grad"]) <= 1e-5 * abs(s_["total_grad"])
            continue
        ok &= abs(p_["total_grad"] - s_["total_grad"]) <= 1e-5 * abs(s_["total_grad"]) + 1e-12
        ok &= p_["total_change"] == s_["total_change"] and p_["rank"] == s_["rank"]
    check(f"{args}: the ranking = its SQL's (total_grad within rtol 1e-5, total_change exact)", ok)

schema = json.loads(subprocess.run([NERVE, "query", "--schema", "--format", "json"], capture_output=True,
                                   text=True).stdout)["tables"]["schema"]
missing = [f"{r['table']}.{r['column']}" for r in schema
           if f"`{r['table']}`" not in doc or r["column"] not in doc]
check(f"docs/queries.md names every table and column of --schema ({len(schema)})", not missing, str(missing))
finish()
