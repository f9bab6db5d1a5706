"""The table of bench/python/compat.sh: per test file, how many tests that build a client
pass with redis-py and with rcm, and rcm's failures grouped by cause.

    compat_report.py REDIS_JSONL RCM_JSONL [--list]

Both files are written by rcm_compat_plugin.py (one JSON record per test). A test
counts when, in redis-py's run, it built a client through the fixtures and passed; the
tests of redis-py's internals (compat_exclusions.py) were deselected in both runs. A cause
is the first exception's type and the shape of its message (quoted names, numbers and
addresses replaced); --list prints every failing test under its cause.
"""

from __future__ import annotations

import collections
import json
import re
import sys
from typing import Dict, List, Tuple


_SHAPES = [
    (re.compile(r"has no attribute '[^']*'"), "has no attribute <name>"),
    (re.compile(r"'[^']*'|\"[^\"]*\"|b'[^']*'"), "<q>"),
    (re.compile(r"\b[0-9a-f]{40}\b"), "<sha>"),
    (re.compile(r"\b\d+(\.\d+)?\b"), "<n>"),
    (re.compile(r"0x[0-9a-f]+"), "<addr>"),
]


def shape(etype: str, msg: str) -> str:
    s = msg
    for rx, rep in _SHAPES:
        s = rx.sub(rep, s)
    s = s if len(s) <= 90 else s[:87] + "..."
    return f"{etype}: {s}"


def detail(etype: str, msg: str) -> str:
    """What the shape hid and is worth counting: the missing attribute's name."""
    m = re.search(r"has no attribute '([^']*)'", msg)
    return m.group(1) if m else ""


def load(path: str) -> Dict[str, dict]:
    out: Dict[str, dict] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                rec = json.loads(line)
                out[rec["nodeid"]] = rec
    return out


def main(argv: List[str]) -> int:
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    base, rcm = load(argv[1]), load(argv[2])
    listing = "--list" in argv
    counted = [n for n, r in base.items() if r["client"] and r["outcome"] == "passed"]
    per_file: Dict[str, List[int]] = collections.defaultdict(lambda: [0, 0])
    causes: Dict[str, List[str]] = collections.defaultdict(list)
    details: Dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for n in counted:
        f = n.split("::", 1)[0]
        per_file[f][0] += 1
        r = rcm.get(n)
        if r is not None and r["outcome"] == "passed":
            per_file[f][1] += 1
            continue
        if r is None:
            key = "not run with rcm (the run stopped early?)"
        elif r["outcome"] == "skipped":
            key = "skipped with rcm: " + (r.get("msg") or "")
        else:
            key = shape(r["etype"], r["msg"])
            d = detail(r["etype"], r["msg"])
            if d:
                details[key][d] += 1
        causes[key].append(n)

    total = [sum(v[0] for v in per_file.values()), sum(v[1] for v in per_file.values())]
    print(f"{'file':<40} {'redis-py':>8} {'rcm':>6}")
    for f in sorted(per_file):
        print(f"{f:<40} {per_file[f][0]:>8} {per_file[f][1]:>6}")
    pct = 100.0 * total[1] / total[0] if total[0] else 0.0
    print(f"{'total':<40} {total[0]:>8} {total[1]:>6}  ({pct:.1f} %)")
    excluded = sorted((n, r["msg"]) for n, r in base.items() if r["outcome"] == "excluded")
    print(f"\nNot counted: {len(excluded)} tests of redis-py's internals (compat_exclusions.py, "
          f"deselected in both runs); {sum(1 for r in base.values() if r['outcome'] != 'excluded' and not r['client'])} "
          f"that build no client through the fixtures; "
          f"{sum(1 for r in base.values() if r['client'] and r['outcome'] not in ('passed', 'excluded'))} "
          f"that fail or skip with redis-py itself.")
    if listing:
        for n, why in excluded:
            print(f"  excluded {n}: {why}")
    print(f"\nrcm's failures by cause ({total[0] - total[1]} tests):")
    for key, tests in sorted(causes.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        print(f"{len(tests):>5}  {key}")
        if details.get(key):
            names = ", ".join(f"{d} ({c})" if c > 1 else d for d, c in details[key].most_common())
            print(f"       {names}")
        if listing:
            for t in tests:
                print(f"         {t}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
