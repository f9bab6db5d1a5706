"""rcm.asyncio.PubSub: rcm.PubSub for asyncio, without a thread per subscriber.

A waiting get_message() watches the subscriber's descriptor (rcm_subscriber_fd, readable
while messages wait) with ``loop.add_reader`` and reads with ``next(0)``, which never
blocks. The descriptor is watched only while a task waits: a level-triggered descriptor
left watched while nobody reads would wake the loop again and again. Subscribing and
unsubscribing never block either, so they run in the loop too, also while another task
awaits get_message().
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any, AsyncIterator, Callable, List, Optional, Tuple

from .exceptions import ClosedError, PubSubError
from .pubsub import CHANNEL, PATTERN, SHARD, Handler, PubSubCore

__all__ = ["PubSub"]


def _wake(fut: "asyncio.Future[None]") -> None:
    if not fut.done():
        fut.set_result(None)


class PubSub(PubSubCore):
    """redis.asyncio's PubSub on rcm: ``client.pubsub()`` of an rcm.asyncio.Client. The
    same messages as rcm.PubSub (gap and dropped included); handlers may be coroutine
    functions. Use it from one event loop."""

    def __init__(self, client: Any, ignore_subscribe_messages: bool = False,
                 event_handler: Optional[Handler] = None, every_primary: bool = False) -> None:
        sync = client._sync
        super().__init__(client._native, sync._encoding, sync._encoding_errors, client.decode_responses,
                         ignore_subscribe_messages, event_handler, every_primary)
        self._client = client
        self._waiters: List["asyncio.Future[None]"] = []
        self._watching: Optional[Tuple[asyncio.AbstractEventLoop, int]] = None

    # ---- subscribing: never waits, so done at once -------------------------------------

    async def subscribe(self, *args: Any, **kwargs: Handler) -> None:  # type: ignore[override]
        self._subscribe(CHANNEL, args, kwargs)
        self._wake_all()  # a task waiting for a first subscription

    async def psubscribe(self, *args: Any, **kwargs: Handler) -> None:  # type: ignore[override]
        self._subscribe(PATTERN, args, kwargs)
        self._wake_all()

    async def ssubscribe(self, *args: Any, **kwargs: Handler) -> None:  # type: ignore[override]
        self._subscribe(SHARD, args, kwargs)
        self._wake_all()

    async def unsubscribe(self, *args: Any) -> None:  # type: ignore[override]
        self._unsubscribe(CHANNEL, args)

    async def punsubscribe(self, *args: Any) -> None:  # type: ignore[override]
        self._unsubscribe(PATTERN, args)

    async def sunsubscribe(self, *args: Any) -> None:  # type: ignore[override]
        self._unsubscribe(SHARD, args)

    async def ping(self, message: Any = None) -> None:
        """As rcm.PubSub.ping(): the server answers, and a 'pong' message is queued."""
        await self._client.execute_command("PING")
        self._pong(message)
        self._wake_all()

    # ---- reading --------------------------------------------------------------------------

    async def get_message(self, ignore_subscribe_messages: bool = False,
                          timeout: Optional[float] = 0.0) -> Optional[dict]:
        """As rcm.PubSub.get_message(); timeout None waits without limit. Cancelling the
        awaiting task is safe (no message is lost: none was read)."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            with self._lock:
                if self._pending:
                    return self._pending.popleft()
                sub, generation = self._sub, self._generation
            if sub is None:
                self._check_fork()
            else:
                try:
                    raw = sub.next(0)
                except ClosedError:
                    if sub is not self._sub:
                        return None
                    raise
                if raw is not None:
                    msg, handler = self._take(sub, raw, ignore_subscribe_messages)
                    if handler is None:
                        return msg
                    result = handler(msg)
                    if inspect.isawaitable(result):
                        await result
                    return None
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return None
            await self._wait(loop, sub, remaining)
            if generation != self._generation:
                return None  # closed while we waited

    async def get_sharded_message(self, ignore_subscribe_messages: bool = False, timeout: Optional[float] = 0.0,
                                  target_node: Any = None) -> Optional[dict]:
        return await self.get_message(ignore_subscribe_messages, timeout)

    async def _wait(self, loop: asyncio.AbstractEventLoop, sub: Any, timeout: Optional[float]) -> None:
        """Until sub has messages (or, sub None, until a subscription), a close(), or timeout."""
        fut = loop.create_future()
        self._waiters.append(fut)
        timer = loop.call_later(timeout, _wake, fut) if timeout is not None else None
        try:
            if sub is not None:
                self._watch(loop, sub)
            await fut
        finally:
            if timer is not None:
                timer.cancel()
            self._waiters.remove(fut)
            if not self._waiters:
                self._unwatch()

    def _watch(self, loop: asyncio.AbstractEventLoop, sub: Any) -> None:
        if self._watching is not None:
            if self._watching[0] is loop:
                return
            self._unwatch()
        fd = sub.fileno()
        loop.add_reader(fd, self._on_readable)
        self._watching = (loop, fd)

    def _unwatch(self) -> None:
        watching, self._watching = self._watching, None
        if watching is not None and not watching[0].is_closed():
            watching[0].remove_reader(watching[1])

    def _on_readable(self) -> None:
        # Level-triggered: stop watching until a task waits again, and let every waiter read.
        self._unwatch()
        self._wake_all()

    def _wake_all(self) -> None:
        for fut in self._waiters:
            _wake(fut)

    async def listen(self) -> AsyncIterator[dict]:
        """Yields messages while subscribed; ends after close()."""
        generation = self._generation
        while self.subscribed:
            msg = await self.get_message(timeout=None)
            if msg is not None:
                yield msg
            elif generation != self._generation:
                return

    async def run(self, *, exception_handler: Optional[Callable[..., Any]] = None,
                  poll_timeout: float = 1.0) -> None:
        """Passes every message to its handler until cancelled (redis.asyncio's run()):
        every name must have a handler."""
        missing = self._handlers_missing()
        if missing:
            raise PubSubError(f"{missing[0]} has no handler registered")
        while True:
            try:
                await self.get_message(ignore_subscribe_messages=True, timeout=poll_timeout)
            except asyncio.CancelledError:
                raise
            except BaseException as e:  # noqa: BLE001 - redis.asyncio's contract
                if exception_handler is None:
                    raise
                r = exception_handler(e, self)
                if inspect.isawaitable(r):
                    await r
            # As redis.asyncio: let other tasks run even when nothing had to wait (a message
            # ready, or get_message() failing at once: without this, that loop never yields).
            await asyncio.sleep(0)

    # ---- life ------------------------------------------------------------------------------

    async def close(self) -> None:
        """Drops every subscription (the PubSub may subscribe again); tasks awaiting
        get_message() get None, listen() ends."""
        self._unwatch()  # before the descriptor goes with the subscriber
        sub = self._detach()
        self._wake_all()
        if sub is not None:
            sub.close()

    aclose = close
    reset = close

    async def __aenter__(self) -> "PubSub":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<rcm.asyncio.PubSub channels={len(self.channels)} patterns={len(self.patterns)} " \
               f"shard_channels={len(self.shard_channels)}>"
