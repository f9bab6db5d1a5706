#!/usr/bin/env python3
"""The public methods of redis-py (as installed: the measure is 4.3.4) that rcm's classes
lack: redis.commands.core's mixins and redis.Redis against rcm.Client, redis.client.Pipeline
against rcm.Pipeline, redis.asyncio.Redis against rcm.asyncio.Client, redis.RedisCluster
against rcm.Client. Prints one line per comparison and the missing names; exits 0.

    PYTHONPATH=<build>/bindings/python python3 bench/python/api_gap.py
"""

import inspect
import sys


def public(cls):
    return {n for n in dir(cls) if not n.startswith("_")}


def main() -> int:
    try:
        import redis
        import redis.asyncio
        import redis.commands.core as core
        from redis.client import Pipeline
    except ImportError:
        print("redis-py is not importable: nothing to compare with")
        return 0
    import rcm
    import rcm.asyncio

    core_methods = set()
    for name, cls in vars(core).items():
        if inspect.isclass(cls) and name.endswith("Commands") and not name.startswith("Async"):
            core_methods |= {n for n, f in vars(cls).items() if inspect.isfunction(f) and not n.startswith("_")}
    comparisons = [
        ("redis.commands.core mixins", core_methods, rcm.Client),
        ("redis.Redis (beyond core)", public(redis.Redis) - core_methods, rcm.Client),
        ("redis.client.Pipeline", public(Pipeline), rcm.Pipeline),
        ("redis.asyncio.Redis", public(redis.asyncio.Redis), rcm.asyncio.Client),
        ("redis.RedisCluster", public(redis.RedisCluster), rcm.Client),
    ]
    print(f"redis-py {redis.__version__} against rcm {rcm.__version__}")
    for title, theirs, ours in comparisons:
        gap = sorted(theirs - public(ours))
        print(f"{title} -> {ours.__module__}.{ours.__name__}: {len(gap)} missing")
        if gap:
            print("  " + " ".join(gap))
    return 0


if __name__ == "__main__":
    sys.exit(main())
