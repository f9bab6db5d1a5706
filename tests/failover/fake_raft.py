#!/usr/bin/python3
"""A scripted stand-in for a 3-node RedisRaft group, for raft.scripted (CI has no
redisraft.so). It replays the replies the real module gives, as observed against
RedisRaft (ade4aa8) loaded into valkey-server 8:

  follower, leader known       -MOVED 0 <leader host:port>
  leader SIGKILLed             its port refuses connections; the followers keep
                               answering -MOVED 0 <dead leader> until their election
                               timeout, then -CLUSTERDOWN No raft leader while they
                               vote, then -MOVED 0 <new leader>
  no leader                    -CLUSTERDOWN No raft leader
  loading                      -LOADING Raft module is loading data
  not initialised              -NOCLUSTER No Raft Cluster
  leader cannot commit         -TIMEOUT not committed yet
  INFO raft                    the raft_general section as the module prints it

Data commands (SET, GET, INCR, DEL, EXISTS, MGET, DBSIZE) on the leader use one dict
shared by the group (as if replicated). Everything else (PING, CLIENT, INFO, ECHO,
SELECT) is answered by any node, as the module lets Redis answer them itself.

Usage: fake_raft.py --ports P1,P2,P3 --control PC [--leader I]
Prints "READY" on stdout once every port listens; exits when stdin closes (the test
that started it has gone) or on SHUTDOWN.

Control port (RESP, one command per request):
  LEADER i                 node i (0-based) leads, every node up, no scripted phase
  TRANSFER i               leadership moves to node i; the old leader follows it
  ELECTION new moved_ms down_ms
                           SIGKILL of the leader: its port refuses connections; the
                           followers answer MOVED 0 <dead leader> for moved_ms, then
                           CLUSTERDOWN for down_ms, then node new leads
  FAIL kind ms             every node answers data commands with kind (CLUSTERDOWN,
                           LOADING, NOCLUSTER) for ms, and INFO raft shows no leader
  TIMEOUT_WRITES n         the leader answers the next n writes -TIMEOUT (not applied)
  TIMEOUT_READS n          the leader answers the next n reads -TIMEOUT
  REVIVE i                 node i listens again (as a follower)
  COUNT i CMD              how many CMD node i received (INFO counts as INFO)
  RESETCOUNTS              zero the counters
  DATA key                 the dict's value of key (nil when absent)
  STATE                    one line describing the scripted state
  PING, SHUTDOWN
"""

import argparse
import asyncio
import os
import sys
import time

HOST = "127.0.0.1"
WRITES = {"SET", "INCR", "DEL", "INCRBY", "APPEND", "MSET"}
READS = {"GET", "EXISTS", "MGET", "DBSIZE", "STRLEN"}
ERRORS = {
    "CLUSTERDOWN": "CLUSTERDOWN No raft leader",
    "LOADING": "LOADING Raft module is loading data",
    "NOCLUSTER": "NOCLUSTER No Raft Cluster",
}


# ---- RESP -----------------------------------------------------------------------------

class ProtocolError(Exception):
    pass


def parse_request(buf):
    """One request from buf: (args, consumed) or (None, 0) when incomplete."""
    if not buf:
        return None, 0
    if buf[0:1] != b"*":
        # Inline command (telnet style).
        end = buf.find(b"\n")
        if end < 0:
            return None, 0
        return buf[:end].strip().split(), end + 1
    end = buf.find(b"\r\n")
    if end < 0:
        return None, 0
    try:
        n = int(buf[1:end])
    except ValueError:
        raise ProtocolError("bad multibulk length")
    pos = end + 2
    args = []
    for _ in range(n):
        end = buf.find(b"\r\n", pos)
        if end < 0:
            return None, 0
        if buf[pos:pos + 1] != b"$":
            raise ProtocolError("expected '$'")
        size = int(buf[pos + 1:end])
        start = end + 2
        if len(buf) < start + size + 2:
            return None, 0
        args.append(buf[start:start + size])
        pos = start + size + 2
    return args, pos


def simple(s):
    return b"+" + s.encode() + b"\r\n"


def error(s):
    return b"-" + s.encode() + b"\r\n"


def integer(n):
    return b":" + str(n).encode() + b"\r\n"


def bulk(b):
    if b is None:
        return b"$-1\r\n"
    if isinstance(b, str):
        b = b.encode()
    return b"$" + str(len(b)).encode() + b"\r\n" + b + b"\r\n"


def array(items):
    return b"*" + str(len(items)).encode() + b"\r\n" + b"".join(items)


# ---- the group ------------------------------------------------------------------------

class Group:
    def __init__(self, ports, leader):
        self.ports = ports
        self.n = len(ports)
        self.servers = [None] * self.n
        self.writers = [set() for _ in range(self.n)]
        self.dead = set()
        self.leader = leader       # index, or None
        self.term = 1
        # ELECTION: (t_kill, old, new, moved_until, down_until)
        self.election = None
        # FAIL: (kind, until)
        self.fail = None
        self.timeout_writes = 0
        self.timeout_reads = 0
        self.data = {}
        self.counts = [dict() for _ in range(self.n)]

    def addr(self, i):
        return "%s:%d" % (HOST, self.ports[i])

    # The group as seen at this instant: (leader index or None, hinted leader or None).
    # During an election the followers still name the dead leader for a while.
    def view(self):
        now = time.monotonic()
        if self.election is not None:
            _, old, new, moved_until, down_until = self.election
            if now < moved_until:
                return None, old
            if now < down_until:
                return None, None
            self.election = None
            self.leader = new
            self.term += 1
        return self.leader, self.leader

    def failing(self):
        if self.fail is None:
            return None
        kind, until = self.fail
        if time.monotonic() >= until:
            self.fail = None
            return None
        return kind

    def count(self, i, name):
        self.counts[i][name] = self.counts[i].get(name, 0) + 1

    # ---- node side --------------------------------------------------------------------

    def info_raft(self, i):
        leader, hinted = self.view()
        kind = self.failing()
        state = "up"
        if kind == "LOADING":
            state = "loading"
        elif kind == "NOCLUSTER":
            state = "uninitialized"
        if kind is not None:
            role, leader_id = ("(none)" if kind == "NOCLUSTER" else "follower"), -1
        elif leader == i:
            role, leader_id = "leader", i + 1
        elif hinted is not None:
            role, leader_id = "follower", hinted + 1
        else:
            role, leader_id = "candidate", -1
        lines = [
            "# raft_general",
            "raft_dbid:5f6b1e0c3d3b4f1a9a2b7c8d9e0f1a2b",
            "raft_node_id:%d" % (i + 1),
            "raft_state:%s" % state,
            "raft_role:%s" % role,
            "raft_is_voting:yes",
            "raft_voted_for:%d" % (leader_id if leader_id > 0 else -1),
            "raft_leader_id:%d" % leader_id,
            "raft_current_term:%d" % self.term,
            "raft_num_nodes:%d" % self.n,
            "raft_num_voting_nodes:%d" % self.n,
        ]
        k = 0
        for j in range(self.n):
            if j == i:
                continue
            k += 1
            conn = "connecting" if j in self.dead else "connected"
            errs = 1 if j in self.dead else 0
            lines.append("raft_node%d:id=%d,state=%s,voting=yes,addr=%s,port=%d,"
                         "last_conn_secs=0,conn_errors=%d,conn_oks=1"
                         % (k, j + 1, conn, HOST, self.ports[j], errs))
        lines += ["", "# raft_log", "raft_log_entries:%d" % (len(self.data) + 3),
                  "raft_current_index:%d" % (len(self.data) + 3),
                  "raft_commit_index:%d" % (len(self.data) + 3), ""]
        return "\r\n".join(lines) + "\r\n"

    def info(self, i, section):
        if section == "raft":
            return self.info_raft(i)
        text = ("# Server\r\nredis_version:7.2.4\r\nvalkey_version:8.0.1\r\n"
                "redis_mode:standalone\r\ntcp_port:%d\r\n\r\n# Replication\r\nrole:master\r\n"
                "connected_slaves:0\r\n" % self.ports[i])
        if section in ("", "all", "everything"):
            text += "\r\n" + self.info_raft(i)
        return text

    def execute(self, args):
        cmd = args[0].decode().upper()
        d = self.data
        if cmd == "SET" and len(args) >= 3:
            d[args[1]] = args[2]
            return simple("OK")
        if cmd == "GET" and len(args) == 2:
            return bulk(d.get(args[1]))
        if cmd in ("INCR", "INCRBY") and len(args) >= 2:
            try:
                v = int(d.get(args[1], b"0")) + (int(args[2]) if cmd == "INCRBY" else 1)
            except ValueError:
                return error("ERR value is not an integer or out of range")
            d[args[1]] = str(v).encode()
            return integer(v)
        if cmd == "DEL":
            return integer(sum(1 for k in args[1:] if d.pop(k, None) is not None))
        if cmd == "EXISTS":
            return integer(sum(1 for k in args[1:] if k in d))
        if cmd == "MGET":
            return array([bulk(d.get(k)) for k in args[1:]])
        if cmd == "DBSIZE":
            return integer(len(d))
        if cmd == "STRLEN":
            return integer(len(d.get(args[1], b"")))
        if cmd == "APPEND":
            d[args[1]] = d.get(args[1], b"") + args[2]
            return integer(len(d[args[1]]))
        if cmd == "MSET":
            for k in range(1, len(args) - 1, 2):
                d[args[k]] = args[k + 1]
            return simple("OK")
        return error("ERR wrong number of arguments for '%s' command" % cmd.lower())

    def handle(self, i, args):
        cmd = args[0].decode(errors="replace").upper()
        self.count(i, cmd)
        if cmd == "PING":
            return simple("PONG") if len(args) == 1 else bulk(args[1])
        if cmd == "ECHO" and len(args) == 2:
            return bulk(args[1])
        if cmd == "CLIENT":
            return simple("OK")
        if cmd == "SELECT":
            return simple("OK") if len(args) == 2 and args[1] == b"0" else error("ERR DB index is out of range")
        if cmd == "AUTH":
            return error("ERR AUTH <password> called without any password configured for the default user. "
                         "Are you sure your configuration is correct?")
        if cmd == "INFO":
            section = args[1].decode().lower() if len(args) > 1 else ""
            return bulk(self.info(i, section))
        if cmd not in WRITES and cmd not in READS:
            return error("ERR unknown command '%s', with args beginning with: " % args[0].decode(errors="replace"))
        kind = self.failing()
        if kind is not None:
            return error(ERRORS[kind])
        leader, hinted = self.view()
        if leader != i:
            if hinted is None:
                return error(ERRORS["CLUSTERDOWN"])
            return error("MOVED 0 %s" % self.addr(hinted))
        if cmd in WRITES and self.timeout_writes > 0:
            self.timeout_writes -= 1
            return error("TIMEOUT not committed yet")
        if cmd in READS and self.timeout_reads > 0:
            self.timeout_reads -= 1
            return error("TIMEOUT not committed yet")
        return self.execute(args)

    async def serve_client(self, i, reader, writer):
        self.writers[i].add(writer)
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
                        out.append(self.handle(i, args))
                if out and i not in self.dead:
                    writer.write(b"".join(out))
                    await writer.drain()
        except (ConnectionError, ProtocolError, asyncio.CancelledError):
            pass
        finally:
            self.writers[i].discard(writer)
            writer.close()

    async def listen(self, i):
        self.servers[i] = await asyncio.start_server(
            lambda r, w, i=i: self.serve_client(i, r, w), HOST, self.ports[i], reuse_address=True)

    def kill(self, i):
        """As SIGKILL: the port stops listening, every connection is reset."""
        self.dead.add(i)
        if self.servers[i] is not None:
            self.servers[i].close()
            self.servers[i] = None
        for w in list(self.writers[i]):
            w.transport.abort()
        self.writers[i].clear()

    async def revive(self, i):
        if i in self.dead:
            # The port was ours a moment ago; give the kernel a little time if it objects.
            for attempt in range(40):
                try:
                    await self.listen(i)
                    break
                except OSError as e:
                    if attempt == 39:
                        raise
                    sys.stderr.write("fake_raft: listen on %d: %s; retrying\n" % (self.ports[i], e))
                    await asyncio.sleep(0.05)
            self.dead.discard(i)

    # ---- control side -----------------------------------------------------------------

    async def control(self, args):
        cmd = args[0].decode().upper()
        a = [x.decode() for x in args[1:]]
        now = time.monotonic()
        if cmd == "PING":
            return simple("PONG")
        if cmd == "LEADER":
            for j in list(self.dead):
                await self.revive(j)
            self.leader, self.election, self.fail = int(a[0]), None, None
            self.timeout_writes = self.timeout_reads = 0
            return simple("OK")
        if cmd == "TRANSFER":
            self.view()
            self.leader = int(a[0])
            self.term += 1
            return simple("OK")
        if cmd == "ELECTION":
            leader, _ = self.view()
            if leader is None:
                return error("ERR no leader to kill")
            new, moved_ms, down_ms = int(a[0]), int(a[1]), int(a[2])
            self.kill(leader)
            self.leader = None
            self.election = (now, leader, new, now + moved_ms / 1000.0, now + (moved_ms + down_ms) / 1000.0)
            return simple("OK")
        if cmd == "FAIL":
            kind = a[0].upper()
            if kind not in ERRORS:
                return error("ERR unknown failure kind")
            self.fail = (kind, now + int(a[1]) / 1000.0)
            return simple("OK")
        if cmd == "TIMEOUT_WRITES":
            self.timeout_writes = int(a[0])
            return simple("OK")
        if cmd == "TIMEOUT_READS":
            self.timeout_reads = int(a[0])
            return simple("OK")
        if cmd == "REVIVE":
            await self.revive(int(a[0]))
            return simple("OK")
        if cmd == "COUNT":
            return integer(self.counts[int(a[0])].get(a[1].upper(), 0))
        if cmd == "RESETCOUNTS":
            self.counts = [dict() for _ in range(self.n)]
            return simple("OK")
        if cmd == "DATA":
            return bulk(self.data.get(args[1]))
        if cmd == "STATE":
            leader, hinted = self.view()
            return bulk("leader=%s hinted=%s dead=%s fail=%s term=%d keys=%d" % (
                leader, hinted, sorted(self.dead), self.failing(), self.term, len(self.data)))
        if cmd == "SHUTDOWN":
            asyncio.get_running_loop().call_soon(lambda: os._exit(0))
            return simple("OK")
        return error("ERR unknown control command '%s'" % cmd)

    async def serve_control(self, reader, writer):
        buf = b""
        try:
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                buf += chunk
                while True:
                    args, used = parse_request(buf)
                    if args is None:
                        break
                    buf = buf[used:]
                    if args:
                        try:
                            reply = await self.control(args)
                        except Exception as e:  # a bad control command, or a port we cannot bind
                            sys.stderr.write("fake_raft: control %r: %r\n" % (args, e))
                            reply = error("ERR %s" % e)
                        writer.write(reply)
                await writer.drain()
        except (ConnectionError, ProtocolError):
            pass
        finally:
            writer.close()


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ports", required=True, help="P1,P2,P3: the nodes' ports on 127.0.0.1")
    ap.add_argument("--control", type=int, required=True, help="the control port")
    ap.add_argument("--leader", type=int, default=0, help="the first leader (0-based)")
    opts = ap.parse_args()
    ports = [int(p) for p in opts.ports.split(",")]
    group = Group(ports, opts.leader)
    for i in range(len(ports)):
        await group.listen(i)
    await asyncio.start_server(group.serve_control, HOST, opts.control, reuse_address=True)
    await ready_until_stdin_closes()


async def ready_until_stdin_closes():
    """Prints READY, then returns when the test that started us goes away (its end of
    our stdin closes)."""
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    loop = asyncio.get_running_loop()
    gone = loop.create_future()

    def on_stdin():
        try:
            data = os.read(sys.stdin.fileno(), 4096)
        except OSError:
            data = b""
        if not data and not gone.done():
            gone.set_result(None)

    loop.add_reader(sys.stdin.fileno(), on_stdin)
    await gone


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
