"""Server and connection commands of redis-py 4.3.4 (ACL, CLIENT, COMMAND, FUNCTION, MEMORY,
MODULE, SLOWLOG, persistence, replication...). Mixed into rcm.commands.Commands.

Commands that change their connection's state (CLIENT SETNAME, CLIENT REPLY, CLIENT
TRACKING, CLIENT NO-EVICT, SELECT, AUTH, RESET, QUIT) belong on a lease: on rcm.Client,
whose connections are shared, rcm refuses them with ArgumentError (``with
client.lease() as l: l.client_setname("me")``); a pooled connection's name is the
``client_name`` option. The others go to any connection (in cluster mode, to any node
unless ``target_nodes=`` says otherwise)."""

from __future__ import annotations

from typing import Any, Iterable, List, Optional, Sequence, Tuple, Union

from . import _native
from . import _replies as R
from ._decl import cmd, named
from .exceptions import ConnectionError, DataError, RcmError, UncertainError

__all__ = ["ServerCommands"]

_CLIENT_KILL_TYPES = ("normal", "master", "slave", "pubsub")
_CLIENT_LIST_TYPES = ("normal", "master", "replica", "pubsub")


def _enc(v: Any) -> bytes:
    if isinstance(v, bytes):
        return v
    if isinstance(v, (bytearray, memoryview)):
        return bytes(v)
    return str(v).encode("utf-8")


def _listify(v: Any) -> list:
    return [v] if isinstance(v, (str, bytes)) else list(v)


def _acl_setuser_args(username: str, enabled: bool, nopass: bool, passwords: Any, hashed_passwords: Any,
                      categories: Any, commands: Any, keys: Any, channels: Any, selectors: Any, reset: bool,
                      reset_keys: bool, reset_passwords: bool) -> list:
    """ACL SETUSER's rules, as redis-py spells them (+pw / -pw, +category, ~key...)."""
    out: list = [username]
    out += [w for w, on in ((b"reset", reset), (b"resetkeys", reset_keys), (b"resetpass", reset_passwords)) if on]
    out.append(b"on" if enabled else b"off")
    if (passwords or hashed_passwords) and nopass:
        raise DataError("Cannot set 'nopass' and supply 'passwords' or 'hashed_passwords'")
    for what, values, add, remove in (("Password", passwords, b">", b"<"),
                                      ("Hashed password", hashed_passwords, b"#", b"!")):
        for i, p in enumerate(_listify(values) if values else []):
            p = _enc(p)
            if p[:1] not in (b"+", b"-"):
                raise DataError(f'{what} {i} must be prefixed with a "+" to add or a "-" to remove')
            out.append((add if p[:1] == b"+" else remove) + p[1:])
    if nopass:
        out.append(b"nopass")
    for c in categories or ():
        c = _enc(c)
        if c[:1] not in (b"+", b"-"):
            raise DataError(f'Category "{c.decode("utf-8", "replace")}" must be prefixed with "+" or "-"')
        out.append(c if c[1:2] == b"@" else c[:1] + b"@" + c[1:])
    for c in commands or ():
        c = _enc(c)
        if c[:1] not in (b"+", b"-"):
            raise DataError(f'Command "{c.decode("utf-8", "replace")}" must be prefixed with "+" or "-"')
        out.append(c)
    for k in keys or ():
        k = _enc(k)
        out.append(k if k[:1] in (b"%", b"~") else b"~" + k)
    for ch in channels or ():
        out.append(b"&" + _enc(ch))
    for c, k in selectors or ():
        c, k = _enc(c), _enc(k)
        if c[:1] not in (b"+", b"-"):
            raise DataError(f'Command "{c.decode("utf-8", "replace")}" must be prefixed with "+" or "-"')
        out.append(b"(" + c + b" " + (k if k[:1] in (b"%", b"~") else b"~" + k) + b")")
    return out


@named
class ServerCommands:
    __slots__ = ()

    # ---- ACL ------------------------------------------------------------------------------

    acl_cat = cmd("ACL CAT [category]", R.str_list)
    acl_dryrun = cmd("ACL DRYRUN username *args")
    acl_deluser = cmd("ACL DELUSER *username")
    acl_getuser = cmd("ACL GETUSER username", R.acl_getuser)
    acl_help = cmd("ACL HELP", R.str_list)
    acl_list = cmd("ACL LIST", R.str_list)
    acl_log_reset = cmd("ACL LOG RESET", R.acl_log)
    acl_load = cmd("ACL LOAD", R.ok)
    acl_save = cmd("ACL SAVE", R.ok)
    acl_users = cmd("ACL USERS", R.str_list)
    acl_whoami = cmd("ACL WHOAMI", R.s)

    def acl_genpass(self, bits: Optional[int] = None, **kwargs: Any) -> Any:
        """A random password (str) of bits bits (0..4096; the server's default: 256)."""
        if bits is not None:
            try:
                b = int(bits)
                if b < 0 or b > 4096:
                    raise ValueError
            except ValueError:
                raise DataError("genpass optionally accepts a bits argument, between 0 and 4096.") from None
        return self._run_routed(R.s, kwargs.get("target_nodes"), b"ACL", b"GENPASS", *([bits] if bits else []))

    def acl_log(self, count: Optional[int] = None, **kwargs: Any) -> Any:
        """[{"reason", "context", "object", "username", "age-seconds", "client-info"...}...]."""
        if count is not None and not isinstance(count, int):
            raise DataError("ACL LOG count must be an integer")
        return self._run_routed(R.acl_log, kwargs.get("target_nodes"), b"ACL", b"LOG",
                                *([count] if count is not None else []))

    def acl_setuser(self, username: str, enabled: bool = False, nopass: bool = False,
                    passwords: Union[str, Iterable[str], None] = None,
                    hashed_passwords: Union[str, Iterable[str], None] = None,
                    categories: Optional[Iterable[str]] = None, commands: Optional[Iterable[str]] = None,
                    keys: Optional[Iterable[Any]] = None, channels: Optional[Iterable[Any]] = None,
                    selectors: Optional[Iterable[Tuple[str, Any]]] = None, reset: bool = False,
                    reset_keys: bool = False, reset_passwords: bool = False, **kwargs: Any) -> Any:
        """Creates or changes a user (redis-py's arguments); True."""
        args = _acl_setuser_args(username, enabled, nopass, passwords, hashed_passwords, categories, commands,
                                 keys, channels, selectors, reset, reset_keys, reset_passwords)
        return self._run_routed(R.ok, kwargs.get("target_nodes"), b"ACL", b"SETUSER", *args)

    # ---- CLIENT ---------------------------------------------------------------------------

    client_id = cmd("CLIENT ID", int)
    client_info = cmd("CLIENT INFO", R.client_info)
    client_getname = cmd("CLIENT GETNAME", R.s)
    client_getredir = cmd("CLIENT GETREDIR", int)
    client_kill = cmd("CLIENT KILL address", R.client_kill)
    client_setname = cmd("CLIENT SETNAME name", R.ok)
    client_trackinginfo = cmd("CLIENT TRACKINGINFO", R.str_list)
    client_unpause = cmd("CLIENT UNPAUSE")  # the raw +OK: redis-py has no callback for it
    client_no_evict = cmd("CLIENT NO-EVICT mode", R.s)

    def client_kill_filter(self, _id: Any = None, _type: Optional[str] = None, addr: Optional[str] = None,
                           skipme: Optional[bool] = None, laddr: Optional[str] = None, user: Optional[str] = None,
                           **kwargs: Any) -> Any:
        """Closes the connections that match every filter; their number."""
        args: list = []
        if _type is not None:
            if str(_type).lower() not in _CLIENT_KILL_TYPES:
                raise DataError(f"CLIENT KILL type must be one of {_CLIENT_KILL_TYPES!r}")
            args += [b"TYPE", _type]
        if skipme is not None:
            if not isinstance(skipme, bool):
                raise DataError("CLIENT KILL skipme must be a bool")
            args += [b"SKIPME", b"YES" if skipme else b"NO"]
        for word, v in ((b"ID", _id), (b"ADDR", addr), (b"LADDR", laddr), (b"USER", user)):
            if v is not None:
                args += [word, v]
        if not args:
            raise DataError("CLIENT KILL <filter> <value> ... ... <filter> <value> must specify at least one filter")
        return self._run_routed(R.client_kill, kwargs.get("target_nodes"), b"CLIENT", b"KILL", *args)

    def client_list(self, _type: Optional[str] = None, client_id: List[Any] = [], **kwargs: Any) -> Any:
        """[{"id": "7", "addr": "127.0.0.1:5000", "name": ...}...] (values as str)."""
        args: list = []
        if _type is not None:
            if str(_type).lower() not in _CLIENT_LIST_TYPES:
                raise DataError(f"CLIENT LIST _type must be one of {_CLIENT_LIST_TYPES!r}")
            args += [b"TYPE", _type]
        if not isinstance(client_id, list):
            raise DataError("client_id must be a list")
        if client_id:
            args += [b"ID", " ".join(str(i) for i in client_id)]
        return self._run_routed(R.client_list, kwargs.get("target_nodes"), b"CLIENT", b"LIST", *args)

    def client_reply(self, reply: str, **kwargs: Any) -> Any:
        """CLIENT REPLY ON|OFF|SKIP (on a lease: it changes the connection)."""
        if reply not in ("ON", "OFF", "SKIP"):
            raise DataError("CLIENT REPLY must be one of ['ON', 'OFF', 'SKIP']")
        return self._run(None, b"CLIENT", b"REPLY", reply)

    def client_tracking(self, on: bool = True, clientid: Optional[int] = None, prefix: Sequence[Any] = [],
                        bcast: bool = False, optin: bool = False, optout: bool = False, noloop: bool = False,
                        **kwargs: Any) -> Any:
        """CLIENT TRACKING (on a lease: it changes the connection)."""
        if len(prefix) != 0 and bcast is False:
            raise DataError("Prefix can only be used with bcast")
        args: list = [b"CLIENT", b"TRACKING", b"ON" if on else b"OFF"]
        if clientid is not None:
            args += [b"REDIRECT", clientid]
        for p in prefix:
            args += [b"PREFIX", p]
        args += [w for w, f in ((b"BCAST", bcast), (b"OPTIN", optin), (b"OPTOUT", optout), (b"NOLOOP", noloop)) if f]
        return self._run(R.ok, *args)

    def client_tracking_on(self, clientid: Optional[int] = None, prefix: Sequence[Any] = [], bcast: bool = False,
                           optin: bool = False, optout: bool = False, noloop: bool = False) -> Any:
        return self.client_tracking(True, clientid, prefix, bcast, optin, optout, noloop)

    def client_tracking_off(self, clientid: Optional[int] = None, prefix: Sequence[Any] = [], bcast: bool = False,
                            optin: bool = False, optout: bool = False, noloop: bool = False) -> Any:
        return self.client_tracking(False, clientid, prefix, bcast, optin, optout, noloop)

    def client_unblock(self, client_id: int, error: bool = False, **kwargs: Any) -> Any:
        """True when a client blocked by a command was unblocked."""
        args: list = [b"CLIENT", b"UNBLOCK", int(client_id)] + ([b"ERROR"] if error else [])
        return self._run_routed(lambda r: bool(r) and int(r) == 1, kwargs.get("target_nodes"), *args)

    def client_pause(self, timeout: int, all: bool = True, **kwargs: Any) -> Any:
        """Pauses clients for timeout ms (all=False: their writes only)."""
        if not isinstance(timeout, int):
            raise DataError("CLIENT PAUSE timeout must be an integer")
        return self._run_routed(R.ok, kwargs.get("target_nodes"), b"CLIENT", b"PAUSE", timeout,
                                *([] if all else [b"WRITE"]))

    # ---- COMMAND --------------------------------------------------------------------------

    command = cmd("COMMAND", R.command)
    command_count = cmd("COMMAND COUNT", int)
    command_getkeys = cmd("COMMAND GETKEYS *args", R.str_list)
    command_getkeysandflags = cmd("COMMAND GETKEYSANDFLAGS *args")

    def command_list(self, module: Optional[str] = None, category: Optional[str] = None,
                     pattern: Optional[str] = None) -> Any:
        """The names of the server's commands, filtered by at most one of the arguments."""
        args: list = []
        for word, v in ((b"MODULE", module), (b"ACLCAT", category), (b"PATTERN", pattern)):
            if v is not None:
                args += [word, v]
        return self._run(None, b"COMMAND", b"LIST", *([b"FILTERBY"] + args if args else []))

    def command_info(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("COMMAND INFO is intentionally not implemented in the client.")

    def command_docs(self, *args: Any) -> None:
        raise NotImplementedError("COMMAND DOCS is intentionally not implemented in the client.")

    # ---- configuration, persistence, replication, introspection ----------------------------

    config_resetstat = cmd("CONFIG RESETSTAT", R.ok)
    config_rewrite = cmd("CONFIG REWRITE", R.ok)
    bgrewriteaof = cmd("BGREWRITEAOF", R.true)
    bgsave = cmd("BGSAVE [SCHEDULE:schedule=True]", R.true)
    save = cmd("SAVE", R.ok)
    lastsave = cmd("LASTSAVE", R.timestamp)
    role = cmd("ROLE")
    swapdb = cmd("SWAPDB first second", R.ok)
    debug_object = cmd("DEBUG OBJECT key", R.debug_object)
    replicaof = cmd("REPLICAOF *args")
    readonly = cmd("READONLY", R.ok)
    readwrite = cmd("READWRITE", R.ok)

    def wait(self, num_replicas: int, timeout: int, **kwargs: Any) -> Any:
        """The number of replicas that acknowledged this connection's writes (waits on a
        lease: on rcm.Client, that lease has written nothing)."""
        return self._run_blocking(None, None, b"WAIT", num_replicas, timeout)

    def slaveof(self, host: Optional[str] = None, port: Optional[int] = None, **kwargs: Any) -> Any:
        if host is None and port is None:
            return self._run_routed(R.ok, kwargs.get("target_nodes"), b"SLAVEOF", b"NO", b"ONE")
        return self._run_routed(R.ok, kwargs.get("target_nodes"), b"SLAVEOF", host, port)

    def lolwut(self, *version_numbers: Any, **kwargs: Any) -> Any:
        if version_numbers:
            return self._run(None, b"LOLWUT", b"VERSION", *version_numbers)
        return self._run(None, b"LOLWUT")

    def migrate(self, host: str, port: int, keys: Any, destination_db: int, timeout: int, copy: bool = False,
                replace: bool = False, auth: Optional[str] = None, **kwargs: Any) -> Any:
        keys = _listify(keys) if keys is not None else []
        if not keys:
            raise DataError("MIGRATE requires at least one key")
        args: list = [w for w, on in ((b"COPY", copy), (b"REPLACE", replace)) if on]
        if auth:
            args += [b"AUTH", auth]
        return self._run(None, b"MIGRATE", host, port, b"", destination_db, timeout, *args, b"KEYS", *keys)

    def shutdown(self, save: bool = False, nosave: bool = False, now: bool = False, force: bool = False,
                 abort: bool = False, **kwargs: Any) -> None:
        """Stops the server; raises RcmError when it did not go down."""
        if save and nosave:
            raise DataError("SHUTDOWN save and nosave cannot both be set")
        args = [w for w, on in ((b"SAVE", save), (b"NOSAVE", nosave), (b"NOW", now), (b"FORCE", force),
                                (b"ABORT", abort)) if on]
        try:
            self._run(None, b"SHUTDOWN", *args)
        except (ConnectionError, UncertainError):  # the server closed the connection: it went down
            return
        raise RcmError("SHUTDOWN seems to have failed.")

    def debug_segfault(self, **kwargs: Any) -> None:
        raise NotImplementedError("DEBUG SEGFAULT is intentionally not implemented in the client.")

    def latency_histogram(self, *args: Any) -> None:
        raise NotImplementedError("LATENCY HISTOGRAM is intentionally not implemented in the client.")

    def hello(self) -> None:
        raise NotImplementedError("HELLO is intentionally not implemented in the client.")

    def failover(self) -> None:
        raise NotImplementedError("FAILOVER is intentionally not implemented in the client.")

    def sync(self) -> Any:
        return self._run(_native.NEVER_DECODE, b"SYNC")

    def psync(self, replicationid: str, offset: int) -> Any:
        return self._run(_native.NEVER_DECODE, b"PSYNC", replicationid, offset)

    # Connection state: on a lease (rcm.Client refuses them, see the module's docstring).
    def auth(self, password: str, username: Optional[str] = None, **kwargs: Any) -> Any:
        return self._run(R.ok, b"AUTH", *([username] if username is not None else []), password)

    select = cmd("SELECT index", R.ok)
    watch = cmd("WATCH *names", R.ok)      # (rcm.Pipeline and rcm.Lease have their own)
    unwatch = cmd("UNWATCH", R.ok)
    reset = cmd("RESET", R.s)
    quit = cmd("QUIT", R.ok)

    # ---- MEMORY, MODULE, SLOWLOG ----------------------------------------------------------

    memory_stats = cmd("MEMORY STATS", R.memory_stats)
    memory_malloc_stats = cmd("MEMORY MALLOC-STATS")
    memory_purge = cmd("MEMORY PURGE", R.ok)

    def memory_usage(self, key: Any, samples: Optional[int] = None, **kwargs: Any) -> Any:
        """The bytes key takes in memory (None without it)."""
        args = [b"SAMPLES", samples] if isinstance(samples, int) else []
        return self._run(R.int_or_none, b"MEMORY", b"USAGE", key, *args)

    def memory_doctor(self, **kwargs: Any) -> None:
        raise NotImplementedError("MEMORY DOCTOR is intentionally not implemented in the client.")

    def memory_help(self, **kwargs: Any) -> None:
        raise NotImplementedError("MEMORY HELP is intentionally not implemented in the client.")

    module_load = cmd("MODULE LOAD path *args", R.true)
    module_unload = cmd("MODULE UNLOAD name", R.true)
    module_list = cmd("MODULE LIST", R.module_list)

    def module_loadex(self, path: str, options: Optional[List[str]] = None, args: Optional[List[str]] = None) -> Any:
        pieces: list = []
        if options is not None:
            pieces += [b"CONFIG", *options]
        if args is not None:
            pieces += [b"ARGS", *args]
        return self._run(R.true, b"MODULE", b"LOADEX", path, *pieces)

    slowlog_get = cmd("SLOWLOG GET [num]", R.slowlog_get)
    slowlog_len = cmd("SLOWLOG LEN", int)
    slowlog_reset = cmd("SLOWLOG RESET", R.ok)

    # ---- FUNCTION, SCRIPT extras, CLUSTER -------------------------------------------------

    function_delete = cmd("FUNCTION DELETE library", R.ok)
    function_flush = cmd("FUNCTION FLUSH mode=SYNC", R.ok)
    function_restore = cmd("FUNCTION RESTORE payload policy=APPEND", R.ok)
    function_kill = cmd("FUNCTION KILL")
    function_stats = cmd("FUNCTION STATS")
    fcall = cmd("FCALL function numkeys *keys_and_args")
    fcall_ro = cmd("FCALL_RO function numkeys *keys_and_args")
    script_kill = cmd("SCRIPT KILL", R.ok)

    def function_load(self, code: str, replace: Optional[bool] = False) -> Any:
        """The library's name."""
        return self._run(None, b"FUNCTION", b"LOAD", *([b"REPLACE"] if replace else []), code)

    def function_list(self, library: Optional[str] = "*", withcode: Optional[bool] = False) -> Any:
        return self._run(None, b"FUNCTION", b"LIST", b"LIBRARYNAME", library, *([b"WITHCODE"] if withcode else []))

    def function_dump(self) -> Any:
        """The serialized functions (bytes, also with decode_responses=True)."""
        return self._run(_native.NEVER_DECODE, b"FUNCTION", b"DUMP")

    def script_debug(self, *args: Any) -> None:
        raise NotImplementedError("SCRIPT DEBUG is intentionally not implemented in the client.")

    def cluster(self, cluster_arg: str, *args: Any, **kwargs: Any) -> Any:
        """CLUSTER <cluster_arg> *args, its raw reply."""
        words = str(cluster_arg).upper().split()
        return self._run_routed(None, kwargs.get("target_nodes"), b"CLUSTER", *words, *args)
