"""The readmostly workload of rcm.bench: what the client-side cache buys a Python program.

98 % GET / 2 % SET, --value-size byte values, keys drawn Zipf-like (s = 1) over
--keyspace keys for reads and writes alike, through rcm with the cache (cache=True:
64 MiB), rcm without it, and redis-py, at 1 and --threads threads, alternating in
--rounds slices. The ops are drawn once (a seeded list each thread walks from its own
offset), so drawing costs the same nothing for every client.

No cache can beat 1 / (share of requests that reach the server): the writes plus the
reads it missed (rcm's cache_stats()). The report prints that bound and the hit rate
beside each ratio.
"""

from __future__ import annotations

import bisect
import random
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import rcm

TARGET_VS_REDIS_PY = 20.0
_OPS = 1 << 16  # drawn ops per list (walked round and round)


def draw_ops(keys: List[str], get_share: float = 0.98, s: float = 1.0, seed: int = 15) -> List[Tuple[bool, str]]:
    """(is_set, key) pairs: Zipf-like key popularity, rank 0 the hottest."""
    rnd = random.Random(seed)
    weights = [1.0 / (k + 1) ** s for k in range(len(keys))]
    total = sum(weights)
    cdf, acc = [], 0.0
    for w in weights:
        acc += w / total
        cdf.append(acc)
    cdf[-1] = 1.0
    return [(rnd.random() >= get_share, keys[bisect.bisect_left(cdf, rnd.random())]) for _ in range(_OPS)]


def loop(client: Any, ops: List[Tuple[bool, str]], value: bytes, seconds: float, offset: int) -> Tuple[int, int]:
    """Runs ops from offset until seconds passed; returns (ops, sets)."""
    get, set_ = client.get, client.set
    n, sets, nops = offset, 0, len(ops)
    end = time.perf_counter() + seconds
    while True:
        for _ in range(100):
            is_set, k = ops[n % nops]
            if is_set:
                set_(k, value)
                sets += 1
            else:
                get(k)
            n += 1
        if time.perf_counter() >= end:
            return n - offset, sets


def threaded(client: Any, ops: List[Tuple[bool, str]], value: bytes, seconds: float, threads: int) -> Tuple[int, int]:
    if threads == 1:
        return loop(client, ops, value, seconds, 0)
    from .bench import in_threads
    out = in_threads(threads, lambda i: loop(client, ops, value, seconds, i * 7919))
    return sum(o for o, _ in out), sum(s for _, s in out)


class Tally:
    """One client's figures over the rounds."""

    def __init__(self) -> None:
        self.ops = self.sets = self.hits = self.misses = 0
        self.sent = 0  # reads that reached the server (a miss that waited for the same read in flight did not)
        self.wall = self.cpu = 0.0

    def ops_s(self) -> float:
        return self.ops / self.wall if self.wall else 0.0

    def hit_rate(self) -> float:
        return self.hits / (self.hits + self.misses) if self.hits + self.misses else 0.0

    def bound(self) -> float:
        """1 / share of requests that reached the server (writes + reads sent)."""
        reach = (self.sets + self.sent) / self.ops if self.ops else 1.0
        return 1 / reach if reach else float("inf")


def sent_reads(stats: Dict[str, Any]) -> int:
    """The reads the cached client sent: its nodes' "misses" (a miss that waited for the
    same read in flight is counted in the total, not there)."""
    nodes = stats.get("nodes") or {}
    return sum(n.get("misses", 0) for n in (nodes.values() if isinstance(nodes, dict) else nodes))


def measure(tally: Tally, client: Any, fn: Callable[[], Tuple[int, int]]) -> None:
    stats0 = client.cache_stats() if isinstance(client, rcm.Client) else None
    c0, w0 = time.process_time(), time.perf_counter()
    ops, sets = fn()
    tally.wall += time.perf_counter() - w0
    tally.cpu += time.process_time() - c0
    tally.ops += ops
    tally.sets += sets
    if stats0 is not None:
        stats1 = client.cache_stats()
        tally.hits += stats1["hits"] - stats0["hits"]
        tally.misses += stats1["misses"] - stats0["misses"]
        tally.sent += sent_reads(stats1) - sent_reads(stats0)


def warm(client: Any, keys: List[str]) -> None:
    """Reads every key once through the cached client, after its first hit (rcm stores
    replies once the node's invalidation connection is subscribed): the timed runs see
    the steady state of a long-running reader, not the keyspace's cold misses."""
    hits = client.cache_stats()["hits"]
    deadline = time.monotonic() + 10
    while client.cache_stats()["hits"] == hits:
        client.get(keys[0])
        if time.monotonic() > deadline:
            raise RuntimeError("the cached client served no hit within 10 s")
    for k in keys:
        client.get(k)


def run_readmostly(url: str, rcm_config: Dict[str, Any], redis: Any, keys: List[str], value: bytes,
                   slice_s: float, rounds: int, thread_counts: List[int]) -> str:
    """Measures, and returns the report's lines for the workload."""
    ops = draw_ops(keys)
    try:
        clients: Dict[str, Any] = {"rcm cache": rcm.Client(url, cache=True, **rcm_config)}
    except rcm.ConfigError as e:
        return f"readmostly: not measured: this librcm has no client-side cache ({e})"
    clients["rcm"] = rcm.Client(url, **rcm_config)
    if redis is not None:
        clients["redis-py"] = redis.Redis.from_url(url)
    lines = ["readmostly: 98% GET / 2% SET, Zipf s=1 over "
             f"{len(keys)} keys, {len(value)}-byte values; rcm cache: cache=True (64 MiB), every key "
             "read once before the timed runs (steady state: no cold misses)"]
    try:
        pipe = clients["rcm"].pipeline()
        for k in keys:  # every GET finds a value
            pipe.set(k, value)
        pipe.execute()
        for c in clients.values():  # connections up, command tables read
            loop(c, ops, value, 0.2, 0)
        warm(clients["rcm cache"], keys)
        head = f"  {'threads':>7} {'client':<10} {'ops/s':>10} {'CPU us/op':>10} {'hit rate':>9}"
        lines += [head, "  " + "-" * (len(head) - 2)]
        ratios: List[str] = []
        for threads in thread_counts:
            tallies = {name: Tally() for name in clients}
            for _ in range(rounds):
                for name, c in clients.items():
                    measure(tallies[name], c, lambda: threaded(c, ops, value, slice_s, threads))
            for name, t in tallies.items():
                hit = f"{100 * t.hit_rate():8.1f}%" if name == "rcm cache" else f"{'':>9}"
                lines.append(f"  {threads:>7} {name:<10} {t.ops_s():10.0f} "
                             f"{t.cpu / max(t.ops, 1) * 1e6:10.2f} {hit}")
            cached = tallies["rcm cache"]
            for base, target in (("rcm", None), ("redis-py", TARGET_VS_REDIS_PY)):
                if base not in tallies or not tallies[base].ops:
                    continue
                ratio = cached.ops_s() / tallies[base].ops_s()
                verdict = f"  target >= {target:g}x {'ok' if ratio >= target else 'MISSED'}" if target else ""
                ratios.append(f"  {threads} thread{'s' if threads > 1 else ''}: rcm cache / {base:<8} "
                              f"{ratio:7.2f}x  (hit rate {100 * cached.hit_rate():.1f}%, bound "
                              f"{cached.bound():.1f}x){verdict}")
        lines += ["", "  ratios (ops/s; bound: 1 / share of requests that reach the server, writes + reads sent):"]
        lines += ratios
    finally:
        for c in clients.values():
            c.close()
    return "\n".join(lines)


def thread_counts_for(threads: Optional[int]) -> List[int]:
    return [1] if not threads or threads == 1 else [1, threads]
