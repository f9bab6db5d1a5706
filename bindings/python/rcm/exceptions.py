"""rcm's exceptions: one hierarchy, mapped from rcm_status in one place (STATUS_CLASSES).

Every exception rcm raises derives from :class:`RcmError`. Its message is the C
library's own (``rcm_last_error()``) or the server's error reply. ``status`` is the
``rcm_status`` code (0 for errors the server sent).

Where a built-in exception means the same, it is a base too: ``rcm.ConnectionError`` is
a built-in ``ConnectionError``, ``rcm.TimeoutError`` a built-in ``TimeoutError``, and
``rcm.ConfigError`` a ``ValueError``.

When redis-py is importable, each class also derives from its redis-py counterpart
(``RcmError`` from ``redis.exceptions.RedisError``, ``ResponseError`` from
``redis.exceptions.ResponseError``...: each class statement names its counterpart), so code written
for redis-py that catches ``redis.exceptions.*`` catches rcm's too. rcm never requires
redis-py; importing it costs about 0.1 s, and ``RCM_REDIS_PY_EXCEPTIONS=0`` in the
environment skips it.
"""

from __future__ import annotations

import builtins
import os
from typing import Any, Tuple

from . import _native


def _redis_py_exceptions() -> Any:
    if os.environ.get("RCM_REDIS_PY_EXCEPTIONS", "1") == "0":
        return None
    try:
        import redis.exceptions
    except Exception:  # absent, or an install too broken to import: rcm does without
        return None
    return redis.exceptions


_R = _redis_py_exceptions()


def redis_py_counterpart(*names: str) -> Tuple[type, ...]:
    """redis-py's classes of these names, as extra bases (none without redis-py):
    ``class LockError(RcmError, *redis_py_counterpart("LockError"), ValueError)`` (before
    the built-in bases its counterpart also has, or the MRO cannot be built)."""
    return tuple(getattr(_R, n) for n in names if _R is not None and hasattr(_R, n))

__all__ = [
    "RcmError",
    "ArgumentError",
    "DataError",
    "ConfigError",
    "NoMemoryError",
    "ConnectionError",
    "AuthenticationError",
    "ProtocolError",
    "TLSError",
    "TimeoutError",
    "PoolTimeoutError",
    "UncertainError",
    "BackpressureError",
    "ClosedError",
    "UnsupportedError",
    "CrossSlotError",
    "ClusterDownError",
    "RedirectError",
    "StateError",
    "ForkError",
    "PubSubError",
    "NoLeaderError",
    "InternalError",
    "ResponseError",
    "NoScriptError",
    "ExecAbortError",
    "ReadOnlyError",
    "BusyLoadingError",
    "WatchError",
    "NoPermissionError",
    "STATUS_CLASSES",
    "error_class",
]


class RcmError(*(redis_py_counterpart("RedisError") or (Exception,))):  # type: ignore[misc]
    """Base of every rcm exception."""

    status: int = _native.RCM_ERR_INTERNAL

    @property
    def status_name(self) -> str:
        """The symbolic name of :attr:`status`, e.g. ``"RCM_ERR_TIMEOUT"``."""
        return _native.status_name(self.status)


class ArgumentError(RcmError, ValueError, *redis_py_counterpart("DataError")):  # type: ignore[misc]
    """A bad argument for the C API (``RCM_ERR_ARG``), e.g. a blocking command such as
    BLPOP sent on the shared client instead of a lease."""

    status = _native.RCM_ERR_ARG


class DataError(ArgumentError, TypeError):
    """An argument of a type that cannot be sent (``None``, ``bool``, a dict...)."""


class ConfigError(RcmError, ValueError):
    """An unknown configuration key, a bad value or a malformed URL (the message names it)."""

    status = _native.RCM_ERR_CONFIG


class NoMemoryError(RcmError, MemoryError):
    status = _native.RCM_ERR_NOMEM


class ConnectionError(RcmError, builtins.ConnectionError, *redis_py_counterpart("ConnectionError")):  # type: ignore[misc]
    """Could not connect, or the connection broke before the command was sent."""

    status = _native.RCM_ERR_CONNECTION


class AuthenticationError(ConnectionError, *redis_py_counterpart("AuthenticationError")):  # type: ignore[misc]
    """The server refused the credentials (or requires some): at connect, or as a reply
    (``WRONGPASS``, ``NOAUTH``, ``ERR invalid password``...)."""

    status = _native.RCM_ERR_AUTH


class ProtocolError(ConnectionError, *redis_py_counterpart("InvalidResponse")):  # type: ignore[misc]
    """The server sent something that is not valid RESP."""

    status = _native.RCM_ERR_PROTOCOL


class TLSError(ConnectionError):
    """TLS setup or handshake failed (certificate, CA, key)."""

    status = _native.RCM_ERR_TLS


class TimeoutError(RcmError, builtins.TimeoutError, *redis_py_counterpart("TimeoutError")):  # type: ignore[misc]
    """The request's deadline passed (connect_timeout_ms / command_timeout_ms)."""

    status = _native.RCM_ERR_TIMEOUT


class PoolTimeoutError(TimeoutError, *redis_py_counterpart("ConnectionError")):  # type: ignore[misc]
    """No lease became free within pool.lease_timeout_ms (redis-py's pool raises
    ConnectionError when it has no connection to give)."""

    status = _native.RCM_ERR_POOL_TIMEOUT


class UncertainError(RcmError, *redis_py_counterpart("ConnectionError")):  # type: ignore[misc]
    """Sent, outcome unknown: the connection broke before the reply. The command may or
    may not have run; rcm did not resend it (see ``retry_unsafe``)."""

    status = _native.RCM_ERR_UNCERTAIN


class BackpressureError(RcmError):
    """A server's queue is full (pool.max_pending)."""

    status = _native.RCM_ERR_BACKPRESSURE


class ClosedError(RcmError):
    """The client is closing or closed."""

    status = _native.RCM_ERR_CLOSED


class UnsupportedError(RcmError, NotImplementedError):
    """A feature or mode this build of rcm does not provide yet."""

    status = _native.RCM_ERR_UNSUPPORTED


class RedirectError(RcmError, *redis_py_counterpart("ClusterError")):  # type: ignore[misc]
    """Too many MOVED/ASK redirects (cluster.max_redirects)."""

    status = _native.RCM_ERR_REDIRECT


class StateError(RcmError):
    """The handle is not in a state for this call (a released lease, MULTI without EXEC...)."""

    status = _native.RCM_ERR_STATE


class ForkError(RcmError):
    """The client was opened in another process: open a new one after fork()."""

    status = _native.RCM_ERR_FORK


class PubSubError(StateError):
    """A PubSub used in a way it cannot serve (run_in_thread() with a name that has no
    handler, a name of an unsupported type); redis-py's PubSubError."""


class NoLeaderError(RcmError):
    """No Raft leader / Sentinel master could be found."""

    status = _native.RCM_ERR_NO_LEADER


class InternalError(RcmError):
    """A bug in rcm; the message says where."""

    status = _native.RCM_ERR_INTERNAL


class ResponseError(RcmError, *redis_py_counterpart("ResponseError")):  # type: ignore[misc]
    """An error reply from the server (``-ERR ...``, ``-WRONGTYPE ...``); the message is
    the server's, error code included."""

    status = _native.RCM_OK


class CrossSlotError(ResponseError, *redis_py_counterpart("ClusterCrossSlotError")):  # type: ignore[misc]
    """Keys of one command hash to different cluster slots (rcm's check or the server's)."""

    status = _native.RCM_ERR_CROSSSLOT


class ClusterDownError(ResponseError, *redis_py_counterpart("ClusterDownError")):  # type: ignore[misc]
    """The cluster (or Raft group) has no usable owner for the slot."""

    status = _native.RCM_ERR_CLUSTERDOWN


class NoScriptError(ResponseError, *redis_py_counterpart("NoScriptError")):  # type: ignore[misc]
    """EVALSHA of a script the server does not know."""


class ExecAbortError(ResponseError, *redis_py_counterpart("ExecAbortError")):  # type: ignore[misc]
    """EXEC refused: a command of the transaction was rejected when queued."""


class ReadOnlyError(ResponseError, *redis_py_counterpart("ReadOnlyError")):  # type: ignore[misc]
    """A write sent to a replica."""


class BusyLoadingError(ResponseError, TimeoutError, *redis_py_counterpart("BusyLoadingError")):  # type: ignore[misc]
    """The server is loading its dataset (``LOADING``). rcm retries a LOADING reply until
    the command's deadline (command_timeout_ms, redis-py's socket_timeout) and raises
    this when the server is still loading then; it is also a TimeoutError, which it was
    before rcm named it."""


class NoPermissionError(ResponseError, *redis_py_counterpart("NoPermissionError")):  # type: ignore[misc]
    """The ACL user may not run this command or touch this key (``NOPERM``)."""


class WatchError(RcmError, *redis_py_counterpart("WatchError")):  # type: ignore[misc]
    """A watched key changed: EXEC did not run the transaction."""

    status = _native.RCM_OK


#: rcm_status -> exception class; the one mapping every raise goes through.
STATUS_CLASSES: dict[int, type[RcmError]] = {
    _native.RCM_ERR_ARG: ArgumentError,
    _native.RCM_ERR_CONFIG: ConfigError,
    _native.RCM_ERR_NOMEM: NoMemoryError,
    _native.RCM_ERR_CONNECTION: ConnectionError,
    _native.RCM_ERR_TIMEOUT: TimeoutError,
    _native.RCM_ERR_AUTH: AuthenticationError,
    _native.RCM_ERR_PROTOCOL: ProtocolError,
    _native.RCM_ERR_UNCERTAIN: UncertainError,
    _native.RCM_ERR_POOL_TIMEOUT: PoolTimeoutError,
    _native.RCM_ERR_BACKPRESSURE: BackpressureError,
    _native.RCM_ERR_CLOSED: ClosedError,
    _native.RCM_ERR_UNSUPPORTED: UnsupportedError,
    _native.RCM_ERR_CROSSSLOT: CrossSlotError,
    _native.RCM_ERR_CLUSTERDOWN: ClusterDownError,
    _native.RCM_ERR_TLS: TLSError,
    _native.RCM_ERR_REDIRECT: RedirectError,
    _native.RCM_ERR_STATE: StateError,
    _native.RCM_ERR_FORK: ForkError,
    _native.RCM_ERR_NO_LEADER: NoLeaderError,
    _native.RCM_ERR_INTERNAL: InternalError,
}

#: Start of a server error reply (its code, or its code and words, as redis-py's
#: parse_error matches them) -> class; others are ResponseError. "LOADING" also names the
#: class of a LOADING reply retried until the deadline (errors.cpp).
RESPONSE_PREFIXES: dict[str, type[RcmError]] = {
    "NOSCRIPT": NoScriptError,
    "EXECABORT": ExecAbortError,
    "READONLY": ReadOnlyError,
    "LOADING": BusyLoadingError,
    "CROSSSLOT": CrossSlotError,
    "CLUSTERDOWN": ClusterDownError,
    "NOPERM": NoPermissionError,
    "WRONGPASS": AuthenticationError,
    "NOAUTH": AuthenticationError,
    "ERR invalid password": AuthenticationError,
    "ERR Client sent AUTH, but no password is set": AuthenticationError,
    "ERR max number of clients reached": ConnectionError,
}


def error_class(status: int) -> type[RcmError]:
    """The exception class for an rcm_status (InternalError for an unknown one)."""
    return STATUS_CLASSES.get(status, InternalError)


_native.install_errors(STATUS_CLASSES, RESPONSE_PREFIXES, ResponseError, DataError)
