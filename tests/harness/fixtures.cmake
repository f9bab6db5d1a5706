# CTest fixtures that start and stop real servers with tests/harness/rcm_harness.sh.
#
#   include(harness/fixtures.cmake)
#   rcm_harness_fixture(cluster)
#   add_test(NAME cluster.moved_is_followed COMMAND ...)
#   set_tests_properties(cluster.moved_is_followed PROPERTIES
#     FIXTURES_REQUIRED cluster LABELS cluster ENVIRONMENT "${RCM_TEST_ENV}")
#
# Each build tree gets its own port range and state directory, so a plain and a
# sanitizer build can run side by side. Ports used, relative to RCM_TEST_PORT_BASE:
# standalone +0..+3, cluster +10..+15 (cluster bus +10000), sentinel +20..+27,
# raft +30..+32, private servers of single tests +40..+59 and +70..+79 (+60..+69 are the
# Python tests', tests/python/CMakeLists.txt), and +4..+9, +16..+19:
# capi.attempts +4, capi.transients +5..+7, capi.ipv6 +8 and +9 (its cluster bus +16),
# cluster.seeds +17 (a silent listener), sentinel.auth +18 (data node) and +19 (sentinel).
# The TLS topologies of tls_servers.sh (tests/tls): +80..+91 (TLS cluster bus
# +10083..+10085).

set(RCM_TEST_PORT_BASE 21000 CACHE STRING
  "First loopback port of the test servers (base..base+91, base+10010..+10015 and base+10083..+10085 are used)")
set(RCM_TEST_STATE_DIR "${CMAKE_BINARY_DIR}/harness-state" CACHE PATH
  "Where the test servers keep their data, logs, pids and TLS certificates")

if(NOT RCM_TEST_PORT_BASE MATCHES "^[0-9]+$" OR RCM_TEST_PORT_BASE LESS 1024
   OR RCM_TEST_PORT_BASE GREATER 55476)
  message(FATAL_ERROR "RCM_TEST_PORT_BASE must be a port number in 1024..55476, not '${RCM_TEST_PORT_BASE}'")
endif()

set(RCM_HARNESS "${CMAKE_CURRENT_LIST_DIR}/rcm_harness.sh")
get_filename_component(RCM_HARNESS "${RCM_HARNESS}" ABSOLUTE)

# The server binary: -DRCM_SERVER_BIN=..., else $RCM_SERVER_BIN at configure time, else
# valkey-server, else redis-server.
if(NOT RCM_SERVER_BIN AND DEFINED ENV{RCM_SERVER_BIN} AND NOT "$ENV{RCM_SERVER_BIN}" STREQUAL "")
  set(RCM_SERVER_BIN "$ENV{RCM_SERVER_BIN}" CACHE FILEPATH "valkey-server or redis-server the tests run")
endif()
find_program(RCM_SERVER_BIN NAMES valkey-server redis-server
  DOC "valkey-server or redis-server the tests run")
if(NOT RCM_SERVER_BIN)
  message(WARNING "rcm tests: neither valkey-server nor redis-server found; "
                  "integration tests will fail (run scripts/install_deps.sh)")
endif()

# RedisRaft module for the raft topology: -DREDISRAFT_SO=... or $REDISRAFT_SO at configure
# time. When neither is given, REDISRAFT_SO is not put into the tests' environment, so a
# value exported when ctest runs still reaches them.
if(NOT REDISRAFT_SO AND DEFINED ENV{REDISRAFT_SO} AND NOT "$ENV{REDISRAFT_SO}" STREQUAL "")
  set(REDISRAFT_SO "$ENV{REDISRAFT_SO}" CACHE FILEPATH "Path of redisraft.so for the raft tests")
endif()

set(RCM_TEST_ENV
  "RCM_TEST_PORT_BASE=${RCM_TEST_PORT_BASE}"
  "RCM_TEST_STATE_DIR=${RCM_TEST_STATE_DIR}"
  "RCM_HARNESS=${RCM_HARNESS}")
if(RCM_SERVER_BIN)
  list(APPEND RCM_TEST_ENV "RCM_SERVER_BIN=${RCM_SERVER_BIN}")
endif()
if(REDISRAFT_SO)
  list(APPEND RCM_TEST_ENV "REDISRAFT_SO=${REDISRAFT_SO}")
endif()

# How the cluster topology runs: native (the image's entrypoint on this machine's server)
# or docker (containers of docker/valkey-cluster.Dockerfile; skipped when no engine
# answers). -DRCM_TEST_CLUSTER=... or $RCM_TEST_CLUSTER at configure time; when neither is
# given, a value exported when ctest runs still reaches the harness.
if(NOT RCM_TEST_CLUSTER AND DEFINED ENV{RCM_TEST_CLUSTER} AND NOT "$ENV{RCM_TEST_CLUSTER}" STREQUAL "")
  set(RCM_TEST_CLUSTER "$ENV{RCM_TEST_CLUSTER}" CACHE STRING "native or docker: how the test cluster runs")
endif()
if(RCM_TEST_CLUSTER)
  if(NOT RCM_TEST_CLUSTER MATCHES "^(native|docker)$")
    message(FATAL_ERROR "RCM_TEST_CLUSTER must be 'native' or 'docker', not '${RCM_TEST_CLUSTER}'")
  endif()
  list(APPEND RCM_TEST_ENV "RCM_TEST_CLUSTER=${RCM_TEST_CLUSTER}")
endif()

find_program(RCM_BASH bash REQUIRED)

# A test that needs the cluster runs as ${RCM_GUARD_CLUSTER} <command...> with
# SKIP_RETURN_CODE 77: when harness.cluster.up skipped (RCM_TEST_CLUSTER=docker without an
# engine), the guard says so and exits 77, and ctest reports the test as skipped, not
# passed. (A skipped fixture setup does not stop the tests that require it.)
set(RCM_GUARD_CLUSTER ${RCM_BASH} ${RCM_HARNESS} guard cluster ${RCM_TEST_STATE_DIR})

# rcm_harness_fixture(<topology>): tests harness.<topology>.up / .down as the setup and
# cleanup of the fixture named <topology>. Tests that need the servers say
# FIXTURES_REQUIRED <topology>; ctest then brings them up once before the first such
# test and down after the last, also when only some tests are selected (-L, -R).
function(rcm_harness_fixture topology)
  if(NOT topology MATCHES "^(standalone|cluster|sentinel|raft)$")
    message(FATAL_ERROR "rcm_harness_fixture: unknown topology '${topology}'")
  endif()
  if(TEST harness.${topology}.up)
    return()
  endif()
  add_test(NAME harness.${topology}.up
    COMMAND ${RCM_BASH} ${RCM_HARNESS} up ${topology} ${RCM_TEST_PORT_BASE} ${RCM_TEST_STATE_DIR})
  add_test(NAME harness.${topology}.down
    COMMAND ${RCM_BASH} ${RCM_HARNESS} down ${topology} ${RCM_TEST_PORT_BASE} ${RCM_TEST_STATE_DIR})
  set_tests_properties(harness.${topology}.up PROPERTIES
    FIXTURES_SETUP ${topology}
    LABELS harness
    RESOURCE_LOCK ${topology}
    TIMEOUT 240
    SKIP_RETURN_CODE 77
    ENVIRONMENT "${RCM_TEST_ENV}")
  set_tests_properties(harness.${topology}.down PROPERTIES
    FIXTURES_CLEANUP ${topology}
    LABELS harness
    RESOURCE_LOCK ${topology}
    TIMEOUT 60
    SKIP_RETURN_CODE 77
    ENVIRONMENT "${RCM_TEST_ENV}")
endfunction()
