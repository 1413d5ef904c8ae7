#!/usr/bin/env python3
"""train_torch_parity.py: nerve's training against PyTorch (the oracle) from the
same initial weights and the same sample order (docs/CONTRACTS.md: per-step loss within
rtol 1e-4 over the first 200 steps), plus the step-0 gradient (atol 1e-5), for SGD
with momentum and weight decay and for Adam, over every activation, and for a
learning rate that halves every `half` steps (train.lr_half_life; PyTorch's
LambdaLR with 0.5 ** (k / half)).

nerve's side is $BUILD/tests/tools/train_trace (tests/tools/train_trace.c), which
writes the data, initial parameters, order, gradient and losses; this script
rebuilds the same network as nn.Sequential of nn.Linear, loads the parameters,
replays the order with torch.optim and compares. Runs under /usr/bin/python3
(Debian's torch); exits 77 with a SKIP line when torch or the driver is missing.
"""
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as e:  # pragma: no cover
    print(f"SKIP: PyTorch/numpy not importable ({e}); run under /usr/bin/python3")
    sys.exit(77)

ROOT = os.environ.get("NERVE_ROOT", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BUILD = os.environ.get("BUILD", "build")
TOOL = os.path.join(ROOT, BUILD, "tests", "tools", "train_trace")
DEVICE = os.environ.get("NERVE_TRACE_DEVICE", "cpu")

STEPS = 200
# name, widths, act, opt, extra options
CASES = [
    ("relu-sgd-momentum-wd", [12, 64, 64, 64, 2], "relu", "sgd",
     dict(lr=0.02, momentum=0.9, wd=1e-3)),
    ("relu-adam-bottleneck", [12, 3, 64, 64, 2], "relu", "adam", dict(lr=1e-3)),
    ("tanh-adam-wd", [10, 32, 32, 4], "tanh", "adam", dict(lr=2e-3, wd=1e-2)),
    ("tanh-sgd", [10, 32, 3], "tanh", "sgd", dict(lr=0.1, momentum=0.5, wd=1e-4)),
    ("sigmoid-sgd-momentum", [8, 24, 24, 3], "sigmoid", "sgd", dict(lr=0.2, momentum=0.9)),
    ("sigmoid-adam-xavier", [8, 24, 2], "sigmoid", "adam", dict(lr=3e-3, init="xavier")),
    ("leaky-adam", [12, 48, 48, 2], "leaky_relu", "adam", dict(lr=1e-3, slope=0.05, wd=1e-3)),
    ("leaky-sgd-momentum", [12, 48, 5], "leaky_relu", "sgd", dict(lr=0.05, momentum=0.9, slope=0.01)),
    ("logistic-sgd", [12, 2], "relu", "sgd", dict(lr=0.1)),
    ("relu-adam-halflife", [12, 64, 64, 2], "relu", "adam", dict(lr=1e-2, half=50)),
    ("tanh-sgd-momentum-halflife", [10, 32, 32, 3], "tanh", "sgd", dict(lr=0.1, momentum=0.9, half=40)),
]


def run_case(name, widths, act, opt, kw, tmp):
    out = os.path.join(tmp, name)
    n, batch, seed = 512, 32, 7
    lr = kw["lr"]
    cmd = [TOOL, "--widths", ",".join(map(str, widths)), "--act", act, "--opt", opt,
           "--lr", repr(lr), "--seed", str(seed), "--n", str(n), "--batch", str(batch),
           "--steps", str(STEPS), "--out", out, "--device", DEVICE]
    for k in ("momentum", "wd", "slope", "init"):
        if k in kw:
            cmd += ["--" + k, str(kw[k])]
    if "half" in kw:
        cmd += ["--half-life", str(kw["half"])]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode == 77:
        print(f"SKIP: no usable CUDA device ({r.stderr.strip()})")
        sys.exit(77)
    if r.returncode != 0:
        print(f"FAIL {name}: train_trace exited {r.returncode}: {r.stderr}")
        return False

    d, L = widths[0], len(widths) - 1
    x = torch.from_numpy(np.fromfile(os.path.join(out, "x.f32"), dtype="<f4").reshape(n, d))
    y = torch.from_numpy(np.fromfile(os.path.join(out, "y.i32"), dtype="<i4").astype(np.int64))
    p0 = np.fromfile(os.path.join(out, "params0.f32"), dtype="<f4")
    order = np.fromfile(os.path.join(out, "order.u32"), dtype="<u4").astype(np.int64).reshape(STEPS, batch)
    g0 = np.fromfile(os.path.join(out, "grad0.f32"), dtype="<f4")
    nerve_loss = np.fromfile(os.path.join(out, "loss.f32"), dtype="<f4").astype(np.float64)
    nerve_final = np.fromfile(os.path.join(out, "params.f32"), dtype="<f4")

    # the same network, parameters from the flat layout of mlp.h: W_l (out, in), b_l
    acts = {"relu": torch.nn.ReLU(), "tanh": torch.nn.Tanh(), "sigmoid": torch.nn.Sigmoid(),
            "leaky_relu": torch.nn.LeakyReLU(kw.get("slope", 0.01)), "identity": torch.nn.Identity()}
    layers = []
    for l in range(L):
        layers.append(torch.nn.Linear(widths[l], widths[l + 1]))
        if l < L - 1:
            layers.append(acts[act])
    net = torch.nn.Sequential(*layers)
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    off = 0
    with torch.no_grad():
        for lin in linears:
            nw, nb = lin.weight.numel(), lin.bias.numel()
            lin.weight.copy_(torch.from_numpy(p0[off:off + nw].reshape(lin.weight.shape)))
            off += nw
            lin.bias.copy_(torch.from_numpy(p0[off:off + nb]))
            off += nb
    assert off == p0.size, f"{name}: parameter count {p0.size} != {off}"

    def flat(tensors):
        return torch.cat([t.reshape(-1) for t in tensors]).detach().numpy()

    params = [p for lin in linears for p in (lin.weight, lin.bias)]
    # step-0 gradient (no weight decay: the driver's gradient is the loss's own)
    net.zero_grad()
    F.cross_entropy(net(x[order[0]]), y[order[0]]).backward()
    tg0 = flat([p.grad for p in params])
    ok = True
    gerr = np.abs(tg0 - g0).max()
    if not np.all(np.abs(tg0 - g0) <= 1e-5):
        print(f"FAIL {name}: step-0 gradient differs from PyTorch by up to {gerr:.3g} (atol 1e-5)")
        ok = False

    if opt == "sgd":
        o = torch.optim.SGD(params, lr=lr, momentum=kw.get("momentum", 0.0), weight_decay=kw.get("wd", 0.0))
    else:
        o = torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=kw.get("wd", 0.0))
    sched = None
    if "half" in kw:  # step k (0-based) runs at lr * 0.5^(k / half)
        sched = torch.optim.lr_scheduler.LambdaLR(o, lambda k: 0.5 ** (k / kw["half"]))
    torch_loss = np.zeros(STEPS)
    for k in range(STEPS):
        o.zero_grad()
        loss = F.cross_entropy(net(x[order[k]]), y[order[k]])
        loss.backward()
        o.step()
        if sched:
            sched.step()
        torch_loss[k] = loss.item()
    rel = np.abs(nerve_loss - torch_loss) / np.abs(torch_loss)
    worst = int(np.argmax(rel))
    if not np.all(np.abs(nerve_loss - torch_loss) <= 1e-4 * np.abs(torch_loss)):
        bad = int(np.argmax(np.abs(nerve_loss - torch_loss) > 1e-4 * np.abs(torch_loss)))
        print(f"FAIL {name}: step {bad + 1}: nerve loss {nerve_loss[bad]:.9g}, PyTorch {torch_loss[bad]:.9g} "
              f"(rtol 1e-4); worst relative difference {rel[worst]:.3g} at step {worst + 1}")
        ok = False
    pf = flat(params)
    perr = np.abs(pf - nerve_final).max()
    print(f"{'ok  ' if ok else 'FAIL'} {name}: loss {torch_loss[0]:.4f} -> {torch_loss[-1]:.4f}; "
          f"max rel loss diff {rel.max():.2e} (step {worst + 1}); grad0 max diff {gerr:.2e}; "
          f"final params max diff {perr:.2e}")
    return ok


def main():
    if not os.path.exists(TOOL):
        print(f"SKIP: {TOOL} not built (make BUILD={BUILD} test builds it)")
        return 77
    torch.set_num_threads(1)
    torch.manual_seed(0)
    ok = True
    with tempfile.TemporaryDirectory(prefix="nerve-torch-parity-") as tmp:
        for name, widths, act, opt, kw in CASES:
            ok &= run_case(name, widths, act, opt, kw, tmp)
    print("all cases within the parity window" if ok else "parity FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
