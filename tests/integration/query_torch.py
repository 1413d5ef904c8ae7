#!/usr/bin/env python3
"""query_torch.py: `nerve query`'s contributions and top-samples against PyTorch
per-sample gradients on a short run (docs/queries.md; docs/CONTRACTS.md).

Short runs (6-16-12-2, 240 samples, 2 epochs of 8 steps) save every step's weights.
For chosen steps s, PyTorch rebuilds the net from the weights after step s-1, takes
the batch of step s (the recorded sample ids -> data.h5 rows, in order) and computes
each sample's gradient of its own loss by a per-sample loop in float64. Checked:
  - the `contributions` table at step s, every layer, row and column (the bias as
    col = in), equals those per-sample gradients (atol 1e-6, rtol 1e-4: float32
    factors against float64);
  - plain SGD: the applied update of every weight equals -lr/b SUM(value) over the
    step's samples, summed by SQL (atol 2e-7, rtol 1e-3: the difference of two
    rounded float32 weights);
  - top-samples for an epoch: per weight the k samples PyTorch ranks first (by the
    |gradient| of their own loss at the step they were fed) are the preset's, in the
    same order, unless two are within rtol 1e-4 of each other, and the preset's sums
    equal PyTorch's gradients (atol 1e-6, rtol 1e-4).
For SGD (plain) and Adam. Runs under /usr/bin/python3; exit 77 without torch/h5py.
"""
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
try:
    import h5py
    import numpy as np
    import torch
except ImportError as e:  # pragma: no cover
    print(f"SKIP: torch/h5py/numpy not importable ({e}); run under /usr/bin/python3")
    sys.exit(77)
from querylib import check, close, columns, finish, layer_names, params_of, query, train  # noqa: E402

torch.set_default_dtype(torch.float64)
tmp = tempfile.mkdtemp(prefix="nerve-qtorch-")


def per_sample_grads(params, x, y):
    """[[(dW, db) per layer] per sample]: each sample's own loss, by a loop."""
    out = []
    for i in range(len(y)):
        P = [(torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True)) for W, b in params]
        h = torch.tensor(x[i:i + 1])
        for k, (W, b) in enumerate(P):
            h = h @ W.T + b
            if k < len(P) - 1:
                h = torch.relu(h)
        loss = torch.nn.functional.cross_entropy(h, torch.tensor(y[i:i + 1]))
        g = torch.autograd.grad(loss, [t for pair in P for t in pair])
        out.append([(g[2 * k].numpy(), g[2 * k + 1].numpy()) for k in range(len(P))])
    return out


for case, opt in (("sgd", 'optimizer = "sgd"; lr = 0.1; momentum = 0.0;'), ("adam", 'optimizer = "adam"; lr = 0.01;')):
    run = train(tmp, case, epochs=2, opt=opt, wevery=1)
    f = h5py.File(os.path.join(run, "dynamics", "expressive.h5"), "r")
    L = layer_names(f)
    widths = [int(w) for w in f.attrs["widths"]]
    spe = int(f.attrs["steps_per_epoch"])
    lr = float(f.attrs["lr"])
    with h5py.File(os.path.join(run, "data.h5"), "r") as dh:
        X, Y, ids = dh["train/x"][:].astype(np.float64), dh["train/y"][:].astype(np.int64), dh["train/ids"][:]
    row_of = {int(v): i for i, v in enumerate(ids)}
    fstep, fid = f["factors/step"][:], f["factors/sample_id"][:]
    W = f["weights/params"][:]
    grads = {}  # step -> per-sample grads
    for s in range(spe + 1, 2 * spe + 1):  # epoch 2
        rs = np.flatnonzero(fstep == s)
        rows = [row_of[int(i)] for i in fid[rs]]
        grads[s] = (fid[rs], per_sample_grads(params_of(W[s - 1].astype(np.float64), widths), X[rows], Y[rows]))
    for s in (spe + 1, spe + 5, 2 * spe):
        sids, psg = grads[s]
        b = len(sids)
        rows = query([run, f"SELECT position, layer_index, row, col, value FROM contributions WHERE model = 'expressive' "
                           f"AND step = {s} ORDER BY position, layer_index, row, col"])
        got = columns(rows, "value")[0]
        ref = np.concatenate([np.concatenate([np.concatenate([g[k][0], g[k][1][:, None]], axis=1).ravel()
                                              for k in range(len(L))]) for g in psg])
        close(f"{case} step {s}: contributions = PyTorch per-sample gradients (every layer, bias as col = in)",
              got, ref, 1e-6, 1e-4)
        if case == "sgd":
            rows = query([run, f"SELECT layer_index, row, col, SUM(value) AS total, batch_size FROM contributions "
                               f"WHERE model = 'expressive' AND step = {s} GROUP BY layer_index, row, col "
                               "ORDER BY layer_index, row, col"])
            upd = -lr * columns(rows, "total")[0] / b
            ref = []
            for k, ((W1, b1), (W0, b0)) in enumerate(zip(params_of(W[s].astype(np.float64), widths),
                                                         params_of(W[s - 1].astype(np.float64), widths))):
                ref.append(np.concatenate([W1 - W0, (b1 - b0)[:, None]], axis=1).ravel())
            close(f"sgd step {s}: the applied update = -lr/b SUM(value)", upd, np.concatenate(ref), 2e-7, 1e-3)
    # top-samples for epoch 2 against the PyTorch gradients (each sample fed once in the epoch)
    for k, name in enumerate(L):
        res = query([run, "--preset", "top-samples", "--epoch", "2", "--layer", name, "-k", "4"])
        top = res["tables"]["top_samples"]
        per = {}
        for s, (sids, psg) in grads.items():
            for i, sid in enumerate(sids):
                per[int(sid)] = np.concatenate([psg[i][k][0], psg[i][k][1][:, None]], axis=1)
        sid_list = np.array(sorted(per))
        G = np.stack([per[i] for i in sid_list])  # (N, out, in + 1)
        ok_order = ok_vals = True
        for r in range(G.shape[1]):
            for c in range(G.shape[2]):
                mine = [t for t in top if t["row"] == r and t["col"] == c]
                v = G[:, r, c]
                order = np.lexsort((sid_list, -np.abs(v)))[:4]
                want = list(sid_list[order])
                gotid = [t["sample_id"] for t in mine]
                if gotid != want:
                    # allowed only where PyTorch's own values cannot tell them apart
                    a_ = np.abs(np.array([per[i][r, c] for i in gotid]))
                    ok_order &= np.allclose(a_, np.abs(v[order]), rtol=1e-4, atol=1e-9)
                gv = np.array([t["contribution"] for t in mine])
                ok_vals &= np.allclose(gv, [per[i][r, c] for i in gotid], rtol=1e-4, atol=1e-6)
        check(f"{case} top-samples {name} epoch 2: PyTorch's top 4 per weight, in order", ok_order)
        check(f"{case} top-samples {name} epoch 2: the sums equal PyTorch's per-sample gradients", ok_vals)
finish()
