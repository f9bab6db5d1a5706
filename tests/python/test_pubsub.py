"""Pub/sub on a lease: subscribe, get_message(timeout) over rcm_lease_read, handlers."""

from __future__ import annotations

import threading
import time

import pytest

import rcm


def wait_message(p, timeout=2.0, **kw):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = p.get_message(timeout=0.1, **kw)
        if m is not None:
            return m
    raise AssertionError("no message")


def test_subscribe_publish_receive(r, key):
    ch = key("ch").encode()
    with r.pubsub() as p:
        p.subscribe(ch)
        assert p.subscribed
        assert wait_message(p) == {"type": "subscribe", "pattern": None, "channel": ch, "data": 1}
        assert r.publish(ch, b"hello\x00world") == 1
        assert wait_message(p) == {"type": "message", "pattern": None, "channel": ch, "data": b"hello\x00world"}
        assert p.get_message(timeout=0.05) is None


def test_several_channels_and_patterns(r, key):
    a, b, pat = key("a").encode(), key("b").encode(), key("p*").encode()
    with r.pubsub(ignore_subscribe_messages=True) as p:
        p.subscribe(a, b)
        p.psubscribe(pat)
        r.publish(a, 1)
        r.publish(b, 2)
        r.publish(key("p1"), 3)
        got = [wait_message(p) for _ in range(3)]
    assert [m["data"] for m in got] == [b"1", b"2", b"3"]
    assert got[2] == {"type": "pmessage", "pattern": pat, "channel": key("p1").encode(), "data": b"3"}


def test_unsubscribe(r, key):
    a, b = key("a").encode(), key("b").encode()
    with r.pubsub() as p:
        p.subscribe(a, b)
        assert [wait_message(p)["type"] for _ in range(2)] == ["subscribe", "subscribe"]
        p.unsubscribe(a)
        m = wait_message(p)
        assert m["type"] == "unsubscribe" and m["channel"] == a
        assert set(p.channels) == {b}
        p.unsubscribe()
        assert wait_message(p)["type"] == "unsubscribe"
        assert not p.subscribed
        p.psubscribe(key("x*"))
        wait_message(p)
        p.punsubscribe()
        assert wait_message(p)["type"] == "punsubscribe"
        assert not p.subscribed


def test_handlers(r, key):
    got = []
    ch = key("ch")
    with r.pubsub(ignore_subscribe_messages=True) as p:
        p.subscribe(**{ch: got.append})
        p.get_message(timeout=0.1)
        r.publish(ch, "x")
        deadline = time.monotonic() + 2
        while not got and time.monotonic() < deadline:
            assert p.get_message(timeout=0.1) is None  # the handler took it
    assert got[0]["data"] == b"x"


def test_decode_responses(rd, key):
    ch = key("ch")
    with rd.pubsub(ignore_subscribe_messages=True) as p:
        p.subscribe(ch)
        rd.publish(ch, "é")
        assert wait_message(p) == {"type": "message", "pattern": None, "channel": ch, "data": "é"}


def test_listen_and_blocking_get_message(r, key):
    ch = key("ch")
    received = []
    with r.pubsub() as p:
        p.subscribe(ch)

        def publisher():
            time.sleep(0.2)
            r.publish(ch, "one")
            r.publish(ch, "two")

        t = threading.Thread(target=publisher)
        t.start()
        for m in p.listen():
            received.append(m)
            if len(received) == 3:
                break
        t.join()
        threading.Timer(0.2, lambda: r.publish(ch, "three")).start()
        assert p.get_message(timeout=None)["data"] == b"three"  # waits without limit
    assert [m["type"] for m in received] == ["subscribe", "message", "message"]


def test_ping_while_subscribed(r, key):
    with r.pubsub() as p:
        p.subscribe(key())
        wait_message(p)
        p.ping()
        assert wait_message(p)["type"] == "pong"


def test_get_message_before_subscribe(r):
    p = r.pubsub()
    with pytest.raises(RuntimeError):
        p.get_message()
    with pytest.raises(ValueError):
        p.subscribe()
    p.close()


def test_closed_pubsub_releases_its_connection(r, key):
    p = r.pubsub()
    p.subscribe(key())
    p.close()
    assert not p.subscribed
    before = r.stats()["servers"][0]["leases_in_use"]
    assert before == 0


def test_multi_channel_subscribe_on_a_raw_lease(r, key):
    with r.lease() as lease:
        first = lease.execute_command("SUBSCRIBE", key("a"), key("b"))
        assert first == [b"subscribe", key("a").encode(), 1]
        time.sleep(0.1)  # the second confirmation arrives while nothing is in flight
        assert lease.execute_command(b"PING") == [b"pong", b""]  # its own reply, not that
        assert lease.read(1) == [b"subscribe", key("b").encode(), 2]
