"""The README's install steps, for real: a clean venv (--system-site-packages), then
``pip install --no-build-isolation ./bindings/python``, which builds librcm from the
sources; then ``import rcm`` from elsewhere and the README's quick start examples, run as
written (only the server's address changed to the test server)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from conftest import PLAIN_PORT, SOURCE_DIR

README = SOURCE_DIR / "bindings" / "python" / "README.md"


def readme_block(marker: str) -> str:
    text = README.read_text()
    m = re.search(rf"<!-- {marker} -->\s*```python\n(.*?)```\s*<!-- /{marker} -->", text, re.S)
    assert m, f"no {marker} block in {README}"
    return m.group(1).replace("127.0.0.1:6379", f"127.0.0.1:{PLAIN_PORT}")


def clean_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k != "VIRTUAL_ENV"}
    env["PIP_NO_INPUT"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    root = tmp_path_factory.mktemp("venv")
    env = clean_env()
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(root / "venv")],
                   check=True, env=env, timeout=120)
    py = root / "venv" / "bin" / "python"
    pip = subprocess.run([str(py), "-m", "pip", "install", "--no-build-isolation", "--no-index",
                          str(SOURCE_DIR / "bindings" / "python")],
                         env=env, cwd=root, capture_output=True, text=True, timeout=840)
    if pip.returncode != 0:
        print(pip.stdout[-6000:])
        print(pip.stderr[-6000:])
    assert pip.returncode == 0, "pip install failed (output above)"
    return py, root


def run_py(venv, code: str) -> str:
    py, root = venv
    out = subprocess.run([str(py), "-c", code], env=clean_env(), cwd=root, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_import_from_the_venv(venv):
    py, root = venv
    out = run_py(venv, "import rcm, rcm.asyncio, rcm._native as n, os; "
                       "print(rcm.__file__); print(rcm.LIBRARY_VERSION); print(os.path.dirname(n.__file__))")
    path, version, pkg = out.split("\n")[:3]
    assert path.startswith(str(root / "venv")), path  # the installed copy, not the sources
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    files = os.listdir(pkg)
    assert "librcm.so.0" in files, files
    assert "py.typed" in files and "_native.pyi" in files
    native = next(f for f in files if f.startswith("_native") and f.endswith(".so"))
    ldd = subprocess.run(["ldd", os.path.join(pkg, native)], capture_output=True, text=True).stdout
    assert os.path.join(pkg, "librcm.so.0") in ldd, ldd  # through $ORIGIN, not a system copy
    assert not [f for f in files if f.endswith(".h")], files  # no C headers in the wheel


def test_readme_quick_start_runs_as_written(venv):
    out = run_py(venv, readme_block("quickstart"))
    assert "hello" in out and "server said:" in out


def test_readme_asyncio_quick_start_runs_as_written(venv):
    run_py(venv, "import rcm; rcm.Client('redis://127.0.0.1:%d').delete('counter')" % PLAIN_PORT)
    out = run_py(venv, readme_block("quickstart-asyncio"))
    assert out.strip() == "b'1000'"


def test_module_bench_runs(venv):
    out = run_py(venv, "import rcm.bench, sys; sys.exit(rcm.bench.main(['--smoke', '--only', 'single', "
                       f"'--url', 'redis://127.0.0.1:{PLAIN_PORT}']))")
    assert "single" in out and "rcm" in out
