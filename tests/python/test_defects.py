"""Defects of the binding found by review (issue 14), each pinned by a test that failed
before its fix: argument buffers, slot range, error text, Ctrl-C during long waits,
close() while a thread waits for a lease, redis-py's reply semantics."""

from __future__ import annotations

import threading

import pytest

import rcm
from rcm import _native

from conftest import URL


def test_argument_buffers_shrink_after_a_big_command(r, key):
    # Each thread keeps its argument arrays between calls; one huge command must not
    # leave its size behind for the life of the thread.
    k = key()
    held = {}

    def big() -> None:
        r.rpush(k, *range(200_000))
        r.get(k + "x")  # an ordinary command after it
        held["after"] = _native._argv_held()

    t = threading.Thread(target=big)
    t.start()
    t.join(60)
    assert r.llen(k) == 200_000
    assert held["after"] < 1024 * 1024, held


def test_slot_out_of_range_is_an_argument_error(r, key):
    # 2**32 + 5 must not be cut to slot 5.
    for slot in (2**32 + 5, 16384, -1, 2**70):
        with pytest.raises(rcm.ArgumentError, match="slot"):
            r.execute_command("GET", key(), slot=slot)
    assert r.execute_command("GET", key(), slot=5) is None


def test_error_text_drops_the_err_code_as_redis_py(r, key):
    with pytest.raises(rcm.ResponseError) as e:
        r.execute_command("NOSUCHCOMMAND")
    assert str(e.value).startswith("unknown command")
    r.set(key(), "x")
    with pytest.raises(rcm.ResponseError) as e:
        r.lpush(key(), 1)
    assert str(e.value).startswith("WRONGTYPE")  # only ERR and a few others are dropped
    with pytest.raises(rcm.NoScriptError) as e:
        r.evalsha("0" * 40, 0)
    assert not str(e.value).startswith("NOSCRIPT")
