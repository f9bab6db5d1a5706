#!/usr/bin/env bash
# rcm's test command (the README's and CI's): installs the Debian packages, builds rcm with
# its tests and runs them with ctest against real servers started by tests/harness, then
# does the same again under sanitizers, then runs each fuzz target (fuzz/) briefly. Exits
# non-zero when anything fails.
#
#   scripts/test.sh                       plain build (build/) + ASan/UBSan (build-asan/)
#   RCM_TEST_SANITIZE="none" scripts/test.sh               plain build only
#   RCM_TEST_SANITIZE="none address thread" scripts/test.sh  also TSan (build-tsan/)
#   CTEST_ARGS="-L capi" scripts/test.sh  extra ctest arguments (here: only capi tests)
#   RCM_TEST_CC=clang scripts/test.sh     the same builds with clang (build-clang/, build-asan-clang/)
#   RCM_FUZZ_SECONDS=0 scripts/test.sh    without the fuzz runs (each target 20 s, build-fuzz/)
#
# Environment:
#   RCM_TEST_SANITIZE  builds to run, any of: none address thread undefined [none address]
#   CTEST_ARGS         extra arguments for every ctest run, split on spaces
#                      (labels are regexes: CTEST_ARGS="-L capi|cluster"; no test matching fails)
#   RCM_TEST_JOBS      parallel build and ctest jobs [2]
#   RCM_TEST_TIMEOUT   default per-test timeout in seconds [300]
#   REDISRAFT_SO       redisraft.so for the raft tests (skipped when unset)
#   RCM_SERVER_BIN     server the tests run [valkey-server, else redis-server]
#   RCM_TEST_CC        compiler of every build: gcc or clang [gcc]
#   RCM_FUZZ_SECONDS   seconds each fuzz target runs (build-fuzz/, clang); 0 skips [20]
#
# Each build uses its own port range (RCM_TEST_PORT_BASE): plain 21000, address 21100,
# thread 21200, undefined 21300 (with clang 21500, 21600, 21700, 21800), so leftover
# servers of one can never meet another.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
ROOT=$PWD
HARNESS="$ROOT/tests/harness/rcm_harness.sh"
JOBS=${RCM_TEST_JOBS:-2}
TIMEOUT=${RCM_TEST_TIMEOUT:-300}
SANITIZE=${RCM_TEST_SANITIZE:-none address}
CC_FAMILY=${RCM_TEST_CC:-gcc}
read -r -a CTEST_EXTRA <<<"${CTEST_ARGS:-}"

say() { printf '\n==> %s\n' "$*"; }
# shellcheck source=scripts/lib/ctest_failures.sh
. "$ROOT/scripts/lib/ctest_failures.sh"

SUMMARY=()
FAILED=0
STARTED=$SECONDS
STATE_DIRS=()

cleanup_servers() {
  local d
  for d in "${STATE_DIRS[@]}"; do
    if [[ -d $d ]]; then bash "$HARNESS" cleanup "$d" || true; fi
  done
}
on_signal() {
  echo "test.sh: interrupted; stopping the test servers" >&2
  cleanup_servers
  exit 130
}
trap on_signal INT TERM

for s in $SANITIZE; do
  case $s in
    none | address | thread | undefined) ;;
    *) echo "test.sh: RCM_TEST_SANITIZE: unknown build '$s' (none, address, thread, undefined)" >&2; exit 2 ;;
  esac
done

# Build directories and ports of a compiler other than gcc get their own suffix and range.
CC_ARGS=()
SUFFIX=""
PORT_SHIFT=0
case $CC_FAMILY in
  gcc) ;;
  clang) CC_ARGS=(-DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++) SUFFIX=-clang PORT_SHIFT=500 ;;
  *) echo "test.sh: RCM_TEST_CC: unknown compiler '$CC_FAMILY' (gcc, clang)" >&2; exit 2 ;;
esac

say "dependencies (scripts/install_deps.sh)"
if ! bash scripts/install_deps.sh; then
  echo "test.sh: scripts/install_deps.sh failed" >&2
  exit 1
fi

PYTHON_FLAG=()
if [[ -f bindings/python/CMakeLists.txt ]]; then PYTHON_FLAG=(-DRCM_BUILD_PYTHON=ON); fi

# run_build <name> <build dir> <port base> [cmake args...]
run_build() {
  local name=$1$SUFFIX dir=$2$SUFFIX base=$(($3 + PORT_SHIFT)) t0=$SECONDS log failed_list result
  shift 3
  set -- "${CC_ARGS[@]}" "$@"
  STATE_DIRS+=("$ROOT/$dir/harness-state")

  say "$name: configure ($dir, ports from $base)"
  if ! cmake -S "$ROOT" -B "$ROOT/$dir" -DRCM_BUILD_TESTS=ON -DRCM_TEST_PORT_BASE="$base" "$@"; then
    SUMMARY+=("$(printf '%-10s FAILED at configure (%ss)' "$name" $((SECONDS - t0)))")
    FAILED=1
    return
  fi
  say "$name: build"
  if ! cmake --build "$ROOT/$dir" -j "$JOBS"; then
    SUMMARY+=("$(printf '%-10s FAILED at build (%ss)' "$name" $((SECONDS - t0)))")
    FAILED=1
    return
  fi

  say "$name: ctest ${CTEST_EXTRA[*]}"
  bash "$HARNESS" cleanup "$ROOT/$dir/harness-state" || true
  log="$ROOT/$dir/ctest.log"
  (cd "$ROOT/$dir" && ctest --output-on-failure --no-tests=error -j "$JOBS" --timeout "$TIMEOUT" "${CTEST_EXTRA[@]}") 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  bash "$HARNESS" cleanup "$ROOT/$dir/harness-state" || true

  result=$(grep -E '^[0-9]+% tests passed' "$log" | tail -n 1)
  if [[ -z $result ]]; then
    if grep -q 'No tests were found' "$log"; then result="no tests matched"; else result="no test summary (see $log)"; fi
  fi
  local skipped
  skipped=$(sed -n '/^The following tests did not run:/,/^$/p' "$log" | grep -c ' - ' || true)
  ((skipped > 0)) && result+=", $skipped skipped"
  if ((rc != 0)); then
    failed_list=$(sed -n '/^The following tests FAILED:/,/^$/p' "$log" | grep ' - ' | sed 's/^[[:space:]]*/      /')
    SUMMARY+=("$(printf '%-10s FAILED: %s (%ss)' "$name" "$result" $((SECONDS - t0)))")
    [[ -z $failed_list ]] || SUMMARY+=("$failed_list")
    local tail_of test_name
    while read -r test_name; do
      tail_of=$(ctest_output_tail "$ROOT/$dir/Testing/Temporary/LastTest.log" "$test_name")
      [[ -z $tail_of ]] || SUMMARY+=("$tail_of")
    done < <(ctest_failed_names "$log")
    FAILED=1
  else
    SUMMARY+=("$(printf '%-10s ok: %s (%ss)' "$name" "$result" $((SECONDS - t0)))")
  fi
}

# run_fuzz: builds the libFuzzer targets (fuzz/, RCM_FUZZ=ON, clang) in build-fuzz/ and
# runs each for RCM_FUZZ_SECONDS from its seed corpus. New inputs and findings stay in
# build-fuzz/fuzz-runs/<target>/ (the seed corpus in the tree is only read); any finding
# fails the run. The summary gives each target's executions.
run_fuzz() {
  local secs=${RCM_FUZZ_SECONDS:-20} dir="$ROOT/build-fuzz" t0=$SECONDS src name bin work log rc execs dict lines=() bad=0
  if [[ $secs == 0 ]]; then
    SUMMARY+=("$(printf '%-10s skipped (RCM_FUZZ_SECONDS=0)' fuzz)")
    return
  fi
  if [[ ! $secs =~ ^[0-9]+$ ]]; then
    SUMMARY+=("$(printf '%-10s FAILED: RCM_FUZZ_SECONDS=%s is not a number of seconds' fuzz "$secs")")
    FAILED=1
    return
  fi
  say "fuzz: configure and build ($dir, clang)"
  if ! cmake -S "$ROOT" -B "$dir" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DRCM_FUZZ=ON \
      -DRCM_BUILD_TESTS=OFF -DRCM_BUILD_TOOLS=OFF -DRCM_BUILD_PYTHON=OFF ||
    ! cmake --build "$dir" -j "$JOBS" --target rcm_fuzz; then
    SUMMARY+=("$(printf '%-10s FAILED at configure/build (%ss)' fuzz $((SECONDS - t0)))")
    FAILED=1
    return
  fi
  for src in "$ROOT"/fuzz/fuzz_*.cpp; do
    name=$(basename "$src" .cpp)
    name=${name#fuzz_}
    bin="$dir/fuzz/fuzz_$name" work="$dir/fuzz-runs/$name" log="$dir/fuzz-runs/$name/log"
    rm -rf "$work" && mkdir -p "$work/corpus" "$work/findings"
    dict=()
    [[ -f $ROOT/fuzz/$name.dict ]] && dict=(-dict="$ROOT/fuzz/$name.dict")
    say "fuzz: $name for ${secs}s"
    "$bin" "$work/corpus" "$ROOT/fuzz/corpus/$name" "${dict[@]}" -max_total_time="$secs" -timeout=10 \
      -print_final_stats=1 -artifact_prefix="$work/findings/" >"$log" 2>&1
    rc=$?
    execs=$(grep -a 'stat::number_of_executed_units' "$log" | tail -n 1 | awk '{print $2}')
    if ((rc != 0)) || [[ -n $(ls -A "$work/findings") ]]; then
      bad=1
      lines+=("$(printf '      %-18s FINDING (exit %s, %s executions): %s' "$name" "$rc" "${execs:-?}" \
        "$(find "$work/findings" -mindepth 1 -maxdepth 1 2>/dev/null | head -n 3 | tr '\n' ' ')")")
      lines+=("      $(printf '%-18s' '')$(grep -a -m 1 -E 'FUZZ_CHECK|ERROR: ' "$log") (log: $log)")
    else
      lines+=("$(printf '      %-18s %s executions' "$name" "${execs:-?}")")
    fi
  done
  if ((bad)); then
    SUMMARY+=("$(printf '%-10s FAILED: findings, %ss per target (%ss)' fuzz "$secs" $((SECONDS - t0)))")
    FAILED=1
  else
    SUMMARY+=("$(printf '%-10s ok: no findings, %ss per target (%ss)' fuzz "$secs" $((SECONDS - t0)))")
  fi
  SUMMARY+=("${lines[@]}")
}

for s in $SANITIZE; do
  case $s in
    none)
      run_build plain build 21000 "${PYTHON_FLAG[@]}"
      ;;
    address)
      ASAN_OPTIONS="detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}" \
      UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}" \
        run_build address build-asan 21100 -DRCM_SANITIZE=address
      ;;
    thread)
      TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1${TSAN_OPTIONS:+ $TSAN_OPTIONS}" \
        run_build thread build-tsan 21200 -DRCM_SANITIZE=thread
      ;;
    undefined)
      UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}" \
        run_build undefined build-ubsan 21300 -DRCM_SANITIZE=undefined
      ;;
  esac
done

run_fuzz

printf '\n==== rcm test summary (%ss) ====\n' $((SECONDS - STARTED))
printf '%s\n' "${SUMMARY[@]}"
if [[ -z ${REDISRAFT_SO:-} ]]; then
  echo "note: REDISRAFT_SO is not set, so the raft tests were skipped"
fi
if ((FAILED)); then
  echo "RESULT: FAILED"
  exit 1
fi
echo "RESULT: all passed"
