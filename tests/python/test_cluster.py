"""Cluster mode from Python, against the harness's cluster (fixture `cluster`: 3 primaries
+ 3 replicas at RCM_TEST_PORT_BASE+10..+15, password abc123).

CTest runs it as python.cluster (tests/python/CMakeLists.txt): FIXTURES_REQUIRED
"standalone;cluster" (conftest checks the standalone server too), LABELS "python;cluster",
RESOURCE_LOCK cluster (it fails over and back), and RCM_PY_REQUIRE_CLUSTER=1, which makes
a missing cluster a failure. Run by hand without that variable, the tests are skipped
when no cluster is up. To run it by hand:
    tests/harness/rcm_harness.sh up cluster <base> <state_dir>
    RCM_TEST_PORT_BASE=<base> PYTHONPATH=<build>/bindings/python \\
        /usr/bin/python3 -m pytest tests/python/test_cluster.py
"""

from __future__ import annotations

import asyncio
import os
import threading
import time

import pytest

import rcm
import rcm.asyncio

from conftest import BASE, CLUSTER_PORT, PASSWORD, port_is_open

CLUSTER_URL = f"redis+cluster://127.0.0.1:{CLUSTER_PORT}"
NODES = [f"127.0.0.1:{BASE + 10 + i}" for i in range(6)]


@pytest.fixture(scope="module", autouse=True)
def _cluster_is_up() -> None:
    if port_is_open(CLUSTER_PORT):
        return
    why = f"no cluster at 127.0.0.1:{CLUSTER_PORT} (harness fixture 'cluster')"
    if os.environ.get("RCM_PY_REQUIRE_CLUSTER") == "1":  # set by CTest: the fixture should have started it
        pytest.fail(why, pytrace=False)
    pytest.skip(why)


@pytest.fixture(scope="module", autouse=True)
def _leave_the_cluster_empty(_cluster_is_up):
    """The cluster tests count keys per slot (cluster.migration), and the keys here are
    random: leave the cluster empty, as the harness made it (cluster.bench does too)."""
    yield
    # The last test fails a shard back just before: until gossip settles the nodes may
    # still name the demoted node as the primary (READONLY to a FLUSHALL sent there), so
    # this client waits longer than the default second.
    with rcm.Client(CLUSTER_URL, password=PASSWORD, command_timeout_ms=20000) as c:
        assert c.flushall() is True
        assert c.dbsize() == 0


def crc16(data: bytes) -> int:
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def key_slot(key: str) -> int:
    k = key.encode()
    s = k.find(b"{")
    if s >= 0:
        e = k.find(b"}", s + 1)
        if e > s + 1:
            k = k[s + 1:e]
    return crc16(k) % 16384


@pytest.fixture
def c():
    with rcm.Client(CLUSTER_URL, password=PASSWORD) as client:
        yield client


def keys_on_every_shard(key, n=60):
    return [key(f"k{i}") for i in range(n)]


def primaries(c) -> dict:
    """{"host:port": [(first, last) slot ranges]} from rcm's topology."""
    topo = c.topology()
    return {s["primary"]: [tuple(r) for r in s["slots"]] for s in topo["shards"]}


def test_topology(c):
    topo = c.topology()
    assert topo["mode"] == "cluster"
    assert topo["covered_slots"] == 16384
    assert len(topo["shards"]) == 3
    assert sorted(n["address"] for n in topo["nodes"]) == sorted(NODES)
    assert c.stats()["mode"] == "cluster"


def test_keys_are_routed_to_their_slots_owner(c, key):
    names = keys_on_every_shard(key)
    for i, k in enumerate(names):
        assert c.set(k, i) is True
    for i, k in enumerate(names):
        assert c.get(k) == str(i).encode()
    owners = primaries(c)
    for k in names[:10]:
        slot = key_slot(k)
        node = next(n for n, ranges in owners.items() if any(a <= slot <= b for a, b in ranges))
        # The node rcm says owns the slot has the key (asked directly, by node route).
        assert c.execute_command("EXISTS", k, target_nodes=node) == 1
        assert c.execute_command("GET", k, slot=slot) is not None
    per_node = c.execute_command("DBSIZE", target_nodes=rcm.Client.PRIMARIES)
    assert len(per_node) == 3 and all(v > 0 for v in per_node.values())


def test_split_mget_mset_del(c, key):
    names = keys_on_every_shard(key, 100)
    assert len({key_slot(k) for k in names}) > 50
    assert c.mset({k: i for i, k in enumerate(names)}) is True
    assert c.mget(names) == [str(i).encode() for i in range(100)]  # caller's order
    assert c.exists(*names) == 100
    assert c.delete(*names[:50]) == 50
    assert c.mget(names[:2] + names[98:]) == [None, None, b"98", b"99"]


def test_cross_slot_commands_are_refused_before_sending(c, key):
    a, b = key("a"), key("b")
    while key_slot(a) == key_slot(b):
        b += "x"
    with pytest.raises(rcm.CrossSlotError) as e:
        c.sinter([a, b])
    assert e.value.status_name == "RCM_ERR_CROSSSLOT"
    tagged = [f"{{{key('tag')}}}:{i}" for i in range(3)]
    c.sadd(tagged[0], 1, 2)
    c.sadd(tagged[1], 2, 3)
    assert c.sinter(tagged[:2]) == {b"2"}


def test_pipeline_across_slots(c, key):
    names = keys_on_every_shard(key, 200)
    with c.pipeline() as p:
        for i, k in enumerate(names):
            p.set(k, i)
        for k in names:
            p.incr(k)
        out = p.execute()
    assert out[:200] == [True] * 200
    assert out[200:] == list(range(1, 201))


def test_transaction_in_one_slot(c, key):
    tag = "{" + key("t") + "}"
    with c.pipeline(transaction=True) as p:
        p.set(tag + "a", 1).incr(tag + "a").get(tag + "a")
        assert p.execute() == [True, 2, b"2"]

    def incr(pipe):
        v = int(pipe.get(tag + "a"))
        pipe.multi()
        pipe.set(tag + "a", v + 1)

    assert c.transaction(incr, tag + "a") == [True]
    assert c.get(tag + "a") == b"3"


def test_blpop_on_the_keys_node(c, key):
    k = key("q")
    pusher = threading.Timer(0.2, lambda: c.rpush(k, "x"))
    pusher.start()
    assert c.blpop(k, timeout=5) == (k.encode(), b"x")
    pusher.join()  # its reply may still be on the way when the BLPOP returns


def test_asyncio_across_slots(key):
    async def main():
        async with rcm.asyncio.Client(CLUSTER_URL, password=PASSWORD) as ac:
            names = keys_on_every_shard(key, 500)
            await asyncio.gather(*[ac.set(k, i) for i, k in enumerate(names)])
            values = await asyncio.gather(*[ac.get(k) for k in names])
            assert values == [str(i).encode() for i in range(500)]
            assert await ac.mget(names[:5]) == [b"0", b"1", b"2", b"3", b"4"]

    asyncio.run(main())


def _is_primary(c, node: str) -> bool:
    role = c.execute_command("ROLE", target_nodes=node)
    return role[0] in (b"master", "master") and bool(role[2])


def _failover(c, replica: str, timeout: float = 45) -> None:
    """CLUSTER FAILOVER on replica until it is a primary with its replica attached. An
    election can lose to another one in the same epoch ("Manual failover timed out"):
    then it is asked again."""
    deadline = time.monotonic() + timeout
    while True:
        assert c.execute_command("CLUSTER", "FAILOVER", target_nodes=replica) == "OK"
        retry = min(deadline, time.monotonic() + 8)
        while time.monotonic() < retry:
            if _is_primary(c, replica):
                return
            time.sleep(0.2)
        assert time.monotonic() < deadline, f"{replica} did not become a primary within {timeout} s"


def _a_shard(c, which: int = 0) -> tuple:
    """(primary, replica) of one shard, as the servers themselves say (ROLE). Tests fail
    over different shards: a primary does not vote twice within 2 x node timeout for the
    same shard, so a second failover there right away would stall."""
    found = 0
    for node in NODES:
        role = c.execute_command("ROLE", target_nodes=node)
        if role[0] in (b"master", "master") and role[2]:
            if found < which:
                found += 1
                continue
            host, port = role[2][0][0], role[2][0][1]
            host = host.decode() if isinstance(host, bytes) else host
            port = port.decode() if isinstance(port, bytes) else port
            return node, f"{host}:{port}"
    raise AssertionError("no primary with a replica")


def _served_by(c, node: str) -> int:
    return sum(s["requests"] for s in c.stats()["servers"] if s["address"] == node)


def test_cluster_failover_under_load(c, key):
    """A manual CLUSTER FAILOVER while 8 threads write and read: rcm follows the slots to
    the new primary (MOVED); every command completes, none is lost."""
    names = keys_on_every_shard(key, 300)
    old_primary, replica = _a_shard(c)
    stop = threading.Event()
    errors: list = []
    done = [0] * 8
    counters = [key(f"counter{i}") for i in range(8)]

    def worker(i: int) -> None:
        n = 0
        while not stop.is_set():
            k = names[(i * 37 + n) % len(names)]
            try:
                c.set(k, n)
                c.get(k)
                c.incr(counters[i])
                done[i] += 1
            except rcm.RcmError as e:
                errors.append(e)
            n += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        before = _served_by(c, replica)
        _failover(c, replica)
        time.sleep(1.5)  # load goes on against the new primary
        after = _served_by(c, replica)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    try:
        assert all(d > 0 for d in done), done
        assert after - before > 100, (before, after)  # the new primary serves its slots
        moved = sum(s["moved"] for s in c.stats()["servers"] if s["address"] == old_primary)
        assert moved > 0
        # A graceful failover loses nothing: every INCR that returned is counted.
        for i in range(8):
            assert int(c.get(counters[i])) == done[i]
        assert not errors, errors[:5]
    finally:
        _failover(c, old_primary)  # give the cluster its first layout back


def test_topology_shows_the_new_primary_after_a_failover(c, key):
    names = keys_on_every_shard(key, 50)
    old_primary, replica = _a_shard(c, which=1)
    slots = primaries(c).get(old_primary)
    try:
        _failover(c, replica)
        deadline = time.monotonic() + 30
        while replica not in primaries(c):
            assert time.monotonic() < deadline, (
                f"30 s after the failover rcm's topology still shows {old_primary}, not {replica}, as the "
                f"primary of slots {slots}: {c.topology()['shards']}")
            for k in names:  # traffic, so that MOVED replies reach rcm
                c.set(k, 1)
            time.sleep(0.2)
    finally:
        _failover(c, old_primary)
