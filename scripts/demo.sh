#!/usr/bin/env bash
# The rcm demo: installs what is missing, builds, starts throw-away servers on free
# loopback ports and walks through the `rcm` command-line tool against them.
#
#   scripts/demo.sh [standalone]  (default) one server: commands, pipeline, threads, stats
#   scripts/demo.sh cluster       a native 3+3 Valkey Cluster: topology, routing, a split
#                                 MGET, a live CLUSTER FAILOVER under load (0 errors)
#   scripts/demo.sh sentinel      1 primary + 2 replicas + 3 sentinels (the test harness):
#                                 SIGKILL of the primary under load, the failover seen
#                                 by the caller
#   scripts/demo.sh raft          3 RedisRaft nodes (needs REDISRAFT_SO=/path/redisraft.so):
#                                 SIGKILL of the leader under load
#
# Environment:
#   DEMO_PORT   first port to try (default 6390; the next free range is used if taken)
#   BUILD_DIR   build directory (default <repo>/build; an existing one is reused as is)
#   SKIP_DEPS=1 do not run scripts/install_deps.sh
#   LOAD_SECONDS  length of the failover loads (default 10 cluster, 12 sentinel/raft)
#   LOAD_OPTS     rcm options for the load's client, e.g. "-c command_timeout_ms=5000"
#   REDISRAFT_SO  the RedisRaft module for `raft` (never built by this script)
#
# Everything runs in one temporary directory and is stopped (the PIDs it started, through
# the launcher that started them) when the demo ends, however it ends.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
DEMO_PORT=${DEMO_PORT:-6390}
RCM="$BUILD_DIR/tools/rcm"

usage() {
  sed -n '2,23p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

STEP=0
step() {
  STEP=$((STEP + 1))
  printf '\n==> %d. %s\n' "$STEP" "$*"
}

# Shows a command (arguments with blanks or quotes in double quotes, the tool as "rcm"),
# then runs it.
show() {
  local a line="\$"
  for a in "$@"; do
    [ "$a" = "$RCM" ] && a=rcm
    case "$a" in
      *[[:space:]\"\'\\\$]* | "") a="\"${a//\"/\\\"}\"" ;;
    esac
    line="$line $a"
  done
  printf '%s\n' "$line"
  "$@"
}

# Pretty-prints lines that are JSON objects (python3 when there is one), others as they are.
pretty_json() {
  local line
  while IFS= read -r line; do
    if [ "${line#\{}" != "$line" ] && command -v python3 >/dev/null 2>&1 &&
      printf '%s\n' "$line" | python3 -m json.tool 2>/dev/null; then
      continue
    fi
    printf '%s\n' "$line"
  done
}

die() {
  echo "demo: $*" >&2
  exit 1
}

# Lines of `rcm topology` JSON (on stdin, among other lines, which pass as they are) as a
# few lines each: mode, nodes and, for a cluster, one line per shard. Without python3
# everything passes as it is.
topology_summary() {
  if ! command -v python3 >/dev/null 2>&1; then
    cat
    return
  fi
  python3 -c '
import json, sys
for line in sys.stdin:
    try:
        t = json.loads(line) if line.startswith("{") else None
    except ValueError:
        t = None
    if not isinstance(t, dict) or "mode" not in t:
        sys.stdout.write(line)
        continue
    print("mode %s%s" % (t["mode"], ", primary " + t["primary"] if t.get("primary") else ""))
    for n in t.get("nodes", []):
        print("  node %-21s %-9s %s" % (n["address"], n.get("role", "?"), n.get("state", "?")))
    if "shards" in t:
        print("  %s slots covered" % t.get("covered_slots", "?"))
    for s in t.get("shards", []):
        slots = " ".join("%d-%d" % (a, b) for a, b in s["slots"])
        print("  shard %-12s primary %s, replicas %s" % (slots, s["primary"], " ".join(s["replicas"]) or "-"))
'
}

# ---- the server ---------------------------------------------------------------------

SERVER_DIR=""
SERVER_PID=""

stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    local i
    for i in $(seq 1 50); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "demo: server $SERVER_PID did not stop after SIGTERM (waited ${i}x0.1 s); SIGKILL" >&2
      kill -9 "$SERVER_PID" 2>/dev/null || true
    fi
  fi
  SERVER_PID=""
  if [ -n "$SERVER_DIR" ] && [ -d "$SERVER_DIR" ]; then
    rm -rf -- "$SERVER_DIR"
  fi
  SERVER_DIR=""
}

# What the failover demos started, stopped by on_exit in reverse order of starting.
DEMO_DIR=""  # this run's temporary directory (servers' data, logs, the load's output)
STOP_FN=""   # the function that stops the deployment (through its own launcher)
LOAD_PID=""  # the background `rcm load`
TAIL_PID=""  # the `tail -f` that shows its output live

stop_load() {
  if [ -n "$LOAD_PID" ] && kill -0 "$LOAD_PID" 2>/dev/null; then
    kill "$LOAD_PID" 2>/dev/null || true
    wait "$LOAD_PID" 2>/dev/null || true
  fi
  LOAD_PID=""
  if [ -n "$TAIL_PID" ] && kill -0 "$TAIL_PID" 2>/dev/null; then
    kill "$TAIL_PID" 2>/dev/null || true
    wait "$TAIL_PID" 2>/dev/null || true
  fi
  TAIL_PID=""
}

on_exit() {
  local status=$?
  trap - EXIT INT TERM
  stop_load
  if [ -n "$STOP_FN" ]; then
    "$STOP_FN" || echo "demo: stopping the servers reported a problem (see above)" >&2
    STOP_FN=""
  fi
  stop_server
  if [ -n "$DEMO_DIR" ] && [ -d "$DEMO_DIR" ]; then
    rm -rf -- "$DEMO_DIR"
  fi
  if [ "$status" -ne 0 ]; then echo "demo: failed (exit $status)" >&2; fi
  exit "$status"
}

arm_cleanup() {
  trap on_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

port_in_use() {
  # A successful connect means someone listens there.
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pick_port() {
  local port=$DEMO_PORT
  local last=$((DEMO_PORT + 50))
  while [ "$port" -le "$last" ]; do
    if ! port_in_use "$port"; then
      echo "$port"
      return 0
    fi
    port=$((port + 1))
  done
  return 1
}

start_server() {
  local server
  server=$(command -v valkey-server || command -v redis-server || true)
  [ -n "$server" ] || die "neither valkey-server nor redis-server found (scripts/install_deps.sh installs them)"
  PORT=$(pick_port) || die "no free port in $DEMO_PORT..$((DEMO_PORT + 50))"
  SERVER_DIR=$(mktemp -d "${TMPDIR:-/tmp}/rcm-demo.XXXXXX")
  "$server" --port "$PORT" --bind 127.0.0.1 --dir "$SERVER_DIR" \
    --daemonize yes --pidfile "$SERVER_DIR/server.pid" --logfile "$SERVER_DIR/server.log" \
    --save "" --appendonly no >/dev/null
  local i
  for i in $(seq 1 100); do
    if [ -s "$SERVER_DIR/server.pid" ]; then
      SERVER_PID=$(cat "$SERVER_DIR/server.pid")
      if "$RCM" -u "redis://127.0.0.1:$PORT" PING >/dev/null 2>&1; then
        echo "$(basename "$server") pid $SERVER_PID listening on 127.0.0.1:$PORT (data in $SERVER_DIR)"
        return 0
      fi
    fi
    sleep 0.1
  done
  [ -f "$SERVER_DIR/server.log" ] && tail -n 20 "$SERVER_DIR/server.log" >&2
  die "the server on port $PORT did not answer PING within 10 s (tried $i times)"
}

# True when none of the ports base+offset is taken.
ports_free() {
  local base=$1 off
  shift
  for off in "$@"; do
    [ $((base + off)) -le 65535 ] || return 1
    if port_in_use $((base + off)); then return 1; fi
  done
}

# Prints the first base (first, first+10, ... 50 tries) at which every base+offset is free.
pick_base() {
  local first=$1 base k
  shift
  for k in $(seq 0 49); do
    base=$((first + 10 * k))
    if ports_free "$base" "$@"; then
      echo "$base"
      return 0
    fi
  done
  return 1
}

pick_cli() {
  CLI=$(command -v valkey-cli || command -v redis-cli || true)
  [ -n "$CLI" ] || die "neither valkey-cli nor redis-cli found (scripts/install_deps.sh installs them)"
}

# cli <port> ARGS...: the server's own CLI, password from the environment (not argv).
cli() {
  local port=$1
  shift
  REDISCLI_AUTH=abc123 "$CLI" --no-auth-warning -h 127.0.0.1 -p "$port" "$@"
}

# sentinel_cli <port> ARGS...: the same for a sentinel (they have no password).
sentinel_cli() {
  local port=$1
  shift
  "$CLI" -h 127.0.0.1 -p "$port" "$@"
}

# ---- a load in the background, shown live --------------------------------------------

LOAD_LOG=""

# start_load <url> <rcm load options...>: runs `rcm -u url load ...` in the background,
# its output in $LOAD_LOG and on the terminal as it comes.
start_load() {
  local url=$1 opts=()
  shift
  read -r -a opts <<<"${LOAD_OPTS:-}"
  LOAD_LOG="$DEMO_DIR/load.log"
  : >"$LOAD_LOG" # exists before tail looks for it
  printf '$ rcm -u %s %sload %s &\n' "$url" "${LOAD_OPTS:+$LOAD_OPTS }" "$*"
  "$RCM" -u "$url" "${opts[@]}" load "$@" >"$LOAD_LOG" 2>&1 &
  LOAD_PID=$!
  tail -n +1 -f --pid="$LOAD_PID" "$LOAD_LOG" &
  TAIL_PID=$!
}

# wait_load <bound_seconds>: waits for the load to end (it bounds itself; past the bound
# it is stopped); prints nothing, returns the load's exit status.
wait_load() {
  local bound=$1 deadline rc=0
  deadline=$((SECONDS + bound))
  while kill -0 "$LOAD_PID" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
    sleep 0.2
  done
  if kill -0 "$LOAD_PID" 2>/dev/null; then
    echo "demo: the load did not end within ${bound} s; stopping it" >&2
    kill "$LOAD_PID" 2>/dev/null || true
  fi
  wait "$LOAD_PID" || rc=$?
  LOAD_PID=""
  wait "$TAIL_PID" 2>/dev/null || true
  TAIL_PID=""
  return "$rc"
}

# The number of failed requests in the load's summary line.
load_errors() {
  sed -n 's/^summary: .* ok, \([0-9][0-9]*\) errors.*/\1/p' "$LOAD_LOG"
}

# mark_fault: tells the load (SIGUSR1) that the fault happened now.
mark_fault() {
  kill -USR1 "$LOAD_PID" 2>/dev/null || echo "demo: the load is not running any more" >&2
}

# sigkill_server <pid> <port>: SIGKILL, after checking that the PID is still the server
# on that port (one we started).
sigkill_server() {
  local pid=$1 port=$2 cmdline
  if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then die "no live process '$pid' for port $port"; fi
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
  case "$cmdline" in
    *"$port"*) ;;
    *) die "pid $pid is not the server on port $port ($cmdline)" ;;
  esac
  kill -KILL "$pid"
}

# ---- the steps ------------------------------------------------------------------------

install_and_build() {
  if [ "${SKIP_DEPS:-0}" != 1 ]; then
    step "Install the Debian packages rcm needs (does nothing when all are there)"
    show "$ROOT/scripts/install_deps.sh"
  fi

  step "Build librcm and the rcm tool (cmake, $BUILD_DIR)"
  if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
    show cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRCM_BUILD_TESTS=OFF
  fi
  show cmake --build "$BUILD_DIR" --target rcm_cli -j "$(nproc 2>/dev/null || echo 2)"
  [ -x "$RCM" ] || die "the build did not produce $RCM"
}

demo_standalone() {
  install_and_build

  step "Start a throw-away valkey-server on a free loopback port (stopped when the demo ends)"
  arm_cleanup
  start_server
  local url="redis://127.0.0.1:$PORT"

  step "The tool and the library it loaded"
  show "$RCM" version

  step "One command per call: the reply prints the way redis-cli prints it"
  show "$RCM" -u "$url" SET demo:greeting "hello from rcm"
  show "$RCM" -u "$url" GET demo:greeting
  show "$RCM" -u "$url" INCR demo:visits
  show "$RCM" -u "$url" INCR demo:visits
  show "$RCM" -u "$url" GET demo:nothing-here

  step "A server error is a reply, not a crash: it prints as (error) and the exit status is 1"
  show "$RCM" -u "$url" INCR demo:greeting || echo "(exit status $?)"

  step "A pipeline: commands from stdin, written together on one connection, replies in order"
  printf '$ rcm -u %s pipeline <<EOF\n' "$url"
  local commands
  commands=$(cat <<'EOF'
RPUSH demo:list one two "three and four"
LRANGE demo:list 0 -1
HSET demo:user name Ada lang C
HGETALL demo:user
INCRBY demo:visits 40
GET demo:visits
EOF
)
  printf '%s\nEOF\n' "$commands"
  printf '%s\n' "$commands" | "$RCM" -u "$url" pipeline

  step "8 threads share ONE client, each checks its own SET/GET replies; then that client's stats"
  show "$RCM" -u "$url" threads 8 2000 --stats | pretty_json

  step "The topology as the client sees it"
  show "$RCM" -u "$url" topology | pretty_json

  step "Done; the server stops now. Next: $RCM --help, and '$RCM -u URL bench' on a server of your own"
}

# ---- cluster ----------------------------------------------------------------------------

CLUSTER_BASE=""

stop_cluster() {
  BASE_PORT=$CLUSTER_BASE DATA_DIR="$DEMO_DIR/cluster" \
    "$ROOT/scripts/start_valkey_cluster.sh" --native --stop | sed 's/^/    /'
}

demo_cluster() {
  install_and_build
  pick_cli

  step "Start a native Valkey Cluster, 3 primaries + 3 replicas, password abc123 (stopped when the demo ends)"
  arm_cleanup
  DEMO_DIR=$(mktemp -d "${TMPDIR:-/tmp}/rcm-demo-cluster.XXXXXX")
  CLUSTER_BASE=$(pick_base "$DEMO_PORT" 1 2 3 4 5 6 10001 10002 10003 10004 10005 10006) ||
    die "no free port range from $DEMO_PORT on (6 ports and their bus ports +10000)"
  local p1=$((CLUSTER_BASE + 1)) p2=$((CLUSTER_BASE + 2)) p3=$((CLUSTER_BASE + 3))
  printf '$ BASE_PORT=%s DATA_DIR=%s scripts/start_valkey_cluster.sh --native\n' "$CLUSTER_BASE" "$DEMO_DIR/cluster"
  STOP_FN=stop_cluster
  if ! BASE_PORT=$CLUSTER_BASE DATA_DIR="$DEMO_DIR/cluster" \
    "$ROOT/scripts/start_valkey_cluster.sh" --native >"$DEMO_DIR/cluster-start.log" 2>&1; then
    tail -n 30 "$DEMO_DIR/cluster-start.log" >&2
    die "the cluster did not start"
  fi
  grep -E '^cluster_(state|slots_assigned|size):|connected' "$DEMO_DIR/cluster-start.log" | sed 's/^/    /'
  local url="redis+cluster://:abc123@127.0.0.1:$p1,127.0.0.1:$p2,127.0.0.1:$p3"

  step "The topology as the client sees it: shards, slot ranges, primaries and replicas"
  show "$RCM" -u "$url" topology | topology_summary

  step "Routing: each key goes to the primary that owns its hash slot"
  show "$RCM" -u "$url" SET user:1 Ada
  show "$RCM" -u "$url" SET user:2 Grace
  show "$RCM" -u "$url" SET user:3 Barbara
  show "$RCM" -u "$url" SET user:4 Frances
  show "$RCM" -u "$url" SET "{user:1}:email" ada@example.org
  show "$RCM" -u "$url" where user:1 user:2 user:3 user:4 "{user:1}:email"
  echo "(the slot is the server's own CLUSTER KEYSLOT, sent along the key's route; the node"
  echo " is the address of the server that answered. The same, one command at a time:)"
  show "$RCM" -u "$url" --key user:1 CLUSTER KEYSLOT user:1
  show "$RCM" -u "$url" GET user:3
  show "$RCM" -u "$url" --all-primaries DBSIZE

  step "Multi-key commands across slots: MGET/MSET/DEL are split per slot and put back in order"
  show "$RCM" -u "$url" MGET user:1 user:2 user:3 user:4 user:nobody
  show "$RCM" -u "$url" MSET city:1 Paris city:2 Oslo city:3 Lima
  show "$RCM" -u "$url" MGET city:3 city:1 city:2
  show "$RCM" -u "$url" DEL city:1 city:2 city:3
  echo "(others are refused before anything is sent, unless a {hash tag} puts the keys in one slot:)"
  show "$RCM" -u "$url" RENAME user:1 user:2 || echo "(exit status $?)"
  show "$RCM" -u "$url" RENAME "{user:1}:email" "{user:1}:mail"

  step "A live CLUSTER FAILOVER on a replica while 4 threads run SET/GET on one client"
  local replica primary_id primary
  replica=$(cli "$p1" CLUSTER NODES | awk '$3 ~ /slave/ { sub(/@.*/, "", $2); print $2; exit }')
  primary_id=$(cli "$p1" CLUSTER NODES | awk '$3 ~ /slave/ { print $4; exit }')
  primary=$(cli "$p1" CLUSTER NODES | awk -v id="$primary_id" '$1 == id { sub(/@.*/, "", $2); print $2 }')
  if [ -z "$replica" ] || [ -z "$primary" ]; then die "could not find a replica and its primary in CLUSTER NODES"; fi
  echo "replica $replica of primary $primary takes over its slots in 3 s. Meanwhile the old"
  echo "primary holds writes until the replica has taken over (Valkey gives a manual failover"
  echo "up after 5 s), so the load's requests get a deadline longer than that:"
  echo "command_timeout_ms=6000 (with the default 1000 a slow takeover shows as RCM_ERR_TIMEOUT)."
  local seconds=${LOAD_SECONDS:-10}
  LOAD_OPTS=${LOAD_OPTS:--c command_timeout_ms=6000}
  start_load "$url" --seconds "$seconds" --threads 4
  sleep 3
  show "$RCM" -u "$url" --node "$replica" CLUSTER FAILOVER
  local rc=0
  wait_load $((seconds + 30)) || rc=$?
  local errors
  errors=$(load_errors)

  step "After the failover"
  show "$RCM" -u "$url" --node "$replica" ROLE
  show "$RCM" -u "$url" where user:1 user:2 user:3 user:4
  printf '\nthe caller saw %s errors during the failover (expected 0); load exit status %s\n' "${errors:-?}" "$rc"
  [ "${errors:-1}" = 0 ] || die "requests failed during a coordinated failover"

  step "Done; the cluster stops now. Next: '$RCM -u \"$url\" bench' (rcm bench --help)"
}

# ---- sentinel ---------------------------------------------------------------------------

SENTINEL_BASE=""

stop_sentinel() {
  "$ROOT/tests/harness/rcm_harness.sh" down sentinel "$SENTINEL_BASE" "$DEMO_DIR/state" 2>&1 | sed 's/^/    /'
}

# The port of the master the sentinels name now.
sentinel_master_port() {
  sentinel_cli "$((SENTINEL_BASE + 25))" SENTINEL get-master-addr-by-name mymaster | sed -n 2p
}

demo_sentinel() {
  install_and_build
  pick_cli

  step "Start 1 primary + 2 replicas + 3 sentinels (the test harness; stopped when the demo ends)"
  arm_cleanup
  DEMO_DIR=$(mktemp -d "${TMPDIR:-/tmp}/rcm-demo-sentinel.XXXXXX")
  # The harness puts the primary at base+20, replicas at +21 +22, sentinels at +25..+27.
  SENTINEL_BASE=$(pick_base "$((DEMO_PORT - 20))" 20 21 22 25 26 27) ||
    die "no free port range from $DEMO_PORT on"
  local s1=$((SENTINEL_BASE + 25)) s2=$((SENTINEL_BASE + 26)) s3=$((SENTINEL_BASE + 27))
  STOP_FN=stop_sentinel
  if ! show "$ROOT/tests/harness/rcm_harness.sh" up sentinel "$SENTINEL_BASE" "$DEMO_DIR/state" 2>&1 |
    sed 's/^/    /'; then
    die "the sentinel topology did not start"
  fi
  local url="redis+sentinel://127.0.0.1:$s1,127.0.0.1:$s2,127.0.0.1:$s3/mymaster?password=abc123"

  step "The client asks the sentinels for the master of 'mymaster' and connects to it"
  show "$RCM" -u "$url" topology | topology_summary
  show "$RCM" -u "$url" SET greeting "hello through sentinel"
  show "$RCM" -u "$url" ROLE

  step "SIGKILL of the primary while 4 threads run SET/GET on one client"
  local seconds=${LOAD_SECONDS:-12} port pid
  port=$(sentinel_master_port)
  pid=$(awk -v p="$port" '$2 == p { print $1 }' "$DEMO_DIR/state/sentinel/pids")
  start_load "$url" --seconds "$seconds" --threads 4
  sleep 3
  echo ">>> kill -KILL $pid   # the primary, 127.0.0.1:$port (its PID from the harness state dir)"
  sigkill_server "$pid" "$port"
  mark_fault
  local rc=0
  wait_load $((seconds + 30)) || rc=$?

  step "What the caller saw"
  report_failover "$rc"
  echo "the sentinels now name 127.0.0.1:$(sentinel_master_port) as the master of mymaster"
  show "$RCM" -u "$url" GET greeting

  step "Done; the servers stop now"
}

# ---- raft -------------------------------------------------------------------------------

RAFT_BASE=""

stop_raft() {
  PORT_BASE=$RAFT_BASE DATA_DIR="$DEMO_DIR/raft" \
    "$ROOT/scripts/start_redis_raft_cluster.sh" --native --stop | sed 's/^/    /'
}

# The node number (1..3) of the Raft leader, asked of every node that answers.
raft_leader() {
  local n role
  for n in 1 2 3; do
    role=$(cli "$((RAFT_BASE + n - 1))" INFO raft 2>/dev/null | tr -d '\r' | sed -n 's/^raft_role://p')
    if [ "$role" = leader ]; then
      echo "$n"
      return 0
    fi
  done
  return 1
}

demo_raft() {
  if [ -z "${REDISRAFT_SO:-}" ]; then
    echo "demo.sh raft: set REDISRAFT_SO=/path/to/redisraft.so (a RedisRaft module you built;" >&2
    echo "this repository neither ships nor builds one), e.g." >&2
    echo "  REDISRAFT_SO=\$HOME/redisraft/redisraft.so scripts/demo.sh raft" >&2
    exit 2
  fi
  [ -f "$REDISRAFT_SO" ] || die "REDISRAFT_SO=$REDISRAFT_SO is not a file"
  install_and_build
  pick_cli

  step "Start 3 RedisRaft nodes (valkey-server + $REDISRAFT_SO; stopped when the demo ends)"
  arm_cleanup
  DEMO_DIR=$(mktemp -d "${TMPDIR:-/tmp}/rcm-demo-raft.XXXXXX")
  RAFT_BASE=$(pick_base "$DEMO_PORT" 0 1 2) || die "no free port range from $DEMO_PORT on"
  local p1=$RAFT_BASE p2=$((RAFT_BASE + 1)) p3=$((RAFT_BASE + 2))
  printf '$ REDISRAFT_SO=%s PORT_BASE=%s DATA_DIR=%s scripts/start_redis_raft_cluster.sh --native\n' \
    "$REDISRAFT_SO" "$RAFT_BASE" "$DEMO_DIR/raft"
  STOP_FN=stop_raft
  if ! PORT_BASE=$RAFT_BASE DATA_DIR="$DEMO_DIR/raft" \
    "$ROOT/scripts/start_redis_raft_cluster.sh" --native >"$DEMO_DIR/raft-start.log" 2>&1; then
    tail -n 30 "$DEMO_DIR/raft-start.log" >&2
    die "the Raft group did not start"
  fi
  grep -E 'cluster up|  node [0-9]' "$DEMO_DIR/raft-start.log" | sed 's/^/    /'
  local url="redis+raft://:abc123@127.0.0.1:$p1,127.0.0.1:$p2,127.0.0.1:$p3"

  step "The client finds the leader and sends every command there"
  show "$RCM" -u "$url" topology | topology_summary
  show "$RCM" -u "$url" SET greeting "hello through raft"

  step "SIGKILL of the leader while 4 threads run SET/GET on one client"
  local seconds=${LOAD_SECONDS:-12} n port pid
  n=$(raft_leader) || die "no node says it is the leader"
  port=$((RAFT_BASE + n - 1))
  pid=$(tr -dc '0-9' <"$DEMO_DIR/raft/node$n/redis_$port.pid")
  start_load "$url" --seconds "$seconds" --threads 4
  sleep 3
  echo ">>> kill -KILL $pid   # the leader, node $n 127.0.0.1:$port (its PID from its pidfile)"
  sigkill_server "$pid" "$port"
  mark_fault
  local rc=0
  wait_load $((seconds + 30)) || rc=$?

  step "What the caller saw"
  report_failover "$rc"
  if n=$(raft_leader); then echo "the new leader is node $n, 127.0.0.1:$((RAFT_BASE + n - 1))"; fi
  show "$RCM" -u "$url" GET greeting

  step "Done; the servers stop now"
}

# What the caller saw across the kill, from the load's output: failures by status, the
# PRIMARY_CHANGED events, and the times from the kill (the load's mark).
report_failover() {
  local rc=$1
  sed -n 's/^summary: [^:]*: /seen by the caller: /p; s/^  errors by status: /failed, by status: /p' "$LOAD_LOG"
  echo "PRIMARY_CHANGED events:"
  grep -E 'event primary-changed' "$LOAD_LOG" | sed 's/^/  /' || echo "  none"
  sed -n 's/^    first PRIMARY_CHANGED event  +\([0-9]*\) ms.*/kill -> first PRIMARY_CHANGED event: \1 ms/p
          s/^    first success of a request sent after the mark  +\([0-9]*\) ms/kill -> first success on the new primary (a request sent after the kill): \1 ms/p
          s/^  longest stretch without a success: \(.*\)/longest stretch without any success: \1/p' "$LOAD_LOG"
  echo "(load exit status $rc: 1 when requests failed. A SIGKILL of the writable node makes some"
  echo " unavoidable: a write sent but unanswered is RCM_ERR_UNCERTAIN, never resent on its own;"
  echo " a request whose deadline, command_timeout_ms, passes before a new primary is known is"
  echo " RCM_ERR_TIMEOUT: try LOAD_OPTS=\"-c command_timeout_ms=5000\" scripts/demo.sh ...)"
}

# ---- main -------------------------------------------------------------------------------

case "${1:-standalone}" in
  standalone) demo_standalone ;;
  cluster) demo_cluster ;;
  sentinel) demo_sentinel ;;
  raft) demo_raft ;;
  -h | --help | help) usage ;;
  *)
    echo "demo.sh: unknown demo '$1' (standalone, cluster, sentinel, raft)" >&2
    usage >&2
    exit 2
    ;;
esac
