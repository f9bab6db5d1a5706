"""Fixtures for rcm's pytest suites: the harness's servers, unique keys, private servers.

Environment (set by CTest from tests/harness/fixtures.cmake; defaults for a hand run):
  RCM_TEST_PORT_BASE   standalone: +0 plain, +2 password abc123, +3 TLS; cluster +10..+15
  RCM_TEST_STATE_DIR   the harness's state (TLS certificates in tls/)
  RCM_HARNESS          tests/harness/rcm_harness.sh (starts private servers)
  RCM_PY_PRIVATE_PORTS "60-64": the offsets this run may use for private servers ("": none;
                       unset, as by hand: 60-69)
  RCM_PY_SKIP_RETURN_CODE  77: the exit status of a run that skipped something and failed
                       nothing (CTest's SKIP_RETURN_CODE); unset: pytest's own 0
"""

from __future__ import annotations

import itertools
import os
import pathlib
import signal
import socket
import subprocess
import time
import uuid

import pytest

import rcm

HERE = pathlib.Path(__file__).resolve().parent
SOURCE_DIR = pathlib.Path(os.environ.get("RCM_SOURCE_DIR", HERE.parent.parent))
BASE = int(os.environ.get("RCM_TEST_PORT_BASE", "21000"))
STATE_DIR = pathlib.Path(os.environ.get("RCM_TEST_STATE_DIR", SOURCE_DIR / "build" / "harness-state"))
HARNESS = os.environ.get("RCM_HARNESS", str(SOURCE_DIR / "tests" / "harness" / "rcm_harness.sh"))
PASSWORD = "abc123"

PLAIN_PORT = BASE
PASSWORD_PORT = BASE + 2
TLS_PORT = BASE + 3
CLUSTER_PORT = BASE + 10
URL = f"redis://127.0.0.1:{PLAIN_PORT}"
TLS_DIR = STATE_DIR / "tls"


def _private_offsets() -> list[int]:
    # Unset: a run by hand, which may use them all. Set (by CTest) but empty: none, since
    # every offset belongs to another test that `ctest -j` may run at the same time.
    spec = os.environ.get("RCM_PY_PRIVATE_PORTS", "60-69")
    if not spec:
        return []
    lo, _, hi = spec.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


_offsets = itertools.cycle(_private_offsets())


def port_is_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def unused_port() -> int:
    """A loopback port nothing listens on (for connection-refused tests)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pytest_sessionfinish(session, exitstatus) -> None:
    """Under CTest (RCM_PY_SKIP_RETURN_CODE, its SKIP_RETURN_CODE) a run in which nothing
    failed but something was skipped exits with that code, so that CTest shows it as
    skipped, not passed; the skipped tests and why are in the -rs summary above."""
    code = os.environ.get("RCM_PY_SKIP_RETURN_CODE")
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if code and exitstatus == 0 and reporter is not None and reporter.stats.get("skipped"):
        session.exitstatus = int(code)


@pytest.fixture(scope="session", autouse=True)
def _standalone_is_up() -> None:
    if not port_is_open(PLAIN_PORT):
        pytest.exit(
            f"no server on 127.0.0.1:{PLAIN_PORT}: run through ctest (fixture 'standalone'), or start it with "
            f"{HARNESS} up standalone {BASE} {STATE_DIR}",
            returncode=1,
        )


@pytest.fixture
def url() -> str:
    return URL


@pytest.fixture
def r():
    """A client of the shared standalone server (bytes replies)."""
    with rcm.Client(URL) as c:
        yield c


@pytest.fixture
def rd():
    """A client of the shared standalone server with decode_responses=True."""
    with rcm.Client(URL, decode_responses=True) as c:
        yield c


@pytest.fixture
def key(request) -> "KeyMaker":
    """k(name) -> a key unique to this test (the shared server is shared with other suites)."""
    return KeyMaker(request.node.name)


class KeyMaker:
    def __init__(self, test: str) -> None:
        self.prefix = f"py:{test[:40]}:{uuid.uuid4().hex[:8]}:"

    def __call__(self, name: str = "k") -> str:
        return self.prefix + name


class PrivateServer:
    """A server of this test's own, started by the harness and stopped by its PID."""

    def __init__(self, port: int, *args: str) -> None:
        self.port = port
        self.dir = STATE_DIR / "python" / str(port)
        self.args = args
        self.pid = 0
        self._start()
        self.url = f"redis://127.0.0.1:{port}"

    def _start(self) -> None:
        out = subprocess.run(
            ["bash", HARNESS, "server", str(self.port), str(self.dir), *self.args],
            check=True, capture_output=True, text=True, timeout=60,
        )
        self.pid = int(out.stdout.strip().splitlines()[-1])

    def signal(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def kill_and_restart(self) -> None:
        """SIGKILL, then a fresh server on the same port (a crash and a supervisor's
        restart); returns once the new one answers PING."""
        os.kill(self.pid, signal.SIGKILL)
        self.pid = 0
        deadline = time.monotonic() + 30
        while port_is_open(self.port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"port {self.port} still open 30 s after SIGKILL")
            time.sleep(0.05)
        self._start()

    def stop(self) -> None:
        if self.pid:
            subprocess.run(["bash", HARNESS, "stop", str(self.pid)], check=False, timeout=60)
            self.pid = 0


@pytest.fixture
def private_server():
    """private_server(*server_args) -> a PrivateServer on the next port of this run's range."""
    started: list[PrivateServer] = []

    def start(*args: str) -> PrivateServer:
        if not _private_offsets():
            raise RuntimeError("this run has no private ports (RCM_PY_PRIVATE_PORTS is empty): give its CTest "
                               "test a range of its own in tests/python/CMakeLists.txt")
        for _ in range(len(_private_offsets())):
            port = BASE + next(_offsets)
            if not port_is_open(port):
                s = PrivateServer(port, *args)
                started.append(s)
                return s
        raise RuntimeError("every private port of this run is busy")

    yield start
    for s in started:
        s.stop()
