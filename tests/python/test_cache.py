"""The client-side cache from Python (issue 15): Client(cache=...), cache_config=,
cache=False per call, cache_stats(), and the config errors. Against the harness's shared
standalone server (other suites use it at the same time: counts taken from it are
compared with slack, never exactly)."""

from __future__ import annotations

import asyncio
import time

import pytest

import rcm
import rcm.asyncio

from conftest import PLAIN_PORT, URL

NODE = f"127.0.0.1:{PLAIN_PORT}"
# The reads these tests cache, named explicitly so that they do not depend on rcm's
# default list.
COMMANDS = ["GET", "MGET", "HGET", "HGETALL", "HMGET", "EXISTS", "STRLEN", "SMEMBERS", "SISMEMBER", "LRANGE",
            "ZRANGE", "ZSCORE", "TYPE"]
POLL_S = 5.0  # how long a test waits for an invalidation, at most (loopback: about 1 ms)
# Every client here: a deadline that holds while other suites load the 2-core machine
# (opening a client waits for its first connection within command_timeout_ms).
SLOW = {"command_timeout_ms": 10000}


def ready(c, timeout: float = 10.0):
    """Waits until c serves hits: rcm stores replies only once the node's invalidation
    connection is subscribed, a round trip or so after the client opens. Returns c."""
    sync = getattr(c, "_sync", c)  # an rcm.asyncio.Client: its synchronous twin
    k = f"py:cache-ready:{id(c)}"
    sync.set(k, "1")
    hits = sync.cache_stats()["hits"]
    assert until(lambda: (sync.get(k), sync.cache_stats()["hits"] > hits)[1], timeout), \
        "no read was a hit within the time"
    sync.delete(k)
    return c


@pytest.fixture
def cached():
    with rcm.Client(URL, cache={"max_bytes": 1 << 20, "commands": COMMANDS}, **SLOW) as c:
        yield ready(c)


def server_calls(r: rcm.Client, command: str) -> int:
    """How many times the server ran command (INFO commandstats), all clients together."""
    stat = r.info("commandstats").get(f"cmdstat_{command.lower()}")
    return int(stat["calls"]) if stat else 0


def until(pred, timeout: float = POLL_S) -> bool:
    """Polls pred until it is true or timeout seconds passed (bounded: never a hang)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.001)
    return pred()


def fill(r: rcm.Client, k) -> None:
    r.set(k("s"), "value")
    r.hset(k("h"), mapping={"f1": "a", "f2": "b"})
    r.sadd(k("set"), "x", "y")
    r.rpush(k("l"), "1", "2", "3")
    r.zadd(k("z"), {"m1": 1.5, "m2": 2})


def reads(c, k, **kw):
    """The cacheable helpers, each with **kw (cache=False or nothing)."""
    return [
        c.get(k("s"), **kw),
        c.get(k("missing"), **kw),
        c.mget([k("s"), k("missing")], **kw),
        c.hget(k("h"), "f1", **kw),
        c.hgetall(k("h"), **kw),
        c.hmget(k("h"), ["f1", "f2"], **kw),
        c.exists(k("s"), k("missing"), **kw),
        c.strlen(k("s"), **kw),
        c.smembers(k("set"), **kw),
        c.sismember(k("set"), "x", **kw),
        c.lrange(k("l"), 0, -1, **kw),
        c.zrange(k("z"), 0, -1, withscores=True, **kw),
        c.zscore(k("z"), "m1", **kw),
        c.type(k("h"), **kw),
    ]


# ---- what a cached read returns --------------------------------------------------------------


def test_cached_reads_equal_uncached_ones(r, cached, key):
    fill(r, key)
    first = reads(cached, key)                  # misses: stored
    hits0 = cached.cache_stats()["hits"]
    second = reads(cached, key)                 # hits
    # Every single-key read is a hit now (14 reads; multi-key ones may be counted per key).
    assert cached.cache_stats()["hits"] >= hits0 + 10
    bypass = reads(cached, key, cache=False)
    plain = reads(r, key)
    assert first == second == bypass == plain
    assert second[0] == b"value" and second[4] == {b"f1": b"a", b"f2": b"b"}
    assert second[11] == [(b"m1", 1.5), (b"m2", 2.0)]


def test_cached_reads_decode_as_the_client_says(key):
    with rcm.Client(URL, decode_responses=True, cache=True, **SLOW) as c:
        ready(c)
        c.set(key(), "é")
        assert c.get(key()) == "é"
        assert c.get(key()) == "é"  # the hit is decoded too
        assert c.cache_stats()["hits"] >= 1


def test_a_hit_is_a_new_object_each_time(cached, r, key):
    r.rpush(key(), "a")
    one = cached.lrange(key(), 0, -1)
    one.append(b"changed by the caller")
    assert cached.lrange(key(), 0, -1) == [b"a"]


# ---- invalidation ------------------------------------------------------------------------------


def test_another_clients_write_becomes_visible(r, cached, key):
    r.set(key(), "old")
    assert cached.get(key()) == b"old"
    assert cached.get(key()) == b"old"          # now from the cache
    r.set(key(), "new")                          # acknowledged: the invalidation is on its way
    t0 = time.monotonic()
    assert until(lambda: cached.get(key()) == b"new"), "the cached value outlived another client's write"
    window_ms = (time.monotonic() - t0) * 1000
    assert window_ms < POLL_S * 1000
    assert cached.cache_stats()["invalidations"] >= 1


def test_own_write_is_visible_at_once(cached, key):
    cached.set(key(), "1")
    assert cached.get(key()) == b"1"
    cached.set(key(), "2")
    assert cached.get(key()) == b"2"  # no waiting for the server's message


def test_flushdb_by_another_client_empties_the_cache(cached, key):
    with rcm.Client(URL, **SLOW) as other:
        other.set(key(), "v")
        assert cached.get(key()) == b"v"
        assert cached.cache_stats()["entries"] >= 1
        # FLUSHDB on the shared server would wipe other suites' keys: DEL is the
        # invalidation that can be driven here; the flush is the core's test (capi).
        other.delete(key())
    assert until(lambda: cached.get(key()) is None)


def test_asyncio_client_caches_and_sees_writes(r, key):
    async def main():
        c = ready(rcm.asyncio.Client(URL, cache={"commands": COMMANDS}, **SLOW))
        try:
            r.set(key(), "a")
            assert await c.get(key()) == b"a"
            assert await c.get(key()) == b"a"
            assert (await c.cache_stats())["hits"] >= 1
            r.set(key(), "b")
            deadline = time.monotonic() + POLL_S
            while await c.get(key()) != b"b" and time.monotonic() < deadline:
                await asyncio.sleep(0.001)
            assert await c.get(key()) == b"b"
            assert await c.get(key(), cache=False) == b"b"
            assert await c.execute_command("GET", key(), cache=False) == b"b"
        finally:
            await c.close()

    asyncio.run(main())


def test_asyncio_hit_settles_its_future_without_the_event_loop(r, key):
    """A hit is answered on the calling thread (rcm_cache_get): the future is done as soon
    as submit() returns, before the loop could run drain(); a miss is not (it goes to the
    server and comes back through the I/O thread). Values and the post step as usual."""
    async def main():
        c = ready(rcm.asyncio.Client(URL, cache={"commands": COMMANDS}, **SLOW))
        try:
            r.set(key(), "a")
            assert await c.get(key()) == b"a"  # the miss that fills the entry
            loop = asyncio.get_running_loop()
            deadline = time.monotonic() + POLL_S
            while (await c.cache_stats())["entries"] == 0 and time.monotonic() < deadline:
                await asyncio.sleep(0.001)
            fut = loop.create_future()
            c._native.submit(fut, None, b"GET", key())
            assert fut.done() and fut.result() == b"a"
            fut = loop.create_future()
            c._native.submit(fut, lambda v: [v], b"GET", key())  # post runs on hits too
            assert fut.done() and fut.result() == [b"a"]
            fut = loop.create_future()
            c._native.submit(fut, None, b"GET", key("other"))  # a miss: settled by drain()
            assert not fut.done()
            assert await fut is None
            fut = loop.create_future()
            c._native.submit_uncached(fut, None, b"GET", key())  # past the cache
            assert not fut.done()
            assert await fut == b"a"
        finally:
            await c.close()

    asyncio.run(main())


# ---- the per-call bypass -----------------------------------------------------------------------


def test_cache_false_goes_to_the_server(r, cached, key):
    r.set(key(), "abc")
    assert cached.strlen(key()) == 3             # stored
    n = 200
    before = server_calls(r, "strlen")
    hits0 = cached.cache_stats()["hits"]
    for _ in range(n):
        assert cached.strlen(key(), cache=False) == 3
    assert server_calls(r, "strlen") - before >= n, "cache=False was answered without the server"
    assert cached.cache_stats()["hits"] == hits0, "cache=False was served from the cache"
    # And the other way round: cached reads do not reach it (other suites may send a few
    # STRLEN meanwhile, never n).
    before = server_calls(r, "strlen")
    for _ in range(n):
        assert cached.strlen(key()) == 3
    assert server_calls(r, "strlen") - before < n // 2
    assert cached.cache_stats()["hits"] >= hits0 + n


def test_declared_helpers_take_cache_false(r, key):
    # XLEN's helper is declared in one line (rcm/_decl.py), not written out.
    r.xadd(key(), {"f": "v"})
    with rcm.Client(URL, cache={"commands": ["GET", "XLEN"]}, **SLOW) as c:
        ready(c)
        hits = c.cache_stats()["hits"]
        c.xlen(key())
        assert c.xlen(key()) == 1  # a hit
        assert c.cache_stats()["hits"] == hits + 1
        assert c.xlen(key(), cache=False) == 1
        assert c.cache_stats()["hits"] == hits + 1


def test_execute_command_cache_false(r, cached, key):
    r.set(key(), "x")
    cached.get(key())
    hits0 = cached.cache_stats()["hits"]
    assert cached.execute_command("GET", key(), cache=False) == b"x"
    assert cached.cache_stats()["hits"] == hits0
    assert cached.execute_command("GET", key()) == b"x"
    assert cached.cache_stats()["hits"] == hits0 + 1


def test_pipeline_refuses_cache_false(cached, key):
    with cached.pipeline() as p:
        with pytest.raises(rcm.ArgumentError, match="cache=False"):
            p.get(key(), cache=False)
        with pytest.raises(rcm.ArgumentError, match="cache=False"):
            p.hgetall(key(), cache=False)


def test_pipeline_reads_equal_uncached_ones(r, cached, key):
    fill(r, key)
    cached.get(key("s"))  # a hit inside the pipeline, then a miss
    with cached.pipeline() as p:
        p.get(key("s")).hgetall(key("h")).set(key("s2"), "v").get(key("s2"))
        assert p.execute() == [b"value", {b"f1": b"a", b"f2": b"b"}, True, b"v"]


# ---- stats -------------------------------------------------------------------------------------


def test_stats_counters_move(r, cached, key):
    s0 = cached.cache_stats()
    assert set(s0) >= {"hits", "misses", "invalidations", "evictions", "bytes", "entries", "nodes"}
    r.set(key(), "v")
    cached.get(key())
    cached.get(key())
    s1 = cached.cache_stats()
    assert s1["misses"] >= s0["misses"] + 1
    assert s1["hits"] >= s0["hits"] + 1
    assert s1["entries"] >= 1 and s1["bytes"] > 0
    assert NODE in s1["nodes"], s1["nodes"]
    assert s1["nodes"][NODE]["hits"] >= 1
    assert cached.stats()["cache"]["hits"] == s1["hits"] or cached.stats()["cache"]["hits"] >= s1["hits"]
    r.set(key(), "w")
    assert until(lambda: cached.cache_stats()["invalidations"] > s1["invalidations"])


def test_entries_bound_is_kept(r, key):
    with rcm.Client(URL, cache={"max_entries": 10, "commands": ["GET"]}, **SLOW) as c:
        ready(c)
        for i in range(50):
            r.set(key(str(i)), i)
            assert c.get(key(str(i))) == str(i).encode()
        s = c.cache_stats()
        assert s["entries"] <= 10
        assert s["evictions"] >= 40


def test_no_cache_configured_means_zeros(r, key):
    r.set(key(), "v")
    r.get(key())
    r.get(key())
    s = r.cache_stats()
    assert (s["hits"], s["entries"]) == (0, 0)


# ---- how it is configured -----------------------------------------------------------------------


def test_spellings_that_turn_it_on(r, key):
    r.set(key(), "v")
    for kw in ({"cache": True}, {"cache": rcm.CacheConfig(max_entries=100)},
               {"cache_config": rcm.CacheConfig(max_size=100)}, {"cache_max_bytes": 1 << 20},
               {"cache": {"max_bytes": 1 << 20, "ttl": 60}}):
        with rcm.Client(URL, **kw, **SLOW) as c:
            ready(c)
            c.get(key())
            c.get(key())
            assert c.cache_stats()["hits"] >= 1, kw


def test_url_and_from_url_turn_it_on(r, key):
    r.set(key(), "v")
    for c in (rcm.Client.from_url(URL + "?cache.max_bytes=1048576", **SLOW), rcm.from_url(URL, cache=True, **SLOW),
              rcm.asyncio.Client.from_url(URL, cache=True, **SLOW)._sync):
        try:
            ready(c)
            c.get(key())
            c.get(key())
            assert c.cache_stats()["hits"] >= 1
        finally:
            c.close()


def test_ttl_bounds_an_entrys_life(r, key):
    r.set(key(), "v")
    with rcm.Client(URL, cache={"ttl_ms": 50, "commands": ["GET"]}, **SLOW) as c:
        ready(c)
        c.get(key())
        m0 = c.cache_stats()["misses"]
        # Past the TTL the entry is gone: a read misses again (poll: a loaded machine).
        assert until(lambda: (c.get(key()), c.cache_stats()["misses"] > m0)[1])


class CacheConfig:
    """What redis-py 5's redis.cache.CacheConfig looks like from outside (it cannot be
    imported here: Debian ships redis-py 4.3.4)."""

    def __init__(self, max_size=10000):
        self._max_size = max_size

    def get_max_size(self):
        return self._max_size


def test_redis_py_cache_config_maps(r, key):
    r.set(key(), "v")
    with rcm.Client(URL, cache_config=CacheConfig(max_size=5), **SLOW) as c:
        ready(c)
        assert c.get(key()) == b"v" and c.get(key()) == b"v"
        assert c.cache_stats()["hits"] >= 1
    cfg = rcm.CacheConfig(max_size=5, eviction_policy="LRU")
    assert cfg.get_max_size() == 5 and cfg.get_eviction_policy() == "LRU"
    assert cfg.items() == {"cache.max_bytes": str(64 << 20), "cache.max_entries": "5"}


@pytest.mark.parametrize("kw, message", [
    ({"cache": {"max_byte": 1}}, "unknown setting.*'max_byte'"),
    ({"cache": "yes"}, "expected True, a dict or rcm.CacheConfig"),
    ({"cache": {"max_bytes": -1}}, "max_bytes must be a non-negative int"),
    ({"cache": {"max_bytes": 0}}, "max_bytes=0 turns the cache off"),
    ({"cache": {"ttl": "1s"}}, "ttl must be a number of seconds"),
    ({"cache": {"ttl": 1, "ttl_ms": 1000}}, "ttl .* or ttl_ms, not both"),
    ({"cache": {"commands": []}}, "commands is empty"),
    ({"cache": {"commands": ["GET,SET"]}}, "must be command names"),
    ({"cache": True, "cache_max_entries": 5}, "both given"),
    ({"cache": True, "cache_config": rcm.CacheConfig(max_size=3)}, "both given and differ"),
])
def test_config_errors_are_clear(kw, message):
    with pytest.raises(rcm.ConfigError, match=message):
        rcm.Client(URL, **kw)


def test_redis_py_features_rcm_has_not_are_refused():
    with pytest.raises(rcm.ConfigError, match="cache_class"):
        rcm.CacheConfig(cache_class=dict)
    with pytest.raises(rcm.ConfigError, match="LRU only"):
        rcm.CacheConfig(eviction_policy="LFU")
    with pytest.raises(rcm.ConfigError, match="a redis-py cache object cannot be plugged in"):
        rcm.Client(URL, cache=object())


def test_bad_values_reach_the_library_and_name_the_key():
    with pytest.raises(rcm.ConfigError, match="cache.max_bytes"):
        rcm.Client(URL, cache_max_bytes="lots")
    with pytest.raises(rcm.ConfigError, match="cache.ttl_ms"):
        rcm.Client(URL + "?cache.max_bytes=1048576&cache.ttl_ms=soon")
