"""redis-py's Lock on rcm: a key holding a random token, set with SET NX PX; released,
extended and reacquired by Lua scripts that check the token first, so that a lock whose
timeout ran out and that someone else took is never released by its former holder. In
cluster mode the scripts go to the node of the lock's key, like any keyed command.

    with r.lock("resource", timeout=10, blocking_timeout=5):
        ...                          # LockError when not acquired within 5 s

``rcm.asyncio.Client.lock()`` gives an AsyncLock: the same, with awaitable methods and
``async with``.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from types import SimpleNamespace
from typing import Any, Optional

from .commands import Script
from .exceptions import RcmError, redis_py_counterpart

__all__ = ["Lock", "AsyncLock", "LockError", "LockNotOwnedError"]


class LockError(RcmError, *redis_py_counterpart("LockError"), ValueError):  # type: ignore[misc]
    """A lock could not be acquired, or released/extended while not held (redis-py's)."""


class LockNotOwnedError(LockError, *redis_py_counterpart("LockNotOwnedError")):  # type: ignore[misc]
    """The lock's key no longer holds this holder's token (its timeout ran out)."""


# KEYS[1] the lock, ARGV[1] the token: 1 when released, 0 when not ours.
_RELEASE = """
if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('del', KEYS[1])
return 1
"""

# ARGV[2] milliseconds, ARGV[3] "1": replace the TTL, else add to it.
_EXTEND = """
if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
local ttl = redis.call('pttl', KEYS[1])
if not ttl or ttl < 0 then return 0 end
local ms = tonumber(ARGV[2])
if ARGV[3] ~= "1" then ms = ms + ttl end
redis.call('pexpire', KEYS[1], ms)
return 1
"""

# ARGV[2] milliseconds: the TTL set back to the lock's timeout.
_REACQUIRE = """
if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('pexpire', KEYS[1], ARGV[2])
return 1
"""


def _encode(token: Any) -> bytes:
    if isinstance(token, bytes):
        return token
    return str(token).encode("utf-8")


class _LockState:
    """What Lock and AsyncLock share: arguments, the token's home, checks before a call."""

    lua_release = Script(None, _RELEASE)
    lua_extend = Script(None, _EXTEND)
    lua_reacquire = Script(None, _REACQUIRE)

    def __init__(self, redis: Any, name: Any, timeout: Optional[float] = None, sleep: float = 0.1,
                 blocking: bool = True, blocking_timeout: Optional[float] = None, thread_local: bool = True) -> None:
        self.redis = redis
        self.name = name
        self.timeout = timeout
        self.sleep = sleep
        self.blocking = blocking
        self.blocking_timeout = blocking_timeout
        self.thread_local = bool(thread_local)
        self.local: Any = threading.local() if self.thread_local else SimpleNamespace()
        self.local.token = None

    def _px(self) -> Optional[int]:
        return int(self.timeout * 1000) if self.timeout else None

    def _held(self, what: str, needs_timeout: bool = False) -> bytes:
        token = self.local.token
        if token is None:
            raise LockError(f"Cannot {what} an unlocked lock")
        if needs_timeout and self.timeout is None:
            raise LockError(f"Cannot {what} a lock with no timeout")
        return token

    def _owned(self, stored: Any) -> bool:
        if stored is not None and not isinstance(stored, bytes):
            stored = _encode(stored)
        return self.local.token is not None and stored == self.local.token

    @staticmethod
    def _checked(result: Any, what: str) -> bool:
        if not result:
            raise LockNotOwnedError(f"Cannot {what} a lock that's no longer owned")
        return True


class Lock(_LockState):
    """redis-py's Lock (rcm.Client.lock() makes one)."""

    def __enter__(self) -> "Lock":
        if self.acquire():
            return self
        raise LockError("Unable to acquire lock within the time specified")

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def acquire(self, sleep: Optional[float] = None, blocking: Optional[bool] = None,
                blocking_timeout: Optional[float] = None, token: Optional[Any] = None) -> bool:
        """True once acquired; False when not blocking, or not within blocking_timeout s."""
        sleep = self.sleep if sleep is None else sleep
        token = uuid.uuid1().hex.encode() if token is None else _encode(token)
        blocking = self.blocking if blocking is None else blocking
        blocking_timeout = self.blocking_timeout if blocking_timeout is None else blocking_timeout
        stop_at = None if blocking_timeout is None else time.monotonic() + blocking_timeout
        while True:
            if self.do_acquire(token):
                self.local.token = token
                return True
            if not blocking or (stop_at is not None and time.monotonic() + sleep > stop_at):
                return False
            time.sleep(sleep)

    def do_acquire(self, token: bytes) -> bool:
        return bool(self.redis.set(self.name, token, nx=True, px=self._px()))

    def locked(self) -> bool:
        return self.redis.get(self.name) is not None

    def owned(self) -> bool:
        return self._owned(self.redis.get(self.name))

    def release(self) -> None:
        token = self._held("release")
        self.local.token = None
        self._checked(self.lua_release(keys=[self.name], args=[token], client=self.redis), "release")

    def extend(self, additional_time: float, replace_ttl: bool = False) -> bool:
        """Adds additional_time seconds to the lock's TTL (replace_ttl: sets it to that)."""
        token = self._held("extend", needs_timeout=True)
        args = [token, int(additional_time * 1000), "1" if replace_ttl else "0"]
        return self._checked(self.lua_extend(keys=[self.name], args=args, client=self.redis), "extend")

    def reacquire(self) -> bool:
        """Sets the TTL back to the lock's timeout."""
        token = self._held("reacquire", needs_timeout=True)
        args = [token, int(self.timeout * 1000)]  # type: ignore[operator]
        return self._checked(self.lua_reacquire(keys=[self.name], args=args, client=self.redis), "reacquire")


class AsyncLock(_LockState):
    """Lock for rcm.asyncio.Client: the same methods, awaitable."""

    async def __aenter__(self) -> "AsyncLock":
        if await self.acquire():
            return self
        raise LockError("Unable to acquire lock within the time specified")

    async def __aexit__(self, *exc: Any) -> None:
        await self.release()

    async def acquire(self, blocking: Optional[bool] = None, blocking_timeout: Optional[float] = None,
                      token: Optional[Any] = None) -> bool:
        sleep = self.sleep
        token = uuid.uuid1().hex.encode() if token is None else _encode(token)
        blocking = self.blocking if blocking is None else blocking
        blocking_timeout = self.blocking_timeout if blocking_timeout is None else blocking_timeout
        loop = asyncio.get_running_loop()
        stop_at = None if blocking_timeout is None else loop.time() + blocking_timeout
        while True:
            if await self.do_acquire(token):
                self.local.token = token
                return True
            if not blocking or (stop_at is not None and loop.time() + sleep > stop_at):
                return False
            await asyncio.sleep(sleep)

    async def do_acquire(self, token: bytes) -> bool:
        return bool(await self.redis.set(self.name, token, nx=True, px=self._px()))

    async def locked(self) -> bool:
        return await self.redis.get(self.name) is not None

    async def owned(self) -> bool:
        return self._owned(await self.redis.get(self.name))

    async def release(self) -> None:
        token = self._held("release")
        self.local.token = None
        self._checked(await self.lua_release(keys=[self.name], args=[token], client=self.redis), "release")

    async def extend(self, additional_time: float, replace_ttl: bool = False) -> bool:
        token = self._held("extend", needs_timeout=True)
        args = [token, int(additional_time * 1000), "1" if replace_ttl else "0"]
        return self._checked(await self.lua_extend(keys=[self.name], args=args, client=self.redis), "extend")

    async def reacquire(self) -> bool:
        token = self._held("reacquire", needs_timeout=True)
        args = [token, int(self.timeout * 1000)]  # type: ignore[operator]
        return self._checked(await self.lua_reacquire(keys=[self.name], args=args, client=self.redis), "reacquire")
