"""Fixtures for the nats-py suite: a real `edge run` per test.

The binary comes from the env var EDGE_BIN (tests/nats_py.rs sets it to
cargo's build of `edge`). Each server listens on 127.0.0.1 and a free port,
is stopped with SIGTERM and must exit 0. Every wait is bounded.
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "conformance"))
from ports import free_port  # noqa: E402

WAIT = 10.0


def _accepts(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Edge:
    """A running `edge run -a 127.0.0.1 -p PORT [CONFIG]`."""

    def __init__(self, config=None):
        self.bin = os.environ.get("EDGE_BIN")
        if not self.bin:
            pytest.fail("EDGE_BIN is not set (run through `cargo test --test nats_py`)")
        self.port = free_port()
        self.dir = tempfile.TemporaryDirectory(prefix="edge-nats-py-")
        self.config = None
        if config is not None:
            self.config = os.path.join(self.dir.name, "edge.conf")
            with open(self.config, "w") as f:
                f.write(config)
        self.proc = None
        self.start()

    @property
    def url(self):
        return f"nats://127.0.0.1:{self.port}"

    def start(self):
        args = [self.bin, "run", "-a", "127.0.0.1", "-p", str(self.port)]
        if self.config:
            args.append(self.config)
        self.stderr = open(os.path.join(self.dir.name, "stderr"), "ab")
        self.proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.stderr
        )
        deadline = time.monotonic() + WAIT
        while not _accepts(self.port):
            code = self.proc.poll()
            if code is not None:
                pytest.fail(f"edge exited with {code} before accepting: {self.log()}")
            if time.monotonic() > deadline:
                self.proc.kill()
                pytest.fail(f"edge did not accept on {self.port} within {WAIT}s")
            time.sleep(0.02)

    def log(self):
        with open(os.path.join(self.dir.name, "stderr"), "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self):
        """SIGTERM, then require exit code 0 within WAIT."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=WAIT)
            pytest.fail("edge did not exit within 10s of SIGTERM")
        finally:
            self.stderr.close()
        assert code == 0, f"edge exited {code} on SIGTERM: {self.log()}"

    def restart(self):
        """Stops (checking exit 0) and starts again on the same port."""
        self.stop()
        self.start()

    def close(self):
        try:
            self.stop()
        finally:
            self.dir.cleanup()


@pytest.fixture
def edge_factory():
    """Starts edges (optionally with a config file's text); stops them all after the test."""
    started = []

    def make(config=None):
        e = Edge(config)
        started.append(e)
        return e

    yield make
    errors = []
    for e in started:
        try:
            e.close()
        except BaseException as exc:  # report every edge, not just the first
            errors.append(exc)
    if errors:
        raise errors[0]


@pytest.fixture
def edge(edge_factory):
    e = edge_factory()
    yield e


@pytest.fixture
def edge_url(edge):
    """The URL of a fresh edge with the default config."""
    yield edge.url
