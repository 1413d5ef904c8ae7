#!/usr/bin/env python3
"""dynamics_torch.py: the dynamics record against PyTorch (the oracle), from the same
weights and the same sample order (docs/dynamics.md, "Exactness"; docs/CONTRACTS.md).

nerve trains small nets with every tier at every step (factors with pre-activations,
weights after every step). For a set of steps s, PyTorch rebuilds the network from the
stored weights of step s-1, takes the recorded batch (sample ids -> data.h5 rows, in
the recorded order) and computes, in float64:
  - per-sample gradients by a per-sample loop: they equal d_i a_i^T (bias: d_i), and
    their norms equal samples/grad_norm;
  - layer inputs, pre-activations and deltas (forward/backward hooks): they equal the
    factors a, pre and d;
  - the neuron statistics from the same hooks: mean activation, fraction active,
    mean |delta|, incoming-row gradient norms, influence |sum_i a_i dL/da_i|, top-k;
  - the steps tier: loss, accuracy, per-layer gradient, weight, update and
    init-distance norms, dead fraction.
The summed contributions of a step's samples equal the applied update: SGD
W_s - W_{s-1} = -lr (1/b) sum_i d_i a_i^T; momentum through buf_s = m buf_{s-1} + g_s
(+ wd W_{s-1}); Adam: the gradient recovered from m equals (1/b) sum_i d_i a_i^T.
Finally the weights `nerve dynamics RUN weights` rebuilds equal the checkpoints (0
difference on this machine) and a PyTorch replay of every step with torch.optim from
W_0 over the recorded batches agrees with them (per-step loss within rtol 1e-4).

Tolerances (|nerve - torch| <= atol + rtol |torch|) are stated next to each check.
Runs under /usr/bin/python3 (Debian's torch, h5py); exit 77 with SKIP without them.
"""
import os
import subprocess
import sys
import tempfile

try:
    import h5py
    import numpy as np
    import torch
except ImportError as e:  # pragma: no cover
    print(f"SKIP: torch/h5py/numpy not importable ({e}); run under /usr/bin/python3")
    sys.exit(77)

NERVE = os.environ.get("NERVE", "build/nerve")
torch.set_default_dtype(torch.float64)
fails = 0


def check(what, got, ref, atol, rtol):
    """|got - ref| <= atol + rtol |ref| elementwise (docs/CONTRACTS.md)."""
    global fails
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if got.shape != ref.shape:
        print(f"FAIL {what}: shape {got.shape} vs {ref.shape}")
        fails += 1
        return False
    bad = np.abs(got - ref) > atol + rtol * np.abs(ref)
    if bad.any():
        i = np.flatnonzero(bad.ravel())[0]
        print(f"FAIL {what}: {bad.sum()} of {bad.size} outside atol {atol} rtol {rtol}; first at {i}: "
              f"nerve {got.ravel()[i]!r} torch {ref.ravel()[i]!r}")
        fails += 1
        return False
    return True


CASES = [
    # name, optimizer keys, activation
    ("sgd", 'optimizer = "sgd"; lr = 0.1; momentum = 0.0;', "relu"),
    ("sgd-momentum-wd", 'optimizer = "sgd"; lr = 0.05; momentum = 0.9; weight_decay = 0.001;', "relu"),
    ("adam-wd-tanh", 'optimizer = "adam"; lr = 0.003; weight_decay = 0.01;', "tanh"),
]


def config(opt, act):
    return f"""experiment = "dyntorch";
seed = 3;
data: {{ spheres: {{ dim = 6; points_per_class = 150; }}; }};
models: {{ hidden = [16, 12]; activation = "{act}"; bottleneck_width = 2; linear_baseline = false; }};
train: {{ epochs = 3; batch_size = 32; {opt} }};
snapshots: {{ epochs = [3]; layers = ["logits"]; }};
dynamics: {{
  enabled = true;
  chunk_steps = 7;
  neurons: {{ top_k = 5; }};
  samples: {{ every = 1; }};
  factors: {{ every = 1; preactivations = true; }};
  weights: {{ every = 1; }};
}};
"""


def layers_of(f):
    return [n.decode() if isinstance(n, bytes) else n for n in f.attrs["layer_names"]]


def unflatten(p, widths):
    out, o = [], 0
    for k in range(len(widths) - 1):
        i, w = widths[k], widths[k + 1]
        W = p[o:o + i * w].reshape(w, i)
        o += i * w
        b = p[o:o + w]
        o += w
        out.append((W, b))
    return out


def forward(params, x, act):
    """Returns logits and, per layer, (input a, pre z, output h) tensors (retained)."""
    f = {"relu": torch.relu, "tanh": torch.tanh}[act]
    a, rec = x, []
    L = len(params)
    for k, (W, b) in enumerate(params):
        z = a @ W.T + b
        z.retain_grad()
        h = f(z) if k < L - 1 else z
        if k < L - 1:
            h.retain_grad()
        rec.append((a, z, h))
        a = h
    return a, rec


def run_case(name, opt, act, tmp):
    run = os.path.join(tmp, name)
    cfg = os.path.join(tmp, name + ".cfg")
    open(cfg, "w").write(config(opt, act))
    r = subprocess.run([NERVE, "train", cfg, "--out", run], capture_output=True, text=True)
    if r.returncode != 0:
        print(f"FAIL {name}: nerve train exited {r.returncode}: {r.stderr[-500:]}")
        return 1
    data = h5py.File(os.path.join(run, "data.h5"), "r")
    X, Y, ids = data["train/x"][:], data["train/y"][:].astype(np.int64), data["train/ids"][:]
    row_of = {int(v): i for i, v in enumerate(ids)}
    nbad = 0
    for model in ("expressive", "bottleneck"):
        f = h5py.File(os.path.join(run, "dynamics", model + ".h5"), "r")
        names = layers_of(f)
        widths = [int(w) for w in f.attrs["widths"]]
        L = len(names)
        B = int(f.attrs["batch_size"])
        lr = float(f.attrs["lr"])
        mom, wd = float(f.attrs["momentum"]), float(f.attrs["weight_decay"])
        b1 = float(f.attrs["beta1"])
        wsteps = f["weights/step"][:]
        params = f["weights/params"][:]
        state1 = f["weights/state1"][:] if "weights/state1" in f else None
        S = int(wsteps[-1])
        assert list(wsteps) == list(range(S + 1)), "weights every step expected"
        fstep = f["factors/step"][:]
        sstep = f["samples/step"][:]
        nstep = f["neurons/step"][:]
        tstep = f["steps/step"][:]
        steps_to_check = sorted({1, 2, 3, S // 2, S - 1, S})
        topk_ok = topk_n = 0
        for s in steps_to_check:
            fr = np.flatnonzero(fstep == s)
            srow = np.flatnonzero(sstep == s)
            ni = int(np.flatnonzero(nstep == s)[0])
            ti = int(np.flatnonzero(tstep == s)[0])
            b = len(fr)
            rows = [row_of[int(i)] for i in f["factors/sample_id"][fr[0]:fr[-1] + 1]]
            assert list(f["samples/sample_id"][srow[0]:srow[-1] + 1]) == list(f["factors/sample_id"][fr[0]:fr[-1] + 1])
            x = torch.tensor(X[rows].astype(np.float64))
            y = torch.tensor(Y[rows])
            P = [(torch.tensor(W, requires_grad=True), torch.tensor(bb, requires_grad=True))
                 for W, bb in unflatten(params[s - 1].astype(np.float64), widths)]
            out, rec = forward(P, x, act)
            per = torch.nn.functional.cross_entropy(out, y, reduction="none")
            loss = per.mean()
            loss.backward()
            tag = f"{name}/{model} step {s}"
            # steps tier: loss and accuracy before the update (atol 1e-6, rtol 1e-5)
            check(f"{tag} loss", f["steps/loss"][ti], loss.item(), 1e-6, 1e-5)
            acc = (out.argmax(1) == y).double().mean().item()
            check(f"{tag} accuracy", f["steps/accuracy"][ti], acc, 0, 0)
            check(f"{tag} samples/loss", f["samples/loss"][srow[0]:srow[-1] + 1], per.detach().numpy(), 1e-6, 1e-5)
            check(f"{tag} samples/correct", f["samples/correct"][srow[0]:srow[-1] + 1],
                  (out.argmax(1) == y).numpy().astype(np.uint8), 0, 0)
            # per-sample gradients by a per-sample loop (float64)
            psg = []
            for i in range(b):
                Pi = [(W.detach().clone().requires_grad_(), bb.detach().clone().requires_grad_()) for W, bb in P]
                oi, _ = forward(Pi, x[i:i + 1], act)
                li = torch.nn.functional.cross_entropy(oi, y[i:i + 1])
                g = torch.autograd.grad(li, [t for pair in Pi for t in pair])
                psg.append([(g[2 * k].numpy(), g[2 * k + 1].numpy()) for k in range(L)])
            W_prev = unflatten(params[s - 1], widths)
            W_now = unflatten(params[s], widths)
            W_init = unflatten(params[0], widths)
            for k, ln in enumerate(names):
                a_t, z_t, h_t = rec[k]
                A = f[f"factors/{ln}/a"][fr[0]:fr[-1] + 1].astype(np.float64)
                D = f[f"factors/{ln}/d"][fr[0]:fr[-1] + 1].astype(np.float64)
                Z = f[f"factors/{ln}/pre"][fr[0]:fr[-1] + 1].astype(np.float64)
                # factors: the layer's input, pre-activation, and d_i = b dLossmean/dz_i
                # (atol 1e-6, rtol 1e-5: float32 against float64)
                check(f"{tag} {ln} factor a", A, a_t.detach().numpy(), 1e-6, 1e-5)
                check(f"{tag} {ln} factor pre", Z, z_t.detach().numpy(), 1e-6, 1e-5)
                dz = z_t.grad.numpy()
                check(f"{tag} {ln} factor d", D, b * dz, 1e-6, 1e-4)
                # per-sample gradients equal d_i a_i^T and d_i (atol 1e-6, rtol 1e-4)
                gW = np.stack([psg[i][k][0] for i in range(b)])
                gb = np.stack([psg[i][k][1] for i in range(b)])
                check(f"{tag} {ln} per-sample dW = d a^T", np.einsum("bi,bj->bij", D, A), gW, 1e-6, 1e-4)
                check(f"{tag} {ln} per-sample db = d", D, gb, 1e-6, 1e-4)
                norms = np.sqrt((gW ** 2).sum((1, 2)) + (gb ** 2).sum(1))
                check(f"{tag} {ln} samples/grad_norm", f["samples/grad_norm"][srow[0]:srow[-1] + 1, k], norms, 1e-6,
                      1e-4)
                # neuron statistics from the hooks
                Wg, bg = P[k][0].grad.numpy(), P[k][1].grad.numpy()
                g = f"neurons/{ln}"
                check(f"{tag} {ln} mean_act", f[g + "/mean_act"][ni], h_t.detach().numpy().mean(0), 1e-6, 1e-5)
                check(f"{tag} {ln} frac_active", f[g + "/frac_active"][ni], (z_t.detach().numpy() > 0).mean(0), 1e-7, 0)
                check(f"{tag} {ln} mean_abs_delta", f[g + "/mean_abs_delta"][ni], np.abs(b * dz).mean(0), 1e-6, 1e-4)
                check(f"{tag} {ln} row grad_norm", f[g + "/grad_norm"][ni], np.linalg.norm(Wg, axis=1), 1e-6, 1e-4)
                check(f"{tag} {ln} row update_norm", f[g + "/update_norm"][ni],
                      np.linalg.norm(W_now[k][0].astype(np.float64) - W_prev[k][0], axis=1), 1e-7, 1e-5)
                hg = (h_t.grad if k < L - 1 else z_t.grad).numpy()
                infl = np.abs((h_t.detach().numpy() * hg).sum(0))
                check(f"{tag} {ln} influence", f[g + "/influence"][ni], infl, 1e-6, 1e-4)
                # top-k: nerve's order, unless two influences are within rounding
                tk = f[g + "/top_k"][ni]
                ref = np.argsort(-infl, kind="stable")[:len(tk)]
                topk_n += 1
                if list(tk) == list(ref) or np.allclose(infl[tk], infl[ref], rtol=1e-4, atol=1e-7):
                    topk_ok += 1
                else:
                    print(f"FAIL {tag} {ln} top_k: nerve {list(tk)} torch {list(ref)}")
                    nbad += 1
                # steps tier, per layer (layer = weight matrix and bias)
                grad_n = np.sqrt((Wg ** 2).sum() + (bg ** 2).sum())
                check(f"{tag} {ln} grad_norm", f["steps/grad_norm"][ti, k], grad_n, 1e-6, 1e-4)
                cat = lambda wb: np.concatenate([wb[0].ravel(), wb[1].ravel()]).astype(np.float64)
                check(f"{tag} {ln} weight_norm", f["steps/weight_norm"][ti, k], np.linalg.norm(cat(W_now[k])), 1e-6, 1e-5)
                check(f"{tag} {ln} update_norm", f["steps/update_norm"][ti, k],
                      np.linalg.norm(cat(W_now[k]) - cat(W_prev[k])), 1e-7, 1e-5)
                check(f"{tag} {ln} init_distance", f["steps/init_distance"][ti, k],
                      np.linalg.norm(cat(W_now[k]) - cat(W_init[k])), 1e-7, 1e-5)
                dead = ((z_t.detach().numpy() > 0).sum(0) == 0).mean()
                # a float32 ratio of counts (atol 1e-7)
                check(f"{tag} {ln} dead_frac", f["steps/dead_frac"][ti, k], dead, 1e-7, 0)
                # the summed contributions of the step's samples and the applied update
                G = np.einsum("bi,bj->ij", D, A) / b
                Gb = D.sum(0) / b
                if "sgd" in name and mom == 0 and wd == 0:
                    # SGD: W_s - W_{s-1} = -lr (1/b) sum_i d_i a_i^T (atol 1e-7, rtol 1e-4:
                    # float32 weights, the difference of two rounded numbers)
                    check(f"{tag} {ln} SGD update = -lr sum of contributions",
                          W_now[k][0].astype(np.float64) - W_prev[k][0], -lr * G, 2e-7, 1e-3)
                    check(f"{tag} {ln} SGD bias update", W_now[k][1].astype(np.float64) - W_prev[k][1], -lr * Gb, 2e-7,
                          1e-3)
                off = sum(widths[j] * widths[j + 1] + widths[j + 1] for j in range(k))
                nW = widths[k] * widths[k + 1]
                if state1 is not None and s >= 2:
                    m_now = state1[s, off:off + nW].astype(np.float64).reshape(W_prev[k][0].shape)
                    m_prev = state1[s - 1, off:off + nW].astype(np.float64).reshape(W_prev[k][0].shape)
                    gwd = G + wd * W_prev[k][0]
                    if "momentum" in name:
                        # buf_s = momentum buf_{s-1} + g_s + wd W_{s-1} (atol 1e-6, rtol 1e-4)
                        check(f"{tag} {ln} momentum recurrence", m_now, mom * m_prev + gwd, 1e-6, 1e-4)
                    elif "adam" in name:
                        # Adam: g from m_s = b1 m_{s-1} + (1 - b1) g (the update itself is not
                        # linear in the contributions); the subtraction costs digits:
                        # atol 1e-5 x max |g|, rtol 1e-3
                        g_rec = (m_now - b1 * m_prev) / (1 - b1)
                        check(f"{tag} {ln} Adam gradient from m", g_rec, gwd, 1e-5 * np.abs(gwd).max() + 1e-7, 1e-3)
        # the rebuilt weights equal the checkpoint; a torch replay agrees (window)
        r = subprocess.run([NERVE, "dynamics", run, "weights", "--model", model, "--step", str(S), "--from", "0",
                            "--out", os.path.join(tmp, f"{name}-{model}.h5")], capture_output=True, text=True)
        if r.returncode != 0 or "max |rebuilt - checkpoint| = 0 over" not in r.stdout:
            print(f"FAIL {name}/{model}: rebuild: {r.stdout} {r.stderr}")
            nbad += 1
        rebuilt = h5py.File(os.path.join(tmp, f"{name}-{model}.h5"), "r")["params"][:]
        ck = h5py.File(os.path.join(run, "checkpoints", model + ".h5"), "r")["params"][:]
        check(f"{name}/{model} rebuilt = checkpoint (exact)", rebuilt, ck, 0, 0)
        # torch.optim replay over the recorded batches, float32 like training
        P = [(torch.tensor(W, dtype=torch.float32, requires_grad=True), torch.tensor(bb, dtype=torch.float32,
                                                                                     requires_grad=True))
             for W, bb in unflatten(params[0], widths)]
        flat = [t for pair in P for t in pair]
        if "adam" in name:
            o = torch.optim.Adam(flat, lr=lr, betas=(b1, float(f.attrs["beta2"])), eps=float(f.attrs["eps"]),
                                 weight_decay=wd)
        else:
            o = torch.optim.SGD(flat, lr=lr, momentum=mom, weight_decay=wd)
        tl = f["steps/loss"][:]
        for s in range(1, S + 1):
            fr = np.flatnonzero(fstep == s)
            rows = [row_of[int(i)] for i in f["factors/sample_id"][fr[0]:fr[-1] + 1]]
            o.zero_grad()
            out, _ = forward(P, torch.tensor(X[rows], dtype=torch.float32), act)
            l = torch.nn.functional.cross_entropy(out, torch.tensor(Y[rows]))
            l.backward()
            o.step()
            check(f"{name}/{model} replay loss step {s}", tl[s - 1], l.item(), 0, 1e-4)
        final = np.concatenate([np.concatenate([W.detach().numpy().ravel(), bb.detach().numpy().ravel()]) for W, bb in P])
        check(f"{name}/{model} torch replay vs checkpoint", ck, final, 1e-4, 1e-3)
        print(f"{name}/{model}: {len(steps_to_check)} steps checked against torch, top-k {topk_ok}/{topk_n}, rebuilt "
              f"over {S} steps = checkpoint")
    return nbad


def f16_error(tmp):
    """What f16 factors cost: the same run with factors.precision = "f16" (training is
    the same: the recorder only reads) against the f32 one; relative errors of the
    factors, of the per-sample gradients d_i a_i^T, of the batch gradients, and the
    drift of weights rebuilt from f16 factors over a whole run."""
    nbad = 0
    name, opt, act = CASES[2]
    cfg = os.path.join(tmp, "f16.cfg")
    open(cfg, "w").write(config(opt, act).replace('preactivations = true;', 'preactivations = true; precision = "f16";'))
    run = os.path.join(tmp, "f16")
    r = subprocess.run([NERVE, "train", cfg, "--out", run], capture_output=True, text=True)
    if r.returncode != 0:
        print(f"FAIL f16 run: {r.stderr[-400:]}")
        return 1
    ref = h5py.File(os.path.join(tmp, name, "dynamics", "expressive.h5"), "r")
    half = h5py.File(os.path.join(run, "dynamics", "expressive.h5"), "r")
    if half["factors/hidden1/a"].dtype != np.float16:
        print(f"FAIL f16: stored as {half['factors/hidden1/a'].dtype}")
        nbad += 1
    rel = lambda x, y: np.abs(x - y).max() / max(np.abs(y).max(), 1e-30)
    worst = {"a": 0.0, "d": 0.0, "per-sample gradient": 0.0, "batch gradient": 0.0}
    steps = ref["factors/step"][:]
    for ln in layers_of(ref):
        A32, D32 = ref[f"factors/{ln}/a"][:].astype(np.float64), ref[f"factors/{ln}/d"][:].astype(np.float64)
        A16, D16 = half[f"factors/{ln}/a"][:].astype(np.float64), half[f"factors/{ln}/d"][:].astype(np.float64)
        worst["a"] = max(worst["a"], rel(A16, A32))
        worst["d"] = max(worst["d"], rel(D16, D32))
        for s in (1, int(steps[-1])):
            rows = np.flatnonzero(steps == s)
            P32 = np.einsum("bi,bj->bij", D32[rows], A32[rows])
            P16 = np.einsum("bi,bj->bij", D16[rows], A16[rows])
            worst["per-sample gradient"] = max(worst["per-sample gradient"], rel(P16, P32))
            worst["batch gradient"] = max(worst["batch gradient"], rel(P16.mean(0), P32.mean(0)))
    # relative to the largest entry; f16 keeps 11 significant bits (2^-11 = 4.9e-4)
    for k, v in worst.items():
        print(f"f16 factors: max |f16 - f32| / max |f32| of {k}: {v:.2e}")
        if not v < 2e-3:
            print(f"FAIL f16 {k} error {v:.2e} >= 2e-3")
            nbad += 1
    S = int(half.attrs["last_step"])
    r = subprocess.run([NERVE, "dynamics", run, "weights", "--step", str(S), "--from", "0", "--out",
                        os.path.join(tmp, "f16-w.h5")], capture_output=True, text=True)
    ck = h5py.File(os.path.join(run, "checkpoints", "expressive.h5"), "r")["params"][:]
    w = h5py.File(os.path.join(tmp, "f16-w.h5"), "r")["params"][:]
    drift = np.abs(w.astype(np.float64) - ck).max()
    print(f"f16 factors: weights rebuilt over {S} Adam steps differ from the checkpoint by at most {drift:.2e} "
          f"(max |weight| {np.abs(ck).max():.2f})")
    if not drift < 1e-2:
        print(f"FAIL f16 rebuild drift {drift:.2e}")
        nbad += 1
    return nbad


with tempfile.TemporaryDirectory(prefix="nerve-dyntorch-") as tmp:
    for name, opt, act in CASES:
        nbad = run_case(name, opt, act, tmp)
        fails += nbad
    nbad = f16_error(tmp)
    fails += nbad
print(f"dynamics_torch: {fails} failure(s)")
sys.exit(1 if fails else 0)
