# shellcheck shell=bash
# What scripts/test.sh's summary says about failed tests, read from ctest's own files.
# Sourced (scripts/test.sh; tests/tools/ctest_failures_smoke.sh checks it).

# ctest_failed_names <ctest output>: the names under "The following tests FAILED:", one
# per line ("  85 - python.threads (Failed)" gives python.threads).
ctest_failed_names() {
  sed -n '/^The following tests FAILED:/,/^$/s/^[[:space:]]*[0-9][0-9]* - \([^ ]*\) .*/\1/p' "$1" 2>/dev/null || true
}

# ctest_output_tail <LastTest.log> <test name> [lines]: the last lines (20) the test
# printed, each cut at 200 characters and indented, so that a CI log that shows only
# the summary also shows why a test failed. Nothing when the log has no such test.
ctest_output_tail() {
  awk -v want="$2" -v keep="${3:-20}" '
    /^[0-9]+\/[0-9]+ Test: / { name = $NF; next }
    /^Output:$/ && name == want { grab = 1; n = 0; getline; next }  # getline: the dashes
    /^<end of output>$/ { grab = 0 }
    grab { line[n++ % keep] = substr($0, 1, 200) }
    END { for (i = (n > keep ? n - keep : 0); i < n; i++) print "        | " line[i % keep] }
  ' "$1" 2>/dev/null || true
}
