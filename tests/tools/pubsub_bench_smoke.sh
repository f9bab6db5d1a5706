#!/usr/bin/env bash
# pubsub_bench_smoke.sh RCM_BINARY URL [pubsub-bench options...]
# Runs `rcm pubsub-bench` with a tiny count and checks that it exited 0 (every receiver
# got every message, in order, nothing dropped) and printed a figure and a ratio for each
# rcm receiver against the hiredis subscriber. It asserts nothing about speed.
set -euo pipefail
rcm=$1
url=$2
shift 2
status=0
out=$("$rcm" -u "$url" pubsub-bench --messages 3000 --rounds 1 "$@" 2>&1) || status=$?
printf '%s\n' "$out"
if [[ $status -ne 0 ]]; then
  echo "pubsub_bench_smoke: rcm pubsub-bench exited with $status" >&2
  exit 1
fi
fail=0
expect() {  # a line matching the extended regex $1 must be in the output
  if ! grep -Eq -- "$1" <<<"$out"; then
    echo "pubsub_bench_smoke: no line matching: $1" >&2
    fail=1
  fi
}
# A row with a positive rate for each receiver, and a ratio line for each rcm receiver.
for r in 'hiredis subscriber' 'rcm pull \(next\)' 'rcm fd \(poll \+ next 0\)' 'rcm callback'; do
  expect "^  $r +[1-9][0-9]* +[0-9.]+ "
done
expect '^ratios \(messages/s, client CPU per message\) against the hiredis subscriber:$'
for r in 'rcm pull \(next\)' 'rcm fd \(poll \+ next 0\)' 'rcm callback'; do
  expect "^  $r +[0-9.]+x rate +[0-9.]+x CPU/msg "
done
exit $fail
