"""rcm for asyncio: the same surface as rcm.Client, as coroutines.

    import rcm.asyncio
    async def main():
        async with rcm.asyncio.Client("redis://127.0.0.1:6379") as r:
            await r.set("k", "v")
            print(await r.get("k"))

A command is handed to rcm at once (no thread per request); rcm's I/O thread puts the
reply on a queue and wakes the event loop through an eventfd watched with
``loop.add_reader``, and the loop settles the command's future. A read the client-side
cache answers settles its future at once, on the calling thread (rcm_cache_get). Cancelling a task that
awaits a command is safe: the command still completes inside rcm and its reply is
dropped. Pub/sub waits on its subscriber's descriptor with ``loop.add_reader`` too
(rcm/_pubsub_asyncio.py). Leases, pipelines and transactions wait on rcm in a small
thread pool of the client's own; waits for a free lease go to a second pool, so that the
holders' commands and releases never queue behind tasks waiting for what those holders
give back.
"""

from __future__ import annotations

import asyncio as _asyncio
import concurrent.futures
import functools
import inspect
import json
import os
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator, List, Optional

from . import _cluster, _native
from . import client as _sync
from ._cache import cache_stats_of
from ._config import config_items
from .commands import Commands, KeyT, Post, Script
from ._pubsub_asyncio import PubSub
from .exceptions import ClosedError, ForkError, NoScriptError, WatchError
from .pubsub import Handler
from .lock import AsyncLock
from .monitor import AsyncMonitor

__all__ = ["Client", "Pipeline", "Lease", "PubSub"]

_get_running_loop = _asyncio.get_running_loop

# Blocking commands whose wait is cut into slices of at most _SLICE_S (the same command
# with a shorter timeout, again until the caller's timeout is over), so that a cancelled
# task stops waiting soon. Only commands whose timeout is their last argument; the others
# (BLMPOP, BZMPOP, XREAD, WAIT...) wait in one piece.
_SLICED = frozenset(b"BLPOP BRPOP BRPOPLPUSH BLMOVE BZPOPMIN BZPOPMAX".split())
_SLICE_S = 1.0  # a cancelled blocking call stops waiting within this long


def _slice_timeout(args: tuple) -> Optional[float]:
    """The timeout of a blocking command to wait for in slices (0: without limit), or None
    when it waits in one piece."""
    if not args or _sync._command_name(args[0]) not in _SLICED:
        return None
    try:
        timeout = float(args[-1])
    except (TypeError, ValueError):
        return None
    return timeout if timeout >= 0 else None


async def _in_slices(one: Callable[[tuple], Awaitable[Any]], args: tuple, timeout: float) -> Any:
    """A blocking command's raw reply, waited for as a series of slices: one(args with a
    shorter timeout) sends one and returns its reply (None: nothing came yet)."""
    remaining = timeout if timeout > 0 else None
    while True:
        step = _SLICE_S if remaining is None else min(_SLICE_S, remaining)
        r = await one(args[:-1] + (max(step, 0.01),))
        if r is not None:
            return r
        if remaining is not None:
            remaining -= step
            if remaining <= 0:
                return None


def _undo(name: bytes, reply: Any) -> Optional[tuple]:
    """The command that puts back what a pop took for a task cancelled meanwhile, so that
    a cancelled BLPOP never loses an element (None: nothing to put back; BRPOPLPUSH and
    BLMOVE leave it in their destination list)."""
    if reply is None or isinstance(reply, BaseException):
        return None
    if name == b"BLPOP":
        return (b"LPUSH", reply[0], reply[1])
    if name == b"BRPOP":
        return (b"RPUSH", reply[0], reply[1])
    if name in (b"BZPOPMIN", b"BZPOPMAX"):
        return (b"ZADD", reply[0], reply[2], reply[1])
    return None


def _result(fut: "_asyncio.Future[Any]") -> Any:
    """A settled job's result, None when it failed or was cancelled (marks it retrieved)."""
    if fut.cancelled() or fut.exception() is not None:
        return None
    return fut.result()


class _Done:
    """An awaitable that is already complete: what Client.close() returns."""

    __slots__ = ()

    def __await__(self) -> Iterator[None]:
        return iter(())  # awaiting it returns None without suspending


_CLOSED = _Done()


class _Base:
    """What the asyncio classes share: the client's executor and event loop."""

    _client: "Client"

    async def _in_thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await _get_running_loop().run_in_executor(self._client._pool(), fn, *args)


class Lease(_Base, Commands):
    """rcm.Lease for asyncio: each command waits in the client's thread pool, one at a time.

    Cancelling a task that awaits a lease command is safe: the task gets CancelledError at
    once while the command finishes in its thread (a blocking wait within _SLICE_S); an
    element a cancelled pop took is put back, and a release() asked for meanwhile (as by
    ``async with``) happens once the command has returned.
    """

    def __init__(self, client: "Client", lease: _sync.Lease) -> None:
        self._client = client
        self._lease = lease
        self._busy: Optional["_asyncio.Future[Any]"] = None  # the last job on the lease in the pool
        self._releasing = False

    async def _in_lease(self, fn: Callable[..., Any], *args: Any, pop: Optional[bytes] = None) -> Any:
        """fn(*args) in the pool once the lease's previous job is done. pop: the name of a
        blocking pop whose element is put back when the awaiting task was cancelled."""
        while self._busy is not None and not self._busy.done():
            await _asyncio.wait((self._busy,))
        fut = self._client._thread_call(functools.partial(fn, *args))
        self._busy = fut
        try:
            return await _asyncio.shield(fut)
        except _asyncio.CancelledError:
            if pop is not None:
                if fut.done():
                    self._put_back(pop, fut)
                else:
                    fut.add_done_callback(functools.partial(self._put_back, pop))
            raise

    def _put_back(self, pop: bytes, fut: "_asyncio.Future[Any]") -> None:
        # On the loop, once a cancelled task's pop returned: the undo becomes the lease's
        # next job, so that a pending release and later commands wait for it.
        undo = _undo(pop, _result(fut))
        if undo is None or self._client.closed:
            return
        self._busy = self._client._thread_call(lambda: self._undo_on_lease(undo))
        self._busy.add_done_callback(_result)

    def _undo_on_lease(self, undo: tuple) -> None:
        try:
            self._lease._x(*undo)
        except Exception:  # the lease broke, or was released: any connection will do
            self._client._sync._x(*undo)

    def execute_command(self, *args: Any, **options: Any) -> Awaitable[Any]:
        post = _sync.response_post(args, options)
        if args and _sync._command_name(args[0]) in _sync._BLOCKING:
            return self._blocking(post, args)
        return self._in_lease(self._lease._run, post, *args)

    def _run(self, post: Post, *args: Any) -> Awaitable[Any]:
        return self._in_lease(self._lease._run, post, *args)

    # A lease's commands never use the client-side cache: cache=False changes nothing.
    _run_uncached = _run

    def _run_blocking(self, post: Post, key: Any, *args: Any) -> Awaitable[Any]:
        return self._blocking(post, args)

    async def _blocking(self, post: Post, args: tuple) -> Any:
        timeout = _slice_timeout(args)
        if timeout is None or self._lease._in_multi:  # queued by MULTI: nothing waits
            return await self._in_lease(self._lease._run, post, *args)
        name = _sync._command_name(args[0])
        r = await _in_slices(lambda sliced: self._in_lease(self._lease._x, *sliced, pop=name), args, timeout)
        return _sync._apply(post, r)

    async def _call_script(self, script: Script, keys: List[Any], args: List[Any]) -> Any:
        return await self._in_lease(self._lease._call_script, script, keys, args)

    async def watch(self, *names: KeyT) -> bool:
        return await self._in_lease(self._lease.watch, *names)

    async def unwatch(self) -> bool:
        return await self._in_lease(self._lease.unwatch)

    async def multi(self) -> bool:
        return await self._in_lease(self._lease.multi)

    async def exec(self) -> Optional[List[Any]]:
        return await self._in_lease(self._lease.exec)

    async def discard(self) -> bool:
        return await self._in_lease(self._lease.discard)

    async def read(self, timeout: Optional[float] = None) -> Any:
        """As rcm.Lease.read; a wait without limit (timeout=None) is cut into slices so
        that cancelling the awaiting task stops it."""
        if timeout is not None:
            return await self._in_lease(self._lease.read, timeout)
        while True:
            msg = await self._in_lease(self._lease.read, _SLICE_S)
            if msg is not None:
                return msg

    async def release(self) -> None:
        """Gives the connection back; while a command of a cancelled task still runs on
        it, once that command has returned (this does not wait for it)."""
        if self._busy is not None and not self._busy.done():
            self._release_when_idle()
        elif self._client.closed:
            self._lease.release()  # after close() this only frees: no need for a thread
        else:
            await self._in_lease(self._lease.release)

    def _release_when_idle(self, _done: Any = None) -> None:
        busy = self._busy
        if busy is not None and not busy.done():
            if not self._releasing or _done is not None:
                self._releasing = True
                busy.add_done_callback(self._release_when_idle)
            return
        if self._client.closed:
            self._lease.release()
            return
        self._busy = self._client._thread_call(self._lease.release)
        self._busy.add_done_callback(_result)

    @property
    def released(self) -> bool:
        return self._lease.released

    async def __aenter__(self) -> "Lease":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.release()


class _LeaseRequest:
    """What Client.lease() returns: awaitable, and an async context manager."""

    def __init__(self, client: "Client", key: Any) -> None:
        self._client = client
        self._key = key
        self._lease: Optional[Lease] = None

    async def _acquire(self) -> Lease:
        c = self._client
        return Lease(c, await c._lease_call(lambda: c._sync.lease(self._key)))

    def __await__(self) -> Any:
        return self._acquire().__await__()

    async def __aenter__(self) -> Lease:
        self._lease = await self._acquire()
        return self._lease

    async def __aexit__(self, *exc: Any) -> None:
        if self._lease is not None:
            await self._lease.release()


class Pipeline(_sync.Pipeline):
    """rcm.Pipeline for asyncio: queue commands, then ``await pipe.execute()``."""

    def __init__(self, client: "Client", transaction: bool = False) -> None:
        super().__init__(client._sync, transaction)
        self._aclient = client

    def _run(self, post: Post, *args: Any) -> Any:
        if self._lease is not None and not self._explicit_multi:
            lease = self._lease  # watching: immediate, awaitable
            return self._aclient._thread_call(lambda: lease._run(post, *args))
        self._cmds.append(args)
        self._posts.append(post)
        return self

    def get(self, name: KeyT, cache: bool = True) -> Any:
        if not cache:
            return self._run_uncached(None, b"GET", name)  # refused: see Commands
        return self._run(None, b"GET", name)

    def set(self, name: KeyT, value: Any, *args: Any, **kwargs: Any) -> Any:
        return Commands.set(self, name, value, *args, **kwargs)

    def _call_script(self, script: Script, keys: List[Any], args: List[Any]) -> Any:
        self._scripts[script.sha] = script
        return self._run(None, b"EVALSHA", script.sha, len(keys), *keys, *args)

    async def watch(self, *names: KeyT) -> bool:  # type: ignore[override]
        # Takes a lease when it has none: a wait for one, in the pool for those.
        return await self._aclient._lease_call(lambda: _sync.Pipeline.watch(self, *names))

    async def unwatch(self) -> bool:  # type: ignore[override]
        return await self._aclient._thread_call(lambda: _sync.Pipeline.unwatch(self))

    async def execute(self, raise_on_error: bool = True) -> List[Any]:  # type: ignore[override]
        return await self._aclient._thread_call(lambda: _sync.Pipeline.execute(self, raise_on_error))

    async def reset(self) -> None:  # type: ignore[override]
        await self._aclient._thread_call(lambda: self._reset())

    def discard(self) -> "Pipeline":  # type: ignore[override]
        _sync.Pipeline.discard(self)
        return self

    def __await__(self) -> Iterator["Pipeline"]:
        # As redis.asyncio's Pipeline: a queued command returns the pipeline, and code
        # written for it awaits that (``await pipe.set(k, v)``, ``await script(client=pipe)``,
        # ``await pipe.discard()``); awaiting gives the pipeline back, nothing is sent.
        yield from ()
        return self

    async def __aenter__(self) -> "Pipeline":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.reset()


class Client(Commands, _cluster.ClientExtras):
    """rcm.Client for asyncio. Takes the same arguments; opening connects at once.

    Use it from one event loop at a time (it attaches to the loop of its first command,
    and to a new one once that loop is closed).
    """

    def __init__(self, url: Optional[str] = None, *, decode_responses: bool = False, encoding: str = "utf-8",
                 encoding_errors: str = "strict", **config: Any) -> None:
        self._native = _native.Client(url, config_items(config), decode_responses, encoding, encoding_errors)
        self._submit = self._native.submit
        self._loop: Optional[_asyncio.AbstractEventLoop] = None
        self._executor: Optional[concurrent.futures.ThreadPoolExecutor] = None
        self._lease_executor: Optional[concurrent.futures.ThreadPoolExecutor] = None
        self._pid = os.getpid()
        # The synchronous surface over the same native client, for work done in threads.
        self._sync = _sync.Client.__new__(_sync.Client)
        self._sync._native = self._native
        self._sync._x = self._native.execute
        self._sync._encoding, self._sync._encoding_errors = encoding, encoding_errors
        self._encoding, self._encoding_errors = encoding, encoding_errors  # get_encoder(), keyslot()

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> "Client":
        return cls(url, **kwargs)

    # ---- the event loop ---------------------------------------------------------------

    def _attach(self, loop: _asyncio.AbstractEventLoop) -> None:
        if os.getpid() != self._pid:
            # The eventfd is shared with the parent: watching it here would steal its wake-ups.
            raise ForkError("this client was opened in another process (before fork); open a new one here")
        old = self._loop
        if old is not None and not old.is_closed():
            if old.is_running():
                raise RuntimeError("this rcm.asyncio.Client is in use by another running event loop")
            old.remove_reader(self._native.fileno())
        loop.add_reader(self._native.fileno(), self._native.drain)
        self._loop = loop

    def _run(self, post: Post, *args: Any) -> Awaitable[Any]:
        return self._call(post, args)

    def _run_uncached(self, post: Post, *args: Any) -> Awaitable[Any]:
        return self._call(post, args, self._native.submit_uncached)

    async def _call(self, post: Post, args: tuple, submit: Any = None) -> Any:
        # Sent when first awaited (as redis.asyncio): asyncio.run(client.get(k)) works.
        loop = _get_running_loop()
        if loop is not self._loop:
            self._attach(loop)
        fut = loop.create_future()
        (submit or self._submit)(fut, post, *args)
        return await fut

    PRIMARIES = _sync.Client.PRIMARIES
    ALL_NODES = _sync.Client.ALL_NODES
    RANDOM = _sync.Client.RANDOM

    def execute_command(self, *args: Any, target_nodes: Any = None, slot: Optional[int] = None,
                        route_key: Any = None, cache: bool = True, **options: Any) -> Awaitable[Any]:
        """Sends one command; awaits its reply, converted as by rcm.Client.execute_command
        (blocking commands go on a lease). Routing keywords and cache=False as there."""
        post = _sync.response_post(args, options)
        if target_nodes is not None or slot is not None or route_key is not None:
            kind, target = _sync.route_of(target_nodes, slot, route_key)
            return self._routed(kind, target, args, post)
        if args and _sync._command_name(args[0]) in _sync._BLOCKING:
            return self._run_blocking(post, _sync.blocking_key(args), *args)
        return self._run(post, *args) if cache else self._run_uncached(post, *args)

    async def _routed(self, kind: int, target: Any, args: tuple, post: Post = None) -> Any:
        reply = await self._thread_call(lambda: self._native.execute_routed(kind, target, *args))
        return _sync.routed_reply(kind, reply, post)

    def _run_blocking(self, post: Post, key: Any, *args: Any) -> Awaitable[Any]:
        return self._blocking(post, key, args)

    def _run_routed(self, post: Post, target_nodes: Any, *args: Any) -> Awaitable[Any]:
        if target_nodes is None or target_nodes == _cluster.DEFAULT_NODE:
            return self._run(post, *args)
        return self._routed_to(post, target_nodes, args)

    async def _routed_to(self, post: Post, target_nodes: Any, args: tuple) -> Any:
        # Several nodes may answer in turn: in the pool, as other routed commands.
        return await self._thread_call(lambda: self._sync._run_routed(post, target_nodes, *args))

    async def _blocking(self, post: Post, key: Any, args: tuple) -> Any:
        timeout = _slice_timeout(args)
        if timeout is None:
            r = await self._lease_call(lambda: self._sync._raw(*args))
        else:
            r = await _in_slices(lambda sliced: self._slice(key, sliced), args, timeout)
        return _sync._apply(post, r)

    async def _slice(self, key: Any, args: tuple) -> Any:
        fut = self._lease_call(lambda: self._one_slice(key, args))
        try:
            return await _asyncio.shield(fut)
        except _asyncio.CancelledError:
            fut.add_done_callback(lambda f: self._unpop(_sync._command_name(args[0]), f))
            raise

    def _one_slice(self, key: Any, args: tuple) -> Any:
        with self._sync.lease(key) as lease:
            return lease._x(*args)

    def _unpop(self, name: bytes, fut: "_asyncio.Future[Any]") -> None:
        # The task awaiting this pop was cancelled: put the element back where it was.
        undo = _undo(name, _result(fut))
        if undo is not None and not self.closed:
            self._pool().submit(self._sync._x, *undo)

    def _check_usable(self) -> None:
        if self._native.closed:
            raise ClosedError("client closed")
        if os.getpid() != self._pid:
            # The executors' threads were the parent's: a job queued here would never run.
            raise ForkError("this client was opened in another process (before fork); open a new one here")

    def _pool(self) -> concurrent.futures.ThreadPoolExecutor:
        """Threads for work that never waits for a lease to be free: lease commands,
        releases, pipelines, routed commands."""
        self._check_usable()
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="rcm-asyncio")
        return self._executor

    def _thread_call(self, fn: Callable[[], Any]) -> "_asyncio.Future[Any]":
        return _get_running_loop().run_in_executor(self._pool(), fn)

    def _lease_call(self, fn: Callable[[], Any]) -> "_asyncio.Future[Any]":
        """fn() where it may wait for a free lease (and then use it): in a pool of its own,
        so that the waiters never hold up the holders in _pool(), whose release is what
        they wait for. (In one pool, 40 tasks for 8 leases got 32 PoolTimeoutErrors.)"""
        self._check_usable()
        if self._lease_executor is None:
            self._lease_executor = concurrent.futures.ThreadPoolExecutor(max_workers=16,
                                                                         thread_name_prefix="rcm-asyncio-lease")
        return _get_running_loop().run_in_executor(self._lease_executor, fn)

    async def _call_script(self, script: Script, keys: List[Any], args: List[Any]) -> Any:
        try:
            return await self._run(None, b"EVALSHA", script.sha, len(keys), *keys, *args)
        except NoScriptError:
            script.sha = await self.script_load(script.script)
            return await self._run(None, b"EVALSHA", script.sha, len(keys), *keys, *args)

    # ---- leases, pipelines, transactions, pub/sub -----------------------------------------

    def lease(self, key: Optional[KeyT] = None) -> "_LeaseRequest":
        """An exclusive connection: ``async with client.lease() as l: ...`` (released at
        the end) or ``l = await client.lease()`` (then ``await l.release()``)."""
        return _LeaseRequest(self, key)

    def client(self) -> "_LeaseRequest":
        """redis.asyncio's client(): ``async with r.client() as c:``, a lease here."""
        return self.lease()

    def pipeline(self, transaction: bool = False) -> Pipeline:
        return Pipeline(self, transaction)

    async def transaction(self, func: Callable[[Pipeline], Any], *watches: KeyT, shard_hint: Any = None,
                          value_from_callable: bool = False, watch_delay: Optional[float] = None) -> Any:
        """As rcm.Client.transaction; func may be a coroutine function."""
        while True:
            async with self.pipeline(transaction=True) as pipe:
                try:
                    if watches:
                        await pipe.watch(*watches)
                    func_value = func(pipe)
                    if inspect.isawaitable(func_value):
                        func_value = await func_value
                    exec_value = await pipe.execute()
                    return func_value if value_from_callable else exec_value
                except WatchError:
                    if watch_delay is not None and watch_delay > 0:
                        await _asyncio.sleep(watch_delay)

    def pubsub(self, ignore_subscribe_messages: bool = False, event_handler: Optional[Handler] = None,
               every_primary: bool = False, **kwargs: Any) -> PubSub:
        """As rcm.Client.pubsub(); no thread: it waits with loop.add_reader."""
        return PubSub(self, ignore_subscribe_messages, event_handler, every_primary)

    def lock(self, name: KeyT, timeout: Optional[float] = None, sleep: float = 0.1, blocking: bool = True,
             blocking_timeout: Optional[float] = None, lock_class: Any = None, thread_local: bool = True) -> Any:
        """A redis.asyncio Lock on key name (rcm.lock.AsyncLock): ``async with r.lock(k): ...``."""
        cls = AsyncLock if lock_class is None else lock_class
        return cls(self, name, timeout=timeout, sleep=sleep, blocking=blocking, blocking_timeout=blocking_timeout,
                   thread_local=thread_local)

    def monitor(self) -> Any:
        """MONITOR on a lease of its own (rcm.monitor.AsyncMonitor)."""
        return AsyncMonitor(self)

    # ---- iteration helpers --------------------------------------------------------------

    async def scan_iter(self, match: Optional[KeyT] = None, count: Optional[int] = None,
                        _type: Optional[str] = None, **kwargs: Any) -> AsyncIterator[Any]:
        """Every key (that matches); in cluster mode those of every primary, in turn."""
        for node in self._scan_nodes():
            cursor = None
            while cursor != 0:
                cursor, data = await self.scan(cursor or 0, match=match, count=count, _type=_type, target_nodes=node)
                for item in data:
                    yield item

    async def initialize(self) -> "Client":
        """redis.asyncio's initialize(): rcm connects when the client is made."""
        return self

    async def hscan_iter(self, name: KeyT, match: Optional[KeyT] = None,
                         count: Optional[int] = None) -> AsyncIterator[Any]:
        cursor = None
        while cursor != 0:
            cursor, data = await self.hscan(name, cursor or 0, match=match, count=count)
            for item in data.items():
                yield item

    async def sscan_iter(self, name: KeyT, match: Optional[KeyT] = None,
                         count: Optional[int] = None) -> AsyncIterator[Any]:
        cursor = None
        while cursor != 0:
            cursor, data = await self.sscan(name, cursor or 0, match=match, count=count)
            for item in data:
                yield item

    async def zscan_iter(self, name: KeyT, match: Optional[KeyT] = None,
                         count: Optional[int] = None) -> AsyncIterator[Any]:
        cursor = None
        while cursor != 0:
            cursor, data = await self.zscan(name, cursor or 0, match=match, count=count)
            for item in data:
                yield item

    # ---- introspection and life -----------------------------------------------------------

    async def stats(self) -> dict:
        return json.loads(self._native.stats_json())

    async def topology(self) -> dict:
        return json.loads(self._native.topology_json())

    async def cache_stats(self) -> dict:
        """As rcm.Client.cache_stats()."""
        return cache_stats_of(json.loads(self._native.stats_json()))

    @property
    def decode_responses(self) -> bool:
        return self._native.decode_responses

    @property
    def closed(self) -> bool:
        return self._native.closed

    def close(self) -> Awaitable[None]:
        """Closes the client: awaiting commands fail with ClosedError. Callable from any
        thread; idempotent. Closes at once; what it returns may be awaited (``await
        r.close()``, as with redis.asyncio) or dropped."""
        self._close()
        return _CLOSED

    def _close(self) -> None:
        self._native.close()
        for executor in (self._executor, self._lease_executor):
            if executor is not None and os.getpid() == self._pid:
                executor.shutdown(wait=False)
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = _get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._detach()
        else:
            try:
                loop.call_soon_threadsafe(self._detach)
            except RuntimeError:  # closed meanwhile
                pass

    def _detach(self) -> None:
        # Settles what close() completed (ClosedError), then stops watching the eventfd.
        self._native.drain()
        loop, self._loop = self._loop, None
        if loop is not None and not loop.is_closed():
            loop.remove_reader(self._native.fileno())

    async def aclose(self) -> None:
        self._close()

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self._close()

    def __del__(self) -> None:
        # The loop's reader holds the native client: detach it, or it lives on.
        native = getattr(self, "_native", None)
        if native is not None and self._loop is not None:
            try:
                self._close()
            except Exception:
                pass

    def __repr__(self) -> str:
        return f"<rcm.asyncio.Client {'closed' if self.closed else 'open'}>"
