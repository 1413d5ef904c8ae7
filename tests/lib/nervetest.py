"""nervetest: small helpers shared by the Python integration tests (run under
/usr/bin/python3, where Debian's h5py, numpy and torch import)."""
import os
import subprocess
import sys
import tempfile

ROOT = os.environ.get("NERVE_ROOT", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
NERVE = os.environ.get("NERVE", os.path.join(ROOT, "build", "nerve"))
BUILD = os.environ.get("BUILD", "build")

FAILED = []


def check(cond, what):
    """Records a failed check (and keeps going, so one run reports every problem)."""
    if cond:
        print("ok:", what)
    else:
        print("FAIL:", what)
        FAILED.append(what)


def finish():
    if FAILED:
        print("%d check(s) failed" % len(FAILED))
        sys.exit(1)
    print("all checks passed")
    sys.exit(0)


def run(args, expect=0, **kw):
    """Runs nerve with args; returns (rc, stdout, stderr); checks the exit code."""
    p = subprocess.run([NERVE] + list(args), capture_output=True, text=True, **kw)
    if expect is not None and p.returncode != expect:
        print("command:", " ".join([NERVE] + list(args)))
        print("stdout:", p.stdout[-3000:])
        print("stderr:", p.stderr[-3000:])
        raise SystemExit("nerve exited %d, expected %d" % (p.returncode, expect))
    return p.returncode, p.stdout, p.stderr


def tmpdir(tag):
    return tempfile.mkdtemp(prefix="nerve-%s-" % tag)


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


TINY_CFG = """experiment = "tiny";
seed = %(seed)d;
data: { source = "spheres"; test_fraction = 0.25;
  spheres: { dim = 6; points_per_class = %(ppc)d; radius = [1.0, 1.3]; offset = 0.4; }; };
models: { hidden = [16, 16]; bottleneck_layer = 1; bottleneck_width = 2; };
train: { epochs = %(epochs)d; batch_size = 32; lr = 0.005; };
snapshots: { epochs = "log"; count = 4; layers = "all"; preactivations = %(pre)s; compression = 1; };
"""


def tiny_config(d, seed=1, ppc=100, epochs=4, pre=False):
    return write(os.path.join(d, "tiny.cfg"), TINY_CFG % dict(seed=seed, ppc=ppc, epochs=epochs,
                                                               pre="true" if pre else "false"))
