"""servetest: starting `nerve serve` and talking raw HTTP to it, for the serve tests."""
import os
import re
import socket
import subprocess
import time

from nervetest import NERVE


def start(root, *args):
    """Starts nerve serve on a free port; returns (process, port). The first line it
    prints names the URL. It keeps its default priority (--nice 10) unless args say."""
    p = subprocess.Popen([NERVE, "serve", root, "--port", "0"] + list(args),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    m = re.search(r"http://[^:/]+:(\d+)/", line) or re.search(r"\]:(\d+)/", line)
    if not m:
        p.kill()
        raise SystemExit("nerve serve did not print its URL: %r %s" % (line, p.stderr.read()))
    return p, int(m.group(1))


def stop(p):
    p.terminate()
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        p.kill()


def raw(port, data, timeout=10):
    """Sends bytes, reads the whole answer (the server closes or we time out);
    returns (status or None, headers dict lower-cased, body bytes)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    buf = b""
    t0 = time.time()
    try:
        while time.time() - t0 < timeout:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
            head, sep, body = buf.partition(b"\r\n\r\n")
            if sep:
                m = re.search(rb"content-length:\s*(\d+)", head, re.I)
                if m and len(body) >= int(m.group(1)):
                    break
    except socket.timeout:
        pass
    finally:
        s.close()
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    m = re.match(rb"HTTP/1\.[01] (\d{3})", lines[0]) if lines and lines[0] else None
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(b":")
        headers[k.strip().lower().decode("latin-1")] = v.strip().decode("latin-1")
    return (int(m.group(1)) if m else None), headers, body


def get(port, target, host=None, extra=b"", method=b"GET"):
    host = host if host is not None else "127.0.0.1:%d" % port
    req = method + b" " + (target if isinstance(target, bytes) else target.encode()) + b" HTTP/1.1\r\n"
    if host:
        req += b"Host: " + host.encode() + b"\r\n"
    req += extra + b"Connection: close\r\n\r\n"
    return raw(port, req)
