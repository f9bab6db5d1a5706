"""fork(): a child process gets ForkError from a client (or lease) its parent opened,
at once, instead of a hang; a client opened in the child works; the parent is unaffected."""

from __future__ import annotations

import os
import signal
import warnings

import pytest

import rcm

from conftest import URL


def run_in_child(fn, timeout=10.0) -> int:
    """fn() in a forked child; its exit code (124 when it hung and was killed)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads running
        pid = os.fork()
    if pid == 0:
        code = 1
        try:
            signal.alarm(int(timeout))
            code = fn()
        except BaseException:  # noqa: BLE001
            code = 2
        finally:
            os._exit(code)
    import time

    deadline = time.monotonic() + timeout + 5
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            if os.WIFSIGNALED(status):
                return 124 if os.WTERMSIG(status) in (signal.SIGALRM, signal.SIGKILL) else 128
            return os.WEXITSTATUS(status)
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return 124


def expect_fork_error(call) -> int:
    try:
        call()
    except rcm.ForkError as e:
        return 0 if "fork" in str(e) else 3
    except Exception:  # noqa: BLE001
        return 4
    return 5


def test_client_in_a_child_raises_fork_error(r, key):
    r.set(key(), "parent")
    assert run_in_child(lambda: expect_fork_error(lambda: r.get(key()))) == 0
    assert run_in_child(lambda: expect_fork_error(lambda: r.pipeline().get(key()).execute())) == 0
    assert run_in_child(lambda: expect_fork_error(lambda: r.lease())) == 0
    assert run_in_child(lambda: expect_fork_error(r.stats)) == 0
    assert r.get(key()) == b"parent"  # the parent goes on


def test_lease_in_a_child_raises_fork_error(r, key):
    with r.lease() as lease:
        assert run_in_child(lambda: expect_fork_error(lambda: lease.ping())) == 0
        assert run_in_child(lambda: expect_fork_error(lambda: lease.read(0.1))) == 0
        assert lease.ping() is True


def test_child_may_close_and_drop_the_parents_client(r):
    def child():
        r.close()  # must not wait for the parent's threads
        return 0

    assert run_in_child(child) == 0
    assert r.ping() is True


def test_a_new_client_in_the_child_works(r, key):
    def child():
        with rcm.Client(URL) as c:
            c.set(key("child"), "yes")
            return 0 if c.get(key("child")) == b"yes" else 6

    assert run_in_child(child) == 0
    assert r.get(key("child")) == b"yes"


@pytest.mark.skipif(not hasattr(os, "register_at_fork"), reason="no os.register_at_fork")
def test_async_client_in_a_child_raises_fork_error(key):
    import asyncio

    import rcm.asyncio

    async def parent():
        c = rcm.asyncio.Client(URL)
        await c.ping()

        def child():
            async def go():
                try:
                    await c.ping()
                except rcm.ForkError:
                    return 0
                return 5

            return asyncio.new_event_loop().run_until_complete(go())

        code = run_in_child(child)
        ok = await c.ping()
        c.close()
        return code, ok

    code, ok = asyncio.run(parent())
    assert code == 0 and ok is True
