"""Pub/Sub as redis-py has it, on rcm's subscribers (rcm_subscriber in pull mode).

A subscription is desired state that rcm keeps true: when the subscriber connection is
lost (a restart, a failover, a slot move), rcm subscribes again where each name now
belongs and tells what may have been lost as a message of its own type, ``'gap'``.
Every PubSub of a client shares rcm's subscriber connections; PubSub itself holds no
connection. Messages come as redis-py's dicts (``type``, ``pattern``, ``channel``,
``data``); a name subscribed with a handler (``subscribe(name=handler)``) has its
messages passed to the handler instead of returned.

Besides redis-py's types, get_message() returns (unless ``ignore_subscribe_messages`` is
set, or an ``event_handler`` was given, which then receives them instead):

- ``{'type': 'gap', 'pattern': None, 'channel': name, 'data': {'kind': 'channel' |
  'pattern' | 'shard', 'from_ms': ..., 'to_ms': ..., 'node': 'host:port'}}``: ``name``
  was not subscribed from ``from_ms`` to ``to_ms`` (Unix time in ms); messages published
  then may be lost. It is live again (on ``node``).
- ``{'type': 'dropped', 'pattern': None, 'channel': None, 'data': n}``: ``n`` messages
  were discarded because this PubSub did not read fast enough (``pubsub.max_pending``).
"""

from __future__ import annotations

import collections
import math
import os
import threading
import time
from typing import Any, Callable, Deque, Dict, Iterator, List, Optional, Set, Tuple

from . import _native
from .exceptions import ClosedError, ForkError, PubSubError

__all__ = ["PubSub", "PubSubWorkerThread"]

CHANNEL = _native.RCM_SUB_CHANNEL
PATTERN = _native.RCM_SUB_PATTERN
SHARD = _native.RCM_SUB_SHARD

_SUBSCRIBED = _native.RCM_MSG_SUBSCRIBED
_UNSUBSCRIBED = _native.RCM_MSG_UNSUBSCRIBED
_GAP = _native.RCM_MSG_GAP
_DROPPED = _native.RCM_MSG_DROPPED

# kind -> (confirmation type, removal type, message type, name in a gap's data)
_TYPES = {
    CHANNEL: ("subscribe", "unsubscribe", "message", "channel"),
    PATTERN: ("psubscribe", "punsubscribe", "pmessage", "pattern"),
    SHARD: ("ssubscribe", "sunsubscribe", "smessage", "shard"),
}

Handler = Callable[[dict], Any]


def timeout_ms(timeout: Optional[float]) -> int:
    """Seconds (None: no limit) as the milliseconds of rcm_subscriber_next (-1: no limit)."""
    if timeout is None:
        return -1
    return max(0, math.ceil(timeout * 1000))


class PubSubCore:
    """What the sync and the asyncio PubSub share: the subscriptions asked for, the
    native subscriber, and the turning of rcm's messages into redis-py's dicts. Nothing
    here waits; the subclasses wait for messages each their own way.

    Thread-safe: every change of state is under ``_lock``, never held while waiting for a
    message nor while a handler runs.
    """

    def __init__(self, native_client: Any, encoding: str, encoding_errors: str, decode: bool,
                 ignore_subscribe_messages: bool, event_handler: Optional[Handler], every_primary: bool) -> None:
        self._native_client = native_client
        # Channels and patterns on every primary of a cluster (keyspace notifications).
        self._every = _native.RCM_SUB_EVERY_PRIMARY if every_primary else 0
        self._encoding, self._errors, self._decode = encoding, encoding_errors, decode
        self.ignore_subscribe_messages = ignore_subscribe_messages
        self.event_handler = event_handler
        self._pid = os.getpid()
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)  # a subscriber was opened or closed
        self._sub: Any = None          # the native Subscriber; None until the first subscribe
        self._generation = 0           # +1 at each close(): a reader of an older one stops
        self.channels: Dict[Any, Optional[Handler]] = {}
        self.patterns: Dict[Any, Optional[Handler]] = {}
        self.shard_channels: Dict[Any, Optional[Handler]] = {}
        self._tables = {CHANNEL: self.channels, PATTERN: self.patterns, SHARD: self.shard_channels}
        self._live: Dict[int, Set[Any]] = {CHANNEL: set(), PATTERN: set(), SHARD: set()}  # confirmed
        self._leaving: Dict[int, Set[Any]] = {CHANNEL: set(), PATTERN: set(), SHARD: set()}
        self._pending: Deque[dict] = collections.deque()  # pongs of ping(), served first

    # ---- names ------------------------------------------------------------------------

    def _norm(self, name: Any) -> Any:
        """A name as the messages spell it: str with decode_responses, else bytes
        (redis-py's keys of channels/patterns)."""
        if isinstance(name, str):
            return name if self._decode else name.encode(self._encoding, self._errors)
        if isinstance(name, (int, float)) and not isinstance(name, bool):
            text = repr(name)
            return text if self._decode else text.encode()
        if isinstance(name, (bytes, bytearray, memoryview)):
            raw = bytes(name)
            return raw.decode(self._encoding, self._errors) if self._decode else raw
        raise PubSubError(f"a channel or pattern name must be bytes, str, int or float, not {type(name).__name__}")

    def _wire(self, name: Any) -> bytes:
        return name.encode(self._encoding, self._errors) if isinstance(name, str) else name

    def _check_fork(self) -> None:
        if os.getpid() != self._pid:
            raise ForkError("this PubSub was opened in another process (before fork); open a new one here")

    # ---- subscribing ------------------------------------------------------------------

    def _subscribe(self, kind: int, args: Tuple[Any, ...], handlers: Dict[str, Handler]) -> None:
        names: Dict[Any, Optional[Handler]] = {self._norm(a): None for a in args}
        names.update((self._norm(k), v) for k, v in handlers.items())
        if not names:
            raise ValueError(f"{_TYPES[kind][0]}() needs at least one name")
        with self._lock:
            self._check_fork()
            if self._sub is None:
                self._sub = _native.Subscriber(self._native_client)
                self._changed.notify_all()
            self._sub.subscribe(self._flagged(kind), [self._wire(n) for n in names])
            self._tables[kind].update(names)
            self._leaving[kind].difference_update(names)

    def _flagged(self, kind: int) -> int:
        return kind | self._every if kind != SHARD else kind

    def _unsubscribe(self, kind: int, args: Tuple[Any, ...]) -> None:
        with self._lock:
            if self._sub is None:
                self._check_fork()
                return
            table = self._tables[kind]
            if args:
                names = [self._norm(a) for a in args]
                self._sub.unsubscribe(self._flagged(kind), [self._wire(n) for n in names])
                self._leaving[kind].update(n for n in names if n in table)
            else:
                self._sub.unsubscribe(self._flagged(kind), None)
                self._leaving[kind].update(table)

    def subscribe(self, *args: Any, **kwargs: Handler) -> Any:
        """Subscribes to channels; ``name=handler`` keywords pass that channel's messages
        to handler instead of returning them. Returns at once: each name is confirmed by a
        'subscribe' message when live."""
        self._subscribe(CHANNEL, args, kwargs)

    def psubscribe(self, *args: Any, **kwargs: Handler) -> Any:
        """As subscribe(), for glob-style patterns ('pmessage')."""
        self._subscribe(PATTERN, args, kwargs)

    def ssubscribe(self, *args: Any, **kwargs: Handler) -> Any:
        """As subscribe(), for shard channels (SSUBSCRIBE, 'smessage'; Redis/Valkey 7+);
        in a cluster each goes to the owner of its slot."""
        self._subscribe(SHARD, args, kwargs)

    def unsubscribe(self, *args: Any) -> Any:
        """Unsubscribes from the channels named, or from every channel without arguments.
        Each leaves ``channels`` when its 'unsubscribe' message is read."""
        self._unsubscribe(CHANNEL, args)

    def punsubscribe(self, *args: Any) -> Any:
        self._unsubscribe(PATTERN, args)

    def sunsubscribe(self, *args: Any) -> Any:
        self._unsubscribe(SHARD, args)

    @property
    def subscribed(self) -> bool:
        """True while any channel, pattern or shard channel is subscribed (or its
        unsubscription not yet read)."""
        return bool(self.channels or self.patterns or self.shard_channels)

    # ---- messages ----------------------------------------------------------------------

    def _pong(self, message: Any) -> None:
        data = b"" if message is None else self._norm(message)
        if self._decode and isinstance(data, bytes):
            data = data.decode(self._encoding, self._errors)
        with self._lock:
            self._pending.append({"type": "pong", "pattern": None, "channel": None, "data": data})

    def _take(self, sub: Any, raw: Any, ignore: bool) -> Tuple[Optional[dict], Optional[Handler]]:
        """(message, handler) for what sub.next() returned: the caller calls
        handler(message) when there is one (outside the lock: a handler may subscribe,
        close, block...), else returns message. (None, None) when sub was closed meanwhile:
        the message is dropped, as its subscriptions are."""
        if raw.__class__ is dict:  # a published message, already redis-py's dict
            if sub is not self._sub:
                return None, None
            return raw, self._handler_of(raw)
        with self._lock:
            if sub is not self._sub:
                return None, None
            return self._convert(raw, ignore or self.ignore_subscribe_messages)

    def _handler_of(self, msg: dict) -> Optional[Handler]:
        # dict.get is atomic under the GIL: no lock on the path every message takes.
        t = msg["type"]
        if t == "message":
            return self.channels.get(msg["channel"])
        if t == "pmessage":
            return self.patterns.get(msg["pattern"])
        return self.shard_channels.get(msg["channel"])

    def _convert(self, raw: tuple, ignore: bool) -> Tuple[Optional[dict], Optional[Handler]]:
        """(message dict or None, handler to call with it or None). Under _lock."""
        mtype, kind, _every, name, pattern, payload, node, gap_from, gap_to, dropped = raw
        kind = kind if kind in _TYPES else CHANNEL
        types = _TYPES[kind]
        live = self._live[kind]
        if mtype == _SUBSCRIBED:
            live.add(name)
            msg = {"type": types[0], "pattern": None, "channel": name, "data": self._count(kind)}
            return (None if ignore else msg), None
        if mtype == _UNSUBSCRIBED:
            # A subscribe withdrawn before its confirmation came (subscribe, unsubscribe,
            # subscribe again in a row): rcm never had it live, a redis-py connection
            # would have answered both commands. Reported as that server would have: the
            # subscribe's confirmation first, then the unsubscribe's.
            withdrawn = name not in live
            live.discard(name)
            if name in self._leaving[kind]:
                self._leaving[kind].discard(name)
                self._tables[kind].pop(name, None)
            msg = {"type": types[1], "pattern": None, "channel": name, "data": self._count(kind)}
            if ignore:
                return None, None
            if withdrawn:
                self._pending.append(msg)
                return {"type": types[0], "pattern": None, "channel": name, "data": self._count(kind) + 1}, None
            return msg, None
        if mtype == _GAP:
            data = {"kind": types[3], "from_ms": gap_from, "to_ms": gap_to, "node": node}
            msg = {"type": "gap", "pattern": None, "channel": name, "data": data}
        elif mtype == _DROPPED:
            msg = {"type": "dropped", "pattern": None, "channel": name, "data": dropped}
        else:  # a type this version does not know: passed on as rcm said it
            msg = {"type": f"rcm-{mtype}", "pattern": pattern, "channel": name, "data": payload}
        if self.event_handler is not None:
            return msg, self.event_handler
        return (None if ignore else msg), None

    def _count(self, kind: int) -> int:
        # What the server reports in a confirmation, per connection: channels and
        # patterns together; shard channels apart.
        if kind == SHARD:
            return len(self._live[SHARD])
        return len(self._live[CHANNEL]) + len(self._live[PATTERN])

    # ---- life ----------------------------------------------------------------------------

    def _detach(self) -> Any:
        """Forgets every subscription and returns the native subscriber to close."""
        with self._lock:
            sub, self._sub = self._sub, None
            for t in self._tables.values():
                t.clear()
            for s in (*self._live.values(), *self._leaving.values()):
                s.clear()
            self._pending.clear()
            self._generation += 1
            self._changed.notify_all()
        return sub

    def _handlers_missing(self) -> List[str]:
        return [f"{what}: {name!r}" for what, table in (("Channel", self.channels), ("Pattern", self.patterns),
                                                         ("Shard channel", self.shard_channels))
                for name, handler in table.items() if handler is None]


class PubSub(PubSubCore):
    """redis-py's PubSub on rcm: ``client.pubsub()``.

    ``get_message()``/``listen()`` may wait in one thread while others subscribe,
    unsubscribe or close(); close() ends a listen() in another thread cleanly.
    """

    def __init__(self, client: Any, ignore_subscribe_messages: bool = False,
                 event_handler: Optional[Handler] = None, every_primary: bool = False) -> None:
        super().__init__(client._native, client._encoding, client._encoding_errors, client.decode_responses,
                         ignore_subscribe_messages, event_handler, every_primary)
        self._client = client

    def __enter__(self) -> "PubSub":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def ping(self, message: Any = None) -> None:
        """Checks that the server answers (a PING through the client's pool) and queues a
        'pong' message for get_message(), as redis-py's does on its connection. (rcm
        checks its subscriber connections itself.)"""
        self._client.execute_command("PING")
        self._pong(message)

    def get_message(self, ignore_subscribe_messages: bool = False, timeout: Optional[float] = 0.0) -> Optional[dict]:
        """The next message as a dict, or None when none came within timeout seconds
        (None: wait without limit), when a handler took it, or when it was a confirmation
        and subscribe messages are ignored. Before any subscribe() it waits up to timeout
        for one (from another thread) and returns None."""
        return self._get(ignore_subscribe_messages, timeout, None)

    def _get(self, ignore: bool, timeout: Optional[float], generation: Optional[int]) -> Optional[dict]:
        # generation: that of the caller's loop (listen), which ends once close() changed it.
        if generation is not None and generation != self._generation:
            return None
        sub = self._sub
        if sub is None or self._pending:
            sub, timeout, early = self._before_read(timeout)
            if sub is None:
                return early
        try:
            # Without a wait first: a loop that keeps up never computes a deadline.
            raw = sub.next(0)
            if raw is None and timeout != 0:
                raw = sub.next(timeout_ms(timeout))
        except ClosedError:
            if sub is not self._sub:  # close() from another thread: not an error here
                return None
            raise
        if raw is None:
            return None
        msg, handler = self._take(sub, raw, ignore)
        if handler is not None:
            handler(msg)
            return None
        return msg

    def _before_read(self, timeout: Optional[float]) -> Tuple[Any, Optional[float], Optional[dict]]:
        """(subscriber, the timeout left, None) to read from; (None, _, what get_message
        returns) when there is none: a queued pong, or None when nothing was subscribed
        within timeout or close() came meanwhile."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            if self._pending:
                return None, None, self._pending.popleft()
            if self._sub is None:
                self._check_fork()
                if timeout is not None and timeout <= 0:
                    return None, None, None
                gen = self._generation
                self._changed.wait_for(lambda: self._sub is not None or self._generation != gen, timeout)
                if self._sub is None or self._generation != gen:
                    return None, None, None
            sub = self._sub
        return sub, None if deadline is None else max(0.0, deadline - time.monotonic()), None

    def get_sharded_message(self, ignore_subscribe_messages: bool = False, timeout: Optional[float] = 0.0,
                            target_node: Any = None) -> Optional[dict]:
        """As get_message(): every kind of message comes through the same stream (redis-py's
        cluster PubSub reads shard channels node by node; rcm merges them)."""
        return self.get_message(ignore_subscribe_messages, timeout)

    def listen(self) -> Iterator[dict]:
        """Yields messages while subscribed; ends when every subscription is gone (also
        after close() from another thread)."""
        with self._lock:
            generation = self._generation
        while self.subscribed:
            msg = self._get(False, None, generation)
            if msg is not None:
                yield msg
            elif generation != self._generation:
                return

    def run_in_thread(self, sleep_time: float = 0.0, daemon: bool = False,
                      exception_handler: Optional[Callable[[BaseException, "PubSub", "PubSubWorkerThread"], None]] = None
                      ) -> "PubSubWorkerThread":
        """Starts a thread that reads messages and passes them to their handlers (every
        name must have one) until its stop(); the PubSub is closed when it ends."""
        missing = self._handlers_missing()
        if missing:
            raise PubSubError(f"{missing[0]} has no handler registered")
        thread = PubSubWorkerThread(self, sleep_time, daemon=daemon, exception_handler=exception_handler)
        thread.start()
        return thread

    def close(self) -> None:
        """Drops every subscription; the PubSub may subscribe again afterwards (as after
        redis-py's reset()). Any thread; idempotent. A get_message()/listen() waiting in
        another thread returns None / ends."""
        sub = self._detach()
        if sub is not None:
            sub.close()

    reset = close

    def __repr__(self) -> str:
        return f"<rcm.PubSub channels={len(self.channels)} patterns={len(self.patterns)} " \
               f"shard_channels={len(self.shard_channels)}>"


class PubSubWorkerThread(threading.Thread):
    """The thread of PubSub.run_in_thread(): stop() ends it within its wait."""

    #: How long one wait lasts when sleep_time is 0 (a message ends it at once; stop() waits
    #: at most this long).
    IDLE_WAIT = 0.1

    def __init__(self, pubsub: PubSub, sleep_time: float, daemon: bool = False,
                 exception_handler: Optional[Callable[..., None]] = None) -> None:
        super().__init__(daemon=daemon, name="rcm-pubsub")
        self.pubsub = pubsub
        self.sleep_time = sleep_time
        self.exception_handler = exception_handler
        self._running = threading.Event()

    def run(self) -> None:
        if self._running.is_set():
            return
        self._running.set()
        wait = self.sleep_time if self.sleep_time > 0 else self.IDLE_WAIT
        try:
            while self._running.is_set():
                try:
                    self.pubsub.get_message(ignore_subscribe_messages=True, timeout=wait)
                except BaseException as e:  # noqa: BLE001 - redis-py's contract
                    if self.exception_handler is None:
                        raise
                    self.exception_handler(e, self.pubsub, self)
        finally:
            self.pubsub.close()

    def stop(self) -> None:
        """Ends the thread after its current wait (at most sleep_time, or IDLE_WAIT)."""
        self._running.clear()
