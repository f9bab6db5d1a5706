"""Arguments and replies: bytes/str round trips (NUL, non-UTF-8, large), accepted argument
types, decode_responses and encodings."""

from __future__ import annotations

import array

import pytest

import rcm

from conftest import URL

BINARY = [
    b"",
    b"\x00",
    b"a\x00b\x00",
    b"\xff\xfe\x00\x80",
    bytes(range(256)),
    b"\r\n$5\r\n*1\r\n",  # RESP framing inside a value
    b"x" * (1 << 20),
]


@pytest.mark.parametrize("value", BINARY, ids=lambda v: f"{len(v)}B")
def test_bytes_round_trip(r, key, value):
    k = key()
    assert r.set(k, value) is True
    assert r.get(k) == value
    assert r.strlen(k) == len(value)


def test_binary_keys_and_fields(r):
    k = b"py:\x00bin\xffkey"
    try:
        r.hset(k, b"\x00f\xff", b"\x00v\xff")
        assert r.hgetall(k) == {b"\x00f\xff": b"\x00v\xff"}
        assert r.exists(k) == 1
    finally:
        r.delete(k)


@pytest.mark.parametrize("text", ["", "ascii", "naïve café", "日本語", "emoji 🎉", "a\x00b"])
def test_str_is_sent_as_utf8(r, rd, key, text):
    k = key()
    r.set(k, text)
    assert r.get(k) == text.encode("utf-8")
    assert rd.get(k) == text


def test_argument_types(r, key):
    k = key()
    cases = [
        (b"bytes", b"bytes"),
        ("str", b"str"),
        (42, b"42"),
        (-7, b"-7"),
        (2**70, str(2**70).encode()),
        (1.5, b"1.5"),
        (1e100, b"1e+100"),
        (0.1, b"0.1"),
        (float("inf"), b"inf"),
        (bytearray(b"ba\x00"), b"ba\x00"),
        (memoryview(b"mv\x00view")[2:], b"\x00view"),
    ]
    for value, sent in cases:
        r.set(k, value)
        assert r.get(k) == sent, value


def test_other_buffer_objects_are_refused(r, key):
    # Only bytes, bytearray and memoryview pass as bytes: array.array's (or a numpy
    # integer's) memory is machine words, not what the user meant to store. redis-py
    # raises DataError for them too.
    k = key()
    for value in (array.array("i", [7]), array.array("B", [1, 2, 0])):
        with pytest.raises(rcm.DataError, match="array"):
            r.set(k, value)
    assert r.get(k) is None


class Subclass(str):
    pass


class IntLike(int):
    pass


def test_subclasses_of_str_and_int(r, key):
    r.set(key(), Subclass("sub"))
    assert r.get(key()) == b"sub"
    r.set(key(), IntLike(5))
    assert r.get(key()) == b"5"


@pytest.mark.parametrize("bad", [None, True, False, {"a": 1}, [1], object()])
def test_unsupported_argument_types_are_data_errors(r, key, bad):
    with pytest.raises(rcm.DataError) as e:
        r.set(key(), bad)
    assert "Invalid input of type" in str(e.value)
    assert isinstance(e.value, TypeError)


def test_non_contiguous_buffer_is_a_data_error(r, key):
    view = memoryview(b"abcdef")[::2]
    with pytest.raises(rcm.DataError, match="'memoryview': its buffer is not contiguous") as e:
        r.set(key(), view)
    assert isinstance(e.value, TypeError)
    with pytest.raises(rcm.DataError, match="not contiguous"):
        r.pipeline().set(key(), 1).set(key(), view).execute()
    with r.lease() as lease, pytest.raises(rcm.DataError, match="not contiguous"):
        lease.execute_command("SET", key(), view)
    assert r.set(key(), bytes(view)) is True  # the conversion the message suggests
    assert r.get(key()) == b"ace"


def test_non_utf8_reply_with_decode_responses(r, rd, key):
    k = key()
    r.set(k, b"\xff\xfe")
    with pytest.raises(UnicodeDecodeError):
        rd.get(k)
    with rcm.Client(URL, decode_responses=True, encoding_errors="replace") as c:
        assert c.get(k) == "\ufffd\ufffd"
    with rcm.Client(URL, decode_responses=True, encoding="latin-1") as c:
        assert c.get(k) == "\xff\xfe"
        c.set(k, "é")  # arguments are encoded as replies are decoded: latin-1
        assert c.get(k) == "é"
    assert r.get(k) == "é".encode("latin-1")


def test_arguments_use_the_clients_encoding(r, key):
    k, h = key(), key("h")
    with rcm.Client(URL, decode_responses=True, encoding="latin-1") as c:
        c.set(k, "é")
        assert r.get(k) == b"\xe9"
        assert c.get(k) == "é"
        with c.pipeline() as p:  # pipelines, leases and hashes encode alike
            p.hset(h, "clé", "été")
            p.hget(h, "clé")
            assert p.execute() == [1, "été"]
        with c.lease() as lease:
            lease.set(k, "à")
        assert r.get(k) == b"\xe0"
    # Values read with surrogateescape can be written back byte for byte.
    r.set(k, b"\xff\xfeok")
    with rcm.Client(URL, decode_responses=True, encoding_errors="surrogateescape") as c:
        v = c.get(k)
        assert v == "\udcff\udcfeok"
        c.set(k, v)
    assert r.get(k) == b"\xff\xfeok"
    # The default stays strict UTF-8: a lone surrogate is an encoding error.
    with pytest.raises(UnicodeEncodeError):
        r.set(k, "\udcff")


def test_decode_responses_everywhere(rd, key):
    k, h = key(), key("h")
    rd.rpush(k, "a", "b")
    assert rd.lrange(k, 0, -1) == ["a", "b"]
    rd.hset(h, mapping={"f": "v"})
    assert rd.hgetall(h) == {"f": "v"}
    assert rd.type(k) == "list"
    with rd.pipeline() as p:
        assert p.lrange(k, 0, 0).hget(h, "f").execute() == [["a"], "v"]
    with rd.lease() as lease:
        assert lease.lpop(k) == "a"


def test_status_replies_are_str_and_integers_int(r, key):
    assert r.execute_command(b"PING") == "PONG"  # a bytes name: no redis-py callback
    assert r.execute_command(b"SET", key(), 1) == "OK"
    assert r.execute_command("INCR", key()) == 2


def test_unknown_encoding_is_refused():
    with pytest.raises(LookupError):
        rcm.Client(URL, decode_responses=True, encoding="no-such-codec")


def test_many_arguments(r, key):
    k = key()
    members = [f"m{i}" for i in range(10_000)]
    assert r.sadd(k, *members) == 10_000
    assert r.scard(k) == 10_000
    values = r.mget([key(f"x{i}") for i in range(2_000)])
    assert values == [None] * 2_000
