#!/usr/bin/env python3
"""The accounts part of the monitoring recording: against a server running
accounts.conf, one client in each account, then the key paths of
/accountz (the list) and /accountz?acc=A (exporter) and ?acc=B (importer)
into OUTDIR/accountz_{list,exporter,importer}.keys.

Usage: accounts.py CLIENT_PORT MONITOR_PORT OUTDIR

No request is left waiting for its response, so no `responses` map (keyed
by random `_R_.` subjects) is recorded. tests/monitor.rs
(`accountz_key_paths_match_the_nats_server_recording`) runs the same steps
against edge.
"""
import json
import socket
import sys
import urllib.request

from keypaths import keys

PORT, MPORT, OUT = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]


def login(user):
    s = socket.create_connection(("127.0.0.1", PORT), timeout=5)
    f = s.makefile("rb")
    f.readline()  # INFO
    s.sendall(b'CONNECT {"verbose":false,"user":"%s","pass":"p"}\r\nSUB x 1\r\nPING\r\n' % user)
    while f.readline() != b"PONG\r\n":
        pass
    return s


a, b = login(b"a"), login(b"b")
for name, path in [("accountz_list", "/accountz"),
                   ("accountz_exporter", "/accountz?acc=A"),
                   ("accountz_importer", "/accountz?acc=B")]:
    doc = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{MPORT}{path}").read())
    out = []
    keys(doc, "", out)
    with open(f"{OUT}/{name}.keys", "w") as fh:
        fh.write("\n".join(out) + "\n")
a.close()
b.close()
