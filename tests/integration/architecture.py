#!/usr/bin/env python3
"""architecture.py: the layout rules of docs/DESIGN.md, checked on the built objects
and the sources, so that a change which breaks them fails `make test`:

  1. No two object files of the library depend on each other in a circle (from the
     symbols each defines and uses, `nm`), and every dependency points down the
     stages: core <- store <- datasets <- train <- dynamics <- analysis <- query, sweep <- serve <- cli; inside
     analysis: metric, geometry, features <- ph <- plot <- runs.
  2. No function body tests NERVE_CUDA: the device layer (include/nerve/device.h)
     decides where code runs, at run time.
  3. Every CUDA file shares its CPU twin's stem (cuda/pca.cu <-> .../pca.c), and no
     kernel uses a warp vote (__ballot_sync, __all_sync, __any_sync, __activemask):
     they are silently wrong under the CUDA-on-CPU toolchain that tests the kernels.
  4. Nothing in the tree points outside the repository at ../shared/.
  5. Every source folder appears in docs/DESIGN.md's map.
Exit 0 pass, 1 fail (each violation printed)."""
import os
import re
import subprocess
import sys

ROOT = os.environ.get("NERVE_ROOT", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BUILD = os.environ.get("BUILD", "build")
OBJ = os.path.join(ROOT, BUILD, "obj") if not os.path.isabs(BUILD) else os.path.join(BUILD, "obj")

# (folder prefix, rank): lower ranks may not use higher ones.
LAYERS = [("src/core", 0), ("src/store", 1), ("datasets", 2), ("src/train", 3), ("src/dynamics", 4),
          ("analysis/metric", 5), ("analysis/geometry", 5), ("analysis/features", 5),
          ("analysis/ph", 6), ("analysis/plot", 7), ("analysis/runs", 8),
          ("src/query", 9), ("src/sweep", 9), ("src/serve", 10), ("src/cli", 11)]

problems = []


def layer_of(rel):
    best = None
    for prefix, rank in LAYERS:
        if rel.startswith(prefix + "/") and (best is None or len(prefix) > len(best[0])):
            best = (prefix, rank)
    return best


def symbols(path):
    out = subprocess.run(["nm", path], capture_output=True, text=True, check=True).stdout
    defined, used = set(), set()
    for line in out.splitlines():
        f = line.split()
        if len(f) == 3 and f[1] in "TDBRVWC":
            defined.add(f[2])
        elif len(f) == 2 and f[0] == "U":
            used.add(f[1])
    return defined, used


def check_objects():
    objs = {}
    for top in ("src", "analysis", "datasets"):
        for dirpath, _, files in os.walk(os.path.join(OBJ, top)):
            for f in files:
                if f.endswith(".o"):
                    p = os.path.join(dirpath, f)
                    objs[os.path.relpath(p, OBJ)[:-2] + ".c"] = symbols(p)
    if len(objs) < 20:
        problems.append(f"only {len(objs)} object files under {OBJ}: build first (make)")
        return
    owner = {s: o for o, (d, _) in objs.items() for s in d}
    graph = {o: sorted({owner[s] for s in u if s in owner and owner[s] != o}) for o, (_, u) in objs.items()}
    for o, deps in graph.items():
        lo = layer_of(o)
        if lo is None:
            problems.append(f"{o}: in no stage folder of docs/DESIGN.md")
            continue
        for d in deps:
            ld = layer_of(d)
            if ld and ld[1] > lo[1]:
                used = sorted(s for s in objs[o][1] if owner.get(s) == d)
                problems.append(f"{o} ({lo[0]}) uses {d} ({ld[0]}), a later stage: {', '.join(used[:4])}")
    # circles: Tarjan's strongly connected components
    index, low, stack, on, comps, n = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    for c in comps:
        problems.append("dependency circle: " + " <-> ".join(c))
    print(f"objects: {len(objs)} checked, {sum(len(d) for d in graph.values())} dependencies")


def sources(exts, tops=("src", "analysis", "datasets", "cuda", "include", "tests", "bench")):
    for top in tops:
        for dirpath, _, files in os.walk(os.path.join(ROOT, top)):
            for f in files:
                if f.endswith(exts):
                    yield os.path.join(dirpath, f)


def code_lines(path):
    """(line number, text) of a C file with comments and string literals blanked,
    so braces and #if lines are seen only where the compiler sees them."""
    text = open(path, encoding="utf-8").read()
    out, i, n = [], 0, len(text)
    while i < n:
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("".join(c if c == "\n" else " " for c in text[i:j]))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text[i] in "\"'":
            q, j = text[i], i + 1
            while j < n and text[j] != q and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            out.append(q + " " * (j - i - 1) + (q if j < n else ""))
            i = j + 1
        else:
            out.append(text[i])
            i += 1
    return list(enumerate("".join(out).split("\n"), 1))


def check_ifdef():
    # Brace depth > 0 means inside a function (or a struct); the extern "C" wrapper
    # of headers does not count. Any #if naming NERVE_CUDA there is a device choice
    # made in the wrong place.
    for p in sources((".c", ".cu", ".h", ".cuh"), ("src", "analysis", "datasets", "cuda", "include")):
        depth, cplusplus = 0, False
        for i, line in code_lines(p):
            s = line.strip()
            if s.startswith("#"):
                if re.match(r"#\s*ifdef\s+__cplusplus", s):
                    cplusplus = True
                elif re.match(r"#\s*endif", s):
                    cplusplus = False
                if depth > 0 and re.match(r"#\s*(if|ifdef|ifndef|elif)\b.*\bNERVE_CUDA\b", s):
                    problems.append(f"{os.path.relpath(p, ROOT)}:{i}: #if on NERVE_CUDA inside a function "
                                    "(use the device layer, include/nerve/device.h)")
                continue
            if cplusplus:
                continue  # extern "C" { ... } of a header
            depth += line.count("{") - line.count("}")


def check_cuda():
    stems = {}
    for p in sources((".c",), ("src", "analysis", "datasets")):
        stems.setdefault(os.path.basename(p)[:-2], []).append(p)
    for p in sources((".cu",), ("cuda",)):
        stem = os.path.basename(p)[:-3]
        if stem not in stems and not stem.startswith("devlib"):
            problems.append(f"{os.path.relpath(p, ROOT)}: no CPU twin {stem}.c (each CUDA file shares its CPU twin's stem)")
        text = open(p, encoding="utf-8").read()
        text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
        text = re.sub(r"//[^\n]*", "", text)
        for vote in ("__ballot_sync", "__ballot", "__all_sync", "__any_sync", "__all(", "__any(",
                     "__activemask", "__match_any_sync", "__match_all_sync"):
            if vote in text:
                problems.append(f"{os.path.relpath(p, ROOT)}: warp vote {vote.rstrip('(')} (silently wrong "
                                "under the CUDA-on-CPU toolchain; use shared memory and atomics)")


def check_shared():
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    for f in files:
        if f.startswith(".ci/") or f.endswith((".png", ".gz", ".h5")) or f.endswith("architecture.py"):
            continue  # CI names the CI machine's toolchain sources; see .ci/run
        try:
            text = open(os.path.join(ROOT, f), encoding="utf-8").read()
        except (UnicodeDecodeError, FileNotFoundError):
            continue
        if "../shared/" in text:
            problems.append(f"{f}: refers to ../shared/, outside the repository (docs/CONTRACTS.md holds the contracts)")


def check_design_map():
    design = open(os.path.join(ROOT, "docs", "DESIGN.md"), encoding="utf-8").read()
    folders = set()
    for top in ("src", "analysis", "cuda", "datasets"):
        for dirpath, _, files in os.walk(os.path.join(ROOT, top)):
            if any(f.endswith((".c", ".cu", ".h")) for f in files):
                folders.add(os.path.relpath(dirpath, ROOT))
    for f in sorted(folders):
        if f"`{f}/`" not in design:
            problems.append(f"docs/DESIGN.md: the map does not list `{f}/`")


check_objects()
check_ifdef()
check_cuda()
check_shared()
check_design_map()
for p in problems:
    print("FAIL:", p)
print(f"architecture: {len(problems)} problem(s)")
sys.exit(1 if problems else 0)
