"""serve_load: 50 concurrent clients against `nerve serve` on loopback while a
training runs: no errors, p50/p99 latency reported; then the training time with
the viewer under load against without it (paired, alternating, median ratio).

make test runs a short version (NERVE_SERVE_LOAD_SECONDS, default 4 s of load, one
pair, ratio reported only); make test-long runs tests/long/serve_load.sh: 30 s and
3 pairs, and checks the training time is within 5% of a run without the viewer.
Each client opens the live event stream and then loops over a page's requests
(the run, metrics, a network epoch, parameters, PCA, static files) as fast as the
server answers, one connection per request."""
import asyncio
import os
import random
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from nervetest import NERVE, check, finish, run, tmpdir, write  # noqa: E402
import servetest as sv  # noqa: E402

SECONDS = float(os.environ.get("NERVE_SERVE_LOAD_SECONDS", "4"))
PAIRS = int(os.environ.get("NERVE_SERVE_LOAD_PAIRS", "1"))
CLIENTS = 50
d = tmpdir("serve-load")
base = write(os.path.join(d, "base.cfg"), """experiment = "load";
data: { spheres: { dim = 12; points_per_class = 2000; }; };
snapshots: { epochs = "log"; count = 8; };
""")
A = os.path.join(d, "a")
run(["train", base, "--out", A, "--epochs", "8"])
p, port = sv.start(A)
targets = ["/api/run", "/api/metrics", "/api/network?model=expressive&epoch=8", "/api/network?model=bottleneck&epoch=0",
           "/api/params.bin?model=expressive&epoch=8", "/api/runs", "/static/js/network.js", "/static/css/style.css"]


async def one(target):
    t0 = time.perf_counter()
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(b"GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n" % (target.encode(), port))
    await w.drain()
    data = await r.read()
    w.close()
    st = int(data[9:12]) if data.startswith(b"HTTP/1.1 ") else 0
    return st, time.perf_counter() - t0


async def client(i, until, lat, errors):
    rng = random.Random(i)
    r, w = await asyncio.open_connection("127.0.0.1", port)  # the page's event stream, held open
    w.write(b"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % port)
    await w.drain()
    first = await r.readline()
    if not first.startswith(b"HTTP/1.1 200"):
        errors.append("events: %r" % first)
    while time.time() < until:
        try:
            st, dt = await one(rng.choice(targets))
            lat.append(dt)
            if st != 200:
                errors.append(st)
        except OSError as e:
            errors.append(str(e))
    w.close()


async def load(seconds):
    lat, errors = [], []
    until = time.time() + seconds
    await asyncio.gather(*(client(i, until, lat, errors) for i in range(CLIENTS)))
    return lat, errors


def train_time(out, with_load):
    """Wall time of a training alone, or while 50 clients load the viewer (the load
    starts first and lasts SECONDS; the training is sized to end inside it). The
    training runs at normal priority; the viewer (nerve serve's default --nice 10)
    and the load generator (niced below) yield to it."""
    import threading
    res = {}
    if with_load:
        th = threading.Thread(target=lambda: res.update(r=asyncio.run(load(SECONDS))))
        th.start()
        time.sleep(0.5)
    t0 = time.time()
    tr = subprocess.run([NERVE, "train", base, "--out", out, "--epochs", str(EPOCHS), "--force"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=lambda: os.setpriority(os.PRIO_PROCESS, 0, 0))
    dt = time.time() - t0
    if with_load:
        th.join()
    return dt, tr.returncode, res.get("r")


def probe(epochs):
    t0 = time.time()
    run(["train", base, "--out", os.path.join(d, "probe"), "--epochs", str(epochs), "--force"])
    return time.time() - t0


per_epoch = max(1e-3, probe(30) / 30)  # data generation included: an over-estimate, so the training ends inside the load
EPOCHS = max(10, int(0.6 * SECONDS / per_epoch))
print("training: %d epochs, about %.1f s" % (EPOCHS, EPOCHS * per_epoch))
os.nice(10)  # the load generator yields to the training too
ratios = []
try:
    for k in range(PAIRS):
        t_plain, rc0, _ = train_time(os.path.join(d, "plain"), False)
        # the viewer serves the run being trained: a second server on it
        t_load, rc1, (lat, errors) = train_time(os.path.join(d, "viewed"), True)
        lat.sort()
        q = lambda f: 1000 * lat[min(len(lat) - 1, int(f * len(lat)))]  # noqa: E731
        print("pair %d: %d clients, %.0f s: %d requests (%.0f/s), p50 %.1f ms, p99 %.1f ms, %d errors; "
              "training %.2f s alone, %.2f s under load (ratio %.3f)"
              % (k + 1, CLIENTS, SECONDS, len(lat), len(lat) / SECONDS, q(0.5), q(0.99), len(errors), t_plain, t_load,
                 t_load / t_plain))
        check(rc0 == 0 and rc1 == 0, "both trainings finished")
        check(len(errors) == 0 and len(lat) > CLIENTS, "pair %d: no errors under load (%s)" % (k + 1, errors[:3]))
        ratios.append(t_load / t_plain)
finally:
    sv.stop(p)
med = statistics.median(ratios)
print("training time under load / alone: median %.3f over %d pair(s)" % (med, len(ratios)))
if PAIRS >= 3:
    check(med <= 1.05, "training time within 5%% of a run without the viewer (median ratio %.3f)" % med)
finish()
