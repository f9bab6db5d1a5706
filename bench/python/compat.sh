#!/usr/bin/env bash
# redis-py compatibility: runs redis-py's own test suite (tag v4.3.4) once with redis-py and
# once with rcm.Client behind its fixtures (rcm_compat_plugin.py; no assertion changed),
# against a private valkey-server, and prints per test file redis-py's pass count, rcm's,
# and rcm's failures grouped by cause (compat_report.py). Fetches nothing.
#
#   bench/python/compat.sh <redis-py source tree or its tests/ dir> [--asyncio] [--list] [pytest args...]
#
# --asyncio runs tests/test_asyncio/ instead (it needs pytest-asyncio, Debian's
# python3-pytest-asyncio): redis.asyncio.Redis behind its create_redis fixture is replaced
# by rcm.asyncio.Client.from_url(url, **kwargs).
#
# Environment:
#   RCM_COMPAT_PORT     the private server's port (default 19695)
#   RCM_COMPAT_PYTHONPATH  where `import rcm` is found (default: build/bindings/python)
#   RCM_COMPAT_ONLY     "rcm": skip redis-py's run and reuse the last one in RCM_COMPAT_DIR
#   RCM_COMPAT_DIR      where the records and the server's files go (default /tmp/rcm-compat-<port>)
#   PYTHON              the interpreter with pytest and redis-py 4.3.4's test dependencies
#                       (default /usr/bin/python3)
# Selection: the standalone one, -m "not onlycluster and not redismod", test_ssl.py left
# out; test_asyncio/ is the --asyncio run. The tests of redis-py's internals
# named in compat_exclusions.py are deselected in both runs.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
[ $# -ge 1 ] || { sed -n 2,22p "$0"; exit 2; }
tests=$(cd "$1" && pwd); shift
[ -f "$tests/conftest.py" ] || tests="$tests/tests"
[ -f "$tests/conftest.py" ] || { echo "compat.sh: no conftest.py in $tests" >&2; exit 2; }
root=$(dirname "$tests")
list=""
suite=""
while [ $# -gt 0 ]; do
  case "$1" in
    --list) list=--list; shift ;;
    --asyncio) suite=-asyncio; shift ;;
    *) break ;;
  esac
done

port=${RCM_COMPAT_PORT:-19695}
dir=${RCM_COMPAT_DIR:-/tmp/rcm-compat-$port}
py=${PYTHON:-/usr/bin/python3}
rcm_path=${RCM_COMPAT_PYTHONPATH:-$src/build/bindings/python}
server=$(command -v valkey-server || command -v redis-server)
mkdir -p "$dir"

# The private server: no persistence; stopped by its PID on exit. Its port must be free:
# the suite flushes databases, and must never run against a server someone else uses.
if "$py" -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1',$port)) != 0)"; then
  echo "compat.sh: something already listens on 127.0.0.1:$port (set RCM_COMPAT_PORT)" >&2
  exit 1
fi
"$server" --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" \
  --daemonize yes --pidfile "$dir/server.pid" --logfile "$dir/server.log" --enable-debug-command yes >/dev/null
stop() { if [ -f "$dir/server.pid" ]; then kill "$(cat "$dir/server.pid")" 2>/dev/null || true; fi; }
trap stop EXIT
for i in $(seq 50); do
  "$py" -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1',$port)))" && break
  [ "$i" -lt 50 ] || { echo "compat.sh: the server did not start (see $dir/server.log)" >&2; exit 1; }
  sleep 0.1
done

files=()
pattern="$tests/test_*.py"
[ -z "$suite" ] || pattern="$tests/test_asyncio/test_*.py"
for f in $pattern; do
  case "$(basename "$f")" in test_ssl.py) ;; *) files+=("$f") ;; esac
done

run() {  # run <redis|rcm> [pytest args...]
  local who=$1; shift
  local rec=$dir/$who$suite
  rm -f "$rec.jsonl"
  echo "== redis-py's ${suite:+asyncio }tests with $who behind the fixtures (log: $rec.log)" >&2
  (cd "$root" && PYTHONPATH="$here:$rcm_path${PYTHONPATH:+:$PYTHONPATH}" RCM_COMPAT_CLIENT=$who \
     RCM_COMPAT_OUT="$rec.jsonl" timeout 1800 "$py" -m pytest -p no:cacheprovider -p rcm_compat_plugin \
     -q -m "not onlycluster and not redismod" --redis-url="redis://127.0.0.1:$port/9" "$@" "${files[@]}" \
     >"$rec.log" 2>&1) || true
  tail -1 "$rec.log" >&2
}

[ "${RCM_COMPAT_ONLY:-}" = rcm ] || run redis "$@"
run rcm "$@"
PYTHONPATH="$here" "$py" "$here/compat_report.py" "$dir/redis$suite.jsonl" "$dir/rcm$suite.jsonl" $list
