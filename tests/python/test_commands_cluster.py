"""redis.RedisCluster's surface on a redis+cluster:// rcm.Client (and rcm.asyncio.Client):
nodes, keyslot, target_nodes, cluster_* commands and a Lock by key, against the harness's
cluster (run with test_cluster.py as python.cluster, before it: it fails a shard over)."""

from __future__ import annotations

import asyncio
import os

import pytest

import rcm
import rcm.asyncio

from conftest import CLUSTER_PORT, PASSWORD, port_is_open

CLUSTER_URL = f"redis+cluster://127.0.0.1:{CLUSTER_PORT}"


@pytest.fixture(scope="module", autouse=True)
def _cluster_is_up() -> None:
    if port_is_open(CLUSTER_PORT):
        return
    why = f"no cluster at 127.0.0.1:{CLUSTER_PORT} (harness fixture 'cluster')"
    if os.environ.get("RCM_PY_REQUIRE_CLUSTER") == "1":
        pytest.fail(why, pytrace=False)
    pytest.skip(why)


@pytest.fixture
def c():
    with rcm.Client(CLUSTER_URL, password=PASSWORD) as client:
        yield client


def test_nodes_and_keyslot(c, key):
    nodes = c.get_nodes()
    primaries, replicas = c.get_primaries(), c.get_replicas()
    assert len(primaries) == 3 and len(replicas) == 3 and set(nodes) == set(primaries) | set(replicas)
    assert all(n.server_type == "primary" for n in primaries)
    p = primaries[0]
    assert c.get_node(p.host, p.port) == p and c.get_node(node_name=p.name) == p
    assert c.get_node("127.0.0.1", 1) is None
    assert c.get_default_node() in primaries and c.get_random_node() in nodes
    k = key("k")
    assert c.keyslot(k) == c.cluster_keyslot(k)
    owner = c.get_node_from_key(k)
    assert owner in primaries
    c.set(k, 1)
    assert c.cluster_countkeysinslot(c.keyslot(k)) >= 1
    assert k in c.cluster_get_keys_in_slot(c.keyslot(k), 1000)
    assert c.get_node_from_key(k, replica=True) in replicas
    c.delete(k)


def test_target_nodes(c):
    primaries, replicas = c.get_primaries(), c.get_replicas()
    ids = c.cluster_myid(primaries[0])
    assert isinstance(ids, str) and len(ids) == 40
    assert set(c.client_id(target_nodes=c.ALL_NODES)) == {n.name for n in c.get_nodes()}
    assert set(c.acl_whoami(target_nodes=c.PRIMARIES)) == {n.name for n in primaries}
    assert set(c.client_id(target_nodes=c.REPLICAS)) == {n.name for n in replicas}
    assert isinstance(c.client_id(target_nodes=c.RANDOM), int)
    assert isinstance(c.client_id(target_nodes=replicas[0]), int)
    assert set(c.slowlog_len(target_nodes=primaries[:2])) == {n.name for n in primaries[:2]}
    assert isinstance(c.client_id(target_nodes=c.DEFAULT_NODE), int)
    with pytest.raises(rcm.DataError):
        c.client_id(target_nodes="nowhere")


def test_cluster_commands(c):
    info = c.cluster_info()
    assert info["cluster_state"] == "ok"
    nodes = c.cluster_nodes()
    me = c.cluster_myid(c.get_primaries()[0])
    assert any(n["node_id"] == me for n in nodes.values())
    replicas_of = c.cluster_replicas(me)
    assert len(replicas_of) == 1
    slots = c.cluster_slots()
    assert sum(hi - lo + 1 for lo, hi in slots) == 16384
    assert isinstance(c.cluster_shards(), list)
    assert isinstance(c.cluster_links(c.get_primaries()[0]), list)
    assert c.cluster_count_failure_report(me) == 0
    assert c.cluster_save_config(target_nodes=c.get_primaries()[0]) is True
    assert c.cluster("INFO")  # the raw reply
    # Commands that would change the cluster: refused here before anything is sent.
    with pytest.raises(rcm.DataError):
        c.cluster_failover(c.get_replicas()[0], "SOMETIMES")
    with pytest.raises(rcm.DataError):
        c.cluster_setslot(c.get_primaries()[0], me, 1, "STABLE")
    with pytest.raises(rcm.DataError):
        c.cluster_setslot(c.get_primaries()[0], me, 1, "NOWHERE")
    # And the server's answer to ones that cannot apply (slots out of range, an unknown
    # node, an epoch already set): they reach the node and change nothing.
    p = c.get_primaries()[0]
    for refused in (lambda: c.cluster_addslots(p, 100000),
                    lambda: c.cluster_addslotsrange(p, 100000, 100001),
                    lambda: c.cluster_replicate(p, "0" * 40),
                    lambda: c.cluster_set_config_epoch(1, target_nodes=p),
                    lambda: c.cluster_delslotsrange(100000, 100001),
                    lambda: c.cluster_delslots(100000),
                    lambda: c.cluster_setslot_stable(100000)):
        with pytest.raises(rcm.ResponseError):
            refused()


def test_lock_and_streams_by_key(c, key):
    name = key("lock")
    with c.lock(name, timeout=5) as lock:
        assert lock.owned() and lock.extend(1)
    assert not lock.locked()
    s = key("s")
    c.xadd(s, {"a": 1}, id="1-1")
    assert c.xread({s: 0}, block=100) == [[s.encode(), [(b"1-1", {b"a": b"1"})]]]
    c.delete(s)


def test_scan_iter_and_nonatomic_multi_key_commands_cover_every_primary(c, key):
    keys = [key(f"k{i}") for i in range(30)]
    assert c.mset_nonatomic({k: i for i, k in enumerate(keys)}) == [True] * len({c.keyslot(k) for k in keys})
    owners = {c.get_node_from_key(k).name for k in keys}
    assert len(owners) == 3  # the keys are spread: a scan of one node would miss some
    assert sorted(c.scan_iter(match=key("*"))) == sorted(k.encode() for k in keys)
    assert c.mget_nonatomic(keys[:3], keys[3]) == [b"0", b"1", b"2", b"3"]

    async def scan_async():
        async with rcm.asyncio.Client(CLUSTER_URL, password=PASSWORD) as a:
            return [k async for k in a.scan_iter(match=key("*"), count=5)]

    assert sorted(asyncio.run(scan_async())) == sorted(k.encode() for k in keys)
    c.delete(*keys)


def test_asyncio_cluster_surface(key):
    async def main():
        async with rcm.asyncio.Client(CLUSTER_URL, password=PASSWORD) as a:
            ids = await a.client_id(target_nodes=a.PRIMARIES)
            myid = await a.cluster_myid(a.get_primaries()[0])
            async with a.lock(key("alock"), timeout=5) as lock:
                owned = await lock.owned()
            return ids, myid, owned

    ids, myid, owned = asyncio.run(main())
    assert len(ids) == 3 and len(myid) == 40 and owned


def test_server_commands_take_target_nodes(c, key):
    primaries = {n.name for n in c.get_primaries()}
    everyone = {n.name for n in c.get_nodes()}
    assert c.ping(target_nodes=c.ALL_NODES) == {n: True for n in everyone}
    assert c.echo("hi", target_nodes=c.get_primaries()[0]) == b"hi"
    assert set(c.dbsize(target_nodes=c.PRIMARIES)) == primaries
    assert set(c.time(target_nodes=c.REPLICAS)) == everyone - primaries
    k = key("k")
    c.set(k, 1)
    owner = c.get_node_from_key(k)
    assert c.keys(key("*"), target_nodes=owner) == [k.encode()]
    assert c.randomkey(target_nodes=owner) is not None
    assert set(c.pubsub_channels(target_nodes=c.PRIMARIES)) == primaries
    assert set(c.pubsub_numpat(target_nodes=c.PRIMARIES).values()) == {0}
    assert c.pubsub_numsub("nochannel", target_nodes=owner) == [(b"nochannel", 0)]
    c.delete(k)


def test_execute_command_takes_a_node_from_get_nodes(c):
    for node in c.get_nodes():
        myid = c.cluster_myid(node)
        assert c.execute_command("CLUSTER", "MYID", target_nodes=node) in (myid, myid.encode())
