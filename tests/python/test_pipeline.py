"""Pipelines and transactions: order, errors, MULTI/EXEC, WATCH and Client.transaction()."""

from __future__ import annotations

import threading

import pytest

import rcm


def test_replies_in_order(r, key):
    k = key()
    with r.pipeline() as p:
        for i in range(100):
            p.rpush(k, i)
        p.lrange(k, 0, 2).llen(k).get(key("none"))
        out = p.execute()
    assert out[:100] == list(range(1, 101))
    assert out[100:] == [[b"0", b"1", b"2"], 100, None]


def test_helpers_chain_and_convert(r, key):
    p = r.pipeline()
    assert p.set(key(), 1) is p
    p.get(key()).exists(key()).sismember(key("s"), 1).hgetall(key("h")).ping()
    assert len(p) == 6
    assert p.execute() == [True, b"1", 1, False, {}, True]
    assert len(p) == 0
    assert p.execute() == []  # empty: nothing sent


def test_execute_command_in_a_pipeline(r, key):
    with r.pipeline() as p:
        p.execute_command("SET", key(), "v")
        p.execute_command("GET", key())
        assert p.execute() == [True, b"v"]  # SET through redis-py's callback, as there


def test_errors_raise_after_every_command_ran(r, key):
    k = key()
    r.set(k, "not a list")
    with r.pipeline() as p:
        p.set(key("a"), 1).lpush(k, 1).set(key("b"), 2)
        with pytest.raises(rcm.ResponseError) as e:
            p.execute()
    assert "WRONGTYPE" in str(e.value)
    assert "Command # 2 (LPUSH" in str(e.value)
    assert r.get(key("a")) == b"1" and r.get(key("b")) == b"2"


def test_errors_returned_in_place(r, key):
    k = key()
    r.set(k, "x")
    with r.pipeline() as p:
        p.incr(k).get(k).execute_command("NOSUCHCOMMAND")
        out = p.execute(raise_on_error=False)
    assert isinstance(out[0], rcm.ResponseError)
    assert out[1] == b"x"
    assert isinstance(out[2], rcm.ResponseError) and "unknown command" in str(out[2])


def test_blocking_command_in_a_pipeline_is_refused(r, key):
    with r.pipeline() as p:
        p.blpop(key(), 1)
        with pytest.raises(rcm.ArgumentError):
            p.execute()


def test_transaction_wraps_in_multi_exec(r, key):
    k = key()
    with r.pipeline(transaction=True) as p:
        p.incr(k).incr(k).get(k)
        assert p.execute() == [1, 2, b"2"]


def test_transaction_runtime_error_does_not_abort(r, key):
    k = key()
    r.set(k, "x")
    with r.pipeline(transaction=True) as p:
        p.set(key("a"), 1).lpush(k, 1).get(key("a"))
        out = p.execute(raise_on_error=False)
    assert out[0] is True and isinstance(out[1], rcm.ResponseError) and out[2] == b"1"


def test_transaction_queue_error_aborts(r, key):
    with r.pipeline(transaction=True) as p:
        p.set(key("a"), 1)
        p.execute_command("SET", key("b"))  # wrong number of arguments: refused at queue time
        with pytest.raises(rcm.ResponseError) as e:
            p.execute()
    assert "wrong number of arguments" in str(e.value)
    assert r.get(key("a")) is None  # EXECABORT: nothing ran


def test_explicit_multi(r, key):
    p = r.pipeline()
    p.multi()
    p.set(key(), 1).get(key())
    assert p.execute() == [True, b"1"]
    with pytest.raises(rcm.StateError):
        p.multi()
        p.multi()
    p.reset()
    p.set(key(), 2)
    with pytest.raises(rcm.StateError):
        p.multi()


def test_watch_then_multi(r, key):
    k = key()
    r.set(k, 5)
    with r.pipeline() as p:
        p.watch(k)
        value = int(p.get(k))  # immediate while watching
        p.multi()
        p.set(k, value + 1)
        assert p.execute() == [True]
    assert r.get(k) == b"6"


def test_watch_detects_a_change(r, key):
    k = key()
    r.set(k, 1)
    with r.pipeline() as p:
        p.watch(k)
        r.set(k, 2)  # another connection changes it
        p.multi()
        p.set(k, 3)
        with pytest.raises(rcm.WatchError):
            p.execute()
    assert r.get(k) == b"2"


def test_client_transaction_retries_on_watch_error(r, key):
    k = key()
    r.set(k, 0)
    calls = []

    def incr(pipe):
        v = int(pipe.get(k))
        calls.append(v)
        if len(calls) == 1:
            r.set(k, 100)  # a competitor wins the first round
        pipe.multi()
        pipe.set(k, v + 1)
        return v

    assert r.transaction(incr, k) == [True]
    assert calls == [0, 100]
    assert r.get(k) == b"101"
    assert r.transaction(incr, k, value_from_callable=True, watch_delay=0.01) == 101


def test_concurrent_transactions_lose_no_update(r, key):
    k = key()
    r.set(k, 0)

    def worker():
        for _ in range(25):
            def incr(pipe):
                v = int(pipe.get(k))
                pipe.multi()
                pipe.set(k, v + 1)
            r.transaction(incr, k)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert r.get(k) == b"100"


def test_transaction_without_watches(r, key):
    def fill(pipe):
        pipe.set(key("a"), 1)
        pipe.incr(key("a"))

    assert r.transaction(fill) == [True, 2]


def test_pipeline_of_many_commands(r, key):
    with r.pipeline() as p:
        for i in range(10_000):
            p.set(key(f"n{i % 50}"), i)
        out = p.execute()
    assert len(out) == 10_000 and all(out)


def test_unwatch_and_reset(r, key):
    k = key()
    p = r.pipeline()
    assert p.unwatch() is True  # nothing watched: nothing to do
    p.watch(k)
    r.set(k, "changed")
    assert p.unwatch() is True  # the change no longer matters
    p.multi()
    p.set(k, "mine")
    assert p.execute() == [True]
    p.set(k, "queued")
    p.reset()
    assert len(p) == 0 and p.execute() == []
    assert r.get(k) == b"mine"
