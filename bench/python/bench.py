#!/usr/bin/env python3
"""rcm vs redis-py in one run on the same server (the code is rcm/bench.py, also run as
`python -m rcm.bench` where rcm is installed).

From a build tree (cmake -DRCM_BUILD_PYTHON=ON), without installing:
    /usr/bin/python3 bench/python/bench.py --build build-py [--url redis://127.0.0.1:6379]
Without --url it starts a server of its own. `--help` lists the workloads and options.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def _use_build_tree(argv):
    build = None
    if "--build" in argv:
        i = argv.index("--build")
        build = argv[i + 1]
        del argv[i:i + 2]
    candidates = [build] if build else [os.environ.get("RCM_PYTHON_BUILD"), os.path.join(REPO, "build-py"),
                                        os.path.join(REPO, "build")]
    for b in candidates:
        if b and os.path.isdir(os.path.join(b, "bindings", "python", "rcm")):
            sys.path.insert(0, os.path.join(b, "bindings", "python"))
            return
    if build:
        sys.exit(f"{build}/bindings/python/rcm not found: configure with -DRCM_BUILD_PYTHON=ON and build")


if __name__ == "__main__":
    argv = sys.argv[1:]
    try:
        import rcm  # noqa: F401 - PYTHONPATH or an installed package wins
    except ImportError:
        _use_build_tree(argv)
    from rcm.bench import main

    sys.exit(main(argv))
