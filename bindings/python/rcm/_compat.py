"""What redis-py 4.3.4 does on the client side that rcm's commands reproduce: the argument
checks that raise DataError before anything is sent, the status values it returns as
bytes when replies are not decoded, and the dict-style access of ``redis.Redis``.

The checks are redis-py's own (redis/commands/core.py), messages included, so that code
matching on them keeps working.
"""

from __future__ import annotations

import datetime
from typing import Any, Callable, Optional

from .exceptions import DataError

__all__ = ["empty_list", "expiry", "zadd_flags", "zrange_flags", "script_flush_type", "status_value", "MappingAccess"]


def expiry(name: str, value: Any) -> Any:
    """set()'s ex/px: a timedelta, an int or a string of digits (redis-py refuses 10.0
    rather than send what the server would refuse or truncate)."""
    if isinstance(value, datetime.timedelta):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise DataError(f"{name} must be datetime.timedelta or int")


def zadd_flags(mapping: Any, nx: bool, xx: bool, incr: bool, gt: bool, lt: bool) -> None:
    """ZADD's flag combinations redis-py refuses."""
    if not mapping:
        raise DataError("ZADD requires at least one element/score pair")
    if nx and xx:
        raise DataError("ZADD allows either 'nx' or 'xx', not both")
    if gt and lt:
        raise DataError("ZADD allows either 'gt' or 'lt', not both")
    if incr and len(mapping) != 1:
        raise DataError("ZADD option 'incr' only works when passing a single element/score pair")
    if nx and (gt or lt):
        raise DataError("Only one of 'nx', 'lt', or 'gr' may be defined.")


def zrange_flags(byscore: bool, bylex: bool, withscores: bool, offset: Optional[int], num: Optional[int]) -> None:
    """ZRANGE's argument combinations redis-py refuses."""
    if byscore and bylex:
        raise DataError("``byscore`` and ``bylex`` can not be specified together.")
    if (offset is not None and num is None) or (num is not None and offset is None):
        raise DataError("``offset`` and ``num`` must both be specified together.")
    if bylex and withscores:
        raise DataError("``withscores`` not supported in combination with ``bylex``.")


def script_flush_type(sync_type: Optional[str]) -> Optional[str]:
    if sync_type not in ("SYNC", "ASYNC", None):
        raise DataError("SCRIPT FLUSH defaults to SYNC in redis > 6.2, or accepts SYNC/ASYNC. For older "
                        "versions, of redis leave as None.")
    return sync_type


def empty_list(r: Any) -> list:
    """The value of a command redis-py answers without the server (mget([]))."""
    return []


def _status_bytes(r: Any) -> Any:
    return r.encode("utf-8") if isinstance(r, str) else r


def _status_str(r: Any) -> Any:
    return r.decode("utf-8", "replace") if isinstance(r, (bytes, bytearray)) else r


def status_value(owner: Any) -> Callable[[Any], Any]:
    """The post-processing of a status reply that is a value (TYPE's "string"): bytes
    unless the client decodes responses, as redis-py returns it. (rcm's reader gives
    status replies as str; OK-like ones are turned into booleans elsewhere.)"""
    client = getattr(owner, "_client", owner)
    return _status_str if getattr(client, "decode_responses", True) else _status_bytes


class MappingAccess:
    """redis.Redis's dict-style access: ``r[k]`` (KeyError when k does not exist),
    ``r[k] = v``, ``del r[k]`` and ``k in r``. A mixin for the synchronous Client."""

    __slots__ = ()

    def __getitem__(self, name: Any) -> Any:
        value = self.get(name)  # type: ignore[attr-defined]
        if value is not None:
            return value
        raise KeyError(name)

    def __setitem__(self, name: Any, value: Any) -> None:
        self.set(name, value)  # type: ignore[attr-defined]

    def __delitem__(self, name: Any) -> None:
        self.delete(name)  # type: ignore[attr-defined]

    def __contains__(self, name: Any) -> bool:
        return bool(self.exists(name))  # type: ignore[attr-defined]
