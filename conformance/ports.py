"""Free loopback ports for the servers the recorders and the Python tests
start, taken from below the kernel's ephemeral range.

A port from bind(0) lies in the ephemeral range, which the kernel also hands
client sockets as source ports: between our release of it and the server's
bind, a client socket may take it, and polling it with connect() before the
server listens can be given that same port as its source and connect to
itself (TCP simultaneous open). Either way the server cannot bind while the
poller believes it is up. tests/common/ports.rs is the Rust side.
"""
import os
import socket
import threading

FLOOR = 10000
_lock = threading.Lock()
_next = None  # the next port to try, and the end of the range (read once)


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port():
    """A port nothing listens on right now, never the same twice in one
    process (each process starts at its own place in the range)."""
    global _next
    with _lock:
        if _next is None:
            top = max(_ephemeral_low(), FLOOR + 1000)
            # Processes started together have close ids: spread them over
            # the range (Knuth's multiplicative hash) so their walks do not
            # meet.
            _next = (FLOOR + os.getpid() * 2654435761 % (top - FLOOR), top)
        port, top = _next
        for _ in range(top - FLOOR):
            candidate = port
            port = FLOOR if port + 1 >= top else port + 1
            _next = (port, top)
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind(("127.0.0.1", candidate))
                except OSError:
                    continue
            return candidate
    raise RuntimeError("no free port in %d..%d" % (FLOOR, top))
