"""features_checks.py: `nerve features` end to end on a tiny spheres run and a tiny
Fashion-MNIST run, against independent computations in numpy and PyTorch:

 (a) first-layer units without regulariser end exactly at the box corner
     x_i = hi_i if w_i > 0 else lo_i (inputs whose weight is at least 1/500 of the
     largest, which the step reaches: see docs/features.md), read from the
     snapshot's own weights;
 (b) with --init top every unit's optimum is at least the largest activation over
     the training split, recomputed here from the weights and the snapshot inputs
     (numpy), and the stored top-9 sample ids are the argmax rows; from the default
     start the ascent's own result is stored (no feature equals a training input)
     and exactly the units that end below their data maximum are marked below_data;
 (c) the gradient to the input against torch.autograd on the same weights: one
     step of size 1e-3 from x = 0 (--init zeros --steps 1) moves each unit's input
     by lr * span * g / max|g|, which must match torch's normalised gradient;
 (d) projections, every layer of the spheres net: the top-9 inputs are exactly the
     nine rows with the largest activations the snapshot stores (ties: lower row),
     top_inputs are those rows, and each projection equals PyTorch's: autograd with
     backward hooks on the ReLU modules (deconvnet: grad_input = relu(grad_output);
     guided: grad_input = relu(grad_input), the forward mask and ReLU on the signal;
     gradient: plain autograd), seeded with the unit's activation; parity window
     |nerve - torch| <= 1e-5 m + 1e-4 |torch|, m the largest |torch| of that
     projection; for a first-layer unit each rule is the weight row times the unit's
     activation (the analytic answer);
 plus: a second run with the same options writes nothing (up to date) and a fresh
 run gives the same bytes; figures exist for every layer and the history units; bad
 input (a bad preset, a missing run, a layer that does not exist, a model without
 the layer, the input layer, --top-k 0) is refused with exit 2 and a message.
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


def check_below_and_own(rundir, tag):
    """Default start: what is stored is the ascent's own result, never a training
    input, and below_data marks exactly the units under their data maximum."""
    for f in sorted(glob.glob(rundir + "/analysis/features/*/epoch_*.h5")):
        snap = f.replace("analysis/features", "snapshots")
        Ws, bs, act, x, ids = net(snap)
        rows = {r.tobytes() for r in x}
        with h5py.File(f) as h:
            check(int(h.attrs["format_version"]) == 2, "%s: format version 2" % os.path.basename(f))
            for name in layer_names(len(Ws)):
                g = h["layers/" + name]
                xf, a, dmax, below = g["inputs"][:], g["activations"][:], g["data_max"][:], g["below_data"][:]
                want = a < dmax - 1e-5 * (1 + np.abs(dmax))
                check(np.array_equal(below.astype(bool), want) and int(g.attrs["below_data"]) == int(want.sum()),
                      "%s: %s %s below_data marks the %d units under their data maximum"
                      % (tag, os.path.basename(f), name, int(want.sum())))
                same = sum(r.tobytes() in rows for r in xf.astype(np.float32))
                check(same == 0, "%s: %s %s no feature image is a training input (%d are)"
                      % (tag, os.path.basename(f), name, same))


def torch_projection(Ws, bs, xs, l, units, rule):
    """The projections of rows xs (n, d) for unit units[i] of layer l (1-based), by
    autograd with backward hooks on the ReLU modules, seeded with the activation."""
    L = len(Ws)
    x = torch.tensor(xs, dtype=torch.float64, requires_grad=True)
    relus = [torch.nn.ReLU() for _ in range(L)]
    hooks = []
    for r in relus:
        if rule == "deconvnet":
            hooks.append(r.register_full_backward_hook(lambda m, gi, go: (torch.relu(go[0]),)))
        elif rule == "guided":
            hooks.append(r.register_full_backward_hook(lambda m, gi, go: (torch.relu(gi[0]),)))
    a = x
    for k in range(l):
        a = a @ torch.tensor(Ws[k], dtype=torch.float64).T + torch.tensor(bs[k], dtype=torch.float64)
        if k < L - 1:
            a = relus[k](a)
    idx = torch.tensor(units)
    seed = torch.zeros_like(a)
    seed[torch.arange(len(units)), idx] = a.detach()[torch.arange(len(units)), idx]
    a.backward(seed)
    for h_ in hooks:
        h_.remove()
    return x.grad.numpy(), seed.sum(1).numpy()


def check_d(rundir):
    f = sorted(glob.glob(rundir + "/analysis/features/expressive/epoch_*.h5"))[-1]
    snap = f.replace("analysis/features", "snapshots")
    Ws, bs, act, x, ids = net(snap)
    rules = ["deconvnet", "guided", "gradient"]
    with h5py.File(f) as h, h5py.File(snap) as sh:
        for l, name in enumerate(layer_names(len(Ws)), start=1):
            g = h["layers/" + name]
            top, tact, tx, proj = g["top_rows"][:], g["top_activations"][:], g["top_inputs"][:], g["projections"][:]
            stored = sh["layers/%s/train" % name][:]
            k = top.shape[1]
            # The nine largest stored activations, ties to the lower row.
            want = np.array([np.lexsort((np.arange(len(stored)), -stored[:, u]))[:k] for u in range(stored.shape[1])])
            check(np.array_equal(top, want) and np.array_equal(tact, np.take_along_axis(stored.T, want, 1)),
                  "(d) %s: the top-%d inputs are the rows with the largest stored activations" % (name, k))
            check(np.array_equal(tx, x[top]), "(d) %s: top_inputs are those rows of the snapshot" % name)
            check(list(g["projections"].attrs["rules"]) in (rules, [r.encode() for r in rules]),
                  "(d) %s: projection rules named in order" % name)
            units = np.repeat(np.arange(top.shape[0]), k)
            xs = x[top.reshape(-1)].astype(np.float64)
            worst = 0.0
            for q, rule in enumerate(rules):
                ref, seed = torch_projection(Ws, bs, xs, l, units, rule)
                got = proj[:, :, q, :].reshape(len(units), -1).astype(np.float64)
                m = np.abs(ref).max(axis=1, keepdims=True)
                window = 1e-5 * m + 1e-4 * np.abs(ref)
                diff = np.abs(got - ref)
                # The largest difference as a fraction of its window (<= 1 passes).
                frac = np.where(window > 0, diff / np.where(window > 0, window, 1), np.where(diff > 0, np.inf, 0))
                worst = max(worst, float(frac.max()))
                if l == 1:
                    # The analytic answer: the weight row times the activation.
                    analytic = seed[:, None] * Ws[0][units].astype(np.float64)
                    ok = np.all(np.abs(got - analytic) <= 1e-5 * np.abs(analytic).max(axis=1, keepdims=True) + 1e-4 * np.abs(analytic))
                    check(ok, "(d) %s %s: each first-layer projection is the weight row times the activation" % (name, rule))
            check(worst <= 1, "(d) %s: the three projections of %d top inputs equal PyTorch's hooks "
                  "(largest difference %.3g of the window)" % (name, len(units), worst))


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
    plain = ["--decay", "0", "--norm-pct", "0", "--contrib-pct", "0"]
    # (a) exact corners: lr 2 over 500 steps (the sum of the decaying steps is ~500
    # box widths), no regulariser.
    run(["features", run_s, "--no-figures", "--no-projections", "--lr", "2", "--steps", "500",
         "--threads", "2"] + plain)
    check_a(run_s, "spheres")
    # (c) one tiny step from zero, in a global box (which contains 0).
    run(["features", run_s, "--no-figures", "--no-projections", "--init", "zeros", "--steps", "1",
         "--lr", "0.001", "--box", "global", "--models", "expressive"] + plain)
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
    check(any(n.endswith("_hidden1_focus.png") for n in figs), "focus figures written")
    check(any(n.endswith("_unit0_history.png") for n in figs), "history figures written")
    # The default start (the data mean) and the defaults: the ascent's own result,
    # marked where it ends below the data; (d) the projections against PyTorch.
    shutil.rmtree(run_s + "/analysis/features")
    run(["features", run_s, "--threads", "2", "--no-figures"])
    check_below_and_own(run_s, "spheres, defaults")
    check_d(run_s)

    # Bad input: exit 2 with a message naming the problem.
    rc, _, err = run(["features", run_s, "--preset", "7"], expect=2)
    check("--preset" in err, "a bad preset is a usage error (exit 2)")
    rc, _, err = run(["features", tmp + "/nope"], expect=2)
    check("no such run directory" in err, "a missing run directory is bad input (exit 2)")
    rc, _, err = run(["features", run_s, "--layers", "hidden9"], expect=2)
    check("no layer 'hidden9'" in err, "a layer that does not exist is refused (exit 2): " + err.strip())
    rc, _, err = run(["features", run_s, "--models", "linear", "--layers", "hidden1"], expect=2)
    check("hidden1" in err and "linear" in err, "a model without the layer is refused (exit 2): " + err.strip())
    rc, _, err = run(["features", run_s, "--models", "expressive,linear", "--layers", "hidden2"], expect=2)
    check("model linear has no layer 'hidden2'" in err, "a named model without the layer is refused (exit 2): " + err.strip())
    rc, _, err = run(["features", run_s, "--layers", "input"], expect=2)
    check("'input' has no feature images" in err, "the input layer is refused (exit 2): " + err.strip())
    for k in ("0", "-3"):
        rc, _, err = run(["features", run_s, "--top-k", k], expect=2)
        check("--top-k" in err, "--top-k %s is refused (exit 2): %s" % (k, err.strip()))
    # A layer selection computes only those layers.
    shutil.rmtree(run_s + "/analysis/features")
    run(["features", run_s, "--layers", "logits", "--models", "expressive", "--no-figures", "--top-k", "4"])
    with h5py.File(sorted(glob.glob(run_s + "/analysis/features/expressive/*.h5"))[0]) as h:
        check(list(h["layers"].keys()) == ["logits"] and h["layers/logits/top_rows"].shape[1] == 4,
              "--layers logits --top-k 4: only the logits, 4 inputs per unit")

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
