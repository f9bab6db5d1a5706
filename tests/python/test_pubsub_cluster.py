"""rcm.PubSub in a cluster (the harness's, as test_cluster.py; run in python.cluster):
shard channels on every shard, keyspace notifications from every primary
(every_primary=True), and a shard channel that follows its slot through CLUSTER FAILOVER
(a 'gap' message, then the new primary's messages)."""

from __future__ import annotations

import time

import rcm

from test_cluster import (  # noqa: F401 - the module fixtures apply here too
    CLUSTER_URL, PASSWORD, _a_shard, _cluster_is_up, _failover, _leave_the_cluster_empty, c, key_slot, primaries)

WAIT = 15.0


def owner(c, name: str) -> str:
    slot = key_slot(name)
    for node, ranges in primaries(c).items():
        if any(lo <= slot <= hi for lo, hi in ranges):
            return node
    raise AssertionError(f"no primary owns slot {slot}")


def one_name_per_primary(c, key, prefix: str) -> dict:
    """{primary: a name whose slot it owns}."""
    wanted = set(primaries(c))
    found: dict = {}
    i = 0
    while set(found) != wanted:
        name = key(f"{prefix}{i}")
        found.setdefault(owner(c, name), name)
        i += 1
        assert i < 10000
    return found


def wait_message(p, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = p.get_message(timeout=0.1)
        if m is not None:
            return m
    raise AssertionError(f"no message within {timeout} s")


def test_shard_channels_on_every_shard(c, key):
    names = one_name_per_primary(c, key, "s")
    with c.pubsub() as p:
        p.ssubscribe(*names.values())
        got = [wait_message(p) for _ in names]
        assert sorted(m["channel"].decode() for m in got) == sorted(names.values())
        assert {m["type"] for m in got} == {"ssubscribe"}
        for node, name in names.items():
            assert c.spublish(name, node) == 1  # SPUBLISH goes to the slot's owner, where rcm subscribed
            # The server that owns it counts one subscriber: rcm subscribed there.
            assert c.execute_command("PUBSUB", "SHARDNUMSUB", name, target_nodes=node) == [name.encode(), 1]
        msgs = [wait_message(p) for _ in names]
    assert {(m["type"], m["channel"].decode(), m["data"].decode()) for m in msgs} == \
        {("smessage", name, node) for node, name in names.items()}


def test_keyspace_notifications_from_every_primary(c, key):
    keys = one_name_per_primary(c, key, "ks")
    events = {node: c.execute_command("CONFIG", "GET", "notify-keyspace-events", target_nodes=node)[1]
              for node in keys}
    c.execute_command("CONFIG", "SET", "notify-keyspace-events", "K$", target_nodes=rcm.Client.PRIMARIES)
    try:
        with c.pubsub(every_primary=True) as p:
            pattern = f"__keyspace@0__:{key('ks')}*"
            p.psubscribe(pattern)
            deadline = time.monotonic() + WAIT
            while not all(n >= 1 for n in c.execute_command("PUBSUB", "NUMPAT",
                                                             target_nodes=rcm.Client.PRIMARIES).values()):
                assert time.monotonic() < deadline, "the pattern is not on every primary"
                time.sleep(0.05)
            for k in keys.values():
                c.set(k, "v")
            seen = set()
            while len(seen) < len(keys):
                m = wait_message(p)
                if m["type"] == "pmessage":
                    assert m["pattern"] == pattern.encode() and m["data"] == b"set"
                    seen.add(m["channel"].decode())
        assert seen == {f"__keyspace@0__:{k}" for k in keys.values()}
    finally:
        for node, value in events.items():
            c.execute_command("CONFIG", "SET", "notify-keyspace-events", value, target_nodes=node)
        c.delete(*keys.values())


def test_shard_channel_follows_a_cluster_failover(c, key):
    """CLUSTER FAILOVER of the shard that owns a subscribed shard channel: rcm subscribes
    it again on the new primary, says so with one 'gap', and its messages arrive."""
    old_primary, replica = _a_shard(c, which=2)
    name = one_name_per_primary(c, key, "fo")[old_primary]
    with rcm.Client(CLUSTER_URL, password=PASSWORD) as sub_client:
        p = sub_client.pubsub()
        p.ssubscribe(name)
        assert wait_message(p)["type"] == "ssubscribe"
        assert c.spublish(name, "before") == 1
        assert wait_message(p)["data"] == b"before"
        try:
            _failover(c, replica)
            deadline = time.monotonic() + 30
            # Published on the new primary itself (c may still send SPUBLISH to the demoted
            # node until its own topology refresh), until rcm's subscriber is there.
            while c.execute_command("SPUBLISH", name, "after", target_nodes=replica) != 1:
                assert time.monotonic() < deadline, "the shard channel was not subscribed again"
                time.sleep(0.1)
            gaps, data = [], []
            while not (gaps and b"after" in data):
                m = wait_message(p)
                if m["type"] == "gap":
                    gaps.append(m)
                elif m["type"] == "smessage":
                    data.append(m["data"])
            while (m := p.get_message(timeout=0.3)) is not None:  # no second gap
                if m["type"] == "gap":
                    gaps.append(m)
            assert len(gaps) == 1 and gaps[0]["channel"] == name.encode(), gaps
            assert gaps[0]["data"]["kind"] == "shard", gaps
            # Live again on the promoted replica, which owns the slot now (not on the
            # demoted primary, which only gets the messages replicated to it).
            assert c.execute_command("PUBSUB", "SHARDNUMSUB", name, target_nodes=replica) == [name.encode(), 1]
            assert gaps[0]["data"]["node"] == replica, gaps
        finally:
            p.close()
            _failover(c, old_primary)
