#!/usr/bin/env bash
# check_exports.sh <librcm.so> <rcm.h> <expected SONAME>
# Fails when the library defines a dynamic symbol that is not rcm_*, when a function
# declared in rcm.h is not exported, or when the SONAME is not the expected one.
set -euo pipefail
lib=$1 header=$2 want_soname=$3
fail=0

soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
echo "SONAME: ${soname:-<none>}"
if [[ $soname != "$want_soname" ]]; then
  echo "FAIL: SONAME is '${soname:-<none>}', expected '$want_soname'"
  fail=1
fi

# "address type name[@@version]" for every defined dynamic symbol.
mapfile -t lines < <(nm -D --defined-only "$lib")
exported=()
for line in "${lines[@]}"; do
  read -r _addr type name <<<"$line" || true
  [[ -n ${name:-} ]] || { name=$type; type=""; }
  base=${name%%@*}
  case $type in A) continue ;; esac                 # version nodes (RCM_0)
  case $base in _init | _fini) continue ;; esac
  if [[ $base != rcm_* ]]; then
    echo "FAIL: exported symbol that is not rcm_*: $name ($type)"
    fail=1
    continue
  fi
  if [[ $name != *@*RCM_* ]]; then
    echo "FAIL: $name is not versioned by capi/rcm.map"
    fail=1
  fi
  exported+=("$base")
done
echo "exported rcm_* symbols: ${#exported[@]}"

# Every function the header declares (RCM_API ... rcm_name(...)) is exported.
mapfile -t declared < <(grep -E '^RCM_API' "$header" | grep -oE 'rcm_[a-z0-9_]+[[:space:]]*\(' | tr -d '( ' | sort -u)
echo "functions declared in $(basename "$header"): ${#declared[@]}"
if ((${#declared[@]} < 30)); then
  echo "FAIL: found only ${#declared[@]} declarations in $header (parsing broken?)"
  fail=1
fi
for fn in "${declared[@]}"; do
  found=0
  for e in "${exported[@]}"; do [[ $e == "$fn" ]] && { found=1; break; }; done
  if ((!found)); then
    echo "FAIL: $fn is declared in rcm.h but not exported"
    fail=1
  fi
done
# ...and nothing is exported that the header does not declare.
for e in "${exported[@]}"; do
  found=0
  for fn in "${declared[@]}"; do [[ $e == "$fn" ]] && { found=1; break; }; done
  if ((!found)); then
    echo "FAIL: $e is exported but not declared in rcm.h"
    fail=1
  fi
done

if ((fail)); then exit 1; fi
echo "OK"
