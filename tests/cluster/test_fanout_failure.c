/* cluster.fanout_failure: a command sent to every primary (CONFIG SET, FUNCTION LOAD,
 * FUNCTION FLUSH) while one primary fails: the call reports the failure, the other
 * primaries applied it (checked with valkey-cli on each), and nothing hangs: the call
 * ends by its deadline (plus a generous margin).
 *
 *   erroring  FUNCTION LOAD of a library that one primary already holds: that primary
 *             answers -ERR, the other two load it
 *   stopped   SIGSTOP on one primary (well under cluster-node-timeout, so no failover)
 *             during CONFIG SET and FUNCTION FLUSH: RCM_ERR_TIMEOUT at the deadline,
 *             naming that node and saying the command was sent there
 *
 * Leaves the cluster as it found it: functions flushed and maxmemory-samples back at 5
 * on every node, the stopped node continued (teardown does it also on failure). */
#define _GNU_SOURCE
#include "cluster_util.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIB_OLD "#!lua name=rcmfanout\nserver.register_function('rcmfanout_old', function() return 1 end)"
#define LIB_NEW "#!lua name=rcmfanout\nserver.register_function('rcmfanout_new', function() return 2 end)"
#define DEADLINE_MS 1500

static int stopped_pid = -1;

static void restore_all(void) {
    if (stopped_pid > 0) kill(stopped_pid, SIGCONT);
    stopped_pid = -1;
    for (int i = 0; i < CU_NODES; i++) {
        free(cu_cli(cu_port(i), "CONFIG SET maxmemory-samples 5"));
        cu_cluster cl;
        if (cu_cluster_read(cu_port(i), &cl) == 0 && cl.nodes[cu_node_index(&cl, cu_port(i))].primary)
            free(cu_cli(cu_port(i), "FUNCTION FLUSH"));
    }
}

static int setup(void **state) {
    if (cu_layout_fixture(state) != 0) return -1;
    restore_all();
    return 0;
}

static int teardown(void **state) {
    (void)state;
    restore_all();
    char why[256];
    if (!cu_wait_healthy(120, why, sizeof why)) {
        fprintf(stderr, "teardown: the cluster is not healthy: %s\n", why);
        return -1;
    }
    return 0;
}

/* 1 when FUNCTION LIST on port names fn. */
static int has_function(int port, const char *fn) {
    char *out = cu_cli(port, "FUNCTION LIST");
    if (!out) fail_msg("FUNCTION LIST on %d: valkey-cli failed", port);
    int has = strstr(out, fn) != NULL;
    free(out);
    return has;
}

static long long samples_of(int port) {
    char *out = cu_cli(port, "CONFIG GET maxmemory-samples");
    if (!out) fail_msg("CONFIG GET on %d: valkey-cli failed", port);
    const char *nl = strchr(out, '\n');
    long long v = nl ? atoll(nl + 1) : -1;
    free(out);
    return v;
}

static void primaries(int *ports) {
    cu_cluster cl;
    int idx[CU_PRIMARIES];
    assert_int_equal(cu_cluster_read(cu_port(0), &cl), 0);
    assert_int_equal(cu_primaries(&cl, idx, CU_PRIMARIES), CU_PRIMARIES);
    for (int i = 0; i < CU_PRIMARIES; i++) ports[i] = cl.nodes[idx[i]].port;
}

static void test_fanout_failure__function_load_refused_by_one_primary_is_reported_and_loaded_elsewhere(void **state) {
    (void)state;
    tu_watchdog_arm(120, "FUNCTION LOAD refused by one primary");
    int p[CU_PRIMARIES];
    primaries(p);
    rcm_client *c = cu_open_ok("command_timeout_ms", "5000", NULL);
    rcm_reply *r = NULL;
    TU_ASSERT_RC(cu_to_node(c, p[2], &r, "FUNCTION", "LOAD", LIB_OLD, NULL), RCM_OK);
    if (!tu_is_cstring(r, "rcmfanout")) fail_msg("FUNCTION LOAD on %d: %s", p[2], tu_describe(r));
    rcm_reply_free(r);

    r = NULL;
    rcm_status st = tu_cmd(c, &r, "FUNCTION", "LOAD", LIB_NEW, NULL);
    printf("FUNCTION LOAD to every primary, %d already holding the library: %s %s ('%s')\n", p[2],
           rcm_status_name(st), tu_describe(r), st == RCM_OK ? "" : rcm_last_error());
    int reported = st != RCM_OK || (rcm_reply_type(r) == RCM_REPLY_ERROR && strstr(tu_describe(r), "already exists"));
    rcm_reply_free(r);
    if (!reported) fail_msg("the refusal of %d is not in the result", p[2]);
    for (int i = 0; i < 2; i++)
        if (!has_function(p[i], "rcmfanout_new")) fail_msg("primary %d did not load the library", p[i]);
    if (!has_function(p[2], "rcmfanout_old") || has_function(p[2], "rcmfanout_new"))
        fail_msg("primary %d replaced its library although FUNCTION LOAD had no REPLACE", p[2]);
    rcm_client_close(c);
    tu_watchdog_disarm();
}

/* Runs argv (a fan-out) with the primary on port stopped; checks it ends in time and fails.
 * The primary is continued by the caller (after checking the others). */
static void fanout_with_one_stopped(rcm_client *c, int port, const char *what, int argc, const char *const *argv) {
    stopped_pid = cu_node_pid(port);
    if (stopped_pid <= 0) fail_msg("no PID for the node on %d", port);
    assert_int_equal(kill(stopped_pid, SIGSTOP), 0);
    cu_log("%s with %d stopped", what, port);
    rcm_reply *r = NULL;
    double t0 = tu_now();
    rcm_status st = tu_cmdv(c, &r, argc, argv);
    double took = tu_now() - t0;
    char err[512];
    snprintf(err, sizeof err, "%s", st == RCM_OK ? "" : rcm_last_error());
    printf("%s with %d stopped: %s %s ('%s') after %.2f s\n", what, port, rcm_status_name(st), tu_describe(r), err,
           took);
    int error_reply = st == RCM_OK && rcm_reply_type(r) == RCM_REPLY_ERROR;
    rcm_reply_free(r);
    if (st == RCM_OK && !error_reply) fail_msg("%s succeeded although primary %d never answered", what, port);
    /* the deadline is 1.5 s; 10 s is far beyond any scheduling delay */
    if (took > DEADLINE_MS / 1000.0 + 10) fail_msg("%s took %.1f s with a %d ms deadline", what, took, DEADLINE_MS);
    /* The others ran it and the stopped one has it in its socket: "not sent" would be
     * false, and the caller needs to know which node did not answer. */
    if (!error_reply && (!strstr(err, cu_addr(port)) || strstr(err, "not sent")))
        fail_msg("%s: the failure does not name the node that did not answer (%s) or claims nothing was sent: '%s'",
                 what, cu_addr(port), err);
}

static void continue_stopped(void) {
    kill(stopped_pid, SIGCONT);
    stopped_pid = -1;
    cu_assert_healthy_ok(60);
}

static void test_fanout_failure__stopped_primary_fails_config_set_and_function_flush_in_time(void **state) {
    (void)state;
    tu_watchdog_arm(240, "fan-out with a stopped primary");
    int p[CU_PRIMARIES];
    primaries(p);
    char dl[16];
    snprintf(dl, sizeof dl, "%d", DEADLINE_MS);
    rcm_client *c = cu_open_ok("command_timeout_ms", dl, "retry.backoff_max_ms", "100", NULL);
    /* every primary connected before one stops */
    for (int i = 0; i < CU_PRIMARIES; i++) {
        rcm_reply *r = NULL;
        TU_ASSERT_RC(cu_to_node(c, p[i], &r, "PING", NULL), RCM_OK);
        rcm_reply_free(r);
    }

    const char *config_set[] = {"CONFIG", "SET", "maxmemory-samples", "7"};
    fanout_with_one_stopped(c, p[1], "CONFIG SET", 4, config_set);
    for (int i = 0; i < CU_PRIMARIES; i++)
        if (i != 1 && samples_of(p[i]) != 7) fail_msg("primary %d did not apply CONFIG SET", p[i]);
    continue_stopped();

    rcm_reply *r = tu_cmd_ok(c, "FUNCTION", "LOAD", LIB_NEW, NULL);
    rcm_reply_free(r);
    for (int i = 0; i < CU_PRIMARIES; i++)
        if (!has_function(p[i], "rcmfanout_new")) fail_msg("primary %d did not load the library", p[i]);
    const char *flush[] = {"FUNCTION", "FLUSH"};
    fanout_with_one_stopped(c, p[2], "FUNCTION FLUSH", 2, flush);
    for (int i = 0; i < 2; i++)
        if (has_function(p[i], "rcmfanout_new")) fail_msg("primary %d did not apply FUNCTION FLUSH", p[i]);
    continue_stopped();

    /* and the client is fine afterwards */
    r = tu_cmd_ok(c, "CONFIG", "SET", "maxmemory-samples", "5", NULL);
    TU_ASSERT_STATUS_REPLY(r, "OK");
    rcm_reply_free(r);
    rcm_client_close(c);
    tu_watchdog_disarm();
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_fanout_failure__function_load_refused_by_one_primary_is_reported_and_loaded_elsewhere, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fanout_failure__stopped_primary_fails_config_set_and_function_flush_in_time,
                                        setup, teardown),
    };
    return TU_RUN(tests, argc, argv);
}
