"""Leases: exclusive connections for blocking and stateful commands."""

from __future__ import annotations

import threading
import time

import pytest

import rcm

from conftest import URL


def test_lease_context_manager_and_helpers(r, key):
    k = key()
    with r.lease() as lease:
        assert not lease.released and "held" in repr(lease)
        assert lease.set(k, 1) is True
        assert lease.execute_command("GET", k) == b"1"
        assert lease.incr(k) == 2
    assert lease.released and "released" in repr(lease)
    with pytest.raises(rcm.StateError):
        lease.get(k)
    lease.release()  # idempotent


def test_lease_for_a_key(r, key):
    with r.lease(key()) as lease:
        assert lease.ping() is True
    with r.lease(b"\x00binary") as lease:
        assert lease.ping() is True


def test_blpop_on_a_lease_while_other_threads_run(r, key):
    k = key()
    done = threading.Event()
    counts = [0] * 4

    def busy(i):
        while not done.is_set():
            r.incr(key(f"c{i}"))
            counts[i] += 1

    threads = [threading.Thread(target=busy, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    try:
        with r.lease() as lease:
            t0 = time.monotonic()
            pusher = threading.Timer(0.5, lambda: r.rpush(k, "item"))
            pusher.start()
            assert lease.blpop(k, timeout=5) == (k.encode(), b"item")
            assert 0.4 < time.monotonic() - t0 < 4
            pusher.join()
    finally:
        done.set()
        for t in threads:
            t.join()
    assert all(c > 10 for c in counts), counts  # they ran while the BLPOP waited


def test_blocking_timeout_on_a_lease(r, key):
    with r.lease() as lease:
        t0 = time.monotonic()
        assert lease.blpop(key(), timeout=0.3) is None
        assert time.monotonic() - t0 >= 0.25


def test_blocking_commands_refused_on_the_shared_connection(r, key):
    with pytest.raises(rcm.ArgumentError) as e:
        r._native.execute("BLPOP", key(), 1)
    assert "lease" in str(e.value)
    with pytest.raises(rcm.ArgumentError):
        r.execute_command("MULTI")
    with pytest.raises(rcm.ArgumentError):
        r.execute_command("SUBSCRIBE", key())


def test_watch_multi_exec_on_a_lease(r, key):
    k = key()
    r.set(k, 1)
    with r.lease(k) as lease:
        assert lease.watch(k) is True
        assert lease.multi() is True
        assert lease.incr(k) == "QUEUED"
        assert lease.exec() == [2]
        assert lease.watch(k) is True
        r.set(k, 10)
        lease.multi()
        lease.incr(k)
        assert lease.exec() is None  # watched key changed
        lease.multi()
        lease.incr(k)
        assert lease.discard() is True
        assert lease.unwatch() is True
    assert r.get(k) == b"10"


def test_released_lease_is_clean(key):
    # A lease released in the middle of a transaction comes back without it.
    with rcm.Client(URL, pool_max_leases=1) as c:
        k = key()
        with c.lease() as lease:
            lease.watch(k)
            lease.multi()
            lease.set(k, "from discarded transaction")
        with c.lease() as lease:
            assert lease.execute_command("SET", k, "plain") is True
        assert c.get(k) == b"plain"


def test_pool_timeout_when_every_lease_is_taken():
    with rcm.Client(URL, pool_max_leases=1, pool_lease_timeout_ms=100) as c:
        with c.lease():
            t0 = time.monotonic()
            with pytest.raises(rcm.PoolTimeoutError) as e:
                c.lease()
            assert time.monotonic() - t0 >= 0.08
            assert isinstance(e.value, TimeoutError)
        with c.lease() as again:
            assert again.ping() is True


def test_one_thread_at_a_time_per_lease(r, key):
    with r.lease() as lease:
        errors = []

        def other():
            try:
                lease.ping()
            except rcm.StateError as e:
                errors.append(e)

        blocked = threading.Thread(target=lambda: lease.blpop(key(), 1))
        blocked.start()
        time.sleep(0.2)
        t = threading.Thread(target=other)
        t.start()
        t.join()
        with pytest.raises(rcm.StateError):
            lease.release()  # still in use by the BLPOP
        blocked.join()
    assert len(errors) == 1 and "another thread" in str(errors[0])


def test_read_times_out_with_none(r):
    with r.lease() as lease:
        t0 = time.monotonic()
        assert lease.read(0.2) is None
        assert time.monotonic() - t0 >= 0.15
        assert lease.read(0) is None


def test_blocking_execute_command_variants(r, key):
    s = key("stream")
    r.execute_command("XADD", s, "*", "f", "v")
    out = r.execute_command("XREAD", "COUNT", 1, "BLOCK", 100, "STREAMS", s, "0")
    assert out[0][0] == s.encode()
    r.rpush(key("l"), "a")
    assert r.execute_command("BLMPOP", 1, 1, key("l"), "LEFT") == [key("l").encode(), [b"a"]]
    assert isinstance(r.execute_command("WAIT", 0, 100), int)


def test_blocking_key_picks_the_lease_node():
    from rcm.client import blocking_key

    assert blocking_key(("BLPOP", "a", "b", 0)) == "a"
    assert blocking_key(("XREAD", "COUNT", 1, "BLOCK", 0, "STREAMS", "s1", "s2", "0", "0")) == "s1"
    assert blocking_key(("BZMPOP", 1, 2, "z1", "z2", "MIN")) == "z1"
    assert blocking_key(("WAIT", 1, 0)) is None


def test_multi_channel_subscribe_on_a_raw_lease(r, key):
    with r.lease() as lease:
        first = lease.execute_command("SUBSCRIBE", key("a"), key("b"))
        assert first == [b"subscribe", key("a").encode(), 1]
        time.sleep(0.1)  # the second confirmation arrives while nothing is in flight
        assert lease.execute_command(b"PING") == [b"pong", b""]  # its own reply, not that
        assert lease.read(1) == [b"subscribe", key("b").encode(), 2]
