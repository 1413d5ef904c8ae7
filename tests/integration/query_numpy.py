#!/usr/bin/env python3
"""query_numpy.py: `nerve query`'s tables and presets against numpy over the raw store
read with h5py (the oracle; docs/queries.md, docs/CONTRACTS.md).

Runs: `sparse` records every tier at every step but saves the weights only at step 0,
so every other step's weights are replayed; `dense` is the same training (same config
and seed) saving the weights after every step, the ground truth for the replay;
`other` is `dense` with another train.order_seed (compare-runs). The nets are small
(6-16-12-2, 240 samples, 8 steps of 32 per epoch and a last batch of 16) and the
chunks are cut inside epochs (chunk_steps = 5), so reads cross chunk files.

Checks (tolerances next to each):
  tables   steps, layers (alarm_fraction = max of the two alarms), neurons (top_rank),
           samples (grad_norm = the norm over layers), data: equal to the stored values
           (exact: float32 -> double); contributions = d_i[row] a_i[col] (the bias:
           d_i[row]) in float64, exact, under several constraint shapes (a step, a
           sample, an epoch with index and range constraints, a join);
           weights: saved states exact; replayed steps (the whole model, or one weight
           alone) equal `dense`'s saved weights bit for bit (the training backend's
           own sgemm); a float64 numpy Adam replay agrees within atol 1e-5
  presets  top-samples (whole layer and one weight, by |sum|, sum and -sum) equal to
           numpy's per-sample outer products ranked (exact values, same order);
           pre-explosion (event step and layer, last k samples) equal; weight-to-zero
           (event step, the k samples, their pushes) equal to numpy on `dense`'s saved
           trajectory; weight-groups' totals within rtol 1e-5 of float64 sums, the
           changes exact, the groups equal to a numpy k-means of the same rule on >= 99%
           of the weights; compare-runs' loss, accuracy and first step exact, weight
           distances within rtol 1e-6, CKA within atol 1e-4 of a float64 forward pass.
"""
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
try:
    import h5py
    import numpy as np
except ImportError as e:  # pragma: no cover
    print(f"SKIP: numpy/h5py not importable ({e}); run under /usr/bin/python3")
    sys.exit(77)
from querylib import check, close, columns, finish, flat_index, layer_names, params_of, query, train  # noqa: E402

tmp = tempfile.mkdtemp(prefix="nerve-qnp-")
sparse = train(tmp, "sparse", wevery=1000)
dense = train(tmp, "dense", wevery=1)
other = train(tmp, "other", wevery=1, order_seed=9)
f = h5py.File(os.path.join(sparse, "dynamics", "expressive.h5"), "r")
fd = h5py.File(os.path.join(dense, "dynamics", "expressive.h5"), "r")
L = layer_names(f)
widths = [int(w) for w in f.attrs["widths"]]
spe = int(f.attrs["steps_per_epoch"])
last = int(f.attrs["last_step"])
M = "model = 'expressive'"

# --- steps ---------------------------------------------------------------------------
rows = query([sparse, f"SELECT * FROM steps WHERE {M} ORDER BY step"])
for c in ("step", "epoch", "batch_size", "loss", "accuracy", "lr"):
    close(f"steps.{c}", columns(rows, c)[0], f["steps/" + c][:], 0, 0)

# --- layers ---------------------------------------------------------------------------
rows = query([sparse, f"SELECT * FROM layers WHERE {M} ORDER BY step, layer_index"])
n = f["steps/step"].shape[0]
check("layers: one row per step and layer", len(rows) == n * len(L))
check("layers: names", [r["layer"] for r in rows[:len(L)]] == L)
for c in ("weight_norm", "grad_norm", "update_norm", "update_ratio", "init_distance", "alarm_abs", "alarm_rel",
          "alarm_rel_threshold", "nonfinite_grad", "nonfinite_weight", "dead_frac"):
    close(f"layers.{c}", columns(rows, c)[0].reshape(n, len(L)), f["steps/" + c][:], 0, 0)
af = np.fmax(f["steps/alarm_abs"][:], f["steps/alarm_rel"][:]).astype(np.float64)
close("layers.alarm_fraction = max(alarm_abs, alarm_rel)", columns(rows, "alarm_fraction")[0].reshape(n, len(L)), af, 0, 0)

# --- neurons --------------------------------------------------------------------------
rows = query([sparse, f"SELECT * FROM neurons WHERE {M} AND step BETWEEN 3 AND 5 ORDER BY step, layer_index, unit"])
o = 0
for k, name in enumerate(L):
    w = widths[k + 1]
    sel = [r for r in rows if r["layer"] == name]
    check(f"neurons {name}: rows", len(sel) == 3 * w)
    for c, ds in (("activation", "mean_act"), ("frac_active", "frac_active"), ("mean_abs_delta", "mean_abs_delta"),
                  ("grad_norm", "grad_norm"), ("update_norm", "update_norm"), ("influence", "influence")):
        close(f"neurons.{c} {name}", columns(sel, c)[0].reshape(3, w), f[f"neurons/{name}/{ds}"][2:5], 0, 0)
    top = f[f"neurons/{name}/top_k"][2:5]
    ref = np.full((3, w), np.nan)
    for s in range(3):
        for j, u in enumerate(top[s]):
            ref[s, u] = j + 1
    close(f"neurons.top_rank {name}", columns(sel, "top_rank")[0].reshape(3, w), ref, 0, 0)

# --- samples ---------------------------------------------------------------------------
rows = query([sparse, f"SELECT * FROM samples WHERE {M} ORDER BY step, position"])
for c in ("step", "sample_id", "position", "label", "loss", "correct"):
    close(f"samples.{c}", columns(rows, c)[0], f["samples/" + c][:], 0, 0)
gn = f["samples/grad_norm"][:].astype(np.float64)
for k, name in enumerate(L):
    close(f"samples.grad_norm_{name}", columns(rows, "grad_norm_" + name)[0], gn[:, k], 0, 0)
close("samples.grad_norm (all layers)", columns(rows, "grad_norm")[0], np.sqrt((gn ** 2).sum(1)), 0, 1e-15)

# --- contributions ----------------------------------------------------------------------
fstep = f["factors/step"][:]
fid = f["factors/sample_id"][:]


def factor_rows(step):
    return np.flatnonzero(fstep == step)


FA = [f[f"factors/{name}/a"][:].astype(np.float64) for name in L]
FD = [f[f"factors/{name}/d"][:].astype(np.float64) for name in L]


def contrib(k, rowsel):
    a = FA[k][rowsel]
    d = FD[k][rowsel]
    return np.concatenate([np.einsum("bi,bj->bij", d, a), d[:, :, None]], axis=2)  # (b, out, in + 1)


r7 = factor_rows(7)
rows = query([sparse, f"SELECT * FROM contributions WHERE {M} AND step = 7 AND layer = 'hidden2' ORDER BY position, row, col"])
ref = contrib(1, r7)
check("contributions step 7 hidden2: rows", len(rows) == ref.size)
close("contributions step 7 hidden2: d_i[row] a_i[col] (bias: d_i[row]), exact", columns(rows, "value")[0], ref.ravel(), 0, 0)
close("contributions: sample ids in batch order", columns(rows, "sample_id")[0][::ref.shape[1] * ref.shape[2]], fid[r7], 0, 0)
close("contributions: batch_size", columns(rows[:1], "batch_size")[0], [len(r7)], 0, 0)

sid = int(fid[r7[3]])
rows = query([sparse, f"SELECT step, position, value FROM contributions WHERE {M} AND sample_id = {sid} AND layer = 'logits' "
                      "AND row = 1 AND col = 3 ORDER BY step"])
where = np.flatnonzero(fid == sid)
check(f"contributions sample {sid}: one row per step it was fed ({len(where)})", len(rows) == len(where))
a = FA[2][where, 3]
d = FD[2][where, 1]
close("contributions sample: values", columns(rows, "value")[0], d * a, 0, 0)
close("contributions sample: steps", columns(rows, "step")[0], fstep[where], 0, 0)

rows = query([sparse, f"SELECT step, position, row, col, value FROM contributions WHERE {M} AND epoch = 2 AND layer_index = 0 "
                      "AND row BETWEEN 2 AND 3 AND col >= 5 ORDER BY step, position, row, col"])
re2 = np.flatnonzero((fstep > spe) & (fstep <= 2 * spe))
ref = contrib(0, re2)[:, 2:4, 5:]
check("contributions epoch 2, index and range constraints: rows", len(rows) == ref.size)
close("contributions epoch 2: values (col 6 = the bias)", columns(rows, "value")[0], ref.ravel(), 0, 0)

rows = query([sparse, f"SELECT c.sample_id, c.value, s.loss FROM contributions c JOIN samples s USING (run, model, step, sample_id) "
                      f"WHERE c.{M} AND c.step = 9 AND c.layer = 'logits' AND c.row = 0 AND c.col = 0 ORDER BY c.position"])
r9 = factor_rows(9)
check("contributions joined with samples: one row per sample", len(rows) == len(r9))
close("join: losses", columns(rows, "loss")[0], f["samples/loss"][:][r9], 0, 0)

# --- weights ---------------------------------------------------------------------------
P = int(f.attrs["nparams"])
rows = query([sparse, f"SELECT step, layer_index, row, col, value, stored FROM weights WHERE {M} ORDER BY step, layer_index, row, col"])
check("weights: every step 0..last, every parameter", len(rows) == (last + 1) * P)
vals = columns(rows, "value")[0].reshape(last + 1, P)
# the table's order (layer, row, col with the bias as col = in) -> the flat layout
perm = np.array([flat_index(widths, int(r["layer_index"]), int(r["row"]), int(r["col"])) for r in rows[:P]])
flat = np.empty_like(vals)
flat[:, perm] = vals
close("weights step 0 = the saved state", flat[0], f["weights/params"][0], 0, 0)
close("weights replayed (whole model) = dense's saved weights, bit for bit", flat, fd["weights/params"][:], 0, 0)
check("weights.stored: 1 at step 0 only", [r["stored"] for r in rows[::P]] == [1] + [0] * last)
rows = query([sparse, f"SELECT step, value FROM weights WHERE {M} AND layer = 'hidden2' AND row = 3 AND col = 4 ORDER BY step"])
i = flat_index(widths, 1, 3, 4)
close("weights of one weight alone (its own replay) = dense's saved weights, bit for bit", columns(rows, "value")[0], fd["weights/params"][:, i], 0, 0)
rows = query([sparse, f"SELECT step, value FROM weights WHERE {M} AND layer = 'logits' AND row = 1 AND col = 12 ORDER BY step"])
i = flat_index(widths, 2, 1, 12)
close("weights of one bias alone, bit for bit", columns(rows, "value")[0], fd["weights/params"][:, i], 0, 0)

# numpy float64 Adam from step 0 (independent of nerve's kernels)
lr, b1, b2, eps = (float(f.attrs[k]) for k in ("lr", "beta1", "beta2", "eps"))
w = f["weights/params"][0].astype(np.float64)
m = np.zeros(P)
v = np.zeros(P)
for s in range(1, last + 1):
    rs = factor_rows(s)
    g = np.concatenate([np.concatenate([cm[:, :-1].ravel(), cm[:, -1]]) for cm in (contrib(k, rs).mean(0) for k in range(len(L)))])
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    w = w - lr / (1 - b1 ** s) * m / (np.sqrt(v) / np.sqrt(1 - b2 ** s) + eps)
close("weights at the last step: a float64 numpy Adam replay", flat[last], w, 1e-5, 0)

# --- data --------------------------------------------------------------------------------
rows = query([sparse, "SELECT * FROM data ORDER BY sample_id"])
with h5py.File(os.path.join(sparse, "data.h5"), "r") as dh:
    ids = np.concatenate([dh["train/ids"][:], dh["test/ids"][:]])
    lab = np.concatenate([dh["train/y"][:], dh["test/y"][:]])
    o = np.argsort(ids)
    close("data: ids", columns(rows, "sample_id")[0], ids[o], 0, 0)
    close("data: labels", columns(rows, "label")[0], lab[o], 0, 0)
    check("data: splits", sum(r["split"] == "test" for r in rows) == dh["test/ids"].shape[0])
label_of = dict(zip(ids.tolist(), lab.tolist()))

# --- presets: top-samples ------------------------------------------------------------------


def top_samples_numpy(k_layer, epoch, k, by="abs", weight=None):
    rs = np.flatnonzero((fstep > (epoch - 1) * spe) & (fstep <= epoch * spe))
    c = contrib(k_layer, rs)  # (N, out, in + 1): each sample once in an epoch
    ids_ = fid[rs]
    steps_ = fstep[rs]
    out = []
    for r in range(c.shape[1]):
        for col in range(c.shape[2]):
            if weight is not None and (r, col) != weight:
                continue
            v = c[:, r, col]
            score = np.abs(v) if by == "abs" else v if by == "pos" else -v
            order = np.lexsort((ids_, -score))[:k]
            for rank, j in enumerate(order):
                out.append((r, col, rank + 1, int(ids_[j]), label_of[int(ids_[j])], int(steps_[j]), v[j]))
    return out


def same_rows(what, got, ref, cols):
    ok = len(got) == len(ref)
    for g, r in zip(got, ref):
        if not ok:
            break
        for c, x in zip(cols, r):
            if g[c] != x:
                ok = False
                print("  first difference:", g, r)
                break
    return check(what, ok, f"({len(got)} rows, oracle {len(ref)})")


COLS = ("row", "col", "rank", "sample_id", "label", "step", "contribution")
res = query([sparse, "--preset", "top-samples", "--epoch", "2", "--layer", "hidden2", "-k", "5"])
same_rows("top-samples hidden2 epoch 2 (whole layer, k 5) = numpy", res["tables"]["top_samples"],
          top_samples_numpy(1, 2, 5), COLS)
cls = res["tables"]["classes"]
check("top-samples classes: entries add up", sum(r["entries"] for r in cls) == len(res["tables"]["top_samples"]))
for by in ("pos", "neg"):
    res = query([sparse, "--preset", "top-samples", "--epoch", "3", "--layer", "logits", "-k", "7", "--by", by])
    same_rows(f"top-samples logits epoch 3 --by {by} = numpy", res["tables"]["top_samples"],
              top_samples_numpy(2, 3, 7, by), COLS)
res = query([sparse, "--preset", "top-samples", "--epoch", "4", "--layer", "hidden1", "--weight", "7,6", "-k", "9"])
same_rows("top-samples one weight (a bias) = numpy", res["tables"]["top_samples"],
          top_samples_numpy(0, 4, 9, weight=(7, 6)), COLS)
res = query([sparse, "--preset", "top-samples", "--epoch", "1", "--layer", "hidden2", "--weight", "11,0", "-k", "256"])
same_rows("top-samples k > samples: every sample once", res["tables"]["top_samples"],
          top_samples_numpy(1, 1, 256, weight=(11, 0)), COLS)

# --- presets: pre-explosion ----------------------------------------------------------------
mx = af.max(axis=1)
frac = float(np.sort(mx)[len(mx) // 2])
ev = int(np.flatnonzero(mx > frac)[0])
res = query([sparse, "--preset", "pre-explosion", "--fraction", repr(frac), "-k", "12"])
e = res["tables"]["event"]
check("pre-explosion: the event step", len(e) == 1 and e[0]["step"] == int(f["steps/step"][ev]))
check("pre-explosion: the event layer (the largest fraction at the step)", len(e) == 1 and e[0]["layer"] == L[int(np.argmax(af[ev]))])
sst = f["samples/step"][:]
upto = np.flatnonzero(sst <= f["steps/step"][ev])[::-1][:12]
close("pre-explosion: the last 12 samples fed (newest first)", columns(res["tables"]["samples"], "sample_id")[0],
      f["samples/sample_id"][:][upto], 0, 0)
close("pre-explosion: their losses", columns(res["tables"]["samples"], "loss")[0], f["samples/loss"][:][upto], 0, 0)
res = query([sparse, "--preset", "pre-explosion", "--fraction", "0.999"])
check("pre-explosion: no event above 0.999 (an empty answer, a note)",
      not res["tables"]["samples"] and "no recorded step" in res["note"])

# --- presets: weight-to-zero ------------------------------------------------------------------
W = fd["weights/params"][:]
cand = None
for k in range(len(L)):
    for r in range(widths[k + 1]):
        for c in range(widths[k] + 1):
            t = W[:, flat_index(widths, k, r, c)]
            flips = np.flatnonzero((t[:-1] > 0) & (t[1:] < 0) | (t[:-1] < 0) & (t[1:] > 0)) + 1
            if len(flips) and flips[0] >= spe + 2 and (np.abs(t[1:flips[0]]) > 1e-4).all():
                cand = (k, r, c, int(flips[0]))
                break
        if cand:
            break
    if cand:
        break
check("weight-to-zero: the dense run has a weight that changes sign after epoch 1", cand is not None)
if cand:
    k, r, c, s0 = cand
    res = query([sparse, "--preset", "weight-to-zero", "--layer", L[k], "--weight", f"{r},{c}", "-k", "6"])
    e = res["tables"]["event"]
    check(f"weight-to-zero {L[k]}[{r},{c}]: the step of the sign change ({s0})", len(e) == 1 and e[0]["step"] == s0)
    traj = W[:, flat_index(widths, k, r, c)]
    rs = np.flatnonzero((fstep > s0 - spe) & (fstep <= s0))
    cc = contrib(k, rs)[:, r, c]
    push = cc * np.sign(traj[fstep[rs] - 1]) / np.array([len(factor_rows(s)) for s in fstep[rs]])
    # a sample fed twice in the window (it may span two epochs) sums its pushes, in step order
    tot = {}
    for i_, p_ in zip(fid[rs], push):
        tot[int(i_)] = tot.get(int(i_), 0.0) + p_
    uid = np.array(sorted(tot))
    up = np.array([tot[i_] for i_ in uid])
    order = np.lexsort((uid, -up))[:6]
    got = sorted(res["tables"]["samples"], key=lambda x: x["rank"])
    close("weight-to-zero: the 6 samples that pushed most (by rank)", [g["sample_id"] for g in got], uid[order], 0, 0)
    close("weight-to-zero: their pushes", [g["push"] for g in got], up[order], 0, 1e-12)
    st = [g["step"] for g in res["tables"]["samples"]]
    check("weight-to-zero: listed in the order they were fed", st == sorted(st))

# --- presets: weight-groups --------------------------------------------------------------------
res = query([sparse, "--preset", "weight-groups", "--limit", "-1", "--groups", "3"])
wt = res["tables"]["weights"]
check("weight-groups: every parameter listed", len(wt) == P)
G = np.zeros(P)
for s in range(1, last + 1):
    rs = factor_rows(s)
    g = np.concatenate([np.concatenate([cm[:, :-1].ravel(), cm[:, -1]]) for cm in (contrib(k, rs).mean(0) for k in range(len(L)))])
    G += np.abs(g)
idx = np.array([flat_index(widths, L.index(x["layer"]), int(x["row"]), int(x["col"])) for x in wt])
close("weight-groups: total_grad = sum over steps of |batch gradient| (float64 oracle)", columns(wt, "total_grad")[0],
      G[idx], 1e-9, 1e-5)
close("weight-groups: total_change = |w_last - w_0| (saved weights)", columns(wt, "total_change")[0],
      np.abs(W[last, idx].astype(np.float64) - W[0, idx]), 0, 1e-12)
E = (last + spe - 1) // spe
ends = [0] + [min(e * spe, last) for e in range(1, E + 1)]
ch = np.diff(W[ends].astype(np.float64), axis=0).T  # (P, E)
close("weight-groups: path_length = sum over epochs of |change|", columns(wt, "path_length")[0], np.abs(ch).sum(1)[idx],
      0, 1e-12)
# the same k-means rule in numpy
nrm = np.linalg.norm(ch, axis=1)
X = np.where(nrm[:, None] > 0, ch / np.where(nrm > 0, nrm, 1)[:, None], 0).astype(np.float32).astype(np.float64)
Gd = np.array([x["total_grad"] for x in wt])
grad_of = np.zeros(P)
grad_of[idx] = Gd
cent = [X[int(np.argmax(grad_of))]]
dist = np.full(P, np.inf)
for _ in range(2):
    dist = np.minimum(dist, ((X - cent[-1]) ** 2).sum(1))
    cent.append(X[int(np.argmax(dist))])
cent = np.array(cent)
grp = None
for it in range(100):
    dd = ((X[:, None, :] - cent[None]) ** 2).sum(2)
    new = np.argmin(dd, axis=1)
    if grp is not None and (new == grp).all():
        break
    grp = new
    cent = np.array([X[grp == c].mean(0) if (grp == c).any() else np.zeros(X.shape[1]) for c in range(3)])
means = [grad_of[grp == c].mean() if (grp == c).any() else -1 for c in range(3)]
rank_of = {c: i + 1 for i, c in enumerate(sorted(range(3), key=lambda c: -means[c]))}
ref_groups = np.array([rank_of[grp[i]] for i in idx])
agree = (columns(wt, "group")[0] == ref_groups).mean()
check(f"weight-groups: the groups equal numpy's k-means on >= 99% of the weights ({agree:.4f})", agree >= 0.99)
resd = query([dense, "--preset", "weight-groups", "--limit", "-1", "--groups", "3"])
check("weight-groups on the run saving every step = on the run saving step 0 only (every step's gradient counted)",
      resd["tables"]["weights"] == wt)
gt = res["tables"]["groups"]
check("weight-groups: group sizes add up", sum(g["members"] for g in gt) == P)

# --- presets: compare-runs -----------------------------------------------------------------------
fo = h5py.File(os.path.join(other, "dynamics", "expressive.h5"), "r")
N = 20
target = float(np.median(fd["steps/loss"][:]))
res = query([dense, other, "--preset", "compare-runs", "--step", str(N), "--loss", repr(target)])
rr = res["tables"]["runs"]
check("compare-runs: two runs, order seeds 5 and 9", [x["order_seed"] for x in rr] == [5, 9])
for x, h in zip(rr, (fd, fo)):
    close(f"compare-runs {os.path.basename(x['run'])}: loss at step {N}", [x["loss"]], [h["steps/loss"][N - 1]], 0, 0)
    close(f"compare-runs {os.path.basename(x['run'])}: accuracy", [x["accuracy"]], [h["steps/accuracy"][N - 1]], 0, 0)
    fs = np.flatnonzero(h["steps/loss"][:].astype(np.float64) <= target)
    check(f"compare-runs {os.path.basename(x['run'])}: first step with loss <= {target:.4f}",
          x["first_step"] == (int(h["steps/step"][fs[0]]) if len(fs) else None))
p1 = params_of(fd["weights/params"][N].astype(np.float64), widths)
p2 = params_of(fo["weights/params"][N].astype(np.float64), widths)
lt = {x["layer"]: x for x in res["tables"]["layers"]}
with h5py.File(os.path.join(dense, "data.h5"), "r") as dh:
    xt = dh["test/x"][:].astype(np.float64)


def acts(p, x):
    out = []
    for k, (Wk, bk) in enumerate(p):
        x = x @ Wk.T + bk
        if k < len(p) - 1:
            x = np.maximum(x, 0)
        out.append(x)
    return out


def cka(x, y):
    x = x - x.mean(0)
    y = y - y.mean(0)
    return np.linalg.norm(y.T @ x) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y))


A1, A2 = acts(p1, xt), acts(p2, xt)
tot = 0
for k, name in enumerate(L):
    dd = np.sqrt(((p1[k][0] - p2[k][0]) ** 2).sum() + ((p1[k][1] - p2[k][1]) ** 2).sum())
    tot += dd ** 2
    close(f"compare-runs {name}: weight distance", [lt[name]["distance"]], [dd], 0, 1e-6)
    close(f"compare-runs {name}: CKA of the activations (test split)", [lt[name]["cka"]], [cka(A1[k], A2[k])], 1e-4, 0)
close("compare-runs all: weight distance", [lt["all"]["distance"]], [np.sqrt(tot)], 0, 1e-6)

# --- a decaying rate (train.lr_half_life): the store keeps each step's rate and the
# half-life, and the replay takes the same updates as the training ---------------------
H = 7
HOPT = f'optimizer = "adam"; lr = 0.01; lr_half_life = {H};'
hs = train(tmp, "sparse_h", wevery=1000, opt=HOPT)
hd = train(tmp, "dense_h", wevery=1, opt=HOPT)
with h5py.File(os.path.join(hs, "dynamics", "expressive.h5"), "r") as fh, \
        h5py.File(os.path.join(hd, "dynamics", "expressive.h5"), "r") as fhd:
    check("lr_half_life stored", int(fh.attrs["lr_half_life"]) == H)
    lr0 = np.float64(np.float32(fh.attrs["lr"]))
    steps = np.arange(1, int(fh.attrs["last_step"]) + 1)
    close("steps.lr = lr * 0.5^((step - 1) / half-life), as float32", fh["steps/lr"][:],
          (lr0 * 0.5 ** ((steps - 1) / H)).astype(np.float32), 0, 0)
    rows = query([hs, f"SELECT step, value FROM weights WHERE {M} AND layer = 'hidden2' AND row = 3 AND col = 4 ORDER BY step"])
    i = flat_index(widths, 1, 3, 4)
    close("a decaying rate: one weight replayed = the saved weights, bit for bit", columns(rows, "value")[0],
          fhd["weights/params"][:, i], 0, 0)
    check("a decaying rate changes the training", not np.array_equal(fhd["weights/params"][-1], fd["weights/params"][-1]))
finish()
