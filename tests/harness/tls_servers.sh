#!/usr/bin/env bash
# TLS topologies for rcm's TLS tests (tests/tls), on top of rcm_harness.sh: sourced, it
# brings its up/down (servers recorded in <state_dir>/<topology>/pids, so that its
# `cleanup` stops them too), server start, waiting and certificates.
#
#   tls_servers.sh up   <topology> <base_port> <state_dir>
#   tls_servers.sh down <topology> <base_port> <state_dir>
#
# Topologies and their ports (relative to base_port); every server is TLS:
#   tls_standalone  +80 good: server.crt, tls-auth-clients yes (client certificates of ca.crt)
#                   +81 wrong name: a certificate for elsewhere.example only
#                   +82 expired: a certificate that expired in 2020
#   tls_cluster     3 primaries, tls-cluster yes, no replicas: TLS ports +83..+85, plain ports
#                   +86..+88 (both are announced, as in a cluster migrating to TLS), cluster
#                   bus +10083..+10085 (over TLS)
#   tls_sentinel    TLS only: +89 primary, +90 its replica, +91 a sentinel (quorum 1,
#                   tls-replication yes) monitoring "mymaster"
#
# Certificates (<state_dir>/tls-certs/, made once, atomically; the first four by the
# harness's make_certs):
#   ca.crt          the CA every server trusts and that signed the servers' certificates
#   other-ca.crt    an unrelated CA
#   server.*        CN localhost, SAN localhost and 127.0.0.1 (ca)
#   client.*        a client certificate of ca
#   wrongname.*     CN and SAN elsewhere.example (ca)
#   expired.*       SAN localhost and 127.0.0.1, valid 2020-01-01 .. 2020-02-01 (ca)
#   other-client.*  a client certificate of other-ca
set -euo pipefail

# shellcheck source=rcm_harness.sh
# shellcheck source=tests/harness/rcm_harness.sh disable=SC1091
source "$(dirname "${BASH_SOURCE[0]}")/rcm_harness.sh"

CERTS=""

use_tls_certs() { # <state_dir>
  CERTS="$1/tls-certs"
  make_tls_certs "$CERTS"
}

make_tls_certs() { # <dir>: leaves it complete or untouched (concurrent fixtures race here)
  local dir=$1 tmp
  [[ -s $dir/other-client.key ]] && return 0
  mkdir -p "$(dirname "$dir")"
  tmp=$(mktemp -d "$dir.gen.XXXXXX")
  make_certs "$tmp" # the harness's recipe: ca, other-ca, server, client
  (
    set -e
    cd "$tmp"
    cat >extra.cnf <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[wrongname_ext]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:elsewhere.example
[expired_ext]
basicConstraints = CA:FALSE
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
[other_client_ext]
basicConstraints = CA:FALSE
extendedKeyUsage = clientAuth
# `openssl ca` (the only way in OpenSSL 3.0 to set dates in the past) for expired.crt
[ca]
default_ca = test_ca
[test_ca]
database = index.txt
serial = serial
new_certs_dir = .
default_md = sha256
policy = any_name
unique_subject = no
[any_name]
commonName = supplied
EOF
    : >index.txt
    echo 1000 >serial
    csr() { # <name> <CN>
      openssl req -new -nodes -newkey rsa:2048 -sha256 -keyout "$1.key" -out "$1.csr" -subj "/CN=$2" -config extra.cnf
    }
    csr wrongname elsewhere.example
    openssl x509 -req -in wrongname.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out wrongname.crt \
      -days 3650 -sha256 -extfile extra.cnf -extensions wrongname_ext
    csr other-client rcm-tls-other-client
    openssl x509 -req -in other-client.csr -CA other-ca.crt -CAkey other-ca.key -CAcreateserial \
      -out other-client.crt -days 3650 -sha256 -extfile extra.cnf -extensions other_client_ext
    csr expired localhost
    openssl ca -batch -config extra.cnf -cert ca.crt -keyfile ca.key -in expired.csr -out expired.crt \
      -notext -startdate 20200101000000Z -enddate 20200201000000Z -extensions expired_ext
    # The tests' premises: this one is expired, the others verify.
    ! openssl verify -CAfile ca.crt expired.crt
    openssl verify -CAfile ca.crt server.crt wrongname.crt client.crt
    openssl verify -CAfile other-ca.crt other-client.crt
    chmod 644 ./*.key
  ) >"$tmp.log" 2>&1 || {
    sed 's/^/    /' "$tmp.log" >&2
    rm -rf "$tmp" "$tmp.log"
    die "openssl failed to generate the TLS test certificates"
  }
  rm -f "$tmp.log"
  # rename(2) of a directory onto a non-empty one fails: a concurrent fixture won, use its.
  mv -T "$tmp" "$dir" 2>/dev/null || rm -rf "$tmp"
  [[ -s $dir/other-client.key ]] || die "no certificates in $dir"
}

# tls_cli <tls port> <cli args...>: valkey-cli over TLS, verifying with ca.crt.
tls_cli() {
  local port=$1
  shift
  timeout 10 "$CLI_BIN" -h "$HOST" -p "$port" --tls --cacert "$CERTS/ca.crt" \
    --cert "$CERTS/client.crt" --key "$CERTS/client.key" "$@" 2>&1 | tr -d '\r'
}

# A TLS port with a server certificate. client.crt is what the server shows as a client
# (replication, cluster bus), and what the harness's PING probe shows.
tls_args() { # <tls port> <cert name>
  echo --tls-port "$1" --tls-cert-file "$CERTS/$2.crt" --tls-key-file "$CERTS/$2.key" \
    --tls-ca-cert-file "$CERTS/ca.crt" \
    --tls-client-cert-file "$CERTS/client.crt" --tls-client-key-file "$CERTS/client.key"
}

up_tls_standalone() {
  local base=$1
  use_tls_certs "$2"
  # shellcheck disable=SC2046  # tls_args prints words without spaces of their own
  node "$((base + 80))" --port 0 $(tls_args "$((base + 80))" server) --tls-auth-clients yes
  # shellcheck disable=SC2046
  node "$((base + 81))" --port 0 $(tls_args "$((base + 81))" wrongname) --tls-auth-clients optional
  # shellcheck disable=SC2046
  node "$((base + 82))" --port 0 $(tls_args "$((base + 82))" expired) --tls-auth-clients optional
}

tls_cluster_ready() { # <plain ports...>
  local p info
  for p in "$@"; do
    info=$(rcli "$p" "" CLUSTER INFO)
    [[ $info == *cluster_state:ok* && $info == *cluster_known_nodes:3* && $info == *cluster_slots_assigned:16384* ]] || return 1
  done
  info=$(rcli "$1" "" --cluster check "$HOST:$1")
  [[ $info == *"All nodes agree about slots configuration"* && $info == *"All 16384 slots covered"* ]]
}

up_tls_cluster() {
  local base=$1 i tls plain plains=() addrs=() out
  use_tls_certs "$2"
  for i in 0 1 2; do
    tls=$((base + 83 + i)) plain=$((base + 86 + i))
    port_in_use "$((tls + 10000))" && die "cluster bus port $((tls + 10000)) is already in use"
    # shellcheck disable=SC2046
    node "$plain" $(tls_args "$tls" server) --tls-auth-clients optional --tls-cluster yes \
      --cluster-enabled yes --cluster-port "$((tls + 10000))" --cluster-config-file "nodes-$tls.conf" \
      --cluster-node-timeout 5000
    plains+=("$plain")
    addrs+=("$HOST:$tls")
  done
  log "creating the TLS cluster"
  if ! out=$(timeout 120 "$CLI_BIN" --tls --cacert "$CERTS/ca.crt" --cluster create "${addrs[@]}" \
    --cluster-yes 2>&1); then
    printf '%s\n' "$out" | tail -n 30 | sed 's/^/    /' >&2
    die "$CLI_BIN --cluster create (TLS) failed"
  fi
  wait_until "$READY_TIMEOUT" "cluster_state:ok on the 3 TLS nodes, slots agreed" tls_cluster_ready "${plains[@]}" ||
    die "the TLS cluster did not become ready"
}

tls_replica_linked() { # <tls port>
  [[ $(tls_cli "$1" INFO replication) == *master_link_status:up* ]]
}

tls_sentinel_ready() { # <tls port>
  local out
  out=$(tls_cli "$1" SENTINEL MASTER "$MASTER_NAME") || return 1
  awk 'NR % 2 == 1 { k = $0 } NR % 2 == 0 { v[k] = $0 }
       END { exit !(v["num-slaves"] == 1 && v["flags"] == "master") }' <<<"$out"
}

up_tls_sentinel() {
  local base=$1 primary=$(($1 + 89)) replica=$(($1 + 90)) sentinel=$(($1 + 91)) dir conf pid
  use_tls_certs "$2"
  # shellcheck disable=SC2046
  node "$primary" --port 0 $(tls_args "$primary" server) --tls-auth-clients optional --tls-replication yes
  # shellcheck disable=SC2046
  node "$replica" --port 0 $(tls_args "$replica" server) --tls-auth-clients optional --tls-replication yes \
    --replicaof "$HOST" "$primary"
  wait_until "$READY_TIMEOUT" "replica $replica master_link_status:up" tls_replica_linked "$replica" ||
    die "replica $replica did not sync with $primary over TLS"
  dir=$(abs_dir "$TOPO_DIR/$sentinel")
  conf="$dir/sentinel-$sentinel.conf"
  # Sentinel rewrites this file as it learns the topology, so it lives in the state dir.
  cat >"$conf" <<EOF
port 0
tls-port $sentinel
tls-cert-file $CERTS/server.crt
tls-key-file $CERTS/server.key
tls-ca-cert-file $CERTS/ca.crt
tls-auth-clients optional
tls-replication yes
bind $HOST
daemonize yes
pidfile $dir/sentinel-$sentinel.pid
logfile $dir/sentinel-$sentinel.log
dir $dir
sentinel monitor $MASTER_NAME $HOST $primary 1
sentinel down-after-milliseconds $MASTER_NAME 1000
sentinel failover-timeout $MASTER_NAME 5000
EOF
  # shellcheck disable=SC2034  # read by rcm_harness.sh's launch (sourced)
  PROBE_ARGS=(--tls --insecure)
  pid=$(launch "$sentinel" "$sentinel" "$dir/sentinel-$sentinel.pid" "$dir/sentinel-$sentinel.log" -- \
    "$SENTINEL_BIN" "$conf" "${SENTINEL_ARGS[@]}") || die "could not start the sentinel on port $sentinel"
  record "$pid" "$sentinel"
  log "  sentinel 127.0.0.1:$sentinel pid $pid"
  wait_until "$READY_TIMEOUT" "sentinel $sentinel to know the master and its replica" tls_sentinel_ready "$sentinel" || {
    tls_cli "$sentinel" SENTINEL MASTER "$MASTER_NAME" | paste - - | sed 's/^/    /' >&2
    die "sentinel $sentinel did not discover the topology"
  }
}

TOPOLOGIES+=" tls_standalone tls_cluster tls_sentinel"
case ${1:-} in
  up | down)
    (($# == 4)) || usage
    cmd=$1
    shift
    "cmd_$cmd" "$@"
    ;;
  *) usage ;;
esac
