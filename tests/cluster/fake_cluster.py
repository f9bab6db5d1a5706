#!/usr/bin/python3
"""A scripted stand-in for a 3-primary Valkey Cluster (no replicas), for cluster.scripted.
It replays what no real cluster does on request; cluster.* test the same client against
the harness's real cluster. Node i owns slots [i*16384//3, (i+1)*16384//3 - 1].

What a real node answers, as Valkey 8 does:
  connect              AUTH (no password set), SELECT 0, CLIENT *, READONLY: as Valkey;
                       rcm sends no HELLO (it would get "unknown command" here)
  INFO [server]        server_mode:cluster, redis_mode:cluster, cluster_enabled:1
  INFO raft            an empty section (as Valkey without the module), so mode=auto
                       and mode=cluster both find a cluster
  COMMAND              an empty array (rcm keeps its built-in table)
  CLUSTER SHARDS|SLOTS the slot map; PING, ECHO
  GET SET INCR DEL     on one dict shared by the nodes, when the node owns the key's slot
                       (CRC16/XMODEM mod 16384, {hash tag} rule); otherwise
                       -MOVED <slot> 127.0.0.1:<owner's port>; keys of several slots
                       -CROSSSLOT

What no real cluster does on request (control commands):
  MOVEDLOOP slot       the slot's owner and the next node send each other -MOVED for
                       it forever (the third node names the owner)
  TRANSIENT kind n     the next n data commands that reach the owner of their slot are
                       answered with kind, not applied: TRYAGAIN, LOADING, MASTERDOWN or
                       CLUSTERDOWN (the messages are Valkey's)
  STALEVIEW i          node i's CLUSTER SHARDS/SLOTS claim every slot as its own while
                       the other two tell the truth (its data commands still follow the
                       true map, so a client misled by it sees -MOVED)
  COUNT i CMD          how many CMD node i received ("CLUSTER SHARDS" counts subcommands)
  BADHOST i host       CLUSTER SHARDS/SLOTS name node i (its data commands unchanged) by
                       host, a name no node has ("bad host", "a]b")
  BADREPLICA host      every shard of CLUSTER SHARDS/SLOTS also lists a replica at host:1
  NOSHARDS 0|1         CLUSTER SHARDS is an unknown subcommand (as before Redis 7), so
                       clients ask CLUSTER SLOTS
  RESETCOUNTS          zero the counters
  RESET                no MOVEDLOOP, TRANSIENT, STALEVIEW, BADHOST, BADREPLICA or
                       NOSHARDS; counters zeroed
  DATA key             the dict's value of key (nil when absent)
  PING, SHUTDOWN

Usage: fake_cluster.py --ports P1,P2,P3 --control PC
Prints "READY" on stdout once every port listens; exits when stdin closes (the test
that started it has gone) or on SHUTDOWN.
"""

import argparse
import asyncio
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "failover"))
from fake_raft import (HOST, ProtocolError, array, bulk, error, integer, parse_request,  # noqa: E402
                       ready_until_stdin_closes, simple)

SLOTS = 16384
TRANSIENT = {
    "TRYAGAIN": "TRYAGAIN Multiple keys request during rehashing of slot",
    "LOADING": "LOADING Valkey is loading the dataset in memory",
    "MASTERDOWN": "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'",
    "CLUSTERDOWN": "CLUSTERDOWN The cluster is down",
}
DATA = {"GET", "SET", "INCR", "DEL"}


def crc16(data):
    """CRC16/XMODEM (polynomial 0x1021, initial 0), as the cluster hashes keys."""
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def key_slot(key):
    start = key.find(b"{")
    if start >= 0:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            key = key[start + 1:end]
    return crc16(key) % SLOTS


class Cluster:
    def __init__(self, ports):
        self.ports = ports
        self.n = len(ports)
        self.data = {}
        self.reset()

    def reset(self):
        self.moved_loop = None     # slot
        self.transient = None      # (message, left)
        self.stale = None          # node index
        self.bad_host = {}         # node index -> the host the map names it by
        self.bad_replica = None    # host of an extra replica in every shard
        self.no_shards = False
        self.counts = [dict() for _ in range(self.n)]

    def first_slot(self, i):
        return i * SLOTS // self.n

    def owner(self, slot):
        return max(i for i in range(self.n) if self.first_slot(i) <= slot)

    def addr(self, i):
        return "%s:%d" % (HOST, self.ports[i])

    def node_id(self, i):
        return "%040x" % (i + 1)

    # The slot map as node i describes it: [(first, last, node)].
    def ranges(self, i):
        if self.stale == i:
            return [(0, SLOTS - 1, i)]
        return [(self.first_slot(j), self.first_slot(j + 1) - 1, j) for j in range(self.n)]

    def host(self, j):
        return self.bad_host.get(j, HOST)

    def cluster_shards(self, i):
        ranges = self.ranges(i)
        shards = []
        for j in range(self.n):
            slots = [integer(s) for a, b, o in ranges if o == j for s in (a, b)]
            nodes = [array([bulk("id"), bulk(self.node_id(j)), bulk("port"), integer(self.ports[j]),
                            bulk("ip"), bulk(self.host(j)), bulk("endpoint"), bulk(self.host(j)), bulk("role"),
                            bulk("master"), bulk("replication-offset"), integer(100), bulk("health"),
                            bulk("online")])]
            if self.bad_replica is not None:
                nodes.append(array([bulk("id"), bulk("%040x" % (100 + j)), bulk("port"), integer(1),
                                    bulk("ip"), bulk(self.bad_replica), bulk("endpoint"), bulk(self.bad_replica),
                                    bulk("role"), bulk("replica"), bulk("replication-offset"), integer(100),
                                    bulk("health"), bulk("online")]))
            shards.append(array([bulk("slots"), array(slots), bulk("nodes"), array(nodes)]))
        return array(shards)

    def cluster_slots(self, i):
        def nodes(o):
            out = [array([bulk(self.host(o)), integer(self.ports[o]), bulk(self.node_id(o)), array([])])]
            if self.bad_replica is not None:
                out.append(array([bulk(self.bad_replica), integer(1), bulk("%040x" % (100 + o)), array([])]))
            return out
        return array([array([integer(a), integer(b)] + nodes(o)) for a, b, o in self.ranges(i)])

    def info(self, i, section):
        if section == "raft":
            return ""
        return ("# Server\r\nredis_version:7.2.4\r\nvalkey_version:8.0.1\r\nserver_mode:cluster\r\n"
                "redis_mode:cluster\r\ntcp_port:%d\r\n\r\n# Replication\r\nrole:master\r\nconnected_slaves:0\r\n"
                "\r\n# Cluster\r\ncluster_enabled:1\r\n" % self.ports[i])

    def execute(self, cmd, args):
        d = self.data
        if cmd == "SET" and len(args) >= 3:
            d[args[1]] = args[2]
            return simple("OK")
        if cmd == "GET" and len(args) == 2:
            return bulk(d.get(args[1]))
        if cmd == "INCR" and len(args) == 2:
            try:
                v = int(d.get(args[1], b"0")) + 1
            except ValueError:
                return error("ERR value is not an integer or out of range")
            d[args[1]] = str(v).encode()
            return integer(v)
        if cmd == "DEL" and len(args) >= 2:
            return integer(sum(1 for k in args[1:] if d.pop(k, None) is not None))
        return error("ERR wrong number of arguments for '%s' command" % cmd.lower())

    def data_command(self, i, cmd, args):
        keys = args[1:2] if cmd != "DEL" else args[1:]
        slots = {key_slot(k) for k in keys}
        if len(slots) > 1:
            return error("CROSSSLOT Keys in request don't hash to the same slot")
        slot = slots.pop() if slots else 0
        owner = self.owner(slot)
        if self.moved_loop == slot:
            partner = (owner + 1) % self.n
            return error("MOVED %d %s" % (slot, self.addr(partner if i == owner else owner)))
        if owner != i:
            return error("MOVED %d %s" % (slot, self.addr(owner)))
        if self.transient is not None:
            message, left = self.transient
            self.transient = (message, left - 1) if left > 1 else None
            return error(message)
        return self.execute(cmd, args)

    def handle(self, i, args):
        cmd = args[0].decode(errors="replace").upper()
        sub = args[1].decode(errors="replace").upper() if len(args) > 1 else ""
        self.count(i, cmd)
        if cmd in ("CLUSTER", "CLIENT"):
            self.count(i, cmd + " " + sub)
        if cmd in DATA:
            return self.data_command(i, cmd, args)
        if cmd == "PING":
            return simple("PONG") if len(args) == 1 else bulk(args[1])
        if cmd == "ECHO" and len(args) == 2:
            return bulk(args[1])
        if cmd in ("CLIENT", "READONLY", "READWRITE"):
            return simple("OK")
        if cmd == "SELECT":
            return simple("OK") if sub == "0" else error("ERR SELECT is not allowed in cluster mode")
        if cmd == "AUTH":
            return error("ERR AUTH <password> called without any password configured for the default user. "
                         "Are you sure your configuration is correct?")
        if cmd == "INFO":
            return bulk(self.info(i, sub.lower()))
        if cmd == "COMMAND":
            return array([])
        if cmd == "CLUSTER" and sub == "SHARDS":
            if self.no_shards:
                return error("ERR unknown subcommand 'SHARDS'. Try CLUSTER HELP.")
            return self.cluster_shards(i)
        if cmd == "CLUSTER" and sub == "SLOTS":
            return self.cluster_slots(i)
        return error("ERR unknown command '%s', with args beginning with: " % args[0].decode(errors="replace"))

    def count(self, i, name):
        self.counts[i][name] = self.counts[i].get(name, 0) + 1

    async def serve(self, handle, reader, writer):
        """Answers each request of one connection with handle(args) (a coroutine)."""
        buf = b""
        try:
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                buf += chunk
                out = []
                while True:
                    args, used = parse_request(buf)
                    if args is None:
                        break
                    buf = buf[used:]
                    if args:
                        out.append(await handle(args))
                if out:
                    writer.write(b"".join(out))
                    await writer.drain()
        except (ConnectionError, ProtocolError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def control(self, args):
        cmd = args[0].decode().upper()
        a = [x.decode() for x in args[1:]]
        try:
            if cmd == "PING":
                return simple("PONG")
            if cmd == "MOVEDLOOP":
                self.moved_loop = int(a[0])
            elif cmd == "TRANSIENT":
                if a[0].upper() not in TRANSIENT:
                    return error("ERR unknown kind '%s'" % a[0])
                self.transient = (TRANSIENT[a[0].upper()], int(a[1])) if int(a[1]) > 0 else None
            elif cmd == "STALEVIEW":
                self.stale = int(a[0])
            elif cmd == "BADHOST":
                self.bad_host[int(a[0])] = a[1]
            elif cmd == "BADREPLICA":
                self.bad_replica = a[0]
            elif cmd == "NOSHARDS":
                self.no_shards = a[0] == "1"
            elif cmd == "COUNT":
                return integer(self.counts[int(a[0])].get(a[1].upper(), 0))
            elif cmd == "RESETCOUNTS":
                self.counts = [dict() for _ in range(self.n)]
            elif cmd == "RESET":
                self.reset()
            elif cmd == "DATA":
                return bulk(self.data.get(args[1]))
            elif cmd == "SHUTDOWN":
                asyncio.get_running_loop().call_soon(lambda: os._exit(0))
            else:
                return error("ERR unknown control command '%s'" % cmd)
        except (IndexError, ValueError) as e:
            return error("ERR %s: %s" % (cmd, e))
        return simple("OK")


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ports", required=True, help="P1,P2,P3: the nodes' ports on 127.0.0.1")
    ap.add_argument("--control", type=int, required=True, help="the control port")
    opts = ap.parse_args()
    cluster = Cluster([int(p) for p in opts.ports.split(",")])

    async def node(i, args):
        return cluster.handle(i, args)

    for i, port in enumerate(cluster.ports):
        await asyncio.start_server(lambda r, w, i=i: cluster.serve(lambda a: node(i, a), r, w), HOST, port,
                                   reuse_address=True)
    await asyncio.start_server(lambda r, w: cluster.serve(cluster.control, r, w), HOST, opts.control,
                               reuse_address=True)
    await ready_until_stdin_closes()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
