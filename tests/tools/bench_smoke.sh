#!/usr/bin/env bash
# bench_smoke.sh RCM_BINARY URL|private:OFFSET [bench options...]
# Runs `rcm bench` briefly and checks that every workload ran without errors (exit 0)
# and reported a figure; it asserts nothing about speed. private:OFFSET starts a server
# of its own through the harness at $RCM_TEST_PORT_BASE+OFFSET and stops it after.
set -euo pipefail
rcm=$1
url=$2
shift 2
if [[ $url == private:* ]]; then
  : "${RCM_HARNESS:?needs RCM_HARNESS (tests/harness/rcm_harness.sh)}"
  port=$(( ${RCM_TEST_PORT_BASE:-21000} + ${url#private:} ))
  started=$(bash "$RCM_HARNESS" server "$port" "${RCM_TEST_STATE_DIR:-/tmp}/bench-smoke")
  pid=${started##* }
  trap 'bash "$RCM_HARNESS" stop "$pid" >/dev/null 2>&1 || true' EXIT
  url=redis://127.0.0.1:$port
fi
status=0
out=$("$rcm" -u "$url" bench --requests 4000 --duration-s 20 --rounds 1 "$@" 2>&1) || status=$?
printf '%s\n' "$out"
fail=0
# The bench writes keyspace keys (key:...); the cluster's other tests count keys per
# slot, so leave the shared cluster empty as the harness made it.
if [[ $url == redis+cluster://* ]]; then
  if ! "$rcm" -u "$url" --all-primaries FLUSHALL; then
    echo "bench_smoke: FLUSHALL on the primaries failed" >&2
    fail=1
  fi
fi
if [[ $status -ne 0 ]]; then
  echo "bench_smoke: rcm bench exited with $status" >&2
  exit 1
fi
expect() {  # a line matching the extended regex $1 must be in the output
  if ! grep -Eq -- "$1" <<<"$out"; then
    echo "bench_smoke: no line matching: $1" >&2
    fail=1
  fi
}
expect '^machine: a thread hand-off round trip .* [0-9.]+ us wall, [0-9.]+ us CPU$'
expect '^ratios \(ops/s\):$'
# Every rcm workload ran and printed a positive ops/s figure: each by name, so a run
# that lost one (an error, a skipped group) fails. Cluster mode has no "sync 1 thread"
# unless asked for (--only sync1).
workloads=('rcm sync [0-9]+ threads, 1 client' 'rcm async [0-9]+ in flight' 'rcm async [0-9]+, callback resubmits'
           'rcm pipeline [0-9]+')
if [[ $url != redis+cluster://* && " $* " != *" --cluster "* ]]; then
  workloads=('rcm sync 1 thread' "${workloads[@]}")
else
  # ... and the cluster's two pipeline baselines: replies read context by context, and
  # in arrival order (epoll).
  workloads+=('hiredis routed pipeline [0-9]+, [0-9]+ ctx' 'hiredis routed pipeline [0-9]+, epoll')
fi
for w in "${workloads[@]}"; do
  line=$(grep -E "^  $w  " <<<"$out" | grep -v ' / ' | head -n 1 || true)
  ops=$(awk '{for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+$/ && $(i+1) ~ /^[0-9.]+$/) {print $i; exit}}' <<<"$line")
  if [[ -z $line ]]; then
    echo "bench_smoke: workload '$w' did not run (no line for it)" >&2
    fail=1
  elif [[ -z $ops || $ops -le 0 ]]; then
    echo "bench_smoke: no ops/s figure in: $line" >&2
    fail=1
  fi
done
exit $fail
