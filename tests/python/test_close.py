"""Closing: from another thread while commands run, while a lease is blocked, with async
requests pending, and by the garbage collector. None of these may hang or crash."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import weakref

import pytest

import rcm
import rcm.asyncio

from conftest import URL


def test_close_from_another_thread_while_threads_run(key):
    c = rcm.Client(URL)
    outcomes = []
    started = threading.Barrier(9)

    def worker(i):
        started.wait()
        n = 0
        try:
            while True:
                c.set(key(f"{i}"), n)
                with c.pipeline() as p:
                    p.incr(key(f"{i}")).get(key(f"{i}"))
                    p.execute()
                n += 1
        except rcm.ClosedError:
            outcomes.append(("closed", n))
        except Exception as e:  # noqa: BLE001
            outcomes.append(("other", e))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    started.wait()
    time.sleep(0.3)
    t0 = time.monotonic()
    c.close()
    assert time.monotonic() - t0 < 2
    for t in threads:
        t.join(10)
        assert not t.is_alive()
    assert [o[0] for o in outcomes] == ["closed"] * 8, outcomes
    assert all(n > 0 for _, n in outcomes)


def test_close_wakes_a_blocked_lease(key):
    c = rcm.Client(URL)
    result = []

    def blocked():
        try:
            with c.lease() as lease:
                result.append(lease.blpop(key(), timeout=0))  # waits without limit
        except rcm.RcmError as e:
            result.append(e)

    t = threading.Thread(target=blocked)
    t.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    c.close()
    t.join(5)
    assert not t.is_alive(), "the BLPOP did not return after close()"
    assert time.monotonic() - t0 < 5
    assert isinstance(result[0], rcm.ClosedError), result


def test_close_wakes_a_pubsub_reader(key):
    c = rcm.Client(URL)
    result = []
    p = c.pubsub()
    p.subscribe(key())
    p.get_message(timeout=1)

    def reader():
        try:
            result.append(p.get_message(timeout=None))
        except rcm.RcmError as e:
            result.append(e)

    t = threading.Thread(target=reader)
    t.start()
    time.sleep(0.2)
    c.close()
    t.join(5)
    assert not t.is_alive()
    assert isinstance(result[0], rcm.ClosedError), result
    p.close()  # after its client: frees what is left, raises nothing
    assert not p.subscribed


def test_pending_async_requests_get_closed_error(private_server):
    # The synchronous close() from inside the event loop, with requests pending. The
    # server is stopped (SIGSTOP) so that they stay pending until close: a running server
    # answered all 2 000 of an earlier version of this test before close() on a fast
    # machine, and the test failed with nothing pending.
    import signal

    s = private_server()

    async def main():
        c = rcm.asyncio.Client(s.url, command_timeout_ms=0)  # no deadline: only close ends them
        lease = await c.lease()
        done = await asyncio.gather(*(c.incr("py:close:n") for _ in range(20)))
        s.signal(signal.SIGSTOP)
        futs = [asyncio.ensure_future(c.incr("py:close:n")) for _ in range(200)]
        await asyncio.sleep(0.1)
        assert not any(f.done() for f in futs)
        c.close()
        pending = await asyncio.wait_for(asyncio.gather(*futs, return_exceptions=True), 5)
        await lease.release()  # after close: returns, raises nothing
        return done, pending

    try:
        done, pending = asyncio.run(main())
    finally:
        s.signal(signal.SIGCONT)
    # Sorted: the pool's two connections may run the INCRs in another order than gather's.
    assert sorted(done) == list(range(1, 21))
    assert all(isinstance(r, rcm.ClosedError) for r in pending), pending[:3]


def test_close_while_async_requests_wait_on_a_stopped_server(private_server):
    import signal

    s = private_server()

    async def main():
        c = rcm.asyncio.Client(s.url, command_timeout_ms=0)  # no deadline: only close ends them
        await c.ping()
        s.signal(signal.SIGSTOP)
        futs = [asyncio.ensure_future(c.get("k")) for _ in range(100)]
        await asyncio.sleep(0.2)
        assert not any(f.done() for f in futs)
        t0 = time.monotonic()
        await c.aclose()
        results = await asyncio.wait_for(asyncio.gather(*futs, return_exceptions=True), 5)
        return results, time.monotonic() - t0

    try:
        results, took = asyncio.run(main())
    finally:
        s.signal(signal.SIGCONT)
    assert all(isinstance(r, rcm.ClosedError) for r in results), results[:3]
    assert took < 5


def test_close_returns_while_a_pipeline_waits_on_a_stopped_server(private_server):
    # A pipeline (and a routed command) waits inside the client, and close() waits for the
    # calls inside before freeing the handle. With no deadline and no stall check nothing
    # but close() itself can end that wait: it must shut the client down first.
    import signal

    s = private_server()
    c = rcm.Client(s.url, command_timeout_ms=0, pool_stall_timeout_ms=0, pool_health_check_ms=0)
    c.ping()
    outcome: list = []

    def run_pipeline() -> None:
        try:
            with c.pipeline(transaction=False) as p:
                p.get("k")
                outcome.append(p.execute())
        except Exception as e:  # noqa: BLE001 - any failure is the expected outcome
            outcome.append(e)

    s.signal(signal.SIGSTOP)
    try:
        t = threading.Thread(target=run_pipeline)
        t.start()
        time.sleep(0.3)
        assert t.is_alive(), outcome  # the pipeline waits for the stopped server
        closer = threading.Thread(target=c.close)
        closer.start()
        closer.join(5)
        closed_in_time = not closer.is_alive()
    finally:
        s.signal(signal.SIGCONT)
    closer.join(30)
    t.join(30)
    assert closed_in_time, "close() still waiting 5 s after it was called"
    assert outcome and isinstance(outcome[0], rcm.ClosedError), outcome


def test_garbage_collected_client_closes():
    c = rcm.Client(URL)
    c.ping()
    ref = weakref.ref(c)
    del c
    gc.collect()
    assert ref() is None


def test_garbage_collected_client_with_leases_and_pipelines():
    c = rcm.Client(URL)
    lease = c.lease()
    pipe = c.pipeline().set("py:gc:a", 1)
    del c
    gc.collect()
    assert lease.ping() is True  # the lease keeps its client alive
    assert pipe.execute() == [True]
    del lease, pipe
    gc.collect()


def test_garbage_collected_async_client():
    async def main():
        c = rcm.asyncio.Client(URL)
        await c.ping()
        ref = weakref.ref(c)
        del c
        gc.collect()
        await asyncio.sleep(0)
        return ref

    ref = asyncio.run(main())
    gc.collect()
    assert ref() is None


def test_close_is_idempotent_and_concurrent():
    c = rcm.Client(URL)
    threads = [threading.Thread(target=c.close) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert c.closed
    c.close()
    with pytest.raises(rcm.ClosedError):
        c.ping()


def test_lease_release_after_close(key):
    c = rcm.Client(URL)
    lease = c.lease()
    c.close()
    with pytest.raises(rcm.ClosedError):
        lease.ping()
    lease.release()  # frees, does not hang
    assert lease.released
