/* sentinel.routing: the harness's Sentinel topology (fixture "sentinel"). A client that
 * knows only two sentinels finds the master and writes there; read_from=replica sends
 * reads to the replicas. Leaves the topology as it found it. */
#include "failover_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int group_setup(void **state) {
    (void)state;
    char why[256];
    if (!fo_sentinel_wait_healthy(60, why, sizeof why)) {
        fprintf(stderr, "the sentinel topology is not healthy: %s\n", why);
        return -1;
    }
    return 0;
}

static void test_routing__writes_reach_the_master(void **state) {
    (void)state;
    int master = fo_sentinel_master();
    assert_true(master > 0);
    rcm_client *c = fo_open_ok(fo_sentinel_url(), NULL, "password", FO_PASSWORD, NULL);
    char primary[64];
    fo_topology_primary(c, primary, sizeof primary);
    if (strcmp(primary, fo_addr(master)) != 0)
        fail_msg("topology primary '%s', the sentinels name %s", primary, fo_addr(master));

    rcm_reply *r = NULL;
    TU_ASSERT_RC(tu_cmd(c, &r, "SET", "sr:key", "through-sentinel", NULL), RCM_OK);
    TU_ASSERT_STATUS_REPLY(r, "OK");
    rcm_reply_free(r);
    char *out = fo_cli(master, FO_PASSWORD, "GET sr:key");
    if (!out || strncmp(out, "through-sentinel", 16) != 0) fail_msg("GET sr:key on the master %d: '%s'", master, out);
    free(out);
    r = NULL;
    TU_ASSERT_RC(tu_cmd(c, &r, "GET", "sr:key", NULL), RCM_OK);
    TU_ASSERT_CSTRING_REPLY(r, "through-sentinel");
    rcm_reply_free(r);

    char role[32];
    fo_role_via_rcm(c, master, role, sizeof role);
    if (strcmp(role, "master") != 0) fail_msg("ROLE through rcm on %d: '%s'", master, role);
    rcm_client_close(c);
}

/* Subscriptions to +switch-master named name on a sentinel (CLIENT LIST). */
static int subscribers_named(int sentinel_port, const char *name) {
    char *out = fo_cli(sentinel_port, NULL, "CLIENT LIST");
    int n = 0;
    char needle[96];
    snprintf(needle, sizeof needle, " name=%s ", name);
    for (char *line = out; line && *line;) {
        char *end = strchr(line, '\n');
        if (end) *end = 0;
        if (strstr(line, needle) && strstr(line, " sub=1 ")) n++;
        line = end ? end + 1 : NULL;
    }
    free(out);
    return n;
}

/* Only the failover's leader announces +switch-master at once; the other sentinels learn
 * of the switch from its hello messages, up to ~2 s later (0.3-1.1 s measured here), and
 * any of them may be the leader. The client therefore listens on every sentinel: both
 * that the URL names and the third, which they know of (SENTINEL sentinels). */
static void test_routing__every_sentinel_is_listened_to(void **state) {
    (void)state;
    rcm_client *c = fo_open_ok(fo_sentinel_url(), NULL, "password", FO_PASSWORD, "client_name", "rcm-listener", NULL);
    rcm_reply *r = NULL;
    TU_ASSERT_RC(tu_cmd(c, &r, "PING", NULL), RCM_OK);
    rcm_reply_free(r);
    int counts[3] = {0, 0, 0};
    double until = tu_now() + 10;
    for (;;) {
        int all = 1;
        for (int i = 0; i < 3; i++) {
            counts[i] = subscribers_named(fo_sentinel_port(i), "rcm-listener");
            if (counts[i] != 1) all = 0;
        }
        if (all || tu_now() > until) break;
        tu_sleep_ms(100);
    }
    rcm_client_close(c);
    for (int i = 0; i < 3; i++)
        if (counts[i] != 1)
            fail_msg("sentinel %d (%s by the URL %s) has %d subscriptions of the client, expected 1", fo_sentinel_port(i),
                     i < 2 ? "named" : "not named", fo_sentinel_url(), counts[i]);
}

/* A sentinel that is behind (fake_sentinel.py: it names a replica, or itself as a
 * master, as one that missed a failover would) and is listed first. The client goes
 * with the address most sentinels name; when that fails ROLE, with the next one; with
 * only the laggard it fails with a status naming the ROLE check. */
static void test_routing__a_sentinel_that_is_behind_is_outvoted(void **state) {
    (void)state;
    int master = fo_sentinel_master();
    assert_true(master > 0);
    int replica = -1;
    for (int i = 0; i < 3 && replica < 0; i++)
        if (fo_sentinel_data_port(i) != master) replica = fo_sentinel_data_port(i);
    fo_fake_sentinel_start_ok(replica);
    char url[256];
    snprintf(url, sizeof url, "redis+sentinel://127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d/%s",
             fo_fake_sentinel_port(), fo_sentinel_port(0), fo_sentinel_port(1), FO_MASTER_NAME);
    rcm_client *c = fo_open_ok(url, NULL, "password", FO_PASSWORD, NULL);
    char primary[64];
    fo_topology_primary(c, primary, sizeof primary);
    if (strcmp(primary, fo_addr(master)) != 0)
        fail_msg("topology primary '%s'; the real sentinels name %s, the one behind %s", primary, fo_addr(master),
                 fo_addr(replica));
    rcm_reply *r = NULL;
    TU_ASSERT_RC(tu_cmd(c, &r, "SET", "sr:outvoted", "yes", NULL), RCM_OK);
    TU_ASSERT_STATUS_REPLY(r, "OK");
    rcm_reply_free(r);
    rcm_client_close(c);

    /* The laggard names a node that does say ROLE master (itself): the ROLE check cannot
     * tell, only the two real sentinels outvoting it can. */
    fo_fake_sentinel_stop();
    fo_fake_sentinel_start_ok(fo_fake_sentinel_port());
    c = fo_open_ok(url, NULL, "password", FO_PASSWORD, NULL);
    fo_topology_primary(c, primary, sizeof primary);
    if (strcmp(primary, fo_addr(master)) != 0)
        fail_msg("topology primary '%s'; the real sentinels name %s, the one behind itself", primary, fo_addr(master));
    rcm_client_close(c);
    fo_fake_sentinel_stop();
    fo_fake_sentinel_start_ok(replica);

    /* Outvoted the other way (the laggard listed twice, one real sentinel): the most
     * named address fails the ROLE check, so the client goes on to the next one. */
    snprintf(url, sizeof url, "redis+sentinel://127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d/%s", fo_fake_sentinel_port(),
             fo_fake_sentinel_port(), fo_sentinel_port(2), FO_MASTER_NAME);
    c = fo_open_ok(url, NULL, "password", FO_PASSWORD, NULL);
    fo_topology_primary(c, primary, sizeof primary);
    if (strcmp(primary, fo_addr(master)) != 0)
        fail_msg("topology primary '%s'; after the replica the laggard names, the next answer is %s", primary,
                 fo_addr(master));
    rcm_client_close(c);

    /* Alone, the laggard's answer fails the ROLE check: no master, said so. */
    snprintf(url, sizeof url, "redis+sentinel://127.0.0.1:%d/%s", fo_fake_sentinel_port(), FO_MASTER_NAME);
    rcm_config *cfg = rcm_config_new();
    assert_non_null(cfg);
    assert_int_equal(rcm_config_from_url(cfg, url), RCM_OK);
    assert_int_equal(rcm_config_set(cfg, "password", FO_PASSWORD), RCM_OK);
    assert_int_equal(rcm_config_set(cfg, "connect_timeout_ms", "1000"), RCM_OK);
    rcm_client *alone = NULL;
    rcm_status st = rcm_client_open(cfg, &alone);
    char msg[512];
    snprintf(msg, sizeof msg, "%s", rcm_last_error() ? rcm_last_error() : "");
    fprintf(stderr, "only the sentinel that is behind: %s: %s\n", rcm_status_name(st), msg);
    if (st == RCM_OK) rcm_client_close(alone);
    rcm_config_free(cfg);
    fo_fake_sentinel_stop();
    assert_int_not_equal(st, RCM_OK);
    if (!strstr(msg, "is not a master")) fail_msg("the failure does not say why: '%s'", msg);
}

/* The URL form with the data nodes' password as a query parameter, and the sentinel
 * password key (the sentinels have none: an empty one is no password). */
static void test_routing__url_with_password_parameter(void **state) {
    (void)state;
    char url[256];
    snprintf(url, sizeof url, "%s?password=%s", fo_sentinel_url(), FO_PASSWORD);
    rcm_client *c = fo_open_ok(url, NULL, NULL);
    rcm_reply *r = NULL;
    TU_ASSERT_RC(tu_cmd(c, &r, "INCR", "sr:counter", NULL), RCM_OK);
    assert_int_equal(rcm_reply_type(r), RCM_REPLY_INTEGER);
    rcm_reply_free(r);
    rcm_client_close(c);
}

/* Without the data nodes' password the open fails with RCM_ERR_AUTH, promptly. */
static void test_routing__wrong_password_is_auth_error(void **state) {
    (void)state;
    rcm_config *cfg = rcm_config_new();
    TU_ASSERT_RC(rcm_config_from_url(cfg, fo_sentinel_url()), RCM_OK);
    TU_ASSERT_RC(rcm_config_set(cfg, "password", "wrong"), RCM_OK);
    rcm_client *c = NULL;
    double t0 = tu_now();
    rcm_status st = rcm_client_open(cfg, &c);
    double took = tu_now() - t0;
    rcm_config_free(cfg);
    if (st != RCM_ERR_AUTH)
        fail_msg("open with a wrong password: %s (%s), expected RCM_ERR_AUTH", rcm_status_name(st), rcm_last_error());
    assert_null(c);
    if (strstr(rcm_last_error(), "wrong")) fail_msg("the error message shows the password: %s", rcm_last_error());
    if (took > 3.0) fail_msg("open took %.3f s", took);
}

static long long cmd_calls(int port, const char *cmd) {
    char *out = fo_cli(port, FO_PASSWORD, "INFO commandstats");
    char name[64];
    snprintf(name, sizeof name, "cmdstat_%s", cmd);
    char field[256];
    fo_field(out, name, field, sizeof field);
    free(out);
    const char *p = strstr(field, "calls=");
    return p ? atoll(p + 6) : 0;
}

/* read_from=replica: GETs go to the replicas (INFO commandstats), none to the master. */
static void test_routing__replica_reads_go_to_replicas(void **state) {
    (void)state;
    int master = fo_sentinel_master();
    assert_true(master > 0);
    rcm_client *c = fo_open_ok(fo_sentinel_url(), NULL, "password", FO_PASSWORD, "read_from", "replica", NULL);
    rcm_reply *r = NULL;
    TU_ASSERT_RC(tu_cmd(c, &r, "SET", "sr:replicated", "yes", NULL), RCM_OK);
    TU_ASSERT_STATUS_REPLY(r, "OK");
    rcm_reply_free(r);
    char *out = fo_cli(master, FO_PASSWORD, "WAIT 2 5000");
    if (!out || atoi(out) != 2) fail_msg("WAIT 2 on the master: '%s'", out ? out : "");
    free(out);
    for (int i = 0; i < 3; i++) free(fo_cli(fo_sentinel_data_port(i), FO_PASSWORD, "CONFIG RESETSTAT"));

    enum { N = 200 };
    for (int i = 0; i < N; i++) {
        r = NULL;
        rcm_status st = tu_cmd(c, &r, "GET", "sr:replicated", NULL);
        if (st != RCM_OK || !tu_is_cstring(r, "yes"))
            fail_msg("GET %d with read_from=replica: %s, reply %s (%s)", i, rcm_status_name(st), tu_describe(r),
                     rcm_last_error());
        rcm_reply_free(r);
    }
    long long on_master = cmd_calls(master, "get"), on_replicas = 0;
    for (int i = 0; i < 3; i++) {
        int p = fo_sentinel_data_port(i);
        if (p == master) continue;
        long long n = cmd_calls(p, "get");
        fprintf(stderr, "replica %d served %lld GETs\n", p, n);
        on_replicas += n;
    }
    if (on_master != 0 || on_replicas != N)
        fail_msg("read_from=replica: %lld GETs on the master, %lld on the replicas (expected 0 and %d)", on_master,
                 on_replicas, N);
    /* Writes still go to the master. */
    long long sets_before = cmd_calls(master, "set");
    r = NULL;
    TU_ASSERT_RC(tu_cmd(c, &r, "SET", "sr:replicated", "again", NULL), RCM_OK);
    TU_ASSERT_STATUS_REPLY(r, "OK");
    rcm_reply_free(r);
    if (cmd_calls(master, "set") != sets_before + 1) fail_msg("the SET did not reach the master %d", master);
    rcm_client_close(c);
}

/* read_from=replica or prefer_replica: a read inside a pipelined MULTI ... EXEC is queued
 * in the transaction on the master, not run at once on a replica. */
static void transaction_with_a_read(const char *read_from) {
    rcm_client *c = fo_open_ok(fo_sentinel_url(), NULL, "password", FO_PASSWORD, "read_from", read_from, NULL);
    rcm_reply *r = NULL;
    TU_ASSERT_RC(tu_cmd(c, &r, "SET", "sr:txk", "v", NULL), RCM_OK);
    rcm_reply_free(r);
    TU_ASSERT_RC(tu_cmd(c, &r, "DEL", "sr:txn", NULL), RCM_OK);
    rcm_reply_free(r);
    rcm_pipeline *p = NULL;
    TU_ASSERT_RC(rcm_pipeline_new(c, &p), RCM_OK);
    const char *multi[] = {"MULTI"}, *get[] = {"GET", "sr:txk"}, *incr[] = {"INCR", "sr:txn"}, *exec[] = {"EXEC"};
    TU_ASSERT_RC(rcm_pipeline_append(p, 1, multi, NULL), RCM_OK);
    TU_ASSERT_RC(rcm_pipeline_append(p, 2, get, NULL), RCM_OK);
    TU_ASSERT_RC(rcm_pipeline_append(p, 2, incr, NULL), RCM_OK);
    TU_ASSERT_RC(rcm_pipeline_append(p, 1, exec, NULL), RCM_OK);
    rcm_reply **rs = NULL;
    size_t nr = 0;
    TU_ASSERT_RC(rcm_pipeline_exec(p, &rs, &nr), RCM_OK);
    rcm_pipeline_free(p);
    assert_int_equal(nr, 4);
    if (!tu_is_status(rs[1], "QUEUED")) fail_msg("read_from=%s: GET inside MULTI: %s", read_from, tu_describe(rs[1]));
    const rcm_reply *e = rs[3];
    if (rcm_reply_type(e) != RCM_REPLY_ARRAY || rcm_reply_length(e) != 2 ||
        !tu_is_cstring(rcm_reply_element(e, 0), "v") || !tu_is_integer(rcm_reply_element(e, 1), 1))
        fail_msg("read_from=%s: EXEC: %s (expected [\"v\", 1])", read_from, tu_describe(e));
    for (size_t i = 0; i < nr; i++) rcm_reply_free(rs[i]);
    rcm_free(rs);
    rcm_client_close(c);
}

static void test_routing__reads_in_a_transaction_run_in_it_on_the_master(void **state) {
    (void)state;
    transaction_with_a_read("replica");
    transaction_with_a_read("prefer_replica");
}

int main(int argc, char **argv) {
    fo_diagnose_signals();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routing__writes_reach_the_master),
        cmocka_unit_test(test_routing__every_sentinel_is_listened_to),
        cmocka_unit_test(test_routing__a_sentinel_that_is_behind_is_outvoted),
        cmocka_unit_test(test_routing__url_with_password_parameter),
        cmocka_unit_test(test_routing__wrong_password_is_auth_error),
        cmocka_unit_test(test_routing__replica_reads_go_to_replicas),
        cmocka_unit_test(test_routing__reads_in_a_transaction_run_in_it_on_the_master),
    };
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
