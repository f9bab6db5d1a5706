"""Typed command helpers shared by every rcm command surface.

Each helper builds the command's arguments and hands them to ``self._run(post, *args)``
(``self._run_blocking(post, key, *args)`` for commands that block a connection), where
``post`` turns the raw reply into the Python value redis-py would return (``None``: the
raw reply as it is). What ``_run`` returns depends on the class mixing this in:

- ``rcm.Client`` and ``rcm.Lease`` send the command and return the value;
- ``rcm.Pipeline`` queues it and returns the pipeline (values come from ``execute()``);
- ``rcm.asyncio.Client`` returns an awaitable of the value.

Raw replies: bulk strings are ``bytes`` (``str`` with ``decode_responses=True``), status
replies such as ``+OK`` are ``str``, integers ``int``, nil ``None``, arrays ``list``.
"""

from __future__ import annotations

import datetime
import hashlib
import warnings
from typing import Any, Callable, List, Mapping, Optional, Sequence, Union

from . import _compat, _native
from ._replies import (  # redis-py's response callbacks
    float_or_none as _float_or_none,
    pairs as _pairs,
    s as _str,
    _ok,
    _set_reply,
    _bool,
    _pong,
    _set,
    _bool_list,
    _float_list,
    _scan,
    _scan_pairs,
    _scan_scores,
    _scores,
    _with_scores,
    _bzpop,
    _groups,
    _time,
    _numsub,
    _config_get,
    parse_info,
)
from ._args import (
    _seconds,
    _millis,
    _unix,
    _unix_ms,
    _keys,
    _items,
    _zaggregate,
    _expire_flags,
)
from ._cluster import ClusterCommands
from ._data import BitFieldOperation, DataCommands
from ._lists import ListCommands
from ._server import ServerCommands
from .exceptions import ArgumentError, DataError

__all__ = ["Commands", "Script", "parse_info", "BitFieldOperation"]

KeyT = Union[bytes, str, memoryview]
EncodableT = Union[bytes, str, memoryview, int, float]
ExpiryT = Union[int, datetime.timedelta]
AbsExpiryT = Union[int, datetime.datetime]
ResponseT = Any
Post = Optional[Callable[[Any], Any]]

# The post of DUMP: the identity, and bulk strings stay bytes whatever decode_responses
# says (the extension sees it; Client._run and Lease._run ask for bytes).
NEVER_DECODE: Callable[[Any], Any] = _native.NEVER_DECODE

class Commands(ListCommands, DataCommands, ServerCommands, ClusterCommands):
    """The command helpers (with those of _lists.py, _data.py, _server.py and _cluster.py). Subclasses provide
    ``_run`` and ``_run_blocking``, and ``_run_routed`` where commands can be sent to
    chosen cluster nodes."""

    __slots__ = ()

    def _run_routed(self, post: Post, target_nodes: Any, *args: Any) -> ResponseT:
        """As _run; target_nodes (cluster mode: where to send it) only on rcm.Client."""
        if target_nodes is not None:
            raise TypeError(f"target_nodes is for rcm.Client, not {type(self).__name__}")
        return self._run(post, *args)

    def _run(self, post: Post, *args: Any) -> ResponseT:  # pragma: no cover - abstract
        raise NotImplementedError

    def _run_blocking(self, post: Post, key: Any, *args: Any) -> ResponseT:  # pragma: no cover
        raise NotImplementedError

    def _run_uncached(self, post: Post, *args: Any) -> ResponseT:
        """As _run, past the client-side cache (the read helpers' cache=False)."""
        raise ArgumentError(f"cache=False: {type(self).__name__} sends its commands as they are; "
                            "bypass the cache on the client (client.get(k, cache=False))")

    def _read(self, cache: bool, post: Post, *args: Any) -> ResponseT:
        """A cacheable read: from the client-side cache when one is configured and cache
        is true; else, and always with cache=False, from the server."""
        return self._run(post, *args) if cache else self._run_uncached(post, *args)

    # ---- connection / server -------------------------------------------------------

    # The server commands below take redis-py's target_nodes= (cluster mode: which nodes;
    # see rcm._cluster); redis-py's other keywords are accepted and ignored, as there.

    def ping(self, message: Optional[EncodableT] = None, **kwargs: Any) -> ResponseT:
        if message is None:
            return self._run_routed(_pong, kwargs.get("target_nodes"), b"PING")
        return self._run_routed(None, kwargs.get("target_nodes"), b"PING", message)

    def echo(self, value: EncodableT, **kwargs: Any) -> ResponseT:
        return self._run_routed(None, kwargs.get("target_nodes"), b"ECHO", value)

    def dbsize(self, **kwargs: Any) -> ResponseT:
        return self._run_routed(None, kwargs.get("target_nodes"), b"DBSIZE")

    def flushdb(self, asynchronous: bool = False, **kwargs: Any) -> ResponseT:
        return self._run_routed(_ok, kwargs.get("target_nodes"), b"FLUSHDB", *([b"ASYNC"] if asynchronous else []))

    def flushall(self, asynchronous: bool = False, **kwargs: Any) -> ResponseT:
        return self._run_routed(_ok, kwargs.get("target_nodes"), b"FLUSHALL", *([b"ASYNC"] if asynchronous else []))

    def info(self, section: Optional[str] = None, *args: str) -> ResponseT:
        return self._run(parse_info, b"INFO", *([section] if section else []), *args)

    def time(self, **kwargs: Any) -> ResponseT:
        return self._run_routed(_time, kwargs.get("target_nodes"), b"TIME")

    def config_get(self, pattern: str = "*", *args: str) -> ResponseT:
        return self._run(_config_get, b"CONFIG", b"GET", pattern, *args)

    def config_set(self, name: str, value: EncodableT, *args: EncodableT) -> ResponseT:
        """CONFIG SET name value [name value ...] (several pairs: Redis/Valkey 7+)."""
        return self._run(_ok, b"CONFIG", b"SET", name, value, *args)

    # ---- strings --------------------------------------------------------------------

    def append(self, key: KeyT, value: EncodableT) -> ResponseT:
        return self._run(None, b"APPEND", key, value)

    def decr(self, name: KeyT, amount: int = 1) -> ResponseT:
        return self._run(None, b"DECRBY", name, amount)

    def decrby(self, name: KeyT, amount: int = 1) -> ResponseT:
        return self._run(None, b"DECRBY", name, amount)

    def get(self, name: KeyT, cache: bool = True) -> ResponseT:
        return self._read(cache, None, b"GET", name)

    def getdel(self, name: KeyT) -> ResponseT:
        return self._run(None, b"GETDEL", name)

    def getex(
        self,
        name: KeyT,
        ex: Optional[ExpiryT] = None,
        px: Optional[ExpiryT] = None,
        exat: Optional[AbsExpiryT] = None,
        pxat: Optional[AbsExpiryT] = None,
        persist: bool = False,
    ) -> ResponseT:
        args: list = [b"GETEX", name]
        if ex is not None:
            args += [b"EX", _seconds(ex)]
        if px is not None:
            args += [b"PX", _millis(px)]
        if exat is not None:
            args += [b"EXAT", _unix(exat)]
        if pxat is not None:
            args += [b"PXAT", _unix_ms(pxat)]
        if persist:
            args.append(b"PERSIST")
        return self._run(None, *args)

    def getrange(self, key: KeyT, start: int, end: int) -> ResponseT:
        return self._run(None, b"GETRANGE", key, start, end)

    def getset(self, name: KeyT, value: EncodableT) -> ResponseT:
        return self._run(None, b"GETSET", name, value)

    def incr(self, name: KeyT, amount: int = 1) -> ResponseT:
        return self._run(None, b"INCRBY", name, amount)

    def incrby(self, name: KeyT, amount: int = 1) -> ResponseT:
        return self._run(None, b"INCRBY", name, amount)

    def incrbyfloat(self, name: KeyT, amount: float = 1.0) -> ResponseT:
        return self._run(float, b"INCRBYFLOAT", name, amount)

    def mget(self, keys: Any, *args: KeyT, cache: bool = True) -> ResponseT:
        keys = _keys(keys, args)
        if not keys:  # redis-py answers [] (pipelines too): a harmless command holds its place
            return self._run(_compat.empty_list, b"ECHO", b"")
        return self._read(cache, None, b"MGET", *keys)

    def mset(self, mapping: Mapping[KeyT, EncodableT]) -> ResponseT:
        args: list = [b"MSET"]
        for k, v in _items(mapping):
            args += [k, v]
        return self._run(_ok, *args)

    def msetnx(self, mapping: Mapping[KeyT, EncodableT]) -> ResponseT:
        args: list = [b"MSETNX"]
        for k, v in _items(mapping):
            args += [k, v]
        return self._run(_bool, *args)

    def psetex(self, name: KeyT, time_ms: ExpiryT, value: EncodableT) -> ResponseT:
        return self._run(_ok, b"PSETEX", name, _millis(time_ms), value)

    def set(
        self,
        name: KeyT,
        value: EncodableT,
        ex: Optional[ExpiryT] = None,
        px: Optional[ExpiryT] = None,
        nx: bool = False,
        xx: bool = False,
        keepttl: bool = False,
        get: bool = False,
        exat: Optional[AbsExpiryT] = None,
        pxat: Optional[AbsExpiryT] = None,
    ) -> ResponseT:
        args: list = [b"SET", name, value]
        if ex is not None:
            args += [b"EX", _seconds(_compat.expiry("ex", ex))]
        if px is not None:
            args += [b"PX", _millis(_compat.expiry("px", px))]
        if exat is not None:
            args += [b"EXAT", _unix(exat)]
        if pxat is not None:
            args += [b"PXAT", _unix_ms(pxat)]
        if keepttl:
            args.append(b"KEEPTTL")
        if nx:
            args.append(b"NX")
        if xx:
            args.append(b"XX")
        if get:
            args.append(b"GET")
            return self._run(None, *args)
        return self._run(_set_reply, *args)

    def setex(self, name: KeyT, time: ExpiryT, value: EncodableT) -> ResponseT:
        return self._run(_ok, b"SETEX", name, _seconds(time), value)

    def setnx(self, name: KeyT, value: EncodableT) -> ResponseT:
        return self._run(_bool, b"SETNX", name, value)

    def setrange(self, name: KeyT, offset: int, value: EncodableT) -> ResponseT:
        return self._run(None, b"SETRANGE", name, offset, value)

    def strlen(self, name: KeyT, cache: bool = True) -> ResponseT:
        return self._read(cache, None, b"STRLEN", name)

    def setbit(self, name: KeyT, offset: int, value: int) -> ResponseT:
        return self._run(None, b"SETBIT", name, offset, 1 if value else 0)

    def getbit(self, name: KeyT, offset: int) -> ResponseT:
        return self._run(None, b"GETBIT", name, offset)

    def bitcount(self, key: KeyT, start: Optional[int] = None, end: Optional[int] = None,
                 mode: Optional[str] = None) -> ResponseT:
        if (start is None) != (end is None):
            raise DataError("Both start and end must be specified")
        args: list = [b"BITCOUNT", key]
        if start is not None:
            args += [start, end]
        if mode is not None:
            args.append(mode)
        return self._run(None, *args)

    def bitop(self, operation: str, dest: KeyT, *keys: KeyT) -> ResponseT:
        return self._run(None, b"BITOP", operation, dest, *keys)

    def bitpos(self, key: KeyT, bit: int, start: Optional[int] = None, end: Optional[int] = None,
               mode: Optional[str] = None) -> ResponseT:
        if bit not in (0, 1):
            raise DataError("bit must be 0 or 1")
        if start is None and end is not None:
            raise DataError("start argument is not set, when end is specified")
        args: list = [b"BITPOS", key, bit]
        if start is not None:
            args.append(start)
            if end is not None:
                args.append(end)
        if mode is not None:
            args.append(mode)
        return self._run(None, *args)

    # ---- keys and expiry ------------------------------------------------------------

    def delete(self, *names: KeyT) -> ResponseT:
        return self._run(None, b"DEL", *names)

    def unlink(self, *names: KeyT) -> ResponseT:
        return self._run(None, b"UNLINK", *names)

    def exists(self, *names: KeyT, cache: bool = True) -> ResponseT:
        return self._read(cache, None, b"EXISTS", *names)

    def touch(self, *names: KeyT) -> ResponseT:
        return self._run(None, b"TOUCH", *names)

    def expire(self, name: KeyT, time: ExpiryT, nx: bool = False, xx: bool = False, gt: bool = False,
               lt: bool = False) -> ResponseT:
        return self._run(_bool, b"EXPIRE", name, _seconds(time), *_expire_flags(nx, xx, gt, lt))

    def expireat(self, name: KeyT, when: AbsExpiryT, nx: bool = False, xx: bool = False, gt: bool = False,
                 lt: bool = False) -> ResponseT:
        return self._run(_bool, b"EXPIREAT", name, _unix(when), *_expire_flags(nx, xx, gt, lt))

    def pexpire(self, name: KeyT, time: ExpiryT, nx: bool = False, xx: bool = False, gt: bool = False,
                lt: bool = False) -> ResponseT:
        return self._run(_bool, b"PEXPIRE", name, _millis(time), *_expire_flags(nx, xx, gt, lt))

    def pexpireat(self, name: KeyT, when: AbsExpiryT, nx: bool = False, xx: bool = False, gt: bool = False,
                  lt: bool = False) -> ResponseT:
        return self._run(_bool, b"PEXPIREAT", name, _unix_ms(when), *_expire_flags(nx, xx, gt, lt))

    def expiretime(self, key: KeyT) -> ResponseT:
        return self._run(None, b"EXPIRETIME", key)

    def pexpiretime(self, key: KeyT) -> ResponseT:
        return self._run(None, b"PEXPIRETIME", key)

    def persist(self, name: KeyT) -> ResponseT:
        return self._run(_bool, b"PERSIST", name)

    def ttl(self, name: KeyT) -> ResponseT:
        return self._run(None, b"TTL", name)

    def pttl(self, name: KeyT) -> ResponseT:
        return self._run(None, b"PTTL", name)

    def keys(self, pattern: KeyT = "*", **kwargs: Any) -> ResponseT:
        return self._run_routed(None, kwargs.get("target_nodes"), b"KEYS", pattern)

    def randomkey(self, **kwargs: Any) -> ResponseT:
        return self._run_routed(None, kwargs.get("target_nodes"), b"RANDOMKEY")

    def rename(self, src: KeyT, dst: KeyT) -> ResponseT:
        return self._run(_ok, b"RENAME", src, dst)

    def renamenx(self, src: KeyT, dst: KeyT) -> ResponseT:
        return self._run(_bool, b"RENAMENX", src, dst)

    def type(self, name: KeyT, cache: bool = True) -> ResponseT:
        return self._read(cache, _compat.status_value(self), b"TYPE", name)

    def copy(self, source: KeyT, destination: KeyT, destination_db: Optional[Union[str, int]] = None,
             replace: bool = False) -> ResponseT:
        args: list = [b"COPY", source, destination]
        if destination_db is not None:
            args += [b"DB", destination_db]
        if replace:
            args.append(b"REPLACE")
        return self._run(_bool, *args)

    def dump(self, name: KeyT) -> ResponseT:
        """The serialized value (bytes, also with decode_responses=True), None without a key."""
        return self._run(NEVER_DECODE, b"DUMP", name)

    def restore(self, name: KeyT, ttl: float, value: EncodableT, replace: bool = False, absttl: bool = False,
                idletime: Optional[int] = None, frequency: Optional[int] = None) -> ResponseT:
        args: list = [b"RESTORE", name, ttl, value]
        if replace:
            args.append(b"REPLACE")
        if absttl:
            args.append(b"ABSTTL")
        if idletime is not None:
            try:
                args += [b"IDLETIME", int(idletime)]
            except ValueError:
                raise DataError("idletime must be an integer") from None
        if frequency is not None:
            try:
                args += [b"FREQ", int(frequency)]
            except ValueError:
                raise DataError("frequency must be an integer") from None
        return self._run(None, *args)

    def sort(self, name: KeyT, start: Optional[int] = None, num: Optional[int] = None, by: Optional[KeyT] = None,
             get: Optional[Union[KeyT, Sequence[KeyT]]] = None, desc: bool = False, alpha: bool = False,
             store: Optional[KeyT] = None, groups: Optional[bool] = False) -> ResponseT:
        """The sorted elements (a list; tuples of the GET values with groups=True), or
        their number when stored."""
        return self._sort(b"SORT", name, start, num, by, get, desc, alpha, store, groups)

    def _sort(self, command: bytes, name: KeyT, start: Optional[int], num: Optional[int], by: Optional[KeyT],
              get: Optional[Union[KeyT, Sequence[KeyT]]], desc: bool, alpha: bool, store: Optional[KeyT],
              groups: Optional[bool]) -> ResponseT:
        """SORT or SORT_RO (which takes no STORE)."""
        if (start is None) != (num is None):
            raise DataError("``start`` and ``num`` must both be specified")
        args: list = [command, name]
        if by is not None:
            args += [b"BY", by]
        if start is not None:
            args += [b"LIMIT", start, num]
        gets: List[Any] = []
        if get is not None:
            gets = [get] if isinstance(get, (bytes, str)) else list(get)
            for g in gets:
                args += [b"GET", g]
        if desc:
            args.append(b"DESC")
        if alpha:
            args.append(b"ALPHA")
        if store is not None:
            args += [b"STORE", store]
        if groups:
            if get is None or isinstance(get, (bytes, str)) or len(gets) < 2:
                raise DataError('when using "groups" the "get" argument must be specified and contain at '
                                "least two keys")
            return self._run(_groups(len(gets)), *args)
        return self._run(None, *args)

    def scan(self, cursor: int = 0, match: Optional[KeyT] = None, count: Optional[int] = None,
             _type: Optional[str] = None, **kwargs: Any) -> ResponseT:
        """(next cursor, keys). In cluster mode one node's keys: target_nodes= says which
        (scan_iter() goes through every primary)."""
        args: list = [b"SCAN", cursor]
        if match is not None:
            args += [b"MATCH", match]
        if count is not None:
            args += [b"COUNT", count]
        if _type is not None:
            args += [b"TYPE", _type]
        return self._run_routed(_scan, kwargs.get("target_nodes"), *args)

    # ---- hashes -----------------------------------------------------------------------

    def hdel(self, name: KeyT, *keys: KeyT) -> ResponseT:
        return self._run(None, b"HDEL", name, *keys)

    def hexists(self, name: KeyT, key: KeyT) -> ResponseT:
        return self._run(_bool, b"HEXISTS", name, key)

    def hget(self, name: KeyT, key: KeyT, cache: bool = True) -> ResponseT:
        return self._read(cache, None, b"HGET", name, key)

    def hgetall(self, name: KeyT, cache: bool = True) -> ResponseT:
        return self._read(cache, _pairs, b"HGETALL", name)

    def hincrby(self, name: KeyT, key: KeyT, amount: int = 1) -> ResponseT:
        return self._run(None, b"HINCRBY", name, key, amount)

    def hincrbyfloat(self, name: KeyT, key: KeyT, amount: float = 1.0) -> ResponseT:
        return self._run(float, b"HINCRBYFLOAT", name, key, amount)

    def hkeys(self, name: KeyT) -> ResponseT:
        return self._run(None, b"HKEYS", name)

    def hlen(self, name: KeyT) -> ResponseT:
        return self._run(None, b"HLEN", name)

    def hset(self, name: KeyT, key: Optional[KeyT] = None, value: Optional[EncodableT] = None,
             mapping: Optional[Mapping] = None, items: Optional[Sequence] = None) -> ResponseT:
        if key is None and not mapping and not items:
            raise DataError("'hset' with no key value pairs")
        args: list = [b"HSET", name]
        if key is not None:
            args += [key, value]
        if mapping:
            for k, v in _items(mapping):
                args += [k, v]
        if items:
            args.extend(items)
        return self._run(None, *args)

    def hsetnx(self, name: KeyT, key: KeyT, value: EncodableT) -> ResponseT:
        return self._run(None, b"HSETNX", name, key, value)  # 0/1, as redis-py 4.3.4

    def hmset(self, name: KeyT, mapping: Mapping) -> ResponseT:
        warnings.warn(f"{type(self).__name__}.hmset() is deprecated. Use {type(self).__name__}.hset() instead.",
                      DeprecationWarning, stacklevel=2)
        args: list = [b"HMSET", name]
        for k, v in _items(mapping):
            args += [k, v]
        return self._run(_ok, *args)

    def hmget(self, name: KeyT, keys: Any, *args: KeyT, cache: bool = True) -> ResponseT:
        return self._read(cache, None, b"HMGET", name, *_keys(keys, args))

    def hvals(self, name: KeyT) -> ResponseT:
        return self._run(None, b"HVALS", name)

    def hstrlen(self, name: KeyT, key: KeyT) -> ResponseT:
        return self._run(None, b"HSTRLEN", name, key)

    def hrandfield(self, key: KeyT, count: Optional[int] = None, withvalues: bool = False) -> ResponseT:
        args: list = [b"HRANDFIELD", key]
        if count is not None:
            args.append(count)
            if withvalues:
                args.append(b"WITHVALUES")
        return self._run(None, *args)

    def hscan(self, name: KeyT, cursor: int = 0, match: Optional[KeyT] = None,
              count: Optional[int] = None) -> ResponseT:
        args: list = [b"HSCAN", name, cursor]
        if match is not None:
            args += [b"MATCH", match]
        if count is not None:
            args += [b"COUNT", count]
        return self._run(_scan_pairs, *args)

    # ---- sets -------------------------------------------------------------------------

    def sadd(self, name: KeyT, *values: EncodableT) -> ResponseT:
        return self._run(None, b"SADD", name, *values)

    def scard(self, name: KeyT) -> ResponseT:
        return self._run(None, b"SCARD", name)

    def sdiff(self, keys: Any, *args: KeyT) -> ResponseT:
        return self._run(_set, b"SDIFF", *_keys(keys, args))

    def sdiffstore(self, dest: KeyT, keys: Any, *args: KeyT) -> ResponseT:
        return self._run(None, b"SDIFFSTORE", dest, *_keys(keys, args))

    def sinter(self, keys: Any, *args: KeyT) -> ResponseT:
        return self._run(_set, b"SINTER", *_keys(keys, args))

    def sinterstore(self, dest: KeyT, keys: Any, *args: KeyT) -> ResponseT:
        return self._run(None, b"SINTERSTORE", dest, *_keys(keys, args))

    def sintercard(self, numkeys: int, keys: Sequence[KeyT], limit: int = 0) -> ResponseT:
        return self._run(None, b"SINTERCARD", numkeys, *keys, b"LIMIT", limit)

    def sismember(self, name: KeyT, value: EncodableT, cache: bool = True) -> ResponseT:
        return self._read(cache, _bool, b"SISMEMBER", name, value)

    def smembers(self, name: KeyT, cache: bool = True) -> ResponseT:
        return self._read(cache, _set, b"SMEMBERS", name)

    def smismember(self, name: KeyT, values: Any, *args: EncodableT) -> ResponseT:
        return self._run(None, b"SMISMEMBER", name, *_keys(values, args))  # [0/1...], as redis-py 4.3.4

    def smove(self, src: KeyT, dst: KeyT, value: EncodableT) -> ResponseT:
        return self._run(_bool, b"SMOVE", src, dst, value)

    def spop(self, name: KeyT, count: Optional[int] = None) -> ResponseT:
        return self._run(None, b"SPOP", name, *([count] if count is not None else []))

    def srandmember(self, name: KeyT, number: Optional[int] = None) -> ResponseT:
        return self._run(None, b"SRANDMEMBER", name, *([number] if number is not None else []))

    def srem(self, name: KeyT, *values: EncodableT) -> ResponseT:
        return self._run(None, b"SREM", name, *values)

    def sunion(self, keys: Any, *args: KeyT) -> ResponseT:
        return self._run(_set, b"SUNION", *_keys(keys, args))

    def sunionstore(self, dest: KeyT, keys: Any, *args: KeyT) -> ResponseT:
        return self._run(None, b"SUNIONSTORE", dest, *_keys(keys, args))

    def sscan(self, name: KeyT, cursor: int = 0, match: Optional[KeyT] = None,
              count: Optional[int] = None) -> ResponseT:
        args: list = [b"SSCAN", name, cursor]
        if match is not None:
            args += [b"MATCH", match]
        if count is not None:
            args += [b"COUNT", count]
        return self._run(_scan, *args)

    # ---- sorted sets --------------------------------------------------------------------

    def zadd(self, name: KeyT, mapping: Mapping[EncodableT, float], nx: bool = False, xx: bool = False,
             ch: bool = False, incr: bool = False, gt: bool = False, lt: bool = False) -> ResponseT:
        _compat.zadd_flags(mapping, nx, xx, incr, gt, lt)
        args: list = [b"ZADD", name]
        args += [f for f, on in ((b"NX", nx), (b"XX", xx), (b"GT", gt), (b"LT", lt), (b"CH", ch), (b"INCR", incr))
                 if on]
        for member, score in _items(mapping):
            args += [score, member]
        return self._run(_float_or_none if incr else None, *args)

    def zcard(self, name: KeyT) -> ResponseT:
        return self._run(None, b"ZCARD", name)

    def zcount(self, name: KeyT, min: Any, max: Any) -> ResponseT:
        return self._run(None, b"ZCOUNT", name, min, max)

    def zincrby(self, name: KeyT, amount: float, value: EncodableT) -> ResponseT:
        return self._run(float, b"ZINCRBY", name, amount, value)

    def zlexcount(self, name: KeyT, min: EncodableT, max: EncodableT) -> ResponseT:
        return self._run(None, b"ZLEXCOUNT", name, min, max)

    def zpopmax(self, name: KeyT, count: Optional[int] = None) -> ResponseT:
        return self._run(_scores, b"ZPOPMAX", name, *([count] if count is not None else []))

    def zpopmin(self, name: KeyT, count: Optional[int] = None) -> ResponseT:
        return self._run(_scores, b"ZPOPMIN", name, *([count] if count is not None else []))

    def bzpopmax(self, keys: Any, timeout: float = 0) -> ResponseT:
        keys = _keys(keys, ())
        return self._run_blocking(_bzpop, keys[0], b"BZPOPMAX", *keys, timeout)

    def bzpopmin(self, keys: Any, timeout: float = 0) -> ResponseT:
        keys = _keys(keys, ())
        return self._run_blocking(_bzpop, keys[0], b"BZPOPMIN", *keys, timeout)

    def zrange(self, name: KeyT, start: Any, end: Any, desc: bool = False, withscores: bool = False,
               score_cast_func: Callable[[Any], Any] = float, byscore: bool = False, bylex: bool = False,
               offset: Optional[int] = None, num: Optional[int] = None, cache: bool = True) -> ResponseT:
        _compat.zrange_flags(byscore, bylex, withscores, offset, num)
        args: list = [b"ZRANGE", name, start, end]
        if byscore:
            args.append(b"BYSCORE")
        if bylex:
            args.append(b"BYLEX")
        if desc:
            args.append(b"REV")
        if offset is not None and num is not None:
            args += [b"LIMIT", offset, num]
        if withscores:
            args.append(b"WITHSCORES")
            return self._read(cache, _with_scores(score_cast_func), *args)
        return self._read(cache, None, *args)

    def zrevrange(self, name: KeyT, start: int, end: int, withscores: bool = False,
                  score_cast_func: Callable[[Any], Any] = float) -> ResponseT:
        if withscores:
            return self._run(_with_scores(score_cast_func), b"ZREVRANGE", name, start, end, b"WITHSCORES")
        return self._run(None, b"ZREVRANGE", name, start, end)

    def zrangebyscore(self, name: KeyT, min: Any, max: Any, start: Optional[int] = None,
                      num: Optional[int] = None, withscores: bool = False,
                      score_cast_func: Callable[[Any], Any] = float) -> ResponseT:
        args: list = [b"ZRANGEBYSCORE", name, min, max]
        if start is not None and num is not None:
            args += [b"LIMIT", start, num]
        if withscores:
            args.append(b"WITHSCORES")
            return self._run(_with_scores(score_cast_func), *args)
        return self._run(None, *args)

    def zrevrangebyscore(self, name: KeyT, max: Any, min: Any, start: Optional[int] = None,
                         num: Optional[int] = None, withscores: bool = False,
                         score_cast_func: Callable[[Any], Any] = float) -> ResponseT:
        args: list = [b"ZREVRANGEBYSCORE", name, max, min]
        if start is not None and num is not None:
            args += [b"LIMIT", start, num]
        if withscores:
            args.append(b"WITHSCORES")
            return self._run(_with_scores(score_cast_func), *args)
        return self._run(None, *args)

    def zrangebylex(self, name: KeyT, min: EncodableT, max: EncodableT, start: Optional[int] = None,
                    num: Optional[int] = None) -> ResponseT:
        if (start is None) != (num is None):
            raise DataError("``start`` and ``num`` must both be specified")
        args: list = [b"ZRANGEBYLEX", name, min, max]
        if start is not None:
            args += [b"LIMIT", start, num]
        return self._run(None, *args)

    def zrandmember(self, key: KeyT, count: Optional[int] = None, withscores: bool = False) -> ResponseT:
        """A member; with count a list of them (with withscores, member and score
        alternate, as redis-py returns them)."""
        args: list = [b"ZRANDMEMBER", key]
        if count is not None:
            args.append(count)
        if withscores:
            args.append(b"WITHSCORES")
        return self._run(None, *args)

    def zunion(self, keys: Union[Sequence[KeyT], Mapping[KeyT, float]], aggregate: Optional[str] = None,
               withscores: bool = False) -> ResponseT:
        """The union's members; (member, score) tuples with withscores. keys may map each
        key to its weight."""
        args = _zaggregate(b"ZUNION", None, keys, aggregate)
        if withscores:
            return self._run(_scores, *args, b"WITHSCORES")
        return self._run(None, *args)

    def zinter(self, keys: Union[Sequence[KeyT], Mapping[KeyT, float]], aggregate: Optional[str] = None,
               withscores: bool = False) -> ResponseT:
        """As zunion(), for the intersection."""
        args = _zaggregate(b"ZINTER", None, keys, aggregate)
        if withscores:
            return self._run(_scores, *args, b"WITHSCORES")
        return self._run(None, *args)

    def zunionstore(self, dest: KeyT, keys: Union[Sequence[KeyT], Mapping[KeyT, float]],
                    aggregate: Optional[str] = None) -> ResponseT:
        return self._run(None, *_zaggregate(b"ZUNIONSTORE", dest, keys, aggregate))

    def zinterstore(self, dest: KeyT, keys: Union[Sequence[KeyT], Mapping[KeyT, float]],
                    aggregate: Optional[str] = None) -> ResponseT:
        return self._run(None, *_zaggregate(b"ZINTERSTORE", dest, keys, aggregate))

    def zrank(self, name: KeyT, value: EncodableT) -> ResponseT:
        return self._run(None, b"ZRANK", name, value)

    def zrevrank(self, name: KeyT, value: EncodableT) -> ResponseT:
        return self._run(None, b"ZREVRANK", name, value)

    def zrem(self, name: KeyT, *values: EncodableT) -> ResponseT:
        return self._run(None, b"ZREM", name, *values)

    def zremrangebylex(self, name: KeyT, min: EncodableT, max: EncodableT) -> ResponseT:
        return self._run(None, b"ZREMRANGEBYLEX", name, min, max)

    def zremrangebyrank(self, name: KeyT, min: int, max: int) -> ResponseT:
        return self._run(None, b"ZREMRANGEBYRANK", name, min, max)

    def zremrangebyscore(self, name: KeyT, min: Any, max: Any) -> ResponseT:
        return self._run(None, b"ZREMRANGEBYSCORE", name, min, max)

    def zscore(self, name: KeyT, value: EncodableT, cache: bool = True) -> ResponseT:
        return self._read(cache, _float_or_none, b"ZSCORE", name, value)

    def zmscore(self, key: KeyT, members: Sequence[EncodableT]) -> ResponseT:
        if not members:
            raise DataError("ZMSCORE members must be a non-empty list")
        return self._run(_float_list, b"ZMSCORE", key, *members)

    def zscan(self, name: KeyT, cursor: int = 0, match: Optional[KeyT] = None,
              count: Optional[int] = None) -> ResponseT:
        args: list = [b"ZSCAN", name, cursor]
        if match is not None:
            args += [b"MATCH", match]
        if count is not None:
            args += [b"COUNT", count]
        return self._run(_scan_scores, *args)

    # ---- scripting ----------------------------------------------------------------------

    def eval(self, script: EncodableT, numkeys: int, *keys_and_args: EncodableT) -> ResponseT:
        return self._run(None, b"EVAL", script, numkeys, *keys_and_args)

    def evalsha(self, sha: str, numkeys: int, *keys_and_args: EncodableT) -> ResponseT:
        return self._run(None, b"EVALSHA", sha, numkeys, *keys_and_args)

    def eval_ro(self, script: EncodableT, numkeys: int, *keys_and_args: EncodableT) -> ResponseT:
        return self._run(None, b"EVAL_RO", script, numkeys, *keys_and_args)

    def evalsha_ro(self, sha: str, numkeys: int, *keys_and_args: EncodableT) -> ResponseT:
        return self._run(None, b"EVALSHA_RO", sha, numkeys, *keys_and_args)

    def script_load(self, script: EncodableT) -> ResponseT:
        return self._run(_str, b"SCRIPT", b"LOAD", script)

    def script_exists(self, *args: str) -> ResponseT:
        return self._run(_bool_list, b"SCRIPT", b"EXISTS", *args)

    def script_flush(self, sync_type: Optional[str] = None) -> ResponseT:
        sync_type = _compat.script_flush_type(sync_type)
        return self._run(_ok, b"SCRIPT", b"FLUSH", *([sync_type] if sync_type else []))

    def register_script(self, script: EncodableT) -> "Script":
        """A callable Script: EVALSHA, loading the script on NOSCRIPT (as redis-py)."""
        return Script(self, script)

    # ---- pub/sub (publishing; subscribing is Client.pubsub()) ----------------------------

    def publish(self, channel: KeyT, message: EncodableT) -> ResponseT:
        return self._run(None, b"PUBLISH", channel, message)

    def spublish(self, shard_channel: KeyT, message: EncodableT) -> ResponseT:
        return self._run(None, b"SPUBLISH", shard_channel, message)

    def pubsub_channels(self, pattern: KeyT = "*", **kwargs: Any) -> ResponseT:
        return self._run_routed(None, kwargs.get("target_nodes"), b"PUBSUB", b"CHANNELS", pattern)

    def pubsub_numpat(self, **kwargs: Any) -> ResponseT:
        return self._run_routed(None, kwargs.get("target_nodes"), b"PUBSUB", b"NUMPAT")

    def pubsub_numsub(self, *args: KeyT, **kwargs: Any) -> ResponseT:
        return self._run_routed(_numsub, kwargs.get("target_nodes"), b"PUBSUB", b"NUMSUB", *args)


class Script:
    """A Lua script called by SHA1 (EVALSHA), loaded on first NOSCRIPT (redis-py's Script)."""

    def __init__(self, registered_client: Any, script: EncodableT) -> None:
        self.registered_client = registered_client
        self.script = script
        if isinstance(script, str):
            encoded = script.encode("utf-8")
        elif isinstance(script, (bytes, bytearray, memoryview)):
            encoded = bytes(script)
        else:
            encoded = str(script).encode("utf-8")
        self.sha = hashlib.sha1(encoded).hexdigest()

    def __call__(self, keys: Sequence[Any] = (), args: Sequence[Any] = (), client: Any = None) -> Any:
        client = self.registered_client if client is None else client
        call = getattr(client, "_call_script", None)
        if call is None:
            raise TypeError(f"{type(client).__name__} cannot run scripts")
        return call(self, list(keys), list(args))

