"""ACL, CLIENT, COMMAND, FUNCTION, MEMORY, MODULE, SLOWLOG and other server commands of
rcm/_server.py, Lock, monitor() and Pipeline.discard against the shared server (or a
private one where a command changes the server): redis-py 4.3.4's return shapes and
DataError checks."""

from __future__ import annotations

import asyncio
import datetime
import importlib.util
import threading
import time

import pytest

import rcm
import rcm.asyncio
from rcm.lock import LockError, LockNotOwnedError

from conftest import URL


def test_acl(r, rd, key):
    user = key("user")
    assert r.acl_whoami() == "default"
    assert "keyspace" in r.acl_cat() and isinstance(r.acl_cat("read")[0], str)
    assert isinstance(r.acl_help()[0], str)
    assert len(r.acl_genpass()) == 64 and len(r.acl_genpass(bits=128)) == 32
    assert r.acl_setuser(user, enabled=True, passwords=["+pw1"], categories=["+all", "-@hyperloglog"],
                         commands=["-flushall"], keys=["a*", "%R~b*"], channels=["ch"], reset=True) is True
    u = r.acl_getuser(user)
    assert u["enabled"] is True and "on" in u["flags"] and len(u["passwords"]) == 1
    assert "+@all" in u["categories"] and "-@hyperloglog" in u["categories"] and "~a*" in u["keys"]
    assert r.acl_getuser(key("nobody")) is None
    assert user in r.acl_users() and any(user in line for line in r.acl_list())
    assert rd.acl_dryrun(user, "set", "a1", "v") == "OK"
    with rcm.Client(URL, username=user, password="pw1") as c:
        with pytest.raises(rcm.ResponseError):
            c.get("zz")  # not a permitted key: an ACL LOG entry
    log = r.acl_log(count=5)
    assert isinstance(log[0]["age-seconds"], float) and isinstance(log[0]["client-info"], dict)
    assert r.acl_log_reset() is True
    assert r.acl_deluser(user) == 1
    for bad in (lambda: r.acl_genpass(bits=5000), lambda: r.acl_log(count="x"),
                lambda: r.acl_setuser(user, nopass=True, passwords=["+x"]),
                lambda: r.acl_setuser(user, passwords=["x"]), lambda: r.acl_setuser(user, hashed_passwords=["x"]),
                lambda: r.acl_setuser(user, categories=["read"]), lambda: r.acl_setuser(user, commands=["get"]),
                lambda: r.acl_setuser(user, selectors=[("get", "k")])):
        with pytest.raises(rcm.DataError):
            bad()


def test_acl_save_and_load_without_an_acl_file_are_server_errors(r):
    # The harness's server has no aclfile: the command reaches it and its error comes back.
    with pytest.raises(rcm.ResponseError):
        r.acl_save()
    with pytest.raises(rcm.ResponseError):
        r.acl_load()


def test_client_commands(r, rd):
    cid = r.client_id()
    assert isinstance(cid, int)
    info = r.client_info()
    assert isinstance(info["id"], int) and "addr" in info
    clients = r.client_list()
    assert clients and all(isinstance(c["id"], str) for c in clients)
    assert r.client_list(_type="normal") and r.client_list(client_id=[info["id"]])[0]["id"] == str(info["id"])
    assert rd.client_getname() == "rcm"  # a pooled connection: the client_name option
    assert r.client_getredir() == -1
    assert r.client_trackinginfo()[0] == "flags"
    assert r.client_pause(1) is True and r.client_pause(1, all=False) is True
    assert r.client_unpause() in ("OK", b"OK")  # raw, as redis-py
    assert r.client_unblock(cid) is False
    with pytest.raises(rcm.ResponseError):
        r.client_kill("127.0.0.1:1")
    assert r.client_kill_filter(_id=999999999) == 0
    for bad in (lambda: r.client_kill_filter(), lambda: r.client_kill_filter(_type="bogus"),
                lambda: r.client_kill_filter(skipme="yes"), lambda: r.client_list(_type="bogus"),
                lambda: r.client_list(client_id=1), lambda: r.client_pause(1.5),
                lambda: r.client_reply("MAYBE"), lambda: r.client_tracking(prefix=["a"])):
        with pytest.raises(rcm.DataError):
            bad()


def test_connection_state_commands_on_a_lease(r):
    # Refused on the shared connections (they would change one at random)...
    with pytest.raises(rcm.ArgumentError):
        r.client_setname("x")
    # ...and applied to the lease's own connection, which rcm closes afterwards.
    with r.lease() as lease:
        assert lease.client_setname("rcm-test") is True
        assert lease.client_getname() == "rcm-test"
        assert lease.select(0) is True
        assert lease.client_no_evict("on") == "OK"
        assert lease.client_tracking_on() is True and lease.client_tracking_off() is True
        assert lease.client_tracking(True, bcast=True, prefix=["p:"], noloop=True) is True
        assert lease.client_reply("ON") == b"OK"  # a status reply: bytes unless decoding, as redis-py
        target = lease.client_id()
        assert lease.auth("whatever", username="default") is True  # the default user has nopass
    assert r.client_kill_filter(_id=target) in (0, 1)
    with r.lease() as lease:
        assert lease.reset() == "RESET"
        assert lease.quit() is True


def test_command_introspection(r):
    assert r.command_count() > 100
    assert b"get" in r.command_list()
    assert sorted(r.command_list(pattern="xa*")) == [b"xack", b"xadd", b"xautoclaim"]
    assert r.command_list(category="hyperloglog") and r.command_list(module="nomodule") == []
    assert r.command_getkeys("MSET", "a", 1, "b", 2) == ["a", "b"]
    flags = r.command_getkeysandflags("SET", "a", "b")
    assert flags[0][0] == b"a"
    table = r.command()
    assert table["get"]["arity"] == 2 and "readonly" in table["get"]["flags"]
    with pytest.raises(NotImplementedError):
        r.command_info()
    with pytest.raises(NotImplementedError):
        r.command_docs()


def test_server_introspection(r, key):
    k = key("k")
    r.set(k, "v" * 100)
    assert r.memory_usage(k) > 100 and r.memory_usage(k, samples=5) > 100 and r.memory_usage(key("no")) is None
    stats = r.memory_stats()
    assert isinstance(stats["peak.allocated"], int)
    assert isinstance(r.memory_malloc_stats(), (bytes, str))
    assert r.memory_purge() is True
    assert r.slowlog_reset() is True
    assert isinstance(r.slowlog_len(), int)
    r.config_set("slowlog-log-slower-than", 0)
    try:
        r.get(k)
        entries = r.slowlog_get(5)
    finally:
        r.config_set("slowlog-log-slower-than", 10000)
    assert {"id", "start_time", "duration", "command"} <= set(entries[0])
    assert any(e["command"] == b"GET " + k.encode() for e in entries)
    assert r.module_list() == []
    with pytest.raises(rcm.ResponseError):
        r.module_load("/nonexistent/module.so")
    with pytest.raises(rcm.ResponseError):
        r.module_loadex("/nonexistent/module.so", options=["a", "b"], args=["c"])
    with pytest.raises(rcm.ResponseError):
        r.module_unload("nomodule")
    assert isinstance(r.lastsave(), datetime.datetime)
    assert r.role()[0] in (b"master", "master")
    assert isinstance(r.lolwut(), bytes) and isinstance(r.lolwut(5, 1, 1), bytes)
    assert r.debug_object(k)["type"] == "Value"
    assert r.readonly() is True and r.readwrite() is True  # standalone: accepted and meaningless
    assert r.wait(0, 10) >= 0
    for raising in (lambda: r.memory_doctor(), lambda: r.memory_help(), lambda: r.debug_segfault(),
                    lambda: r.latency_histogram(), lambda: r.hello(), lambda: r.failover(), lambda: r.script_debug()):
        with pytest.raises(NotImplementedError):
            raising()


def test_persistence_replication_and_shutdown_on_a_private_server(private_server, tmp_path):
    s = private_server()
    with rcm.Client(s.url) as c:
        c.set("a", 1)
        assert c.save() is True
        assert c.bgrewriteaof() is True
        for _ in range(100):  # BGSAVE refuses while the rewrite runs: wait until it is done
            if c.info("persistence")["aof_rewrite_in_progress"] == 0:
                break
            time.sleep(0.1)
        assert c.bgsave() is True
        assert c.config_resetstat() is True
        with pytest.raises(rcm.ResponseError):
            c.config_rewrite()  # started without a config file
        assert c.swapdb(0, 1) is True and c.dbsize() == 0
        assert c.replicaof("NO", "ONE") in ("OK", b"OK")
        assert c.slaveof() is True
        assert c.migrate("127.0.0.1", 1, "missing", 0, 100) in ("NOKEY", b"NOKEY")
        with pytest.raises(rcm.DataError):
            c.migrate("127.0.0.1", 1, [], 0, 100)
        for replication in (lambda: c.sync(), lambda: c.psync("?", -1)):
            with pytest.raises(rcm.ArgumentError):  # they take over the connection: not on a shared one
                replication()
        with pytest.raises(rcm.DataError):
            c.shutdown(save=True, nosave=True)
        c.shutdown(nosave=True)
    s.pid = 0  # it stopped itself


def test_functions(r, rd):
    code = ("#!lua name=rcmtestlib\nredis.register_function{function_name='rcmtest', "
            "callback=function(keys, args) return args[1] end, flags={'no-writes'}}")
    r.function_flush()
    assert r.function_load(code) == b"rcmtestlib"
    assert r.function_load(code, replace=True) == b"rcmtestlib"
    assert r.fcall("rcmtest", 0, "hi") == b"hi" and rd.fcall_ro("rcmtest", 0, "ho") == "ho"
    listed = r.function_list(library="rcmtest*", withcode=True)
    assert listed[0][1] == b"rcmtestlib"
    dump = rd.function_dump()
    assert isinstance(dump, bytes)  # binary, whatever decode_responses says
    assert isinstance(r.function_stats(), list)
    with pytest.raises(rcm.ResponseError):
        r.function_kill()  # nothing runs
    with pytest.raises(rcm.ResponseError):
        r.script_kill()
    assert r.function_delete("rcmtestlib") is True
    assert r.function_restore(dump) is True
    assert r.function_flush("ASYNC") is True


def test_target_nodes_in_standalone_mode_is_the_one_server(r):
    node = r.get_nodes()[0]
    assert r.get_primaries() == [node] and r.get_replicas() == []
    assert r.get_node(node.host, node.port) == node and r.get_node(node_name="1.2.3.4:5") is None
    assert isinstance(r.client_id(target_nodes=node), int)
    assert r.acl_whoami(target_nodes=r.PRIMARIES) == {node.name: "default"}
    assert r.keyslot("foo") == 12182 and r.keyslot("{foo}bar") == 12182


def test_cluster_commands_reach_a_standalone_server_which_refuses_them(r):
    # CLUSTER MEET and RESET would change the shared cluster (test_commands_cluster.py
    # covers the others there): here they are sent, and refused by a server without
    # cluster support.
    for refused in (lambda: r.cluster_meet("127.0.0.1", 1), lambda: r.cluster_reset(soft=False),
                    lambda: r.cluster("nodes")):
        with pytest.raises(rcm.ResponseError, match="cluster support disabled"):
            refused()


def test_lock_semantics(r, key):
    name = key("lock")
    lock = r.lock(name, timeout=10)
    assert lock.acquire(blocking=False) is True
    assert lock.locked() and lock.owned()
    other = r.lock(name, blocking_timeout=0.2)
    assert other.acquire() is False  # held: gives up after blocking_timeout
    assert not other.owned()
    assert lock.extend(5) is True and 14000 < r.pttl(name) <= 15000
    assert lock.extend(3, replace_ttl=True) is True and r.pttl(name) <= 3000
    assert lock.reacquire() is True and r.pttl(name) > 9000
    lock.release()
    assert not lock.locked()
    with pytest.raises(LockError):
        lock.release()
    with r.lock(name, timeout=10) as held:
        r.set(name, "someone else")  # the lock expired and was taken
        assert not held.owned()
        with pytest.raises(LockNotOwnedError):
            held.extend(1)
        with pytest.raises(LockNotOwnedError):
            held.reacquire()
        held.local.token = held.local.token  # still ours to release, which then fails
        with pytest.raises(LockNotOwnedError):
            held.release()
        held.local.token = b"x"  # __exit__ releases again: give it a token to fail on
        r.set(name, "x")
    with pytest.raises(LockError):
        r.lock(key("none")).extend(1)
    no_timeout = r.lock(key("nt"))
    no_timeout.acquire(token="mytoken")
    assert r.get(key("nt")) == b"mytoken"
    with pytest.raises(LockError):
        no_timeout.extend(1)
    with pytest.raises(LockError):
        no_timeout.reacquire()
    no_timeout.release()


def test_async_lock(key):
    name = key("alock")

    async def main():
        async with rcm.asyncio.Client(URL) as a:
            async with a.lock(name, timeout=5) as lock:
                assert await lock.owned() and await lock.locked()
                assert await lock.extend(1) and await lock.reacquire()
                assert await a.lock(name, blocking=False).acquire() is False
            assert not await lock.locked()
            return await a.client_id(target_nodes=a.PRIMARIES)

    assert isinstance(list(asyncio.run(main()).values())[0], int)


def test_monitor_sees_other_clients_commands(r, key):
    k = key("mon")

    def later():
        time.sleep(0.2)
        r.set(k, 'a "quoted" value')

    with r.monitor() as m:
        t = threading.Thread(target=later)
        t.start()
        seen = []
        for _ in range(50):  # bounded: other suites' commands may come first
            cmd = m.next_command(timeout=10)
            assert cmd is not None
            seen.append(cmd)
            if k in cmd["command"]:
                break
        t.join()
    last = seen[-1]
    assert last["command"] == f'SET {k} a "quoted" value' and last["client_type"] == "tcp"
    assert isinstance(last["time"], float) and last["db"] == 0


def test_pipeline_discard(r, key):
    k = key("k")
    for transaction in (False, True):
        with r.pipeline(transaction=transaction) as p:
            p.set(k, "discarded")
            p.discard()
            with pytest.raises(rcm.ResponseError):
                p.execute()
            p.set(k, "kept")
            assert p.execute() == [True]
    assert r.get(k) == b"kept"


def test_async_monitor(r, key):
    k = key("amon")

    async def main():
        async with rcm.asyncio.Client(URL) as a:
            async with a.monitor() as m:
                await a.set(k, "v")
                for _ in range(50):  # bounded: other suites' commands may come first
                    cmd = await m.next_command(timeout=10)
                    assert cmd is not None
                    if k in cmd["command"]:
                        return cmd["command"]

    assert asyncio.run(main()) == f"SET {k} v"


def test_watch_needs_a_connection_of_its_own(r, key):
    k = key("w")
    with pytest.raises(rcm.ArgumentError):
        r.watch(k)  # on the shared connections it would watch on one at random
    with pytest.raises(rcm.ArgumentError):
        r.unwatch()
    with r.client() as conn:  # redis-py's single-connection client(): a lease
        assert conn.watch(k) is True and conn.unwatch() is True


def test_asyncio_initialize_and_client(key):
    async def main():
        a = rcm.asyncio.Client(URL)
        assert await a.initialize() is a
        async with a.client() as conn:
            await conn.watch(key("w"))
            return await conn.unwatch()

    assert asyncio.run(main()) is True


def test_get_encoder_lets_redis_py_code_use_an_rcm_client(key):
    # redis-py's own Lock asks the client for its encoder (to encode a given token).
    with rcm.Client(URL, decode_responses=True, encoding="latin-1") as c:
        enc = c.get_encoder()
        assert enc.encode("é") == b"\xe9" and enc.encode(1.5) == b"1.5" and enc.encode(b"x") == b"x"
        assert enc.decode(b"\xe9") == "é" and enc.decode_responses is True
        with pytest.raises(rcm.DataError):
            enc.encode(True)
        with pytest.raises(rcm.DataError):
            enc.encode(object())
        if importlib.util.find_spec("redis") is not None:  # rcm never needs redis-py; where it is:
            import redis.lock
            lock = redis.lock.Lock(c, key("rplock"), timeout=5)
            assert lock.acquire(token="tok") and c.get(key("rplock")) == "tok" and lock.owned()
            lock.release()
    with rcm.Client(URL) as c:
        assert c.get_encoder().decode(b"x") == b"x"
