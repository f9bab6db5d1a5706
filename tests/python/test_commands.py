"""Every public method of rcm.Client against a real server, with redis-py's return types."""

from __future__ import annotations

import ast
import datetime
import inspect
import time

import pytest

import rcm
from rcm._lists import ListCommands
from rcm.commands import Commands

from conftest import URL


# The names this module gives clients, pipelines and leases: a helper counts as tested
# when it is called on one of them (directly or down a chain like p.set(...).get(...)).
CLIENT_NAMES = {"r", "rd", "c", "db1", "p", "lease"}


def _receiver_root(node: ast.AST) -> ast.AST:
    while isinstance(node, (ast.Attribute, ast.Call, ast.Subscript)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node


def test_every_command_helper_is_tested_here():
    # A new helper without a test here fails this: keep the suite covering the surface.
    # Only real calls count: not `.name(` in a comment or string, nor time.time() for
    # r.time() or a dict's .get() for r.get().
    # (The families of their own modules have theirs: test_commands_data.py says which.)
    helpers = [n for cls in (Commands, ListCommands) for n, f in vars(cls).items()
               if inspect.isfunction(f) and not n.startswith("_")]
    tree = ast.parse(inspect.getsource(inspect.getmodule(test_every_command_helper_is_tested_here)))
    called = {
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        and isinstance(root := _receiver_root(node.func.value), ast.Name) and root.id in CLIENT_NAMES
    }
    missing = [n for n in helpers if n not in called]
    assert helpers and not missing, f"helpers never called on a client here ({sorted(CLIENT_NAMES)}): {missing}"


# ---- connection and server -----------------------------------------------------------


def test_ping_echo(r):
    assert r.ping() is True
    assert r.ping("hi") == b"hi"
    assert r.echo("hello") == b"hello"


def test_dbsize_info_time_config(r):
    assert isinstance(r.dbsize(), int)
    info = r.info()
    assert info["redis_version"] or info["valkey_version"]
    assert isinstance(info["connected_clients"], int)
    server = r.info("server")
    assert "tcp_port" in server and "connected_clients" not in server
    sec, usec = r.time()
    assert abs(sec - time.time()) < 60 and 0 <= usec < 1_000_000
    cfg = r.config_get("maxmemory*")
    assert "maxmemory" in cfg and isinstance(cfg["maxmemory"], str)
    assert r.config_set("maxmemory-samples", r.config_get("maxmemory-samples")["maxmemory-samples"]) is True


def test_flushdb_flushall_on_a_private_server(private_server):
    s = private_server()
    with rcm.Client(s.url) as c:
        c.mset({"a": 1, "b": 2})
        assert c.flushdb() is True
        assert c.dbsize() == 0
        c.set("a", 1)
        assert c.flushall(asynchronous=True) is True
        assert c.flushdb(asynchronous=True) is True
        assert c.dbsize() == 0


def test_execute_command_returns_raw_replies(r, key):
    # Raw where redis-py has no response callback for the name (or the name is bytes);
    # SET -> True and the like are in test_defects.py.
    assert r.execute_command(b"SET", key(), "v") == "OK"
    assert r.execute_command("GET", key()) == b"v"
    assert r.execute_command("EXISTS", key()) == 1
    assert r.execute_command("GET", key("missing")) is None
    assert r.execute_command("TYPE", key()) == "string"
    assert r.execute_command(b"MGET", key(), key("x")) == [b"v", None]


# ---- strings -----------------------------------------------------------------------------


def test_get_set_variants(r, key):
    k = key()
    assert r.get(k) is None
    assert r.set(k, "v") is True
    assert r.get(k) == b"v"
    assert r.set(k, "w", nx=True) is None
    assert r.set(k, "w", xx=True) is True
    assert r.set(k, "x", get=True) == b"w"
    assert r.set(k, "y", ex=100) is True and 0 < r.ttl(k) <= 100
    assert r.set(k, "y", px=datetime.timedelta(seconds=50)) is True and 0 < r.pttl(k) <= 50_000
    assert r.set(k, "z", keepttl=True) is True and r.ttl(k) > 0
    at = datetime.datetime.now() + datetime.timedelta(seconds=30)
    assert r.set(k, "z", exat=at) is True and 0 < r.ttl(k) <= 31
    assert r.set(k, "z", pxat=int(time.time() * 1000) + 20_000) is True and 0 < r.ttl(k) <= 21
    assert r.set(key("new"), "v", xx=True) is None


def test_string_commands(r, key):
    k = key()
    assert r.append(k, "ab") == 2
    assert r.append(k, "cd") == 4
    assert r.strlen(k) == 4
    assert r.getrange(k, 1, 2) == b"bc"
    assert r.setrange(k, 1, "XY") == 4 and r.get(k) == b"aXYd"
    assert r.getset(k, "new") == b"aXYd"
    assert r.getdel(k) == b"new" and r.get(k) is None
    assert r.setnx(k, 1) is True and r.setnx(k, 2) is False
    assert r.setex(key("ex"), 100, "v") is True and r.ttl(key("ex")) > 0
    assert r.psetex(key("px"), 100_000, "v") is True and r.pttl(key("px")) > 0
    assert r.getex(key("ex"), persist=True) == b"v" and r.ttl(key("ex")) == -1
    assert r.getex(key("ex"), ex=50) == b"v" and r.ttl(key("ex")) > 0
    assert r.getex(key("ex"), px=50_000) == b"v"
    assert r.getex(key("ex"), exat=int(time.time()) + 40) == b"v"
    assert r.getex(key("ex"), pxat=datetime.datetime.now() + datetime.timedelta(seconds=40)) == b"v"


def test_counters(r, key):
    k = key()
    assert r.incr(k) == 1
    assert r.incr(k, 5) == 6
    assert r.incrby(k, 4) == 10
    assert r.decr(k) == 9
    assert r.decrby(k, 9) == 0
    assert r.incrbyfloat(k, 1.5) == 1.5


def test_mget_mset(r, key):
    a, b, c = key("a"), key("b"), key("c")
    assert r.mset({a: 1, b: "two"}) is True
    assert r.mget([a, b, c]) == [b"1", b"two", None]
    assert r.mget(a, b) == [b"1", b"two"]
    assert r.msetnx({a: 9, c: 3}) is False
    assert r.msetnx({key("d"): 4, key("e"): 5}) is True


# ---- keys and expiry ----------------------------------------------------------------------


def test_key_commands(r, key):
    a, b = key("a"), key("b")
    r.set(a, 1)
    assert r.exists(a, b) == 1
    assert r.type(a) == b"string" and r.type(b) == b"none"  # bytes unless decoding, as redis-py
    assert r.touch(a, b) == 1
    assert r.rename(a, b) is True and r.exists(a) == 0
    r.set(a, 2)
    assert r.renamenx(a, b) is False
    assert sorted(r.keys(key("*"))) == sorted([a.encode(), b.encode()])
    assert r.randomkey() is not None
    assert r.delete(a) == 1
    assert r.unlink(b) == 1
    assert r.delete(a, b) == 0


def test_expiry(r, key):
    k = key()
    r.set(k, 1)
    assert r.ttl(k) == -1
    assert r.expire(k, 100) is True and 0 < r.ttl(k) <= 100
    assert r.expire(k, 200, gt=True) is True
    assert r.expire(k, 50, gt=True) is False
    assert r.expire(k, 10, lt=True) is True
    assert r.expire(k, 10, nx=True) is False
    assert r.expire(k, 10, xx=True) is True
    assert r.persist(k) is True and r.persist(k) is False
    assert r.pexpire(k, datetime.timedelta(seconds=100)) is True and r.pttl(k) > 0
    at = datetime.datetime.now() + datetime.timedelta(seconds=100)
    assert r.expireat(k, at) is True
    assert abs(r.expiretime(k) - int(at.timestamp())) <= 1
    assert r.pexpireat(k, int(time.time() * 1000) + 100_000) is True
    assert r.expire(key("missing"), 10) is False


def test_scan(r, key):
    names = {key(f"s{i}").encode() for i in range(30)}
    for n in names:
        r.set(n, 1)
    found, cursor = set(), None
    while cursor != 0:
        cursor, batch = r.scan(cursor or 0, match=key("s*"), count=100)
        found.update(batch)
    assert found == names
    assert set(r.scan_iter(match=key("s*"), count=7)) == names
    assert set(r.scan_iter(match=key("s*"), _type="string")) == names
    cursor, batch = r.scan(0, match=key("s*"), count=1000, _type="hash")
    assert batch == [] or cursor != 0


# ---- hashes ----------------------------------------------------------------------------------


def test_hashes(r, key):
    h = key()
    assert r.hset(h, "a", 1) == 1
    assert r.hset(h, mapping={"b": 2, "c": 3}) == 2
    assert r.hset(h, items=["d", 4]) == 1
    assert r.hget(h, "a") == b"1"
    assert r.hgetall(h) == {b"a": b"1", b"b": b"2", b"c": b"3", b"d": b"4"}
    assert r.hmget(h, ["a", "x"]) == [b"1", None]
    assert r.hmget(h, "a", "b") == [b"1", b"2"]
    assert r.hexists(h, "a") is True and r.hexists(h, "x") is False
    assert r.hincrby(h, "a", 5) == 6
    assert r.hincrbyfloat(h, "b", 0.5) == 2.5
    assert sorted(r.hkeys(h)) == [b"a", b"b", b"c", b"d"]
    assert sorted(r.hvals(h)) == [b"2.5", b"3", b"4", b"6"]
    assert r.hlen(h) == 4
    assert r.hstrlen(h, "b") == 3
    # 0/1 as redis-py 4.3.4 (no response callback for HSETNX there), not booleans
    assert (r.hsetnx(h, "a", 9), r.hsetnx(h, "z", 9)) == (0, 1)
    assert type(r.hsetnx(h, "a", 9)) is int
    with pytest.warns(DeprecationWarning):  # as redis-py's
        assert r.hmset(h, {"m": 1}) is True
    assert r.hrandfield(h) in {b"a", b"b", b"c", b"d", b"z", b"m"}
    assert len(r.hrandfield(h, 2, withvalues=True)) == 4
    cursor, data = r.hscan(h, 0, match="*", count=100)
    assert cursor == 0 and data[b"z"] == b"9"
    assert dict(r.hscan_iter(h, count=2))[b"m"] == b"1"
    assert r.hdel(h, "a", "b", "x") == 2
    with pytest.raises(ValueError):
        r.hset(h)


# ---- lists ----------------------------------------------------------------------------------


def test_lists(r, key):
    k, other = key(), key("other")
    assert r.lpush(k, "b", "a") == 2
    assert r.rpush(k, "c", "d") == 4
    assert r.lrange(k, 0, -1) == [b"a", b"b", b"c", b"d"]
    assert r.llen(k) == 4
    assert r.lindex(k, 1) == b"b"
    assert r.linsert(k, "BEFORE", "c", "bb") == 5
    assert r.lset(k, 0, "A") is True
    assert r.lrem(k, 1, "bb") == 1
    assert r.lpos(k, "c") == 2
    assert r.lpos(k, "c", rank=1, count=1, maxlen=10) == [2]
    assert r.lpop(k) == b"A"
    assert r.rpop(k) == b"d"
    assert r.lpop(k, 1) == [b"b"]
    r.rpush(k, "x", "y")
    assert r.rpop(k, 2) == [b"y", b"x"]
    assert r.rpoplpush(k, other) == b"c"
    assert r.lmove(other, k) == b"c"
    assert r.ltrim(k, 0, 0) is True
    assert r.lpushx(key("none"), "v") == 0 and r.rpushx(key("none"), "v") == 0
    assert r.lpushx(k, "v") == 2 and r.rpushx(k, "w") == 3


def test_blocking_list_commands_use_a_lease(r, key):
    k, other = key(), key("other")
    assert r.blpop(k, timeout=0.1) is None
    assert r.brpop([k], timeout=0.1) is None
    r.rpush(k, "a", "b", "c", "d")
    assert r.blpop([k], timeout=1) == (k.encode(), b"a")
    assert r.brpop(k, timeout=1) == (k.encode(), b"d")
    assert r.brpoplpush(k, other, timeout=1) == b"c"
    assert r.blmove(other, k, 1, "LEFT", "LEFT") == b"c"
    # execute_command sends a blocking command on a lease too
    assert r.execute_command("BLPOP", k, 1) == (k.encode(), b"c")  # redis-py's callback: a tuple


# ---- sets ---------------------------------------------------------------------------------------


def test_sets(r, key):
    a, b, d = key("a"), key("b"), key("d")
    assert r.sadd(a, 1, 2, 3) == 3
    assert r.sadd(b, 3, 4) == 2
    assert r.smembers(a) == {b"1", b"2", b"3"}
    assert r.scard(a) == 3
    assert r.sismember(a, 1) is True and r.sismember(a, 9) is False
    assert r.smismember(a, [1, 9]) == [1, 0]  # ints, as redis-py 4.3.4
    assert [type(v) for v in r.smismember(a, [1, 9])] == [int, int]
    assert r.sinter([a, b]) == {b"3"}
    assert r.sunion(a, b) == {b"1", b"2", b"3", b"4"}
    assert r.sdiff(a, b) == {b"1", b"2"}
    assert r.sinterstore(d, [a, b]) == 1
    assert r.sunionstore(d, a, b) == 4
    assert r.sdiffstore(d, [a], b) == 2
    assert r.smove(a, b, 1) is True
    assert r.srem(a, 2) == 1
    assert r.srandmember(a) == b"3"
    assert r.srandmember(b, 2) and len(r.srandmember(b, 2)) == 2
    assert r.spop(a) == b"3"
    assert r.spop(b, 10) and r.scard(b) == 0
    r.sadd(a, *range(20))
    cursor, members = r.sscan(a, 0, count=100)
    assert len(members) == 20
    assert len(set(r.sscan_iter(a, count=3))) == 20


# ---- sorted sets -------------------------------------------------------------------------------


def test_sorted_sets(r, key):
    z, z2 = key(), key("z2")
    assert r.zadd(z, {"a": 1, "b": 2, "c": 3}) == 3
    assert r.zadd(z, {"a": 5}, xx=True, ch=True) == 1
    assert r.zadd(z, {"d": 4}, nx=True) == 1
    assert r.zadd(z, {"a": 1}, gt=True, ch=True) == 0
    assert r.zadd(z, {"a": 0.5}, lt=True, ch=True) == 1
    assert r.zadd(z, {"a": 1}, incr=True) == 1.5
    assert r.zcard(z) == 4
    assert r.zcount(z, 1, 3) == 3
    assert r.zscore(z, "a") == 1.5 and r.zscore(z, "none") is None
    assert r.zmscore(z, ["a", "none"]) == [1.5, None]
    assert r.zincrby(z, 1, "a") == 2.5
    assert r.zrange(z, 0, -1) == [b"b", b"a", b"c", b"d"]
    assert r.zrange(z, 0, 1, withscores=True) == [(b"b", 2.0), (b"a", 2.5)]
    assert r.zrange(z, 0, 0, desc=True, withscores=True, score_cast_func=int) == [(b"d", 4)]
    assert r.zrange(z, 2, 3, byscore=True) == [b"b", b"a", b"c"]
    assert r.zrange(z, 0, 10, byscore=True, offset=1, num=1) == [b"a"]
    assert r.zrevrange(z, 0, 0) == [b"d"]
    assert r.zrevrange(z, 0, 0, withscores=True) == [(b"d", 4.0)]
    assert r.zrangebyscore(z, 2, "+inf", start=0, num=2) == [b"b", b"a"]
    assert r.zrangebyscore(z, "-inf", 2, withscores=True) == [(b"b", 2.0)]
    assert r.zrevrangebyscore(z, "+inf", 3) == [b"d", b"c"]
    assert r.zrevrangebyscore(z, 4, 0, start=0, num=1, withscores=True) == [(b"d", 4.0)]
    assert r.zrank(z, "a") == 1 and r.zrevrank(z, "a") == 2 and r.zrank(z, "none") is None
    assert r.zpopmin(z) == [(b"b", 2.0)]
    assert r.zpopmax(z, 1) == [(b"d", 4.0)]
    assert r.zrem(z, "a", "none") == 1
    r.zadd(z2, {"a": 0, "b": 0, "c": 0, "d": 0})
    assert r.zlexcount(z2, "[b", "[c") == 2
    assert r.zremrangebylex(z2, "[a", "[a") == 1
    assert r.zremrangebyrank(z2, 0, 0) == 1
    assert r.zremrangebyscore(z2, 0, 0) == 2
    r.zadd(z2, {f"m{i}": i for i in range(10)})
    cursor, pairs = r.zscan(z2, 0, count=100)
    assert (b"m3", 3.0) in pairs
    assert len(list(r.zscan_iter(z2, count=2))) == 10
    assert r.bzpopmin(z2, 1) == (z2.encode(), b"m0", 0.0)
    assert r.bzpopmax([z2], 1) == (z2.encode(), b"m9", 9.0)
    assert r.bzpopmin(key("empty"), 0.1) is None
    with pytest.raises(ValueError):
        r.zadd(z, {})
    with pytest.raises(ValueError):
        r.zmscore(z, [])


def test_sorted_set_algebra_and_lex_ranges(r, rd, key):
    a, b, d = key("a"), key("b"), key("d")
    r.zadd(a, {"x": 1, "y": 2})
    r.zadd(b, {"y": 3, "z": 4})
    assert r.zunion([a, b]) == [b"x", b"z", b"y"]
    assert r.zunion([a, b], withscores=True) == [(b"x", 1.0), (b"z", 4.0), (b"y", 5.0)]
    assert r.zunion({a: 2, b: 1}, aggregate="MAX", withscores=True) == [(b"x", 2.0), (b"y", 4.0), (b"z", 4.0)]
    assert rd.zunion([a, b], withscores=True)[0] == ("x", 1.0)
    assert r.zinter([a, b]) == [b"y"]
    assert r.zinter([a, b], aggregate="min", withscores=True) == [(b"y", 2.0)]
    assert r.zunionstore(d, [a, b]) == 3
    assert r.zrange(d, 0, -1, withscores=True) == [(b"x", 1.0), (b"z", 4.0), (b"y", 5.0)]
    assert r.zinterstore(d, {a: 1, b: 10}) == 1
    assert r.zscore(d, "y") == 32.0
    assert r.zinterstore(d, [a, key("none")]) == 0
    with pytest.raises(rcm.DataError):
        r.zunion([a, b], aggregate="avg")
    lex = key("lex")
    r.zadd(lex, {m: 0 for m in "abcde"})
    assert r.zrangebylex(lex, "[b", "(e") == [b"b", b"c", b"d"]
    assert r.zrangebylex(lex, "-", "+", start=1, num=2) == [b"b", b"c"]
    with pytest.raises(rcm.DataError):
        r.zrangebylex(lex, "-", "+", start=1)
    assert r.zrandmember(a) in (b"x", b"y")
    assert sorted(r.zrandmember(a, 2)) == [b"x", b"y"]
    flat = r.zrandmember(a, 2, withscores=True)  # member, score, ... as redis-py returns it
    assert sorted(zip(flat[::2], flat[1::2])) == [(b"x", b"1"), (b"y", b"2")]
    assert r.zrandmember(key("none")) is None


# ---- bits, sort, copy/dump/restore, multi-key pops -----------------------------------------------


def test_bit_commands(r, key):
    k, k2, d = key("b"), key("b2"), key("dest")
    assert r.setbit(k, 7, 1) == 0
    assert r.setbit(k, 7, True) == 1  # the previous bit
    assert r.getbit(k, 7) == 1 and r.getbit(k, 6) == 0
    assert r.get(k) == b"\x01"
    r.set(k2, b"\xff\x0f")
    assert r.bitcount(k2) == 12
    assert r.bitcount(k2, 1, 1) == 4
    assert r.bitcount(k2, 4, 11, mode="BIT") == 4
    with pytest.raises(rcm.DataError):
        r.bitcount(k2, 0)
    assert r.bitop("AND", d, k, k2) == 2
    assert r.get(d) == b"\x01\x00"
    assert r.bitop("NOT", d, k2) == 2 and r.get(d) == b"\x00\xf0"
    assert r.bitpos(k2, 0) == 8
    assert r.bitpos(k2, 1, 1) == 12
    assert r.bitpos(k2, 1, 1, 1) == 12
    assert r.bitpos(k2, 0, 0, 15, mode="BIT") == 8
    with pytest.raises(rcm.DataError):
        r.bitpos(k2, 2)
    with pytest.raises(rcm.DataError):
        r.bitpos(k2, 1, end=3)


def test_sort(r, rd, key):
    lst, dest = key("l"), key("sorted")
    r.rpush(lst, 3, 1, 2)
    r.mset({key("w_1"): 30, key("w_2"): 10, key("w_3"): 20, key("n_1"): "one", key("n_2"): "two",
            key("n_3"): "three"})
    assert r.sort(lst) == [b"1", b"2", b"3"]
    assert r.sort(lst, start=0, num=2, desc=True) == [b"3", b"2"]
    assert r.sort(lst, by=key("w_*")) == [b"2", b"3", b"1"]
    assert r.sort(lst, get=key("n_*")) == [b"one", b"two", b"three"]
    assert r.sort(lst, get=["#", key("n_*")], groups=True) == [(b"1", b"one"), (b"2", b"two"), (b"3", b"three")]
    assert r.sort(lst, store=dest) == 3
    assert r.lrange(dest, 0, -1) == [b"1", b"2", b"3"]
    r.rpush(key("words"), "b", "a")
    assert rd.sort(key("words"), alpha=True) == ["a", "b"]
    with pytest.raises(rcm.DataError):
        r.sort(lst, get=key("n_*"), groups=True)  # groups needs two GETs
    with pytest.raises(rcm.DataError):
        r.sort(lst, start=1)


def test_copy_dump_restore(r, rd, key):
    src, dst, missing = key("src"), key("dst"), key("missing")
    r.hset(src, mapping={"f": "v"})
    assert r.copy(src, dst) is True
    assert r.copy(src, dst) is False
    assert r.copy(src, dst, replace=True) is True
    assert r.hgetall(dst) == {b"f": b"v"}
    assert r.copy(src, key("db1"), destination_db=1) is True
    with rcm.Client(URL + "/1") as db1:
        assert db1.hgetall(key("db1")) == {b"f": b"v"}
        db1.delete(key("db1"))
    payload = r.dump(src)
    assert isinstance(payload, bytes) and payload
    assert rd.dump(src) == payload  # bytes also with decode_responses=True (redis-py's NEVER_DECODE)
    # ... also inside a transaction, beside values that are decoded
    with rd.pipeline(transaction=True) as p:
        p.incr(key("n"))
        p.dump(src)
        p.hgetall(src)
        assert p.execute() == [1, payload, {"f": "v"}]
    r.delete(key("n"))
    assert r.dump(missing) is None
    r.delete(dst)
    assert r.restore(dst, 0, payload) == b"OK"  # a status reply: bytes unless decoding, as redis-py
    with pytest.raises(rcm.ResponseError, match="BUSYKEY"):
        r.restore(dst, 0, payload)
    assert r.restore(dst, 10_000, payload, replace=True, idletime=5) == b"OK"
    assert 0 < r.pttl(dst) <= 10_000
    at = int(time.time() * 1000) + 60_000
    assert r.restore(dst, at, payload, replace=True, absttl=True) == b"OK"
    assert r.pexpiretime(dst) == at
    assert r.pexpiretime(src) == -1 and r.pexpiretime(missing) == -2
    assert rd.hgetall(dst) == {"f": "v"}
    with pytest.raises(rcm.DataError):
        r.restore(dst, 0, payload, replace=True, idletime="soon")


def test_multi_key_pop_and_intersection_cardinality(r, key):
    a, b = key("a"), key("b")
    r.rpush(b, "1", "2", "3")
    assert r.lmpop(2, a, b, direction="LEFT") == [b.encode(), [b"1"]]
    assert r.lmpop(2, a, b, direction="RIGHT", count=5) == [b.encode(), [b"3", b"2"]]
    assert r.lmpop(2, a, b, direction="LEFT") is None
    s1, s2 = key("s1"), key("s2")
    r.sadd(s1, 1, 2, 3)
    r.sadd(s2, 2, 3, 4)
    assert r.sintercard(2, [s1, s2]) == 2
    assert r.sintercard(2, [s1, s2], limit=1) == 1
    assert r.sintercard(2, [s1, key("none")]) == 0


def test_new_helpers_in_pipelines_and_leases(r, rd, key):
    k, k2 = key("k"), key("k2")
    r.hset(k, mapping={"f": "v"})
    payload = r.dump(k)
    with rd.pipeline() as p:
        p.dump(k).copy(k, k2).pexpiretime(k).setbit(key("bits"), 3, 1).bitcount(key("bits"))
        p.zunion([key("z")], withscores=True)
        assert p.execute() == [payload, True, -1, 0, 1, []]
    with rd.pipeline(transaction=True) as p:
        p.copy(k, k2, replace=True).sintercard(1, [key("s")])
        assert p.execute() == [True, 0]
    with rd.lease() as lease:
        assert lease.dump(k) == payload
        assert lease.getbit(key("bits"), 3) == 1


# ---- scripting ---------------------------------------------------------------------------------


def test_scripting(r, key):
    k = key()
    script = "return {KEYS[1], ARGV[1], redis.call('INCRBY', KEYS[1], ARGV[1])}"
    assert r.eval(script, 1, k, 5) == [k.encode(), b"5", 5]
    sha = r.script_load(script)
    assert isinstance(sha, str) and len(sha) == 40
    assert r.evalsha(sha, 1, k, 2) == [k.encode(), b"2", 7]
    assert r.script_exists(sha, "0" * 40) == [True, False]
    assert r.eval_ro("return redis.call('GET', KEYS[1])", 1, k) == b"7"
    ro_sha = r.script_load("return redis.call('GET', KEYS[1])")
    assert r.evalsha_ro(ro_sha, 1, k) == b"7"
    with pytest.raises(rcm.NoScriptError):
        r.evalsha("0" * 40, 0)


def test_registered_script_loads_itself(private_server):
    s = private_server()
    with rcm.Client(s.url) as c:
        incr = c.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
        assert c.script_flush() is True
        assert incr(keys=["n"], args=[3]) == 3  # NOSCRIPT -> SCRIPT LOAD -> EVALSHA
        assert incr(keys=["n"], args=[4]) == 7
        assert c.script_exists(incr.sha) == [True]
        assert c.script_flush("SYNC") is True
        with c.pipeline() as p:
            incr(keys=["n"], args=[1], client=p)
            p.get("n")
            assert p.execute() == [8, b"8"]


# ---- pub/sub publishing (subscribing: test_pubsub.py) -------------------------------------------


def test_publish_and_pubsub_introspection(r, key):
    ch = key("ch")
    assert r.publish(ch, "nobody listens") == 0
    assert r.spublish(ch, "nobody") == 0
    with r.pubsub() as p:
        p.subscribe(ch)
        p.psubscribe(key("pat*"))
        # subscribe() returns before the server confirms: read both confirmations first.
        assert {p.get_message(timeout=10)["type"] for _ in range(2)} == {"subscribe", "psubscribe"}
        assert r.publish(ch, "hello") == 1
        assert ch.encode() in r.pubsub_channels(key("*"))
        assert r.pubsub_numsub(ch) == [(ch.encode(), 1)]
        assert r.pubsub_numpat() >= 1


# ---- introspection and life ----------------------------------------------------------------------


def test_stats_and_topology(r):
    r.ping()
    stats = r.stats()
    assert stats["mode"] == "standalone"
    server = stats["servers"][0]
    assert server["address"] == URL.split("//")[1]
    assert server["requests"] >= 1 and "latency_us" in server
    topo = r.topology()
    assert topo["mode"] == "standalone"
    assert topo["nodes"][0]["state"] == "up"


def test_close_and_context_manager():
    with rcm.Client(URL) as c:
        assert not c.closed and "open" in repr(c)
    assert c.closed and "closed" in repr(c)
    c.close()  # idempotent
    with pytest.raises(rcm.ClosedError):
        c.get("k")
    with pytest.raises(rcm.ClosedError):
        c.stats()
    with pytest.raises(rcm.ClosedError):
        c.pipeline().set("a", 1).execute()
    with pytest.raises(rcm.ClosedError):
        c.lease()


def test_routed_commands_in_standalone_mode(r, key):
    r.set(key(), "v")
    node = URL.split("//")[1]
    assert r.execute_command("GET", key(), slot=0) == b"v"
    assert r.execute_command("GET", key(), route_key=key()) == b"v"
    assert r.execute_command("GET", key(), target_nodes=node) == b"v"
    assert r.execute_command("PING", target_nodes=rcm.Client.RANDOM) is True  # redis-py's PING callback
    assert r.execute_command("PING", target_nodes=rcm.Client.PRIMARIES) == {node: True}
    assert r.execute_command(b"PING", target_nodes=rcm.Client.PRIMARIES) == {node: "PONG"}
    everyone = r.execute_command("DBSIZE", target_nodes=rcm.Client.ALL_NODES)
    assert node in everyone and all(isinstance(v, int) for v in everyone.values())
    with pytest.raises(rcm.ArgumentError):
        r.execute_command("PING", target_nodes="127.0.0.1:1")  # not this deployment's node
    with pytest.raises(rcm.ArgumentError):
        r.execute_command("PING", slot=16384)
    with pytest.raises(ValueError):
        r.execute_command("PING", target_nodes="everyone")
