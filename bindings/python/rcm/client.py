"""The synchronous client: Client, Pipeline and Lease (PubSub: pubsub.py)."""

from __future__ import annotations

import json
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from . import _cluster, _native
from ._compat import MappingAccess
from ._callbacks import callback_for
from ._cache import cache_stats_of
from ._config import config_items
from .commands import NEVER_DECODE, AbsExpiryT, Commands, EncodableT, ExpiryT, KeyT, Post, Script, _set_reply
from .exceptions import ArgumentError, NoScriptError, ResponseError, StateError, WatchError
from .pubsub import Handler, PubSub
from .lock import Lock
from .monitor import Monitor

__all__ = ["Client", "Pipeline", "Lease"]

# Commands that hold their connection while they wait: Client sends them on a lease.
_BLOCKING = frozenset(
    b"BLPOP BRPOP BRPOPLPUSH BLMOVE BLMPOP BZPOPMIN BZPOPMAX BZMPOP XREAD XREADGROUP WAIT WAITAOF".split()
)


def _command_name(arg: Any) -> bytes:
    if isinstance(arg, str):
        return arg.upper().encode("utf-8", "replace")
    if isinstance(arg, (bytes, bytearray, memoryview)):
        return bytes(arg).upper()
    return b""


def blocking_key(args: Sequence[Any]) -> Any:
    """The key that picks the node of a blocking command's lease (None: any node)."""
    name = _command_name(args[0]) if args else b""
    if name in (b"XREAD", b"XREADGROUP"):
        for i, a in enumerate(args):
            if _command_name(a) == b"STREAMS" and i + 1 < len(args):
                return args[i + 1]
        return None
    if name in (b"BLMPOP", b"BZMPOP"):  # timeout numkeys key...
        return args[3] if len(args) > 3 else None
    if name in (b"WAIT", b"WAITAOF"):
        return None
    return args[1] if len(args) > 1 else None


def route_of(target_nodes: Any = None, slot: Optional[int] = None, route_key: Any = None) -> Tuple[int, Any]:
    """execute_command's routing keywords -> (RCM_ROUTE_* kind, target)."""
    if slot is not None:
        return _native.RCM_ROUTE_SLOT, slot
    if route_key is not None:
        return _native.RCM_ROUTE_KEY, route_key
    if target_nodes in (Client.PRIMARIES, "all-primaries"):
        return _native.RCM_ROUTE_ALL_PRIMARIES, None
    if target_nodes == Client.ALL_NODES:
        return _native.RCM_ROUTE_ALL_NODES, None
    if target_nodes == Client.RANDOM:
        return _native.RCM_ROUTE_RANDOM, None
    if isinstance(target_nodes, str) and ":" in target_nodes:
        return _native.RCM_ROUTE_NODE, target_nodes
    if isinstance(target_nodes, _cluster.ClusterNode):  # from get_nodes(), get_node()...
        return _native.RCM_ROUTE_NODE, target_nodes.name
    raise ValueError(f"target_nodes must be Client.PRIMARIES, Client.ALL_NODES, Client.RANDOM or "
                     f"'host:port', not {target_nodes!r}")


def routed_reply(kind: int, reply: Any, post: Post = None) -> Any:
    """Replies of every primary/node come back as {"host:port": reply} (post applied to
    each, as redis-py's cluster client applies a callback per node)."""
    if kind in (_native.RCM_ROUTE_ALL_PRIMARIES, _native.RCM_ROUTE_ALL_NODES):
        return {(a.decode() if isinstance(a, bytes) else a): _apply(post, r) for a, r in reply}
    return reply if post is None else post(reply)


def _apply(post: Post, reply: Any) -> Any:
    if post is None or isinstance(reply, BaseException):
        return reply
    return post(reply)


def response_post(args: Sequence[Any], options: Dict[str, Any]) -> Post:
    """redis-py's response callback for execute_command(*args, **options) (None: the raw
    reply), with the options bound as redis-py passes them."""
    cb = callback_for(args[0]) if args else None
    if cb is None or not options:
        return cb
    return lambda r: cb(r, **options)


def _text(arg: Any) -> str:
    if isinstance(arg, (bytes, bytearray, memoryview)):
        t = bytes(arg).decode("utf-8", "replace")
    else:
        t = str(arg)
    return t if len(t) <= 64 else t[:61] + "..."


# Commands whose arguments may hold a password (AUTH pw, HELLO 3 AUTH u pw, CONFIG SET
# requirepass pw, MIGRATE ... AUTH pw, ACL SETUSER u >pw, SENTINEL SET m auth-pass pw):
# an error message names them and their subcommand, never their arguments.
_SECRET_ARGS = {b"AUTH": 1, b"HELLO": 1, b"MIGRATE": 1, b"CONFIG": 2, b"ACL": 2, b"SENTINEL": 2}


def _describe(args: Sequence[Any]) -> str:
    """A command for an error message: its arguments, or where they may be secret, its
    name (and subcommand) and how many arguments were left out."""
    name = _command_name(args[0]) if args else b""
    shown = _SECRET_ARGS.get(name)
    if shown is not None and len(args) > shown:
        return " ".join(_text(a) for a in args[:shown]) + f" <{len(args) - shown} arguments not shown>"
    return " ".join(_text(a) for a in args[:8]) + (" ..." if len(args) > 8 else "")


def _annotate(exc: BaseException, index: int, args: Sequence[Any]) -> BaseException:
    """redis-py's "Command # N (...) of pipeline caused error: ..." on the exception."""
    cmd = _describe(args)
    msg = exc.args[0] if exc.args else ""
    exc.args = (f"Command # {index + 1} ({cmd}) of pipeline caused error: {msg}",) + tuple(exc.args[1:])
    return exc


def _raise_first_error(results: List[Any], cmds: Sequence[tuple]) -> None:
    for i, r in enumerate(results):
        if isinstance(r, BaseException):
            raise _annotate(r, i, cmds[i])


def _transaction_results(cmds: Sequence[tuple], posts: Sequence[Post], multi_reply: Any, queued: Sequence[Any],
                         exec_reply: Any) -> List[Any]:
    """The values of MULTI ... EXEC: errors at queue time abort it, a nil EXEC is WatchError."""
    if isinstance(multi_reply, BaseException):
        raise multi_reply
    for i, q in enumerate(queued):
        if isinstance(q, BaseException) and isinstance(exec_reply, BaseException):
            raise _annotate(q, i, cmds[i])
    if isinstance(exec_reply, BaseException):
        raise exec_reply
    if exec_reply is None:
        raise WatchError("Watched variable changed.")
    if len(exec_reply) != len(cmds):
        raise ResponseError(f"EXEC returned {len(exec_reply)} replies for {len(cmds)} commands")
    return [_apply(post, r) for post, r in zip(posts, exec_reply)]


class Lease(Commands):
    """An exclusive connection for blocking and stateful commands (BLPOP, WATCH/MULTI/EXEC,
    SUBSCRIBE...). Use it from one thread at a time, release it (or use ``with``) when done;
    rcm cleans the connection before anyone else gets it.

    The command helpers work on it too: ``lease.blpop("queue", 5)``.
    """

    __slots__ = ("_client", "_native", "_x", "_in_multi")

    def __init__(self, client: "Client", native: Any) -> None:
        self._client = client
        self._native = native
        self._x = native.execute
        self._in_multi = False

    def execute_command(self, *args: Any, **options: Any) -> Any:
        """Sends one command on this connection; its reply converted as redis-py's
        execute_command does (SET -> True, HGETALL -> dict...; raw inside MULTI)."""
        return self._run(response_post(args, options), *args)

    def _run(self, post: Post, *args: Any) -> Any:
        if post is NEVER_DECODE:
            return self._native.execute_bytes(*args)
        r = self._x(*args)
        if self._in_multi:  # the raw "QUEUED"
            return r
        if post is None:  # as Client._run: a status reply is bytes unless decoding
            return r.encode() if type(r) is str and self._client._status_bytes else r
        return post(r)

    def _run_blocking(self, post: Post, key: Any, *args: Any) -> Any:
        return self._run(post, *args)

    # A lease's commands never use the client-side cache: cache=False changes nothing.
    _run_uncached = _run

    def _call_script(self, script: Script, keys: List[Any], args: List[Any]) -> Any:
        try:
            return self._x(b"EVALSHA", script.sha, len(keys), *keys, *args)
        except NoScriptError:
            script.sha = self._x(b"SCRIPT", b"LOAD", script.script)
            if isinstance(script.sha, bytes):
                script.sha = script.sha.decode()
            return self._x(b"EVALSHA", script.sha, len(keys), *keys, *args)

    # Transactions on the lease's connection. Inside MULTI the helpers return the raw
    # "QUEUED"; exec() returns the raw results (client.transaction() converts them).
    def watch(self, *names: KeyT) -> bool:
        return self._x(b"WATCH", *names) == "OK"

    def unwatch(self) -> bool:
        return self._x(b"UNWATCH") == "OK"

    def multi(self) -> bool:
        r = self._x(b"MULTI")
        self._in_multi = True
        return r == "OK"

    def exec(self) -> Optional[List[Any]]:
        """EXEC: the list of results, or None when a watched key changed."""
        try:
            return self._x(b"EXEC")
        finally:
            self._in_multi = False

    def discard(self) -> bool:
        try:
            return self._x(b"DISCARD") == "OK"
        finally:
            self._in_multi = False

    def read(self, timeout: Optional[float] = None) -> Any:
        """The next message the server pushed on this connection (pub/sub), or None when
        none came within timeout seconds (None: wait without limit)."""
        ms = -1 if timeout is None else max(0, int(timeout * 1000))
        return self._native.read(ms)

    def release(self) -> None:
        """Gives the connection back to the pool (closed instead if it cannot be cleaned)."""
        self._native.release()

    @property
    def released(self) -> bool:
        return self._native.released

    def __enter__(self) -> "Lease":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"<rcm.Lease {'released' if self.released else 'held'}>"


class Pipeline(Commands):
    """Commands queued and sent together; ``execute()`` returns their values in order.

    ``transaction=True`` wraps them in MULTI/EXEC. ``watch()`` switches to redis-py's
    optimistic-locking mode on a lease: commands run at once until ``multi()``, then are
    queued, and ``execute()`` raises WatchError when a watched key changed.
    """

    def __init__(self, client: "Client", transaction: bool = False) -> None:
        self._client = client
        self._native = client._native
        self.transaction = transaction
        self._cmds: List[tuple] = []    # argument tuples, in order
        self._posts: List[Post] = []    # each one's reply conversion (None: raw)
        self._lease: Optional[Lease] = None
        self._explicit_multi = False
        self._scripts: Dict[str, Script] = {}
        self._discarded = False  # discard() was called: the next execute() raises
        self._watching = False   # a WATCH is in force (redis-py's Pipeline.watching)

    def _run(self, post: Post, *args: Any) -> Any:
        if self._lease is not None and not self._explicit_multi:
            return self._lease._run(post, *args)  # watching: immediate, as in redis-py
        self._cmds.append(args)
        self._posts.append(post)
        return self

    def _run_blocking(self, post: Post, key: Any, *args: Any) -> Any:
        return self._run(post, *args)

    def execute_command(self, *args: Any, **options: Any) -> Any:
        return self._run(response_post(args, options), *args)

    # Fast paths for the commands pipelines are mostly made of.
    def get(self, name: KeyT, cache: bool = True) -> Any:
        if not cache:
            return self._run_uncached(None, b"GET", name)  # refused: see Commands
        if self._lease is not None and not self._explicit_multi:
            return self._lease._x(b"GET", name)
        self._cmds.append((b"GET", name))
        self._posts.append(None)
        return self

    def set(self, name: KeyT, value: EncodableT, ex: Optional[ExpiryT] = None, px: Optional[ExpiryT] = None,
            nx: bool = False, xx: bool = False, keepttl: bool = False, get: bool = False,
            exat: Optional[AbsExpiryT] = None, pxat: Optional[AbsExpiryT] = None) -> Any:
        if (ex is None and px is None and exat is None and pxat is None and not (nx or xx or keepttl or get)
                and (self._lease is None or self._explicit_multi)):
            self._cmds.append((b"SET", name, value))
            self._posts.append(_set_reply)
            return self
        return Commands.set(self, name, value, ex, px, nx, xx, keepttl, get, exat, pxat)

    def _call_script(self, script: Script, keys: List[Any], args: List[Any]) -> Any:
        self._scripts[script.sha] = script
        return self._run(None, b"EVALSHA", script.sha, len(keys), *keys, *args)

    def __len__(self) -> int:
        return len(self._cmds)

    def __bool__(self) -> bool:
        return True

    def __enter__(self) -> "Pipeline":
        return self

    def __exit__(self, *exc: Any) -> None:
        self._reset()

    def watch(self, *names: KeyT) -> bool:
        if self._explicit_multi:
            raise StateError("Cannot issue a WATCH after a MULTI")
        if self._lease is None:
            self._lease = self._client.lease(names[0] if names else None)
        r = self._lease.watch(*names)
        self._watching = True
        return r

    @property
    def watching(self) -> bool:
        """True from watch() until unwatch(), execute() or reset(), as in redis-py."""
        return self._watching

    def unwatch(self) -> bool:
        """UNWATCH; commands are then queued again until execute(), as in redis-py."""
        if self._lease is None:
            return True
        r = self._lease.unwatch()
        self._watching = False
        if not self._explicit_multi:
            lease, self._lease = self._lease, None
            lease.release()
        return r

    def multi(self) -> None:
        if self._explicit_multi:
            raise StateError("Cannot issue nested calls to MULTI")
        if self._cmds:
            raise StateError("Commands without an initial WATCH have already been issued")
        self._explicit_multi = True

    def reset(self) -> None:
        """Forgets queued commands and gives back the lease of watch() (rcm drops the watches)."""
        self._reset()

    def discard(self) -> None:
        """Forgets the commands queued so far (redis-py queues a DISCARD: the next
        execute() then raises ResponseError; so does rcm's, and the pipeline is empty
        and usable again after it)."""
        self._cmds, self._posts = [], []
        self._discarded = True

    def _reset(self) -> None:
        self._cmds = []
        self._posts = []
        self._explicit_multi = False
        self._watching = False
        lease, self._lease = self._lease, None
        if lease is not None:
            lease.release()

    def _load_scripts(self) -> None:
        scripts = list(self._scripts.values())
        self._scripts = {}
        exists = self._client.script_exists(*[s.sha for s in scripts])
        for s, ok in zip(scripts, exists):
            if not ok:
                self._client.script_load(s.script)

    def execute(self, raise_on_error: bool = True) -> List[Any]:
        """Sends the queued commands; returns their values in order. A command's error is
        raised (the first one, after all ran) or, with raise_on_error=False, returned in
        its place as an exception instance."""
        cmds, posts = self._cmds, self._posts
        self._cmds, self._posts = [], []
        if self._discarded:  # what the server answers the DISCARD redis-py would have queued
            msg = "EXEC without MULTI" if self.transaction or self._explicit_multi else "DISCARD without MULTI"
            self._discarded = False
            self._reset()
            raise ResponseError(msg)
        try:
            if self._scripts:
                self._load_scripts()
            if self._lease is not None:
                results = self._execute_on_lease(cmds, posts) if self._explicit_multi else []
            elif not cmds:
                results = []
            elif self.transaction or self._explicit_multi:
                block = [(b"MULTI",), *cmds, (b"EXEC",)]
                if self._client.decode_responses and any(p is NEVER_DECODE for p in posts):
                    # DUMP and the like stay bytes: EXEC comes back undecoded and the
                    # other values are decoded here, one by one.
                    replies = self._native.pipeline(block, [None] * (len(cmds) + 1) + [NEVER_DECODE])
                    exec_reply = replies[-1]
                    if isinstance(exec_reply, list):
                        exec_reply = [r if p is NEVER_DECODE else self._client._decode(r)
                                      for p, r in zip(posts, exec_reply)]
                    results = _transaction_results(cmds, posts, replies[0], replies[1:-1], exec_reply)
                else:
                    replies = self._native.pipeline(block)
                    results = _transaction_results(cmds, posts, replies[0], replies[1:-1], replies[-1])
            else:
                results = self._native.pipeline(cmds, posts)
        finally:
            self._reset()
        if raise_on_error:
            _raise_first_error(results, cmds)
        return results

    def _execute_on_lease(self, cmds: List[tuple], posts: List[Post]) -> List[Any]:
        assert self._lease is not None
        x = self._lease._x
        x(b"MULTI")
        queued: List[Any] = []
        for args in cmds:
            try:
                queued.append(x(*args))
            except ResponseError as e:
                queued.append(e)
        try:
            exec_reply = x(b"EXEC")
        except ResponseError as e:
            exec_reply = e
        return _transaction_results(cmds, posts, "OK", queued, exec_reply)


class Client(Commands, _cluster.ClientExtras, MappingAccess):
    """A connection manager for one deployment (standalone now; cluster, Raft and Sentinel
    through the same surface as rcm grows them).

    ``url``: ``redis://[[user]:password@]host[:port][/db][?key=value...]``, ``rediss://``,
    ``redis+cluster://``..., or ``host:port[,host:port...]``. Keywords are rcm's config
    keys with dots spelled as underscores (``pool_size=4``, ``command_timeout_ms=500``,
    ``retry_unsafe=True``, ``tls_ca="ca.crt"``...; ``**{"pool.size": 4}`` works too), plus
    redis-py's ``host``, ``port``, ``ssl``, ``socket_timeout``... They override the URL.

    Thread-safe: share one Client between threads; each call releases the GIL while it waits.
    """

    def __init__(self, url: Optional[str] = None, *, decode_responses: bool = False, encoding: str = "utf-8",
                 encoding_errors: str = "strict", **config: Any) -> None:
        self._native = _native.Client(url, config_items(config), decode_responses, encoding, encoding_errors)
        self._encoding, self._encoding_errors = encoding, encoding_errors
        self._x = self._native.execute
        self._status_bytes = not decode_responses

    #: Status replies of helpers without a conversion come back as bytes (see _run).
    _status_bytes = False

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> "Client":
        return cls(url, **kwargs)

    # ---- sending ------------------------------------------------------------------------

    #: execute_command(..., target_nodes=...) values, as redis-py's cluster client spells them.
    PRIMARIES = "primaries"
    ALL_NODES = "all"
    RANDOM = "random"

    def execute_command(self, *args: Any, target_nodes: Any = None, slot: Optional[int] = None,
                        route_key: Any = None, cache: bool = True, **options: Any) -> Any:
        """Sends one command and returns its reply converted as redis-py's execute_command
        converts it (its response callbacks: SET -> True, HGETALL -> a dict, ZRANGE with
        withscores=True -> pairs...; other replies raw: bytes/str, int, list, None). A
        server error is raised as ResponseError. Blocking commands (BLPOP...) are sent on
        a lease of their own.

        Where it goes, when the command's keys should not decide (cluster mode):
        ``target_nodes=Client.PRIMARIES`` / ``Client.ALL_NODES`` (the reply is then a dict
        {"host:port": reply}), ``Client.RANDOM``, or ``"host:port"``; ``slot=`` a hash
        slot's owner; ``route_key=`` the owner of that key's slot.

        ``cache=False``: past the client-side cache (when one is configured), to the server."""
        post = response_post(args, options)
        if target_nodes is not None or slot is not None or route_key is not None:
            kind, target = route_of(target_nodes, slot, route_key)
            return routed_reply(kind, self._native.execute_routed(kind, target, *args), post)
        if cache or (args and _command_name(args[0]) in _BLOCKING):  # a lease never uses the cache
            r = self._raw(*args)
        else:
            r = self._native.execute_uncached(*args)
        return r if post is None else post(r)

    def _raw(self, *args: Any) -> Any:
        """execute_command's raw reply (a blocking command on a lease of its own)."""
        try:
            return self._x(*args)
        except ArgumentError:
            if args and _command_name(args[0]) in _BLOCKING:
                with self.lease(blocking_key(args)) as lease:
                    return lease._x(*args)
            raise

    def _run(self, post: Post, *args: Any) -> Any:
        if post is NEVER_DECODE:
            return self._native.execute_bytes(*args)
        r = self._x(*args)
        if post is None:
            # A status reply no helper converts (FUNCTION DELETE's OK): bytes unless
            # decoding, as redis-py returns it. (Only status replies are str here.)
            return r.encode() if self._status_bytes and type(r) is str else r
        return post(r)

    def _run_uncached(self, post: Post, *args: Any) -> Any:
        if post is NEVER_DECODE:
            return self._native.execute_uncached_bytes(*args)
        r = self._native.execute_uncached(*args)
        if post is None:
            return r.encode() if self._status_bytes and type(r) is str else r
        return post(r)

    def _run_blocking(self, post: Post, key: Any, *args: Any) -> Any:
        with self.lease(key) as lease:
            r = lease._x(*args)
        return r if post is None else post(r)

    def _run_routed(self, post: Post, target_nodes: Any, *args: Any) -> Any:
        """A command sent where target_nodes says (rcm._cluster explains the values)."""
        if target_nodes is None or target_nodes == _cluster.DEFAULT_NODE:
            return self._run(post, *args)
        several, routes = _cluster.routes(self._topology, target_nodes)
        replies: List[Any] = []
        for kind, target in routes:
            r = self._native.execute_routed(kind, target, *args)
            if kind in (_native.RCM_ROUTE_ALL_PRIMARIES, _native.RCM_ROUTE_ALL_NODES):
                replies.extend(r)
            else:
                replies.append((target if isinstance(target, str) else str(target), r))
        return _cluster.gather(post, several, replies)

    # The two commands benchmarks and caches live on, without the generic path.
    def get(self, name: KeyT, cache: bool = True) -> Any:
        """GET name; cache=False: past the client-side cache, to the server."""
        return self._x(b"GET", name) if cache else self._native.execute_uncached(b"GET", name)

    def set(self, name: KeyT, value: EncodableT, ex: Optional[ExpiryT] = None, px: Optional[ExpiryT] = None,
            nx: bool = False, xx: bool = False, keepttl: bool = False, get: bool = False,
            exat: Optional[AbsExpiryT] = None, pxat: Optional[AbsExpiryT] = None) -> Any:
        if ex is None and px is None and exat is None and pxat is None and not (nx or xx or keepttl or get):
            return self._x(b"SET", name, value) == "OK"
        return Commands.set(self, name, value, ex, px, nx, xx, keepttl, get, exat, pxat)

    def _call_script(self, script: Script, keys: List[Any], args: List[Any]) -> Any:
        try:
            return self._x(b"EVALSHA", script.sha, len(keys), *keys, *args)
        except NoScriptError:
            script.sha = self.script_load(script.script)
            return self._x(b"EVALSHA", script.sha, len(keys), *keys, *args)

    # ---- leases, pipelines, transactions, pub/sub ---------------------------------------

    def lease(self, key: Optional[KeyT] = None) -> Lease:
        """An exclusive connection (to the node that owns key, in cluster mode); waits up to
        pool_lease_timeout_ms for one, then raises PoolTimeoutError."""
        return Lease(self, self._native.lease(key))

    def client(self) -> Lease:
        """redis-py's client(): a client on one connection of its own, here a lease."""
        return self.lease()

    def pipeline(self, transaction: bool = False) -> Pipeline:
        """A pipeline; ``transaction=True`` wraps it in MULTI/EXEC. (redis-py's default is
        transaction=True; rcm's is False, as for redis-py's cluster client.)"""
        return Pipeline(self, transaction)

    def transaction(self, func: Callable[[Pipeline], Any], *watches: KeyT, shard_hint: Any = None,
                    value_from_callable: bool = False, watch_delay: Optional[float] = None) -> Any:
        """Runs func(pipe) in a WATCH/MULTI/EXEC transaction, again while a watched key
        changes underneath (redis-py's Redis.transaction)."""
        while True:
            with self.pipeline(transaction=True) as pipe:
                try:
                    if watches:
                        pipe.watch(*watches)
                    func_value = func(pipe)
                    exec_value = pipe.execute()
                    return func_value if value_from_callable else exec_value
                except WatchError:
                    if watch_delay is not None and watch_delay > 0:
                        time.sleep(watch_delay)

    def pubsub(self, ignore_subscribe_messages: bool = False, event_handler: Optional[Handler] = None,
               every_primary: bool = False, **kwargs: Any) -> PubSub:
        """A PubSub on rcm's shared subscriber connections (kept subscribed through
        reconnects and failovers). event_handler, when given, receives the 'gap' and
        'dropped' messages instead of get_message() (see rcm.pubsub). every_primary: in a
        cluster, its channels and patterns are subscribed on every primary (keyspace
        notifications: each node publishes only its own keys); elsewhere no change."""
        return PubSub(self, ignore_subscribe_messages, event_handler, every_primary)

    def lock(self, name: KeyT, timeout: Optional[float] = None, sleep: float = 0.1,
             blocking: bool = True, blocking_timeout: Optional[float] = None, lock_class: Any = None,
             thread_local: bool = True) -> Any:
        """A redis-py Lock on key name (see rcm.lock.Lock)."""
        cls = Lock if lock_class is None else lock_class
        return cls(self, name, timeout=timeout, sleep=sleep, blocking=blocking,
                   blocking_timeout=blocking_timeout, thread_local=thread_local)

    def monitor(self) -> Any:
        """A Monitor on a lease of its own: ``with r.monitor() as m: m.next_command()``."""
        return Monitor(self)

    # ---- iteration helpers ----------------------------------------------------------------

    def scan_iter(self, match: Optional[KeyT] = None, count: Optional[int] = None,
                  _type: Optional[str] = None, **kwargs: Any) -> Iterator[Any]:
        """Every key (that matches); in cluster mode those of every primary, in turn."""
        for node in self._scan_nodes():
            cursor = None
            while cursor != 0:
                cursor, data = self.scan(cursor or 0, match=match, count=count, _type=_type, target_nodes=node)
                yield from data

    def hscan_iter(self, name: KeyT, match: Optional[KeyT] = None, count: Optional[int] = None) -> Iterator[Any]:
        cursor = None
        while cursor != 0:
            cursor, data = self.hscan(name, cursor or 0, match=match, count=count)
            yield from data.items()

    def sscan_iter(self, name: KeyT, match: Optional[KeyT] = None, count: Optional[int] = None) -> Iterator[Any]:
        cursor = None
        while cursor != 0:
            cursor, data = self.sscan(name, cursor or 0, match=match, count=count)
            yield from data

    def zscan_iter(self, name: KeyT, match: Optional[KeyT] = None, count: Optional[int] = None) -> Iterator[Any]:
        cursor = None
        while cursor != 0:
            cursor, data = self.zscan(name, cursor or 0, match=match, count=count)
            yield from data

    # ---- introspection and life -------------------------------------------------------------

    def stats(self) -> dict:
        """Per-server statistics (connections, in-flight, errors by status, latency...)."""
        return json.loads(self._native.stats_json())

    def topology(self) -> dict:
        """The deployment as rcm sees it: mode, nodes with role and state."""
        return json.loads(self._native.topology_json())

    def cache_stats(self) -> dict:
        """The client-side cache's counters (stats()["cache"]): hits, misses,
        invalidations, evictions, bytes, entries, and the same per node under "nodes"
        ({"host:port": {...}}). All zero when no cache is configured."""
        return cache_stats_of(self.stats())

    @property
    def decode_responses(self) -> bool:
        return self._native.decode_responses

    def _decode(self, value: Any) -> Any:
        """A raw reply value decoded as the client decodes replies (bytes to str, inside
        arrays too); errors and other types unchanged."""
        if isinstance(value, bytes):
            return value.decode(self._encoding, self._encoding_errors)
        if isinstance(value, list):
            return [self._decode(v) for v in value]
        return value

    @property
    def closed(self) -> bool:
        return self._native.closed

    def close(self) -> None:
        """Completes every pending request with ClosedError and stops rcm's threads. Safe
        from any thread; idempotent. Calls waiting in other threads (a command, a
        pipeline's execute(), a routed command) raise ClosedError at once: close() does
        not wait for a slow or stopped server."""
        self._native.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<rcm.Client {'closed' if self.closed else 'open'}>"

