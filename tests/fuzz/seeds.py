#!/usr/bin/python3
"""seeds.py: writes the starting seeds of tests/fuzz/corpus/<target>/ (small valid
inputs of each format and the malformed cases of the hand-picked error tests).
Run once from the project root when a target is added; the corpus grown by
fuzzing (minimised with -merge=1) is committed beside these. HDF5 seeds come
from tests/fuzz/h5seeds.sh (files written by nerve itself)."""
import gzip
import os
import struct

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, name, data):
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


# --- nerve ph --format ...
put("ph_distance", "square", "0 1 2\n1 0 3\n2 3 0\n")
put("ph_distance", "lower-diag", "0\n1 0\n2 3 0\n")
put("ph_distance", "commas-comments", "# a comment\n0, 1, 2\n1, 0, 1.5 # x\n2, 1.5, 0\n")
put("ph_distance", "asym", "0 1 2\n1 0 3\n2.5 3 0\n")
put("ph_distance", "diag", "1 0\n0 1\n")
put("ph_distance", "ties", "0 1 1 1\n1 0 1 1\n1 1 0 1\n1 1 1 0\n")
put("ph_lower_distance", "four", "1\n1 2\n2 1 1\n")
put("ph_lower_distance", "flat", "1 1 2 2 1 1\n")
put("ph_lower_distance", "bad-count", "1\n2 3\n4 5\n")
put("ph_lower_distance", "exp", "1e-3 2.5e+1 3E2\n")
put("ph_upper_distance", "four", "1 2 2\n1 1\n1\n")
put("ph_upper_distance", "three", "0.5 1 1.5\n")
put("ph_point_cloud", "square", "0 0\n1 0\n0 1\n1 1\n")
put("ph_point_cloud", "circle", "".join("%.6f %.6f\n" % (__import__("math").cos(k * 0.7), __import__("math").sin(k * 0.7)) for k in range(9)))
put("ph_point_cloud", "ragged", "0 0\n1 0\n0 1 2\n")
put("ph_point_cloud", "nan", "0 0\n1 nan\n2 2\n")
put("ph_point_cloud", "commas", "0,0,0\n1,0,0\n0,1,0\n0,0,1\n")
put("ph_point_cloud", "huge", "3e38 0\n-3e38 0\n0 1\n")
put("ph_sparse", "triangle", "0 1 1\n1 2 1\n0 2 1.5\n")
put("ph_sparse", "square", "0 1 1\n1 2 1\n2 3 1\n3 0 1\n0 2 2\n")
put("ph_sparse", "dup", "0 1 1.5\n1 0 1.5\n")
put("ph_sparse", "short", "0 1 1.5\n1 2\n")
put("ph_sparse", "isolated", "0 1 1\n5 5 0\n")
put("ph_sparse", "far", "1000000000 0 1\n")
put("ph_binary", "three", struct.pack("<3f", 1.0, 2.0, 1.5))
put("ph_binary", "six", struct.pack("<6f", 1, 1, 2, 2, 1, 1))
put("ph_binary", "neg", struct.pack("<3f", 1.0, -2.0, 1.5))
put("ph_binary", "odd", b"\x00\x00\x80\x3f\x00")


def dipha(n, m):
    return struct.pack("<qqq", 8067171840, 7, n) + b"".join(struct.pack("<d", m[i][j]) for i in range(n) for j in range(n))


put("ph_dipha", "three", dipha(3, [[0, 1, 2], [1, 0, 3], [2, 3, 0]]))
put("ph_dipha", "four", dipha(4, [[0 if i == j else 1 + (i + j) % 2 for j in range(4)] for i in range(4)]))
put("ph_dipha", "header-only", struct.pack("<qqq", 8067171840, 7, 1 << 40))
put("ph_dipha", "badtype", struct.pack("<qqq", 8067171840, 1, 2) + struct.pack("<4d", 0, 1, 1, 0))

# --- IDX: flags, limit, u16 length of the images file, images, labels


def idx_images(n, r, c, pix=None, claim=None):
    h = struct.pack(">IIII", 0x803, claim if claim is not None else n, r, c)
    return h + bytes(pix if pix is not None else [(7 * i) % 256 for i in range(n * r * c)])


def idx_labels(n, claim=None):
    return struct.pack(">II", 0x801, claim if claim is not None else n) + bytes(i % 3 for i in range(n))


def idx(flags, limit, img, lab):
    return bytes([flags, limit]) + struct.pack("<H", len(img)) + img + lab


put("idx", "raw", idx(0, 0, idx_images(4, 3, 2), idx_labels(4)))
put("idx", "raw-limit", idx(0, 2, idx_images(5, 2, 2), idx_labels(5)))
put("idx", "harness-gzip", idx(3, 0, idx_images(6, 2, 3), idx_labels(6)))
put("idx", "gzip-bytes", idx(0, 0, gzip.compress(idx_images(3, 4, 4), mtime=0), gzip.compress(idx_labels(3), mtime=0)))
put("idx", "issue21-claim", idx(0, 0, gzip.compress(idx_images(2, 2, 2, claim=20)[:8] + struct.pack(">II", 4, 2080374788) + bytes(64), mtime=0),
                                gzip.compress(idx_labels(20), mtime=0)))
put("idx", "truncated", idx(0, 0, idx_images(4, 3, 2)[:30], idx_labels(4)))
put("idx", "trailing", idx(0, 0, idx_images(4, 3, 2) + b"xyz", idx_labels(4)))
put("idx", "swapped", idx(0, 0, idx_labels(4), idx_images(4, 3, 2)))

# --- CSV: byte 0 picks the label column
put("csv", "header", b"\x00" + b"x,y,label\n0.5,1,0\n1.5,2,1\n2.5,3,0\n")
put("csv", "first-col", b"\x01" + b"1,0.5,0.25\n0,1e-3,2\n")
put("csv", "crlf-blank", b"\x00" + b"1,2,0\r\n\r\n3,4,1\r\n")
put("csv", "ragged", b"\x00" + b"1,2,0\n3,4\n")
put("csv", "nan", b"\x00" + b"1,nan,0\n")
put("csv", "label-frac", b"\x00" + b"1,2,0.5\n")
put("csv", "spaces", b"\x00" + b" 1 ,\t2 , 3\n4,5,6\n")

# --- configs
put("config", "spheres", open("experiments/spheres.cfg", "rb").read() if os.path.exists("experiments/spheres.cfg") else "")
put("config", "small", 'experiment = "tiny";\nseed = 3;\ndata: { source = "spheres"; spheres: { dim = 3; points_per_class = 40; }; };\n'
    'models: { hidden = [8, 8]; activation = "tanh"; bottleneck_width = 2; };\ntrain: { epochs = 2; batch_size = 16; optimizer = "sgd"; };\n'
    'snapshots: { epochs = [0, 2]; layers = ["input", "logits"]; };\n')
put("config", "csv", 'data: { source = "csv"; csv: { path = "my data.csv"; label_col = 0; }; };\n')
put("config", "hdf5", 'data: { source = "hdf5"; hdf5: { path = "a.h5"; x = "/g/x"; y = "/g/y"; }; };\n')
put("config", "idx", 'data: { source = "idx"; idx: { images = "i.gz"; labels = "l.gz"; limit = 10; }; };\n')
put("config", "disks", 'data: { source = "disks"; disks: { radius = 0.1; gap = 0.05; }; };\nmodels: { activation = "leaky_relu"; leaky_slope = 0.2; };\n')
put("config", "sweep", 'seeds = [1, 2];\nmodels: { activation = ["relu", "tanh"]; hidden = ([4, 4], [8]); };\ntrain: { epochs = 1; };\n')
put("config", "unknown", 'train: { epoch = 3; };\n')
put("config", "list-where-one", 'train: { lr = [0.1, 0.2]; };\n')
put("config", "snap-all", 'train: { epochs = 5; };\nsnapshots: { epochs = "all"; preactivations = true; compression = 4; };\n')

# --- JSON readers
put("manifest", "two", '{"format": "nerve-manifest", "format_version": 1, "files": ['
    '{"model": "expressive", "epoch": 0, "path": "expressive/epoch_0000.h5"},'
    '{"model": "linear", "epoch": 4, "path": "linear/epoch_0004.h5"}]}\n')
put("manifest", "escape", '{"format": "nerve-manifest", "format_version": 1, "files": [{"model": "m", "epoch": 0, "path": "../x.h5"}]}')
put("manifest", "version", '{"format": "nerve-manifest", "format_version": 2, "files": []}')
put("hashes", "v2", '{\n  "algorithm": "xxh3-128 of each dataset\'s raw data as stored",\n  "files": {\n    "data.h5": {\n'
    '      "/train/x": "00000000000000000000000000000000"\n    }\n  },\n  "format": "nerve-hashes",\n  "format_version": 2\n}\n')
put("hashes", "v1", '{"algorithm": "sha256 of each dataset\'s raw data as stored", "files": {"data.h5": {}}, '
    '"format": "nerve-hashes", "format_version": 1}')
put("hashes", "outside", '{"algorithm": "xxh3-128 of each dataset\'s raw data as stored", "files": {"../run/data.h5": {}, "/etc/hostname": {}}, '
    '"format": "nerve-hashes", "format_version": 2}')
put("sweep_index", "two", '{"format": "nerve-sweep", "format_version": 1, "nconfigs": 2, "seed_axis": "seed",'
    ' "axes": [{"key": "models.activation"}, {"key": "seed"}],'
    ' "tasks": [{"name": "0000", "config": 0, "seed": 1, "labels": ["relu", "1"]},'
    ' {"name": "0001", "config": 1, "seed": 1, "labels": ["tanh", "1"]}]}')
put("sweep_index", "dotdot", '{"format": "nerve-sweep", "format_version": 1, "nconfigs": 1, "axes": [],'
    ' "tasks": [{"name": "..", "config": 0, "seed": 1, "labels": []}]}')
