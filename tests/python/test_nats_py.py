"""edge driven by the official Python client, nats-py (asyncio).

Each test starts its own edge (see conftest.py). Every wait has a timeout:
no test can hang.
"""

import asyncio
import socket
import time

import nats
import pytest
from nats.errors import MaxPayloadError, NoRespondersError

pytestmark = pytest.mark.asyncio

T = 5.0  # seconds any single wait may take


async def connect(url, **kw):
    kw.setdefault("connect_timeout", T)
    kw.setdefault("allow_reconnect", False)
    return await asyncio.wait_for(nats.connect(url, **kw), T)


async def settle(*conns):
    """Returns once the server has processed everything each connection sent.

    nats-py 2.16.0's `flush()` writes its PING straight to the socket, ahead
    of publishes and subscriptions still queued for its flusher task, so one
    PONG does not prove they reached the server. The first flush gets the
    queue written (the flusher runs before the PONG can be read); the second
    PING then follows it on the wire, and its PONG does.
    """
    for nc in conns:
        await nc.flush(timeout=T)
        await nc.flush(timeout=T)


async def next_msg(sub, timeout=T):
    return await sub.next_msg(timeout=timeout)


async def no_msg(sub, wait=0.3):
    """Asserts nothing arrives on `sub` within `wait` seconds."""
    with pytest.raises(nats.errors.TimeoutError):
        msg = await sub.next_msg(timeout=wait)
        pytest.fail(f"unexpected message {msg.subject} {msg.data!r}")


def raw(url, rcvbuf=None):
    """A raw socket with INFO read and `CONNECT {"verbose":false}` + PING answered."""
    host, port = url.removeprefix("nats://").split(":")
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(T)
    s.connect((host, int(port)))
    info = read_until(s, b"\r\n")
    assert info.startswith(b"INFO {"), info
    s.sendall(b'CONNECT {"verbose":false}\r\nPING\r\n')
    assert read_until(s, b"PONG\r\n") == b"PONG\r\n"
    return s


def read_until(s, end, timeout=T):
    """Reads until the data ends with `end`, EOF, or `timeout`."""
    deadline = time.monotonic() + timeout
    got = b""
    while not got.endswith(end) and time.monotonic() < deadline:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = s.recv(4096)
        except socket.timeout:
            break
        except OSError:
            break
        if not chunk:
            break
        got += chunk
    return got


async def test_pub_sub(edge_url):
    nc = await connect(edge_url)
    try:
        sub = await nc.subscribe("greet.joe")
        await nc.publish("greet.joe", b"hello")
        await nc.publish("greet.sue", b"not for joe")
        await nc.publish("greet.joe", b"")
        await settle(nc)
        m = await next_msg(sub)
        assert (m.subject, m.data, m.reply) == ("greet.joe", b"hello", "")
        m = await next_msg(sub)
        assert (m.subject, m.data) == ("greet.joe", b"")
        await no_msg(sub)
    finally:
        await nc.close()


async def test_wildcards(edge_url):
    nc = await connect(edge_url)
    try:
        star = await nc.subscribe("a.*.c")
        full = await nc.subscribe("a.>")
        for subj in ["a.b.c", "a.x.c", "a.b", "a.b.c.d", "b.b.c", "a"]:
            await nc.publish(subj, subj.encode())
        await settle(nc)
        assert [(await next_msg(star)).subject for _ in range(2)] == ["a.b.c", "a.x.c"]
        await no_msg(star)
        got = [(await next_msg(full)).subject for _ in range(4)]
        assert got == ["a.b.c", "a.x.c", "a.b", "a.b.c.d"]
        await no_msg(full)
    finally:
        await nc.close()


async def test_queue_group_delivers_each_message_once(edge_url):
    conns = [await connect(edge_url) for _ in range(4)]
    try:
        pub, members = conns[0], conns[1:]
        received = [[] for _ in members]
        for i, nc in enumerate(members):

            async def cb(msg, i=i):
                received[i].append(int(msg.data))

            await nc.subscribe("work", queue="workers", cb=cb)
            await settle(nc)
        plain = await pub.subscribe("work")  # not in the group: gets everything
        n = 300
        for k in range(n):
            await pub.publish("work", str(k).encode())
        await settle(pub)
        deadline = time.monotonic() + T
        while sum(map(len, received)) < n and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)  # a duplicate would show up here
        everything = sorted(x for r in received for x in r)
        assert everything == list(range(n)), "each message exactly once in the group"
        assert all(received), f"every member gets some: {[len(r) for r in received]}"
        assert [int((await next_msg(plain)).data) for _ in range(n)] == list(range(n))
    finally:
        for nc in conns:
            await nc.close()


async def test_request_reply(edge_url):
    server = await connect(edge_url)
    client = await connect(edge_url)
    try:

        async def handler(msg):
            await msg.respond(b"re: " + msg.data)

        await server.subscribe("svc.echo", cb=handler)
        await settle(server)
        for k in range(5):
            rep = await client.request("svc.echo", f"q{k}".encode(), timeout=T)
            assert rep.data == f"re: q{k}".encode()
        # Old-style request (a unique inbox per request, no shared mux).
        rep = await client.request("svc.echo", b"old", timeout=T, old_style=True)
        assert rep.data == b"re: old"
    finally:
        await client.close()
        await server.close()


async def test_headers_round_trip(edge_url):
    nc = await connect(edge_url)
    try:
        sub = await nc.subscribe("h")
        hdrs = {"X-One": "1", "X-Spaces": "two words", "Nats-Msg-Id": "abc-123"}
        await nc.publish("h", b"body", headers=hdrs)
        await nc.publish("h", b"", headers={"Only": "header"})
        await settle(nc)
        m = await next_msg(sub)
        assert m.data == b"body"
        assert m.headers == hdrs
        m = await next_msg(sub)
        assert (m.data, m.headers) == (b"", {"Only": "header"})

        async def handler(msg):
            await msg.respond(msg.headers["Q"].encode())

        await nc.subscribe("hq", cb=handler)
        rep = await nc.request("hq", b"", timeout=T, headers={"Q": "answer"})
        assert rep.data == b"answer"
    finally:
        await nc.close()


async def test_no_responders(edge_url):
    nc = await connect(edge_url)
    try:
        start = time.monotonic()
        with pytest.raises(NoRespondersError):
            await nc.request("nobody.home", b"?", timeout=T)
        assert time.monotonic() - start < T / 2, "503 status, not a timeout"
    finally:
        await nc.close()


async def test_echo_off(edge_url):
    quiet = await connect(edge_url, no_echo=True)
    loud = await connect(edge_url)
    other = await connect(edge_url)
    try:
        qsub = await quiet.subscribe("e")
        lsub = await loud.subscribe("e")
        await settle(quiet)
        await settle(loud)
        await quiet.publish("e", b"from quiet")
        await settle(quiet)
        await loud.publish("e", b"from loud")
        await settle(loud)
        await other.publish("e", b"from other")
        await settle(other)
        assert (await next_msg(qsub)).data == b"from loud"
        assert (await next_msg(qsub)).data == b"from other"
        await no_msg(qsub)
        got = [(await next_msg(lsub)).data for _ in range(3)]
        assert got == [b"from quiet", b"from loud", b"from other"], got
        await no_msg(lsub)
    finally:
        for nc in (quiet, loud, other):
            await nc.close()


async def test_unsubscribe_with_max(edge_url):
    nc = await connect(edge_url)
    pub = await connect(edge_url)
    try:
        got = []

        async def cb(msg):
            got.append(msg.data)

        sub = await nc.subscribe("m", cb=cb)
        await sub.unsubscribe(limit=3)
        await settle(nc)
        for k in range(10):
            await pub.publish("m", str(k).encode())
        await settle(pub)
        deadline = time.monotonic() + T
        while len(got) < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)
        assert got == [b"0", b"1", b"2"]

        # The server side, without the client's own counting: UNSUB sid 2 on a
        # raw connection gets exactly two MSGs.
        s = raw(nc.connected_url.geturl())
        s.sendall(b"SUB r 7\r\nUNSUB 7 2\r\nPING\r\n")
        assert read_until(s, b"PONG\r\n") == b"PONG\r\n"
        for k in range(5):
            await pub.publish("r", str(k).encode())
        await settle(pub)
        s.sendall(b"PING\r\n")
        assert read_until(s, b"PONG\r\n") == b"MSG r 7 1\r\n0\r\nMSG r 7 1\r\n1\r\nPONG\r\n"
        s.close()
    finally:
        await pub.close()
        await nc.close()


async def test_max_payload(edge_factory):
    edge = edge_factory("max_payload: 1KB\n")
    nc = await connect(edge.url)
    try:
        assert nc.max_payload == 1024
        sub = await nc.subscribe("p")
        await nc.publish("p", b"x" * 1024)
        await settle(nc)
        assert len((await next_msg(sub)).data) == 1024
        with pytest.raises(MaxPayloadError):
            await nc.publish("p", b"x" * 1025)
        # The client is still usable.
        await nc.publish("p", b"ok")
        await settle(nc)
        assert (await next_msg(sub)).data == b"ok"
    finally:
        await nc.close()

    s = raw(edge.url)
    s.sendall(b"PUB p 2000\r\n" + b"x" * 2000 + b"\r\n")
    assert read_until(s, b"\r\n") == b"-ERR 'Maximum Payload Violation'\r\n"
    assert read_until(s, b"\r\n") == b"", "connection closed after the error"
    s.close()


async def test_slow_consumer_is_cut_alone(edge_factory):
    # max_payload may not exceed max_pending (edge refuses, as nats-server does).
    edge = edge_factory("max_pending: 64KB\nmax_payload: 16KB\n")
    slow = raw(edge.url, rcvbuf=4096)
    slow.sendall(b"SUB flood 1\r\nPING\r\n")
    assert read_until(slow, b"PONG\r\n") == b"PONG\r\n"

    errors = []

    async def on_error(e):
        errors.append(e)

    good = await connect(edge.url, error_cb=on_error)
    pub = await connect(edge.url, error_cb=on_error)
    try:
        stats = {"n": 0, "bytes": 0}

        async def count(msg):
            stats["n"] += 1
            stats["bytes"] += len(msg.data)

        await good.subscribe("flood", cb=count)
        await settle(good)
        size, n = 16 * 1024, 1280  # 20 MiB: more than any socket buffers hold
        payload = b"y" * size
        deadline = time.monotonic() + 6 * T
        for k in range(n):
            await pub.publish("flood", payload)
            if k % 2 == 1:
                # Paced by `good`: it is never more than 2 messages (< 64 KiB)
                # behind, so it is not a slow consumer itself.
                await settle(pub)
                while stats["n"] < k + 1 and time.monotonic() < deadline:
                    await asyncio.sleep(0.001)
                assert good.is_connected, f"nats-py subscriber cut after {stats['n']} msgs: {errors}"
        await settle(pub)
        while stats["n"] < n and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert stats == {"n": n, "bytes": n * size}, "the nats-py subscriber got everything"
        assert good.is_connected and pub.is_connected
        assert errors == []

        # The raw subscriber never read: it was closed. Reading now drains
        # what was flushed to it before and then sees EOF.
        got, eof = 0, False
        slow.settimeout(0.5)
        end = time.monotonic() + T
        while time.monotonic() < end:
            try:
                chunk = slow.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                eof = True
                break
            if not chunk:
                eof = True
                break
            got += len(chunk)
        assert eof, "slow consumer was not disconnected"
        assert got < n * size, f"slow consumer got everything ({got} bytes)"

        # And the good subscriber keeps receiving afterwards.
        await pub.publish("flood", b"after")
        await settle(pub)
        deadline = time.monotonic() + T
        while stats["n"] < n + 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert stats["n"] == n + 1
    finally:
        slow.close()
        await pub.close()
        await good.close()


async def test_reconnect_after_restart(edge):
    reconnected = asyncio.Event()
    disconnected = asyncio.Event()

    async def on_reconnect():
        reconnected.set()

    async def on_disconnect():
        disconnected.set()

    async def on_error(e):
        pass  # connection refused while edge is down is expected

    nc = await connect(
        edge.url,
        allow_reconnect=True,
        reconnect_time_wait=0.1,
        max_reconnect_attempts=100,
        reconnected_cb=on_reconnect,
        disconnected_cb=on_disconnect,
        error_cb=on_error,
    )
    try:
        sub = await nc.subscribe("rc")
        await nc.publish("rc", b"before")
        await settle(nc)
        assert (await next_msg(sub)).data == b"before"

        edge.restart()  # SIGTERM (exit 0 checked), then the same port again
        await asyncio.wait_for(disconnected.wait(), T)
        await asyncio.wait_for(reconnected.wait(), 3 * T)
        assert nc.is_connected

        # The subscription was replayed: a fresh client's message reaches it.
        other = await connect(edge.url)
        try:
            await settle(nc)
            await other.publish("rc", b"after")
            await settle(other)
            assert (await next_msg(sub)).data == b"after"
        finally:
            await other.close()
        await nc.publish("rc", b"own")
        await settle(nc)
        assert (await next_msg(sub)).data == b"own"
    finally:
        await nc.close()
