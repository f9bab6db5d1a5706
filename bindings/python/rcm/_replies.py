"""Replies turned into what redis-py 4.3.4 returns (its response callbacks, RESP2), for the
commands of _data.py and _server.py. Each takes the raw reply; bulk strings are bytes, or
str with decode_responses=True, and status replies may be either."""

from __future__ import annotations

import datetime
from typing import Any, Callable, Dict, List, Optional


def s(r: Any) -> Any:
    """redis-py's str_if_bytes."""
    return r.decode("utf-8", "replace") if isinstance(r, bytes) else r


def str_list(r: Any) -> list:
    return [s(x) for x in r]


def ok(r: Any) -> bool:
    return s(r) == "OK"


def true(r: Any) -> bool:
    return True


def int_or_none(r: Any) -> Optional[int]:
    return None if r is None else int(r)


def float_or_none(r: Any) -> Optional[float]:
    return None if r is None else float(r)


def pairs(r: Any) -> dict:
    if r is None:
        return {}
    it = iter(r)
    return dict(zip(it, it))


def str_pairs(r: Any) -> dict:
    """pairs_to_dict(decode_keys=True)."""
    if r is None:
        return {}
    return dict(zip(map(s, r[::2]), r[1::2]))


def list_of_str_dicts(r: Any) -> list:
    return [str_pairs(x) for x in r]


def timestamp(r: Any) -> Optional[datetime.datetime]:
    try:
        return datetime.datetime.fromtimestamp(int(r)) if r else None
    except ValueError:
        return None


# ---- the core families' (commands.py) ----------------------------------------------------


def _ok(r: Any) -> Any:
    return True if r == "OK" else r


def _set_reply(r: Any) -> Optional[bool]:
    return None if r is None else r == "OK"


def _bool(r: Any) -> bool:
    return bool(r)


def _pong(r: Any) -> bool:
    return r == "PONG" or r == b"PONG" or r == "pong"


def _set(r: Any) -> set:
    return set(r) if r is not None else set()


def _tuple_or_none(r: Any) -> Optional[tuple]:
    return tuple(r) if r else None


def _bool_list(r: Any) -> list:
    return [bool(x) for x in r]


def _float_list(r: Any) -> list:
    return [None if x is None else float(x) for x in r]


def _scan(r: Any) -> tuple:
    return int(r[0]), r[1]


def _scan_pairs(r: Any) -> tuple:
    return int(r[0]), pairs(r[1])


def _scan_scores(r: Any) -> tuple:
    return int(r[0]), _scores(r[1])


def _scores(r: Any, cast: Callable[[Any], Any] = float) -> list:
    if r is None:
        return []
    it = iter(r)
    return [(m, cast(s)) for m, s in zip(it, it)]


def _with_scores(cast: Callable[[Any], Any]) -> Callable[[Any], list]:
    if cast is float:
        return _scores
    return lambda r: _scores(r, cast)


def _bzpop(r: Any) -> Optional[tuple]:
    return (r[0], r[1], float(r[2])) if r else None


def _groups(n: int) -> Callable[[Any], Any]:
    """SORT ... GET a GET b with groups=True: [(a1, b1), (a2, b2)...] (redis-py)."""
    return lambda r: list(zip(*[r[i::n] for i in range(n)])) if r else r


def _time(r: Any) -> tuple:
    return int(r[0]), int(r[1])


def _numsub(r: Any) -> list:
    it = iter(r)
    return [(c, int(n)) for c, n in zip(it, it)]


def _config_get(r: Any) -> dict:
    return {s(k): s(v) for k, v in pairs(r).items()}


def _value(v: str) -> Any:
    if "," in v and "=" in v:
        out = {}
        for part in v.split(","):
            if "=" in part:
                k, _, x = part.partition("=")
                out[k] = _value(x)
        return out
    try:
        return int(v)
    except ValueError:
        pass
    try:
        return float(v)
    except ValueError:
        return v


def parse_info(r: Any) -> dict:
    """INFO text -> dict, values as int/float when they look like numbers (as redis-py)."""
    text = r.decode("utf-8", "replace") if isinstance(r, bytes) else r
    info: dict = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition(":")
        if sep:
            info[key] = _value(value)
    return info


# ---- streams ----------------------------------------------------------------------------


def stream_list(r: Any) -> Optional[list]:
    """[(id, {field: value}), ...]; a deleted entry (XCLAIM) is (None, None)."""
    if r is None:
        return None
    return [(e[0], pairs(e[1])) if e is not None else (None, None) for e in r]


def xread(r: Any) -> list:
    return [] if r is None else [[x[0], stream_list(x[1])] for x in r]


def xautoclaim(r: Any) -> list:
    r[1] = stream_list(r[1])
    return r


def xautoclaim_justid(r: Any) -> list:
    return r[1]


def xinfo_stream(r: Any) -> dict:
    data = str_pairs(r)
    for k in ("first-entry", "last-entry"):
        e = data.get(k)
        if e is not None:
            data[k] = (e[0], pairs(e[1]))
    return data


def xinfo_stream_full(r: Any) -> dict:
    data = str_pairs(r)
    data["entries"] = {i: pairs(e) for i, e in data["entries"]}
    data["groups"] = [str_pairs(g) for g in data["groups"]]
    return data


def xpending(r: Any) -> dict:
    consumers = [{"name": n, "pending": int(p)} for n, p in r[3] or []]
    return {"pending": r[0], "min": r[1], "max": r[2], "consumers": consumers}


_XPENDING_KEYS = ("message_id", "consumer", "time_since_delivered", "times_delivered")


def xpending_range(r: Any) -> list:
    return [dict(zip(_XPENDING_KEYS, x)) for x in r]


# ---- geo --------------------------------------------------------------------------------


def geopos(r: Any) -> list:
    return [(float(p[0]), float(p[1])) if p is not None else None for p in r]


def geosearch(withdist: bool, withhash: bool, withcoord: bool) -> Optional[Callable[[Any], Any]]:
    """Members, or [member, dist?, hash?, (lon, lat)?] lists with the WITH* options."""
    casts: List[Callable[[Any], Any]] = [lambda x: x]
    if withdist:
        casts.append(float)
    if withhash:
        casts.append(int)
    if withcoord:
        casts.append(lambda ll: (float(ll[0]), float(ll[1])))
    if len(casts) == 1:
        return None
    return lambda r: [[c(v) for c, v in zip(casts, item)] for item in r]


# ---- server ------------------------------------------------------------------------------

_CLIENT_INT_FIELDS = ("id", "age", "idle", "db", "sub", "psub", "multi", "qbuf", "qbuf-free", "obl",
                      "argv-mem", "oll", "omem", "tot-mem")


def client_info(r: Any) -> dict:
    info = dict(pair.split("=", 1) for pair in s(r).split(" ") if pair)
    for k in _CLIENT_INT_FIELDS:
        if k in info:
            info[k] = int(info[k])
    return info


def client_list(r: Any) -> list:
    return [dict(pair.split("=", 1) for pair in line.split(" ") if pair) for line in s(r).splitlines()]


def client_kill(r: Any) -> Any:
    return r if isinstance(r, int) else ok(r)


def acl_getuser(r: Any) -> Optional[dict]:
    if r is None:
        return None
    data = str_pairs(r)
    data["flags"] = str_list(data["flags"])
    data["passwords"] = str_list(data["passwords"])
    commands = s(data["commands"])
    for k in ("keys", "channels"):
        if k in data and isinstance(data[k], (str, bytes)):
            data[k] = s(data[k]).split(" ")
            if data[k] == [""]:
                data[k] = []
    if "selectors" in data:
        data["selectors"] = [str_list(sel) for sel in data["selectors"]]
    data["commands"] = [c for c in commands.split(" ") if "@" not in c]
    data["categories"] = [c for c in commands.split(" ") if "@" in c]
    data["enabled"] = "on" in data["flags"]
    return data


def acl_log(r: Any) -> Any:
    if not isinstance(r, list):
        return ok(r)
    out = []
    for entry in r:
        d = {s(k): s(v) for k, v in pairs(entry).items()}
        d["client-info"] = client_info(d.get("client-info", ""))
        d["age-seconds"] = float(d["age-seconds"])
        out.append(d)
    return out


def slowlog_get(r: Any) -> list:
    out = []
    for item in r:
        e: Dict[str, Any] = {"id": item[0], "start_time": int(item[1]), "duration": int(item[2])}
        cmd = item[3] if isinstance(item[3], list) else item[4]
        if not isinstance(item[3], list):
            e["complexity"] = item[3]
        space = b" " if cmd and isinstance(cmd[0], bytes) else " "
        e["command"] = space.join(cmd)
        out.append(e)
    return out


def command(r: Any) -> dict:
    out = {}
    for c in r:
        name = s(c[0])
        d = {"name": name, "arity": int(c[1]), "flags": str_list(c[2]), "first_key_pos": c[3],
             "last_key_pos": c[4], "step_count": c[5]}
        if len(c) > 7:
            d["tips"], d["key_specifications"], d["subcommands"] = c[7], c[8], c[9]
        out[name] = d
    return out


def memory_stats(r: Any) -> dict:
    stats = str_pairs(r)
    for k, v in stats.items():
        if k.startswith("db.") and isinstance(v, list):
            stats[k] = str_pairs(v)
    return stats


def module_list(r: Any) -> list:
    return [pairs(m) for m in r]


def debug_object(r: Any) -> dict:
    d = dict(kv.split(":", 1) for kv in ("type:" + s(r)).split())
    for k in ("refcount", "serializedlength", "lru", "lru_seconds_idle"):
        if k in d:
            d[k] = int(d[k])
    return d


def cluster_info(r: Any) -> dict:
    return dict(line.split(":", 1) for line in s(r).splitlines() if line)


def _slots(items: List[str]) -> tuple:
    slots: list = []
    migrations: list = []
    for item in items:
        if "->-" in item:
            slot, node = item[1:-1].split("->-", 1)
            migrations.append({"slot": slot, "node_id": node, "state": "migrating"})
        elif "-<-" in item:
            slot, node = item[1:-1].split("-<-", 1)
            migrations.append({"slot": slot, "node_id": node, "state": "importing"})
        else:
            slots.append(item.split("-"))
    return slots, migrations


def cluster_nodes(r: Any) -> dict:
    lines = s(r).splitlines() if isinstance(r, (str, bytes)) else [s(x) for x in r]
    out = {}
    for line in lines:
        f = line.split(" ")
        node_id, addr, flags, master_id, ping, pong, epoch, connected = f[:8]
        slots, migrations = _slots(f[8:])
        out[addr.split("@")[0]] = {"node_id": node_id, "flags": flags, "master_id": master_id,
                                   "last_ping_sent": ping, "last_pong_rcvd": pong, "epoch": epoch,
                                   "slots": slots, "migrations": migrations, "connected": connected == "connected"}
    return out


def cluster_slots(r: Any) -> dict:
    """{(start, end): {"primary": (host, port), "replicas": [(host, port)...]}} (redis-py)."""
    out = {}
    for slot in r:
        nodes = [(s(n[0]), int(n[1])) for n in slot[2:]]
        out[(int(slot[0]), int(slot[1]))] = {"primary": nodes[0] if nodes else None, "replicas": nodes[1:]}
    return out


def lcs(r: Any) -> Any:
    """LCS's reply: the string, its length, or with IDX {"matches": [...], "len": n}."""
    if isinstance(r, list):
        d = str_pairs(r)
        return d
    return r
