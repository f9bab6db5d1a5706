"""A pytest plugin that runs redis-py's own test suite (tag v4.3.4) with rcm behind its
fixtures, for bench/python/compat.sh.

Load it with ``-p rcm_compat_plugin`` (bench/python on PYTHONPATH). Environment:
  RCM_COMPAT_CLIENT  "rcm": redis-py's fixture helper ``tests.conftest._get_client`` builds
                     ``rcm.Client.from_url(url, **kwargs)`` instead of ``redis.Redis``;
                     "redis" (the baseline): redis-py's own helper, only watched.
                     For tests/test_asyncio (compat.sh --asyncio) the same for its
                     create_redis fixture, with rcm.asyncio.Client.from_url.
  RCM_COMPAT_OUT     a JSON-lines file: one record per test (outcome, whether it built a
                     client through the fixtures, its first exception's type and message).

No assertion and no test is changed: the plugin replaces the one helper every client
fixture (r, r2, r_timeout, ...) and many tests call, before the test modules import it,
and deselects the tests of redis-py's internals listed in compat_exclusions.py (the same
ones in both runs).
"""

from __future__ import annotations

import json
import os
import signal
from typing import Any, Dict, Optional

import pytest

from compat_exclusions import excluded_reason

_MODE = os.environ.get("RCM_COMPAT_CLIENT", "redis")
_OUT = os.environ.get("RCM_COMPAT_OUT", "")
# A test that hangs (a blocking call rcm sends where redis-py would raise) must not stop
# the run: SIGALRM fails it after this many seconds.
_TEST_TIMEOUT_S = int(os.environ.get("RCM_COMPAT_TEST_TIMEOUT_S", "30"))

_current: Dict[str, Any] = {}
_records: Dict[str, Dict[str, Any]] = {}


def _rcm_get_client(cls: Any, request: Any, single_connection_client: bool = True, flushdb: bool = True,
                    from_url: Optional[str] = None, **kwargs: Any) -> Any:
    """redis-py's _get_client with rcm.Client.from_url(url, **kwargs) in place of
    cls(connection_pool=ConnectionPool(**url_options)). single_connection_client is the
    fixture's own choice (redis-py then calls client.client()), not a client option."""
    import rcm

    url = from_url if from_url is not None else request.config.getoption("--redis-url")
    client = rcm.Client.from_url(url, **kwargs)
    _current["client"] = True
    if request:
        def teardown() -> None:
            # The fixtures' "with" has closed the client by now (redis-py's reconnects
            # on its next command; rcm's is closed for good): flush through the admin.
            client.close()
            if flushdb:
                _Admin.flushdb(kwargs.get("db", url))

        request.addfinalizer(teardown)
    return client


def _watching(original: Any) -> Any:
    def _get_client(*args: Any, **kwargs: Any) -> Any:
        _current["client"] = True
        return original(*args, **kwargs)

    return _get_client


def _rcm_create_redis(request: Any, event_loop: Any) -> Any:
    """redis-py's tests/test_asyncio/conftest.py create_redis fixture with
    rcm.asyncio.Client.from_url(url, **kwargs) in place of redis.asyncio.Redis on a
    ConnectionPool. Its params (single connection or pool, parser class) are kept so the
    test ids match redis-py's run; neither is an rcm client option (parser_class is
    redis-py's reply reader, and single_connection_client the fixture's own choice)."""
    import rcm.asyncio

    async def f(url: Optional[str] = None, cls: Any = None, flushdb: bool = True, **kwargs: Any) -> Any:
        kwargs.pop("single_connection_client", None)
        kwargs.pop("parser_class", None)
        url = url if url is not None else request.config.getoption("--redis-url")
        client = rcm.asyncio.Client.from_url(url, **kwargs)
        _current["client"] = True

        def teardown() -> None:
            async def aclose() -> None:
                await client.close()

            if event_loop.is_running():
                event_loop.create_task(aclose())
            else:
                event_loop.run_until_complete(aclose())
            if flushdb and "username" not in kwargs:
                _Admin.flushdb(kwargs.get("db", url))

        request.addfinalizer(teardown)
        return client

    return f


def _replace_create_redis(plugin: Any) -> None:
    """Swaps tests/test_asyncio/conftest.py's create_redis fixture (same params and ids)
    before pytest reads the module's fixtures; the baseline run keeps redis-py's and counts
    a test as building a client when it requests that fixture (pytest_runtest_protocol)."""
    original = getattr(plugin, "create_redis", None)
    marker = getattr(original, "_pytestfixturefunction", None)
    if marker is None or _MODE != "rcm" or getattr(original, "_rcm_compat", False):
        return
    fixture = pytest.fixture(params=marker.params, ids=marker.ids, name="create_redis")(_rcm_create_redis)
    fixture._rcm_compat = True  # type: ignore[attr-defined]
    plugin.create_redis = fixture


@pytest.hookimpl(tryfirst=True)  # before pytest's FixtureManager parses the conftest's fixtures
def pytest_plugin_registered(plugin: Any, manager: Any) -> None:
    if getattr(plugin, "__name__", "").endswith("test_asyncio.conftest"):
        _replace_create_redis(plugin)
        return
    # redis-py's tests/conftest.py: swap its helper before any test module runs
    # "from .conftest import _get_client".
    original = getattr(plugin, "_get_client", None)
    if original is None or not getattr(plugin, "__name__", "").endswith("conftest"):
        return
    if getattr(original, "_rcm_compat", False):
        return
    replacement = _rcm_get_client if _MODE == "rcm" else _watching(original)
    replacement._rcm_compat = True  # type: ignore[attr-defined]
    plugin._get_client = replacement


def pytest_collection_modifyitems(config: Any, items: list) -> None:
    kept, dropped = [], []
    for item in items:
        (dropped if excluded_reason(item.nodeid) else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
    if _OUT:
        with open(_OUT, "a", encoding="utf-8") as f:
            for item in dropped:
                f.write(json.dumps({"nodeid": item.nodeid, "outcome": "excluded", "client": False,
                                    "etype": "", "msg": excluded_reason(item.nodeid)}) + "\n")


class _Admin:
    """One redis-py connection opened before any test: it stays authenticated when a test
    sets requirepass and dies before its teardown clears it (rcm lacking the method the
    teardown calls), so that one test's failure does not fail every later one."""

    conn: Any = None
    db: int = 0

    url: str = ""

    @classmethod
    def open(cls, url: str) -> None:
        import redis

        cls.url = url
        cls.conn = redis.Redis(connection_pool=redis.ConnectionPool.from_url(url), single_connection_client=True)
        cls.conn.ping()
        cls.db = cls.conn.connection_pool.connection_kwargs.get("db", 0)

    @classmethod
    def flushdb(cls, db_or_url: Any) -> None:
        if isinstance(db_or_url, str):
            from redis.connection import parse_url

            db_or_url = parse_url(db_or_url).get("db", 0)
        cls.reset()
        cls.conn.execute_command("SELECT", int(db_or_url))
        try:
            cls.conn.flushdb()
        finally:
            cls.conn.execute_command("SELECT", cls.db)

    @classmethod
    def reset(cls) -> None:
        """Clears a requirepass a failed test left (a test may also have killed this
        connection with CLIENT KILL: then a new one, which works unless a password is set)."""
        import redis

        if cls.conn is None:
            return
        try:
            cls.conn.ping()
        except redis.ConnectionError:
            cls.open(cls.url)
        if cls.conn.config_get("requirepass").get("requirepass"):
            cls.conn.config_set("requirepass", "")


def pytest_sessionstart(session: Any) -> None:
    _Admin.open(session.config.getoption("--redis-url"))


def _alarm(signum: int, frame: Any) -> None:
    raise TimeoutError(f"rcm_compat_plugin: the test ran longer than {_TEST_TIMEOUT_S} s")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: Any, nextitem: Any) -> Any:
    _current.clear()
    _records[item.nodeid] = {"nodeid": item.nodeid, "outcome": "passed", "client": False,
                             "etype": "", "msg": ""}
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(_TEST_TIMEOUT_S)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        _Admin.reset()
    rec = _records[item.nodeid]
    rec["client"] = bool(_current.get("client")) or (
        _MODE != "rcm" and "create_redis" in getattr(item, "fixturenames", ()))
    if _OUT:
        with open(_OUT, "a", encoding="utf-8") as f:
            f.write(json.dumps(rec) + "\n")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Any:
    outcome = yield
    report = outcome.get_result()
    rec = _records.get(item.nodeid)
    if rec is None:
        return
    if report.skipped and rec["outcome"] == "passed":
        rec["outcome"] = "skipped"
    elif report.failed and rec["outcome"] in ("passed", "skipped"):
        # The first failure counts (a teardown error after a failed call does not replace it).
        rec["outcome"] = "failed"
        exc = call.excinfo
        if exc is not None:
            rec["etype"] = exc.type.__name__
            rec["msg"] = str(exc.value).split("\n", 1)[0][:300]
            rec["phase"] = call.when
