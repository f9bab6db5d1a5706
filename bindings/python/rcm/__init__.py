"""rcm: a Redis/Valkey connection manager (pools, cluster routing, failover) in C++,
with a redis-py-like Python surface.

    import rcm
    with rcm.Client("redis://127.0.0.1:6379", decode_responses=True) as r:
        r.set("greeting", "hello")
        r.get("greeting")           # 'hello'

``rcm.asyncio.Client`` is the same surface for asyncio.
"""

from . import _native
from .exceptions import (
    ArgumentError,
    AuthenticationError,
    BackpressureError,
    BusyLoadingError,
    ClosedError,
    ClusterDownError,
    ConfigError,
    ConnectionError,
    CrossSlotError,
    DataError,
    ExecAbortError,
    ForkError,
    InternalError,
    NoLeaderError,
    NoMemoryError,
    NoPermissionError,
    NoScriptError,
    PoolTimeoutError,
    ProtocolError,
    PubSubError,
    RcmError,
    ReadOnlyError,
    RedirectError,
    ResponseError,
    StateError,
    TimeoutError,
    TLSError,
    UncertainError,
    UnsupportedError,
    WatchError,
)
from .commands import Script
from ._cache import CacheConfig
from .client import Client, Lease, Pipeline
from .pubsub import PubSub, PubSubWorkerThread
from ._cluster import ClusterNode
from .lock import Lock, LockError, LockNotOwnedError

__version__ = "0.1.0"

#: The version of librcm this package runs on ("MAJOR.MINOR.PATCH").
LIBRARY_VERSION: str = _native.version()


def from_url(url: str, **kwargs: object) -> Client:
    """Same as ``rcm.Client.from_url(url, **kwargs)`` (redis-py's ``redis.from_url``)."""
    return Client(url, **kwargs)  # type: ignore[arg-type]


# redis-py spells its client Redis; the same class under that name eases porting.
Redis = Client

__all__ = [
    "Client",
    "Redis",
    "Pipeline",
    "Lease",
    "PubSub",
    "PubSubWorkerThread",
    "Script",
    "ClusterNode",
    "CacheConfig",
    "Lock",
    "from_url",
    "LIBRARY_VERSION",
    "__version__",
    # exceptions
    "RcmError",
    "ArgumentError",
    "DataError",
    "ConfigError",
    "NoMemoryError",
    "ConnectionError",
    "AuthenticationError",
    "ProtocolError",
    "TLSError",
    "TimeoutError",
    "PoolTimeoutError",
    "UncertainError",
    "BackpressureError",
    "ClosedError",
    "UnsupportedError",
    "CrossSlotError",
    "ClusterDownError",
    "RedirectError",
    "StateError",
    "ForkError",
    "PubSubError",
    "NoLeaderError",
    "InternalError",
    "ResponseError",
    "NoScriptError",
    "ExecAbortError",
    "ReadOnlyError",
    "BusyLoadingError",
    "WatchError",
    "NoPermissionError",
    "LockError",
    "LockNotOwnedError",
]
