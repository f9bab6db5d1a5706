"""Threads: 16 Python threads share one client and make progress together; the GIL is
released while a command waits."""

from __future__ import annotations

import signal
import threading
import time

import rcm


def test_sixteen_threads_share_one_client(r, key):
    n_threads, n_ops = 16, 400
    errors = []
    start = threading.Barrier(n_threads)

    def worker(i):
        try:
            start.wait()
            for j in range(n_ops):
                k = key(f"t{i}")
                assert r.set(k, j) is True
                assert r.get(k) == str(j).encode()
                r.incr(key("total"))
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:3]
    assert r.get(key("total")) == str(n_threads * n_ops).encode()


def test_threads_progress_together(r, key):
    """No thread waits for the others to finish: each completes its first command before
    any thread completes its last (shown by order, not by a rate per time window, which
    a loaded machine cannot promise)."""
    n_threads, n_ops = 16, 200
    start = threading.Barrier(n_threads)
    order = []  # thread ids in completion order; list.append is atomic under the GIL

    def worker(i):
        start.wait(10)
        for _ in range(n_ops):
            r.incr(key(f"p{i}"))
            order.append(i)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(order) == n_threads * n_ops
    first = {i: order.index(i) for i in range(n_threads)}
    last = {i: len(order) - 1 - order[::-1].index(i) for i in range(n_threads)}
    assert max(first.values()) < min(last.values()), (
        f"thread {max(first, key=first.get)} completed its first INCR at {max(first.values())}, after thread "
        f"{min(last, key=last.get)} completed all {n_ops} of its own (at {min(last.values())})")
    for i in range(n_threads):
        assert int(r.get(key(f"p{i}"))) == n_ops


def test_gil_is_released_while_a_command_waits(private_server):
    s = private_server()
    with rcm.Client(s.url, command_timeout_ms=5000) as c:
        c.ping()
        counter = [0]
        stop = threading.Event()

        def spin():  # pure Python: runs only while nobody holds the GIL
            while not stop.is_set():
                counter[0] += 1

        t = threading.Thread(target=spin)
        t.start()
        try:
            s.signal(signal.SIGSTOP)
            threading.Timer(0.5, lambda: s.signal(signal.SIGCONT)).start()
            before = counter[0]
            assert c.ping() is True  # waits ~0.5 s for the stopped server
            during = counter[0] - before
        finally:
            stop.set()
            t.join()
            s.signal(signal.SIGCONT)
        assert during > 10_000, during


def test_blocked_lease_does_not_stop_the_other_threads(r, key):
    k = key("queue")
    got = []

    def consumer():
        with r.lease() as lease:
            got.append(lease.blpop(k, timeout=5))

    t = threading.Thread(target=consumer)
    t.start()
    # Once the consumer's BLPOP blocks on the server, the shared connections go on:
    # 50 INCRs complete while it still waits (no speed is asserted, only the order).
    deadline = time.monotonic() + 5
    while int(r.info("clients")["blocked_clients"]) < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    for _ in range(50):
        r.incr(key("n"))
    assert got == [], "the lease's BLPOP ended before the other thread's commands"
    r.rpush(k, "x")
    t.join(10)
    assert got == [(k.encode(), b"x")]
    assert int(r.get(key("n"))) == 50


def test_pipelines_from_many_threads(r, key):
    errors = []

    def worker(i):
        try:
            for j in range(50):
                with r.pipeline() as p:
                    for m in range(20):
                        p.set(key(f"{i}:{m}"), j)
                    p.get(key(f"{i}:0"))
                    out = p.execute()
                assert out[-1] == str(j).encode()
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:3]
