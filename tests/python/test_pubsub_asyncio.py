"""rcm.asyncio.PubSub: waits on the subscriber's descriptor with loop.add_reader (no
thread), subscribing from another task while one awaits get_message(), coroutine
handlers, cancellation, close() ending listen(), a server restart (the 'gap'), and the
same surface as rcm.PubSub."""

from __future__ import annotations

import asyncio
import threading

import rcm
import rcm.asyncio

from conftest import URL

WAIT = 10.0


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


async def next_message(p, timeout=WAIT, **kw):
    """The next message get_message() returns (None ones, taken by a handler or ignored,
    skipped)."""
    async def first():
        while True:
            m = await p.get_message(timeout=None, **kw)
            if m is not None:
                return m

    return await asyncio.wait_for(first(), timeout)


async def numsub(c, ch):
    return (await c.pubsub_numsub(ch))[0][1]


async def wait_subscribed(c, ch):
    for _ in range(int(WAIT / 0.02)):
        if await numsub(c, ch) >= 1:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{ch!r} never subscribed on the server")


def test_same_surface_as_the_sync_pubsub():
    sync_names = {n for n in dir(rcm.PubSub) if not n.startswith("_")}
    async_names = {n for n in dir(rcm.asyncio.PubSub) if not n.startswith("_")}
    assert sync_names - async_names == {"run_in_thread"}  # asyncio has run() instead


def test_get_message_waits_on_the_descriptor_without_threads(key):
    ch = key("ch").encode()

    async def main():
        async with rcm.asyncio.Client(URL) as c:
            threads = threading.active_count()
            p = c.pubsub()
            await p.subscribe(ch)
            assert await next_message(p) == {"type": "subscribe", "pattern": None, "channel": ch, "data": 1}
            assert await p.get_message(timeout=0.05) is None
            asyncio.get_running_loop().call_later(0.1, lambda: asyncio.ensure_future(c.publish(ch, b"a\x00b")))
            assert await next_message(p) == {"type": "message", "pattern": None, "channel": ch, "data": b"a\x00b"}
            assert c._executor is None, "pub/sub used the client's thread pool"
            assert threading.active_count() == threads
            await p.close()
            assert p._watching is None  # the descriptor is no longer watched

    run(main())


def test_subscribe_from_another_task_while_one_awaits(key):
    a, b = key("a").encode(), key("b").encode()

    async def main():
        async with rcm.asyncio.Client(URL) as c:
            p = c.pubsub(ignore_subscribe_messages=True)
            got = []

            async def reader():
                while len(got) < 2:
                    m = await p.get_message(timeout=None)
                    if m is not None:
                        got.append(m["channel"])

            task = asyncio.ensure_future(reader())
            await asyncio.sleep(0.1)  # the reader awaits a first subscription
            await p.subscribe(a)
            await wait_subscribed(c, a)
            await c.publish(a, "1")
            await asyncio.sleep(0.1)  # the reader awaits the descriptor now
            await p.subscribe(b)
            await wait_subscribed(c, b)
            await c.publish(b, "2")
            await asyncio.wait_for(task, WAIT)
            assert got == [a, b]
            await p.unsubscribe(a)
            await p.aclose()

    run(main())


def test_patterns_shard_channels_and_coroutine_handlers(key):
    ch, pat, shard = key("ch"), key("p*"), key("s")

    async def main():
        async with rcm.asyncio.Client(URL, decode_responses=True) as c:
            seen = []

            async def handler(m):
                await asyncio.sleep(0)
                seen.append(m)

            p = c.pubsub(ignore_subscribe_messages=True)
            await p.subscribe(**{ch: handler})
            await p.psubscribe(pat)
            await wait_subscribed(c, ch)
            await c.publish(ch, "to handler")
            await c.publish(key("p1"), "to pattern")
            assert await next_message(p) == {"type": "pmessage", "pattern": pat, "channel": key("p1"),
                                             "data": "to pattern"}
            assert [m["data"] for m in seen] == ["to handler"]
            try:
                await p.ssubscribe(shard)
            except rcm.UnsupportedError:
                shard_msg = None
            else:
                for _ in range(int(WAIT / 0.02)):
                    if await c.spublish(shard, "sharded") == 1:
                        break
                    await asyncio.sleep(0.02)
                shard_msg = await asyncio.wait_for(p.get_sharded_message(timeout=None), WAIT)
            await p.close()
            return shard_msg

    shard_msg = run(main())
    if shard_msg is not None:
        assert shard_msg == {"type": "smessage", "pattern": None, "channel": shard, "data": "sharded"}


def test_cancelled_get_message_loses_nothing(key):
    ch = key("ch").encode()

    async def main():
        async with rcm.asyncio.Client(URL) as c:
            p = c.pubsub()
            await p.subscribe(ch)
            assert (await next_message(p))["type"] == "subscribe"
            task = asyncio.ensure_future(p.get_message(timeout=None))
            await asyncio.sleep(0.1)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            assert task.cancelled()
            await c.publish(ch, "kept")
            assert (await next_message(p))["data"] == b"kept"
            await p.close()

    run(main())


def test_close_ends_listen_in_another_task(key):
    async def main():
        async with rcm.asyncio.Client(URL) as c:
            p = c.pubsub()
            await p.subscribe(key("a"))
            types = []

            async def listener():
                async for m in p.listen():
                    types.append(m["type"])
                return "ended"

            task = asyncio.ensure_future(listener())
            for _ in range(int(WAIT / 0.01)):
                if types:
                    break
                await asyncio.sleep(0.01)
            await p.close()
            assert await asyncio.wait_for(task, WAIT) == "ended"
            assert types == ["subscribe"]
            assert not p.subscribed

    run(main())


def test_run_until_cancelled(key):
    ch = key("ch")

    async def main():
        async with rcm.asyncio.Client(URL) as c:
            got = asyncio.Event()
            p = c.pubsub()
            await p.subscribe(**{ch: lambda m: got.set()})
            task = asyncio.ensure_future(p.run(poll_timeout=0.1))
            await wait_subscribed(c, ch)
            await c.publish(ch, "x")
            await asyncio.wait_for(got.wait(), WAIT)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await p.close()
            return task.cancelled()

    assert run(main())


def test_run_yields_to_other_tasks_when_get_message_fails_at_once(key):
    """run() with an exception_handler, get_message() raising at once each time: redis-py's
    test_exception_handler. Without a yield per round the loop never lets another task run
    (redis-py's suite then grew the handler's queue until memory ran out)."""
    ch = key("ch")

    async def main():
        async with rcm.asyncio.Client(URL) as c:
            p = c.pubsub()
            await p.subscribe(**{ch: lambda m: None})
            other_ran = asyncio.Event()
            seen = []

            class Stop(Exception):
                pass

            async def failing(**kw):
                raise RuntimeError("error")

            def handler(e, pubsub):
                seen.append(other_ran.is_set())
                if len(seen) >= 50:
                    raise Stop()

            async def other():
                other_ran.set()

            p.get_message = failing
            asyncio.ensure_future(other())
            try:
                await p.run(exception_handler=handler)
            except Stop:
                pass
            await p.close()
            return seen

    seen = run(main())
    assert len(seen) == 50 and any(seen), "the other task never ran while run() looped"


def test_survives_a_server_restart(private_server):
    """The descriptor watched by the loop stays valid across rcm's reconnect: after a
    SIGKILL and a restart on the same port, a 'gap' and then new messages arrive."""
    s = private_server()

    async def main():
        async with rcm.asyncio.Client(s.url) as c, rcm.asyncio.Client(s.url) as publisher:
            p = c.pubsub()
            await p.subscribe("feed")
            assert (await next_message(p))["type"] == "subscribe"
            await asyncio.get_running_loop().run_in_executor(None, s.kill_and_restart)
            for _ in range(int(30 / 0.05)):
                try:
                    if await publisher.publish("feed", "after") == 1:
                        break
                except (rcm.ConnectionError, rcm.UncertainError):
                    pass  # the publisher's own connection died with the server
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("rcm never subscribed again after the restart")
            types = []
            while "message" not in types:
                m = await next_message(p)
                types.append(m["type"])
            await p.close()
            return types

    types = run(main())
    assert types == ["gap", "message"], types
