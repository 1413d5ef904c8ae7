#!/usr/bin/python3
"""metric_di.py: a D-I-like sanity check of the kNN-geodesic distance
(Naitzat, Zhitnikov and Lim, "Topology of Deep Neural Networks", JMLR 2020).

Class a is nine disks inside a square, class b the rest of the square. A few
10-layer width-15 ReLU nets are trained with PyTorch (independent of nerve's
trainer), and beta0 of class a is read in every layer two ways:
  - kNN-hops (k = 14, scale 2 hops, as in the paper) with nerve's metric.c;
  - Euclidean Vietoris-Rips at one fixed scale, calibrated on the input so that it
    shows the nine disks.
Expected (the paper's finding, and the reason the kNN metric exists): the kNN beta0
starts at 9 and falls towards 1 through the layers; the Euclidean reading at the
input's scale does not fall the same way (it breaks the stretched layers into dust).

Slow (trains nets): runs only under `make test-long` (NERVE_LONG=1); otherwise SKIP.
Exit 0 pass, 77 skip, 1 fail.
"""
import os
import sys
import tempfile

if os.environ.get("NERVE_LONG") != "1":
    print("SKIP metric_di: trains networks; runs under make test-long (NERVE_LONG=1)")
    sys.exit(77)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
try:
    import numpy as np
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components
    import torch
    import metric_oracle as mo
except ImportError as e:  # pragma: no cover
    print(f"SKIP metric_di: {e} (run under /usr/bin/python3)")
    sys.exit(77)

CENTRES = np.array([[i, j] for i in (-2.0, 0.0, 2.0) for j in (-2.0, 0.0, 2.0)])
R = 0.6


def dataset(rng, n_a=900, n_b=900):
    a = []
    per = n_a // 9
    for c in CENTRES:
        rad = R * np.sqrt(rng.random(per))
        ang = rng.random(per) * 2 * np.pi
        a.append(c + np.c_[rad * np.cos(ang), rad * np.sin(ang)])
    a = np.concatenate(a)
    b = []
    while len(b) < n_b:
        p = rng.uniform(-3, 3, 2)
        if np.min(np.linalg.norm(CENTRES - p, axis=1)) > R + 0.1:
            b.append(p)
    x = np.concatenate([a, np.array(b)]).astype(np.float32)
    y = np.r_[np.zeros(len(a)), np.ones(len(b))].astype(np.float32)
    return x, y


def train(x, y, seed, depth=10, width=15, epochs=400):
    """Minibatch Adam with He initialisation: full-batch training of a 10-layer
    width-15 ReLU net often stalls near the majority class."""
    torch.manual_seed(seed)
    layers, d = [], 2
    for _ in range(depth):
        lin = torch.nn.Linear(d, width)
        torch.nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")
        torch.nn.init.zeros_(lin.bias)
        layers += [lin, torch.nn.ReLU()]
        d = width
    net = torch.nn.Sequential(*layers, torch.nn.Linear(d, 1))
    opt = torch.optim.Adam(net.parameters(), lr=0.003)
    X, Y = torch.from_numpy(x), torch.from_numpy(y)
    for ep in range(epochs):
        if ep == epochs - 100:
            for g in opt.param_groups:
                g["lr"] = 0.0005
        perm = torch.randperm(len(X))
        for b in range(0, len(X), 64):
            i = perm[b:b + 64]
            opt.zero_grad()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(net(X[i]).squeeze(1), Y[i])
            loss.backward()
            opt.step()
    with torch.no_grad():
        acc = float(((net(X).squeeze(1) > 0).float() == Y).float().mean())
        acts, h = [], X
        for m in net[:-1]:
            h = m(h)
            if isinstance(m, torch.nn.ReLU):
                acts.append(h.numpy().copy())
    return acc, acts


def components(G, scale):
    A = (G <= scale) & np.isfinite(G)
    return connected_components(sp.csr_matrix(A), directed=False)[0]


def main():
    tmp = tempfile.mkdtemp(prefix="nerve-di-")
    exe = mo.build_driver(tmp)
    rng = np.random.default_rng(3)
    x, y = dataset(rng)
    xa = x[y == 0]
    na = xa.shape[0]
    pts = os.path.join(tmp, "a.bin")
    out = os.path.join(tmp, "a.out")

    def matrix(z, kind, k=0):
        mo.write_points(pts, z)
        mo.run(exe, "dist", kind, k, 0, pts, out)
        return mo.square_from_lower(np.fromfile(out, dtype=np.float32).astype(np.float64), na)

    # The Euclidean scale: the middle of the range where the input shows 9 components.
    E0 = matrix(xa, "euclidean")
    tri = E0[np.tril_indices(na, -1)]
    # single-linkage merge heights via the MST
    from scipy.sparse.csgraph import minimum_spanning_tree
    heights = np.sort(minimum_spanning_tree(E0).data)[::-1]  # largest first: merging the last 8 gaps joins the disks
    lo, hi = heights[8], heights[7]
    eu_scale = 0.5 * (lo + hi)
    print(f"input: Euclidean beta0 = 9 on [{lo:.4f}, {hi:.4f}); scale {eu_scale:.4f}; "
          f"{tri.size} pairs")
    check_in = components(E0, eu_scale)
    K0 = matrix(xa, "knn-hops", 14)
    knn_in = components(K0, 2.0)
    print(f"input: kNN(14) beta0 at 2 hops = {knn_in}, Euclidean beta0 at its scale = {check_in}")

    nets = int(os.environ.get("NERVE_DI_NETS", "3"))
    knn_rows, eu_rows = [], []
    for seed in range(nets):
        acc, acts = train(x, y, seed)
        ka = [components(matrix(a[y == 0], "knn-hops", 14), 2.0) for a in acts]
        ea = [components(matrix(a[y == 0], "euclidean"), eu_scale) for a in acts]
        print(f"net {seed}: train accuracy {acc:.3f}")
        print(f"   kNN-hops beta0 by layer:  {ka}")
        print(f"   Euclidean beta0 by layer: {ea}")
        if acc >= 0.97:
            knn_rows.append(ka)
            eu_rows.append(ea)
    if not knn_rows:
        print("FAIL: no net reached 97% training accuracy")
        return 1
    km = np.mean(knn_rows, axis=0)
    em = np.mean(eu_rows, axis=0)
    print("mean kNN-hops beta0:  " + " ".join(f"{v:.1f}" for v in [knn_in] + list(km)))
    print("mean Euclidean beta0: " + " ".join(f"{v:.1f}" for v in [check_in] + list(em)))
    ok = knn_in == 9 and check_in == 9 and km[-1] <= 2.0 and km[-1] < km[0] + 1e-9 and em[-1] > km[-1]
    print("PASS" if ok else "FAIL: expected kNN beta0 9 at the input, <= 2 at the last layer, "
          "below the Euclidean reading")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
