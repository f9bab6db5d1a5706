"""List commands (redis-py 4.3.4's ListCommands); the blocking ones wait on a lease
(``_run_blocking``). Mixed into rcm.commands.Commands."""

from __future__ import annotations

from typing import Any, Optional

from ._args import KeyT, _keys
from ._replies import _ok, _tuple_or_none

__all__ = ["ListCommands"]

EncodableT = Any
ResponseT = Any


class ListCommands:
    __slots__ = ()

    def blpop(self, keys: Any, timeout: Optional[float] = 0) -> ResponseT:
        keys = _keys(keys, ())
        return self._run_blocking(_tuple_or_none, keys[0], b"BLPOP", *keys, 0 if timeout is None else timeout)

    def brpop(self, keys: Any, timeout: Optional[float] = 0) -> ResponseT:
        keys = _keys(keys, ())
        return self._run_blocking(_tuple_or_none, keys[0], b"BRPOP", *keys, 0 if timeout is None else timeout)

    def brpoplpush(self, src: KeyT, dst: KeyT, timeout: Optional[float] = 0) -> ResponseT:
        return self._run_blocking(None, src, b"BRPOPLPUSH", src, dst, 0 if timeout is None else timeout)

    def blmove(self, first_list: KeyT, second_list: KeyT, timeout: float, src: str = "LEFT",
               dest: str = "RIGHT") -> ResponseT:
        return self._run_blocking(None, first_list, b"BLMOVE", first_list, second_list, src, dest, timeout)

    def lindex(self, name: KeyT, index: int) -> ResponseT:
        return self._run(None, b"LINDEX", name, index)

    def linsert(self, name: KeyT, where: str, refvalue: EncodableT, value: EncodableT) -> ResponseT:
        return self._run(None, b"LINSERT", name, where, refvalue, value)

    def llen(self, name: KeyT) -> ResponseT:
        return self._run(None, b"LLEN", name)

    def lmove(self, first_list: KeyT, second_list: KeyT, src: str = "LEFT", dest: str = "RIGHT") -> ResponseT:
        return self._run(None, b"LMOVE", first_list, second_list, src, dest)

    def lmpop(self, num_keys: int, *args: KeyT, direction: Optional[str] = None, count: Optional[int] = 1) -> ResponseT:
        """[key, [elements...]] of the first non-empty list of args, or None."""
        cmd: list = [b"LMPOP", num_keys, *args, direction]
        if count != 1:
            cmd += [b"COUNT", count]
        return self._run(None, *cmd)

    def lpop(self, name: KeyT, count: Optional[int] = None) -> ResponseT:
        return self._run(None, b"LPOP", name, *([count] if count is not None else []))

    def lpos(self, name: KeyT, value: EncodableT, rank: Optional[int] = None, count: Optional[int] = None,
             maxlen: Optional[int] = None) -> ResponseT:
        args: list = [b"LPOS", name, value]
        if rank is not None:
            args += [b"RANK", rank]
        if count is not None:
            args += [b"COUNT", count]
        if maxlen is not None:
            args += [b"MAXLEN", maxlen]
        return self._run(None, *args)

    def lpush(self, name: KeyT, *values: EncodableT) -> ResponseT:
        return self._run(None, b"LPUSH", name, *values)

    def lpushx(self, name: KeyT, *values: EncodableT) -> ResponseT:
        return self._run(None, b"LPUSHX", name, *values)

    def lrange(self, name: KeyT, start: int, end: int, cache: bool = True) -> ResponseT:
        return self._read(cache, None, b"LRANGE", name, start, end)

    def lrem(self, name: KeyT, count: int, value: EncodableT) -> ResponseT:
        return self._run(None, b"LREM", name, count, value)

    def lset(self, name: KeyT, index: int, value: EncodableT) -> ResponseT:
        return self._run(_ok, b"LSET", name, index, value)

    def ltrim(self, name: KeyT, start: int, end: int) -> ResponseT:
        return self._run(_ok, b"LTRIM", name, start, end)

    def rpop(self, name: KeyT, count: Optional[int] = None) -> ResponseT:
        return self._run(None, b"RPOP", name, *([count] if count is not None else []))

    def rpoplpush(self, src: KeyT, dst: KeyT) -> ResponseT:
        return self._run(None, b"RPOPLPUSH", src, dst)

    def rpush(self, name: KeyT, *values: EncodableT) -> ResponseT:
        return self._run(None, b"RPUSH", name, *values)

    def rpushx(self, name: KeyT, *values: EncodableT) -> ResponseT:
        return self._run(None, b"RPUSHX", name, *values)
