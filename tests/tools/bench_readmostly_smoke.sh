#!/usr/bin/env bash
# bench_readmostly_smoke.sh RCM_BINARY private:OFFSET
# Runs `rcm bench --workload readmostly` briefly against a private server and checks that
# each of its six runs (hiredis, rcm without and with the cache, at 1 and 2 threads)
# printed a positive ops/s figure, that the cached runs were served from the cache (a
# hit rate above 0) and that every ratio line carries its bound. No speed is asserted.
set -euo pipefail
rcm=$1
url=$2
: "${RCM_HARNESS:?needs RCM_HARNESS (tests/harness/rcm_harness.sh)}"
port=$(( ${RCM_TEST_PORT_BASE:-21000} + ${url#private:} ))
started=$(bash "$RCM_HARNESS" server "$port" "${RCM_TEST_STATE_DIR:-/tmp}/bench-readmostly")
pid=${started##* }
trap 'bash "$RCM_HARNESS" stop "$pid" >/dev/null 2>&1 || true' EXIT
status=0
out=$("$rcm" -u "redis://127.0.0.1:$port" bench --workload readmostly --duration-s 0.6 --rounds 1 \
      --threads 2 2>&1) || status=$?
printf '%s\n' "$out"
if [[ $status -ne 0 ]]; then
  echo "bench_readmostly_smoke: rcm bench exited with $status" >&2
  exit 1
fi
fail=0
for t in "1 thread" "2 threads"; do
  for w in "hiredis $t" "rcm $t, no cache" "rcm $t, cache"; do
    line=$(grep -E "^  $w  " <<<"$out" | grep -v ' / ' | head -n 1 || true)
    ops=$(awk -v n="$w" '{ sub("^  " n " +", ""); print $1; exit }' <<<"$line")
    if [[ -z $line || -z $ops || $ops -le 0 ]]; then
      echo "bench_readmostly_smoke: no ops/s figure for '$w'" >&2
      fail=1
    fi
  done
  if ! grep -Eq "^  rcm $t, cache .* hit rate ([1-9][0-9.]*|0\.[0-9]*[1-9][0-9]*)%$" <<<"$out"; then
    echo "bench_readmostly_smoke: the cached run at $t shows no hit rate above 0" >&2
    fail=1
  fi
done
if [[ $(grep -Ec 'hit rate .* reach the server: bound [0-9.]+x' <<<"$out") -lt 4 ]]; then
  echo "bench_readmostly_smoke: expected at least 4 ratio lines with the hit rate and the bound" >&2
  fail=1
fi
exit "$fail"
