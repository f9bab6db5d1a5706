#!/usr/bin/env bash
# bench/instructions.sh — user-space instructions per GET of rcm and of raw hiredis,
# counted by callgrind with the differential method (bench/README.md, "Instructions per
# request"). Each workload runs as `rcm instr-run` under `valgrind --tool=callgrind` at
# two request counts; (instructions(N2) - instructions(N1)) / (N2 - N1) is the cost of one
# request, every thread included, with the fixed costs (start-up, connect, fill) gone.
#
#   bench/instructions.sh [options]
#     --rcm PATH            the rcm tool (default: build/tools/rcm)
#     --url URL             a standalone server to use (default: start one, see --port)
#     --port P              port of the valkey-server this script starts (default 23390)
#     --cluster-url URL     a cluster to use (redis+cluster://...)
#     --cluster-base B      start a native 3+3 cluster on B+1..B+6 (bus ports B+10001..)
#                           with scripts/start_valkey_cluster.sh and stop it after
#     --no-cluster          standalone only (also the default without --cluster-url/-base)
#     --no-standalone       cluster only
#     --counts N1,N2        the two request counts (default 2000,12000)
#     --quick               --counts 100,300 (proves the measure works; figures are noisy)
#     --keep DIR            keep the callgrind output files (callgrind_annotate them)
#     --only LIST           comma list of rows: sync,pipeline,async (default all)
#     --verdict R B T       print the verdict for R instructions against B at target T
#                           (met or MISS) and exit (tests/tools/instructions_smoke.sh)
#
# Polling is off in the rcm client (io_spin_us=0, sync_spin_us=0): spinning burns
# instructions that depend on timing, not on the request. Exit status 0 when every run
# succeeded (targets are printed, never enforced), 1 otherwise, 2 for bad usage.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rcm="$REPO_ROOT/build/tools/rcm"
url=""
port=23390
cluster_url=""
cluster_base=""
counts="2000,12000"
keep=""
only="sync,pipeline,async"
depth=64
standalone=1
verdict_args=()

# verdict RCM BASE TARGET: met when RCM <= BASE x TARGET. On the counts, not on the
# printed ratio: 4090 against 4086 prints 1.00x, and is a miss.
verdict() { awk -v r="$1" -v b="$2" -v t="$3" 'BEGIN {print (r <= b * t ? "met" : "MISS")}'; }
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
  case $1 in
    --rcm) rcm=$2; shift 2 ;;
    --url) url=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --cluster-url) cluster_url=$2; shift 2 ;;
    --cluster-base) cluster_base=$2; shift 2 ;;
    --no-cluster) cluster_url=""; cluster_base=""; shift ;;
    --no-standalone) standalone=0; shift ;;
    --counts) counts=$2; shift 2 ;;
    --quick) counts="100,300"; shift ;;
    --keep) keep=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --verdict) verdict_args=("$2" "$3" "$4"); shift 4 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "instructions.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
if ((${#verdict_args[@]})); then verdict "${verdict_args[@]}"; exit 0; fi
n1=${counts%,*}
n2=${counts#*,}
if ! [[ $n1 =~ ^[0-9]+$ && $n2 =~ ^[0-9]+$ ]] || (( n2 <= n1 )); then
  echo "instructions.sh: --counts wants N1,N2 with N2 > N1" >&2
  exit 2
fi
command -v valgrind >/dev/null || { echo "instructions.sh: valgrind is not installed" >&2; exit 2; }
[[ -x $rcm ]] || { echo "instructions.sh: no rcm tool at $rcm (build target rcm_cli)" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/rcm-instr.XXXXXX")
server_pid=""
# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
  if [[ -n $server_pid ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if [[ -n $cluster_base ]]; then
    BASE_PORT=$cluster_base DATA_DIR="$work/cluster" VALKEY_PASSWORD="" \
      "$REPO_ROOT/scripts/start_valkey_cluster.sh" --native --stop >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

if [[ -z $url && $standalone == 1 ]]; then
  server=$(command -v valkey-server || command -v redis-server || true)
  [[ -n $server ]] || { echo "instructions.sh: no valkey-server or redis-server" >&2; exit 2; }
  "$server" --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" \
    --logfile "$work/server.log" &
  server_pid=$!
  url="redis://127.0.0.1:$port"
  for _ in $(seq 100); do
    if "$rcm" -u "$url" PING >/dev/null 2>&1; then break; fi
    sleep 0.1
  done
fi
if [[ -n $cluster_base && -z $cluster_url ]]; then
  BASE_PORT=$cluster_base DATA_DIR="$work/cluster" VALKEY_PASSWORD="" \
    "$REPO_ROOT/scripts/start_valkey_cluster.sh" --native >"$work/cluster.log" 2>&1 ||
    { cat "$work/cluster.log" >&2; echo "instructions.sh: the cluster did not start" >&2; exit 1; }
  cluster_url="redis+cluster://127.0.0.1:$((cluster_base + 1))"
fi

failed=0
# instructions URL WORKLOAD N: callgrind's total for one run of N requests, all threads.
instructions() {
  local mode=standalone
  [[ $1 == redis+cluster://* ]] && mode=cluster
  local out="$work/callgrind.out.$mode.$2.$3"
  if ! valgrind --tool=callgrind --callgrind-out-file="$out" \
      "$rcm" -u "$1" -c io_spin_us=0 -c sync_spin_us=0 -c command_timeout_ms=60000 \
      instr-run --workload "$2" --requests "$3" --depth "$depth" >"$work/run.log" 2>&1; then
    echo "instructions.sh: $2 x $3 on $1 failed:" >&2
    grep -v '^==' "$work/run.log" >&2 || true
    return 1
  fi
  if [[ -n $keep ]]; then mkdir -p "$keep"; cp "$out" "$keep/$(basename "$out")"; fi
  awk '/^(summary|totals):/ {print $2; exit}' "$out"
}
# per_request URL WORKLOAD: the differential figure, rounded to an integer.
per_request() {
  local a b
  if ! a=$(instructions "$1" "$2" "$n1") || ! b=$(instructions "$1" "$2" "$n2"); then
    echo "-"
    return
  fi
  echo $(( (b - a + (n2 - n1) / 2) / (n2 - n1) ))
}
# row MODE URL NAME RCM_WORKLOAD BASE_WORKLOAD BASE_NAME TARGET
row() {
  local r b ratio verdict=""
  r=$(per_request "$2" "$4")
  b=$(per_request "$2" "$5")
  if [[ $r == - || $b == - ]]; then failed=1; fi
  if [[ $r == - || $b == - || $b -le 0 ]]; then ratio="-"
  else
    ratio=$(awk -v r="$r" -v b="$b" 'BEGIN {printf "%.2f", r / b}')
    verdict=$(verdict "$r" "$b" "$7")
  fi
  printf '%-11s %-22s %8s   %-26s %8s   %6sx  (target <= %.2fx: %s)\n' \
    "$1" "$3" "$r" "$6" "$b" "$ratio" "$7" "$verdict"
  printf -v "last_${1}_${4//-/_}" '%s' "$r"
}
has() { [[ ",$only," == *",$1,"* ]]; }

echo "instructions per GET (callgrind, all threads, (I($n2) - I($n1)) / $((n2 - n1)); polling off; depth $depth)"
printf '%-11s %-22s %8s   %-26s %8s   %7s\n' mode "rcm workload" instr "baseline" instr ratio
for mode in standalone cluster; do
  if [[ $mode == standalone ]]; then u=$url; else u=$cluster_url; fi
  [[ $mode == cluster || $standalone == 1 ]] || continue
  [[ -n $u ]] || continue
  if [[ $mode == cluster ]]; then base="routed hiredis"; else base="hiredis"; fi
  has sync && row "$mode" "$u" "sync 1 thread" rcm-sync hiredis-sync "$base sync" 1.0
  has pipeline && row "$mode" "$u" "pipeline $depth" rcm-pipeline hiredis-pipeline "$base pipeline $depth" 0.7
  has async && row "$mode" "$u" "async $depth in flight" rcm-async hiredis-pipeline "$base pipeline $depth" 0.8
done
if [[ -n $cluster_url ]] && has sync; then
  s=${last_standalone_rcm_sync:-}
  c=${last_cluster_rcm_sync:-}
  if [[ $s =~ ^[0-9]+$ && $c =~ ^[0-9]+$ ]]; then
    d=$((c - s))
    printf 'cluster routing: rcm sync cluster - standalone = %d instructions per request (target <= 300: %s)\n' \
      "$d" "$( ((d <= 300)) && echo met || echo MISS)"
  fi
fi
exit $failed
