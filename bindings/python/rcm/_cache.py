"""The client-side cache's settings: Client(cache=...) and redis-py 5's cache_config=.

The cache itself is rcm's, in C (cache.* config keys): this module only turns Python's
spellings into those keys. What redis-py 5.1+ lets a user plug in (a cache class, another
eviction policy) has no counterpart in a cache written in C, so it is refused with a
ConfigError that says so, never silently ignored.
"""

from __future__ import annotations

import datetime
from typing import Any, Dict, Iterable, Optional, Union

from .exceptions import ConfigError

__all__ = ["CacheConfig", "DEFAULT_MAX_BYTES", "cache_options", "cache_stats_of"]

#: The byte bound of ``cache=True`` and of a CacheConfig that sets none (rcm's own
#: default, cache.max_bytes=0, means "off").
DEFAULT_MAX_BYTES = 64 * 1024 * 1024

Number = Union[int, float]


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"cache: {name} must be a non-negative int, not {value!r}")
    return value


def _ttl_ms(ttl: Any, ttl_ms: Any) -> Optional[int]:
    if ttl is not None and ttl_ms is not None:
        raise ConfigError("cache: give ttl (seconds) or ttl_ms, not both")
    if ttl_ms is not None:
        return _positive_int("ttl_ms", ttl_ms)
    if ttl is None:
        return None
    if isinstance(ttl, datetime.timedelta):
        ttl = ttl.total_seconds()
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or ttl < 0:
        raise ConfigError(f"cache: ttl must be a number of seconds >= 0 (or a timedelta), not {ttl!r}")
    return int(round(ttl * 1000))


def _commands(value: Any) -> Optional[str]:
    if value is None:
        return None
    if isinstance(value, (str, bytes)):
        value = [value]
    names = []
    for c in value:
        name = c.decode() if isinstance(c, bytes) else c
        if not isinstance(name, str) or not name or "," in name or " " in name.strip():
            raise ConfigError(f"cache: commands must be command names, not {c!r}")
        names.append(name.strip().upper())
    if not names:
        raise ConfigError("cache: commands is empty (to turn the cache off, leave cache= out)")
    return ",".join(names)


class CacheConfig:
    """Settings of rcm's client-side cache (reads served in process, kept true by the
    server's invalidations). Give it as ``Client(cache=CacheConfig(...))`` or, in redis-py
    5.1's spelling, ``Client(cache_config=CacheConfig(...))``.

    ``max_bytes``: the memory bound (default 64 MiB); ``max_entries``: the entry bound
    (``max_size`` is redis-py's name for it); ``ttl`` seconds or ``ttl_ms``: the longest
    any entry lives, whatever the server says; ``commands``: the read-only commands
    cached (names; default: rcm's list, see the README). Unset bounds are rcm's defaults.
    Eviction is LRU within both bounds.

    redis-py's ``cache_class`` and ``eviction_policy`` are accepted only at what rcm does
    (its own cache, LRU): a custom class or another policy raises ConfigError.
    """

    __slots__ = ("max_bytes", "max_entries", "ttl_ms", "commands")

    def __init__(self, max_size: Optional[int] = None, cache_class: Any = None, eviction_policy: Any = None, *,
                 max_bytes: Optional[int] = None, max_entries: Optional[int] = None, ttl: Optional[Number] = None,
                 ttl_ms: Optional[int] = None, commands: Optional[Iterable[str]] = None) -> None:
        if cache_class is not None:
            raise ConfigError(f"cache_class: rcm's cache is in C and cannot be replaced by {cache_class!r} "
                              "(leave cache_class out)")
        if eviction_policy is not None and _policy_name(eviction_policy) != "LRU":
            raise ConfigError(f"eviction_policy: rcm's cache evicts LRU only, not {eviction_policy!r}")
        if max_size is not None and max_entries is not None and max_size != max_entries:
            raise ConfigError("cache: max_size (redis-py's name) and max_entries say different things")
        entries = max_entries if max_entries is not None else max_size
        self.max_bytes = DEFAULT_MAX_BYTES if max_bytes is None else _positive_int("max_bytes", max_bytes)
        if self.max_bytes == 0:
            raise ConfigError("cache: max_bytes=0 turns the cache off (leave cache= out instead)")
        self.max_entries = None if entries is None else _positive_int("max_entries", entries)
        self.ttl_ms = _ttl_ms(ttl, ttl_ms)
        self.commands = _commands(commands)

    # redis-py's CacheConfig accessors, for code written against it.
    def get_max_size(self) -> Optional[int]:
        return self.max_entries

    def get_eviction_policy(self) -> str:
        return "LRU"

    def items(self) -> Dict[str, str]:
        """The cache.* config keys this stands for."""
        out = {"cache.max_bytes": str(self.max_bytes)}
        if self.max_entries is not None:
            out["cache.max_entries"] = str(self.max_entries)
        if self.ttl_ms is not None:
            out["cache.ttl_ms"] = str(self.ttl_ms)
        if self.commands is not None:
            out["cache.commands"] = self.commands
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CacheConfig) and self.items() == other.items()

    def __repr__(self) -> str:
        return "CacheConfig(" + ", ".join(f"{k[6:]}={v!r}" for k, v in self.items().items()) + ")"


def _policy_name(policy: Any) -> str:
    """redis-py's EvictionPolicy.LRU (an Enum), or the string "LRU"."""
    name = getattr(policy, "name", policy)
    return name.upper() if isinstance(name, str) else ""


_FIELDS = ("max_bytes", "max_entries", "max_size", "ttl", "ttl_ms", "commands")


def _from_value(name: str, value: Any) -> Optional[CacheConfig]:
    if value is None or value is False:
        return None
    if value is True:
        return CacheConfig()
    if isinstance(value, CacheConfig):
        return value
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(_FIELDS))
        if unknown:
            raise ConfigError(f"{name}: unknown setting(s) {', '.join(map(repr, unknown))} "
                              f"(known: {', '.join(_FIELDS)})")
        return CacheConfig(**value)
    if type(value).__name__ == "CacheConfig" and hasattr(value, "get_max_size"):
        # redis-py 5's own CacheConfig: what maps is its size (and LRU, its only policy).
        return CacheConfig(max_size=value.get_max_size())
    raise ConfigError(f"{name}: expected True, a dict or rcm.CacheConfig, not {type(value).__name__} "
                      "(rcm's cache is in C: a redis-py cache object cannot be plugged in)")


def cache_options(kwargs: Dict[str, Any]) -> Dict[str, Any]:
    """kwargs with cache= and cache_config= turned into cache.* config keys."""
    if "cache" not in kwargs and "cache_config" not in kwargs:
        return kwargs
    out = dict(kwargs)
    cfg = _from_value("cache", out.pop("cache", None))
    cfg2 = _from_value("cache_config", out.pop("cache_config", None))
    if cfg is not None and cfg2 is not None and cfg != cfg2:
        raise ConfigError("cache and cache_config are both given and differ: give one")
    chosen = cfg or cfg2
    if chosen is not None:
        spelled = sorted(k for k in out if k.startswith(("cache_", "cache.")))
        if spelled:
            raise ConfigError(f"cache= and {', '.join(spelled)} are both given: give the settings in one place")
        out.update(chosen.items())
    return out


_COUNTERS = ("hits", "misses", "invalidations", "evictions", "bytes", "entries")


def cache_stats_of(stats: Dict[str, Any]) -> Dict[str, Any]:
    """stats()["cache"] (rcm_client_stats_json documents it), with every counter present:
    0 when the cache is off, where the library leaves the object out."""
    out: Dict[str, Any] = dict(stats.get("cache") or {})
    for k in _COUNTERS:
        out.setdefault(k, 0)
    out.setdefault("nodes", {})
    return out
