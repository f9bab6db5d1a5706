#!/usr/bin/env bash
# tools.ctest_failures: scripts/lib/ctest_failures.sh, which scripts/test.sh's summary uses
# to show why a test failed, read against a ctest output and a LastTest.log written here
# in ctest's format: the failed tests' names, and the last lines of one test's output,
# not its neighbour's, at most the number asked for.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/scripts/lib/ctest_failures.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat >"$work/ctest.log" <<'LOG'
99% tests passed, 2 tests failed out of 107

The following tests FAILED:
	 46 - cluster.replica_reads (Failed)
	 85 - python.threads (Timeout)
Errors while running CTest
LOG
{
  echo "Start testing: Dec 03 02:58 UTC"
  for t in unit.config cluster.replica_reads python.threads; do
    printf -- '----------------------------------------------------------\n'
    printf '3/107 Testing: %s\n3/107 Test: %s\nCommand: "x"\nOutput:\n' "$t" "$t"
    printf -- '----------------------------------------------------------\n'
    for i in $(seq 1 30); do echo "$t line $i"; done
    printf '<end of output>\nTest time =   0.01 sec\n'
  done
} >"$work/LastTest.log"

fail=0
names=$(ctest_failed_names "$work/ctest.log" | tr '\n' ' ')
if [[ $names != "cluster.replica_reads python.threads " ]]; then
  echo "ctest_failed_names gave '$names'" >&2
  fail=1
fi
tail_of=$(ctest_output_tail "$work/LastTest.log" cluster.replica_reads 5)
want=$(for i in 26 27 28 29 30; do echo "        | cluster.replica_reads line $i"; done)
if [[ $tail_of != "$want" ]]; then
  printf 'ctest_output_tail gave:\n%s\nwant:\n%s\n' "$tail_of" "$want" >&2
  fail=1
fi
if [[ $(ctest_output_tail "$work/LastTest.log" python.threads | wc -l) -ne 20 ]]; then
  echo "ctest_output_tail does not default to 20 lines" >&2
  fail=1
fi
if [[ -n $(ctest_output_tail "$work/LastTest.log" no.such.test) || -n $(ctest_output_tail "$work/none" x) ]]; then
  echo "ctest_output_tail printed something for a test or a log that is not there" >&2
  fail=1
fi
((fail == 0)) && echo "ctest_failures: names and output tails as expected"
exit $fail
