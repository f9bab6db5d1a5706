#!/usr/bin/env bash
# Installs every Debian package rcm needs to build, test, benchmark and demo.
# valkey-server, valkey-tools and python3-scikit-build-core live in bookworm-backports:
# when they are missing, the suite is added using the mirror URI already configured in
# this machine's Debian apt sources (never a hard-coded host).
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

PKGS=(build-essential cmake pkg-config libhiredis-dev libevent-dev libssl-dev
      libcmocka-dev openssl redis-server redis-tools redis-sentinel shellcheck
      python3 python3-dev python3-pytest python3-pybind11 pybind11-dev python3-redis
      python3-hiredis python3-venv python3-pip procps
      python3-pytest-asyncio  # bench/python/compat.sh --asyncio (redis-py's tests/test_asyncio)
      valgrind)  # bench/instructions.sh (callgrind): tools.instructions, cluster.instructions
# clang and its sanitizer and libFuzzer runtimes (libclang-rt-dev, which clang only
# recommends): scripts/test.sh builds the fuzz targets with them (unless
# RCM_FUZZ_SECONDS=0), and RCM_TEST_CC=clang builds everything with them.
if [[ ${RCM_FUZZ_SECONDS:-20} != 0 || ${RCM_TEST_CC:-gcc} == clang ]]; then PKGS+=(clang libclang-rt-dev); fi
BACKPORTS_PKGS=(valkey-server valkey-tools python3-scikit-build-core)

have_all() {
  local p
  for p in "$@"; do
    [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == *"install ok installed"* ]] || return 1
  done
}

# The URI of the main Debian archive as this machine's sources name it.
debian_mirror_uri() {
  local f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    uri=$(awk '/^URIs:/ {for (i = 2; i <= NF; i++) print $i}' "$f" | grep -v -- '-security' | grep '/debian/\?$' | head -n 1 || true)
    [ -n "$uri" ] && { echo "$uri"; return 0; }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    uri=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^(https?|file|ftp):/) { print $i; break } }' "$f" \
          | grep -v -- '-security' | grep '/debian/\?$' | head -n 1 || true)
    [ -n "$uri" ] && { echo "$uri"; return 0; }
  done
  return 1
}

# shellcheck source=/dev/null  # the machine's own file, read for VERSION_CODENAME
codename() { . /etc/os-release; echo "${VERSION_CODENAME:-}"; }

add_backports() {
  local cn uri list
  cn=$(codename)
  [ -n "$cn" ] || return 0
  if grep -rqs -- "${cn}-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then return 0; fi
  uri=$(debian_mirror_uri) || { echo "install_deps: no Debian mirror found in apt sources; cannot add ${cn}-backports" >&2; return 1; }
  list=/etc/apt/sources.list.d/rcm-backports.list
  echo "install_deps: adding ${cn}-backports from ${uri}"
  echo "deb ${uri} ${cn}-backports main" | $SUDO tee "$list" >/dev/null
}

if have_all "${PKGS[@]}" "${BACKPORTS_PKGS[@]}"; then
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
if ! have_all "${BACKPORTS_PKGS[@]}"; then add_backports; fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${PKGS[@]}" >/dev/null
cn=$(codename)
# Taken whole, then matched: `apt-cache policy` piped into `grep -q` fails under pipefail
# when grep quits before apt-cache has written all (SIGPIPE).
policy=$(apt-cache policy valkey-server 2>/dev/null || true)
if [[ $policy == *"${cn}-backports"* ]]; then
  $SUDO apt-get install -y -qq --no-install-recommends -t "${cn}-backports" "${BACKPORTS_PKGS[@]}" >/dev/null
else
  $SUDO apt-get install -y -qq --no-install-recommends "${BACKPORTS_PKGS[@]}" >/dev/null
fi
# The Debian packages start their services on install; rcm's harness runs its own
# servers on its own ports, so stop the system ones where a service manager exists.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  $SUDO systemctl stop redis-server valkey-server redis-sentinel 2>/dev/null || true
fi
echo "install_deps: done"
