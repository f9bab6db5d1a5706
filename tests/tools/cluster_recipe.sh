#!/usr/bin/env bash
# The seed's Docker recipe is what runs: every node of a running cluster has the
# configuration docker/valkey-cluster-entrypoint.sh writes for it.
#
#   cluster_recipe.sh script  <base_port>
#       starts scripts/start_valkey_cluster.sh --native on base_port+1..+6 (stopped at
#       exit) and checks its nodes (tools.cluster_recipe)
#   cluster_recipe.sh harness <base_port> <state_dir>
#       checks the harness's cluster, ports base_port+10..+15 (cluster.recipe)
#
# For each node the entrypoint is run again with the node's environment and a server
# that does nothing (VALKEY_SERVER=true), and every key of the file it writes is read back
# with CONFIG GET; INFO's config_file must be the entrypoint's file of that node. The
# only keys a launcher may change are listed in OVERRIDES below.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
ENTRYPOINT=$ROOT/docker/valkey-cluster-entrypoint.sh
PASSWORD=abc123

fail() {
  echo "cluster_recipe: FAIL: $*" >&2
  exit 1
}

CLI=${RCM_CLI_BIN:-}
if [[ -z $CLI ]]; then
  CLI=$(command -v valkey-cli || command -v redis-cli) || fail "neither valkey-cli nor redis-cli found"
fi
cli() { # <port> <args...>
  local port=$1
  shift
  timeout 10 "$CLI" -h 127.0.0.1 -p "$port" -a "$PASSWORD" --no-auth-warning "$@" | tr -d '\r'
}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/cluster_recipe.XXXXXX")
STOP_SCRIPT=""
cleanup() {
  if [[ -n $STOP_SCRIPT ]]; then eval "$STOP_SCRIPT" >/dev/null 2>&1 || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

# A value of a config line as the server reads it: "..." unquoted, \" and \\ unescaped.
conf_value() {
  local v=$1
  if [[ $v == \"*\" ]]; then
    v=${v:1:${#v}-2}
    v=${v//\\\"/\"}
    v=${v//\\\\/\\}
  fi
  printf '%s' "$v"
}

declare -A OVERRIDES=()
CHECKED=0

# check_node <port> <node_id> <data_dir as the node sees it> <more env...>
check_node() {
  local port=$1 id=$2 data_dir=$3 gen="$TMP/gen-$1.conf" key rest want got n=0
  shift 3
  env -u CLUSTER_ANNOUNCE_IP NODE_ID="$id" VALKEY_PORT="$port" VALKEY_PASSWORD="$PASSWORD" \
    "$@" VALKEY_DATA_DIR="$TMP/data-$port" \
    VALKEY_CONF_FILE="$gen" VALKEY_SERVER=true sh "$ENTRYPOINT" 2>/dev/null ||
    fail "the entrypoint failed for port $port with: $*"
  grep -q '^cluster-enabled yes$' "$gen" || fail "the entrypoint wrote no cluster config: $(cat "$gen")"
  while read -r key rest; do
    [[ -n $key && $key != \#* ]] || continue
    n=$((n + 1))
    want=$(conf_value "$rest")
    if [[ $key == dir ]]; then want=$data_dir; fi
    if [[ -n ${OVERRIDES[$key]+set} ]]; then want=${OVERRIDES[$key]}; fi
    got=$(cli "$port" CONFIG GET "$key" | sed -n 2p)
    [[ $got == "$want" ]] ||
      fail "port $port: '$key' is '$got', the entrypoint writes '$want' (${OVERRIDES[$key]+overridden by the launcher, }generated: $gen)"
  done <"$gen"
  ((n >= 10)) || fail "port $port: only $n settings in the entrypoint's file"
  got=$(cli "$port" INFO server | awk -F: '$1 == "config_file" { print $2 }')
  want="$data_dir/valkey-cluster-$id.conf"
  [[ $got == "$want" ]] ||
    fail "port $port runs config file '$got', not the entrypoint's '$want'"
  echo "cluster_recipe: port $port: $n settings of the entrypoint match, config file $got"
  CHECKED=$((CHECKED + 1))
}

real_dir() { (cd "$1" && pwd -P); }

mode_script() { # <base_port>
  local base=$1 data="$TMP/native" i port
  mkdir -p "$data"
  data=$(real_dir "$data")
  local run=(env BASE_PORT="$base" DATA_DIR="$data" VALKEY_PASSWORD="$PASSWORD"
    CLUSTER_NODE_TIMEOUT=5000 bash "$ROOT/scripts/start_valkey_cluster.sh" --native)
  if [[ -n ${RCM_SERVER_BIN:-} ]]; then run=(env VALKEY_SERVER="$RCM_SERVER_BIN" "${run[@]}"); fi
  printf -v STOP_SCRIPT '%q ' "${run[@]}" --stop
  local started=0
  "${run[@]}" >"$TMP/start.log" 2>&1 || started=$?
  # Recorded where `rcm_harness.sh cleanup` looks, should this test be killed before its
  # EXIT trap stops them: they hold the cluster fixture's ports.
  if [[ -n ${RCM_TEST_STATE_DIR:-} ]] && mkdir -p "$RCM_TEST_STATE_DIR/private"; then
    for i in 1 2 3 4 5 6; do
      port=$((base + i))
      if [[ -s $data/$port/server.pid ]]; then
        echo "$(tr -dc '0-9' <"$data/$port/server.pid") $port" >>"$RCM_TEST_STATE_DIR/private/pids"
      fi
    done
  fi
  if ((started != 0)); then
    tail -n 30 "$TMP/start.log" >&2
    fail "scripts/start_valkey_cluster.sh --native failed"
  fi
  for i in 1 2 3 4 5 6; do
    port=$((base + i))
    check_node "$port" "$i" "$data/$port" VALKEY_BIND=127.0.0.1 CLUSTER_NODE_TIMEOUT=5000
  done
}

mode_harness() { # <base_port> <state_dir>
  local base=$1 state=$2 port dir
  # The one entrypoint setting the harness changes (tests/harness/rcm_harness.sh,
  # CLUSTER_TEST_ARGS): a restarted node comes back empty and resyncs.
  OVERRIDES[appendonly]=no
  for ((port = base + 10; port <= base + 15; port++)); do
    if [[ ${RCM_TEST_CLUSTER:-native} == docker ]]; then
      dir=/data
    else
      dir=$(real_dir "$state/cluster/$port") || fail "no directory $state/cluster/$port"
    fi
    check_node "$port" "$port" "$dir" VALKEY_BIND=127.0.0.1 CLUSTER_NODE_TIMEOUT=5000
  done
}

case ${1:-} in
  script) (($# == 2)) || fail "usage: $0 script <base_port>"; mode_script "$2" ;;
  harness) (($# == 3)) || fail "usage: $0 harness <base_port> <state_dir>"; mode_harness "$2" "$3" ;;
  *) fail "usage: $0 script <base_port> | harness <base_port> <state_dir>" ;;
esac
((CHECKED == 6)) || fail "checked $CHECKED nodes, not 6"
echo "cluster_recipe: all 6 nodes run the entrypoint's configuration"
