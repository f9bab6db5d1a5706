"""rcm vs redis-py, in one run on the same server: ``python -m rcm.bench`` (or
bench/python/bench.py in the repository).

Workloads (a 50/50 GET/SET mix over --keyspace keys, --value-size byte values):

  single     one thread, one command at a time
  pipeline   pipelines of --depth commands (transaction=False on both sides)
  threads    --threads Python threads sharing one client
  asyncio    --tasks concurrent tasks on one event loop (rcm.asyncio vs redis.asyncio)
  pubsub     messages received through PubSub.get_message(timeout=1.0) in a loop while a
             publisher process pipelines PUBLISH on the same server, at most 5000 ahead
             (rcm/_bench_pubsub.py says how); ops/s are messages/s, CPU is the receiving
             process's
  pubsub-drain  the same loop draining a round's messages, published while subscribed
             (rcm's I/O thread receives them meanwhile): msgs/s of the drain, CPU per
             message of this process over publishing and drain
  readmostly 98 % GET / 2 % SET, Zipf-like keys (s = 1), through rcm with the client-side
             cache, rcm without it and redis-py, at 1 and --threads threads; prints the
             cache's hit rate and the bound 1/(share reaching the server) beside the
             ratios (rcm/_bench_cache.py says how)
  cluster    the single-thread mix against --cluster-url (rcm vs redis.cluster.RedisCluster),
             and cluster-pipeline: pipeline(depth) across slots against the same cluster;
             skipped with a message when no cluster URL is given

single also runs a floor: the same mix from a raw socket in plain Python (each command
encoded with one bytes format, one sendall, recv until the reply is complete; no client
library, no reply objects, no error handling). Its CPU per op is about the least any
Python client can spend per round trip on this machine.

rcm and redis-py run alternately in --rounds slices, so drift of the machine falls on
both. Reported per client: ops/s (wall clock), client CPU per op (time.process_time of
this process: every thread, rcm's I/O thread included), for single also the calling
thread's CPU (time.thread_time), and the ratios rcm/redis-py. The targets (from the
project's issue) are printed beside the ratios; a benchmark never fails on them.

Without --url a private server is started for the standalone workloads: with
--port-offset N through the test harness at $RCM_TEST_PORT_BASE+N, else
valkey-server/redis-server on a free port.

The workloads write bench:py:* keys (--keyspace of them); the benchmark deletes them when
it finishes, on the server and on the cluster (through the cluster client, so that each
key goes to its owner), also when a workload failed. --smoke then checks that none is left.

Exit status: 0 when a workload was measured, 77 when every selected one was skipped
(e.g. --only cluster without --cluster-url), 1 on an error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

import rcm
import rcm.asyncio

TARGETS = {
    # workload: (min ops/s ratio, max CPU/op ratio or None)
    "single": (1.0, 0.6),
    "pipeline": (2.0, None),
    "threads": (3.0, None),
    "asyncio": (3.0, None),
    "pubsub": (3.0, None),
    "pubsub-drain": (3.0, None),
    "cluster": (1.0, None),
    "cluster-pipeline": (3.0, None),
    # readmostly: its own report (rcm/_bench_cache.py), >= 20x redis-py with the cache
}


@dataclass
class Sample:
    ops: int = 0
    wall: float = 0.0
    cpu: float = 0.0          # process CPU seconds (all threads)
    thread_cpu: float = 0.0   # the calling thread's CPU seconds (single only)

    def add(self, other: "Sample") -> None:
        self.ops += other.ops
        self.wall += other.wall
        self.cpu += other.cpu
        self.thread_cpu += other.thread_cpu

    @property
    def ops_s(self) -> float:
        return self.ops / self.wall if self.wall else 0.0

    def us_per_op(self, cpu: float) -> float:
        return cpu / self.ops * 1e6 if self.ops else 0.0


@dataclass
class Result:
    name: str
    samples: Dict[str, Sample] = field(default_factory=dict)
    skipped: Optional[str] = None
    text: Optional[str] = None  # a workload that reports in its own shape (readmostly)


def measure(fn: Callable[[], int]) -> Sample:
    c0, t0, w0 = time.process_time(), time.thread_time(), time.perf_counter()
    ops = fn()
    return Sample(ops, time.perf_counter() - w0, time.process_time() - c0, time.thread_time() - t0)


# ---- workloads (the same code drives both clients) -------------------------------------------


def mix_loop(client: Any, keys: List[str], value: bytes, seconds: float, offset: int = 0) -> int:
    get, set_ = client.get, client.set
    n, nk = offset, len(keys)
    end = time.perf_counter() + seconds
    while True:
        for _ in range(50):
            k = keys[n % nk]
            set_(k, value)
            get(k)
            n += 2
        if time.perf_counter() >= end:
            return n - offset


def pipeline_loop(client: Any, keys: List[str], value: bytes, seconds: float, depth: int) -> int:
    n, nk = 0, len(keys)
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        p = client.pipeline(transaction=False)
        for _ in range(depth // 2):
            k = keys[n % nk]
            p.set(k, value)
            p.get(k)
            n += 2
        p.execute()
    return n


def threads_loop(client: Any, keys: List[str], value: bytes, seconds: float, threads: int) -> int:
    return sum(in_threads(threads, lambda i: mix_loop(client, keys, value, seconds, offset=i * 7919)))


def in_threads(threads: int, fn: Callable[[int], Any]) -> List[Any]:
    """fn(i) in threads i = 0..threads-1, started together; their results in order."""
    out: List[Any] = [None] * threads
    errors: List[BaseException] = []
    start = threading.Barrier(threads + 1)

    def worker(i: int) -> None:
        start.wait()
        try:
            out[i] = fn(i)
        except BaseException as e:  # raised again in the caller: a failed thread fails the workload
            errors.append(e)

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    start.wait()
    for t in ts:
        t.join()
    if errors:
        raise errors[0]
    return out


def delete_keys(client: Any, keys: List[str], batch: int = 1000) -> int:
    """Deletes the workloads' keys, one DEL each in pipelines (a cluster client sends each
    to the owner of its slot). Returns how many existed."""
    deleted = 0
    for i in range(0, len(keys), batch):
        p = client.pipeline(transaction=False)
        for k in keys[i:i + batch]:
            p.delete(k)
        deleted += sum(p.execute())
    return deleted


def keys_left(client: Any, keys: List[str], batch: int = 1000) -> int:
    left = 0
    for i in range(0, len(keys), batch):
        p = client.pipeline(transaction=False)
        for k in keys[i:i + batch]:
            p.exists(k)
        left += sum(p.execute())
    return left


def clean_up(client: Any, keys: List[str], check: bool) -> None:
    """delete_keys(); with check (--smoke), fails when keys are left afterwards."""
    delete_keys(client, keys)
    if check:
        left = keys_left(client, keys)
        if left:
            raise RuntimeError(f"{left} benchmark keys left behind on the server after deleting them")


async def async_loop(client: Any, keys: List[str], value: bytes, seconds: float, tasks: int) -> int:
    end = time.perf_counter() + seconds
    nk = len(keys)

    async def one(i: int) -> int:
        n = 0
        get, set_ = client.get, client.set
        while time.perf_counter() < end:
            k = keys[(i * 7919 + n) % nk]
            await set_(k, value)
            await get(k)
            n += 2
        return n

    return sum(await asyncio.gather(*[one(i) for i in range(tasks)]))


class RawFloor:
    """The floor of the single workload: one blocking round trip per command from plain
    Python, with nothing a client library adds (see the module's docstring)."""

    def __init__(self, url: str) -> None:
        from urllib.parse import unquote, urlsplit
        u = urlsplit(url)
        if u.scheme != "redis":
            raise ValueError(f"the floor speaks plain TCP only, not {u.scheme}://")
        self.sock = socket.create_connection((u.hostname or "127.0.0.1", u.port or 6379))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if u.password:
            user = unquote(u.username) if u.username else None
            pw = unquote(u.password).encode()
            self.execute(b"AUTH", *([user.encode()] if user else []), pw)
        db = u.path.strip("/")
        if db and db != "0":  # the same database as the clients it is compared with
            self.execute(b"SELECT", db.encode())

    def execute(self, *args: bytes) -> bytes:
        out = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)
        reply = self._round_trip(out)
        if reply[:1] == b"-":
            raise RuntimeError(f"{args[0]!r}: {reply.strip().decode(errors='replace')}")
        return reply

    def set(self, key: str, value: bytes) -> bytes:
        k = key.encode()
        return self._round_trip(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(value), value))

    def get(self, key: str) -> bytes:
        k = key.encode()
        return self._round_trip(b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(k), k))

    def _round_trip(self, out: bytes) -> bytes:
        # One reply: a simple string/error/integer line, or a bulk string ($n, n bytes, CRLF).
        self.sock.sendall(out)
        buf = self.sock.recv(65536)
        while True:
            eol = buf.find(b"\r\n")
            if eol >= 0:
                need = eol + 2
                if buf[:1] == b"$" and buf[1:2] != b"-":
                    need += int(buf[1:eol]) + 2
                if len(buf) >= need:
                    return buf
            more = self.sock.recv(65536)
            if not more:
                raise ConnectionError("server closed the connection")
            buf += more

    def close(self) -> None:
        self.sock.close()


# ---- servers ------------------------------------------------------------------------------------


class Server:
    """A server this benchmark owns (stopped at the end), or None when --url is given."""

    def __init__(self, port_offset: Optional[int]) -> None:
        self.pid = 0
        self.proc: Optional[subprocess.Popen] = None
        self.tmp: Optional[str] = None
        if port_offset is not None:
            base = int(os.environ.get("RCM_TEST_PORT_BASE", "21000"))
            harness = os.environ.get("RCM_HARNESS")
            state = os.environ.get("RCM_TEST_STATE_DIR", tempfile.gettempdir())
            if not harness:
                raise SystemExit("--port-offset needs RCM_HARNESS (tests/harness/rcm_harness.sh)")
            self.port = base + port_offset
            out = subprocess.run(["bash", harness, "server", str(self.port), os.path.join(state, "bench-py")],
                                 check=True, capture_output=True, text=True)
            self.pid = int(out.stdout.split()[-1])
            self.harness = harness
        else:
            binary = shutil.which("valkey-server") or shutil.which("redis-server")
            if binary is None:
                raise SystemExit("no valkey-server/redis-server: give --url")
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                self.port = s.getsockname()[1]
            self.tmp = tempfile.mkdtemp(prefix="rcm-bench-")
            self.proc = subprocess.Popen([binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                          "--appendonly", "no", "--dir", self.tmp],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                with socket.socket() as s:
                    if s.connect_ex(("127.0.0.1", self.port)) == 0:
                        break
                time.sleep(0.05)
        self.url = f"redis://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.pid:
            subprocess.run(["bash", self.harness, "stop", str(self.pid)], check=False)
            self.pid = 0
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None


# ---- the run ---------------------------------------------------------------------------------------


def redis_py() -> Any:
    try:
        import redis
        import redis.asyncio  # noqa: F401
        import redis.cluster  # noqa: F401
    except ImportError:
        return None
    return redis


def hiredis_on(redis: Any) -> bool:
    try:
        from redis.utils import HIREDIS_AVAILABLE
    except ImportError:
        return False
    return bool(HIREDIS_AVAILABLE)


STANDALONE_WORKLOADS = ("single", "pipeline", "threads", "asyncio", "pubsub", "pubsub-drain", "readmostly")


def wanted(args: argparse.Namespace, name: str) -> bool:
    return not args.only or name in args.only.split(",")


def run(args: argparse.Namespace) -> List[Result]:
    keys = [f"bench:py:{i:08d}" for i in range(args.keyspace)]
    value = b"v" * args.value_size
    results: List[Result] = []
    slice_s = args.duration / args.rounds
    if any(wanted(args, w) for w in STANDALONE_WORKLOADS):
        try:
            run_standalone(args, keys, value, slice_s, results)
        finally:
            with rcm.Client(args.url, **args.rcm_config) as c:
                clean_up(c, keys, args.smoke)
    if wanted(args, "cluster"):
        results.extend(run_cluster(args, redis_py(), keys, value, slice_s))
    return results


def run_standalone(args: argparse.Namespace, keys: List[str], value: bytes, slice_s: float,
                   results: List[Result]) -> None:
    """The workloads against --url; appends their results to results as they finish."""
    redis = redis_py()

    def want(name: str) -> bool:
        return wanted(args, name)

    def alternate(name: str, rcm_fn: Callable[[], int], py_fn: Optional[Callable[[], int]]) -> Result:
        res = Result(name, {"rcm": Sample(), "redis-py": Sample()})
        for _ in range(args.rounds):
            res.samples["rcm"].add(measure(rcm_fn))
            if py_fn is not None:
                res.samples["redis-py"].add(measure(py_fn))
        if py_fn is None:
            del res.samples["redis-py"]
        print(f"  {name}: done", file=sys.stderr)
        return res

    rc = rcm.Client(args.url, **args.rcm_config)
    rp = redis.Redis.from_url(args.url) if redis else None
    try:
        # Warm both (connections, command table) before measuring.
        mix_loop(rc, keys, value, 0.2)
        if rp is not None:
            mix_loop(rp, keys, value, 0.2)
        if want("single"):
            single = alternate("single", lambda: mix_loop(rc, keys, value, slice_s),
                               (lambda: mix_loop(rp, keys, value, slice_s)) if rp else None)
            if args.url.startswith("redis://"):  # the floor has no TLS
                floor = RawFloor(args.url)
                try:
                    mix_loop(floor, keys, value, 0.2)
                    single.samples["floor"] = Sample()
                    for _ in range(args.rounds):
                        single.samples["floor"].add(measure(lambda: mix_loop(floor, keys, value, slice_s)))
                finally:
                    floor.close()
            results.append(single)
        if want("pipeline"):
            results.append(alternate("pipeline", lambda: pipeline_loop(rc, keys, value, slice_s, args.depth),
                                     (lambda: pipeline_loop(rp, keys, value, slice_s, args.depth)) if rp else None))
        if want("threads"):
            results.append(alternate("threads", lambda: threads_loop(rc, keys, value, slice_s, args.threads),
                                     (lambda: threads_loop(rp, keys, value, slice_s, args.threads)) if rp else None))
        for name in ("pubsub", "pubsub-drain"):
            if want(name):
                results.append(run_pubsub_workload(args, name, rc, rp))
        if want("readmostly"):
            from rcm._bench_cache import run_readmostly, thread_counts_for
            text = run_readmostly(args.url, args.rcm_config, redis, keys, value, slice_s, args.rounds,
                                  thread_counts_for(args.threads))
            results.append(Result("readmostly", text=text))
            print("  readmostly: done", file=sys.stderr)
    finally:
        rc.close()
        if rp is not None:
            rp.close()

    if want("asyncio"):
        async def both() -> Result:
            ac = rcm.asyncio.Client(args.url, **args.rcm_config)
            ap = redis.asyncio.Redis.from_url(args.url) if redis else None
            res = Result("asyncio", {"rcm": Sample(), "redis-py": Sample()})
            try:
                await async_loop(ac, keys, value, 0.2, args.tasks)
                if ap is not None:
                    await async_loop(ap, keys, value, 0.2, args.tasks)
                for _ in range(args.rounds):
                    res.samples["rcm"].add(await ameasure(lambda: async_loop(ac, keys, value, slice_s, args.tasks)))
                    if ap is not None:
                        res.samples["redis-py"].add(
                            await ameasure(lambda: async_loop(ap, keys, value, slice_s, args.tasks)))
            finally:
                await ac.aclose()
                if ap is not None:
                    await ap.close()
            if ap is None:
                del res.samples["redis-py"]
            print("  asyncio: done", file=sys.stderr)
            return res

        results.append(asyncio.run(both()))


def run_pubsub_workload(args: argparse.Namespace, name: str, rc: Any, rp: Optional[Any]) -> Result:
    """pubsub or pubsub-drain (rcm/_bench_pubsub.py). The drain's rcm client holds a whole
    round in its queue: pubsub.max_pending above it."""
    from rcm._bench_pubsub import run_pubsub
    if args.value_size < 10:
        return Result(name, skipped="needs --value-size >= 10 (a sequence number leads each payload)")
    drain = name == "pubsub-drain"
    own = rcm.Client(args.url, **{"pubsub.max_pending": 2 * args.pubsub_messages, **args.rcm_config}) if drain else None
    try:
        clients = {"rcm": own or rc, **({"redis-py": rp} if rp is not None else {})}
        res = Result(name, run_pubsub(args.url, clients, args.pubsub_messages, args.value_size, args.rounds, drain,
                                      Sample))
    finally:
        if own is not None:
            own.close()
    print(f"  {name}: done", file=sys.stderr)
    return res


async def ameasure(fn: Callable[[], Any]) -> Sample:
    c0, w0 = time.process_time(), time.perf_counter()
    ops = await fn()
    return Sample(ops, time.perf_counter() - w0, time.process_time() - c0, 0.0)


def run_cluster(args: argparse.Namespace, redis: Any, keys: List[str], value: bytes,
                slice_s: float) -> List[Result]:
    if not args.cluster_url:
        return [Result("cluster", skipped="no --cluster-url given (e.g. redis+cluster://127.0.0.1:7000 "
                                          "with --cluster-password)")]
    kw = {"password": args.cluster_password} if args.cluster_password else {}
    try:
        rc = rcm.Client(args.cluster_url, **kw, **args.rcm_config)
    except rcm.UnsupportedError as e:
        return [Result("cluster", skipped=f"cluster mode is not in this build of rcm yet ({e})")]
    rp = None
    try:
        if redis is not None:
            host_port = args.cluster_url.split("://", 1)[-1].split(",")[0].split("/")[0].split("@")[-1]
            host, _, port = host_port.rpartition(":")
            rp = redis.cluster.RedisCluster(host=host or "127.0.0.1", port=int(port), **kw)
        mix_loop(rc, keys, value, 0.2)
        if rp is not None:
            mix_loop(rp, keys, value, 0.2)
        res = Result("cluster", {"rcm": Sample(), "redis-py": Sample()})
        pipe = Result("cluster-pipeline", {"rcm": Sample(), "redis-py": Sample()})
        for _ in range(args.rounds):
            res.samples["rcm"].add(measure(lambda: mix_loop(rc, keys, value, slice_s)))
            if rp is not None:
                res.samples["redis-py"].add(measure(lambda: mix_loop(rp, keys, value, slice_s)))
            pipe.samples["rcm"].add(measure(lambda: pipeline_loop(rc, keys, value, slice_s, args.depth)))
            if rp is not None:
                pipe.samples["redis-py"].add(measure(lambda: pipeline_loop(rp, keys, value, slice_s, args.depth)))
        if rp is None:
            del res.samples["redis-py"]
            del pipe.samples["redis-py"]
        return [res, pipe]
    finally:
        try:
            clean_up(rc, keys, args.smoke)
        finally:
            rc.close()
            if rp is not None:
                rp.close()


def report(results: List[Result], args: argparse.Namespace, hiredis: bool) -> str:
    lines = []
    lines.append(f"rcm {rcm.__version__} (librcm {rcm.LIBRARY_VERSION}) vs redis-py "
                 f"{getattr(redis_py(), '__version__', 'absent')} (hiredis parser: {'on' if hiredis else 'off'})")
    if args.rcm_config:
        lines.append("rcm config: " + ", ".join(f"{k}={v}" for k, v in args.rcm_config.items()))
    lines.append(f"server {args.url or args.cluster_url}; {args.duration:g} s per client and workload in {args.rounds} rounds; "
                 f"values {args.value_size} B, {args.keyspace} keys; load average {os.getloadavg()[0]:.2f}; "
                 f"{os.cpu_count()} CPUs")
    lines.append("")
    head = (f"{'workload':<16} {'client':<9} {'ops/s':>10} {'CPU us/op':>10} {'thread us/op':>12}   "
            f"{'ops/s ratio':>11} {'CPU ratio':>9}   target")
    lines.append(head)
    lines.append("-" * len(head))
    for res in results:
        if res.skipped:
            lines.append(f"{res.name:<16} skipped: {res.skipped}")
            continue
        if res.text is not None:
            lines += ["", res.text, ""]
            continue
        r, p, f = res.samples.get("rcm"), res.samples.get("redis-py"), res.samples.get("floor")
        want_ops, want_cpu = TARGETS[res.name]
        for label, s in (("rcm", r), ("redis-py", p), ("floor", f)):
            if s is None:
                continue
            thread = f"{s.us_per_op(s.thread_cpu):12.1f}" if res.name == "single" else f"{'':>12}"
            tail = ""
            if label == "rcm" and p is not None and p.ops and r.ops:
                ops_ratio = r.ops_s / p.ops_s
                cpu_ratio = r.us_per_op(r.cpu) / p.us_per_op(p.cpu)
                target = f">= {want_ops:g}x ops/s" + (f", <= {want_cpu:g}x CPU/op" if want_cpu else "")
                ok = ops_ratio >= want_ops and (want_cpu is None or cpu_ratio <= want_cpu)
                tail = f"   {ops_ratio:10.2f}x {cpu_ratio:8.2f}x   {target} {'ok' if ok else 'MISSED'}"
            elif label == "floor" and p is not None and p.ops and s.ops:
                tail = (f"   {s.ops_s / p.ops_s:10.2f}x {s.us_per_op(s.cpu) / p.us_per_op(p.cpu):8.2f}x   "
                        "raw socket, no client (the least a Python round trip costs here)")
            lines.append(f"{res.name:<16} {label:<9} {s.ops_s:10.0f} {s.us_per_op(s.cpu):10.1f} {thread}{tail}")
    return "\n".join(lines)


SKIPPED_ALL = 77  # the exit status when every selected workload was skipped


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rcm.bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="server to use (it is written to: bench:py:* keys); default: start one")
    ap.add_argument("--port-offset", type=int, help="start the server through the test harness at base+N")
    ap.add_argument("--duration", type=float, default=6.0, help="seconds per client and workload (default 6)")
    ap.add_argument("--rounds", type=int, default=3, help="alternations of rcm and redis-py (default 3)")
    ap.add_argument("--depth", type=int, default=64, help="pipeline depth (default 64)")
    ap.add_argument("--threads", type=int, default=8, help="threads of the threads workload (default 8)")
    ap.add_argument("--tasks", type=int, default=64, help="concurrent tasks of the asyncio workload (default 64)")
    ap.add_argument("--keyspace", type=int, default=10000)
    ap.add_argument("--value-size", type=int, default=16)
    ap.add_argument("--pubsub-messages", type=int, default=200000,
                    help="messages per client of the pubsub workload, all rounds together (default 200000)")
    ap.add_argument("--only", help="comma-separated workloads: single,pipeline,threads,asyncio,pubsub,"
                                   "pubsub-drain,readmostly,cluster")
    ap.add_argument("--cluster-url", help="e.g. redis+cluster://127.0.0.1:7000 for the cluster workload")
    ap.add_argument("--cluster-password")
    ap.add_argument("-c", "--config", action="append", default=[], metavar="KEY=VALUE",
                    help="an rcm config key for rcm's clients (repeatable), e.g. -c pool.size=4")
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--smoke", action="store_true",
                    help="a few hundred ms per workload: checks that it runs and leaves no key behind")
    args = ap.parse_args(argv)
    if args.smoke:
        args.duration, args.rounds = 0.3, 1
        args.pubsub_messages = min(args.pubsub_messages, 2000)
    args.rcm_config = dict(kv.split("=", 1) for kv in args.config)
    redis = redis_py()
    if redis is None:
        print("redis-py is not installed: measuring rcm alone (apt install python3-redis python3-hiredis)",
              file=sys.stderr)
    server = None
    if not args.url and any(wanted(args, w) for w in STANDALONE_WORKLOADS):
        server = Server(args.port_offset)
        args.url = server.url
    try:
        results = run(args)
    finally:
        if server is not None:
            server.stop()
    text = report(results, args, hiredis_on(redis) if redis else False)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({r.name: {"skipped": r.skipped, **{k: vars(s) for k, s in r.samples.items()}}
                       for r in results}, f, indent=2)
    if results and all(r.skipped for r in results):
        # Nothing was measured: not a success (CTest's SKIP_RETURN_CODE shows it skipped).
        print("every workload was skipped", file=sys.stderr)
        return SKIPPED_ALL
    return 0


if __name__ == "__main__":
    sys.exit(main())
