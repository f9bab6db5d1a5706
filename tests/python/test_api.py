"""The package's surface: exports, versions, typing files, the exception hierarchy and the
config keyword mapping."""

from __future__ import annotations

import builtins
import pathlib
import re

import pytest

import rcm
import rcm.asyncio
import rcm.exceptions
from rcm import _native
from rcm._config import c_key, config_items

from conftest import URL


def test_all_names_exist():
    for name in rcm.__all__:
        assert hasattr(rcm, name), name
    for name in rcm.exceptions.__all__:
        assert hasattr(rcm.exceptions, name), name
    for name in rcm.asyncio.__all__:
        assert hasattr(rcm.asyncio, name), name


def test_versions_agree():
    assert rcm.LIBRARY_VERSION == _native.version() == _native.header_version()
    assert rcm.__version__ == rcm.LIBRARY_VERSION


def test_typing_files_ship_with_the_package():
    pkg = pathlib.Path(rcm.__file__).parent
    assert (pkg / "py.typed").is_file()
    assert (pkg / "_native.pyi").is_file()
    assert (pkg / "__init__.pyi").is_file() or (pkg / "__init__.py").is_file()


def test_status_constants_are_the_headers():
    assert _native.RCM_OK == 0
    assert _native.RCM_ERR_ARG == -1
    assert _native.RCM_ERR_FORK == -18
    assert _native.RCM_ERR_NO_LEADER == -19
    assert _native.RCM_ERR_INTERNAL == -99
    for name, value in _native.STATUSES.items():
        assert _native.status_name(value) == name


def test_every_failure_status_maps_to_its_class():
    for name, status in _native.STATUSES.items():
        if status == 0:
            continue
        exc = _native.error_for_status(status, "words")
        assert isinstance(exc, rcm.RcmError), name
        assert type(exc) is rcm.exceptions.error_class(status), name
        assert exc.status == status, name
        assert exc.status_name == name
        assert str(exc) == "words"


def test_unknown_status_is_internal_error_naming_it():
    exc = _native.error_for_status(-77, "future")
    assert isinstance(exc, rcm.InternalError)
    assert "-77" in str(exc) and "future" in str(exc)


@pytest.mark.parametrize(
    "cls, bases",
    [
        (rcm.ConnectionError, (rcm.RcmError, builtins.ConnectionError)),
        (rcm.TimeoutError, (rcm.RcmError, builtins.TimeoutError)),
        (rcm.PoolTimeoutError, (rcm.TimeoutError, builtins.TimeoutError)),
        (rcm.AuthenticationError, (rcm.ConnectionError,)),
        (rcm.TLSError, (rcm.ConnectionError,)),
        (rcm.ConfigError, (rcm.RcmError, ValueError)),
        (rcm.DataError, (rcm.ArgumentError, TypeError)),
        (rcm.ResponseError, (rcm.RcmError,)),
        (rcm.CrossSlotError, (rcm.ResponseError,)),
        (rcm.ClusterDownError, (rcm.ResponseError,)),
        (rcm.NoScriptError, (rcm.ResponseError,)),
        (rcm.UncertainError, (rcm.RcmError,)),
        (rcm.ClosedError, (rcm.RcmError,)),
        (rcm.ForkError, (rcm.RcmError,)),
        (rcm.NoLeaderError, (rcm.RcmError,)),
        (rcm.WatchError, (rcm.RcmError,)),
    ],
)
def test_hierarchy(cls, bases):
    for b in bases:
        assert issubclass(cls, b)


def test_uncertain_is_not_a_connection_error():
    # Retrying on ConnectionError must never resend a write whose outcome is unknown.
    assert not issubclass(rcm.UncertainError, builtins.ConnectionError)


@pytest.mark.parametrize(
    "reply, cls",
    [
        ("ERR unknown command", rcm.ResponseError),
        ("WRONGTYPE Operation against a key", rcm.ResponseError),
        ("NOSCRIPT No matching script", rcm.NoScriptError),
        ("EXECABORT Transaction discarded", rcm.ExecAbortError),
        ("READONLY You can't write against a read only replica.", rcm.ReadOnlyError),
        ("LOADING Redis is loading", rcm.BusyLoadingError),
        ("CROSSSLOT Keys in request don't hash to the same slot", rcm.CrossSlotError),
        ("CLUSTERDOWN The cluster is down", rcm.ClusterDownError),
    ],
)
def test_server_error_prefixes(reply, cls):
    exc = _native.error_for_reply(reply)
    assert type(exc) is cls
    # redis-py's parse_error drops ERR, EXECABORT, LOADING, NOSCRIPT, READONLY, NOAUTH
    # and NOPERM from the text; the other codes stay.
    code, _, rest = reply.partition(" ")
    assert str(exc) == (rest if code in ("ERR", "EXECABORT", "LOADING", "NOSCRIPT", "READONLY") else reply)


@pytest.mark.parametrize(
    "kw, key",
    [
        ("pool_size", "pool.size"),
        ("pool_max_leases", "pool.max_leases"),
        ("pool_lease_timeout_ms", "pool.lease_timeout_ms"),
        ("retry_unsafe", "retry.unsafe"),
        ("retry_backoff_max_ms", "retry.backoff_max_ms"),
        ("tls_ca", "tls.ca"),
        ("tls_server_name", "tls.server_name"),
        ("topology_refresh_ms", "topology.refresh_ms"),
        ("cluster_max_redirects", "cluster.max_redirects"),
        ("sentinel_master", "sentinel.master"),
        ("command_timeout_ms", "command_timeout_ms"),
        ("read_from", "read_from"),
        ("pool.size", "pool.size"),
        ("ssl", "tls"),
    ],
)
def test_config_keyword_names(kw, key):
    assert c_key(kw) == key


def test_config_values_become_strings():
    items = config_items({"retry_unsafe": True, "pool_size": 4, "password": None, "tls_verify": False,
                          "socket_timeout": 1.5, "host": "127.0.0.1", "port": 6380})
    assert items == [("seeds", "127.0.0.1:6380"), ("retry.unsafe", "true"), ("pool.size", "4"),
                     ("tls.verify", "false"), ("command_timeout_ms", "1500")]


def test_every_c_config_key_is_accepted_as_a_keyword():
    # Opening needs a server; the keys are checked when the config is built (before).
    keys = dict(pool_size=2, pool_max_leases=4, pool_lease_timeout_ms=500, pool_max_pending=1000,
                pool_health_check_ms=0, connect_timeout_ms=1000, command_timeout_ms=1000,
                retry_max_attempts=3, retry_backoff_ms=10, retry_backoff_max_ms=100, retry_unsafe=False,
                read_from="primary", topology_refresh_ms=30000, cluster_max_redirects=5, io_threads=1, io_spin_us=20,
                sync_spin_us=50,
                client_name="rcm-py", db=0, mode="standalone")
    with rcm.Client(URL, **keys) as c:
        assert c.ping() is True


def test_redis_alias_and_from_url():
    assert rcm.Redis is rcm.Client
    with rcm.from_url(URL) as c:
        assert isinstance(c, rcm.Client)
    with rcm.Client.from_url(URL, decode_responses=True) as c:
        assert c.decode_responses is True


def c_config_keys() -> list[str]:
    """The config keys rcm.h documents (its 'Keys (rcm_config_set)' list)."""
    from conftest import SOURCE_DIR

    header = (SOURCE_DIR / "capi" / "include" / "rcm" / "rcm.h").read_text()
    block = header[header.index("Keys (rcm_config_set)"):header.index("Booleans accept")]
    keys = []
    for line in block.splitlines()[1:]:
        m = re.match(r"^ \*   ([a-z_.]+(?:, [a-z_.]+)*)\s", line)
        if m:
            keys += m.group(1).split(", ")
    return keys


def test_every_documented_c_key_has_a_keyword():
    keys = c_config_keys()
    assert {"pool.size", "retry.unsafe", "tls.ca", "command_timeout_ms", "sentinel.password"} <= set(keys)
    for key in keys:
        assert c_key(key.replace(".", "_")) == key, key


def test_every_documented_c_key_is_accepted(url):
    values = {"mode": "standalone", "seeds": url.split("//")[1], "read_from": "primary", "tls": False,
              "tls.verify": True, "tls.verify_hostname": True, "retry.unsafe": False, "username": "default", "password": "",
              "tls.ca": "", "tls.cert": "", "tls.key": "", "tls.server_name": "localhost",
              "sentinel.master": "mymaster", "sentinel.username": "", "sentinel.password": "",
              "client_name": "rcm-py-test", "db": 0, "max_reply_bytes": 1 << 20}
    kwargs = {k.replace(".", "_"): values.get(k, 1000 if k.endswith("_ms") else 2) for k in c_config_keys()}
    kwargs["pool_health_check_ms"] = 0
    with rcm.Client(**kwargs) as c:
        assert c.ping() is True
