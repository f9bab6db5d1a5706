#!/usr/bin/env bash
# cli_secrets.sh RCM_BINARY
# Item 7: what the rcm tool prints about a bad URL, option or setting never quotes a
# password. A marker password holding every character that splits a URL goes through
# malformed command lines; the test fails if any piece of it shows on stdout or stderr.
# No server is needed: every case fails before connecting, or connects to a closed port.
set -uo pipefail
rcm=$1
m='Qz7/Kx9?Wv4#Jm2:Hy6@Tb5&Rn8'
pieces=(Qz7 Kx9 Wv4 Jm2 Hy6 Tb5 Rn8)
fail=0
check() {
  local out status=0
  out=$("$rcm" "$@" 2>&1) || status=$?
  if [[ $status -eq 0 ]]; then
    echo "cli_secrets: accepted: rcm $*" >&2
    fail=1
  fi
  for p in "${pieces[@]}"; do
    if [[ $out == *"$p"* ]]; then
      echo "cli_secrets: quotes '$p' of the password: rcm ${1} ... -> $out" >&2
      fail=1
    fi
  done
  printf '  -> %s\n' "${out//$'\n'/ | }"
}
check -u "user:$m@127.0.0.1:6379" PING
check -u "redis://user:$m@127.0.0.1:badport" PING
check -u "redis://user:$m@127.0.0.1:6379/notadb" PING
check -u "redis://user:$m@127.0.0.1:6379?pool.size=x" PING
check -u "redis://user:$m@bad host:1" PING
check "-uredis://user:$m@127.0.0.1:1" PING
check "-a$m" PING
check "--password=$m" PING
check -c "password:$m" PING
check -c "password$m" PING
check -u "redis://user:$m@127.0.0.1:1" -c connect_timeout_ms=200 PING
check -u "redis://user:$m@127.0.0.1:1" -c connect_timeout_ms=200 bench --nosuch "$m"
check -u "redis://user:$m@127.0.0.1:1" -c connect_timeout_ms=200 load "--x$m"
check -u "redis://user:$m@127.0.0.1:1" -c connect_timeout_ms=200 pubsub-bench --messages 10
check -u "redis://user:$m@127.0.0.1:1" pubsub-bench --nosuch "$m"
check -u "redis://user:$m@127.0.0.1:1" pubsub-bench "--x$m"
check -u "redis://user:$m@127.0.0.1:1" pubsub-bench --failover --trials "$m"
check -u "redis://user:$m@127.0.0.1:1" pubsub-bench --failover "--x$m"
check -u "redis://user:$m@127.0.0.1:1" -c connect_timeout_ms=200 pubsub-bench --failover --restart-cmd true
exit $fail
