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
echo "shellcheck: ${#files[@]} scripts clean: ${files[*]}"
