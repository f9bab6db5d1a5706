"""Defects of the binding found by review (issue 14), each pinned by a test that failed
before its fix: argument buffers, slot range, error text, Ctrl-C during long waits,
close() while a thread waits for a lease, redis-py's reply semantics."""

from __future__ import annotations

import os
import signal
import threading

import pytest

import rcm
from rcm import _native

from conftest import URL


def test_argument_buffers_shrink_after_a_big_command(r, key):
    # Each thread keeps its argument arrays between calls; one huge command must not
    # leave its size behind for the life of the thread.
    k = key()
    held = {}

    def big() -> None:
        r.rpush(k, *range(200_000))
        r.get(k + "x")  # an ordinary command after it
        held["after"] = _native._argv_held()

    t = threading.Thread(target=big)
    t.start()
    t.join(60)
    assert r.llen(k) == 200_000
    assert held["after"] < 1024 * 1024, held


def test_slot_out_of_range_is_an_argument_error(r, key):
    # 2**32 + 5 must not be cut to slot 5.
    for slot in (2**32 + 5, 16384, -1, 2**70):
        with pytest.raises(rcm.ArgumentError, match="slot"):
            r.execute_command("GET", key(), slot=slot)
    assert r.execute_command("GET", key(), slot=5) is None


def test_error_text_drops_the_err_code_as_redis_py(r, key):
    with pytest.raises(rcm.ResponseError) as e:
        r.execute_command("NOSUCHCOMMAND")
    assert str(e.value).startswith("unknown command")
    r.set(key(), "x")
    with pytest.raises(rcm.ResponseError) as e:
        r.lpush(key(), 1)
    assert str(e.value).startswith("WRONGTYPE")  # only ERR and a few others are dropped
    with pytest.raises(rcm.NoScriptError) as e:
        r.evalsha("0" * 40, 0)
    assert not str(e.value).startswith("NOSCRIPT")


def _interrupt_soon() -> threading.Timer:
    """SIGINT to this process in 0.3 s, as Ctrl-C would send (Python raises
    KeyboardInterrupt in the main thread, where pytest runs the test)."""
    t = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    t.start()
    return t


def test_ctrl_c_interrupts_a_blocking_lease_command(r, key):
    k = key()
    freed = threading.Event()

    def free_the_pop() -> None:  # without the fix BLPOP k 0 waits for ever: end it
        if not caught.wait(30):
            freed.set()
            r.rpush(k, "late")

    caught = threading.Event()
    watchdog = threading.Thread(target=free_the_pop)
    watchdog.start()
    try:
        with r.lease() as lease:
            with pytest.raises(KeyboardInterrupt):
                _interrupt_soon()
                lease.blpop(k, 0)
            caught.set()
            assert not freed.is_set(), "KeyboardInterrupt only came once BLPOP returned"
            # The connection still owed BLPOP's reply: it is not reused.
            with pytest.raises(rcm.StateError, match="interrupted"):
                lease.ping()
        # The client goes on; a new lease gets a clean connection.
        with r.lease() as lease:
            assert lease.ping() is True
            r.rpush(k, "v")
            assert lease.blpop(k, 5) == (k.encode(), b"v")
        # The client's own blocking path (a lease of its own) is interrupted too.
        with pytest.raises(KeyboardInterrupt):
            _interrupt_soon()
            r.blpop(k, 0)
        assert not freed.is_set()
    finally:
        caught.set()
        watchdog.join(60)


# cache=True: a client-side cache's miss is a command without deadline too (sync cached
# reads once went through the blocking rcm_command, which no signal interrupts).
@pytest.mark.parametrize("cache", [False, True], ids=["uncached", "cached-read-miss"])
def test_ctrl_c_interrupts_a_command_without_deadline(private_server, cache):
    server = private_server()
    resumed = threading.Event()
    interrupted = threading.Event()

    def resume() -> None:  # without the fix the GET waits for ever: wake the server
        if not interrupted.wait(30):
            resumed.set()
        server.signal(signal.SIGCONT)

    with rcm.Client(server.url, command_timeout_ms=0, **({"cache": True} if cache else {})) as c:
        assert c.ping() is True
        assert bool(c.cache_stats().get("max_bytes")) == cache
        server.signal(signal.SIGSTOP)
        t = threading.Thread(target=resume)
        t.start()
        try:
            with pytest.raises(KeyboardInterrupt):
                _interrupt_soon()
                c.get("k")
            interrupted.set()
            assert not resumed.is_set(), "KeyboardInterrupt only came once the server answered"
        finally:
            interrupted.set()
            t.join(60)
        # The abandoned request completes unseen; the client goes on.
        assert c.set("k", "v") is True
        assert c.get("k") == b"v"


def test_close_ends_a_wait_for_a_lease(url):
    # Three threads: one holds the only lease, one waits for it (lease_timeout 30 s), the
    # main thread closes. The waiter gets ClosedError at once (not PoolTimeoutError once
    # its timeout ran out), and the holder's release after close() does not wait either.
    c = rcm.Client(url, pool_max_leases=1, pool_lease_timeout_ms=30000)
    held = c.lease()
    waiting = threading.Event()
    outcome = []

    def waiter() -> None:
        waiting.set()
        try:
            c.lease().release()
            outcome.append("lease")
        except rcm.RcmError as e:
            outcome.append(type(e).__name__)

    t = threading.Thread(target=waiter)
    t.start()
    waiting.wait(10)
    for _ in range(10_000):  # until rcm counts the waiter
        if c.stats()["servers"][0]["lease_waiters"] == 1:
            break
    assert not outcome
    c.close()
    t.join(60)
    held.release()
    assert outcome == ["ClosedError"]



def test_execute_command_applies_redis_pys_response_callbacks(r, rd, key):
    # redis-py 4.3.4 converts execute_command's reply by the command's name; code written
    # for it compares with True, reads dicts, unpacks (member, score) pairs.
    k, h, z, s = key(), key("h"), key("z"), key("s")
    assert r.execute_command("SET", k, "v") is True
    assert r.execute_command("set", k, "v") is True  # any case, as redis-py's dict
    assert r.execute_command("SET", k, "w", "GET", get=True) == b"v"  # options reach the callback
    assert r.execute_command("HSET", h, "f", "v") == 1
    assert r.execute_command("HGETALL", h) == {b"f": b"v"}
    assert rd.execute_command("HGETALL", h) == {"f": "v"}
    assert r.execute_command("EXPIRE", k, 100) is True
    assert r.execute_command("PING") is True
    r.execute_command("ZADD", z, 1, "a", 2.5, "b")
    assert r.execute_command("ZRANGE", z, 0, -1, "WITHSCORES", withscores=True) == [(b"a", 1.0), (b"b", 2.5)]
    assert r.execute_command("ZRANGE", z, 0, -1) == [b"a", b"b"]  # no option: raw, as redis-py
    assert r.execute_command("ZSCORE", z, "b") == 2.5
    r.execute_command("SADD", s, "x", "y")
    assert r.execute_command("SMEMBERS", s) == {b"x", b"y"}
    assert r.execute_command(b"SET", k, "v") == "OK"  # a bytes name: raw, as redis-py
    assert r.execute_command("GET", k) == b"v"  # no callback: raw
    with r.pipeline() as p:  # pipelines apply them too
        p.execute_command("SET", k, "v2")
        p.execute_command("HGETALL", h)
        assert p.execute() == [True, {b"f": b"v"}]
    with r.lease() as lease:
        assert lease.execute_command("HGETALL", h) == {b"f": b"v"}
    r.rpush(key("l"), "e")
    assert r.execute_command("BLPOP", key("l"), 1) == (key("l").encode(), b"e")  # on a lease


def test_socket_timeout_none_waits_without_limit(private_server):
    # redis-py's socket_timeout=None waits as long as the server takes; rcm's default
    # deadline (1 s) must not apply then. The server is stopped for 2.5 s.
    server = private_server()
    with rcm.Client(server.url, socket_timeout=None) as c:
        c.set("k", "v")
        server.signal(signal.SIGSTOP)
        resume = threading.Timer(2.5, server.signal, (signal.SIGCONT,))
        resume.start()
        try:
            assert c.get("k") == b"v"
        finally:
            resume.join(30)
            server.signal(signal.SIGCONT)
    assert rcm._config.config_items({"socket_timeout": None}) == [("command_timeout_ms", "0")]
