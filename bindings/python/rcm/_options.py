"""redis-py's constructor and from_url options -> rcm's config keywords (issue 14 item 3).

An option with an rcm meaning is mapped to it; one rcm has no use for and that changes
nothing a user can observe is dropped (IGNORED says why, bindings/python/README.md lists
them); any other value is refused with a ConfigError naming the option, never silently
taken for something else. Options rcm does not know at all reach the C library, whose
ConfigError names them too.
"""

from __future__ import annotations

from typing import Any, Dict

from .exceptions import ConfigError

__all__ = ["IGNORED", "redis_py_options"]

#: Options dropped whatever their value, and why that is harmless.
IGNORED: Dict[str, str] = {
    "socket_keepalive": "rcm turns SO_KEEPALIVE on for every connection",
    "socket_keepalive_options": "rcm's keepalive uses the system's timings",
    "parser_class": "rcm has one RESP parser (hiredis's, in C)",
    "connection_class": "rcm's connections are its own",
}

#: Options accepted only at a value that asks nothing of rcm (redis-py's default).
_ONLY_DEFAULT: Dict[str, Any] = {
    "connection_pool": None,
    "unix_socket_path": None,
    "redis_connect_func": None,
    "ssl_ca_path": None,
    "ssl_ca_data": None,
    "ssl_password": None,
    "ssl_validate_ocsp": False,
    "ssl_validate_ocsp_stapled": False,
    "ssl_ocsp_context": None,
    "ssl_ocsp_expected_cert": None,
    "charset": None,
    "errors": None,
}

# redis-py's retryable errors that rcm's retries cover: a connection that broke or a
# reply that did not come in time (rcm resends, as redis-py does, when retry.unsafe
# allows a write to run twice), and LOADING, which rcm retries until the deadline.
_RETRYABLE = ("ConnectionError", "TimeoutError", "timeout", "BusyLoadingError")


def _retry_on_error(value: Any) -> Dict[str, Any]:
    if not value:
        return {}
    refused = [getattr(c, "__name__", repr(c)) for c in value if getattr(c, "__name__", "") not in _RETRYABLE]
    if refused:
        raise ConfigError(f"retry_on_error: rcm retries on {', '.join(_RETRYABLE)} only, not {', '.join(refused)}")
    return {"retry_unsafe": True}


def _retry(value: Any) -> Dict[str, Any]:
    """A redis.retry.Retry: its count and, for redis-py's own backoffs, its delays."""
    retries = getattr(value, "_retries", None)
    if not isinstance(retries, int) or retries < 0:
        raise ConfigError(f"retry: {value!r} is not a redis.retry.Retry")
    out: Dict[str, Any] = {"retry_max_attempts": retries + 1}
    if retries > 0:
        out["retry_unsafe"] = True  # redis-py resends any command, writes included
    backoff = getattr(value, "_backoff", None)
    kind = type(backoff).__name__
    if kind == "NoBackoff" or kind == "ConstantBackoff":
        ms = max(1, int(round(float(backoff._backoff) * 1000)))
        out.update(retry_backoff_ms=ms, retry_backoff_max_ms=ms)
    elif kind in ("ExponentialBackoff", "FullJitterBackoff", "EqualJitterBackoff", "DecorrelatedJitterBackoff"):
        out.update(retry_backoff_ms=max(1, int(round(float(backoff._base) * 1000))),
                   retry_backoff_max_ms=max(1, int(round(float(backoff._cap) * 1000))))
    return out


def redis_py_options(kwargs: Dict[str, Any]) -> Dict[str, Any]:
    """kwargs with redis-py's options turned into rcm's (others untouched)."""
    out: Dict[str, Any] = {}
    for name, value in kwargs.items():
        if name in IGNORED:
            continue
        if name in _ONLY_DEFAULT:
            if value != _ONLY_DEFAULT[name]:
                hint = " (use encoding=/encoding_errors=)" if name in ("charset", "errors") else ""
                raise ConfigError(f"{name}: rcm does not support redis-py's {name}={value!r}{hint}")
            continue
        if name == "health_check_interval":
            out["pool_health_check_ms"] = int(round(float(value) * 1000)) if value else 0
        elif name == "retry_on_timeout":
            if value:
                out["retry_unsafe"] = True
        elif name == "retry_on_error":
            out.update(_retry_on_error(value))
        elif name == "retry":
            if value is not None:
                out.update(_retry(value))
        elif name == "max_connections":
            # redis-py's connections are exclusive, as rcm's leases are; rcm's shared
            # connections (pool.size) multiplex every other command.
            if value is not None:
                out["pool_max_leases"] = value
        elif name == "single_connection_client":
            if value:
                out["pool_size"] = 1
        else:
            out[name] = value
    return out
