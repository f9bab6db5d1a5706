#!/usr/bin/env bash
# Start (or stop) a 6-node Valkey Cluster: 3 primaries + 3 replicas.
#
#   scripts/start_valkey_cluster.sh            Docker: image from docker/valkey-cluster.Dockerfile,
#                                              containers valkey-1..valkey-6 on network valkey-net,
#                                              ports BASE_PORT+1..+6, bus ports +10000
#   scripts/start_valkey_cluster.sh --native   the machine's valkey-server (or redis-server) on
#                                              127.0.0.1:BASE_PORT+1..+6, daemonized, each node
#                                              configured by the image's own entrypoint
#                                              (docker/valkey-cluster-entrypoint.sh)
#   scripts/start_valkey_cluster.sh --stop [--native]
#   scripts/start_valkey_cluster.sh --help
#
# Run with --help for the environment variables.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
ENTRYPOINT="$REPO_ROOT/docker/valkey-cluster-entrypoint.sh"

NODES=6
REPLICAS=1

BASE_PORT="${BASE_PORT:-7000}"
# Unset: abc123 (the seed's password). Set to the empty string: no password at all.
VALKEY_PASSWORD="${VALKEY_PASSWORD-abc123}"
IMAGE_NAME="${IMAGE_NAME:-valkey-cluster}"
NETWORK="${NETWORK:-valkey-net}"
CONTAINER_PREFIX="${CONTAINER_PREFIX:-valkey-}"
PUBLISH_PORTS="${PUBLISH_PORTS:-1}"
DATA_DIR="${DATA_DIR:-./data/valkey-cluster}"
CLUSTER_NODE_TIMEOUT="${CLUSTER_NODE_TIMEOUT:-5000}"
READY_TIMEOUT="${READY_TIMEOUT:-30}"
CLUSTER_TIMEOUT="${CLUSTER_TIMEOUT:-60}"

usage() {
  cat <<EOF
Usage: $(basename "$0") [--native] [--stop] [--help]

Starts a Valkey Cluster of 3 primaries + 3 replicas, creates it with
'valkey-cli --cluster create ... --cluster-replicas 1 --cluster-yes' and waits for
'cluster_state:ok' (printed with 'cluster info' and 'cluster nodes' at the end).

Modes:
  (default)   Docker. Builds image \$IMAGE_NAME from docker/valkey-cluster.Dockerfile if it
              does not exist, creates network \$NETWORK, runs containers
              \${CONTAINER_PREFIX}1..6 with NODE_ID=i, VALKEY_PORT=BASE_PORT+i,
              CLUSTER_ANNOUNCE_IP=\${CONTAINER_PREFIX}i, publishes port and bus port
              (BASE_PORT+i, BASE_PORT+i+10000) to the host, and creates the cluster from
              inside \${CONTAINER_PREFIX}1. Existing containers of those names are replaced.
              Node addresses in the cluster are the container names, so MOVED/ASK
              redirects name hosts resolvable on \$NETWORK only (clients on the host
              should use --native, or map the names to 127.0.0.1).
  --native    No Docker: the machine's valkey-server (redis-server as a fallback; override
              with VALKEY_SERVER=/path) on 127.0.0.1 ports BASE_PORT+1..+6. Each node is
              started by docker/valkey-cluster-entrypoint.sh, the image's entrypoint, with
              the environment the containers get (NODE_ID=i, VALKEY_PORT, VALKEY_PASSWORD,
              CLUSTER_NODE_TIMEOUT) plus VALKEY_BIND=127.0.0.1, VALKEY_DATA_DIR and
              VALKEY_SERVER, so it runs the configuration the image writes; only
              --daemonize/--pidfile/--logfile are added. Config, pidfile, log and data
              are in \$DATA_DIR/<port>/ (wiped at start: every run creates a fresh cluster).
  --stop      Stop the cluster of the selected mode: native nodes by their pidfiles
              (with --native), or remove the containers (default mode).
  --help      This text.

Environment (defaults in brackets):
  BASE_PORT             [7000]  nodes listen on BASE_PORT+1..BASE_PORT+6 (bus: +10000)
  VALKEY_PASSWORD       [abc123] requirepass + masterauth of every node; set it to the
                        empty string for no password
  IMAGE_NAME            [valkey-cluster]  Docker image (built when missing)
  NETWORK               [valkey-net]      Docker network
  CONTAINER_PREFIX      [valkey-]         container names are \${CONTAINER_PREFIX}1..6
  PUBLISH_PORTS         [1]     0: do not publish ports to the host (containers only)
  DATA_DIR              [./data/valkey-cluster]  --native data root (relative to the
                        current directory)
  VALKEY_SERVER, VALKEY_CLI     --native binaries (default: valkey-*, else redis-*)
  CLUSTER_NODE_TIMEOUT  [5000]  ms
  READY_TIMEOUT         [30]    seconds to wait for each node to answer PING
  CLUSTER_TIMEOUT       [60]    seconds to wait for cluster_state:ok

Examples:
  scripts/start_valkey_cluster.sh
  BASE_PORT=27000 scripts/start_valkey_cluster.sh --native
  valkey-cli -c -a abc123 -p 27001 set foo bar
  BASE_PORT=27000 scripts/start_valkey_cluster.sh --native --stop
EOF
}

log() { echo "[valkey-cluster] $*"; }
die() {
  echo "[valkey-cluster] ERROR: $*" >&2
  exit 1
}

is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }

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

is_uint "$BASE_PORT" || die "BASE_PORT must be a number: '$BASE_PORT'"
if ((BASE_PORT + NODES + 10000 > 65535)); then
  die "BASE_PORT too large: bus ports BASE_PORT+10001..BASE_PORT+$((NODES + 10000)) must be <= 65535"
fi
for v in READY_TIMEOUT CLUSTER_TIMEOUT CLUSTER_NODE_TIMEOUT; do
  is_uint "${!v}" || die "$v must be a number: '${!v}'"
done

PORTS=()
for ((i = 1; i <= NODES; i++)); do
  PORTS+=("$((BASE_PORT + i))")
done

# The CLIs read the password from REDISCLI_AUTH: it stays out of argv (ps) and
# out of the "using a password on the command line" warning.
if [[ -n "$VALKEY_PASSWORD" ]]; then
  export REDISCLI_AUTH="$VALKEY_PASSWORD"
else
  unset REDISCLI_AUTH
fi

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

native_cli() { # $1: port, rest: command
  local port="$1"
  shift
  "$CLI" -h 127.0.0.1 -p "$port" "$@"
}

# Prints the PID in a node's pidfile if that process is still a server on that port.
node_pid() {
  local port="$1" pidfile pid cmdline
  pidfile="$DATA_ABS/$port/server.pid"
  [[ -f "$pidfile" ]] || return 1
  pid="$(tr -dc '0-9' <"$pidfile")"
  [[ -n "$pid" ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # Guard against a recycled PID: the process must be a server listening on $port.
  if [[ -r "/proc/$pid/cmdline" ]]; then
    cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline")"
    [[ "$cmdline" == *"$port"* && ("$cmdline" == *valkey* || "$cmdline" == *redis*) ]] || return 1
  fi
  echo "$pid"
}

port_in_use() { # something accepts TCP connections on 127.0.0.1:$1
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

wait_ping() { # $1: label, $2...: command printing PONG
  local label="$1" deadline
  shift
  deadline=$((SECONDS + READY_TIMEOUT))
  until [[ $("$@" PING 2>/dev/null) == *PONG* ]]; do
    ((SECONDS < deadline)) || die "$label did not answer PING within ${READY_TIMEOUT}s"
    sleep 0.2
  done
}

wait_cluster_ok() { # $1: label, $2...: command running a CLI against one node
  local label="$1" deadline
  shift
  deadline=$((SECONDS + CLUSTER_TIMEOUT))
  until [[ $("$@" CLUSTER INFO 2>/dev/null) == *cluster_state:ok* ]]; do
    ((SECONDS < deadline)) || die "$label: cluster_state is not ok after ${CLUSTER_TIMEOUT}s"
    sleep 0.5
  done
}

native_setup_paths() {
  mkdir -p "$DATA_DIR"
  DATA_ABS="$(cd "$DATA_DIR" && pwd)"
}

native_start() {
  SERVER="$(pick_binary "${VALKEY_SERVER:-}" valkey-server redis-server)" \
    || die "neither valkey-server nor redis-server found (install valkey-server, or set VALKEY_SERVER)"
  CLI="$(pick_binary "${VALKEY_CLI:-}" valkey-cli redis-cli)" \
    || die "neither valkey-cli nor redis-cli found (install valkey-tools/redis-tools, or set VALKEY_CLI)"
  native_setup_paths
  log "server: $SERVER ($("$SERVER" --version | head -n 1))"
  log "data:   $DATA_ABS"

  local port dir pid
  for port in "${PORTS[@]}"; do
    if pid="$(node_pid "$port")"; then
      die "a node is already running on port $port (pid $pid); run: BASE_PORT=$BASE_PORT $0 --native --stop"
    fi
    if port_in_use "$port"; then
      die "127.0.0.1:$port is already in use; choose another BASE_PORT"
    fi
  done

  local i=0
  for port in "${PORTS[@]}"; do
    i=$((i + 1))
    dir="$DATA_ABS/$port"
    rm -rf "$dir"
    mkdir -p "$dir"
    # The entrypoint writes $dir/valkey-cluster-$i.conf and execs the server with it;
    # --daemonize makes that server fork, so the entrypoint returns once it is up.
    env NODE_ID="$i" VALKEY_PORT="$port" VALKEY_BIND=127.0.0.1 VALKEY_DATA_DIR="$dir" \
      VALKEY_PASSWORD="$VALKEY_PASSWORD" CLUSTER_NODE_TIMEOUT="$CLUSTER_NODE_TIMEOUT" \
      CLUSTER_ANNOUNCE_IP= VALKEY_CONF_FILE= VALKEY_SERVER="$SERVER" \
      sh "$ENTRYPOINT" --daemonize yes --pidfile "$dir/server.pid" --logfile "$dir/server.log" \
      || die "failed to start $SERVER on port $port through $ENTRYPOINT (see $dir/server.log)"
  done

  for port in "${PORTS[@]}"; do
    wait_ping "node 127.0.0.1:$port" native_cli "$port"
  done
  log "6 nodes answer PING: ${PORTS[*]}"

  local addrs=()
  for port in "${PORTS[@]}"; do
    addrs+=("127.0.0.1:$port")
  done
  log "creating the cluster: ${addrs[*]} --cluster-replicas $REPLICAS"
  "$CLI" --cluster create "${addrs[@]}" --cluster-replicas "$REPLICAS" --cluster-yes \
    || die "cluster create failed"

  for port in "${PORTS[@]}"; do
    wait_cluster_ok "node 127.0.0.1:$port" native_cli "$port"
  done
  log "cluster_state:ok on all 6 nodes"
  native_cli "${PORTS[0]}" CLUSTER INFO | tr -d '\r' | grep -E '^cluster_(state|slots_assigned|slots_ok|known_nodes|size):'
  native_cli "${PORTS[0]}" CLUSTER NODES
  log "connect with: $(basename "$CLI") -c ${VALKEY_PASSWORD:+-a <password> }-p ${PORTS[0]}"
  log "stop with:    BASE_PORT=$BASE_PORT DATA_DIR=$DATA_DIR $0 --native --stop"
}

native_stop() {
  native_setup_paths
  local port pid deadline stopped=0
  for port in "${PORTS[@]}"; do
    if ! pid="$(node_pid "$port")"; then
      log "port $port: no running node (no live pidfile under $DATA_ABS/$port)"
      continue
    fi
    log "port $port: stopping pid $pid"
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 15))
    while kill -0 "$pid" 2>/dev/null; do
      if ((SECONDS >= deadline)); then
        log "port $port: pid $pid still alive after 15s, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        break
      fi
      sleep 0.2
    done
    stopped=$((stopped + 1))
  done
  log "stopped $stopped node(s); data left in $DATA_ABS"
}

# ---------------------------------------------------------------- docker ---

docker_cli() { # $1: container, $2: port, rest: command
  local name="$1" port="$2"
  shift 2
  docker exec "${DOCKER_AUTH_ENV[@]}" "$name" valkey-cli -p "$port" "$@"
}

docker_check() {
  command -v docker >/dev/null 2>&1 || die "docker not found (use --native to run the machine's valkey-server)"
  docker info >/dev/null 2>&1 || die "cannot reach the Docker engine (is dockerd running? use --native otherwise)"
}

docker_start() {
  docker_check
  # -e NAME without a value: docker copies NAME from our environment, so the
  # password is not in any process's argv.
  export VALKEY_PASSWORD
  DOCKER_AUTH_ENV=()
  if [[ -n "$VALKEY_PASSWORD" ]]; then
    DOCKER_AUTH_ENV=(-e REDISCLI_AUTH)
  fi

  if ! docker image inspect "$IMAGE_NAME" >/dev/null 2>&1; then
    log "building image $IMAGE_NAME from docker/valkey-cluster.Dockerfile"
    docker build -f "$REPO_ROOT/docker/valkey-cluster.Dockerfile" -t "$IMAGE_NAME" "$REPO_ROOT"
  fi
  if ! docker network inspect "$NETWORK" >/dev/null 2>&1; then
    log "creating network $NETWORK"
    docker network create "$NETWORK" >/dev/null
  fi

  local i port bus name publish
  for ((i = 1; i <= NODES; i++)); do
    port="${PORTS[i - 1]}"
    bus=$((port + 10000))
    name="${CONTAINER_PREFIX}${i}"
    if docker container inspect "$name" >/dev/null 2>&1; then
      log "removing existing container $name"
      docker rm -f "$name" >/dev/null
    fi
    publish=()
    if [[ "$PUBLISH_PORTS" == 1 ]]; then
      publish=(-p "${port}:${port}" -p "${bus}:${bus}")
    fi
    log "starting $name (port $port, bus $bus)"
    docker run -d --name "$name" --net "$NETWORK" "${publish[@]}" \
      -e "NODE_ID=$i" \
      -e "VALKEY_PORT=$port" \
      -e VALKEY_PASSWORD \
      -e "CLUSTER_ANNOUNCE_IP=$name" \
      -e "CLUSTER_NODE_TIMEOUT=$CLUSTER_NODE_TIMEOUT" \
      "$IMAGE_NAME" >/dev/null
  done

  for ((i = 1; i <= NODES; i++)); do
    wait_ping "${CONTAINER_PREFIX}$i" docker_cli "${CONTAINER_PREFIX}$i" "${PORTS[i - 1]}"
  done
  log "6 containers answer PING"

  local first="${CONTAINER_PREFIX}1" addrs=()
  for ((i = 1; i <= NODES; i++)); do
    addrs+=("${CONTAINER_PREFIX}${i}:${PORTS[i - 1]}")
  done
  log "creating the cluster: ${addrs[*]} --cluster-replicas $REPLICAS"
  docker exec "${DOCKER_AUTH_ENV[@]}" "$first" valkey-cli --cluster create "${addrs[@]}" \
    --cluster-replicas "$REPLICAS" --cluster-yes || die "cluster create failed"

  for ((i = 1; i <= NODES; i++)); do
    wait_cluster_ok "${CONTAINER_PREFIX}$i" docker_cli "${CONTAINER_PREFIX}$i" "${PORTS[i - 1]}"
  done
  log "cluster_state:ok on all 6 nodes"
  docker_cli "$first" "${PORTS[0]}" CLUSTER INFO
  docker_cli "$first" "${PORTS[0]}" CLUSTER NODES
  log "verify with: docker exec -it $first valkey-cli ${VALKEY_PASSWORD:+-a <password> }-p ${PORTS[0]} cluster info"
}

docker_stop() {
  docker_check
  local i name
  for ((i = 1; i <= NODES; i++)); do
    name="${CONTAINER_PREFIX}${i}"
    if docker container inspect "$name" >/dev/null 2>&1; then
      log "removing container $name"
      docker rm -f "$name" >/dev/null
    fi
  done
  log "containers removed (network $NETWORK and image $IMAGE_NAME kept)"
}

case "$MODE/$ACTION" in
  native/start) native_start ;;
  native/stop) native_stop ;;
  docker/start) docker_start ;;
  docker/stop) docker_stop ;;
esac
