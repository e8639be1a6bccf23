#!/usr/bin/env python3
"""Drives a NATS server through the monitoring conformance scenario and
writes, for each endpoint, the JSON key paths of its answer (field names
only, in the order the server wrote them) to OUTDIR/<name>.keys.

Usage: scenario.py CLIENT_PORT MONITOR_PORT OUTDIR

tests/monitor.rs runs the same steps against edge and compares its key
paths with the files this wrote for nats-server 2.9.10. Keep both in step.
"""
import http.client
import json
import socket
import sys
import time
import urllib.request

from keypaths import keys

PORT, MPORT, OUT = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]

# Endpoint name -> path, requested in this order (/varz last, so its
# http_req_stats lists every endpoint).
ENDPOINTS = [
    ("connz", "/connz"),
    ("connz_subs", "/connz?subs=1"),
    ("connz_detail", "/connz?subs=detail"),
    ("connz_closed", "/connz?state=closed"),
    ("connz_all", "/connz?state=all"),
    # After the others: nats-server 2.9.10 then keeps the detail on its
    # saved closed connection, showing it in every later /connz (a bug
    # edge does not copy).
    ("connz_closed_detail", "/connz?state=closed&subs=detail"),
    ("subsz", "/subsz"),
    ("subsz_subs", "/subsz?subs=1"),
    ("healthz", "/healthz"),
    ("routez", "/routez"),
    ("gatewayz", "/gatewayz"),
    ("leafz", "/leafz"),
    ("accountz", "/accountz"),
    ("accountz_global", "/accountz?acc=$G"),
    ("accstatz", "/accstatz"),
    ("accstatz_unused", "/accstatz?unused=1"),
    ("jsz", "/jsz"),
    ("varz", "/varz"),
]


# Requests whose whole answer (status, Content-Type, body) is recorded in
# OUTDIR/responses.txt: refused parameters, unknown and unclean paths,
# JSONP. Bodies that are JSON documents are recorded as "<json>".
RESPONSES = [
    "/connz?sort=bogus",
    "/connz?sort=stop",
    "/connz?sort=reason&state=all",
    "/connz?state=bogus",
    "/connz?limit=abc",
    "/connz?offset=1.5",
    "/connz?limit=99999999999999999999",
    "/connz?cid=-1",
    "/connz?limit=%zz",
    "/connz?limit=%2B",
    "/connz?sort=bogus;x=1",
    "/connz?sort=x%zz&sort=bogus",
    "/connz?cid=abc",
    "/connz?subs=maybe",
    "/connz?auth=x",
    "/subsz?subs=x",
    "/subsz?offset=x",
    "/subsz?test=a.*",
    "/subscriptionsz?limit=x",
    "/healthz?js-enabled=x",
    "/healthz?js-enabled-only=x",
    "/healthz?callback=cb",
    "/routez?subs=x",
    "/leafz?subs=x",
    "/gatewayz?accs=x",
    "/accstatz?unused=x",
    "/jsz?accounts=x",
    "/jsz?limit=x",
    "/ipqueuesz",
    "/accountz?acc=NOPE",
    "/ipqueuesz?all=x",
    "/varz?callback=",
    "/connz?callback=f",
    "/nope",
    "/varz/",
    "/VARZ",
    "//varz?x=1",
    "/a/../connz",
    "/",
]


def raw_get(path):
    """status, content type, body of a GET, redirects not followed."""
    conn = http.client.HTTPConnection("127.0.0.1", MPORT, timeout=5)
    conn.request("GET", path)
    r = conn.getresponse()
    body = r.read().decode()
    conn.close()
    return r.status, r.getheader("Content-Type", ""), body


def shape(body):
    """The body, or <json>/<cb(json)>/<html> for documents whose values
    vary (ids, times) or whose markup is edge's own (the index page)."""
    if body.startswith("<html"):
        return "<html>"
    for prefix in ("", "cb(", "f("):
        inner = body[len(prefix):-1] if prefix else body
        if prefix and not (body.startswith(prefix) and body.endswith(")")):
            continue
        try:
            json.loads(inner)
        except ValueError:
            continue
        return f"<{prefix}json{')' if prefix else ''}>"
    return json.dumps(body)


def client(connect):
    s = socket.create_connection(("127.0.0.1", PORT), timeout=5)
    f = s.makefile("rb")
    f.readline()  # INFO
    s.sendall(b"CONNECT " + json.dumps(connect).encode() + b"\r\n")
    return s, f


def ping(s, f):
    """PING, then read lines until the PONG (MSGs included)."""
    s.sendall(b"PING\r\n")
    got = []
    while True:
        line = f.readline()
        if line == b"PONG\r\n":
            return got
        got.append(line)


def main():
    a, fa = client({"verbose": False, "pedantic": False, "name": "alice",
                    "lang": "python", "version": "1.0"})
    a.sendall(b"SUB foo 1\r\nSUB bar q1 2\r\nSUB baz 3\r\nUNSUB 3 5\r\n")
    ping(a, fa)
    b, fb = client({"verbose": False, "pedantic": False, "name": "bob",
                    "lang": "python", "version": "1.0"})
    b.sendall(b"PUB foo 5\r\nhello\r\nPUB foo 5\r\nhello\r\nPUB bar 2\r\nhi\r\n")
    ping(b, fb)
    ping(a, fa)
    c, fc = client({"verbose": False, "pedantic": False, "name": "carol"})
    c.sendall(b"SUB c.x 1\r\n")
    ping(c, fc)
    fc.close()
    c.close()
    base = f"http://127.0.0.1:{MPORT}"
    for _ in range(100):
        closed = json.load(urllib.request.urlopen(base + "/connz?state=closed"))
        if closed["total"] >= 1:
            break
        time.sleep(0.05)
    else:
        sys.exit("scenario.py: the closed connection never showed in /connz")
    for name, path in ENDPOINTS:
        doc = json.loads(urllib.request.urlopen(base + path).read(),
                         object_pairs_hook=dict)
        out = []
        keys(doc, "", out)
        with open(f"{OUT}/{name}.keys", "w") as fh:
            fh.write("\n".join(out) + "\n")
    with open(f"{OUT}/responses.txt", "w") as fh:
        for path in RESPONSES:
            status, ctype, body = raw_get(path)
            fh.write(f"{path}\t{status}\t{ctype}\t{shape(body)}\n")
    a.close()
    b.close()


main()
