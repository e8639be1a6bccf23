#!/usr/bin/env python3
"""Proxy transcripts: record them from node-http-proxy 1.18.1, replay them
against edge.

One driver for both sides, so the two are played by the same client and the
same recording upstream and rendered by the same code:

  python3 conformance/proxy/record.py [SUITE...]          record from node
  python3 conformance/proxy/record.py --verify [SUITE...]  record in memory,
                                                           fail on a difference
  python3 conformance/proxy/record.py --edge BIN [SUITE...]
      play against edge, print {"<suite>__<nnn>": transcript} as JSON (what
      tests/proxy_transcripts.rs compares with the recordings)

Recording needs node and http-proxy 1.18.1 (HTTP_PROXY_DIR=dir holding
node_modules/http-proxy, default /tmp/nhp). Format: conformance/proxy/README.md.
"""
import argparse
import json
import os
import re
import selectors
import socket
import ssl
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from ports import free_port  # noqa: E402
SUITES = os.path.join(HERE, "suites")
TRANSCRIPTS = os.path.join(HERE, "transcripts")
SOURCE = "conformance/proxy/record.py (node-http-proxy 1.18.1)"

QUIET = 0.3  # a phase ends after this long without a byte anywhere
PHASE_LIMIT = 8.0
DEFAULT_REPLY = (
    "HTTP/1.1 200 OK\r\ndate: Sun, 22 Nov 2026 00:00:00 GMT\r\n"
    "content-length: 2\r\n\r\nok"
)


# ---- rendering ----------------------------------------------------------------


def escape(data):
    out = []
    for b in data:
        c = chr(b)
        if c == "\\":
            out.append("\\\\")
        elif c == "\r":
            out.append("\\r")
        elif c == "\n":
            out.append("\\n\n")
        elif c == "\t":
            out.append("\\t")
        elif 32 <= b < 127:
            out.append(c)
        else:
            out.append("\\x%02x" % b)
    return "".join(out)


def lines(prefix, data):
    text = escape(data)
    rows = text.split("\n")
    if rows and rows[-1] == "":
        rows.pop()
    out = []
    for row in rows:
        if row.endswith(" "):
            row = row[:-1] + "\\x20"
        out.append(prefix + " " + row)
    return out


DATE = re.compile(rb"(?im)^([a-z0-9]*[<>] date: )[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT")


def normalize(data, ports):
    """The only normalisation: ports to their names, and a proxy-made Date
    header's value (the recording upstream sends a fixed one)."""
    for port, name in ports.items():
        data = data.replace(str(port).encode(), name.encode())
    return DATE.sub(rb"\1@DATE@", data)


def recv_all(sock):
    """What a readable socket has: b"" when it closed. A TLS socket may hold
    decrypted bytes the selector cannot see; they are read too."""
    try:
        data = sock.recv(65536)
        while data and isinstance(sock, ssl.SSLSocket) and sock.pending():
            data += sock.recv(65536)
        return data
    except ssl.SSLWantReadError:
        return None
    except (ConnectionError, ssl.SSLError):
        return b""


def make_certs(directory):
    """A CA and a server certificate for localhost/127.0.0.1 signed by it,
    made with openssl at play time (no key is committed)."""
    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=directory)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=proxy-conformance-ca",
        "-keyout", "ca-key.pem", "-out", "ca.pem")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
        "-keyout", "server-key.pem", "-out", "server.csr")
    with open(os.path.join(directory, "san.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial",
        "-days", "2", "-extfile", "san.ext", "-out", "server.pem")


# ---- the recording upstream ---------------------------------------------------


def request_end(buf):
    """Where the first whole request in buf ends, and whether it upgrades;
    None while it is incomplete."""
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    head = buf[:head_end].decode("latin-1").lower().split("\r\n")
    fields = {}
    for row in head[1:]:
        name, _, value = row.partition(":")
        fields.setdefault(name.strip(), []).append(value.strip())
    upgrade = "upgrade" in fields and any("upgrade" in v for v in fields.get("connection", []))
    at = head_end + 4
    if "chunked" in ",".join(fields.get("transfer-encoding", [])):
        while True:
            line_end = buf.find(b"\r\n", at)
            if line_end < 0:
                return None
            size = int(buf[at:line_end].split(b";")[0] or b"0", 16)
            at = line_end + 2
            if size == 0:
                trailer_end = buf.find(b"\r\n\r\n", at - 2)
                return None if trailer_end < 0 else (trailer_end + 4, upgrade)
            at += size + 2
            if at > len(buf):
                return None
    length = int((fields.get("content-length") or ["0"])[0] or 0)
    if len(buf) < at + length:
        return None
    return at + length, upgrade


class UpstreamConn:
    def __init__(self, server, sock, number):
        self.server = server
        self.sock = sock
        self.label = "%s%d" % (server.name, number)
        self.pending = b""
        self.raw = False  # after an upgrade: bytes, no requests
        self.received = b""
        self.sent = b""
        self.closed_by_proxy = False
        self.closed = False
        self.handshake_failed = False

    def feed(self, data):
        self.received += data
        if self.raw:
            return
        self.pending += data
        while not self.closed:
            end = request_end(self.pending)
            if end is None:
                return
            length, upgrade = end
            request, self.pending = self.pending[:length], self.pending[length:]
            self.server.answer(self, request, upgrade)
            if upgrade:
                self.raw = True
                return

    def send(self, data):
        self.sent += data
        self.sock.sendall(data)

    def close(self):
        if not self.closed:
            self.closed = True
            self.sock.close()


class Upstream:
    """A server that records every byte it gets and answers each whole
    request with the exchange's scripted reply."""

    def __init__(self, name, sel, tls=None):
        self.name = name
        self.sel = sel
        self.tls = tls  # an ssl.SSLContext: the upstream speaks https
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.listener.setblocking(False)
        sel.register(self.listener, selectors.EVENT_READ, ("accept", self))
        self.reset([])

    def reset(self, replies):
        self.replies = list(replies)
        self.conns = []

    def accept(self):
        sock, _ = self.listener.accept()
        conn = UpstreamConn(self, sock, len(self.conns) + 1)
        self.conns.append(conn)
        if self.tls:
            sock.setblocking(True)
            sock.settimeout(5)
            try:
                conn.sock = sock = self.tls.wrap_socket(sock, server_side=True)
            except (ssl.SSLError, OSError):
                conn.handshake_failed = True
                conn.closed = True
                sock.close()
                return
            sock.setblocking(False)
        self.sel.register(sock, selectors.EVENT_READ, ("upstream", conn))

    def answer(self, conn, request, upgrade):
        reply = self.replies.pop(0) if len(self.replies) > 1 else (self.replies or [DEFAULT_REPLY])[0]
        if reply == "@silent@":
            return
        if reply == "@close@":
            self.drop(conn)
            return
        conn.send(reply.encode("latin-1"))
        keep = not re.search(rb"(?im)^connection:[^\r]*close", request) and not upgrade
        if not keep and not upgrade and not re.search(rb"(?im)^connection:[^\r]*keep-alive", reply.encode()):
            self.drop(conn)

    def drop(self, conn):
        self.sel.unregister(conn.sock)
        conn.close()

    def finish(self):
        for conn in self.conns:
            if not conn.closed:
                self.drop(conn)
        self.conns = []


# ---- playing an exchange ------------------------------------------------------


class Player:
    def __init__(self, suite, proxy_port, upstreams):
        self.suite = suite
        self.proxy_port = proxy_port
        self.upstreams = upstreams
        self.sel = upstreams[0].sel

    def run_phase(self, client, at_least):
        """Serve the upstreams and read the client until nothing moves."""
        got = b""
        closed = False
        start = time.monotonic()
        last = start
        while True:
            now = time.monotonic()
            if now - last >= QUIET and now - start >= at_least:
                break
            if now - start >= PHASE_LIMIT:
                break
            for key, _ in self.sel.select(timeout=0.05):
                kind, obj = key.data
                last = time.monotonic()
                if kind == "accept":
                    obj.accept()
                elif kind == "upstream":
                    data = recv_all(obj.sock)
                    if data is None:
                        continue
                    if data:
                        obj.feed(data)
                    else:
                        obj.closed_by_proxy = True
                        obj.server.drop(obj)
                elif kind == "client":
                    data = recv_all(client)
                    if data is None:
                        continue
                    if data:
                        got += data
                    else:
                        closed = True
                        self.sel.unregister(client)
        return got, closed

    def play(self, ex):
        for up in self.upstreams:
            up.reset(ex.get("replies", [ex.get("reply", DEFAULT_REPLY)]))
        client = socket.create_connection(("127.0.0.1", self.proxy_port))
        if self.suite.get("client_tls"):
            ctx = ssl.create_default_context(cafile=self.suite["@certs"] + "/ca.pem")
            client = ctx.wrap_socket(client, server_hostname="localhost")
        client.setblocking(False)
        self.sel.register(client, selectors.EVENT_READ, ("client", None))
        out = []
        seen = {}
        client_closed = False
        steps = ex.get("steps") or [["client", s] for s in as_list(ex["send"])]
        for who, data in steps:
            data = data.encode("latin-1")
            if who == "client":
                if client_closed:
                    break
                client.setblocking(True)
                try:
                    client.sendall(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                client.setblocking(False)
                out += lines(">", data)
            else:
                conn = self.last_conn(who)
                if data == b"@close@":
                    out.append(conn.label + "= closed by the upstream")
                    conn.server.drop(conn)
                    seen[conn.label] = (len(conn.received), len(conn.sent))
                    got, closed = self.run_phase(client, ex.get("wait", 0))
                    out += lines("<", got)
                    client_closed = client_closed or closed
                    continue
                conn.send(data)
                seen[conn.label] = (seen.get(conn.label, (0, 0))[0], len(conn.sent))
                out += lines(conn.label + ">", data)
            got, closed = self.run_phase(client, ex.get("wait", 0))
            for up in self.upstreams:
                for conn in up.conns:
                    r0, s0 = seen.get(conn.label, (0, 0))
                    out += lines(conn.label + "<", conn.received[r0:])
                    out += lines(conn.label + ">", conn.sent[s0:])
                    seen[conn.label] = (len(conn.received), len(conn.sent))
                    if conn.handshake_failed and not seen.get(conn.label + "=", False):
                        out.append(conn.label + "= TLS handshake failed")
                        seen[conn.label + "="] = True
                    if conn.closed_by_proxy and not seen.get(conn.label + "=", False):
                        out.append(conn.label + "= closed by the proxy")
                        seen[conn.label + "="] = True
            out += lines("<", got)
            if closed:
                client_closed = True
        out.append("= closed" if client_closed else "= open")
        if not client_closed:
            self.sel.unregister(client)
        client.close()
        for up in self.upstreams:
            up.finish()
        return out

    def last_conn(self, name):
        for up in self.upstreams:
            if up.name == name and up.conns:
                return up.conns[-1]
        raise SystemExit("step names upstream %r before it has a connection" % name)


def as_list(v):
    return v if isinstance(v, list) else [v]


# ---- the proxies under test ---------------------------------------------------


def fill(value, names):
    text = json.dumps(value)
    for name, v in names.items():
        if isinstance(v, int):
            text = text.replace('"%s"' % name, str(v))
        text = text.replace(name, str(v))
    return json.loads(text)


def start_node(options, port):
    base = os.environ.get("HTTP_PROXY_DIR", "/tmp/nhp")
    env = dict(os.environ, NODE_PATH=os.path.join(base, "node_modules"))
    proc = subprocess.Popen(
        ["node", os.path.join(HERE, "node_proxy.js"), str(port), json.dumps(options)],
        stdout=subprocess.PIPE, env=env)
    if proc.stdout.readline() != b"listening\n":
        raise SystemExit("node_proxy.js did not start")
    return proc


def edge_config(options, port):
    """The suite's options as an edge proxy block: the config language reads
    JSON, and edge takes every node-http-proxy option by its node name."""
    block = {"listen": "127.0.0.1:%d" % port, "workers": 1}
    block.update(options)
    return "proxy " + json.dumps(block, indent=1) + "\n"


def start_edge(binary, options, port, scratch):
    path = os.path.join(scratch, "proxy-%d.conf" % port)
    with open(path, "w") as f:
        f.write(edge_config(options, port))
    proc = subprocess.Popen([binary, "run", path], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("edge exited: %s" % proc.stderr.read().decode())
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    raise SystemExit("edge did not listen on %d" % port)


def play_suite(name, suite, edge=None, scratch=None):
    with tempfile.TemporaryDirectory() as certs:
        return play_suite_with(name, dict(suite, **{"@certs": certs}), edge, scratch)


def play_suite_with(name, suite, edge, scratch):
    sel = selectors.DefaultSelector()
    certs = suite["@certs"]
    tls = None
    if suite.get("client_tls") or suite.get("upstream_tls"):
        make_certs(certs)
    if suite.get("upstream_tls"):
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(certs + "/server.pem", certs + "/server-key.pem")
    upstreams = [Upstream(n, sel, tls) for n in suite.get("upstreams", ["up"])]
    proxy_port = free_port()
    names = {"@PROXY@": proxy_port, "@DEAD@": free_port(), "@CERTS@": certs}
    for up in upstreams:
        names["@%s@" % up.name.upper()] = up.port
    options = fill(suite["options"], names)
    if edge:
        edge_options = dict(options)
        for key, value in fill(suite.get("edge", {}), names).items():
            if value is None:
                edge_options.pop(key, None)  # a node-only spelling
            else:
                edge_options[key] = value
        try:
            proc = start_edge(edge, edge_options, proxy_port, scratch)
        except SystemExit as e:
            return {"%s__%03d" % (name, i): str(e) for i in range(len(suite["exchanges"]))}
    else:
        proc = start_node(options, proxy_port)
    ports = {v: k for k, v in names.items() if isinstance(v, int)}
    out = {}
    try:
        player = Player(suite, proxy_port, upstreams)
        for i, ex in enumerate(suite["exchanges"]):
            ex = fill(ex, names)
            body = ["options> " + json.dumps(suite["options"], sort_keys=True)]
            body += [row for row in player.play(ex)]
            text = "\n".join(body) + "\n"
            out["%s__%03d" % (name, i)] = normalize(text.encode("latin-1"), ports).decode("latin-1")
    finally:
        proc.terminate()
        proc.wait()
        for up in upstreams:
            up.listener.close()
    return out


def snap(name, body):
    return "---\nsource: %s\nexpression: %s\n---\n%s" % (SOURCE, name, body)


def load_suites(names):
    found = sorted(f[:-5] for f in os.listdir(SUITES) if f.endswith(".json"))
    for n in names:
        if n not in found:
            raise SystemExit("no suite %s" % n)
    for n in names or found:
        with open(os.path.join(SUITES, n + ".json")) as f:
            yield n, json.load(f)


def in_parallel(suites, **kw):
    """(name, transcripts) of each suite, played four at a time (each has
    its own proxy, upstreams and ports)."""
    from concurrent.futures import ThreadPoolExecutor
    suites = list(suites)
    with ThreadPoolExecutor(4) as pool:
        results = pool.map(lambda s: play_suite(s[0], s[1], **kw), suites)
        return [(s[0], r) for s, r in zip(suites, results)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--verify", action="store_true")
    ap.add_argument("--edge")
    ap.add_argument("suites", nargs="*")
    args = ap.parse_args()
    if args.edge:
        import tempfile
        result = {}
        with tempfile.TemporaryDirectory() as scratch:
            for played in in_parallel(load_suites(args.suites), edge=args.edge, scratch=scratch):
                result.update(played[1])
        json.dump(result, sys.stdout, indent=1, sort_keys=True)
        return
    suites = dict(load_suites(args.suites))
    if args.verify:
        verify(suites)
        return
    for name, recorded in in_parallel(suites.items()):
        for f in os.listdir(TRANSCRIPTS):
            if f.startswith(name + "__"):
                os.remove(os.path.join(TRANSCRIPTS, f))
        for tname, body in recorded.items():
            with open(os.path.join(TRANSCRIPTS, tname + ".snap"), "w") as f:
                f.write(snap(tname, body))
        print("%s: %d transcripts" % (name, len(recorded)), file=sys.stderr)


def differing(recorded):
    """{transcript: (stored, played)} for what differs from the stored
    transcripts."""
    out = {}
    for tname, body in recorded.items():
        path = os.path.join(TRANSCRIPTS, tname + ".snap")
        old = open(path).read() if os.path.exists(path) else ""
        new = snap(tname, body)
        if old != new:
            out[tname] = (old, new)
    return out


def verify(suites):
    """Fails when node-http-proxy no longer answers as recorded. Suites play
    four at a time, and a phase ends after QUIET without a byte: on a loaded
    machine node may answer later than that. So a suite that differs is
    played again on its own, up to twice; a transcript differs only when no
    play matched it. Every re-play is reported with its first diff."""
    import difflib
    differ = {}
    for name, recorded in in_parallel(suites.items()):
        print("%s: %d transcripts" % (name, len(recorded)), file=sys.stderr)
        found = differing(recorded)
        for tname, (old, new) in sorted(found.items()):
            print("%s differs; playing %s again on its own:" % (tname, name), file=sys.stderr)
            sys.stderr.writelines(difflib.unified_diff(
                old.splitlines(True), new.splitlines(True), "recorded", "played"))
        if found:
            differ[name] = set(found)
    for name in list(differ):
        for _ in range(2):
            differ[name] &= set(differing(play_suite(name, suites[name])))
            if not differ[name]:
                print("%s: matched when played on its own" % name, file=sys.stderr)
                break
    left = sorted(t for ts in differ.values() for t in ts)
    if left:
        raise SystemExit("differ from node-http-proxy today: " + ", ".join(left))


if __name__ == "__main__":
    main()
