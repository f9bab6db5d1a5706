#!/usr/bin/env bash
# tools.shellcheck: every shell script of the tree (bench/, docker/, scripts/, tests/, .ci/run) passes the
# linter. Skipped (exit 77) with a message when shellcheck is not installed.
set -euo pipefail
root=${1:?usage: shellcheck.sh <source dir>}
if ! command -v shellcheck >/dev/null 2>&1; then
  echo "SKIPPED: shellcheck is not installed (scripts/install_deps.sh installs it)"
  exit 77
fi
cd "$root"
mapfile -t files < <(find bench docker scripts tests -name '*.sh' -type f | sort)
files+=(.ci/run)
# The tree has a dozen; far fewer means the search itself is broken.
((${#files[@]} >= 8)) || { echo "found only ${#files[@]} scripts under $root"; exit 1; }
shellcheck "${files[@]}"
# Our scripts run under pipefail, where a command piped into `grep -q` fails at random:
# grep quits at the first match, and a command still writing dies of SIGPIPE (ldd under
# load did, 30 times in 300, and an ASan build was run under valgrind). Take the output
# whole, then match it.
if hits=$(grep -nE '\|[[:space:]]*grep[[:space:]]+(-[[:alpha:]]*[qm]|--quiet|--silent|--max-count)' "${files[@]}"); then
  echo "a pipe into an early-quitting grep (fails under pipefail; match a captured output instead):"
  echo "$hits"
  exit 1
fi
echo "shellcheck: ${#files[@]} scripts clean: ${files[*]}"
