"""rcm.PubSub and threads: subscribing from one thread while another waits in
get_message()/listen(), close() ending a listen() in another thread, Ctrl-C in a wait
without limit, racing subscribe/unsubscribe/close, and fork(). (The client closed under
a waiting reader: test_close.py.)"""

from __future__ import annotations

import os
import signal
import threading
import time

import rcm

from test_fork import expect_fork_error, run_in_child
from test_pubsub import WAIT, wait_message, wait_subscribers


def test_subscribe_from_another_thread_while_get_message_waits(r, key):
    """The reader waits without limit on a PubSub that has no subscription yet; another
    thread subscribes and publishes; the reader gets both messages."""
    ch = key("ch").encode()
    p = r.pubsub()
    got, errors = [], []

    def reader():
        try:
            while len(got) < 2:
                m = p.get_message(timeout=None)
                if m is not None:
                    got.append(m)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    t = threading.Thread(target=reader)
    t.start()
    time.sleep(0.2)  # the reader is waiting (not asserted: only makes the case likely)
    p.subscribe(ch)
    wait_subscribers(r, ch)
    r.publish(ch, "hi")
    t.join(WAIT)
    assert not t.is_alive() and not errors, errors
    assert [m["type"] for m in got] == ["subscribe", "message"]
    p.close()


def test_subscribe_more_while_listen_runs(r, key):
    a, b = key("a").encode(), key("b").encode()
    got = []
    with r.pubsub(ignore_subscribe_messages=True) as p:
        p.subscribe(a)
        wait_subscribers(r, a)

        def listener():
            for m in p.listen():
                got.append(m["channel"])
                if len(got) == 2:
                    return

        t = threading.Thread(target=listener)
        t.start()
        p.subscribe(b)  # while the listener waits in rcm_subscriber_next
        wait_subscribers(r, b)
        r.publish(b, "1")
        r.publish(a, "2")
        t.join(WAIT)
        assert not t.is_alive()
    assert got == [b, a]


def test_close_while_listen_runs_in_another_thread(r, key):
    p = r.pubsub()
    p.subscribe(key("a"), key("b"))
    outcome = []

    def listener():
        try:
            for m in p.listen():
                outcome.append(m["type"])
            outcome.append("ended")
        except BaseException as e:  # noqa: BLE001
            outcome.append(e)

    t = threading.Thread(target=listener)
    t.start()
    deadline = time.monotonic() + WAIT
    while outcome.count("subscribe") < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert outcome == ["subscribe", "subscribe"]
    p.close()  # the listener waits without limit in the native subscriber
    t.join(WAIT)
    assert not t.is_alive(), "listen() still blocked after close()"
    assert outcome == ["subscribe", "subscribe", "ended"]
    assert not p.subscribed


def test_close_while_get_message_waits_for_a_first_subscription(r):
    p = r.pubsub()
    result = []
    t = threading.Thread(target=lambda: result.append(p.get_message(timeout=None)))
    t.start()
    time.sleep(0.1)
    p.close()
    t.join(WAIT)
    assert not t.is_alive() and result == [None]


def test_ctrl_c_interrupts_a_wait_without_limit(r, key):
    with r.pubsub() as p:
        p.subscribe(key())
        wait_message(p)
        timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
        try:
            timer.start()  # inside the try: the signal may come as soon as it starts
            p.get_message(timeout=None)
        except KeyboardInterrupt:
            interrupted = True
        else:
            interrupted = False
        timer.join()
        assert interrupted
        assert p.subscribed  # still usable
        p.ping()
        assert wait_message(p)["type"] == "pong"


def test_subscribe_unsubscribe_and_close_from_several_threads(r, key):
    """Four threads subscribe and unsubscribe their own channels while one reads, then
    one closes: no thread fails, and the reader ends."""
    errors = []
    names = [[key(f"t{i}:{j}") for j in range(20)] for i in range(4)]
    p = r.pubsub()
    p.subscribe(key("anchor"))
    stop = threading.Event()

    def churn(mine):
        try:
            for _ in range(20):
                p.subscribe(*mine)
                p.unsubscribe(*mine[:10])
        except rcm.RcmError as e:
            if not stop.is_set():
                errors.append(e)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    def reader():
        try:
            while not stop.is_set():
                p.get_message(timeout=0.05)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    rt = threading.Thread(target=reader)
    rt.start()
    workers = [threading.Thread(target=churn, args=(n,)) for n in names]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    # Every channel each thread left subscribed is live on the server eventually.
    for mine in names:
        wait_subscribers(r, mine[-1].encode())
    stop.set()
    p.close()
    rt.join(WAIT)
    assert not rt.is_alive()
    assert not errors, errors[:3]


def test_pubsub_in_a_child_raises_fork_error(r, key):
    with r.pubsub() as p:
        p.subscribe(key())
        wait_message(p)
        assert run_in_child(lambda: expect_fork_error(lambda: p.get_message(timeout=0.1))) == 0
        assert run_in_child(lambda: expect_fork_error(lambda: p.subscribe(key("other")))) == 0
        fresh = r.pubsub()
        assert run_in_child(lambda: expect_fork_error(lambda: fresh.subscribe(key("child")))) == 0
        # The parent's PubSub goes on.
        wait_subscribers(r, key().encode())
        r.publish(key(), "still here")
        assert wait_message(p)["data"] == b"still here"
