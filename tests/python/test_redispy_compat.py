"""What code written for redis-py 4.3.4 relies on beyond the commands (issue 14): its
exception classes, dict-style access, client-side DataErrors, status values as bytes,
several-argument CONFIG/INFO, hmset's DeprecationWarning and its constructor options.
bench/python/compat.sh measures the same against redis-py's own suite; these tests pin
each behaviour here, against the harness's real server.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import rcm
from rcm._config import config_items

from conftest import PASSWORD_PORT, URL

redis = pytest.importorskip("redis", reason="redis-py is not installed: nothing to be compatible with")


# ---- exceptions -----------------------------------------------------------------------

@pytest.mark.parametrize("ours, theirs", [
    ("RcmError", "RedisError"),
    ("ConnectionError", "ConnectionError"),
    ("TimeoutError", "TimeoutError"),
    ("AuthenticationError", "AuthenticationError"),
    ("ResponseError", "ResponseError"),
    ("DataError", "DataError"),
    ("NoScriptError", "NoScriptError"),
    ("ExecAbortError", "ExecAbortError"),
    ("ReadOnlyError", "ReadOnlyError"),
    ("BusyLoadingError", "BusyLoadingError"),
    ("NoPermissionError", "NoPermissionError"),
    ("WatchError", "WatchError"),
    ("CrossSlotError", "ClusterCrossSlotError"),
    ("ClusterDownError", "ClusterDownError"),
    ("LockError", "LockError"),
    ("LockNotOwnedError", "LockNotOwnedError"),
])
def test_each_exception_derives_from_its_redis_py_counterpart(ours, theirs):
    assert issubclass(getattr(rcm, ours), getattr(redis.exceptions, theirs))


def test_redis_py_except_clauses_catch_rcm_errors(r, key):
    r.set(key(), "text")
    with pytest.raises(redis.ResponseError):
        r.lpush(key(), 1)
    with pytest.raises(redis.DataError):
        r.set(key(), None)
    with pytest.raises(redis.exceptions.NoScriptError):
        r.evalsha("0" * 40, 0)
    with pytest.raises(redis.exceptions.ReadOnlyError):
        r.execute_command("DEBUG", "ERROR", "READONLY fake")


@pytest.mark.parametrize("reply", [
    "ERR invalid password",
    "ERR Client sent AUTH, but no password is set",
    "WRONGPASS invalid username-password pair or user is disabled.",
    "NOAUTH Authentication required.",
])
def test_authentication_replies_are_authentication_error(r, reply):
    with pytest.raises(rcm.AuthenticationError) as e:
        r.execute_command("DEBUG", "ERROR", reply)
    assert isinstance(e.value, redis.AuthenticationError)


def test_a_longer_err_reply_is_not_taken_for_an_authentication_error(r):
    with pytest.raises(rcm.ResponseError) as e:
        r.execute_command("DEBUG", "ERROR", "ERR invalid passwords are fun")
    assert not isinstance(e.value, rcm.AuthenticationError)


def test_wrong_password_is_authentication_error():
    with pytest.raises(redis.AuthenticationError):
        rcm.Client(f"redis://:wrong@127.0.0.1:{PASSWORD_PORT}").ping()


def test_loading_past_the_deadline_is_busy_loading_error():
    # DEBUG ERROR makes the server answer LOADING every time: rcm retries it until the
    # deadline, then says what redis-py says at once.
    with rcm.Client(URL, command_timeout_ms=300) as c:
        with pytest.raises(rcm.BusyLoadingError) as e:
            c.execute_command("DEBUG", "ERROR", "LOADING fake message")
    assert isinstance(e.value, redis.BusyLoadingError)
    assert isinstance(e.value, rcm.TimeoutError)  # what it was before it had its name
    assert "LOADING fake message" in str(e.value)


def test_without_redis_py_rcm_imports_and_raises_its_own():
    code = ("import sys, rcm\n"
            "assert 'redis' not in sys.modules, 'redis-py was imported'\n"
            "assert rcm.ResponseError.__mro__[1:3] == (rcm.RcmError, Exception), rcm.ResponseError.__mro__\n"
            "print('ok')\n")
    env = dict(os.environ, RCM_REDIS_PY_EXCEPTIONS="0")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr


# ---- dict-style access ----------------------------------------------------------------

def test_dict_style_access(r, key):
    k = key()
    assert k not in r
    with pytest.raises(KeyError):
        r[k]
    r[k] = "v"
    assert k in r
    assert r[k] == b"v"
    del r[k]
    assert r.get(k) is None


# ---- client-side checks ---------------------------------------------------------------

def test_client_side_data_errors(r, key):
    k = key()
    r.set(k, "a string")  # the server would answer WRONGTYPE: a DataError was not sent
    cases = [
        lambda: r.set(k, "1", ex=10.0),
        lambda: r.set(k, "1", px=1.5),
        lambda: r.zadd(k, {}),
        lambda: r.zadd(k, {"a": 1}, nx=True, xx=True),
        lambda: r.zadd(k, {"a": 1}, gt=True, lt=True),
        lambda: r.zadd(k, {"a": 1}, nx=True, gt=True),
        lambda: r.zadd(k, {"a": 1, "b": 2}, incr=True),
        lambda: r.zrange(k, 0, 1, byscore=True, bylex=True),
        lambda: r.zrange(k, 0, 1, bylex=True, withscores=True),
        lambda: r.zrange(k, 0, 1, byscore=True, offset=4),
        lambda: r.zrange(k, 0, 1, byscore=True, num=2),
        lambda: r.zmscore(k, []),
        lambda: r.hset(k),
        lambda: r.script_flush("NOTREAL"),
    ]
    for i, case in enumerate(cases):
        with pytest.raises(rcm.DataError):
            case()
    assert r.get(k) == b"a string"
    assert r.set(k, "1", ex="10") and 0 < r.ttl(k) <= 10


def test_mget_of_no_keys_is_an_empty_list(r, key):
    assert r.mget([]) == []
    for transaction in (False, True):
        with r.pipeline(transaction=transaction) as p:
            p.set(key(), 1).mget([]).set(key("c"), 3)
            assert p.execute() == [True, [], True]


# ---- return values and arguments ------------------------------------------------------

def test_type_is_bytes_unless_decoding(r, rd, key):
    r.set(key(), "x")
    assert r.type(key()) == b"string"
    assert r.type(key("none")) == b"none"
    assert rd.type(key()) == "string"


def test_config_and_info_take_several_arguments(r):
    cfg = r.config_get("maxmemory-samples", "timeout")
    assert set(cfg) == {"maxmemory-samples", "timeout"}
    assert r.config_set("maxmemory-samples", cfg["maxmemory-samples"], "timeout", cfg["timeout"]) is True
    info = r.info("server", "clients")
    assert "redis_version" in info and "connected_clients" in info


def test_hmset_warns_as_redis_py(r, key):
    with pytest.warns(DeprecationWarning, match="hmset"):
        r.hmset(key(), {"a": 1})
    assert r.hget(key(), "a") == b"1"


# ---- constructor options --------------------------------------------------------------

def test_redis_py_options_with_an_rcm_meaning_are_mapped():
    from redis.backoff import ConstantBackoff, ExponentialBackoff
    from redis.retry import Retry

    items = dict(config_items({
        "health_check_interval": 2,
        "max_connections": 7,
        "single_connection_client": True,
        "retry": Retry(ExponentialBackoff(cap=1, base=0.02), 3),
    }))
    assert items == {"pool.health_check_ms": "2000", "pool.max_leases": "7", "pool.size": "1",
                     "retry.max_attempts": "4", "retry.unsafe": "true", "retry.backoff_ms": "20",
                     "retry.backoff_max_ms": "1000"}
    assert dict(config_items({"retry_on_timeout": True})) == {"retry.unsafe": "true"}
    assert dict(config_items({"retry_on_timeout": False, "single_connection_client": False})) == {}
    assert dict(config_items({"retry": Retry(ConstantBackoff(0.5), 0)})) == {
        "retry.max_attempts": "1", "retry.backoff_ms": "500", "retry.backoff_max_ms": "500"}
    assert dict(config_items({"retry_on_error": [redis.ConnectionError, redis.BusyLoadingError]})) == {
        "retry.unsafe": "true"}


def test_redis_py_options_harmless_to_ignore_are_accepted(url):
    with rcm.Client(url, socket_keepalive=True, socket_keepalive_options={}, parser_class=object,
                    ssl_validate_ocsp=False, health_check_interval=30, max_connections=20) as c:
        assert c.ping() is True


@pytest.mark.parametrize("kwargs, named", [
    ({"unix_socket_path": "/tmp/redis.sock"}, "unix_socket_path"),
    ({"connection_pool": object()}, "connection_pool"),
    ({"ssl_validate_ocsp": True}, "ssl_validate_ocsp"),
    ({"charset": "latin-1"}, "charset"),
    ({"retry_on_error": [redis.ReadOnlyError]}, "ReadOnlyError"),
    ({"retry": "three"}, "retry"),
])
def test_redis_py_options_rcm_cannot_honour_are_refused_by_name(url, kwargs, named):
    with pytest.raises(rcm.ConfigError, match=named):
        rcm.Client(url, **kwargs)


def test_status_replies_without_conversion_are_bytes_unless_decoding(r, rd, key):
    # RESTORE has no response callback in redis-py 4.3.4: its OK comes back as it is read.
    payload = (r.set(key(), "v"), r.dump(key()))[1]
    assert r.restore(key("copy"), 0, payload) == b"OK"
    assert rd.restore(key("copy2"), 0, payload) == "OK"
    with r.lease() as lease:
        assert lease.restore(key("copy3"), 0, payload) == b"OK"
        assert lease.multi() is True
        assert lease.get(key()) == "QUEUED"  # inside MULTI: the raw reply, as before
        assert lease.exec() == [b"v"]


def test_pipeline_watching(r, key):
    a = key("a")
    r[a] = 1
    with r.pipeline() as pipe:
        assert not pipe.watching
        pipe.watch(a)
        assert pipe.watching
        assert pipe.get(a) == b"1"  # watching: commands run at once
        pipe.multi()
        pipe.set(a, 2)
        assert pipe.execute() == [True]
        assert not pipe.watching
    with r.pipeline() as pipe:
        pipe.watch(a)
        pipe.unwatch()
        assert not pipe.watching
        assert pipe.get(a) is pipe  # queued again, as in redis-py
        assert pipe.execute() == [b"2"]
        pipe.watch(a)
        pipe.reset()
        assert not pipe.watching


def test_replies_redis_py_leaves_unconverted(r, key):
    r.set(key(), "short")
    assert r.object("encoding", key()) == b"embstr"  # redis-py 4.3.4: bytes, no callback
    assert r.client_unpause() == b"OK"
    with pytest.raises(ValueError):  # int("wrong"), as redis-py: not sent to the server
        r.xautoclaim(key("s"), "g", "c", min_idle_time="wrong")
