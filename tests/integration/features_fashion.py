"""features_fashion.py: readable feature images with the defaults (issue 18), on a
Fashion-MNIST net trained here (784-64-64-10, the first 5000 training images, 8
epochs: about 90% train accuracy in a few seconds on 2 cores):

 - the expressive net reaches at least 85% train accuracy (else the check below
   would say nothing);
 - `nerve features RUN` with the default settings: each logit's feature image is
   classified as its own class with probability >= 0.9 by the net's softmax
   (evaluated here in PyTorch on the snapshot's stored weights);
 - each logit image's difference from the data mean correlates more with its own
   class's mean difference (class mean - data mean) than with any other class's,
   for at least 9 of the 10 classes;
 - no feature image of any layer equals a training image (the ascent's own result
   is what is stored, never a data sample);
 - units whose ascent ended below their data maximum are exactly those marked
   below_data.
Skips (77) when Debian's dataset-fashion-mnist is not installed.
"""
import glob
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from nervetest import ROOT, check, finish, run  # noqa: E402

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

if not os.path.exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"):
    print("SKIP: Debian's dataset-fashion-mnist is not installed")
    sys.exit(77)

tmp = tempfile.mkdtemp(prefix="nerve-featfashion-")
cfg = os.path.join(tmp, "f.cfg")
with open(cfg, "w") as f:
    f.write("""experiment = "featfashion";
seed = 1;
data: { source = "fashion-mnist"; fashion_mnist: { limit = 5000; test_limit = 1000; }; };
models: { hidden = [64, 64]; activation = "relu"; bottleneck_layer = 1; bottleneck_width = 2;
          linear_baseline = false; };
train: { epochs = 8; batch_size = 64; optimizer = "adam"; lr = 0.002; threads = 2; };
snapshots: { epochs = [8]; layers = "all"; compression = 1; };
""")
out = os.path.join(tmp, "run")
run(["train", cfg, "--out", out])
acc = json.load(open(os.path.join(out, "summary.json")))["models"]["expressive"]["train_acc"]
check(acc >= 0.85, "the expressive net reaches %.1f%% train accuracy (>= 85%%)" % (100 * acc))

# The defaults, as a new user runs them (one model, every layer, figures included).
run(["features", out, "--models", "expressive", "--threads", "2"])
feat = sorted(glob.glob(out + "/analysis/features/expressive/epoch_*.h5"))[-1]
snap = feat.replace("analysis/features", "snapshots")

with h5py.File(snap) as h:
    m = h["model"]
    L = int(m.attrs["nlayers"])
    widths = [int(v) for v in m.attrs["widths"]]
    p = m["params"][:].astype(np.float64)
    X = h["layers/input/train"][:]
    y = h["labels/train"][:]
Ws, bs, o = [], [], 0
for l in range(L):
    n = widths[l + 1] * widths[l]
    Ws.append(torch.tensor(p[o:o + n].reshape(widths[l + 1], widths[l]))); o += n
    bs.append(torch.tensor(p[o:o + widths[l + 1]])); o += widths[l + 1]


def softmax_of(x):
    a = torch.tensor(x, dtype=torch.float64)
    for k in range(L):
        a = a @ Ws[k].T + bs[k]
        if k < L - 1:
            a = torch.relu(a)
    return torch.softmax(a, dim=1).numpy()


def corr(a, b):
    a = a - a.mean()
    b = b - b.mean()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


mean = X.mean(0).astype(np.float64)
C = int(y.max()) + 1
class_diff = np.stack([X[y == c].mean(0) - mean for c in range(C)])
rows = {r.tobytes() for r in X}
with h5py.File(feat) as h:
    names = [n.decode() if isinstance(n, bytes) else n for n in h.attrs["layer_names"]]
    check(names == ["hidden%d" % i for i in range(1, L)] + ["logits"], "every layer computed: %s" % names)
    for name in names:
        g = h["layers/" + name]
        xf, a, dmax, below = g["inputs"][:], g["activations"][:], g["data_max"][:], g["below_data"][:]
        same = sum(r.tobytes() in rows for r in xf.astype(np.float32))
        check(same == 0, "%s: no feature image equals a training image (%d do)" % (name, same))
        want = a < dmax - 1e-5 * (1 + np.abs(dmax))
        check(np.array_equal(below.astype(bool), want),
              "%s: below_data marks the %d of %d units that end below their data maximum"
              % (name, int(want.sum()), len(a)))
    xl = h["layers/logits/inputs"][:].astype(np.float64)
pr = softmax_of(xl)
p_own = np.array([pr[c, c] for c in range(C)])
print("p(own class) per logit image: " + " ".join("%.3f" % v for v in p_own))
check(np.all(p_own >= 0.9), "every logit image is classified as its class with p >= 0.9 (min %.3f)" % p_own.min())
cc = np.array([[corr(xl[c] - mean, class_diff[k]) for k in range(C)] for c in range(C)])
best = [int(np.argmax(cc[c])) for c in range(C)]
print("correlation with its own class's mean difference: " + " ".join("%.2f" % cc[c, c] for c in range(C)))
print("best-correlated class per logit image: %s" % best)
n_own = sum(best[c] == c for c in range(C))
check(n_own >= 9, "%d of 10 logit images correlate best with their own class's mean difference (>= 9)" % n_own)
figs = os.listdir(out + "/analysis/figures/features")
check(any(f.endswith("_logits_focus.png") for f in figs) and any(f.endswith("_logits.png") for f in figs),
      "figures written (grid and focus)")
shutil.rmtree(tmp)
finish()
