"""Geo, streams, HyperLogLog, BITFIELD and the other data commands of rcm/_data.py against
the shared server: redis-py 4.3.4's return shapes (bytes, str with decode_responses) and
its DataError checks, on Client, Pipeline and rcm.asyncio.Client."""

from __future__ import annotations

import asyncio
import ast
import inspect
import pathlib

import pytest

import rcm
import rcm.asyncio
from rcm._cluster import ClusterCommands
from rcm._data import DataCommands
from rcm._server import ServerCommands

from conftest import URL

HERE = pathlib.Path(__file__).resolve().parent
CLIENT_NAMES = {"r", "rd", "p", "lease", "a", "c"}


def test_every_declared_command_is_called_in_these_tests():
    # The new command families: each method is called on a client in
    # test_commands_data.py, test_commands_server.py or test_commands_cluster.py.
    methods = {n for cls in (DataCommands, ServerCommands, ClusterCommands)
               for n, f in vars(cls).items() if inspect.isfunction(f) and not n.startswith("_")}
    called = set()
    for name in ("test_commands_data.py", "test_commands_server.py", "test_commands_cluster.py"):
        tree = ast.parse((HERE / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                root = node.func.value
                while isinstance(root, (ast.Attribute, ast.Call, ast.Subscript)):
                    root = root.func if isinstance(root, ast.Call) else root.value
                if isinstance(root, ast.Name) and root.id in CLIENT_NAMES:
                    called.add(node.func.attr)
    missing = sorted(methods - called)
    assert methods and not missing, f"never called on a client in the command tests: {missing}"


# ---- geo -------------------------------------------------------------------------------------

PLACES = [13.361389, 38.115556, "Palermo", 15.087269, 37.502669, "Catania"]


def test_geo_return_shapes(r, rd, key):
    g = key("geo")
    assert r.geoadd(g, PLACES) == 2
    assert r.geoadd(g, PLACES, xx=True, ch=True) == 0
    assert r.geodist(g, "Palermo", "Catania") == pytest.approx(166274.1516)
    assert r.geodist(g, "Palermo", "Catania", "km") == pytest.approx(166.2742)
    assert r.geodist(g, "Palermo", "nowhere") is None
    assert r.geohash(g, "Palermo", "nowhere") == ["sqc8b49rny0", None]
    pos = r.geopos(g, "Palermo", "nowhere")
    assert pos[1] is None and isinstance(pos[0], tuple) and pos[0][0] == pytest.approx(13.361389)
    assert r.georadius(g, 15, 37, 200, "km", sort="ASC") == [b"Catania", b"Palermo"]
    assert rd.georadius(g, 15, 37, 100, "km") == ["Catania"]
    full = r.georadius(g, 15, 37, 200, "km", withdist=True, withcoord=True, withhash=True, sort="ASC")
    name, dist, hash_, coord = full[0]
    assert name == b"Catania" and isinstance(dist, float) and isinstance(hash_, int) and isinstance(coord, tuple)
    assert r.georadiusbymember(g, "Palermo", 200, "km", withdist=True, sort="ASC") == [[b"Palermo", 0.0],
                                                                                      [b"Catania", 166.2742]]
    assert r.georadius(g, 15, 37, 200, "km", store=key("dst")) == 2
    assert r.geosearch(g, member="Palermo", radius=200, unit="km", sort="DESC", count=1) == [b"Catania"]
    assert r.geosearch(g, longitude=15, latitude=37, width=400, height=400, unit="km", withdist=True,
                       sort="ASC") == [[b"Catania", 56.4413], [b"Palermo", 190.4424]]
    assert r.geosearchstore(key("dst2"), g, longitude=15, latitude=37, radius=100, unit="km", storedist=True) == 1
    assert r.zscore(key("dst2"), "Catania") == pytest.approx(56.4413, rel=1e-3)


@pytest.mark.parametrize("call", [
    lambda r, g: r.geoadd(g, [1, 2]),
    lambda r, g: r.geoadd(g, PLACES, nx=True, xx=True),
    lambda r, g: r.geodist(g, "a", "b", "parsec"),
    lambda r, g: r.georadius(g, 1, 2, 3, unit="parsec"),
    lambda r, g: r.georadius(g, 1, 2, 3, any=True),
    lambda r, g: r.georadius(g, 1, 2, 3, sort="UP"),
    lambda r, g: r.georadius(g, 1, 2, 3, store="a", store_dist="b"),
    lambda r, g: r.geosearch(g, radius=1),
    lambda r, g: r.geosearch(g, member="a", longitude=1, latitude=2, radius=1),
    lambda r, g: r.geosearch(g, member="a"),
    lambda r, g: r.geosearch(g, member="a", radius=1, unit="parsec"),
    lambda r, g: r.geosearch(g, member="a", radius=1, width=2, height=2),
    lambda r, g: r.geosearch(g, member="a", radius=1, sort="UP"),
    lambda r, g: r.geosearch(g, member="a", radius=1, any=True),
])
def test_geo_data_errors_are_raised_before_sending(r, key, call):
    with pytest.raises(rcm.DataError):
        call(r, key("geo"))


# ---- streams ---------------------------------------------------------------------------------


def test_stream_entries_and_reads(r, rd, key):
    s = key("s")
    i1 = r.xadd(s, {"a": 1})
    i2 = r.xadd(s, {"b": 2}, maxlen=10, approximate=False)
    assert isinstance(i1, bytes) and r.xlen(s) == 2
    assert r.xrange(s) == [(i1, {b"a": b"1"}), (i2, {b"b": b"2"})]
    assert r.xrange(s, count=1) == [(i1, {b"a": b"1"})]
    assert r.xrevrange(s, count=1) == [(i2, {b"b": b"2"})]
    assert rd.xrange(s, min=i2.decode()) == [(i2.decode(), {"b": "2"})]
    assert r.xread({s: 0}, count=1) == [[s.encode(), [(i1, {b"a": b"1"})]]]
    assert r.xread({s: "$"}, block=10) == []     # waited on a lease, nothing came
    assert r.xadd(key("none"), {"a": 1}, nomkstream=True) is None
    assert r.xdel(s, i1) == 1
    assert r.xtrim(s, maxlen=0, approximate=False) == 1
    s2 = key("s2")
    r.xadd(s2, {"c": 3}, id="99-1")
    r.xadd(s2, {"c": 4}, id="100-1")
    assert r.xtrim(s2, minid="100-0", approximate=False, limit=None) == 1


def test_stream_groups_pending_claims(r, key):
    s = key("s")
    assert r.xgroup_create(s, "g", id="0", mkstream=True) is True
    ids = [r.xadd(s, {"n": n}) for n in range(3)]
    assert r.xgroup_createconsumer(s, "g", "c0") == 1
    got = r.xreadgroup("g", "c1", {s: ">"}, count=2)
    assert got == [[s.encode(), [(ids[0], {b"n": b"0"}), (ids[1], {b"n": b"1"})]]]
    assert r.xreadgroup("g", "c1", {s: ">"}, count=5, block=10, noack=True)[0][1] == [(ids[2], {b"n": b"2"})]
    pending = r.xpending(s, "g")
    assert pending["pending"] == 2 and pending["min"] == ids[0] and pending["max"] == ids[1]
    assert pending["consumers"] == [{"name": b"c1", "pending": 2}]
    detail = r.xpending_range(s, "g", "-", "+", 10, consumername="c1", idle=0)
    assert [d["message_id"] for d in detail] == ids[:2] and detail[0]["consumer"] == b"c1"
    assert set(detail[0]) == {"message_id", "consumer", "time_since_delivered", "times_delivered"}
    assert r.xpending_range(s, "g", None, None, None) == pending
    assert r.xclaim(s, "g", "c2", 0, [ids[0]]) == [(ids[0], {b"n": b"0"})]
    assert r.xclaim(s, "g", "c2", 0, [ids[0]], idle=0, retrycount=1, force=True, justid=True) == [ids[0]]
    claimed = r.xautoclaim(s, "g", "c3", 0, count=1)
    assert claimed[1] == [(ids[0], {b"n": b"0"})] and isinstance(claimed[0], bytes)
    assert r.xautoclaim(s, "g", "c3", 0, justid=True) == ids[:2]
    assert r.xack(s, "g", *ids) == 2
    groups = r.xinfo_groups(s)
    assert groups[0]["name"] == b"g" and groups[0]["pending"] == 0
    assert {c["name"] for c in r.xinfo_consumers(s, "g")} == {b"c0", b"c1", b"c2", b"c3"}
    info = r.xinfo_stream(s)
    assert info["length"] == 3 and info["first-entry"] == (ids[0], {b"n": b"0"})
    full = r.xinfo_stream(s, full=True)
    assert full["entries"][ids[1]] == {b"n": b"1"} and full["groups"][0]["name"] == b"g"
    assert r.xgroup_setid(s, "g", "0", entries_read=0) is True
    assert r.xgroup_delconsumer(s, "g", "c0") == 0
    assert r.xgroup_destroy(s, "g") is True


@pytest.mark.parametrize("call", [
    lambda r, s: r.xadd(s, {}),
    lambda r, s: r.xadd(s, {"a": 1}, maxlen=0),
    lambda r, s: r.xadd(s, {"a": 1}, maxlen=1, minid="0"),
    lambda r, s: r.xautoclaim(s, "g", "c", -1),
    lambda r, s: r.xautoclaim(s, "g", "c", 0, count=-1),
    lambda r, s: r.xclaim(s, "g", "c", -1, ["1-0"]),
    lambda r, s: r.xclaim(s, "g", "c", 0, []),
    lambda r, s: r.xclaim(s, "g", "c", 0, ["1-0"], idle="x"),
    lambda r, s: r.xpending_range(s, "g", None, None, None, idle=1),
    lambda r, s: r.xpending_range(s, "g", "-", "+", None),
    lambda r, s: r.xrange(s, count=0),
    lambda r, s: r.xrevrange(s, count=-1),
    lambda r, s: r.xread({}),
    lambda r, s: r.xread({s: 0}, block=-1),
    lambda r, s: r.xreadgroup("g", "c", {s: ">"}, count=0),
    lambda r, s: r.xtrim(s),
    lambda r, s: r.xtrim(s, maxlen=1, minid="0"),
])
def test_stream_data_errors_are_raised_before_sending(r, key, call):
    with pytest.raises(rcm.DataError):
        call(r, key("s"))


def test_xautoclaim_min_idle_time_that_is_no_number_is_value_error(r, key):
    with pytest.raises(ValueError):  # as redis-py: int("wrong") fails before anything is sent
        r.xautoclaim(key("s"), "g", "c", min_idle_time="wrong")


def test_stream_commands_in_a_pipeline_get_redis_py_shapes(r, key):
    s = key("s")
    p = r.pipeline()
    p.xadd(s, {"a": 1}, id="1-1").xlen(s).xrange(s).xread({s: 0})
    assert p.execute() == [b"1-1", 1, [(b"1-1", {b"a": b"1"})], [[s.encode(), [(b"1-1", {b"a": b"1"})]]]]


# ---- HyperLogLog, BITFIELD and the rest -------------------------------------------------------


def test_hyperloglog(r, key):
    a, b = key("a"), key("b")
    assert r.pfadd(a, 1, 2, 3) == 1
    assert r.pfadd(a, 1) == 0
    r.pfadd(b, 3, 4)
    assert r.pfcount(a) == 3 and r.pfcount(a, b) == 4
    assert r.pfmerge(key("m"), a, b) is True
    assert r.pfcount(key("m")) == 4


def test_bitfield_on_client_pipeline_and_asyncio(r, key):
    k = key("bf")
    assert r.bitfield(k).set("u8", 0, 255).incrby("u8", 0, 10).get("u8", 0).execute() == [0, 9, 9]
    assert r.bitfield(k, default_overflow="SAT").incrby("u8", 0, 300).execute() == [255]
    assert r.bitfield(k).incrby("i8", 8, 200, overflow="FAIL").execute() == [None]
    p = r.pipeline()
    p.bitfield(k).get("u8", 0).execute()
    p.get(k)
    assert p.execute()[0] == [255]

    async def main():
        async with rcm.asyncio.Client(URL) as a:
            return await a.bitfield(k).get("u8", 0).execute()

    assert asyncio.run(main()) == [255]


def test_key_list_and_sorted_set_extras(r, rd, key, private_server):
    k, z1, z2 = key("k"), key("{z}1"), key("{z}2")
    r.set(k, "hello world")
    assert r.substr(k, 0, 4) == b"hello"
    assert r.object("encoding", k) == b"embstr" and isinstance(r.object("refcount", k), int)
    assert rd.object("encoding", k) == "embstr" and r.object("idletime", key("none")) is None
    assert r.lcs(k, k) == b"hello world" and r.lcs(k, k, len=True) == 11
    assert isinstance(r.lcs(k, k, idx=True, minmatchlen=2, withmatchlen=True), list)
    with pytest.raises(rcm.DataError):
        r.stralgo("LCS", "a", "b", len=True, idx=True)
    with pytest.raises(rcm.DataError):
        r.stralgo("LCSS", "a", "b")
    r.zadd(z1, {"a": 1, "b": 2, "c": 3})
    r.zadd(z2, {"a": 1})
    assert r.zdiff([z1, z2]) == [b"b", b"c"]
    assert r.zdiff([z1, z2], withscores=True) == [b"b", b"2", b"c", b"3"]  # flat, as redis-py
    assert r.zdiffstore(key("{z}d"), [z1, z2]) == 2
    assert r.zintercard(2, [z1, z2]) == 1
    assert r.zrangestore(key("{z}r"), z1, 0, 1) == 2
    assert r.zrangestore(key("{z}r"), z1, 1, 3, byscore=True, desc=False, offset=0, num=1) == 1
    assert r.zrevrangebylex(z1, "+", "-", start=0, num=2) == [b"c", b"b"]
    assert r.zmpop(2, [z1, z2], min=True) == [z1.encode(), [[b"a", b"1"]]]
    assert r.bzmpop(1, 2, [z1, z2], max=True, count=2) == [z1.encode(), [[b"c", b"3"], [b"b", b"2"]]]
    assert r.blmpop(1, 1, key("nolist"), direction="LEFT") is None
    r.rpush(key("l"), 3, 1, 2)
    assert rd.sort_ro(key("l")) == ["1", "2", "3"]
    for bad in (lambda: r.zmpop(1, [z1]), lambda: r.bzmpop(1, 1, [z1], min=True, max=True),
                lambda: r.zrangestore("d", z1, 0, 1, byscore=True, bylex=True),
                lambda: r.zrangestore("d", z1, 0, 1, offset=1), lambda: r.zrevrangebylex(z1, "+", "-", start=1),
                lambda: r.sort_ro(z1, start=1)):
        with pytest.raises(rcm.DataError):
            bad()
    s = private_server()
    with rcm.Client(s.url) as c:
        c.set("m", 1)
        assert c.move("m", 1) is True and c.move("m", 1) is False


def test_declared_commands_take_positional_or_keyword_arguments(r, key):
    # One-line declarations (rcm/_decl.py): redis-py's parameter names, positional or by
    # keyword, defaults applied, and wrong calls refused as Python refuses them.
    s = key("s")
    assert str(inspect.signature(rcm.Client.xgroup_create)) == (
        "(self, name, groupname, id='$', mkstream=False, entries_read=None, *, target_nodes=None, **kwargs)")
    assert rcm.Client.xgroup_create.__name__ == "xgroup_create"
    assert r.xgroup_create(name=s, groupname="g", id="0", mkstream=True) is True
    assert r.xgroup_setid(s, "g", "0") is True                       # optional part left out
    assert r.xgroup_setid(s, "g", id="0", entries_read=0) is True    # and given by keyword
    assert r.xack(s, "g", "1-1", "2-2") == 0                          # *ids
    assert r.substr(key("none"), 0) == b""                            # end=-1 by default
    with pytest.raises(TypeError):
        r.xlen()
    with pytest.raises(TypeError):
        r.xlen(s, s)
    with pytest.raises(TypeError):
        r.xgroup_destroy(s)  # no groupname
