"""rcm.PubSub (redis-py's surface on rcm_subscriber): messages as redis-py's dicts,
handlers, patterns, shard channels, decode_responses, listen(), run_in_thread(), many
channels, shared subscriber connections, and a server killed and restarted under a live
subscription (the 'gap' message). Threads: test_pubsub_threads.py; asyncio:
test_pubsub_asyncio.py."""

from __future__ import annotations

import threading
import time

import pytest

import rcm

WAIT = 10.0  # the longest any message may take to arrive on a loaded machine


def wait_message(p, timeout=WAIT, **kw):
    """The next message get_message() returns (None ones, taken by a handler, skipped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = p.get_message(timeout=0.1, **kw)
        if m is not None:
            return m
    raise AssertionError(f"no message within {timeout} s")


def confirmations(p, n, kind="subscribe"):
    got = [wait_message(p) for _ in range(n)]
    assert [m["type"] for m in got] == [kind] * n, got
    return got


def test_subscribe_publish_receive(r, key):
    ch = key("ch").encode()
    with r.pubsub() as p:
        p.subscribe(ch)
        assert p.subscribed
        assert wait_message(p) == {"type": "subscribe", "pattern": None, "channel": ch, "data": 1}
        assert r.publish(ch, b"hello\x00world") == 1
        assert wait_message(p) == {"type": "message", "pattern": None, "channel": ch, "data": b"hello\x00world"}
        assert p.get_message(timeout=0.05) is None


@pytest.mark.parametrize("everything", [False, True])
def test_subscribe_unsubscribe_subscribe_in_a_row_confirms_each(r, key, everything):
    # redis-py's server answers each command: subscribe 1, unsubscribe 0, subscribe 1,
    # though rcm never had the first subscription live.
    ch = key("resub").encode()
    with r.pubsub() as p:
        p.subscribe(ch)
        p.unsubscribe() if everything else p.unsubscribe(ch)
        p.subscribe(ch)
        got = [wait_message(p) for _ in range(3)]
        assert got == [
            {"type": "subscribe", "pattern": None, "channel": ch, "data": 1},
            {"type": "unsubscribe", "pattern": None, "channel": ch, "data": 0},
            {"type": "subscribe", "pattern": None, "channel": ch, "data": 1},
        ]
        assert p.subscribed
        assert r.publish(ch, b"x") == 1
        assert wait_message(p)["data"] == b"x"


def test_subscription_counts_and_unsubscribe(r, key):
    a, b, pat = key("a").encode(), key("b").encode(), key("p*").encode()
    with r.pubsub() as p:
        p.subscribe(a, b)
        got = confirmations(p, 2)
        assert sorted(m["data"] for m in got) == [1, 2]  # as the server counts per connection
        assert {m["channel"] for m in got} == {a, b}
        p.psubscribe(pat)
        assert wait_message(p) == {"type": "psubscribe", "pattern": None, "channel": pat, "data": 3}
        p.unsubscribe(a)
        assert a in p.channels  # until its confirmation is read, as in redis-py
        assert wait_message(p) == {"type": "unsubscribe", "pattern": None, "channel": a, "data": 2}
        assert set(p.channels) == {b}
        p.unsubscribe()
        assert wait_message(p)["type"] == "unsubscribe"
        assert p.channels == {} and p.subscribed  # the pattern is left
        p.punsubscribe()
        assert wait_message(p) == {"type": "punsubscribe", "pattern": None, "channel": pat, "data": 0}
        assert not p.subscribed
        assert r.publish(a, "x") == 0 and r.publish(key("p1"), "x") == 0


def test_patterns(r, key):
    a, pat = key("a").encode(), key("p*").encode()
    with r.pubsub(ignore_subscribe_messages=True) as p:
        p.subscribe(a)
        p.psubscribe(pat)
        assert p.get_message(timeout=0.5) is None  # the confirmations, ignored
        wait_subscribers(r, a, pattern=True)
        r.publish(a, 1)
        r.publish(key("p1"), 3)
        got = [wait_message(p) for _ in range(2)]
    assert got[0] == {"type": "message", "pattern": None, "channel": a, "data": b"1"}
    assert got[1] == {"type": "pmessage", "pattern": pat, "channel": key("p1").encode(), "data": b"3"}


def wait_no_subscriber(r, channel):
    deadline = time.monotonic() + WAIT
    while r.pubsub_numsub(channel)[0][1] != 0:
        assert time.monotonic() < deadline, f"{channel!r} still subscribed on the server"
        time.sleep(0.02)


def wait_subscribers(r, channel, pattern=False):
    """Until the server counts a subscriber of channel (and, pattern, one pattern more
    than none): ignore_subscribe_messages hides the confirmations."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if r.pubsub_numsub(channel)[0][1] >= 1 and (not pattern or r.pubsub_numpat() >= 1):
            return
        time.sleep(0.02)
    raise AssertionError(f"{channel!r} never subscribed on the server")


def test_shard_channels(r, key):
    ch = key("shard").encode()
    with r.pubsub() as p:
        try:
            p.ssubscribe(ch)
        except rcm.UnsupportedError as e:
            pytest.skip(f"the server has no SSUBSCRIBE: {e}")
        assert p.shard_channels == {ch: None} and p.subscribed
        assert wait_message(p) == {"type": "ssubscribe", "pattern": None, "channel": ch, "data": 1}
        assert r.spublish(ch, "s1") == 1
        m = p.get_sharded_message(timeout=WAIT)
        assert m == {"type": "smessage", "pattern": None, "channel": ch, "data": b"s1"}
        p.sunsubscribe()
        assert wait_message(p) == {"type": "sunsubscribe", "pattern": None, "channel": ch, "data": 0}
        assert not p.subscribed


def test_handlers_take_the_messages(r, key):
    got = []
    ch, pat, other = key("ch"), key("p*"), key("plain")
    with r.pubsub(ignore_subscribe_messages=True) as p:
        p.subscribe(other, **{ch: got.append})
        p.psubscribe(**{pat: got.append})
        assert p.channels == {ch.encode(): got.append, other.encode(): None}
        assert p.patterns == {pat.encode(): got.append}
        wait_subscribers(r, ch, pattern=True)
        r.publish(ch, "x")
        r.publish(key("p2"), "y")
        r.publish(other, "z")
        m = wait_message(p)  # the handlers took the first two: get_message returned None for them
    assert m == {"type": "message", "pattern": None, "channel": other.encode(), "data": b"z"}
    assert got == [{"type": "message", "pattern": None, "channel": ch.encode(), "data": b"x"},
                   {"type": "pmessage", "pattern": pat.encode(), "channel": key("p2").encode(), "data": b"y"}]


def test_decode_responses(rd, key):
    ch = key("ch")
    with rd.pubsub() as p:
        p.subscribe(ch)
        assert wait_message(p) == {"type": "subscribe", "pattern": None, "channel": ch, "data": 1}
        assert p.channels == {ch: None}
        rd.publish(ch, "é")
        assert wait_message(p) == {"type": "message", "pattern": None, "channel": ch, "data": "é"}


def test_ignore_subscribe_messages_per_call(r, key):
    ch = key("ch").encode()
    with r.pubsub() as p:
        p.subscribe(ch)
        wait_subscribers(r, ch)
        r.publish(ch, "m")
        # The server sent the confirmation before the message: ignored, it is skipped.
        assert wait_message(p, ignore_subscribe_messages=True)["type"] == "message"


def test_listen_and_blocking_get_message(r, key):
    ch = key("ch")
    received = []
    with r.pubsub() as p:
        p.subscribe(ch)

        def publisher():
            wait_subscribers(r, ch.encode())
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
    assert [m["data"] for m in received[1:]] == [b"one", b"two"]


def test_listen_ends_when_everything_is_unsubscribed(r, key):
    with r.pubsub() as p:
        p.subscribe(key("a"), key("b"))
        types = []
        for m in p.listen():
            types.append(m["type"])
            if types == ["subscribe", "subscribe"]:
                p.unsubscribe()
        assert types == ["subscribe", "subscribe", "unsubscribe", "unsubscribe"]
        assert not p.subscribed


def test_get_message_before_subscribe_returns_none(r):
    p = r.pubsub()
    assert p.get_message() is None
    assert p.get_message(timeout=0.2) is None
    with pytest.raises(ValueError):
        p.subscribe()
    p.unsubscribe()  # nothing subscribed: nothing to do
    p.close()


def test_run_in_thread_until_stop(r, key):
    got = []
    ch = key("ch")
    p = r.pubsub()
    p.subscribe(**{ch: got.append})
    t = p.run_in_thread(sleep_time=0.05, daemon=True)
    wait_subscribers(r, ch.encode())
    r.publish(ch, "a")
    deadline = time.monotonic() + WAIT
    while not got and time.monotonic() < deadline:
        time.sleep(0.01)
    t.stop()
    t.join(WAIT)
    assert not t.is_alive()
    assert [m["data"] for m in got] == [b"a"]
    assert not p.subscribed  # the thread closed the PubSub as it ended
    wait_no_subscriber(r, ch.encode())


def test_run_in_thread_needs_handlers(r, key):
    with r.pubsub() as p:
        p.subscribe(key("no-handler"))
        with pytest.raises(rcm.PubSubError, match="no handler"):
            p.run_in_thread()


def test_run_in_thread_exception_handler(r, key):
    seen = []
    ch = key("ch")

    def boom(msg):
        raise ValueError(msg["data"])

    def on_error(e, pubsub, thread):
        seen.append(e)
        thread.stop()

    p = r.pubsub()
    p.subscribe(**{ch: boom})
    t = p.run_in_thread(sleep_time=0.05, exception_handler=on_error)
    wait_subscribers(r, ch.encode())
    r.publish(ch, "bad")
    t.join(WAIT)
    assert not t.is_alive()
    assert len(seen) == 1 and isinstance(seen[0], ValueError) and seen[0].args == (b"bad",)


def test_close_then_subscribe_again(r, key):
    a, b = key("a").encode(), key("b").encode()
    p = r.pubsub()
    p.subscribe(a)
    confirmations(p, 1)
    p.close()
    assert not p.subscribed and p.channels == {}
    assert p.get_message(timeout=0.1) is None
    wait_no_subscriber(r, a)
    with p:  # reset() and close() leave it usable, as redis-py's reset()
        p.subscribe(b)
        assert wait_message(p) == {"type": "subscribe", "pattern": None, "channel": b, "data": 1}
        r.publish(b, "again")
        assert wait_message(p)["data"] == b"again"


def test_ping(r, key):
    with r.pubsub() as p:
        p.subscribe(key())
        wait_message(p)
        p.ping()
        assert wait_message(p) == {"type": "pong", "pattern": None, "channel": None, "data": b""}
        p.ping("hi")
        assert wait_message(p)["data"] == b"hi"


def test_subscribers_share_one_server_subscription(r, key):
    """Three PubSubs of one client on one channel: the server sees one subscriber (rcm's
    shared connection), and each PubSub receives every message (fan-out in rcm)."""
    ch = key("ch").encode()
    subs = [r.pubsub(ignore_subscribe_messages=True) for _ in range(3)]
    try:
        for p in subs:
            p.subscribe(ch)
        wait_subscribers(r, ch)
        assert r.publish(ch, "to all") == 1
        for p in subs:
            assert wait_message(p) == {"type": "message", "pattern": None, "channel": ch, "data": b"to all"}
        assert r.pubsub_numsub(ch) == [(ch, 1)]
        subs[0].close()
        r.publish(ch, "two left")
        for p in subs[1:]:
            assert wait_message(p)["data"] == b"two left"
    finally:
        for p in subs:
            p.close()


def test_thousand_channels_on_one_pubsub(r, key):
    names = [key(f"c{i}").encode() for i in range(1000)]
    with r.pubsub() as p:
        for i in range(0, 1000, 100):
            p.subscribe(*names[i:i + 100])
        got = confirmations(p, 1000)
        assert {m["channel"] for m in got} == set(names)
        assert max(m["data"] for m in got) == 1000
        with r.pipeline() as pipe:
            for i, n in enumerate(names):
                pipe.publish(n, str(i))
            assert pipe.execute() == [1] * 1000
        msgs = [wait_message(p) for _ in range(1000)]
        assert {(m["channel"], m["data"]) for m in msgs} == {(n, str(i).encode()) for i, n in enumerate(names)}
        assert p.get_message(timeout=0.1) is None


def test_order_per_channel(r, key):
    ch = key("ordered").encode()
    with r.pubsub(ignore_subscribe_messages=True) as p:
        p.subscribe(ch)
        wait_subscribers(r, ch)
        with r.pipeline() as pipe:
            for i in range(500):
                pipe.publish(ch, str(i))
            pipe.execute()
        assert [wait_message(p)["data"] for _ in range(500)] == [str(i).encode() for i in range(500)]


def test_gap_after_the_server_is_killed_and_restarted(private_server):
    """SIGKILL the server under live subscriptions, start a new one on the same port:
    rcm subscribes again by itself, one 'gap' per name says what may have been lost, and
    messages published after the restart arrive."""
    s = private_server()
    gaps = []
    with rcm.Client(s.url) as c, rcm.Client(s.url) as publisher:
        p = c.pubsub()
        p.subscribe("news")
        p.psubscribe("ev:*")
        assert {m["type"] for m in confirmations_any(p, 2)} == {"subscribe", "psubscribe"}
        assert publisher.publish("news", "before") == 1
        assert wait_message(p)["data"] == b"before"
        before_kill = int(time.time() * 1000)
        s.kill_and_restart()
        # Published until someone receives it: rcm has subscribed again.
        deadline = time.monotonic() + 30
        while publish(publisher, "news", "after") == 0:
            assert time.monotonic() < deadline, "rcm never subscribed again after the restart"
            time.sleep(0.05)
        while publish(publisher, "ev:1", "after") == 0:
            assert time.monotonic() < deadline, "rcm never subscribed the pattern again"
            time.sleep(0.05)
        seen = []
        while not ({"news", "ev:*"} <= {g["channel"] for g in gaps} and len(seen) >= 2):
            m = wait_message(p)
            if m["type"] == "gap":
                gaps.append({**m, "channel": m["channel"].decode()})
            elif m["type"] in ("message", "pmessage"):
                seen.append(m)
        assert all(m["data"] == b"after" for m in seen)
        assert {m["channel"] for m in seen} >= {b"news", b"ev:1"}
        # No second gap for the same interruption.
        while (m := p.get_message(timeout=0.3)) is not None:
            assert m["type"] != "gap", m
        p.close()
    assert sorted(g["channel"] for g in gaps) == ["ev:*", "news"]
    for g in gaps:
        d = g["data"]
        assert d["kind"] == ("pattern" if g["channel"] == "ev:*" else "channel")
        assert before_kill - 60_000 < d["from_ms"] <= d["to_ms"], d
        assert d["node"].endswith(f":{s.port}"), d


def publish(client, channel, message):
    """PUBLISH's count, 0 when the publisher's own connection died with the server."""
    try:
        return client.publish(channel, message)
    except (rcm.ConnectionError, rcm.UncertainError):
        return 0


def confirmations_any(p, n):
    return [wait_message(p) for _ in range(n)]


def test_gap_goes_to_the_event_handler(private_server):
    s = private_server()
    events = []
    with rcm.Client(s.url) as c, rcm.Client(s.url) as publisher:
        p = c.pubsub(ignore_subscribe_messages=True, event_handler=events.append)
        p.subscribe("jobs")
        wait_subscribers(publisher, b"jobs")
        s.kill_and_restart()
        deadline = time.monotonic() + 30
        while publish(publisher, "jobs", "after") == 0:
            assert time.monotonic() < deadline, "rcm never subscribed again after the restart"
            time.sleep(0.05)
        m = wait_message(p)
        assert m["data"] == b"after"  # the gap did not come through get_message
        deadline = time.monotonic() + WAIT
        while not events and time.monotonic() < deadline:
            p.get_message(timeout=0.1)
        p.close()
    assert [e["type"] for e in events] == ["gap"] and events[0]["channel"] == b"jobs"


def test_slow_reader_gets_a_dropped_message(key):
    """Past pubsub_max_pending unread messages rcm drops the oldest, counts them in stats
    and says how many: one 'dropped' message, then the newest ones, in order."""
    from conftest import URL

    ch = key("slow").encode()
    with rcm.Client(URL, pubsub_max_pending=10) as c:
        p = c.pubsub()
        p.subscribe(ch)
        assert wait_message(p)["type"] == "subscribe"
        with c.pipeline() as pipe:
            for i in range(100):
                pipe.publish(ch, str(i))
            assert pipe.execute() == [1] * 100
        deadline = time.monotonic() + WAIT
        while c.stats()["pubsub"]["dropped"] < 90:  # all 100 reached rcm, 10 kept
            assert time.monotonic() < deadline, c.stats()["pubsub"]
            time.sleep(0.02)
        assert wait_message(p) == {"type": "dropped", "pattern": None, "channel": None, "data": 90}
        kept = [wait_message(p)["data"] for _ in range(10)]
        assert kept == [str(i).encode() for i in range(90, 100)]
        assert p.get_message(timeout=0.1) is None
        p.close()


def test_thousand_pubsubs_on_ten_channels_share_one_connection(key):
    """1000 PubSubs of one client on 10 channels: one subscriber connection, one server
    subscription per channel, and every PubSub gets its channel's message."""
    from conftest import URL

    names = [key(f"c{i}").encode() for i in range(10)]
    with rcm.Client(URL) as c:
        subs = [c.pubsub(ignore_subscribe_messages=True) for _ in range(1000)]
        try:
            for i, p in enumerate(subs):
                p.subscribe(names[i % 10])
            for n in names:
                wait_subscribers(c, n)
            stats = c.stats()["pubsub"]
            assert stats["subscribers"] == 1000 and stats["channels"] == 10, stats
            assert stats["subscriber_connections"] == 1, stats
            assert c.pubsub_numsub(*names) == [(n, 1) for n in names]
            for n in names:
                assert c.publish(n, n) == 1
            for i, p in enumerate(subs):
                assert wait_message(p) == {"type": "message", "pattern": None, "channel": names[i % 10],
                                           "data": names[i % 10]}
        finally:
            for p in subs:
                p.close()
