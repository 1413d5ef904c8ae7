"""features_checks.py: `nerve features` end to end on a tiny spheres run and a tiny
Fashion-MNIST run, against independent computations in numpy and PyTorch:

 (a) first-layer units without regulariser end exactly at the box corner
     x_i = hi_i if w_i > 0 else lo_i (inputs whose weight is at least 1/500 of the
     largest, which the step reaches: see docs/features.md), read from the
     snapshot's own weights;
 (b) with --init top every unit's optimum is at least the largest activation over
     the training split, recomputed here from the weights and the snapshot inputs
     (numpy), and the stored top-9 sample ids are the argmax rows;
 (c) the gradient to the input against torch.autograd on the same weights: one
     step of size 1e-3 from x = 0 (--init zeros --steps 1) moves each unit's input
     by lr * span * g / max|g|, which must match torch's normalised gradient;
 plus: a second run with the same options writes nothing (up to date) and a fresh
 run gives the same bytes; figures exist for every layer and the history units.
"""
import filecmp
import glob
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from nervetest import NERVE, ROOT, check, finish, run  # noqa: E402

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402


def net(snap):
    with h5py.File(snap) as h:
        m = h["model"]
        L = int(m.attrs["nlayers"])
        widths = [int(v) for v in m.attrs["widths"]]
        act = m.attrs["activation"]
        act = act.decode() if isinstance(act, bytes) else act
        p = m["params"][:]
        x = h["layers/input/train"][:]
        ids = h["ids/train"][:]
    Ws, bs, o = [], [], 0
    for l in range(L):
        n = widths[l + 1] * widths[l]
        Ws.append(p[o:o + n].reshape(widths[l + 1], widths[l])); o += n
        bs.append(p[o:o + widths[l + 1]]); o += widths[l + 1]
    return Ws, bs, act, x, ids


def forward_np(Ws, bs, act, x, layer):
    a = x.astype(np.float64)
    for k in range(layer):
        z = a @ Ws[k].T.astype(np.float64) + bs[k]
        if k < len(Ws) - 1:
            a = np.maximum(z, 0) if act == "relu" else np.tanh(z) if act == "tanh" else z
        else:
            a = z
    return a


def layer_names(L):
    return ["hidden%d" % l for l in range(1, L)] + ["logits"]


def check_a(rundir, tag):
    for f in sorted(glob.glob(rundir + "/analysis/features/*/epoch_*.h5")):
        model = f.split("/")[-2]
        snap = f.replace("analysis/features", "snapshots")
        Ws, bs, act, x, ids = net(snap)
        with h5py.File(f) as h:
            lo, hi = h["box/lo"][:], h["box/hi"][:]
            name = layer_names(len(Ws))[0]
            xf = h["layers/%s/inputs" % name][:]
        W = Ws[0]
        want = np.where(W > 0, hi[None, :], lo[None, :])
        big = np.abs(W) >= np.abs(W).max(axis=1, keepdims=True) / 500
        bad = int(((xf != want) & big).sum())
        check(bad == 0, "%s (a): %s %s first layer at the exact box corner (%d of %d inputs off)"
              % (tag, model, os.path.basename(f), bad, int(big.sum())))


def check_b(rundir, tag):
    worst = 0
    for f in sorted(glob.glob(rundir + "/analysis/features/*/epoch_*.h5")):
        snap = f.replace("analysis/features", "snapshots")
        Ws, bs, act, x, ids = net(snap)
        with h5py.File(f) as h:
            for l, name in enumerate(layer_names(len(Ws)), start=1):
                g = h["layers/" + name]
                a, dmax, top = g["activations"][:], g["data_max"][:], g["top_ids"][:]
                ref = forward_np(Ws, bs, act, x, l)
                ok = np.all(a >= ref.max(axis=0) - 1e-5 * (1 + np.abs(ref.max(axis=0))))
                worst = max(worst, float(np.max(ref.max(axis=0) - a)))
                check(ok, "%s (b): %s %s optimum >= data max for all %d units"
                      % (tag, os.path.basename(f), name, len(a)))
                check(np.allclose(dmax, ref.max(axis=0), rtol=1e-4, atol=1e-4),
                      "%s: %s data_max matches numpy" % (tag, name))
                # The top id must be a row that attains the maximum (ties allowed).
                row = {int(v): i for i, v in enumerate(ids)}
                tops = np.array([ref[row[int(t)], u] for u, t in enumerate(top[:, 0])])
                check(np.allclose(tops, ref.max(axis=0), rtol=1e-4, atol=1e-4),
                      "%s: %s top-1 sample ids attain the maximum" % (tag, name))
    print("%s: largest (data max - optimum): %.3g (negative: every optimum above the data)" % (tag, worst))


def check_c(rundir, lr):
    f = sorted(glob.glob(rundir + "/analysis/features/expressive/epoch_*.h5"))[-1]
    snap = f.replace("analysis/features", "snapshots")
    Ws, bs, act, x, ids = net(snap)
    with h5py.File(f) as h:
        lo, hi = h["box/lo"][:], h["box/hi"][:]
        span = (hi - lo).astype(np.float64)
        for l, name in enumerate(layer_names(len(Ws)), start=1):
            xf = h["layers/%s/inputs" % name][:].astype(np.float64)
            units = xf.shape[0]
            xt = torch.zeros(units, x.shape[1], dtype=torch.float64, requires_grad=True)
            a = xt
            for k in range(l):
                z = a @ torch.tensor(Ws[k], dtype=torch.float64).T + torch.tensor(bs[k], dtype=torch.float64)
                a = (torch.relu(z) if act == "relu" else torch.tanh(z)) if k < l - 1 else z
            z.diagonal().sum().backward()
            g = xt.grad.numpy()
            gn = g / np.maximum(np.abs(g).max(axis=1, keepdims=True), 1e-30)
            moved = np.abs(xf).max(axis=1) > 0
            step = xf / (lr * span[None, :])
            err = np.abs(step - gn)[moved].max() if moved.any() else 0.0
            check(moved.sum() >= 0.5 * units and err < 2e-3,
                  "(c) %s: nerve's step = torch's normalised gradient (%d of %d units moved, max diff %.2g)"
                  % (name, int(moved.sum()), units, err))


def main():
    tmp = tempfile.mkdtemp(prefix="nerve-features-")
    run_s = tmp + "/s"
    run(["train", ROOT + "/experiments/spheres.cfg", "--out", run_s, "--set",
         "data: { spheres: { points_per_class = 500; }; }; train: { epochs = 4; }; snapshots: { count = 3; };"])
    # (a) exact corners: lr 2 over 500 steps (the sum of the decaying steps is ~500
    # box widths).
    run(["features", run_s, "--no-figures", "--lr", "2", "--steps", "500", "--threads", "2"])
    check_a(run_s, "spheres")
    # (c) one tiny step from zero, in a global box (which contains 0).
    run(["features", run_s, "--no-figures", "--init", "zeros", "--steps", "1", "--lr", "0.001",
         "--box", "global", "--models", "expressive"])
    check_c(run_s, 0.001)
    # (b), figures, idempotence and same bytes.
    args = ["features", run_s, "--init", "top", "--steps", "200", "--threads", "2"]
    run(args)
    check_b(run_s, "spheres")
    _, out, _ = run(args)
    check("0 written" in out, "a second run with the same options writes nothing: " + out.strip().splitlines()[-1])
    keep = tmp + "/keep"
    shutil.copytree(run_s + "/analysis/features", keep)
    shutil.rmtree(run_s + "/analysis/features")
    run(args[:-2] + ["--threads", "1"])
    files = sorted(glob.glob(keep + "/*/*.h5"))
    same = all(filecmp.cmp(f, f.replace(keep, run_s + "/analysis/features"), shallow=False) for f in files)
    check(len(files) > 0 and same, "a fresh run gives the same bytes (%d files, other thread count)" % len(files))
    figs = os.listdir(run_s + "/analysis/figures/features")
    check(any(n.startswith("expressive_e0000_hidden1") for n in figs), "layer figures written")
    check(any(n.endswith("_unit0_history.png") for n in figs), "history figures written")
    # (b) also from the default start (the data mean): units that stay below the
    # best real input are restarted from it, so the check holds there too.
    shutil.rmtree(run_s + "/analysis/features")
    run(["features", run_s, "--steps", "200", "--threads", "2", "--no-figures"])
    check_b(run_s, "spheres, default start")
    rc, _, err = run(["features", run_s, "--preset", "7"], expect=2)
    check("--preset" in err, "a bad preset is a usage error (exit 2)")
    rc, _, err = run(["features", tmp + "/nope"], expect=2)
    check("no such run directory" in err, "a missing run directory is bad input (exit 2)")

    # Fashion-MNIST, tiny: images, the global box, (b) with --init top.
    run_f = tmp + "/f"
    rc, out, err = run(["train", ROOT + "/experiments/fashion.cfg", "--out", run_f, "--set",
                        "data: { fashion_mnist: { limit = 400; test_limit = 100; }; }; "
                        "train: { epochs = 1; };"], expect=None)
    if rc != 0:
        print("SKIP part: fashion training failed (dataset missing?):", err.strip()[-300:])
    else:
        run(["features", run_f, "--init", "top", "--steps", "60", "--preset", "3", "--threads", "2",
             "--history-units", "0"])
        check_b(run_f, "fashion")
        figs = os.listdir(run_f + "/analysis/figures/features")
        check(any(n.startswith("expressive_e0001_logits") for n in figs), "fashion grids written")
    shutil.rmtree(tmp)
    finish()


main()
