"""serve_security: `nerve serve` refuses what docs/CONTRACTS.md section 4 says it
must, with the right status, and nothing outside the run is ever readable:
- traversal: plain, URL-encoded and double-encoded "..", in the file, static and
  API routes, and in the run argument;
- symlinks out of the run (a folder, a file, and a file the manifest lists);
- files the manifest rule does not allow (log.txt, checkpoints, temporaries);
- methods other than GET and HEAD (405), a request body (413), a URL over 2 KB
  (414), headers over the limit (431), malformed requests (400/505);
- the Host header: missing (400), another name or port (403);
- the access token (401 without it; the query, the cookie and a bearer header);
- a non-loopback --bind prints a warning;
- a closed event stream gives its connection back within a second;
- a seeded fuzz loop over 600 URLs made of traversal pieces: no 5xx, never the
  secret's bytes, the server alive afterwards."""
import json
import os
import random
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from nervetest import check, finish, run, tmpdir, tiny_config  # noqa: E402
import servetest as sv  # noqa: E402

d = tmpdir("serve-sec")
SECRET = b"NERVE-CANARY-7f3a91"
with open(os.path.join(d, "secret.txt"), "wb") as f:
    f.write(SECRET + b"\n")
cfg = tiny_config(d, epochs=2, ppc=60)
out = os.path.join(d, "run")
run(["train", cfg, "--out", out])
# symlinks out of the run: a folder, a file, and a file the manifest lists
os.makedirs(os.path.join(out, "analysis"), exist_ok=True)
os.symlink("/etc", os.path.join(out, "analysis", "evil"))
os.symlink(os.path.join(d, "secret.txt"), os.path.join(out, "analysis", "leak.txt"))
os.symlink(os.path.join(d, "secret.txt"), os.path.join(out, "snapshots", "expressive", "epoch_9999.h5"))
with open(os.path.join(out, "snapshots", "manifest.json")) as f:
    man = json.load(f)
man["files"].append({"model": "expressive", "epoch": 9999, "path": "expressive/epoch_9999.h5"})
with open(os.path.join(out, "snapshots", "manifest.json"), "w") as f:
    json.dump(man, f)
with open(os.path.join(out, "snapshots", "expressive", ".epoch_0005.h5.tmp-1-1"), "wb") as f:
    f.write(SECRET)

p, port = sv.start(out)
try:
    st, h, body = sv.get(port, "/api/runs")
    check(st == 200 and b'"runs"' in body, "GET /api/runs answers 200")
    check("default-src 'none'" in h.get("content-security-policy", "") and "script-src 'self'" in h.get("content-security-policy", ""),
          "a Content-Security-Policy that allows only the page's own scripts")
    check(h.get("x-content-type-options") == "nosniff" and h.get("x-frame-options") == "DENY", "nosniff and DENY headers")
    st, h, body = sv.get(port, "/files/config.cfg")
    check(st == 200 and b"experiment" in body, "an allowed run file (config.cfg) is served")
    st, _, body = sv.get(port, "/files/snapshots/expressive/epoch_0000.h5")
    check(st == 200 and body[:8] == b"\x89HDF\r\n\x1a\n", "a snapshot the manifest lists is served")
    st, _, _ = sv.get(port, "/files/snapshots/manifest.json", method=b"HEAD")
    check(st == 200, "HEAD is answered")

    def refused(target, codes=(400, 403, 404), what=None, **kw):
        st, _, body = sv.get(port, target, **kw)
        ok = st in codes and SECRET not in body and b"root:x:" not in body
        check(ok, "%s -> %s (expected %s)" % (what or target, st, "/".join(map(str, codes))))

    # traversal, plain, encoded and double-encoded
    for t in ["/files/../../secret.txt", "/files/%2e%2e/%2e%2e/secret.txt", "/files/%252e%252e/%252e%252e/secret.txt",
              "/files/..%2f..%2fsecret.txt", "/files/snapshots/../../secret.txt", "/static/../../../../etc/passwd",
              "/static/js/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/static/js/..%252f..%252fetc%252fpasswd",
              "/vendor/../../../etc/passwd", "/files/%2fetc%2fpasswd", "/files//etc/passwd", "/..%2f..%2fetc/passwd",
              "/api/run?run=..", "/api/run?run=%2e%2e", "/api/run?run=../..", "/api/run?run=%252e%252e",
              "/api/run?run=/etc", "/api/network?model=../x&epoch=0", "/api/network?model=expressive&epoch=-1",
              "/api/features?model=expressive&epoch=0&layer=../../x", "/api/events?run=.."]:
        refused(t)
    # symlinks out and files the manifest rule does not allow
    refused("/files/analysis/evil/passwd", (403, 404), "a symlinked folder out of the run")
    refused("/files/analysis/leak.txt", (403,), "a symlinked file out of the run")
    refused("/files/snapshots/expressive/epoch_9999.h5", (403,), "a listed snapshot that is a symlink out")
    refused("/api/network?model=expressive&epoch=9999", (403,), "the API on a listed symlink out")
    # a manifest that names a path with ".." is refused as a whole by its reader
    with open(os.path.join(out, "snapshots", "manifest.json")) as f:
        good = f.read()
    bad = json.loads(good)
    bad["files"].append({"model": "expressive", "epoch": 9998, "path": "../../secret.txt"})
    with open(os.path.join(out, "snapshots", "manifest.json"), "w") as f:
        json.dump(bad, f)
    refused("/api/network?model=expressive&epoch=9998", (403, 404), "the API on a manifest path with ..")
    refused("/files/snapshots/../../secret.txt", (400, 403, 404), "the file route with that manifest")
    with open(os.path.join(out, "snapshots", "manifest.json"), "w") as f:
        f.write(good)
    for t in ["/files/log.txt", "/files/checkpoints/expressive.h5", "/files/snapshots/expressive/.epoch_0005.h5.tmp-1-1",
              "/files/data.h5", "/files/snapshots/expressive/epoch_0003.h5"]:
        refused(t, (404,))
    # methods
    for m in [b"POST", b"PUT", b"DELETE", b"PATCH", b"OPTIONS", b"TRACE", b"PROPFIND"]:
        st, h, _ = sv.get(port, "/api/runs", method=m, extra=b"Content-Length: 0\r\n")
        check(st == 405 and "GET" in h.get("allow", ""), "%s -> %s (expected 405 with Allow)" % (m.decode(), st))
    st, _, _ = sv.get(port, "/api/runs", extra=b"Content-Length: 5\r\n")
    check(st == 413, "GET with a body -> %s (expected 413)" % st)
    st, _, _ = sv.get(port, "/api/runs", extra=b"Transfer-Encoding: chunked\r\n")
    check(st == 413, "GET with a chunked body -> %s (expected 413)" % st)
    # sizes
    st, _, _ = sv.get(port, "/api/runs?x=" + "a" * 3000)
    check(st == 414, "a 3 KB URL -> %s (expected 414)" % st)
    st, _, _ = sv.get(port, "/api/runs", extra=b"X-Big: " + b"b" * 20000 + b"\r\n")
    check(st == 431, "20 KB of headers -> %s (expected 431)" % st)
    # malformed
    st, _, _ = sv.raw(port, b"GARBAGE\r\n\r\n")
    check(st in (400, None), "a malformed request line -> %s (expected 400, or closed unanswered)" % st)
    st, _, _ = sv.raw(port, b"GET /api/runs HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n")
    check(st == 400, "a malformed header -> %s (expected 400)" % st)
    st, _, _ = sv.raw(port, b"GET /api/runs HTTP/7.0\r\nHost: 127.0.0.1:%d\r\n\r\n" % port)
    check(st in (400, 505), "an unknown HTTP version -> %s (expected 505 or 400)" % st)
    # Host
    st, _, _ = sv.get(port, "/api/runs", host="")
    check(st == 400, "no Host -> %s (expected 400)" % st)
    for host in ["evil.example:%d" % port, "127.0.0.1:%d" % (port + 1 if port < 65535 else port - 1), "attacker.com",
                 "127.0.0.1.evil.example:%d" % port, "localhost.evil:%d" % port]:
        st, _, _ = sv.get(port, "/api/runs", host=host)
        check(st == 403, "Host %s -> %s (expected 403)" % (host, st))
    st, _, _ = sv.get(port, "/api/runs", host="localhost:%d" % port)
    check(st == 200, "Host localhost:PORT -> %s (expected 200)" % st)
    # a seeded fuzz loop
    rng = random.Random(17)
    pieces = ["..", "%2e%2e", "%252e%252e", ".%2e", "%2e.", "/", "%2f", "%5c", "\\", "%00", "secret.txt", "etc", "passwd",
              "analysis", "evil", "leak.txt", "snapshots", "expressive", "epoch_0000.h5", "epoch_9999.h5", "..;", "%c0%ae",
              "~", "config.cfg", "run.json", ".", "%ff", "?", "&", "=", "#", "%20"]
    prefixes = ["/files/", "/static/", "/static/js/", "/vendor/", "/api/run?run=", "/api/network?model=", "/", "/api/ph?model=",
                "/api/features.bin?what=inputs&model=expressive&epoch=0&layer="]
    bad5xx, leaks, statuses = 0, 0, {}
    t0 = time.time()
    for i in range(600):
        url = rng.choice(prefixes) + "".join(rng.choice(pieces) for _ in range(rng.randint(1, 8)))
        url = url.replace(" ", "%20")
        st, _, body = sv.get(port, url.encode("latin-1"))
        statuses[st] = statuses.get(st, 0) + 1
        if st is None or st >= 500:
            bad5xx += 1
            print("fuzz: %r -> %s" % (url, st))
        if SECRET in body or b"root:x:" in body:
            leaks += 1
            print("fuzz LEAK: %r" % url)
    print("fuzz: 600 URLs in %.1f s, statuses %s" % (time.time() - t0, dict(sorted((str(k), v) for k, v in statuses.items()))))
    check(bad5xx == 0, "fuzz: no 5xx and no dropped answer (%d)" % bad5xx)
    check(leaks == 0, "fuzz: nothing outside the run was readable")
    st, _, _ = sv.get(port, "/api/runs")
    check(st == 200 and p.poll() is None, "the server is alive after the fuzz loop")
finally:
    sv.stop(p)

# the access token
p, port = sv.start(out, "--token", "s3cret-T0ken")
try:
    st, h, _ = sv.get(port, "/api/runs")
    check(st == 401 and "bearer" in h.get("www-authenticate", "").lower(), "no token -> %s (expected 401)" % st)
    st, _, _ = sv.get(port, "/api/runs?token=wrong")
    check(st == 401, "a wrong token -> %s (expected 401)" % st)
    st, h, _ = sv.get(port, "/?token=s3cret-T0ken")
    check(st == 200 and "nerve_token=s3cret-T0ken" in h.get("set-cookie", "") and "HttpOnly" in h.get("set-cookie", ""),
          "the token in the URL -> 200 and an HttpOnly cookie")
    st, _, _ = sv.get(port, "/api/runs", extra=b"Cookie: nerve_token=s3cret-T0ken\r\n")
    check(st == 200, "the cookie -> %s" % st)
    st, _, _ = sv.get(port, "/api/runs", extra=b"Authorization: Bearer s3cret-T0ken\r\n")
    check(st == 200, "a bearer header -> %s" % st)
finally:
    sv.stop(p)

# A page that goes away frees its event stream's connection at once, not at the
# next heartbeat (10 s): with --max-connections 8, six streams opened and closed,
# then six new ones and a request, all answered within a second and a half.
p, port = sv.start(out, "--max-connections", "8")
try:
    def open_stream():
        s_ = socket.create_connection(("127.0.0.1", port), timeout=5)
        s_.sendall(b"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % port)
        return s_, s_.recv(64)
    first = [open_stream() for _ in range(6)]
    check(all(h.startswith(b"HTTP/1.1 200") for _, h in first), "six event streams open")
    for s_, _ in first:
        s_.close()
    time.sleep(1.5)
    second = [open_stream() for _ in range(6)]
    st, _, _ = sv.get(port, "/api/runs")
    check(all(h.startswith(b"HTTP/1.1 200") for _, h in second) and st == 200,
          "closed streams freed their connections: six new streams and a request answered (%s, %s)"
          % ([h[:12] for _, h in second], st))
    for s_, _ in second:
        s_.close()
finally:
    sv.stop(p)

# a non-loopback bind warns (a token keeps the run closed meanwhile); stopped at once
pr = subprocess.Popen([os.environ.get("NERVE", "nerve"), "serve", out, "--port", "0", "--bind", "0.0.0.0", "--token", "auto"],
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
line = pr.stdout.readline()
pr.terminate()
_, err = pr.communicate(timeout=10)
check("WARNING" in err and "0.0.0.0" in err, "--bind 0.0.0.0 prints a warning")
check("token=" in line, "--token auto puts the token in the printed URL")
rc = subprocess.run([os.environ.get("NERVE", "nerve"), "serve", out, "--bind", "not-an-address"], capture_output=True, text=True)
check(rc.returncode == 2, "a --bind that is not an address exits 2")
rc = subprocess.run([os.environ.get("NERVE", "nerve"), "serve", os.path.join(d, "nope")], capture_output=True, text=True)
check(rc.returncode == 2, "a missing directory exits 2")
finish()
