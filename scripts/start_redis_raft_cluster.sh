#!/usr/bin/env bash
# Start (or stop) a 3-node RedisRaft cluster.
#
#   scripts/start_redis_raft_cluster.sh                 Docker (the seed's recipe)
#   REDISRAFT_SO=/path/redisraft.so \
#     scripts/start_redis_raft_cluster.sh --native      the machine's valkey-server/redis-server
#   scripts/start_redis_raft_cluster.sh --stop [--native]
#   scripts/start_redis_raft_cluster.sh --help
#
# Written for the RedisRaft module as it is today (RedisLabs/redisraft, main branch):
#   * options are module configs named raft.<name> (raft.addr, raft.id, raft.log-filename,
#     raft.cluster-password, raft.follower-proxy, ...), given as `--raft.<name> value` on
#     the command line or `raft.<name> value` lines in a config file. Words after the .so
#     on a loadmodule line are NOT read by the module (it ignores its load arguments).
#   * Raft traffic uses the Redis port itself: there is no separate raft port.
#   * the cluster is formed with RAFT.CLUSTER INIT on one node and
#     RAFT.CLUSTER JOIN <host:port> on the others; status is in `INFO raft`.
#   * with requirepass, raft.cluster-password must be set too: nodes AUTH to each other
#     with raft.cluster-user (default "default") / raft.cluster-password.
# The seed's older recipe (raft-addr 127.0.0.1:5001..5003, RAFT.CLUSTER CREATE, RAFT.INFO)
# is accepted where harmless: PUBLISH_RAFT_PORTS is a no-op, CREATE is only tried when INIT
# is unknown, RAFT.INFO only when INFO raft is empty.
#
# This script never builds RedisRaft; give it a module you built (REDISRAFT_SO) or an
# image that has one.
set -euo pipefail

NODES=3

# Unset: abc123 (the seed's password). Empty: no password.
REDIS_PASSWORD="${REDIS_PASSWORD-abc123}"
IMAGE_NAME="${IMAGE_NAME:-redis:8.4-alpine}"
ENABLE_REDISRAFT_MODULE="${ENABLE_REDISRAFT_MODULE:-0}"
REDISRAFT_SO="${REDISRAFT_SO:-}"
USE_IMAGE_REDISRAFT="${USE_IMAGE_REDISRAFT:-0}"
CONTAINER_MODULE_PATH="${CONTAINER_MODULE_PATH:-/opt/redisraft/redisraft.so}"
PUBLISH_RAFT_PORTS="${PUBLISH_RAFT_PORTS:-0}"
PUBLISH_PORTS="${PUBLISH_PORTS:-1}"
NETWORK="${NETWORK:-redis-raft-net}"
CONTAINER_PREFIX="${CONTAINER_PREFIX:-redis-raft-}"
CONTAINER_CLI="${CONTAINER_CLI:-redis-cli}"
PORT_BASE="${PORT_BASE:-6379}"
DATA_DIR="${DATA_DIR:-./data}"
FOLLOWER_PROXY="${FOLLOWER_PROXY:-no}"
KEEP_DATA="${KEEP_DATA:-0}"
READY_TIMEOUT="${READY_TIMEOUT:-30}"
CLUSTER_TIMEOUT="${CLUSTER_TIMEOUT:-60}"

usage() {
  cat <<EOF
Usage: $(basename "$0") [--native] [--stop] [--help]

Starts 3 Redis nodes with the RedisRaft module on ports PORT_BASE, +1, +2
(6379/6380/6381), password abc123, then forms one Raft cluster:
  node 1:    RAFT.CLUSTER INIT                 (RAFT.CLUSTER CREATE only if INIT is unknown)
  node 2, 3: RAFT.CLUSTER JOIN <node 1 host:port>
and verifies it with INFO raft (RAFT.INFO if INFO raft is empty): a leader, 3 nodes,
every node raft_state:up.

Modes:
  (default)  Docker: containers \${CONTAINER_PREFIX}1..3 from \$IMAGE_NAME on network
             \$NETWORK. Each node listens on its own port (6379/6380/6381) inside and
             outside the container and announces raft.addr \${CONTAINER_PREFIX}N:<port>,
             so leader redirects (-MOVED 0 host:port) name container hosts; set
             FOLLOWER_PROXY=yes to let followers proxy instead.
  --native   No Docker: the machine's server binary (valkey-server preferred: today's
             module needs the Redis 7.2+ module API, so it refuses Redis 7.0 and loads on
             Valkey 8.0; override with REDIS_SERVER=/path) on 127.0.0.1 ports
             PORT_BASE..PORT_BASE+2, daemonized; config, pidfile, log, RDB snapshot and
             Raft log in \$DATA_DIR/nodeN/. REDISRAFT_SO is required. The node
             directories are wiped at start unless KEEP_DATA=1 (then nodes that already
             have a Raft log rejoin their cluster on their own; no INIT/JOIN is sent).
  --stop     Stop the cluster of the selected mode: native nodes by their pidfiles (with
             --native), or remove the containers (default mode).
  --help     This text.

Environment (defaults in brackets):
  REDIS_PASSWORD           [abc123] requirepass of every node, also used as
                           raft.cluster-password (inter-node AUTH). Empty: no password.
  IMAGE_NAME               [redis:8.4-alpine] Docker image. The seed assumed it has Raft
                           built in; stock Redis images do not ship RedisRaft, in which
                           case RAFT.CLUSTER is an unknown command and the script says so.
  ENABLE_REDISRAFT_MODULE  [0] 1: load redisraft.so with --loadmodule (Docker mode)
  REDISRAFT_SO             local redisraft.so. Docker: mounted read-only at
                           CONTAINER_MODULE_PATH (with ENABLE_REDISRAFT_MODULE=1).
                           --native: required, loaded from this path.
  USE_IMAGE_REDISRAFT      [0] 1: the image already contains the module at
                           CONTAINER_MODULE_PATH (nothing is mounted)
  CONTAINER_MODULE_PATH    [/opt/redisraft/redisraft.so] module path inside containers
  PUBLISH_RAFT_PORTS       [0] kept for compatibility with the seed, which gave each node
                           a separate raft-addr port (5001/5002/5003). Today's module
                           carries Raft over the Redis port, so there is nothing extra to
                           publish: this is a no-op (a note is printed when it is 1).
  PUBLISH_PORTS            [1] 0: do not publish the Redis ports to the host
  NETWORK                  [redis-raft-net]  Docker network
  CONTAINER_PREFIX         [redis-raft-]     containers are \${CONTAINER_PREFIX}1..3
  CONTAINER_CLI            [redis-cli]       CLI inside the image (valkey-cli for Valkey)
  PORT_BASE                [6379] first port (--native and Docker)
  DATA_DIR                 [./data] --native: node N lives in \$DATA_DIR/nodeN
  REDIS_SERVER, REDIS_CLI  --native binaries (default valkey-server/valkey-cli, else
                           redis-server/redis-cli)
  FOLLOWER_PROXY           [no] raft.follower-proxy: yes = followers forward commands to
                           the leader instead of replying -MOVED
  KEEP_DATA                [0] --native: 1 = keep node directories (restart a cluster)
  READY_TIMEOUT            [30] seconds to wait for each node's PING
  CLUSTER_TIMEOUT          [60] seconds to wait for the cluster to be up

Examples:
  ENABLE_REDISRAFT_MODULE=1 REDISRAFT_SO=./redisraft.so $0
  IMAGE_NAME=my-raft REDIS_PASSWORD=secret $0
  REDISRAFT_SO=/opt/redisraft/redisraft.so PORT_BASE=26379 $0 --native
  redis-cli -a abc123 -p 26379 INFO raft
  PORT_BASE=26379 $0 --native --stop
EOF
}

log() { echo "[redis-raft] $*"; }
die() {
  echo "[redis-raft] ERROR: $*" >&2
  exit 1
}
is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }
is_true() { [[ "$1" =~ ^(1|yes|true|on)$ ]]; }

# Value in double quotes for a Redis config file, with \ and " escaped.
conf_quote() {
  local v="${1//\\/\\\\}"
  printf '"%s"' "${v//\"/\\\"}"
}

MODE=docker
ACTION=start
for arg in "$@"; do
  case "$arg" in
    --native) MODE=native ;;
    --docker) MODE=docker ;;
    --stop) ACTION=stop ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      usage >&2
      die "unknown argument: $arg"
      ;;
  esac
done

is_uint "$PORT_BASE" || die "PORT_BASE must be a number: '$PORT_BASE'"
((PORT_BASE >= 1 && PORT_BASE + NODES - 1 <= 65535)) || die "PORT_BASE out of range: $PORT_BASE"
for v in READY_TIMEOUT CLUSTER_TIMEOUT; do
  is_uint "${!v}" || die "$v must be a number: '${!v}'"
done
case "$FOLLOWER_PROXY" in
  yes | no) ;;
  *) die "FOLLOWER_PROXY must be yes or no: '$FOLLOWER_PROXY'" ;;
esac

PORTS=()
for ((i = 0; i < NODES; i++)); do
  PORTS+=("$((PORT_BASE + i))")
done

# redis-cli/valkey-cli read the password from REDISCLI_AUTH: not in argv, no warning.
if [[ -n "$REDIS_PASSWORD" ]]; then
  export REDISCLI_AUTH="$REDIS_PASSWORD"
else
  unset REDISCLI_AUTH
fi

# CLI is set per mode: a function running the CLI against node $1 (1-based), rest = command.
node_cli() {
  local n="$1"
  shift
  if [[ "$MODE" == native ]]; then
    "$CLI" -h 127.0.0.1 -p "${PORTS[n - 1]}" "$@"
  else
    docker exec "${DOCKER_AUTH_ENV[@]}" "${CONTAINER_PREFIX}$n" \
      "$CONTAINER_CLI" -p "${PORTS[n - 1]}" "$@"
  fi
}

# "host:port" other nodes use to reach node $1 (its raft.addr).
node_addr() {
  if [[ "$MODE" == native ]]; then
    echo "127.0.0.1:${PORTS[$1 - 1]}"
  else
    echo "${CONTAINER_PREFIX}$1:${PORTS[$1 - 1]}"
  fi
}

wait_ping() { # $1: node number
  local n="$1" deadline
  deadline=$((SECONDS + READY_TIMEOUT))
  until [[ $(node_cli "$n" PING 2>/dev/null) == *PONG* ]]; do
    if ((SECONDS >= deadline)); then
      node_failed_hint "$n"
      die "node $n ($(node_addr "$n")) did not answer PING within ${READY_TIMEOUT}s"
    fi
    if [[ "$MODE" == native ]] && grep -qE 'server aborting|FATAL CONFIG' "$DATA_ABS/node$n/redis.log" 2>/dev/null; then
      node_failed_hint "$n"
      die "node $n ($(node_addr "$n")) failed to start (log: $DATA_ABS/node$n/redis.log)"
    fi
    if [[ "$MODE" == docker ]] && [[ "$(docker inspect -f '{{.State.Running}}' "${CONTAINER_PREFIX}$n" 2>/dev/null)" != true ]]; then
      node_failed_hint "$n"
      die "container ${CONTAINER_PREFIX}$n exited"
    fi
    sleep 0.2
  done
}

node_failed_hint() {
  local n="$1" out
  if [[ "$MODE" == native ]]; then
    out="$(tail -n 20 "$DATA_ABS/node$n/redis.log" 2>/dev/null || true)"
  else
    out="$(docker logs --tail 20 "${CONTAINER_PREFIX}$n" 2>&1 || true)"
  fi
  if [[ -n "$out" ]]; then
    printf '%s\n' "--- last log lines of node $n ---" "$out" "---" >&2
  fi
  if grep -q "requires Redis build from 'unstable'" <<<"$out"; then
    echo "[redis-raft] hint: this server is too old for today's RedisRaft (it needs the Redis 7.2+" \
      "module API); use valkey-server 7.2+/8.x or Redis 7.2+." >&2
  fi
  return 0
}

# Prints the value of field $2 in INFO raft text $1 (CR stripped).
info_field() {
  # sed stops at the first match itself: a `head -n 1` after it could fail the pipeline
  # under pipefail (SIGPIPE) while sed still wrote.
  tr -d '\r' <<<"$1" | sed -n "/^$2:/{s/^$2:\(.*\)$/\1/p;q;}"
}

node_info_raft() { # INFO raft, or RAFT.INFO for old modules whose INFO has no raft section
  local n="$1" out
  out="$(node_cli "$n" INFO raft 2>/dev/null || true)"
  if ! grep -q '^raft_' <<<"$(tr -d '\r' <<<"$out")"; then
    out="$(node_cli "$n" RAFT.INFO 2>/dev/null || true)"
  fi
  printf '%s\n' "$out"
}

node_state() { # raft_state of node $1 (uninitialized, joining, up, loading, ...)
  local info
  info="$(node_info_raft "$1")"
  info_field "$info" raft_state
}

raft_init() { # node 1: INIT (CREATE only if INIT is not known)
  local reply
  reply="$(node_cli 1 RAFT.CLUSTER INIT 2>&1 || true)"
  log "node 1 $(node_addr 1): RAFT.CLUSTER INIT -> $reply"
  if [[ "$reply" == OK* ]]; then
    return 0
  fi
  if grep -qiE 'unknown command' <<<"$reply"; then
    die "node 1 has no RAFT.CLUSTER command: the RedisRaft module is not loaded. Stock Redis images do not include it: set ENABLE_REDISRAFT_MODULE=1 with REDISRAFT_SO=/path/redisraft.so (or USE_IMAGE_REDISRAFT=1 and CONTAINER_MODULE_PATH)"
  fi
  if grep -qiE 'unknown subcommand|supports .*only|syntax|invalid' <<<"$reply"; then
    reply="$(node_cli 1 RAFT.CLUSTER CREATE 2>&1 || true)"
    log "node 1: INIT not supported by this module, RAFT.CLUSTER CREATE -> $reply"
    if [[ "$reply" == OK* ]]; then
      return 0
    fi
  fi
  die "could not initialize the cluster on node 1: $reply"
}

raft_join() { # $1: node number, joins node 1
  local n="$1" target reply deadline state
  target="$(node_addr 1)"
  # JOIN replies once the leader has added the node (it retries internally until
  # raft.join-timeout); one node at a time, as Raft changes membership one by one.
  reply="$(node_cli "$n" RAFT.CLUSTER JOIN "$target" 2>&1 || true)"
  log "node $n $(node_addr "$n"): RAFT.CLUSTER JOIN $target -> $reply"
  [[ "$reply" == OK* ]] || die "node $n could not join $target: $reply"
  deadline=$((SECONDS + CLUSTER_TIMEOUT))
  while state="$(node_state "$n")" && [[ "$state" != up ]]; do
    ((SECONDS < deadline)) || die "node $n: raft_state is '$state', not up, after ${CLUSTER_TIMEOUT}s"
    sleep 0.3
  done
}

wait_cluster_up() {
  local deadline n info role leader nodes ok leader_node=""
  deadline=$((SECONDS + CLUSTER_TIMEOUT))
  while :; do
    ok=1
    leader_node=""
    for ((n = 1; n <= NODES; n++)); do
      info="$(node_info_raft "$n")"
      [[ "$(info_field "$info" raft_state)" == up ]] || ok=0
      role="$(info_field "$info" raft_role)"
      leader="$(info_field "$info" raft_leader_id)"
      [[ -n "$leader" && "$leader" != -1 ]] || ok=0
      if [[ "$role" == leader ]]; then
        leader_node="$n"
        nodes="$(info_field "$info" raft_num_nodes)"
        [[ "$nodes" == "$NODES" ]] || ok=0
      fi
    done
    [[ -n "$leader_node" ]] || ok=0
    if ((ok)); then
      break
    fi
    ((SECONDS < deadline)) || die "the cluster is not up after ${CLUSTER_TIMEOUT}s (see INFO raft on each node)"
    sleep 0.5
  done

  log "cluster up: leader is node $leader_node ($(node_addr "$leader_node")), $NODES nodes"
  for ((n = 1; n <= NODES; n++)); do
    info="$(node_info_raft "$n")"
    log "  node $n $(node_addr "$n"): raft_node_id=$(info_field "$info" raft_node_id)" \
      "raft_role=$(info_field "$info" raft_role) raft_state=$(info_field "$info" raft_state)" \
      "raft_leader_id=$(info_field "$info" raft_leader_id)"
  done
  log "INFO raft of the leader (node $leader_node), general section:"
  info="$(node_info_raft "$leader_node" | tr -d '\r')"
  if grep -q '^# raft_general' <<<"$info"; then
    sed -n '/^# raft_general/,/^$/p' <<<"$info"
  else
    printf '%s\n' "$info"
  fi
}

form_cluster() {
  local n
  raft_init
  for ((n = 2; n <= NODES; n++)); do
    raft_join "$n"
  done
  wait_cluster_up
}

# ---------------------------------------------------------------- native ---

pick_binary() { # $1: env override, then candidates
  local override="$1" c
  shift
  if [[ -n "$override" ]]; then
    command -v "$override" >/dev/null 2>&1 || die "not found or not executable: $override"
    command -v "$override"
    return 0
  fi
  for c in "$@"; do
    if command -v "$c" >/dev/null 2>&1; then
      command -v "$c"
      return 0
    fi
  done
  return 1
}

native_setup_paths() {
  mkdir -p "$DATA_DIR"
  DATA_ABS="$(cd "$DATA_DIR" && pwd)"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# PID from node $1's pidfile, if that process is still a server on its port.
node_pid() {
  local n="$1" port pidfile pid cmdline
  port="${PORTS[n - 1]}"
  pidfile="$DATA_ABS/node$n/redis_$port.pid"
  [[ -f "$pidfile" ]] || return 1
  pid="$(tr -dc '0-9' <"$pidfile")"
  [[ -n "$pid" ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # Guard against a recycled PID: it must still be a server on $port.
  if [[ -r "/proc/$pid/cmdline" ]]; then
    cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline")"
    [[ "$cmdline" == *"$port"* && ("$cmdline" == *valkey* || "$cmdline" == *redis*) ]] || return 1
  fi
  echo "$pid"
}

native_start() {
  [[ -n "$REDISRAFT_SO" ]] \
    || die "--native needs REDISRAFT_SO=/path/to/redisraft.so (a module you built; this repository does not ship or build one)"
  [[ -f "$REDISRAFT_SO" ]] || die "REDISRAFT_SO: no such file: $REDISRAFT_SO"
  local so
  so="$(cd "$(dirname "$REDISRAFT_SO")" && pwd)/$(basename "$REDISRAFT_SO")"
  SERVER="$(pick_binary "${REDIS_SERVER:-}" valkey-server redis-server)" \
    || die "neither valkey-server nor redis-server found (or set REDIS_SERVER)"
  CLI="$(pick_binary "${REDIS_CLI:-}" valkey-cli redis-cli)" \
    || die "neither valkey-cli nor redis-cli found (or set REDIS_CLI)"
  native_setup_paths
  if is_true "$PUBLISH_RAFT_PORTS"; then
    log "note: PUBLISH_RAFT_PORTS has no effect: Raft uses the Redis ports ${PORTS[*]}"
  fi
  log "server: $SERVER ($("$SERVER" --version | head -n 1))"
  log "module: $so"
  log "data:   $DATA_ABS/node1..node$NODES"

  local n port dir conf pid fresh=1
  for ((n = 1; n <= NODES; n++)); do
    port="${PORTS[n - 1]}"
    if pid="$(node_pid "$n")"; then
      die "node $n is already running on port $port (pid $pid); run: PORT_BASE=$PORT_BASE DATA_DIR=$DATA_DIR $0 --native --stop"
    fi
    if port_in_use "$port"; then
      die "127.0.0.1:$port is already in use; choose another PORT_BASE"
    fi
  done

  for ((n = 1; n <= NODES; n++)); do
    port="${PORTS[n - 1]}"
    dir="$DATA_ABS/node$n"
    if is_true "$KEEP_DATA"; then
      if [[ -f "$dir/redisraft.db" ]]; then
        fresh=0
      fi
    else
      rm -rf "$dir"
    fi
    mkdir -p "$dir"
    conf="$dir/redis.conf"
    # Relative paths below are relative to 'dir': the server chdir()s there while
    # reading the config, before it opens the pidfile and logfile or loads modules.
    {
      echo "# Written by scripts/start_redis_raft_cluster.sh --native (node $n)"
      echo "port $port"
      echo "bind 127.0.0.1"
      echo "dir $(conf_quote "$dir")"
      echo "daemonize yes"
      echo "pidfile redis_$port.pid"
      echo "logfile redis.log"
      echo "dbfilename dump.rdb"
      echo "appendonly no"
      echo "save \"\""
      echo "databases 1"
      echo "maxmemory-policy noeviction"
      if [[ -n "$REDIS_PASSWORD" ]]; then
        echo "requirepass $(conf_quote "$REDIS_PASSWORD")"
      fi
      echo "loadmodule $(conf_quote "$so")"
      echo "raft.addr 127.0.0.1:$port"
      echo "raft.id $n"
      echo "raft.log-filename redisraft.db"
      echo "raft.follower-proxy $FOLLOWER_PROXY"
      if [[ -n "$REDIS_PASSWORD" ]]; then
        echo "raft.cluster-password $(conf_quote "$REDIS_PASSWORD")"
      fi
    } >"$conf"
    chmod 600 "$conf"
    if ! "$SERVER" "$conf"; then
      node_failed_hint "$n"
      die "failed to start node $n on port $port"
    fi
  done

  for ((n = 1; n <= NODES; n++)); do
    wait_ping "$n"
  done
  log "$NODES nodes answer PING: ${PORTS[*]}"

  if ((fresh)); then
    form_cluster
  else
    log "KEEP_DATA=1 and Raft logs exist: not sending INIT/JOIN, waiting for the old cluster"
    wait_cluster_up
  fi
  log "try:  $(basename "$CLI") ${REDIS_PASSWORD:+-a <password> }-p ${PORTS[0]} INFO raft"
  log "stop: PORT_BASE=$PORT_BASE DATA_DIR=$DATA_DIR $0 --native --stop"
}

native_stop() {
  native_setup_paths
  local n pid deadline stopped=0
  for ((n = 1; n <= NODES; n++)); do
    if ! pid="$(node_pid "$n")"; then
      log "node $n (port ${PORTS[n - 1]}): not running (no live pidfile in $DATA_ABS/node$n)"
      continue
    fi
    log "node $n (port ${PORTS[n - 1]}): stopping pid $pid"
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 15))
    while kill -0 "$pid" 2>/dev/null; do
      if ((SECONDS >= deadline)); then
        log "node $n: pid $pid still alive after 15s, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        break
      fi
      sleep 0.2
    done
    stopped=$((stopped + 1))
  done
  log "stopped $stopped node(s); data left in $DATA_ABS/node1..node$NODES"
}

# ---------------------------------------------------------------- docker ---

docker_check() {
  command -v docker >/dev/null 2>&1 || die "docker not found (use --native with REDISRAFT_SO)"
  docker info >/dev/null 2>&1 || die "cannot reach the Docker engine (is dockerd running? use --native with REDISRAFT_SO otherwise)"
}

docker_start() {
  if is_true "$PUBLISH_RAFT_PORTS"; then
    log "note: PUBLISH_RAFT_PORTS=1 is a no-op: today's RedisRaft has no separate raft port" \
      "(the seed's raft-addr 5001..5003); Raft runs over the Redis ports ${PORTS[*]}"
  fi
  docker_check
  # -e NAME without a value: docker copies NAME from our environment (not in argv).
  DOCKER_AUTH_ENV=()
  if [[ -n "$REDIS_PASSWORD" ]]; then
    DOCKER_AUTH_ENV=(-e REDISCLI_AUTH)
  fi

  local mount=() module_args=() with_module=0
  if is_true "$ENABLE_REDISRAFT_MODULE"; then
    with_module=1
    if is_true "$USE_IMAGE_REDISRAFT"; then
      log "module: $CONTAINER_MODULE_PATH inside $IMAGE_NAME"
    else
      [[ -n "$REDISRAFT_SO" ]] \
        || die "ENABLE_REDISRAFT_MODULE=1 needs REDISRAFT_SO=/path/redisraft.so (or USE_IMAGE_REDISRAFT=1)"
      [[ -f "$REDISRAFT_SO" ]] || die "REDISRAFT_SO: no such file: $REDISRAFT_SO"
      local so
      so="$(cd "$(dirname "$REDISRAFT_SO")" && pwd)/$(basename "$REDISRAFT_SO")"
      mount=(-v "$so:$CONTAINER_MODULE_PATH:ro")
      log "module: $so mounted at $CONTAINER_MODULE_PATH"
    fi
  else
    log "module: none loaded explicitly (assuming $IMAGE_NAME has RedisRaft built in, as the seed did)"
  fi

  docker image inspect "$IMAGE_NAME" >/dev/null 2>&1 || docker pull "$IMAGE_NAME"
  if ! docker network inspect "$NETWORK" >/dev/null 2>&1; then
    log "creating network $NETWORK"
    docker network create "$NETWORK" >/dev/null
  fi

  local n port name publish args
  for ((n = 1; n <= NODES; n++)); do
    port="${PORTS[n - 1]}"
    name="${CONTAINER_PREFIX}$n"
    if docker container inspect "$name" >/dev/null 2>&1; then
      log "removing existing container $name"
      docker rm -f "$name" >/dev/null
    fi
    publish=()
    if [[ "$PUBLISH_PORTS" == 1 ]]; then
      publish=(-p "$port:$port")
    fi
    args=(redis-server --port "$port" --bind 0.0.0.0 --protected-mode no --dir /data
      --dbfilename dump.rdb --appendonly no --save "" --databases 1)
    if [[ -n "$REDIS_PASSWORD" ]]; then
      args+=(--requirepass "$REDIS_PASSWORD")
    fi
    module_args=()
    if ((with_module)); then
      module_args=(--loadmodule "$CONTAINER_MODULE_PATH"
        --raft.addr "$name:$port" --raft.id "$n" --raft.log-filename redisraft.db
        --raft.follower-proxy "$FOLLOWER_PROXY")
      if [[ -n "$REDIS_PASSWORD" ]]; then
        module_args+=(--raft.cluster-password "$REDIS_PASSWORD")
      fi
    fi
    log "starting $name (port $port)"
    docker run -d --name "$name" --net "$NETWORK" "${publish[@]}" "${mount[@]}" \
      "$IMAGE_NAME" "${args[@]}" "${module_args[@]}" >/dev/null
  done

  for ((n = 1; n <= NODES; n++)); do
    wait_ping "$n"
  done
  log "$NODES containers answer PING"
  form_cluster
  log "verify: docker exec -it ${CONTAINER_PREFIX}1 $CONTAINER_CLI ${REDIS_PASSWORD:+-a <password> }-p ${PORTS[0]} INFO raft"
}

docker_stop() {
  docker_check
  local n name
  for ((n = 1; n <= NODES; n++)); do
    name="${CONTAINER_PREFIX}$n"
    if docker container inspect "$name" >/dev/null 2>&1; then
      log "removing container $name"
      docker rm -f "$name" >/dev/null
    fi
  done
  log "containers removed (network $NETWORK kept)"
}

DOCKER_AUTH_ENV=()
case "$MODE/$ACTION" in
  native/start) native_start ;;
  native/stop) native_stop ;;
  docker/start) docker_start ;;
  docker/stop) docker_stop ;;
esac
