"""Argument helpers shared by the command modules: expiry times, key lists, mappings."""

from __future__ import annotations

import datetime
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

from .exceptions import DataError

KeyT = Union[bytes, str, memoryview]
ExpiryT = Union[int, datetime.timedelta]
AbsExpiryT = Union[int, datetime.datetime]


def _seconds(t: ExpiryT) -> int:
    return int(t.total_seconds()) if isinstance(t, datetime.timedelta) else t


def _millis(t: ExpiryT) -> int:
    return int(t.total_seconds() * 1000) if isinstance(t, datetime.timedelta) else t


def _unix(t: AbsExpiryT) -> int:
    return int(t.timestamp()) if isinstance(t, datetime.datetime) else t


def _unix_ms(t: AbsExpiryT) -> int:
    return int(t.timestamp() * 1000) if isinstance(t, datetime.datetime) else t


def _keys(keys: Any, args: Sequence[Any]) -> list:
    """redis-py accepts mget(["a", "b"]) and mget("a", "b")."""
    if isinstance(keys, (bytes, str, memoryview, int, float)):
        out = [keys]
    else:
        out = list(keys)
    out.extend(args)
    return out


def _items(mapping: Any) -> Iterable:
    return mapping.items() if hasattr(mapping, "items") else mapping


def _zaggregate(command: bytes, dest: Optional[KeyT], keys: Any, aggregate: Optional[str]) -> list:
    """ZUNION/ZINTER[STORE]'s arguments: keys a sequence, or a mapping key -> weight."""
    args: list = [command] if dest is None else [command, dest]
    args.append(len(keys))
    if isinstance(keys, Mapping):
        args.extend(keys.keys())
        args.append(b"WEIGHTS")
        args.extend(keys.values())
    else:
        args.extend(keys)
    if aggregate:
        if aggregate.upper() not in ("SUM", "MIN", "MAX"):
            raise DataError("aggregate can be sum, min or max.")
        args += [b"AGGREGATE", aggregate]
    return args


def _expire_flags(nx: bool, xx: bool, gt: bool, lt: bool) -> list:
    return [f for f, on in ((b"NX", nx), (b"XX", xx), (b"GT", gt), (b"LT", lt)) if on]
