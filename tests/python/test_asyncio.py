"""rcm.asyncio: the same surface as coroutines, completions through the loop's reader,
1000 concurrent tasks, cancellation, pipelines, leases, pub/sub and errors."""

from __future__ import annotations

import asyncio
import gc
import inspect
import signal
import threading
import time
import warnings

import pytest

import rcm
import rcm.asyncio
from rcm.commands import Commands

from conftest import URL


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def test_same_surface_as_the_sync_client():
    sync_names = {n for n in dir(rcm.Client) if not n.startswith("_")}
    async_names = {n for n in dir(rcm.asyncio.Client) if not n.startswith("_")}
    assert sync_names - async_names == set()
    for name in ("lease", "pipeline", "pubsub", "register_script", "from_url"):
        assert name in async_names


def test_helpers_return_awaitables():
    async def main():
        async with rcm.asyncio.Client(URL) as c:
            for name, fn in vars(Commands).items():
                if callable(fn) and not name.startswith("_") and name not in ("register_script",):
                    assert name in dir(c)
            aw = c.ping()
            assert inspect.isawaitable(aw) and asyncio.iscoroutine(aw)
            assert await aw is True
            task = asyncio.create_task(c.echo("x"))  # coroutines: create_task works
            assert await task == b"x"

    run(main())


def test_basic_commands(key):
    async def main():
        async with rcm.asyncio.Client(URL, decode_responses=True) as c:
            k = key()
            assert await c.set(k, "v") is True
            assert await c.get(k) == "v"
            assert await c.execute_command("GET", k) == "v"
            assert await c.incr(key("n")) == 1
            await c.hset(key("h"), mapping={"a": 1})
            assert await c.hgetall(key("h")) == {"a": "1"}
            assert await c.zadd(key("z"), {"m": 1.5}) == 1
            assert await c.zrange(key("z"), 0, -1, withscores=True) == [("m", 1.5)]
            assert await c.smembers(key("s")) == set()
            assert (await c.stats())["mode"] == "standalone"
            assert (await c.topology())["nodes"][0]["state"] == "up"
            assert [k2 async for k2 in c.scan_iter(match=k)] == [k]
            node = URL.split("//")[1]
            assert await c.execute_command("PING", target_nodes=c.PRIMARIES) == {node: True}
            assert await c.execute_command("GET", k, route_key=k) == "v"
            with pytest.raises(rcm.ResponseError):
                await c.execute_command("NOSUCH")

    run(main())


def test_thousand_concurrent_tasks(key):
    async def main():
        async with rcm.asyncio.Client(URL) as c:
            async def one(i):
                k = key(f"t{i}")
                await c.set(k, i)
                v = await c.get(k)
                await c.incr(key("total"))
                return int(v)

            results = await asyncio.gather(*[one(i) for i in range(1000)])
            assert results == list(range(1000))
            assert await c.get(key("total")) == b"1000"

    run(main())


def test_completions_come_through_the_loops_reader(key):
    async def main():
        c = rcm.asyncio.Client(URL)
        await c.ping()
        loop = asyncio.get_running_loop()
        fd = c._native.fileno()
        assert loop._selector.get_key(fd) is not None  # the eventfd is watched
        names_before = {t.name for t in threading.enumerate()}
        await asyncio.gather(*[c.incr(key()) for _ in range(500)])
        names_after = {t.name for t in threading.enumerate()}
        assert not any(n.startswith("rcm-asyncio") for n in names_after - names_before)  # no thread per request
        c.close()
        with pytest.raises(KeyError):
            loop._selector.get_key(fd)

    run(main())


def test_cancellation_is_safe(private_server):
    s = private_server()

    async def main():
        async with rcm.asyncio.Client(s.url, command_timeout_ms=3000) as c:
            await c.set("k", 0)
            s.signal(signal.SIGSTOP)
            try:
                tasks = [asyncio.create_task(c.incr("k")) for _ in range(50)]
                await asyncio.sleep(0.1)
                for t in tasks[:25]:
                    t.cancel()
            finally:
                s.signal(signal.SIGCONT)
            results = await asyncio.gather(*tasks, return_exceptions=True)
            assert all(isinstance(r, asyncio.CancelledError) for r in results[:25])
            assert sorted(results[25:]) == sorted(set(results[25:]))
            # The cancelled requests still ran inside rcm; only their replies were dropped.
            assert await c.get("k") == b"50"
            assert await c.ping() is True

    run(main())


def test_cancelled_blpop_loses_no_element(key):
    async def main():
        async with rcm.asyncio.Client(URL) as c:
            k = key()
            task = asyncio.create_task(c.blpop(k, timeout=0))
            await asyncio.sleep(0.2)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await c.rpush(k, "a")
            await asyncio.sleep(1.5)  # the cancelled wait's last slice ends
            assert await c.lrange(k, 0, -1) == [b"a"]
            assert await c.blpop(k, timeout=1) == (k.encode(), b"a")

    run(main())


def test_cancelled_lease_command_releases_the_lease_and_loses_no_element(key):
    async def main():
        async with rcm.asyncio.Client(URL, pool_max_leases=1) as c:
            k = key()
            leases = []

            async def consumer():
                async with c.lease(k) as lease:
                    leases.append(lease)
                    await lease.blpop(k, 0)

            task = asyncio.create_task(consumer())
            await asyncio.sleep(0.3)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await c.rpush(k, "v1")  # taken by the cancelled BLPOP, still waiting on the server
            deadline = time.monotonic() + 5
            while not leases[0].released and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert leases[0].released  # once the BLPOP returned, not never
            assert await c.lrange(k, 0, -1) == [b"v1"]  # put back before the release
            async with c.lease(k) as again:  # the only lease of the pool is back
                assert await again.blpop(k, timeout=1) == (k.encode(), b"v1")

    run(main())


def test_lease_is_usable_after_a_command_timed_out(key):
    async def main():
        async with rcm.asyncio.Client(URL) as c:
            k = key()
            async with c.lease(k) as lease:
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(lease.blpop(k, 0), 0.2)
                assert await lease.ping() is True  # after the cancelled BLPOP, not beside it
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(lease.read(), 0.2)
                assert await lease.execute_command("ECHO", "x") == b"x"
            assert lease.released

    run(main())


def test_pipeline_and_transaction(key):
    async def main():
        async with rcm.asyncio.Client(URL) as c:
            async with c.pipeline() as p:
                p.set(key(), 1).incr(key()).get(key())
                assert await p.execute() == [True, 2, b"2"]
            async with c.pipeline(transaction=True) as p:
                p.incr(key()).incr(key())
                assert await p.execute() == [3, 4]
            await c.set(key("w"), 1)

            async def incr(pipe):
                v = int(await pipe.get(key("w")))
                pipe.multi()
                pipe.set(key("w"), v + 1)

            assert await c.transaction(incr, key("w")) == [True]
            assert await c.get(key("w")) == b"2"
            script = c.register_script("return redis.call('INCR', KEYS[1])")
            assert await script(keys=[key("s")]) == 1

    run(main())


def test_queued_pipeline_commands_may_be_awaited_as_with_redis_asyncio(key):
    """redis.asyncio's Pipeline is awaitable (it gives itself back): code written for it
    awaits queued commands, a script called on the pipeline and discard() (redis-py's
    test_script_object_in_pipeline, test_pipeline_discard)."""
    async def main():
        async with rcm.asyncio.Client(URL) as c:
            async with c.pipeline() as p:
                assert await p.set(key(), 1) is p
                script = c.register_script("return redis.call('INCR', KEYS[1])")
                assert await script(keys=[key()], client=p) is p
                assert await p.execute() == [True, 2]
            async with c.pipeline(transaction=True) as p:
                await p.set(key(), "x")
                assert await p.discard() is p
                with pytest.raises(rcm.ResponseError):
                    await p.execute()
                await p.set(key("after"), "y")
                assert await p.execute() == [True]
            assert await c.get(key()) == b"2"

    run(main())


def test_lease_blpop_and_pubsub(key):
    async def main():
        async with rcm.asyncio.Client(URL) as c:
            k = key()
            async with c.lease() as lease:
                assert await lease.ping() is True
                asyncio.get_running_loop().call_later(0.2, lambda: asyncio.ensure_future(c.rpush(k, "x")))
                assert await lease.blpop(k, timeout=5) == (k.encode(), b"x")
            assert lease.released
            await c.rpush(k, "y")
            assert await c.blpop(k, timeout=1) == (k.encode(), b"y")
            assert await c.brpop(k, timeout=0.2) is None
            assert await c.execute_command("BLPOP", k, 0.1) is None
            ps = c.pubsub(ignore_subscribe_messages=True)
            await ps.subscribe(key("ch"))
            await ps.get_message(timeout=0.5)
            await c.publish(key("ch"), "hello")
            msg = await ps.get_message(timeout=None)
            assert msg["data"] == b"hello"
            await ps.close()

    run(main())


def test_errors_and_close(key):
    async def main():
        c = rcm.asyncio.Client(URL)
        with pytest.raises(rcm.ResponseError, match="WRONGTYPE"):
            await c.set(key(), "x")
            await c.lpush(key(), 1)
        with pytest.raises(rcm.DataError):
            await c.set(key(), None)
        await c.aclose()
        with pytest.raises(rcm.ClosedError):
            await c.get(key())
        with pytest.raises(rcm.ClosedError):
            await c.blpop(key(), 1)

    run(main())
    with pytest.raises(rcm.ConnectionError):
        rcm.asyncio.Client("redis://127.0.0.1:1")


def test_one_client_across_successive_loops(key):
    c = rcm.asyncio.Client(URL)
    assert asyncio.run(c.set(key(), 1)) is True
    assert asyncio.run(c.get(key())) == b"1"  # attaches to the new loop
    c.close()


def test_used_from_two_running_loops_is_refused():
    c = rcm.asyncio.Client(URL)
    ready, release = threading.Event(), threading.Event()

    def other_loop():
        async def hold():
            await c.ping()
            ready.set()
            while not release.is_set():
                await asyncio.sleep(0.01)

        asyncio.run(hold())

    t = threading.Thread(target=other_loop)
    t.start()
    ready.wait(5)
    try:
        with pytest.raises(RuntimeError, match="another running event loop"):
            asyncio.run(c.ping())
    finally:
        release.set()
        t.join(5)
        c.close()


def test_twenty_thousand_tasks_in_flight_all_complete(key):
    # 20 000 commands in flight from one loop all complete, each exactly once: the reader
    # drains in bulk. No speed is asserted: the deadline is generous (a loaded 2-core
    # machine took longer than the default), and a reader that slowed down per reply
    # quadratically would still miss it by far.
    async def main():
        async with rcm.asyncio.Client(URL, command_timeout_ms=120_000) as c:
            results = await asyncio.gather(*[c.incr(key()) for _ in range(20_000)])
            assert sorted(results) == list(range(1, 20_001))

    run(main())


def test_blocking_commands_with_the_timeout_elsewhere_are_sent_as_given(key):
    # BLMPOP and BZMPOP take their timeout first: their last argument (here COUNT's
    # value) must not be taken for a timeout and cut into slices.
    async def main():
        async with rcm.asyncio.Client(URL) as c:
            k, z = key("l"), key("z")
            await c.rpush(k, "a", "b", "c")
            assert await c.execute_command("BLMPOP", 1, 1, k, "LEFT", "COUNT", 2) == [k.encode(), [b"a", b"b"]]
            await c.zadd(z, {"m1": 1, "m2": 2, "m3": 3})
            assert await c.execute_command("BZMPOP", 1, 1, z, "MIN", "COUNT", 2) == [
                z.encode(), [[b"m1", b"1"], [b"m2", b"2"]]]

    run(main())


def test_close_works_awaited_and_plain():
    async def main():
        c = rcm.asyncio.Client(URL)
        await c.ping()
        assert await c.close() is None  # as redis.asyncio: await r.close()
        assert c.closed
        with pytest.raises(rcm.ClosedError):
            await c.ping()
        await c.close()  # idempotent
        c2 = rcm.asyncio.Client(URL)
        await c2.ping()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            c2.close()  # not awaited: closed all the same, nothing left pending
            gc.collect()
        assert c2.closed
        assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]
        c3 = rcm.asyncio.Client(URL)
        await c3.aclose()
        assert c3.closed

    run(main())
    c = rcm.asyncio.Client(URL)  # outside any event loop
    c.close()
    assert c.closed


def test_new_helpers_as_coroutines(key):
    # The helpers come from the shared Commands mixin: the same values on the asyncio
    # client, its leases and its pipelines (DUMP stays bytes with decode_responses).
    async def main():
        async with rcm.asyncio.Client(URL, decode_responses=True) as c:
            k, z1, z2 = key("h"), key("z1"), key("z2")
            await c.hset(k, mapping={"f": "v"})
            payload = await c.dump(k)
            assert isinstance(payload, bytes) and payload
            assert await c.copy(k, key("copy")) is True
            assert await c.pexpiretime(k) == -1
            assert await c.setbit(key("bits"), 1, 1) == 0 and await c.bitcount(key("bits")) == 1
            await c.zadd(z1, {"a": 1})
            await c.zadd(z2, {"a": 2, "b": 1})
            assert await c.zunion([z1, z2], withscores=True) == [("b", 1.0), ("a", 3.0)]
            assert await c.zinterstore(key("zd"), [z1, z2]) == 1
            assert await c.sort(key("none")) == []
            await c.zadd(key("lex"), {"p": 0, "q": 0, "r": 0})
            async with c.lease() as lease:
                assert await lease.dump(k) == payload
                assert await lease.zrangebylex(key("lex"), "(p", "+") == ["q", "r"]
            async with c.pipeline() as p:
                p.dump(k).getbit(key("bits"), 1).sintercard(1, [key("s")])
                assert await p.execute() == [payload, 1, 0]

    run(main())
