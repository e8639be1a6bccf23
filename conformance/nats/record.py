#!/usr/bin/env python3
"""Records NATS exchanges against the real nats-server 2.9.10.

For every suite in conformance/nats/suites/*.json it starts
`nats-server -c <config> -a 127.0.0.1 -p <port>`, plays each exchange on a
fresh connection (reads INFO, sends the input, reads until the server
closes or goes quiet) and each session (several connections, steps in
order, everything each one received), and writes
conformance/nats/transcripts/<suite>.json. tests/nats_transcripts.rs
replays them against edge. Bytes are stored as JSON strings with one
character per byte (latin-1).

Normalisation, the only one: in INFO, the values of server_id,
server_name, nonce, port and client_id become "X" / 0 (random or
per-run); whether they are present is kept.

Usage: python3 conformance/nats/record.py [--verify] [SUITE...]
  --verify: record into memory and fail if any transcript differs.
"""
import json, os, re, socket, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
QUIET = 0.4      # seconds of silence that end an exchange
LONG = 3.0       # for inputs that wait for a server timer
STEP = 0.1       # pause after each session step


def b(s):
    return s.encode('latin-1')


def s(b_):
    return b_.decode('latin-1')


def normalize_info(info):
    info = re.sub(rb'"(server_id|server_name|nonce)":"[^"]*"', rb'"\1":"X"', info)
    return re.sub(rb'"(port|client_id)":\d+', rb'"\1":0', info)


def free_port():
    with socket.socket() as so:
        so.bind(('127.0.0.1', 0))
        return so.getsockname()[1]


def start(server, config):
    fd, path = tempfile.mkstemp(suffix='.conf')
    os.write(fd, config.encode())
    os.close(fd)
    port = free_port()
    p = subprocess.Popen([server, '-c', path, '-a', '127.0.0.1', '-p', str(port)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(('127.0.0.1', port)).close()
            return p, port
        except OSError:
            time.sleep(0.05)
    p.kill()
    raise SystemExit(f'{server} did not listen')


def connect(port):
    so = socket.create_connection(('127.0.0.1', port))
    so.settimeout(0.05)
    info = b''
    deadline = time.time() + 5
    while not info.endswith(b'\r\n') and time.time() < deadline:
        try:
            info += so.recv(4096)
        except socket.timeout:
            pass
    return so, info


def drain(so, quiet):
    got, closed = b'', False
    last = time.time()
    while time.time() - last < quiet:
        try:
            d = so.recv(65536)
            if not d:
                closed = True
                break
            got += d
            last = time.time()
        except socket.timeout:
            pass
        except OSError:
            closed = True
            break
    return got, closed


def record_suite(server, suite):
    p, port = start(server, suite['config'])
    out = {'config': suite['config'], 'exchanges': [], 'sessions': []}
    try:
        for ex in suite.get('exchanges', []):
            so, info = connect(port)
            so.sendall(b(ex['input']))
            got, closed = drain(so, LONG if ex.get('long') else QUIET)
            so.close()
            out['exchanges'].append({'input': ex['input'], 'long': bool(ex.get('long')),
                                     'info': s(normalize_info(info)),
                                     'sent': s(got), 'closed': closed})
        for steps in suite.get('sessions', []):
            conns, got = {}, {}
            for name, data in steps:
                if name not in conns:
                    conns[name], _ = connect(port)
                    got[name] = b''
                conns[name].sendall(b(data))
                time.sleep(STEP)
                for n, so in conns.items():
                    d, closed = drain(so, 0.05)
                    got[n] += d + (b'<closed>' if closed and not got[n].endswith(b'<closed>') else b'')
            for so in conns.values():
                so.close()
            out['sessions'].append({'steps': steps, 'received': {n: s(v) for n, v in got.items()}})
    finally:
        p.kill()
        p.wait()
    return out


def main():
    args = sys.argv[1:]
    verify = '--verify' in args
    names = [a for a in args if a != '--verify']
    server = os.environ.get('NATS_SERVER', 'nats-server')
    suites = sorted(f[:-5] for f in os.listdir(os.path.join(HERE, 'suites')) if f.endswith('.json'))
    failed = 0
    for name in names or suites:
        with open(os.path.join(HERE, 'suites', name + '.json')) as f:
            suite = json.load(f)
        out = json.dumps(record_suite(server, suite), indent=1, ensure_ascii=True) + '\n'
        path = os.path.join(HERE, 'transcripts', name + '.json')
        if verify:
            old = open(path).read() if os.path.exists(path) else ''
            if old != out:
                print(f'{name}: recording differs from {path}')
                failed += 1
            else:
                print(f'{name}: same')
        else:
            with open(path, 'w') as f:
                f.write(out)
            print(f'{name}: recorded')
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
