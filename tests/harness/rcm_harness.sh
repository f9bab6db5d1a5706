#!/usr/bin/env bash
# rcm test harness: starts and stops real Valkey/Redis servers from this machine's own
# binaries, on loopback ports under a base port, for rcm's integration tests.
#
#   rcm_harness.sh up     <topology> <base_port> <state_dir>
#   rcm_harness.sh down   <topology> <base_port> <state_dir>
#   rcm_harness.sh server <port> <dir> [extra server args...]
#   rcm_harness.sh stop   <pid>
#   rcm_harness.sh wait   <port> [password]
#   rcm_harness.sh cleanup <state_dir>
#   rcm_harness.sh cluster-node <port> <state_dir>   (re)start one node of the cluster
#   rcm_harness.sh guard  <topology> <state_dir> <command...>
#                         exit 77 (skipped) if `up <topology>` skipped, else run the command
#
# Topologies and their ports (relative to base_port):
#   standalone  +0 primary, +1 its replica, +2 password server (requirepass abc123),
#               +3 TLS-only server (certificates in <state_dir>/tls/)
#   cluster     +10..+15: 3 primaries + 3 replicas, requirepass/masterauth abc123, each
#               node configured by docker/valkey-cluster-entrypoint.sh (the image's recipe)
#               run natively, or with RCM_TEST_CLUSTER=docker in containers of the image
#               docker/valkey-cluster.Dockerfile (host network; skipped, exit 77, with a
#               message when no Docker engine answers)
#   sentinel    +20 primary, +21 +22 replicas (abc123), +25..+27 sentinels, master mymaster
#   raft        +30..+32 nodes loading $REDISRAFT_SO (up and down exit 77, skipped, when
#               it is not set)
# Tests own +40..+59, +70..+79 (and +4..+9, +16..+19; see fixtures.cmake) for private
# servers (the Python tests +60..+69; tls_servers.sh +80..+91).
#
# Binaries: RCM_SERVER_BIN (default valkey-server, else redis-server); RCM_CLI_BIN and
# RCM_SENTINEL_BIN override the matching valkey-cli/redis-cli and *-sentinel (when no
# sentinel binary exists, `<server> <conf> --sentinel` is used). Raft nodes run
# RCM_RAFT_SERVER_BIN (default valkey-server, which accepts the module; Redis 7.0 does not).
#
# Messages go to stderr; stdout carries only results (the PID printed by `server`).
set -euo pipefail

readonly PROG=rcm_harness
readonly HOST=127.0.0.1
readonly PASSWORD=abc123
readonly MASTER_NAME=mymaster
readonly START_TIMEOUT=${RCM_HARNESS_START_TIMEOUT:-15}   # seconds, one server
readonly READY_TIMEOUT=${RCM_HARNESS_READY_TIMEOUT:-90}   # seconds, a whole topology
TOPOLOGIES="standalone cluster sentinel raft" # tls_servers.sh adds its own
readonly SKIP_CODE=77   # SKIP_RETURN_CODE of the tests (tests/harness/fixtures.cmake)
HARNESS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly REPO_ROOT=${HARNESS_DIR%/tests/harness}
readonly ENTRYPOINT=$REPO_ROOT/docker/valkey-cluster-entrypoint.sh
readonly DOCKERFILE=$REPO_ROOT/docker/valkey-cluster.Dockerfile
readonly DOCKER_IMAGE=${RCM_TEST_DOCKER_IMAGE:-rcm-valkey-cluster:test}

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
  sed -n '5,13p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }

# ---- binaries ---------------------------------------------------------------------------

SERVER_BIN=""
CLI_BIN=""
SENTINEL_BIN=""
SENTINEL_ARGS=()

# Prints the path of the first candidate that is an executable (a path or a name in PATH).
first_exe() {
  local c p
  for c in "$@"; do
    if p=$(command -v -- "$c" 2>/dev/null) && [[ -x $p ]]; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

resolve_bins() {
  local want=${RCM_SERVER_BIN:-} family other dir
  if [[ -z $want ]]; then
    want=$(first_exe valkey-server redis-server) ||
      die "neither valkey-server nor redis-server is installed (run scripts/install_deps.sh, or set RCM_SERVER_BIN)"
  fi
  SERVER_BIN=$(first_exe "$want") || die "RCM_SERVER_BIN='$want' is not an executable"
  case $(basename "$SERVER_BIN") in
    *valkey*) family=valkey other=redis ;;
    *) family=redis other=valkey ;;
  esac
  dir=$(dirname "$SERVER_BIN")
  if [[ -n ${RCM_CLI_BIN:-} ]]; then
    CLI_BIN=$(first_exe "$RCM_CLI_BIN") || die "RCM_CLI_BIN='$RCM_CLI_BIN' is not an executable"
  else
    CLI_BIN=$(first_exe "$dir/$family-cli" "$family-cli" "$other-cli") ||
      die "no $family-cli (or $other-cli) found next to $SERVER_BIN or in PATH"
  fi
  SENTINEL_ARGS=()
  if [[ -n ${RCM_SENTINEL_BIN:-} ]]; then
    SENTINEL_BIN=$(first_exe "$RCM_SENTINEL_BIN") ||
      die "RCM_SENTINEL_BIN='$RCM_SENTINEL_BIN' is not an executable"
  elif SENTINEL_BIN=$(first_exe "$dir/$family-sentinel" "$family-sentinel"); then
    :
  else
    # The server runs as a sentinel when given --sentinel after its config file.
    SENTINEL_BIN=$SERVER_BIN
    SENTINEL_ARGS=(--sentinel)
  fi
}

# ---- processes --------------------------------------------------------------------------

# True while pid exists and is not a zombie (PID 1 of a container may never reap it).
alive() {
  local pid=$1 stat
  [[ -r /proc/$pid/stat ]] || return 1
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}

# True when pid is a server listening on port: servers set their title to
# "<name> 127.0.0.1:<port> [mode]", so a recycled PID is never mistaken for ours.
pid_is_server_on() {
  local pid=$1 port=$2 cmdline
  alive "$pid" || return 1
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ " $cmdline " == *":$port "* || " $cmdline " == *" --port $port "* ]]
}

# SIGTERM every pid (and SIGCONT, in case a test left it stopped), SIGKILL whatever is
# still there after 5 s, and return once all are gone.
stop_pids() {
  local pid left i
  for pid in "$@"; do
    if alive "$pid"; then
      kill -TERM "$pid" 2>/dev/null || true
      kill -CONT "$pid" 2>/dev/null || true
    fi
  done
  for ((i = 0; i < 100; i++)); do
    left=0
    for pid in "$@"; do alive "$pid" && left=1; done
    ((left)) || return 0
    sleep 0.05
  done
  for pid in "$@"; do
    if alive "$pid"; then
      log "pid $pid did not stop within 5 s of SIGTERM; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  for ((i = 0; i < 200; i++)); do
    left=0
    for pid in "$@"; do alive "$pid" && left=1; done
    ((left)) || return 0
    sleep 0.05
  done
  for pid in "$@"; do alive "$pid" && log "pid $pid is still alive after SIGKILL"; done
  return 1
}

# Stops the servers listed in a pids file ("<pid> <port>" lines) that are still ours.
stop_recorded() {
  local file=$1 pid port pids=()
  [[ -f $file ]] || return 0
  while read -r pid port; do
    [[ -n $pid ]] || continue
    if pid_is_server_on "$pid" "$port"; then
      pids+=("$pid")
    fi
  done <"$file"
  local rc=0
  if ((${#pids[@]})); then
    log "stopping ${#pids[@]} server(s) recorded in $file: ${pids[*]}"
    stop_pids "${pids[@]}" || rc=1
  fi
  rm -f "$file"
  return "$rc"
}

# ---- talking to servers -----------------------------------------------------------------

# rcli <port> <password or ""> <cli args...>
rcli() {
  local port=$1 pass=$2
  shift 2
  local args=(-h "$HOST" -p "$port")
  if [[ -n $pass ]]; then args+=(-a "$pass" --no-auth-warning); fi
  timeout 10 "$CLI_BIN" "${args[@]}" "$@" 2>&1 | tr -d '\r'
}

# info_field <port> <password> <section> <field>
info_field() {
  rcli "$1" "$2" INFO "$3" | awk -F: -v f="$4" '$1 == f { print $2; exit }'
}

port_in_use() {
  (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

# A server "answers" when PING returns PONG, or NOAUTH when we hold no password.
# ping_ok <port> [cli args...]
ping_ok() {
  local port=$1 out
  shift
  out=$(timeout 5 "$CLI_BIN" -h "$HOST" -p "$port" "$@" PING 2>&1) || return 1
  [[ $out == *PONG* || $out == *NOAUTH* ]]
}

# wait_until <seconds> <what> <command...>: polls the command until it succeeds.
wait_until() {
  local secs=$1 what=$2 deadline
  shift 2
  deadline=$((SECONDS + secs))
  until "$@"; do
    if ((SECONDS >= deadline)); then
      log "timed out after ${secs} s waiting for: $what"
      return 1
    fi
    sleep 0.2
  done
}

log_tail() {
  local logfile=$1 from=${2:-0}
  if [[ -s $logfile ]]; then
    log "last lines of $logfile:"
    tail -c +"$((from + 1))" "$logfile" | tail -n 25 | sed 's/^/    /' >&2
  else
    log "($logfile is empty or missing)"
  fi
}

# ---- starting one server ----------------------------------------------------------------

# launch <port> <probe_port> <pidfile> <logfile> -- <command...>
# Runs a daemonizing server command and waits until it answers PING on probe_port
# (over TLS with PROBE_ARGS). Prints the PID; on failure stops it and shows its log.
PROBE_ARGS=()
launch() {
  local port=$1 probe_port=$2 pidfile=$3 logfile=$4 out from pid="" deadline
  shift 5
  if port_in_use "$probe_port"; then
    die "port $probe_port is already in use (a server left over from an earlier run? try: $0 cleanup <state_dir>)"
  fi
  rm -f "$pidfile"
  from=$(stat -c %s "$logfile" 2>/dev/null || echo 0)
  if ! out=$("$@" 2>&1); then
    log "server for port $port failed to start: $*"
    [[ -z $out ]] || printf '%s\n' "$out" | tail -n 25 | sed 's/^/    /' >&2
    log_tail "$logfile" "$from"
    return 1
  fi
  deadline=$((SECONDS + START_TIMEOUT))
  while :; do
    if [[ -z $pid && -s $pidfile ]]; then
      pid=$(tr -dc '0-9' <"$pidfile")
    fi
    if [[ -n $pid ]]; then
      if ! alive "$pid"; then
        log "server on port $port (pid $pid) exited during startup"
        log_tail "$logfile" "$from"
        return 1
      fi
      if ping_ok "$probe_port" "${PROBE_ARGS[@]}"; then
        echo "$pid"
        return 0
      fi
    fi
    if ((SECONDS >= deadline)); then
      if [[ -n $pid ]]; then
        log "server on port $port (pid $pid) did not answer PING within ${START_TIMEOUT} s; stopping it"
        stop_pids "$pid" || true
      else
        log "server on port $port wrote no pidfile ($pidfile) within ${START_TIMEOUT} s"
      fi
      log_tail "$logfile" "$from"
      return 1
    fi
    sleep 0.1
  done
}

abs_dir() {
  mkdir -p "$1" && (cd "$1" && pwd)
}

# start_server <port> <dir> [extra args...]: one daemonized data server; prints its PID.
start_server() {
  local port=$1 dir=$2 bin=${SERVER_BIN}
  shift 2
  if [[ -n ${RAFT_BIN:-} ]]; then bin=$RAFT_BIN; fi
  dir=$(abs_dir "$dir") || die "cannot create directory $2"
  local pidfile="$dir/server-$port.pid" logfile="$dir/server-$port.log"
  # Where it will listen, from the extra args (the last one given wins, as for the server).
  local listen=$port tls_port="" cert="" key="" ccert="" ckey="" args=("$@") i
  for ((i = 0; i < ${#args[@]}; i++)); do
    case ${args[i]} in
      --port) listen=${args[i + 1]:-$listen} ;;
      --tls-port) tls_port=${args[i + 1]:-} ;;
      --tls-cert-file) cert=${args[i + 1]:-} ;;
      --tls-key-file) key=${args[i + 1]:-} ;;
      --tls-client-cert-file) ccert=${args[i + 1]:-} ;;
      --tls-client-key-file) ckey=${args[i + 1]:-} ;;
    esac
  done
  PROBE_ARGS=()
  local probe_port=$listen
  if [[ -n $tls_port && $tls_port != 0 && $listen == 0 ]]; then
    # A TLS-only server: probe over TLS, showing the server's own certificate in case
    # it requires client certificates (tls-auth-clients yes, the default).
    probe_port=$tls_port
    PROBE_ARGS=(--tls --insecure)
    if [[ -n $ccert && -n $ckey ]]; then
      PROBE_ARGS+=(--cert "$ccert" --key "$ckey")
    elif [[ -n $cert && -n $key ]]; then
      PROBE_ARGS+=(--cert "$cert" --key "$key")
    fi
  fi
  launch "$port" "$probe_port" "$pidfile" "$logfile" -- \
    "$bin" --port "$port" --bind "$HOST" --daemonize yes \
    --pidfile "$pidfile" --logfile "$logfile" --dir "$dir" \
    --dbfilename "dump-$port.rdb" --save "" --appendonly no \
    --enable-debug-command yes --repl-diskless-sync-delay 0 \
    "$@"
}

# start_sentinel <port> <dir> <master_port>: prints its PID.
start_sentinel() {
  local port=$1 dir=$2 master_port=$3
  dir=$(abs_dir "$dir") || die "cannot create directory $2"
  local conf="$dir/sentinel-$port.conf" pidfile="$dir/sentinel-$port.pid" logfile="$dir/sentinel-$port.log"
  # Sentinel rewrites this file as it learns the topology, so it lives in the state dir.
  cat >"$conf" <<EOF
port $port
bind $HOST
daemonize yes
pidfile $pidfile
logfile $logfile
dir $dir
sentinel monitor $MASTER_NAME $HOST $master_port 2
sentinel auth-pass $MASTER_NAME $PASSWORD
sentinel down-after-milliseconds $MASTER_NAME 1000
sentinel failover-timeout $MASTER_NAME 5000
sentinel parallel-syncs $MASTER_NAME 1
EOF
  PROBE_ARGS=()
  launch "$port" "$port" "$pidfile" "$logfile" -- "$SENTINEL_BIN" "$conf" "${SENTINEL_ARGS[@]}"
}

# ---- topologies -------------------------------------------------------------------------

TOPO_DIR=""

record() { echo "$1 $2" >>"$TOPO_DIR/pids"; }

# node <port> [extra args...]: a data server of the current topology, in its own dir.
node() {
  local port=$1 pid
  shift
  pid=$(start_server "$port" "$TOPO_DIR/$port" "$@") || die "could not start the server on port $port"
  record "$pid" "$port"
  log "  server  127.0.0.1:$port pid $pid"
}

replica_linked() { # <port> <password>
  [[ $(info_field "$1" "$2" replication master_link_status) == up ]]
}

make_certs() {
  local dir=$1 f missing=0
  mkdir -p "$dir"
  for f in ca.crt ca.key server.crt server.key client.crt client.key other-ca.crt; do
    [[ -s $dir/$f ]] || missing=1
  done
  if ((!missing)) && openssl verify -CAfile "$dir/ca.crt" "$dir/server.crt" "$dir/client.crt" >/dev/null 2>&1; then
    return 0
  fi
  log "generating TLS certificates in $dir"
  local tmp
  tmp=$(mktemp -d "$dir/.gen.XXXXXX")
  cat >"$tmp/openssl.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
[client_ext]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
EOF
  (
    set -e
    cd "$tmp"
    gen_ca() { # <name> <CN>
      openssl req -x509 -new -nodes -newkey rsa:2048 -sha256 -days 3650 \
        -keyout "$1.key" -out "$1.crt" -subj "/CN=$2" \
        -config openssl.cnf -extensions ca_ext
    }
    gen_leaf() { # <name> <CN> <ext>
      openssl req -new -nodes -newkey rsa:2048 -sha256 -keyout "$1.key" -out "$1.csr" \
        -subj "/CN=$2" -config openssl.cnf
      openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial \
        -out "$1.crt" -days 3650 -sha256 -extfile openssl.cnf -extensions "$3"
    }
    gen_ca ca "rcm test CA"
    gen_ca other-ca "rcm unrelated CA"
    gen_leaf server localhost server_ext
    gen_leaf client rcm-test-client client_ext
    chmod 644 ./*.key
    mv ca.crt ca.key other-ca.crt other-ca.key server.crt server.key client.crt client.key "$dir/"
  ) >"$tmp/openssl.log" 2>&1 || {
    sed 's/^/    /' "$tmp/openssl.log" >&2
    die "openssl failed to generate the test certificates"
  }
  rm -rf "$tmp"
}

up_standalone() {
  local base=$1 state=$2 tls="$2/tls"
  make_certs "$tls"
  node "$base"
  node "$((base + 1))" --replicaof "$HOST" "$base"
  node "$((base + 2))" --requirepass "$PASSWORD"
  node "$((base + 3))" --port 0 --tls-port "$((base + 3))" \
    --tls-cert-file "$tls/server.crt" --tls-key-file "$tls/server.key" \
    --tls-ca-cert-file "$tls/ca.crt" --tls-auth-clients optional
  wait_until "$READY_TIMEOUT" "replica $((base + 1)) master_link_status:up" \
    replica_linked "$((base + 1))" ""
}

cluster_node_ready() { # <port>
  local info
  info=$(rcli "$1" "$PASSWORD" CLUSTER INFO)
  [[ $info == *cluster_state:ok* && $info == *cluster_known_nodes:6* && $info == *cluster_slots_assigned:16384* ]] || return 1
  if [[ $(info_field "$1" "$PASSWORD" replication role) == slave ]]; then
    replica_linked "$1" "$PASSWORD" || return 1
  fi
}

cluster_ready() { # <ports...>
  local p out
  for p in "$@"; do cluster_node_ready "$p" || return 1; done
  out=$(rcli "$1" "$PASSWORD" --cluster check "$HOST:$1")
  [[ $out == *"All nodes agree about slots configuration"* && $out == *"All 16384 slots covered"* ]] || return 1
  # 3 primaries with one replica each.
  out=$(rcli "$1" "$PASSWORD" CLUSTER NODES)
  [[ $(awk '$3 ~ /master/ && $3 !~ /fail/' <<<"$out" | wc -l) -eq 3 &&
     $(awk '$3 ~ /slave/ && $3 !~ /fail/' <<<"$out" | wc -l) -eq 3 ]]
}

# What the tests need beyond the image's configuration: replicas that may always take
# over and never migrate (the failover tests choose which node takes over), DEBUG, and no
# persistence or diskless-sync delay, so a restarted node resyncs at once. Everything else
# is the entrypoint's (tests/tools/cluster_recipe.sh checks the running nodes).
# No replication PING for an hour (and a link timeout above it): until the first write
# every replica's offset stays 0, which CLUSTER SHARDS reports as health "loading",
# the case cluster.topology's first test needs (a fresh cluster, before any write).
CLUSTER_TEST_ARGS=(--cluster-replica-validity-factor 0 --cluster-allow-replica-migration no
  --enable-debug-command yes --repl-diskless-sync-delay 0 --save "" --appendonly no
  --repl-ping-replica-period 3600 --repl-timeout 7200)

CLUSTER_MODE=native
set_cluster_mode() {
  CLUSTER_MODE=${RCM_TEST_CLUSTER:-native}
  [[ $CLUSTER_MODE == native || $CLUSTER_MODE == docker ]] ||
    die "RCM_TEST_CLUSTER='$RCM_TEST_CLUSTER' is not 'native' or 'docker'"
}

# The entrypoint's environment for the node on <port>; its files are named after the port.
cluster_node_env() { # <port>
  echo "NODE_ID=$1" "VALKEY_PORT=$1" "VALKEY_BIND=$HOST" "VALKEY_PASSWORD=$PASSWORD" \
    "CLUSTER_NODE_TIMEOUT=5000"
}

# Prints why no Docker engine can run the cluster, or nothing (and fails) when one can.
docker_unavailable() {
  local out
  command -v docker >/dev/null 2>&1 || { echo "no docker command in PATH"; return 0; }
  out=$(timeout 20 docker info 2>&1 >/dev/null) && return 1
  echo "docker info failed: $(printf '%s' "$out" | grep -v '^$' | tail -n 1)"
}

docker_name() { echo "rcm-harness-$1"; }

# start_cluster_node <port>: starts (or, in Docker, restarts with its data) one node and
# records its PID (in Docker: the host PID of the container's server).
start_cluster_node() {
  local port=$1 dir pid name env_args=() e
  dir=$(abs_dir "$TOPO_DIR/$port") || die "cannot create directory $TOPO_DIR/$port"
  read -r -a env_args <<<"$(cluster_node_env "$port")"
  PROBE_ARGS=()
  if [[ $CLUSTER_MODE == native ]]; then
    local pidfile="$dir/server-$port.pid" logfile="$dir/server-$port.log"
    pid=$(launch "$port" "$port" "$pidfile" "$logfile" -- \
      env "${env_args[@]}" VALKEY_DATA_DIR="$dir" VALKEY_SERVER="$SERVER_BIN" \
      CLUSTER_ANNOUNCE_IP= VALKEY_CONF_FILE= sh "$ENTRYPOINT" \
      --daemonize yes --pidfile "$pidfile" --logfile "$logfile" "${CLUSTER_TEST_ARGS[@]}") ||
      die "could not start the cluster node on port $port"
  else
    name=$(docker_name "$port")
    if docker container inspect "$name" >/dev/null 2>&1; then
      docker start "$name" >/dev/null || die "docker start $name failed"
    else
      local docker_env=()
      for e in "${env_args[@]}"; do docker_env+=(-e "$e"); done
      docker run -d --name "$name" --net host --label rcm-harness=cluster "${docker_env[@]}" \
        "$DOCKER_IMAGE" "${CLUSTER_TEST_ARGS[@]}" >/dev/null || die "docker run $name failed"
      echo "$name" >>"$TOPO_DIR/containers"
    fi
    wait_until "$START_TIMEOUT" "container $name to answer PING on $port" ping_ok "$port" || {
      docker logs --tail 25 "$name" 2>&1 | sed 's/^/    /' >&2
      die "container $name did not come up"
    }
    pid=$(docker inspect -f '{{.State.Pid}}' "$name") || pid=0
    [[ $pid != 0 ]] || die "no PID for container $name"
  fi
  record "$pid" "$port"
  log "  cluster node 127.0.0.1:$port pid $pid ($CLUSTER_MODE)"
  echo "$pid"
}

# Removes the containers `up cluster` made in Docker mode (their servers are stopped already).
remove_containers() { # <file>
  local file=$1 name
  [[ -f $file ]] || return 0
  while read -r name; do
    if [[ -n $name ]]; then docker rm -f -v "$name" >/dev/null 2>&1 || true; fi
  done <"$file"
  rm -f "$file"
}

up_cluster() {
  local base=$1 p ports=() addrs=() out
  for ((p = base + 10; p <= base + 15; p++)); do
    port_in_use "$((p + 10000))" && die "cluster bus port $((p + 10000)) (port $p + 10000) is already in use"
    ports+=("$p")
    addrs+=("$HOST:$p")
  done
  if [[ $CLUSTER_MODE == docker ]]; then
    log "building $DOCKER_IMAGE from $DOCKERFILE"
    docker build -q -f "$DOCKERFILE" -t "$DOCKER_IMAGE" "$REPO_ROOT" >/dev/null ||
      die "docker build of $DOCKERFILE failed"
    for p in "${ports[@]}"; do docker rm -f -v "$(docker_name "$p")" >/dev/null 2>&1 || true; done
  fi
  for p in "${ports[@]}"; do
    start_cluster_node "$p" >/dev/null
  done
  log "creating the cluster"
  if ! out=$(timeout 120 "$CLI_BIN" -a "$PASSWORD" --no-auth-warning --cluster create "${addrs[@]}" \
    --cluster-replicas 1 --cluster-yes 2>&1); then
    printf '%s\n' "$out" | tail -n 30 | sed 's/^/    /' >&2
    die "$CLI_BIN --cluster create failed"
  fi
  wait_until "$READY_TIMEOUT" "cluster_state:ok on all 6 nodes, replicas linked, slots agreed" \
    cluster_ready "${ports[@]}" || {
    local q
    for q in "${ports[@]}"; do log "  $q: $(rcli "$q" "$PASSWORD" CLUSTER INFO | head -n 1)"; done
    die "the cluster did not become ready"
  }
}

sentinel_ready() { # <port>
  local out
  out=$(rcli "$1" "" SENTINEL MASTER "$MASTER_NAME") || return 1
  awk 'NR % 2 == 1 { k = $0 } NR % 2 == 0 { v[k] = $0 }
       END { exit !(v["num-slaves"] == 2 && v["num-other-sentinels"] == 2 && v["flags"] == "master") }' <<<"$out"
}

up_sentinel() {
  local base=$1 p pid primary=$(($1 + 20))
  node "$primary" --requirepass "$PASSWORD" --masterauth "$PASSWORD"
  for p in $((base + 21)) $((base + 22)); do
    node "$p" --requirepass "$PASSWORD" --masterauth "$PASSWORD" --replicaof "$HOST" "$primary"
  done
  for p in $((base + 21)) $((base + 22)); do
    wait_until "$READY_TIMEOUT" "replica $p master_link_status:up" replica_linked "$p" "$PASSWORD" ||
      die "replica $p did not sync with $primary"
  done
  for p in $((base + 25)) $((base + 26)) $((base + 27)); do
    pid=$(start_sentinel "$p" "$TOPO_DIR/$p" "$primary") || die "could not start the sentinel on port $p"
    record "$pid" "$p"
    log "  sentinel 127.0.0.1:$p pid $pid"
  done
  for p in $((base + 25)) $((base + 26)) $((base + 27)); do
    wait_until "$READY_TIMEOUT" "sentinel $p to know 2 replicas and 2 other sentinels" sentinel_ready "$p" || {
      rcli "$p" "" SENTINEL MASTER "$MASTER_NAME" | paste - - | sed 's/^/    /' >&2
      die "sentinel $p did not discover the topology"
    }
  done
}

raft_field() { # <port> <field>
  rcli "$1" "" INFO raft | awk -F: -v f="raft_$2" '$1 == f { print $2; exit }'
}

raft_node_ready() { # <port> <num_nodes>
  local leader
  leader=$(raft_field "$1" leader_id)
  [[ -n $leader && $leader != -1 && $leader != 0 && $(raft_field "$1" num_nodes) == "$2" ]]
}

up_raft() {
  local base=$1 i p first=$(($1 + 30)) out
  [[ -f $REDISRAFT_SO ]] || die "REDISRAFT_SO='$REDISRAFT_SO' is not a file"
  # RedisRaft refuses released Redis (7.x) but loads into valkey-server 8.
  if [[ -n ${RCM_RAFT_SERVER_BIN:-} ]]; then
    RAFT_BIN=$(first_exe "$RCM_RAFT_SERVER_BIN") || die "RCM_RAFT_SERVER_BIN='$RCM_RAFT_SERVER_BIN' is not an executable"
  else
    RAFT_BIN=$(first_exe valkey-server "$SERVER_BIN")
  fi
  log "raft: nodes run $RAFT_BIN with module $REDISRAFT_SO"
  for i in 1 2 3; do
    p=$((base + 29 + i))
    node "$p" --loadmodule "$REDISRAFT_SO" \
      --raft.addr "$HOST:$p" --raft.id "$i" --raft.log-filename "raftlog$i.db" \
      --dbfilename "raft$i.rdb"
  done
  out=$(rcli "$first" "" RAFT.CLUSTER INIT)
  [[ -n $out && $out != *ERR* ]] || die "RAFT.CLUSTER INIT on $first failed: $out"
  wait_until "$READY_TIMEOUT" "raft node $first to lead a 1-node cluster" raft_node_ready "$first" 1 ||
    die "raft node $first did not become leader"
  for i in 2 3; do
    p=$((base + 29 + i))
    out=$(rcli "$p" "" RAFT.CLUSTER JOIN "$HOST:$first")
    [[ $out != *ERR* ]] || die "RAFT.CLUSTER JOIN on $p failed: $out"
    wait_until "$READY_TIMEOUT" "raft node $p to join" raft_node_ready "$p" "$i" ||
      die "raft node $p did not join the cluster"
  done
  for i in 1 2 3; do
    wait_until "$READY_TIMEOUT" "raft node $((base + 29 + i)) to see a leader and 3 nodes" \
      raft_node_ready "$((base + 29 + i))" 3 || die "the raft cluster did not settle"
  done
}

# ---- commands ---------------------------------------------------------------------------

check_topology_args() { # <topology> <base> <state_dir>
  [[ " $TOPOLOGIES " == *" $1 "* ]] || die "unknown topology '$1' (one of: $TOPOLOGIES)"
  is_uint "$2" || die "base_port '$2' is not a number"
  (($2 >= 1024 && $2 + 59 + 10000 <= 65535)) ||
    die "base_port $2 out of range: ports base..base+59 and cluster bus ports +10000 must fit in 1024..65535"
  [[ -n $3 ]] || die "state_dir is empty"
}

# Raft needs the module: without REDISRAFT_SO nothing starts, and up and down say so and
# exit with SKIP_CODE (CTest's SKIP_RETURN_CODE) rather than pass having done nothing.

cmd_down() { # <topology> <base> <state_dir>
  local rc=0
  check_topology_args "$@"
  if [[ $1 == raft && -z ${REDISRAFT_SO:-} && ! -s $3/raft/pids ]]; then
    echo "raft: REDISRAFT_SO is not set and nothing was started; skipping"
    exit "$SKIP_CODE"
  fi
  [[ -d $3 ]] || return 0
  stop_recorded "$3/$1/pids" || rc=1
  remove_containers "$3/$1/containers"
  return "$rc"
}

cmd_up() { # <topology> <base> <state_dir>
  local topo=$1 base=$2 state rc
  check_topology_args "$@"
  if [[ $topo == cluster ]]; then set_cluster_mode; fi
  if [[ $topo == raft && -z ${REDISRAFT_SO:-} ]]; then
    echo "raft: REDISRAFT_SO is not set (the path of redisraft.so); skipping"
    exit "$SKIP_CODE"
  fi
  resolve_bins
  state=$(abs_dir "$3") || die "cannot create state dir $3"
  cmd_down "$topo" "$base" "$state" || true
  TOPO_DIR="$state/$topo"
  rm -rf "$TOPO_DIR"
  mkdir -p "$TOPO_DIR"
  local why
  if [[ $topo == cluster && $CLUSTER_MODE == docker ]] && why=$(docker_unavailable); then
    # `guard cluster` reads this and skips every test that needs the cluster.
    echo "RCM_TEST_CLUSTER=docker, but no Docker engine answers ($why): the cluster was not started and its tests are skipped" >"$TOPO_DIR/skipped"
    echo "cluster: SKIPPED: $(cat "$TOPO_DIR/skipped")"
    exit "$SKIP_CODE"
  fi
  log "$topo: starting on base port $base with $SERVER_BIN (state in $TOPO_DIR)"
  set +e
  (
    set -e
    "up_$topo" "$base" "$state"
  )
  rc=$?
  set -e
  if ((rc != 0)); then
    log "$topo: failed to come up; stopping what was started (logs stay in $TOPO_DIR)"
    stop_recorded "$TOPO_DIR/pids" || true
    exit 1
  fi
  log "$topo: up"
}

cmd_server() { # <port> <dir> [args...]
  (($# >= 2)) || usage
  is_uint "$1" || die "port '$1' is not a number"
  local port=$1 dir=$2 pid
  shift 2
  resolve_bins
  pid=$(start_server "$port" "$dir" "$@") || die "could not start the server on port $port (log: $dir/server-$port.log)"
  # Remembered so that `cleanup` can stop servers a crashed test left behind.
  if [[ -n ${RCM_TEST_STATE_DIR:-} ]] && mkdir -p "$RCM_TEST_STATE_DIR/private" 2>/dev/null; then
    echo "$pid $port" >>"$RCM_TEST_STATE_DIR/private/pids"
  fi
  echo "$pid"
}

cmd_stop() { # <pid>
  (($# == 1)) || usage
  is_uint "$1" || die "pid '$1' is not a number"
  alive "$1" || return 0
  stop_pids "$1" || die "pid $1 is still alive"
}

cmd_wait() { # <port> [password]
  (($# == 1 || $# == 2)) || usage
  is_uint "$1" || die "port '$1' is not a number"
  resolve_bins
  local args=()
  if [[ -n ${2:-} ]]; then args=(-a "$2" --no-auth-warning); fi
  local deadline=$((SECONDS + 10))
  until ping_ok "$1" "${args[@]}"; do
    ((SECONDS < deadline)) || die "no server answered PING on $HOST:$1 within 10 s"
    sleep 0.1
  done
}

cmd_cluster_node() { # <port> <state_dir>: a node of `up cluster`, again (after a test killed it)
  (($# == 2)) || usage
  is_uint "$1" || die "port '$1' is not a number"
  set_cluster_mode
  resolve_bins
  TOPO_DIR=$(abs_dir "$2/cluster") || die "cannot create $2/cluster"
  start_cluster_node "$1"
}

cmd_guard() { # <topology> <state_dir> <command...>
  (($# >= 3)) || usage
  local marker="$2/$1/skipped"
  shift 2
  if [[ -f $marker ]]; then
    echo "SKIPPED: $(cat "$marker")"
    exit "$SKIP_CODE"
  fi
  exec "$@"
}

cmd_cleanup() { # <state_dir>: stops every server recorded anywhere under it
  (($# == 1)) || usage
  [[ -d $1 ]] || return 0
  local f rc=0
  for f in "$1"/*/; do
    stop_recorded "${f}pids" || rc=1
    remove_containers "${f}containers"
  done
  return "$rc"
}

main() {
  (($# >= 1)) || usage
  local cmd=$1
  shift
  case $cmd in
    up) (($# == 3)) || usage; cmd_up "$@" ;;
    down) (($# == 3)) || usage; cmd_down "$@" ;;
    server) cmd_server "$@" ;;
    stop) cmd_stop "$@" ;;
    wait) cmd_wait "$@" ;;
    cleanup) cmd_cleanup "$@" ;;
    cluster-node) cmd_cluster_node "$@" ;;
    guard) cmd_guard "$@" ;;
    -h | --help | help) usage ;;
    *) log "unknown command '$cmd'"; usage ;;
  esac
}

# tls_servers.sh sources this file for its functions; only a direct run acts.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; fi
