"""redis-py's response callbacks, for execute_command.

redis-py 4.3.4 converts what ``execute_command`` returns by the command's name
(``Redis.RESPONSE_CALLBACKS``: SET -> True, HGETALL -> a dict, ZRANGE with
``withscores=True`` -> pairs...), also in pipelines; code written for it expects that.
rcm's own command methods convert their replies themselves (their ``post``), so this
table is used only by ``execute_command``: one dict lookup by the command's name, as
redis-py's (case-insensitive, str names only: a bytes name gets the raw reply there too).
Keyword options of ``execute_command`` reach the callback as redis-py passes them.

The functions follow redis-py 4.3.4 (redis/client.py, MIT licence); names of more than
one word ("CONFIG GET") are left out, since rcm sends a command's name as one argument.
"""

from __future__ import annotations

import datetime
from typing import Any, Callable, Dict, Optional

from .commands import parse_info

__all__ = ["RESPONSE_CALLBACKS", "callback_for"]


def _str(value: Any) -> Any:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value


def bool_ok(response: Any) -> bool:
    return _str(response) == "OK"


def int_or_none(response: Any) -> Optional[int]:
    return None if response is None else int(response)


def float_or_none(response: Any) -> Optional[float]:
    return None if response is None else float(response)


def pairs_to_dict(response: Any, decode_keys: bool = False, decode_string_values: bool = False) -> dict:
    if response is None:
        return {}
    if decode_keys or decode_string_values:
        keys = response[::2]
        values = response[1::2]
        if decode_keys:
            keys = map(_str, keys)
        if decode_string_values:
            values = map(_str, values)
        return dict(zip(keys, values))
    it = iter(response)
    return dict(zip(it, it))


def timestamp_to_datetime(response: Any) -> Optional[datetime.datetime]:
    if not response:
        return None
    try:
        return datetime.datetime.fromtimestamp(int(response))
    except ValueError:
        return None


def zset_score_pairs(response: Any, **options: Any) -> Any:
    if not response or not options.get("withscores"):
        return response
    score_cast_func = options.get("score_cast_func", float)
    it = iter(response)
    return list(zip(it, map(score_cast_func, it)))


def sort_return_tuples(response: Any, **options: Any) -> Any:
    if not response or not options.get("groups"):
        return response
    n = options["groups"]
    return list(zip(*[response[i::n] for i in range(n)]))


def parse_stream_list(response: Any) -> Any:
    if response is None:
        return None
    return [(r[0], pairs_to_dict(r[1])) if r is not None else (None, None) for r in response]


def parse_xread(response: Any) -> list:
    if response is None:
        return []
    return [[r[0], parse_stream_list(r[1])] for r in response]


def parse_xclaim(response: Any, **options: Any) -> Any:
    if options.get("parse_justid", False):
        return response
    return parse_stream_list(response)


def parse_xautoclaim(response: Any, **options: Any) -> Any:
    if options.get("parse_justid", False):
        return response[1]
    response[1] = parse_stream_list(response[1])
    return response


def parse_xpending(response: Any, **options: Any) -> Any:
    if options.get("parse_detail", False):
        k = ("message_id", "consumer", "time_since_delivered", "times_delivered")
        return [dict(zip(k, r)) for r in response]
    consumers = [{"name": n, "pending": int(p)} for n, p in response[3] or []]
    return {"pending": response[0], "min": response[1], "max": response[2], "consumers": consumers}


def parse_zadd(response: Any, **options: Any) -> Any:
    if response is None:
        return None
    return float(response) if options.get("as_score") else int(response)


def parse_scan(response: Any, **options: Any) -> tuple:
    cursor, r = response
    return int(cursor), r


def parse_hscan(response: Any, **options: Any) -> tuple:
    cursor, r = response
    return int(cursor), r and pairs_to_dict(r) or {}


def parse_zscan(response: Any, **options: Any) -> tuple:
    score_cast_func = options.get("score_cast_func", float)
    cursor, r = response
    it = iter(r)
    return int(cursor), list(zip(it, map(score_cast_func, it)))


def parse_zmscore(response: Any, **options: Any) -> list:
    return [float(score) if score is not None else None for score in response]


def parse_object(response: Any, infotype: Any = None) -> Any:
    if infotype in ("idletime", "refcount"):
        return int_or_none(response)
    return response


def parse_set_result(response: Any, **options: Any) -> Any:
    if options.get("get"):
        return response
    return response and _str(response) == "OK"


def parse_geosearch_generic(response: Any, **options: Any) -> Any:
    if options.get("store") or options.get("store_dist"):
        return response
    response_list = response if type(response) is list else [response]
    if not options.get("withdist") and not options.get("withcoord") and not options.get("withhash"):
        return response_list
    cast = {"withdist": float, "withcoord": lambda ll: (float(ll[0]), float(ll[1])), "withhash": int}
    f = [lambda x: x] + [cast[o] for o in ("withdist", "withhash", "withcoord") if options.get(o)]
    return [[fn(v) for fn, v in zip(f, r)] for r in response_list]


def parse_slowlog_get(response: Any, **options: Any) -> list:
    space = " " if options.get("decode_responses", False) else b" "

    def parse_item(item: Any) -> dict:
        result = {"id": item[0], "start_time": int(item[1]), "duration": int(item[2])}
        if isinstance(item[3], list):
            result["command"] = space.join(item[3])
        else:
            result["complexity"] = item[3]
            result["command"] = space.join(item[4])
        return result

    return [parse_item(item) for item in response]


def _keys(names: str, callback: Callable[..., Any]) -> Dict[str, Callable[..., Any]]:
    return dict.fromkeys(names.split(), callback)


RESPONSE_CALLBACKS: Dict[str, Callable[..., Any]] = {
    **_keys("AUTH COPY EXPIRE EXPIREAT PEXPIRE PEXPIREAT HEXISTS HMSET MOVE MSETNX PERSIST "
            "PSETEX RENAMENX SISMEMBER SMOVE SETEX SETNX", bool),
    **_keys("BITCOUNT BITPOS DECRBY DEL EXISTS GEOADD GETBIT HDEL HLEN HSTRLEN INCRBY LINSERT LLEN "
            "LPUSHX PFADD PFCOUNT RPUSHX SADD SCARD SDIFFSTORE SETBIT SETRANGE SINTERSTORE SREM "
            "STRLEN SUNIONSTORE UNLINK XACK XDEL XLEN XTRIM ZCARD ZLEXCOUNT ZREM ZREMRANGEBYLEX "
            "ZREMRANGEBYRANK ZREMRANGEBYSCORE", int),
    **_keys("INCRBYFLOAT HINCRBYFLOAT", float),
    **_keys("LPUSH RPUSH", lambda r: isinstance(r, int) and r or _str(r) == "OK"),
    **_keys("SORT", sort_return_tuples),
    **_keys("ZSCORE ZINCRBY GEODIST", float_or_none),
    **_keys("FLUSHALL FLUSHDB LSET LTRIM MSET PFMERGE ASKING READONLY READWRITE RENAME SAVE SELECT "
            "SHUTDOWN SLAVEOF SWAPDB WATCH UNWATCH", bool_ok),
    **_keys("BLPOP BRPOP", lambda r: r and tuple(r) or None),
    **_keys("SDIFF SINTER SMEMBERS SUNION", lambda r: r and set(r) or set()),
    **_keys("ZPOPMAX ZPOPMIN ZINTER ZDIFF ZUNION ZRANGE ZRANGEBYSCORE ZREVRANGE ZREVRANGEBYSCORE",
            zset_score_pairs),
    **_keys("BZPOPMIN BZPOPMAX", lambda r: r and (r[0], r[1], float(r[2])) or None),
    **_keys("ZRANK ZREVRANK", int_or_none),
    **_keys("XREVRANGE XRANGE", parse_stream_list),
    **_keys("XREAD XREADGROUP", parse_xread),
    **_keys("BGREWRITEAOF BGSAVE", lambda r: True),
    "GEOHASH": lambda r: list(map(_str, r)),
    "GEOPOS": lambda r: [(float(ll[0]), float(ll[1])) if ll is not None else None for ll in r],
    "GEOSEARCH": parse_geosearch_generic,
    "GEORADIUS": parse_geosearch_generic,
    "GEORADIUSBYMEMBER": parse_geosearch_generic,
    "HGETALL": lambda r: r and pairs_to_dict(r) or {},
    "HSCAN": parse_hscan,
    "INFO": parse_info,
    "LASTSAVE": timestamp_to_datetime,
    "OBJECT": parse_object,
    "PING": lambda r: _str(r) == "PONG",
    "QUIT": bool_ok,
    "RANDOMKEY": lambda r: r and r or None,
    "RESET": _str,
    "SCAN": parse_scan,
    "SET": parse_set_result,
    "SSCAN": parse_scan,
    "TIME": lambda x: (int(x[0]), int(x[1])),
    "XCLAIM": parse_xclaim,
    "XAUTOCLAIM": parse_xautoclaim,
    "XPENDING": parse_xpending,
    "ZADD": parse_zadd,
    "ZSCAN": parse_zscan,
    "ZMSCORE": parse_zmscore,
}

# Upper- and lower-case spellings, so that the usual ones cost one lookup.
_TABLE: Dict[Any, Callable[..., Any]] = {**RESPONSE_CALLBACKS, **{k.lower(): v for k, v in RESPONSE_CALLBACKS.items()}}
_get = _TABLE.get


def callback_for(name: Any) -> Optional[Callable[..., Any]]:
    """The callback for a command named name (a str, any case), or None."""
    cb = _get(name)
    if cb is None and type(name) is str and not name.isupper():
        cb = _get(name.upper())
    return cb
