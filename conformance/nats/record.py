#!/usr/bin/env python3
"""Records NATS transcripts against the real nats-server 2.9.10.

For every suite in conformance/nats/suites/*.json it starts
`nats-server -c <config> -a 127.0.0.1 -p <port>`, plays each exchange on a
fresh connection (reads INFO, does the TLS handshake when the suite asks
for one, sends the input, reads until the server closes or goes quiet) and
each session (several connections, steps in order, what each one received
after each step), and writes one insta snapshot file per exchange or
session: conformance/nats/transcripts/<suite>__<nnn>.snap.
tests/nats_transcripts.rs replays the same suites against edge and
compares with these files through insta.

A transcript's lines (see render_exchange / render_session):
  config> a line of the suite's config     (when it has one)
  < INFO {...}\\r\\n                         bytes the server sent
  tls> handshake ok | tls> handshake failed  (TLS suites)
  > PING\\r\\n                               bytes the client sent
  = closed | = open                        how the exchange ended
  a> ... / a< ...                          sessions: who sent, who got
  a~ waited 1.5s                           sessions: a step's own pause
Bytes are printable ASCII as they are; \\\\ \\r \\n \\t and everything else
as \\xNN; a line ends after each \\n.

Normalisation, the only one (normalize_info): in INFO, the values of
server_id, server_name, nonce, port and client_id become "X" / 0 (random
or per-run); whether they are present is kept.

Suite fields besides config/exchanges/sessions:
  "tls": true       clients do a TLS handshake after INFO; the config's
                    @CERTS@ names a directory of test certificates made
                    here with openssl (never committed)
session steps: [who, data], or [who, data, seconds] to wait that long
  after sending before reading (server timers) instead of STEP
exchange fields:
  "long": true      wait LONG seconds of silence (server timers)
  "tls": "plain"    in a TLS suite, send the input without a handshake
  "cert": "client" | "other"   present a client certificate signed by the
                    suite's CA, or by another CA
  "split": true     also send the input in two writes split at every byte
                    boundary; recording fails unless nats-server answers
                    every split exactly as the whole input

Usage: python3 conformance/nats/record.py [--verify] [SUITE...]
  --verify: record into memory and fail if any transcript differs.
"""
import json, os, re, socket, ssl, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from ports import free_port  # noqa: E402
TRANSCRIPTS = os.path.join(HERE, 'transcripts')
QUIET = 0.4      # seconds of silence that end an exchange
LONG = 3.0       # for inputs that wait for a server timer
STEP = 0.1       # pause after each session step
SPLIT_PAUSE = 0.01  # between the two writes of a split input


def b(s):
    return s.encode('latin-1')


def escape(data):
    """The transcript's byte rendering (tests/nats_transcripts.rs `escape`)."""
    out = []
    for c in data:
        if c == 0x5c:
            out.append('\\\\')
        elif c == 0x0d:
            out.append('\\r')
        elif c == 0x0a:
            out.append('\\n')
        elif c == 0x09:
            out.append('\\t')
        elif 0x20 <= c < 0x7f:
            out.append(chr(c))
        else:
            out.append('\\x%02x' % c)
    return ''.join(out)


def lines(prefix, data):
    """`prefix` + escaped bytes, a line per \\n; a trailing space is
    written \\x20 so no line ends in white space."""
    out = []
    for piece in re.split(b'(?<=\n)', data):
        if piece:
            text = escape(piece)
            if text.endswith(' '):
                text = text[:-1] + '\\x20'
            out.append(prefix + text)
    return out


def normalize_info(info):
    info = re.sub(rb'"(server_id|server_name|nonce)":"[^"]*"', rb'"\1":"X"', info)
    return re.sub(rb'"(port|client_id)":\d+', rb'"\1":0', info)


def config_lines(config):
    return ['config> ' + line for line in config.splitlines() if line.strip()]


def render_exchange(config, ex, info, handshake, got, closed):
    out = config_lines(config)
    out += lines('< ', normalize_info(info))
    if handshake is not None:
        out.append('tls> handshake ' + ('ok' if handshake else 'failed'))
    out += lines('> ', b(ex['input']))
    out += lines('< ', got)
    out.append('= closed' if closed else '= open')
    return '\n'.join(out) + '\n'


def render_session(config, steps, received):
    out = config_lines(config)
    for step, got in zip(steps, received):
        name, data = step[0], step[1]
        out += lines(name + '> ', b(data))
        if len(step) > 2:
            out.append(f'{name}~ waited {step[2]}s')
        for who, d in got:
            out += lines(who + '< ', d)
    return '\n'.join(out) + '\n'


def snap(suite, n, title, body):
    head = ('---\nsource: conformance/nats/record.py\n'
            'expression: ' + json.dumps(f'{suite} #{n:03}: {title}') + '\n---\n')
    return head + body


def make_certs(dir_):
    """ca.pem, server.pem/server-key.pem (localhost, 127.0.0.1), a client
    certificate from the same CA and one from another CA."""
    def run(*args):
        subprocess.run(['openssl', *args], cwd=dir_, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def ca(name):
        run('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
            '-nodes', '-keyout', f'{name}-key.pem', '-out', f'{name}.pem', '-days', '2',
            '-subj', f'/CN={name}')

    def leaf(name, issuer, ext):
        with open(os.path.join(dir_, f'{name}.ext'), 'w') as f:
            f.write(ext)
        run('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
            '-keyout', f'{name}-key.pem', '-out', f'{name}.csr', '-subj', f'/CN={name}')
        run('x509', '-req', '-in', f'{name}.csr', '-CA', f'{issuer}.pem',
            '-CAkey', f'{issuer}-key.pem', '-CAcreateserial', '-out', f'{name}.pem',
            '-days', '2', '-extfile', f'{name}.ext')

    ca('ca')
    ca('other-ca')
    leaf('server', 'ca', 'subjectAltName=DNS:localhost,IP:127.0.0.1\n'
         'extendedKeyUsage=serverAuth\n')
    leaf('client', 'ca', 'extendedKeyUsage=clientAuth\n')
    leaf('other', 'other-ca', 'extendedKeyUsage=clientAuth\n')


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
    so.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    so.settimeout(0.05)
    info = b''
    deadline = time.time() + 5
    while not info.endswith(b'\r\n') and time.time() < deadline:
        try:
            d = so.recv(1)
            if not d:
                break
            info += d
        except socket.timeout:
            pass
    return so, info


def handshake(so, certs, cert):
    """Wraps `so` in TLS trusting the suite's CA; None when it fails."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(os.path.join(certs, 'ca.pem'))
    if cert:
        ctx.load_cert_chain(os.path.join(certs, cert + '.pem'),
                            os.path.join(certs, cert + '-key.pem'))
    so.settimeout(5)
    try:
        tls = ctx.wrap_socket(so, server_hostname='localhost')
    except (ssl.SSLError, OSError):
        return None
    tls.settimeout(0.05)
    return tls


def drain(so, quiet, want=None):
    """Reads until the peer closes or `quiet` seconds pass without data
    (with `want`, as soon as that much is in and a short grace passed)."""
    got, closed = b'', False
    last = time.time()
    while time.time() - last < quiet:
        if want is not None and len(got) >= want and time.time() - last > 0.15:
            break
        try:
            d = so.recv(65536)
            if not d:
                closed = True
                break
            got += d
            last = time.time()
        except socket.timeout:
            pass
        except (OSError, ssl.SSLError):
            closed = True
            break
    return got, closed


def finish(so):
    """Half-closes and waits (at most 5 s) for the server to close too: it
    drops a client's subscriptions before its socket, so the next exchange
    cannot race this one's clean-up (tests/nats_transcripts.rs does the
    same)."""
    try:
        so.shutdown(socket.SHUT_WR)
        deadline = time.time() + 5
        while time.time() < deadline:
            try:
                if not so.recv(65536):
                    break
            except socket.timeout:
                pass
    except (OSError, ssl.SSLError, ValueError):
        pass
    so.close()


def play(port, suite, ex, certs, split=None, want=None):
    """One exchange on a fresh connection: the rendered transcript."""
    so, info = connect(port)
    shaken = None
    if suite.get('tls') and ex.get('tls') != 'plain':
        tls = handshake(so, certs, ex.get('cert'))
        shaken = tls is not None
        so = tls or so
    data = b(ex['input'])
    try:
        if shaken is False:
            raise OSError('no handshake')
        if split is None:
            so.sendall(data)
        else:
            so.sendall(data[:split])
            time.sleep(SPLIT_PAUSE)
            so.sendall(data[split:])
        got, closed = drain(so, LONG if ex.get('long') else QUIET, want)
    except (OSError, ssl.SSLError):
        # The server closed before taking the input (a refused client
        # certificate is refused after the client's side of the handshake).
        got, closed = b'', True
    finish(so)
    return render_exchange(suite['config'], ex, info, shaken, got, closed), len(got)


def title(ex):
    t = ex.get('title') or escape(b(ex['input'])) or '(nothing sent)'
    if ex.get('tls') == 'plain':
        t = 'plain text: ' + t
    if ex.get('cert'):
        t = f'{ex["cert"]} certificate: ' + t
    if ex.get('split'):
        t += ' [split at every byte]'
    return t[:72]


def record_suite(server, name, suite, certs):
    """[(file name, snapshot text)] for every exchange and session."""
    config = suite['config'].replace('@CERTS@', certs)
    p, port = start(server, config)
    out = []
    try:
        for ex in suite.get('exchanges', []):
            n = len(out)
            whole, got_len = play(port, suite, ex, certs)
            if ex.get('split'):
                data = b(ex['input'])
                for k in range(1, len(data)):
                    part, _ = play(port, suite, ex, certs, split=k, want=got_len)
                    if part != whole:
                        raise SystemExit(f'{name} #{n}: nats-server answers differently '
                                         f'when the input is split at byte {k}:\n{part}')
            out.append((f'{name}__{n:03}.snap', snap(name, n, title(ex), whole)))
        for steps in suite.get('sessions', []):
            n = len(out)
            conns, order, received, gone = {}, [], [], set()
            for step in steps:
                who, data = step[0], step[1]
                if who not in conns:
                    conns[who], _ = connect(port)
                    order.append(who)
                conns[who].sendall(b(data))
                time.sleep(step[2] if len(step) > 2 else STEP)
                step = []
                for w in order:
                    if w in gone:
                        continue
                    d, closed = drain(conns[w], 0.05)
                    if d:
                        step.append((w, d))
                    if closed:
                        gone.add(w)
                        step.append((w, b'<closed>'))
                received.append(step)
            for so in conns.values():
                finish(so)
            who = ', '.join(order)
            out.append((f'{name}__{n:03}.snap',
                        snap(name, n, f'session of {who}', render_session(suite['config'], steps, received))))
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
    with tempfile.TemporaryDirectory() as certs:
        make_certs(certs)
        for name in names or suites:
            with open(os.path.join(HERE, 'suites', name + '.json')) as f:
                suite = json.load(f)
            files = record_suite(server, name, suite, certs)
            old = {f for f in os.listdir(TRANSCRIPTS) if f.startswith(name + '__')}
            new = {f for f, _ in files}
            if verify:
                bad = [f for f, text in files
                       if not os.path.exists(os.path.join(TRANSCRIPTS, f))
                       or open(os.path.join(TRANSCRIPTS, f)).read() != text]
                bad += sorted(old - new)
                for f in bad:
                    print(f'{name}: recording differs from transcripts/{f}')
                failed += len(bad)
                if not bad:
                    print(f'{name}: {len(files)} same')
            else:
                for f in old - new:
                    os.remove(os.path.join(TRANSCRIPTS, f))
                for f, text in files:
                    with open(os.path.join(TRANSCRIPTS, f), 'w') as fh:
                        fh.write(text)
                print(f'{name}: {len(files)} recorded')
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
