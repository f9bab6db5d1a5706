"""rcm.asyncio defects of issue 14: leases starved by their own waiters; entry points that
hung in a forked child."""

from __future__ import annotations

import asyncio
import json
import os
import select

import rcm
import rcm.asyncio

from conftest import URL


def test_forty_lease_holders_on_eight_leases_all_get_through(key):
    # Waiting for a lease used to take a thread of the pool the holders' commands and
    # release() queue in: 8 holders behind 8+ waiters, and the waiters' timeouts ran out.
    k = key()

    async def main() -> list:
        async with rcm.asyncio.Client(URL, pool_max_leases=8, pool_lease_timeout_ms=5000) as c:
            async def one(i: int) -> int:
                async with c.lease() as lease:
                    await lease.ping()
                    await lease.rpush(k, i)
                    return i

            return await asyncio.gather(*(one(i) for i in range(40)), return_exceptions=True)

    results = asyncio.run(main())
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert sorted(results) == list(range(40))


def test_forty_watched_transactions_on_eight_leases_all_get_through(key):
    k = key()

    async def main() -> list:
        async with rcm.asyncio.Client(URL, pool_max_leases=8, pool_lease_timeout_ms=5000) as c:
            async def incr(pipe) -> None:
                value = int(await pipe.get(k) or 0)
                pipe.multi()
                pipe.set(k, value + 1)

            results = await asyncio.gather(*(c.transaction(incr, k) for _ in range(40)), return_exceptions=True)
            return [results, await c.get(k)]

    results, final = asyncio.run(main())
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert final == b"40"


def _in_child(k: str) -> dict:
    """What each asyncio entry point does in a forked child (run there)."""

    async def attempt(coro_fn) -> str:
        try:
            await asyncio.wait_for(coro_fn(), 10)
            return "ok"
        except asyncio.TimeoutError:
            return "hung"
        except Exception as e:  # noqa: BLE001 - the type is the result
            return type(e).__name__

    async def main(c) -> dict:
        async def lease():
            async with c.lease() as lease:
                await lease.ping()

        async def pipeline():
            await c.pipeline().set(k, 1).get(k).execute()

        async def transaction():
            async def fn(pipe):
                pipe.multi()
                pipe.set(k, 2)
            await c.transaction(fn, k)

        return {
            "command": await attempt(lambda: c.get(k)),
            "pipeline": await attempt(pipeline),
            "lease": await attempt(lease),
            "transaction": await attempt(transaction),
            "blocking": await attempt(lambda: c.blpop(k, 1)),
            "blocking_unsliced": await attempt(lambda: c.execute_command("BLMPOP", 1, 1, k, "LEFT")),
            "routed": await attempt(lambda: c.execute_command("PING", target_nodes=c.RANDOM)),
        }

    return main


def test_every_asyncio_entry_point_raises_fork_error_in_a_child(key):
    k = key()
    c = rcm.asyncio.Client(URL)

    async def warm() -> None:
        # The executors' threads exist in the parent, as in an application that forks.
        async with c.lease() as lease:
            await lease.ping()
        await c.pipeline().set(k, 0).execute()
        await c.blpop(k + "none", 0.1)

    asyncio.run(warm())
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave without running the parent's cleanups
        try:
            results = asyncio.run(_in_child(k)(c))
            os.write(wfd, json.dumps(results).encode())
        finally:
            os._exit(0)
    os.close(wfd)
    try:
        ready, _, _ = select.select([rfd], [], [], 120)
        assert ready, "the child reported nothing in 120 s"
        data = b""
        while chunk := os.read(rfd, 65536):
            data += chunk
    finally:
        os.close(rfd)
        os.waitpid(pid, 0)
        asyncio.run(c.aclose())
    results = json.loads(data)
    assert results == {name: "ForkError" for name in results}, results
    assert len(results) == 7
