"""Keyword arguments of rcm.Client -> (key, value) strings for rcm_config_set."""

from __future__ import annotations

import datetime
from typing import Any

from ._cache import cache_options
from ._options import redis_py_options
from .exceptions import ConfigError

# Keys whose dotted C name starts with one of these: "pool_size" -> "pool.size",
# "tls_server_name" -> "tls.server_name". Every other key is the C name already
# ("command_timeout_ms", "read_from"), and a dotted key passes through as it is
# (Client(**{"pool.size": 4})). Keys rcm does not know are rejected by the C library,
# whose ConfigError names them.
_DOTTED_PREFIXES = ("pool_", "retry_", "tls_", "topology_", "cluster_", "sentinel_", "pubsub_", "cache_")

# redis-py's spellings of the same settings.
_ALIASES = {
    "ssl": "tls",
    "ssl_ca_certs": "tls.ca",
    "ssl_certfile": "tls.cert",
    "ssl_keyfile": "tls.key",
    # Only the name check: the chain is still verified (ssl_cert_reqs says whether).
    "ssl_check_hostname": "tls.verify_hostname",
    "socket_timeout": "command_timeout_ms",          # seconds -> ms
    "socket_connect_timeout": "connect_timeout_ms",  # seconds -> ms
}
_SECONDS = {"socket_timeout", "socket_connect_timeout"}

# redis-py's ssl_cert_reqs -> tls.verify. A client always gets the server's certificate,
# so "optional" verifies it as "required" does (Python's ssl module: "In client mode,
# CERT_OPTIONAL has the same meaning as CERT_REQUIRED"). ssl.CERT_* are 0, 1, 2.
_CERT_REQS = {"none": "false", "cert_none": "false", "0": "false",
              "optional": "true", "cert_optional": "true", "1": "true",
              "required": "true", "cert_required": "true", "2": "true"}


def _cert_reqs(value: Any) -> str:
    if isinstance(value, bool):  # not a VerifyMode: True/False would read as 1/0
        raise ConfigError(f"ssl_cert_reqs: {value!r} is not none, optional or required (or an ssl.CERT_* value)")
    key = str(int(value)) if isinstance(value, int) else str(value).lower()
    if key not in _CERT_REQS:
        raise ConfigError(f"ssl_cert_reqs: {value!r} is not none, optional or required (or an ssl.CERT_* value)")
    return _CERT_REQS[key]


def c_key(name: str) -> str:
    """The rcm_config_set key for a Python keyword."""
    if name in _ALIASES:
        return _ALIASES[name]
    for prefix in _DOTTED_PREFIXES:
        if name.startswith(prefix):
            return prefix[:-1] + "." + name[len(prefix):]
    return name


def c_value(value: Any) -> str:
    """bool -> "true"/"false", numbers and paths -> their text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.timedelta):
        return str(int(value.total_seconds() * 1000))
    if isinstance(value, (list, tuple)):  # seeds=["h1:1", "h2:2"]
        return ",".join(str(v) for v in value)
    return str(value) if not isinstance(value, str) else value


def config_items(kwargs: dict[str, Any]) -> list[tuple[str, str]]:
    """The (key, value) pairs for rcm_config_set, in keyword order. None means "default",
    except socket_timeout=None: no deadline, as in redis-py."""
    kwargs = redis_py_options(cache_options(kwargs))
    items: list[tuple[str, str]] = []
    host = kwargs.pop("host", None)
    port = kwargs.pop("port", None)
    if host is not None or port is not None:
        h = str(host if host is not None else "127.0.0.1")
        if ":" in h and not h.startswith("["):
            h = "[" + h + "]"
        items.append(("seeds", f"{h}:{port if port is not None else 6379}"))
    for name, value in kwargs.items():
        if value is None:
            if name == "socket_timeout":  # redis-py: None waits without limit (rcm: 0)
                items.append(("command_timeout_ms", "0"))
            continue
        if name in _SECONDS:
            value = int(round(float(value) * 1000))
        if name == "ssl_cert_reqs":
            items.append(("tls.verify", _cert_reqs(value)))
            continue
        items.append((c_key(name), c_value(value)))
    return items


