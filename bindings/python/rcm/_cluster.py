"""What redis.RedisCluster users call, on rcm.Client and rcm.asyncio.Client: nodes
(get_nodes, get_node, get_primaries, get_replicas...), keyslot, commands sent to chosen
nodes (``target_nodes=``) and the cluster_* commands. In standalone mode the one server
is the only (primary) node.

Where a command goes (``target_nodes``): ``Client.PRIMARIES``, ``Client.REPLICAS``,
``Client.ALL_NODES``, ``Client.RANDOM``, ``Client.DEFAULT_NODE`` (where rcm sends a
keyless command), a ClusterNode (or its ``"host:port"`` name), or a list of them. Sent to
one node the value is that node's reply; to several, {"host:port": value} as redis-py's
cluster client returns it. A node's error is raised."""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import _native
from . import _replies as R
from ._encoder import Encoder
from ._decl import cmd, named
from .exceptions import DataError, RcmError

__all__ = ["ClusterNode", "ClusterCommands", "ClientExtras", "SlotOwner", "key_slot", "routes", "gather"]

PRIMARIES = "primaries"
REPLICAS = "replicas"
ALL_NODES = "all"
RANDOM = "random"
DEFAULT_NODE = "default-node"


def _crc16_table() -> List[int]:
    table = []
    for i in range(256):
        crc = i << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
        table.append(crc & 0xFFFF)
    return table


_CRC16 = _crc16_table()


def key_slot(key: bytes) -> int:
    """The hash slot of a key (CRC16 of its {hash tag} when it has one, mod 16384)."""
    start = key.find(b"{")
    if start >= 0:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            key = key[start + 1:end]
    crc = 0
    for b in key:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC16[((crc >> 8) ^ b) & 0xFF]
    return crc % 16384


class ClusterNode:
    """A node as redis-py's cluster client shows it: host, port, name ("host:port") and
    server_type ("primary" or "replica")."""

    def __init__(self, host: str, port: int, server_type: Optional[str] = None) -> None:
        self.host = host
        self.port = int(port)
        self.name = f"{host}:{port}"
        self.server_type = server_type

    def __repr__(self) -> str:
        return f"[host={self.host},port={self.port},name={self.name},server_type={self.server_type}]"

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, ClusterNode) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)


class SlotOwner:
    """target_nodes for the primary that owns a slot (CLUSTER COUNTKEYSINSLOT...)."""

    __slots__ = ("slot",)

    def __init__(self, slot: int) -> None:
        self.slot = int(slot)


def _node(entry: dict) -> ClusterNode:
    host, _, port = entry["address"].rpartition(":")
    return ClusterNode(host, int(port), "primary" if entry.get("role") == "primary" else "replica")


def routes(topology: Callable[[], dict], target_nodes: Any) -> Tuple[bool, List[Tuple[int, Any]]]:
    """target_nodes -> (several: the value is a dict by node, [(RCM_ROUTE_* kind, target)...])."""
    if target_nodes == PRIMARIES:
        return True, [(_native.RCM_ROUTE_ALL_PRIMARIES, None)]
    if target_nodes == ALL_NODES:
        return True, [(_native.RCM_ROUTE_ALL_NODES, None)]
    if target_nodes == RANDOM:
        return False, [(_native.RCM_ROUTE_RANDOM, None)]
    if target_nodes == REPLICAS:
        names = [n["address"] for n in topology()["nodes"] if n.get("role") == "replica"]
        if not names:
            raise RcmError("no replica to send the command to")
        return True, [(_native.RCM_ROUTE_NODE, n) for n in names]
    if isinstance(target_nodes, SlotOwner):
        return False, [(_native.RCM_ROUTE_SLOT, target_nodes.slot)]
    if isinstance(target_nodes, ClusterNode):
        return False, [(_native.RCM_ROUTE_NODE, target_nodes.name)]
    if isinstance(target_nodes, str) and ":" in target_nodes:
        return False, [(_native.RCM_ROUTE_NODE, target_nodes)]
    if isinstance(target_nodes, (list, tuple, set)):
        names = [n.name if isinstance(n, ClusterNode) else str(n) for n in target_nodes]
        return len(names) > 1, [(_native.RCM_ROUTE_NODE, n) for n in names]
    if isinstance(target_nodes, dict):  # redis-py accepts {name: node}
        return routes(topology, list(target_nodes.values()))
    raise DataError(f"target_nodes must be a node, a list of nodes or one of PRIMARIES, REPLICAS, ALL_NODES, "
                    f"RANDOM, DEFAULT_NODE, not {target_nodes!r}")


def gather(post: Any, several: bool, replies: List[Tuple[Any, Any]]) -> Any:
    """[(address, reply)...] -> the value (one node) or {address: value}; raises a node's error."""
    out: Dict[str, Any] = {}
    for addr, r in replies:
        if isinstance(r, BaseException):
            raise r
        out[addr.decode() if isinstance(addr, bytes) else addr] = r if post is None else post(r)
    if several or len(out) != 1:
        return out
    return next(iter(out.values()))


class ClientExtras:
    """What redis-py's client classes have beyond commands: nodes (in cluster mode, and
    the one server in standalone mode) and the encoder. For the clients, which provide
    _native."""

    PRIMARIES = PRIMARIES
    REPLICAS = REPLICAS
    ALL_NODES = ALL_NODES
    RANDOM = RANDOM
    DEFAULT_NODE = DEFAULT_NODE

    def get_encoder(self) -> Encoder:
        """redis-py's Encoder, with this client's encoding and decode_responses."""
        return Encoder(getattr(self, "_encoding", "utf-8"), getattr(self, "_encoding_errors", "strict"),
                       self._native.decode_responses)  # type: ignore[attr-defined]

    def _topology(self) -> dict:
        return json.loads(self._native.topology_json())  # type: ignore[attr-defined]

    def get_nodes(self) -> List[ClusterNode]:
        """Every node rcm knows, primaries and replicas."""
        return [_node(n) for n in self._topology()["nodes"]]

    def get_primaries(self) -> List[ClusterNode]:
        return [n for n in self.get_nodes() if n.server_type == "primary"]

    def get_replicas(self) -> List[ClusterNode]:
        return [n for n in self.get_nodes() if n.server_type == "replica"]

    def get_random_node(self) -> ClusterNode:
        import random
        return random.choice(self.get_nodes())

    def get_default_node(self) -> ClusterNode:
        """The first primary (rcm sends keyless commands to any primary)."""
        return self.get_primaries()[0]

    def get_node(self, host: Optional[str] = None, port: Optional[int] = None,
                 node_name: Optional[str] = None) -> Optional[ClusterNode]:
        """The node of that host and port (or "host:port" name), None when unknown."""
        name = node_name if node_name is not None else f"{host}:{port}"
        for n in self.get_nodes():
            if n.name == name:
                return n
        return None

    def get_node_from_key(self, key: Any, replica: bool = False) -> Optional[ClusterNode]:
        """The primary that owns key's slot (a replica of it with replica=True)."""
        slot = self.keyslot(key)
        for shard in self._topology().get("shards", []):
            if any(lo <= slot <= hi for lo, hi in shard["slots"]):
                names = shard["replicas"] if replica and shard["replicas"] else [shard["primary"]]
                return self.get_node(node_name=names[0])
        nodes = self.get_primaries()
        return nodes[0] if len(nodes) == 1 else None  # standalone: the server

    def _scan_nodes(self) -> List[Any]:
        """Where scan_iter() scans: every primary in cluster mode, else where rcm sends it."""
        if self._topology().get("mode") != "cluster":
            return [None]
        return self.get_primaries()

    def mget_nonatomic(self, keys: Any, *args: Any) -> Any:
        """MGET of keys of any slots (rcm splits MGET by slot itself): redis-py's name."""
        return self.mget(keys, *args)  # type: ignore[attr-defined]

    def mset_nonatomic(self, mapping: Any) -> Any:
        """One MSET per slot, pipelined: the list of their results (True each)."""
        by_slot: Dict[int, list] = {}
        for k, v in (mapping.items() if hasattr(mapping, "items") else mapping):
            by_slot.setdefault(self.keyslot(k), []).append((k, v))
        pipe = self.pipeline()  # type: ignore[attr-defined]
        for pairs in by_slot.values():
            pipe.mset(dict(pairs))
        return pipe.execute()

    def keyslot(self, key: Any) -> int:
        """The hash slot of key, computed here as the server does."""
        if isinstance(key, str):
            key = key.encode(getattr(self, "_encoding", "utf-8"))
        elif isinstance(key, (int, float)):
            key = repr(key).encode()
        return key_slot(bytes(key))


@named
class ClusterCommands:
    """CLUSTER subcommands with redis-py's RedisCluster names."""

    __slots__ = ()

    cluster_count_failure_report = cmd("CLUSTER COUNT-FAILURE-REPORTS node_id", int)
    cluster_delslotsrange = cmd("CLUSTER DELSLOTSRANGE *slots", R.ok)
    cluster_info = cmd("CLUSTER INFO", R.cluster_info)
    cluster_keyslot = cmd("CLUSTER KEYSLOT key", int)
    cluster_meet = cmd("CLUSTER MEET host port", R.ok)
    cluster_nodes = cmd("CLUSTER NODES", R.cluster_nodes)
    cluster_replicas = cmd("CLUSTER REPLICAS node_id", R.cluster_nodes)
    cluster_save_config = cmd("CLUSTER SAVECONFIG", R.ok)
    cluster_set_config_epoch = cmd("CLUSTER SET-CONFIG-EPOCH epoch", R.ok)
    cluster_setslot_stable = cmd("CLUSTER SETSLOT slot_id STABLE", R.ok)
    cluster_slots = cmd("CLUSTER SLOTS", R.cluster_slots)
    cluster_shards = cmd("CLUSTER SHARDS")

    def cluster_countkeysinslot(self, slot_id: int) -> Any:
        """The number of keys in the slot (asked of its owner)."""
        return self._run_routed(int, SlotOwner(slot_id), b"CLUSTER", b"COUNTKEYSINSLOT", slot_id)

    def cluster_get_keys_in_slot(self, slot: int, num_keys: int) -> Any:
        return self._run_routed(R.str_list, SlotOwner(slot), b"CLUSTER", b"GETKEYSINSLOT", slot, num_keys)

    def cluster_myid(self, target_node: Any) -> Any:
        return self._run_routed(R.s, target_node, b"CLUSTER", b"MYID")

    def cluster_links(self, target_node: Any) -> Any:
        return self._run_routed(None, target_node, b"CLUSTER", b"LINKS")

    def cluster_addslots(self, target_node: Any, *slots: Any) -> Any:
        return self._run_routed(R.ok, target_node, b"CLUSTER", b"ADDSLOTS", *slots)

    def cluster_addslotsrange(self, target_node: Any, *slots: Any) -> Any:
        return self._run_routed(R.ok, target_node, b"CLUSTER", b"ADDSLOTSRANGE", *slots)

    def cluster_delslots(self, *slots: Any) -> List[Any]:
        return [self._run(R.ok, b"CLUSTER", b"DELSLOTS", s) for s in slots]

    def cluster_failover(self, target_node: Any, option: Optional[str] = None) -> Any:
        if option and option.upper() not in ("FORCE", "TAKEOVER"):
            raise DataError(f"Invalid option for CLUSTER FAILOVER command: {option}")
        return self._run_routed(R.ok, target_node, b"CLUSTER", b"FAILOVER", *([option] if option else []))

    def cluster_replicate(self, target_nodes: Any, node_id: str) -> Any:
        return self._run_routed(R.ok, target_nodes, b"CLUSTER", b"REPLICATE", node_id)

    def cluster_reset(self, soft: bool = True, target_nodes: Any = None) -> Any:
        return self._run_routed(R.ok, target_nodes, b"CLUSTER", b"RESET", b"SOFT" if soft else b"HARD")

    def cluster_setslot(self, target_node: Any, node_id: str, slot_id: int, state: str) -> Any:
        if state.upper() == "STABLE":
            raise DataError('For "stable" state please use cluster_setslot_stable')
        if state.upper() not in ("IMPORTING", "NODE", "MIGRATING"):
            raise DataError(f"Invalid slot state: {state}")
        return self._run_routed(R.ok, target_node, b"CLUSTER", b"SETSLOT", slot_id, state, node_id)
