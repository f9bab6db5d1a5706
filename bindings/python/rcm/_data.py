"""Data commands beyond commands.py: geo, streams, HyperLogLog, BITFIELD and the rest of
redis-py 4.3.4's key, list and sorted-set methods, with its names, defaults, DataError
checks and return shapes. Mixed into rcm.commands.Commands."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Union

from . import _replies as R
from ._decl import cmd, named
from .exceptions import DataError

__all__ = ["DataCommands", "BitFieldOperation"]

KeyT = Any
_UNITS = ("m", "km", "mi", "ft")


def _nonneg_int(v: Any, what: str) -> None:
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise DataError(f"{what} must be a non-negative integer")


def _positive_count(count: Any, what: str) -> list:
    if count is None:
        return []
    if not isinstance(count, int) or count < 1:
        raise DataError(f"{what} count must be a positive integer")
    return [b"COUNT", count]


def _trim(maxlen: Any, approximate: bool, minid: Any, limit: Any) -> list:
    """XADD/XTRIM's MAXLEN|MINID [~] n [LIMIT l]."""
    out: list = []
    if maxlen is not None:
        out += [b"MAXLEN"] + ([b"~"] if approximate else []) + [maxlen]
    if minid is not None:
        out += [b"MINID"] + ([b"~"] if approximate else []) + [minid]
    if limit is not None:
        out += [b"LIMIT", limit]
    return out


def _streams(streams: Any, what: str) -> list:
    if not isinstance(streams, dict) or not streams:
        raise DataError(f"{what} streams must be a non empty dict")
    return [b"STREAMS", *streams.keys(), *streams.values()]


class BitFieldOperation:
    """BITFIELD's operations, chained, then sent by execute() (redis-py's class)."""

    def __init__(self, client: Any, key: KeyT, default_overflow: Optional[str] = None) -> None:
        self.client = client
        self.key = key
        self._default_overflow = default_overflow
        self.reset()

    def reset(self) -> None:
        self.operations: List[tuple] = []
        self._last_overflow = "WRAP"
        self.overflow(self._default_overflow or self._last_overflow)

    def overflow(self, overflow: str) -> "BitFieldOperation":
        overflow = overflow.upper()
        if overflow != self._last_overflow:
            self._last_overflow = overflow
            self.operations.append((b"OVERFLOW", overflow))
        return self

    def incrby(self, fmt: str, offset: Any, increment: int, overflow: Optional[str] = None) -> "BitFieldOperation":
        if overflow is not None:
            self.overflow(overflow)
        self.operations.append((b"INCRBY", fmt, offset, increment))
        return self

    def get(self, fmt: str, offset: Any) -> "BitFieldOperation":
        self.operations.append((b"GET", fmt, offset))
        return self

    def set(self, fmt: str, offset: Any, value: int) -> "BitFieldOperation":
        self.operations.append((b"SET", fmt, offset, value))
        return self

    @property
    def command(self) -> list:
        out: list = [b"BITFIELD", self.key]
        for op in self.operations:
            out.extend(op)
        return out

    def execute(self) -> Any:
        """The list of results (on a pipeline: queued, in execute()'s results)."""
        command = self.command
        self.reset()
        return self.client._run(None, *command)


@named
class DataCommands:
    __slots__ = ()

    # ---- geo ------------------------------------------------------------------------------

    def geoadd(self, name: KeyT, values: Sequence[Any], nx: bool = False, xx: bool = False,
               ch: bool = False) -> Any:
        """values: lon1, lat1, member1, lon2, ... The number added (changed, with ch)."""
        if nx and xx:
            raise DataError("GEOADD allows either 'nx' or 'xx', not both")
        if len(values) % 3 != 0:
            raise DataError("GEOADD requires places with lon, lat and name values")
        flags = [f for f, on in ((b"NX", nx), (b"XX", xx), (b"CH", ch)) if on]
        return self._run(None, b"GEOADD", name, *flags, *values)

    def geodist(self, name: KeyT, place1: Any, place2: Any, unit: Optional[str] = None) -> Any:
        if unit and unit not in _UNITS:
            raise DataError("GEODIST invalid unit")
        return self._run(R.float_or_none, b"GEODIST", name, place1, place2, *([unit] if unit else []))

    geohash = cmd("GEOHASH name *values", R.str_list)
    geopos = cmd("GEOPOS name *values", R.geopos)

    def georadius(self, name: KeyT, longitude: float, latitude: float, radius: float, unit: Optional[str] = None,
                  withdist: bool = False, withcoord: bool = False, withhash: bool = False,
                  count: Optional[int] = None, sort: Optional[str] = None, store: Optional[KeyT] = None,
                  store_dist: Optional[KeyT] = None, any: bool = False) -> Any:
        return self._georadius(b"GEORADIUS", [name, longitude, latitude, radius], unit, withdist, withcoord,
                               withhash, count, sort, store, store_dist, any)

    def georadiusbymember(self, name: KeyT, member: Any, radius: float, unit: Optional[str] = None,
                          withdist: bool = False, withcoord: bool = False, withhash: bool = False,
                          count: Optional[int] = None, sort: Optional[str] = None, store: Optional[KeyT] = None,
                          store_dist: Optional[KeyT] = None, any: bool = False) -> Any:
        return self._georadius(b"GEORADIUSBYMEMBER", [name, member, radius], unit, withdist, withcoord, withhash,
                               count, sort, store, store_dist, any)

    def _georadius(self, command: bytes, args: list, unit: Optional[str], withdist: bool, withcoord: bool,
                   withhash: bool, count: Optional[int], sort: Optional[str], store: Any, store_dist: Any,
                   any: bool) -> Any:
        if unit and unit not in _UNITS:
            raise DataError("GEORADIUS invalid unit")
        args.append(unit or "m")
        if any and count is None:
            raise DataError("``any`` can't be provided without ``count``")
        args += [w for w, on in ((b"WITHDIST", withdist), (b"WITHCOORD", withcoord), (b"WITHHASH", withhash)) if on]
        if count is not None:
            args += [b"COUNT", count] + ([b"ANY"] if any else [])
        if sort:
            if sort not in ("ASC", "DESC"):
                raise DataError("GEORADIUS invalid sort")
            args.append(sort)
        if store and store_dist:
            raise DataError("GEORADIUS store and store_dist cant be set together")
        if store:
            args += [b"STORE", store]
        if store_dist:
            args += [b"STOREDIST", store_dist]
        post = None if store or store_dist else R.geosearch(withdist, withhash, withcoord)
        return self._run(post, command, *args)

    def geosearch(self, name: KeyT, member: Any = None, longitude: Optional[float] = None,
                  latitude: Optional[float] = None, unit: str = "m", radius: Optional[float] = None,
                  width: Optional[float] = None, height: Optional[float] = None, sort: Optional[str] = None,
                  count: Optional[int] = None, any: bool = False, withcoord: bool = False, withdist: bool = False,
                  withhash: bool = False) -> Any:
        args = self._geosearch_args([b"GEOSEARCH", name], member, longitude, latitude, unit, radius, width,
                                    height, sort, count, any)
        args += [w for w, on in ((b"WITHDIST", withdist), (b"WITHCOORD", withcoord), (b"WITHHASH", withhash)) if on]
        return self._run(R.geosearch(withdist, withhash, withcoord), *args)

    def geosearchstore(self, dest: KeyT, name: KeyT, member: Any = None, longitude: Optional[float] = None,
                       latitude: Optional[float] = None, unit: str = "m", radius: Optional[float] = None,
                       width: Optional[float] = None, height: Optional[float] = None, sort: Optional[str] = None,
                       count: Optional[int] = None, any: bool = False, storedist: bool = False) -> Any:
        args = self._geosearch_args([b"GEOSEARCHSTORE", dest, name], member, longitude, latitude, unit, radius,
                                    width, height, sort, count, any)
        return self._run(None, *args, *([b"STOREDIST"] if storedist else []))

    @staticmethod
    def _geosearch_args(args: list, member: Any, longitude: Any, latitude: Any, unit: Optional[str], radius: Any,
                        width: Any, height: Any, sort: Optional[str], count: Any, any: bool) -> list:
        if member is None and (longitude is None or latitude is None):
            raise DataError("GEOSEARCH must have member or longitude and latitude")
        if member:
            if longitude or latitude:
                raise DataError("GEOSEARCH member and longitude or latitude cant be set together")
            args += [b"FROMMEMBER", member]
        if longitude and latitude:
            args += [b"FROMLONLAT", longitude, latitude]
        if radius is None and (width is None or height is None):
            raise DataError("GEOSEARCH must have radius or width and height")
        if unit is None:
            raise DataError("GEOSEARCH must have unit")
        if unit.lower() not in _UNITS:
            raise DataError("GEOSEARCH invalid unit")
        if radius:
            if width or height:
                raise DataError("GEOSEARCH radius and width or height cant be set together")
            args += [b"BYRADIUS", radius, unit]
        if width and height:
            args += [b"BYBOX", width, height, unit]
        if sort:
            if sort.upper() not in ("ASC", "DESC"):
                raise DataError("GEOSEARCH invalid sort")
            args.append(sort.upper())
        if count:
            args += [b"COUNT", count] + ([b"ANY"] if any else [])
        elif any:
            raise DataError("GEOSEARCH ``any`` can't be provided without count")
        return args

    # ---- streams --------------------------------------------------------------------------

    xack = cmd("XACK name groupname *ids")
    xdel = cmd("XDEL name *ids")
    xlen = cmd("XLEN name")
    xgroup_destroy = cmd("XGROUP DESTROY name groupname", bool)
    xgroup_delconsumer = cmd("XGROUP DELCONSUMER name groupname consumername")
    xgroup_createconsumer = cmd("XGROUP CREATECONSUMER name groupname consumername")
    xgroup_setid = cmd("XGROUP SETID name groupname id [ENTRIESREAD entries_read]", R.ok)
    xgroup_create = cmd("XGROUP CREATE name groupname id=$ [MKSTREAM:mkstream] [ENTRIESREAD entries_read]", R.ok)
    xinfo_consumers = cmd("XINFO CONSUMERS name groupname", R.list_of_str_dicts)
    xinfo_groups = cmd("XINFO GROUPS name", R.list_of_str_dicts)
    xpending = cmd("XPENDING name groupname", R.xpending)

    def xadd(self, name: KeyT, fields: Dict[Any, Any], id: Any = "*", maxlen: Optional[int] = None,
             approximate: bool = True, nomkstream: bool = False, minid: Any = None, limit: Optional[int] = None) -> Any:
        """The new entry's id."""
        if maxlen is not None and minid is not None:
            raise DataError("Only one of ```maxlen``` or ```minid``` may be specified")
        if maxlen is not None and (not isinstance(maxlen, int) or maxlen < 1):
            raise DataError("XADD maxlen must be a positive integer")
        if not isinstance(fields, dict) or not fields:
            raise DataError("XADD fields must be a non-empty dict")
        args = [b"XADD", name, *_trim(maxlen, approximate, minid, limit)]
        if nomkstream:
            args.append(b"NOMKSTREAM")
        args.append(id)
        for kv in fields.items():
            args.extend(kv)
        return self._run(None, *args)

    def xautoclaim(self, name: KeyT, groupname: Any, consumername: Any, min_idle_time: int, start_id: Any = 0,
                   count: Optional[int] = None, justid: bool = False) -> Any:
        """[next start id, [(id, fields)...], deleted ids] (with justid: the claimed ids)."""
        try:  # as redis-py: a string that is no number is ValueError, None goes to the server
            idle = int(min_idle_time)
        except TypeError:
            idle = 0
        if idle < 0:  # (outside the try: DataError is a TypeError too)
            raise DataError("XAUTOCLAIM min_idle_time must be a nonnegative integer")
        args = [b"XAUTOCLAIM", name, groupname, consumername, min_idle_time, start_id]
        if count is not None:
            if int(count) < 0:
                raise DataError("XPENDING count must be a integer >= 0")
            args += [b"COUNT", count]
        if justid:
            return self._run(R.xautoclaim_justid, *args, b"JUSTID")
        return self._run(R.xautoclaim, *args)

    def xclaim(self, name: KeyT, groupname: Any, consumername: Any, min_idle_time: int,
               message_ids: Union[List[Any], tuple], idle: Optional[int] = None, time: Optional[int] = None,
               retrycount: Optional[int] = None, force: bool = False, justid: bool = False) -> Any:
        """[(id, fields)...] of the claimed entries (with justid: their ids)."""
        if not isinstance(min_idle_time, int) or min_idle_time < 0:
            raise DataError("XCLAIM min_idle_time must be a non negative integer")
        if not isinstance(message_ids, (list, tuple)) or not message_ids:
            raise DataError("XCLAIM message_ids must be a non empty list or tuple of message IDs to claim")
        args = [b"XCLAIM", name, groupname, consumername, min_idle_time, *message_ids]
        for word, v in ((b"IDLE", idle), (b"TIME", time), (b"RETRYCOUNT", retrycount)):
            if v is not None:
                if not isinstance(v, int):
                    raise DataError(f"XCLAIM {word.decode().lower()} must be an integer")
                args += [word, v]
        for word, v in ((b"FORCE", force), (b"JUSTID", justid)):
            if v:
                if not isinstance(v, bool):
                    raise DataError(f"XCLAIM {word.decode().lower()} must be a boolean")
                args.append(word)
        return self._run(None if justid else R.stream_list, *args)

    def xinfo_stream(self, name: KeyT, full: bool = False) -> Any:
        if full:
            return self._run(R.xinfo_stream_full, b"XINFO", b"STREAM", name, b"FULL")
        return self._run(R.xinfo_stream, b"XINFO", b"STREAM", name)

    def xpending_range(self, name: KeyT, groupname: Any, min: Any, max: Any, count: int,
                       consumername: Any = None, idle: Optional[int] = None) -> Any:
        """[{"message_id", "consumer", "time_since_delivered", "times_delivered"}...]."""
        if {min, max, count} == {None}:
            if idle is not None or consumername is not None:
                raise DataError("if XPENDING is provided with idle time or consumername, it must be provided "
                                "with min, max and count parameters")
            return self.xpending(name, groupname)
        if min is None or max is None or count is None:
            raise DataError("XPENDING must be provided with min, max and count parameters, or none of them.")
        args = [b"XPENDING", name, groupname]
        if idle is not None:
            if int(idle) < 0:
                raise DataError("XPENDING idle must be a integer >= 0")
            args += [b"IDLE", idle]
        if int(count) < 0:
            raise DataError("XPENDING count must be a integer >= 0")
        args += [min, max, count]
        if consumername:
            args.append(consumername)
        return self._run(R.xpending_range, *args)

    def xrange(self, name: KeyT, min: Any = "-", max: Any = "+", count: Optional[int] = None) -> Any:
        """[(id, {field: value})...]."""
        return self._run(R.stream_list, b"XRANGE", name, min, max, *_positive_count(count, "XRANGE"))

    def xrevrange(self, name: KeyT, max: Any = "+", min: Any = "-", count: Optional[int] = None) -> Any:
        return self._run(R.stream_list, b"XREVRANGE", name, max, min, *_positive_count(count, "XREVRANGE"))

    def xread(self, streams: Dict[KeyT, Any], count: Optional[int] = None, block: Optional[int] = None) -> Any:
        """[[stream, [(id, fields)...]]...]; [] when nothing came. block (ms) waits on a lease."""
        args: list = [b"XREAD"]
        if block is not None:
            _nonneg_int(block, "XREAD block")
            args += [b"BLOCK", block]
        args += _positive_count(count, "XREAD") + _streams(streams, "XREAD")
        if block is not None:
            return self._run_blocking(R.xread, next(iter(streams)), *args)
        return self._run(R.xread, *args)

    def xreadgroup(self, groupname: str, consumername: str, streams: Dict[KeyT, Any], count: Optional[int] = None,
                   block: Optional[int] = None, noack: bool = False) -> Any:
        args: list = [b"XREADGROUP", b"GROUP", groupname, consumername, *_positive_count(count, "XREADGROUP")]
        if block is not None:
            _nonneg_int(block, "XREADGROUP block")
            args += [b"BLOCK", block]
        if noack:
            args.append(b"NOACK")
        args += _streams(streams, "XREADGROUP")
        if block is not None:
            return self._run_blocking(R.xread, next(iter(streams)), *args)
        return self._run(R.xread, *args)

    def xtrim(self, name: KeyT, maxlen: Optional[int] = None, approximate: bool = True, minid: Any = None,
              limit: Optional[int] = None) -> Any:
        if maxlen is not None and minid is not None:
            raise DataError("Only one of ``maxlen`` or ``minid`` may be specified")
        if maxlen is None and minid is None:
            raise DataError("One of ``maxlen`` or ``minid`` must be specified")
        return self._run(None, b"XTRIM", name, *_trim(maxlen, approximate, minid, limit))

    # ---- HyperLogLog ----------------------------------------------------------------------

    pfadd = cmd("PFADD name *values")
    pfcount = cmd("PFCOUNT *sources")
    pfmerge = cmd("PFMERGE dest *sources", R.ok)

    # ---- keys, strings, lists, sorted sets -------------------------------------------------

    move = cmd("MOVE name db", bool)
    substr = cmd("SUBSTR name start end=-1")

    def bitfield(self, key: KeyT, default_overflow: Optional[str] = None) -> BitFieldOperation:
        """BITFIELD's operations, chained: r.bitfield(k).incrby("u8", 0, 1).get("u8", 0).execute()."""
        return BitFieldOperation(self, key, default_overflow=default_overflow)

    def object(self, infotype: str, key: KeyT, **kwargs: Any) -> Any:
        """OBJECT ENCODING|FREQ|IDLETIME|REFCOUNT key: idletime and refcount as int (or
        None), the others as the server says them (redis-py's parse_object)."""
        post = R.int_or_none if infotype in ("idletime", "refcount") else None
        return self._run(post, b"OBJECT", infotype, key)

    def lcs(self, key1: KeyT, key2: KeyT, len: bool = False, idx: bool = False, minmatchlen: int = 0,
            withmatchlen: bool = False) -> Any:
        args = [b"LCS", key1, key2] + [w for w, on in ((b"LEN", len), (b"IDX", idx)) if on]
        if minmatchlen != 0:
            args += [b"MINMATCHLEN", minmatchlen]
        if withmatchlen:
            args.append(b"WITHMATCHLEN")
        return self._run(None, *args)

    def stralgo(self, algo: str, value1: KeyT, value2: KeyT, specific_argument: str = "strings", len: bool = False,
                idx: bool = False, minmatchlen: Optional[int] = None, withmatchlen: bool = False,
                **kwargs: Any) -> Any:
        """STRALGO LCS (servers before Redis 7; Valkey has LCS instead: lcs())."""
        if algo not in ("LCS",):
            raise DataError("The supported algorithms are: LCS")
        if specific_argument not in ("keys", "strings"):
            raise DataError("specific_argument can be only keys or strings")
        if len and idx:
            raise DataError("len and idx cannot be provided together.")
        args = [b"STRALGO", algo, specific_argument.upper(), value1, value2]
        args += [w for w, on in ((b"LEN", len), (b"IDX", idx)) if on]
        if minmatchlen is not None:
            args += [b"MINMATCHLEN", minmatchlen]
        if withmatchlen:
            args.append(b"WITHMATCHLEN")
        return self._run(int if len else (None if idx else R.s), *args)

    def sort_ro(self, key: KeyT, start: Optional[int] = None, num: Optional[int] = None, by: Optional[KeyT] = None,
                get: Optional[List[KeyT]] = None, desc: bool = False, alpha: bool = False) -> Any:
        """SORT_RO: sort() without STORE, which replicas accept too."""
        return self._sort(b"SORT_RO", key, start, num, by, get, desc, alpha, None, False)

    def blmpop(self, timeout: float, numkeys: int, *args: KeyT, direction: str, count: Optional[int] = 1) -> Any:
        """[key, [elements...]] or None; waits on a lease."""
        return self._run_blocking(None, args[0] if args else None, b"BLMPOP", timeout, numkeys, *args, direction,
                                  b"COUNT", count)

    def zdiff(self, keys: Sequence[KeyT], withscores: bool = False) -> Any:
        """Members; with withscores member and score alternate in one flat list (as
        redis-py 4.3.4 returns them: it converts no pairs for ZDIFF)."""
        return self._run(None, b"ZDIFF", len(keys), *keys, *([b"WITHSCORES"] if withscores else []))

    def zdiffstore(self, dest: KeyT, keys: Sequence[KeyT]) -> Any:
        return self._run(None, b"ZDIFFSTORE", dest, len(keys), *keys)

    def zintercard(self, numkeys: int, keys: List[KeyT], limit: int = 0) -> Any:
        return self._run(None, b"ZINTERCARD", numkeys, *keys, b"LIMIT", limit)

    def zmpop(self, num_keys: int, keys: List[KeyT], min: bool = False, max: bool = False,
              count: Optional[int] = 1) -> Any:
        """[key, [[member, score]...]] or None."""
        if min == max:
            raise DataError("Either min or max, but not both must be set")
        args = [b"ZMPOP", num_keys, *keys, b"MIN" if min else b"MAX"]
        if count != 1:
            args += [b"COUNT", count]
        return self._run(None, *args)

    def bzmpop(self, timeout: float, numkeys: int, keys: List[KeyT], min: bool = False, max: bool = False,
               count: Optional[int] = 1) -> Any:
        """As zmpop(), waiting up to timeout seconds on a lease."""
        if min == max:
            raise DataError("Either min or max, but not both must be set")
        return self._run_blocking(None, keys[0] if keys else None, b"BZMPOP", timeout, numkeys, *keys,
                                  b"MIN" if min else b"MAX", b"COUNT", count)

    def zrangestore(self, dest: KeyT, name: KeyT, start: Any, end: Any, byscore: bool = False, bylex: bool = False,
                    desc: bool = False, offset: Optional[int] = None, num: Optional[int] = None) -> Any:
        if byscore and bylex:
            raise DataError("``byscore`` and ``bylex`` can not be specified together.")
        if (offset is not None and num is None) or (num is not None and offset is None):
            raise DataError("``offset`` and ``num`` must both be specified.")
        args = [b"ZRANGESTORE", dest, name, start, end]
        args += [w for w, on in ((b"BYSCORE", byscore), (b"BYLEX", bylex), (b"REV", desc)) if on]
        if offset is not None:
            args += [b"LIMIT", offset, num]
        return self._run(None, *args)

    def zrevrangebylex(self, name: KeyT, max: Any, min: Any, start: Optional[int] = None,
                       num: Optional[int] = None) -> Any:
        if (start is None) != (num is None):
            raise DataError("``start`` and ``num`` must both be specified")
        args = [b"ZREVRANGEBYLEX", name, max, min]
        if start is not None:
            args += [b"LIMIT", start, num]
        return self._run(None, *args)

