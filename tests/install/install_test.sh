#!/usr/bin/env bash
# install_test.sh <build dir> <work dir> <cmake> <cc>
# Installs the build into <work dir>/prefix and builds programs against the installed
# package three ways: find_package(rcm) + rcm::rcm, pkg-config, and dlopen. Each runs
# against the standalone test server (127.0.0.1:$RCM_TEST_PORT_BASE).
# RCM_INSTALL_TEST_CFLAGS: extra compile and link flags (the sanitizer flags of the build).
# RCM_INSTALL_TEST_LDFLAGS: extra link flags (a clang-sanitized librcm needs the C++ parts
# of the sanitizer runtime in the program).
set -euo pipefail
build=$1 work=$2 cmake=$3 cc=$4
extra=${RCM_INSTALL_TEST_CFLAGS:-}
ldextra=${RCM_INSTALL_TEST_LDFLAGS:-}
here=$(cd "$(dirname "$0")" && pwd)
port=${RCM_TEST_PORT_BASE:?RCM_TEST_PORT_BASE is not set (run through ctest)}
prefix=$work/prefix

step() { printf '\n== %s\n' "$*"; }

rm -rf "$work"
mkdir -p "$work"

step "cmake --install $build --prefix $prefix"
"$cmake" --install "$build" --prefix "$prefix"
find "$prefix" -type f -o -type l | sort | sed "s|^$prefix/|  |"

libfile=$(find "$prefix" -name 'librcm.so.0' -print -quit)  # -quit: no pipe to cut short (pipefail)
[[ -n $libfile ]] || { echo "FAIL: librcm.so.0 is not installed"; exit 1; }
libdir=$(dirname "$libfile")
[[ -f $prefix/include/rcm/rcm.h ]] || { echo "FAIL: include/rcm/rcm.h is not installed"; exit 1; }
[[ -e $libdir/librcm.so ]] || { echo "FAIL: the librcm.so development link is not installed"; exit 1; }

step "find_package(rcm) + rcm::rcm"
"$cmake" -S "$here/consumer" -B "$work/consumer-build" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_FLAGS="$extra" -DCMAKE_EXE_LINKER_FLAGS="$extra $ldextra"
"$cmake" --build "$work/consumer-build"
# No LD_LIBRARY_PATH: the imported target must carry the library's location.
"$work/consumer-build/consumer" "$port"

step "pkg-config --cflags --libs rcm"
pcfile=$(find "$prefix" -name rcm.pc -print -quit)
[[ -n $pcfile ]] || { echo "FAIL: rcm.pc is not installed"; exit 1; }
echo "  $pcfile:"
sed 's/^/    /' "$pcfile"
incdir=$(PKG_CONFIG_PATH=$(dirname "$pcfile") PKG_CONFIG_LIBDIR=$(dirname "$pcfile") pkg-config --variable=includedir rcm)
if [[ ! -f $incdir/rcm/rcm.h ]]; then
  echo "FAIL: rcm.pc says includedir=$incdir, which has no rcm/rcm.h: the .pc file is not"
  echo "      relocatable (it names the configure-time prefix, not where it was installed)"
  exit 1
fi
flags=$(PKG_CONFIG_PATH=$(dirname "$pcfile") PKG_CONFIG_LIBDIR=$(dirname "$pcfile") pkg-config --cflags --libs rcm)
echo "  flags: $flags"
# shellcheck disable=SC2086
"$cc" -std=c99 -Wall -Wextra -Werror -pedantic $extra "$here/consumer.c" $flags $ldextra -o "$work/consumer_pc"
LD_LIBRARY_PATH=$libdir "$work/consumer_pc" "$port"

step "dlopen(librcm.so.0)"
# shellcheck disable=SC2086
"$cc" -std=c99 -Wall -Wextra -Werror $extra -I"$prefix/include" "$here/dlopen_main.c" -ldl $ldextra -o "$work/dlopen_main"
LD_LIBRARY_PATH=$libdir "$work/dlopen_main" "$port"

echo
echo "OK"
