/* raft.follower_seed: real RedisRaft (fixture "raft"). A client whose only seed is a
 * follower finds the leader and writes there. Leaves the group as it found it. */
#include "failover_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int group_setup(void **state) {
    (void)state;
    char why[256];
    if (!fo_raft_wait_healthy(60, why, sizeof why)) {
        fprintf(stderr, "the raft group is not healthy: %s\n", why);
        return -1;
    }
    return 0;
}

static int a_follower(int leader) {
    for (int i = 0; i < 3; i++)
        if (fo_raft_port(i) != leader) return fo_raft_port(i);
    return -1;
}

static void test_follower_seed__writes_reach_the_leader(void **state) {
    (void)state;
    int leader = fo_raft_leader_among(7);
    assert_true(leader > 0);
    int follower = a_follower(leader);
    char url[128];
    snprintf(url, sizeof url, "redis+raft://127.0.0.1:%d", follower);
    rcm_client *c = fo_open_ok(url, NULL, "command_timeout_ms", "3000", NULL);

    char primary[64];
    fo_topology_primary(c, primary, sizeof primary);
    if (strcmp(primary, fo_addr(leader)) != 0)
        fail_msg("seed %d (a follower): topology primary '%s', expected the leader %s", follower, primary,
                 fo_addr(leader));

    for (int i = 0; i < 100; i++) {
        char key[64], value[64];
        snprintf(key, sizeof key, "fseed:%d", i);
        snprintf(value, sizeof value, "v%d", i);
        rcm_reply *r = NULL;
        rcm_status st = tu_cmd(c, &r, "SET", key, value, NULL);
        if (st != RCM_OK || !tu_is_status(r, "OK"))
            fail_msg("SET %s through a follower seed: %s, reply %s (%s)", key, rcm_status_name(st), tu_describe(r),
                     rcm_last_error());
        rcm_reply_free(r);
    }
    /* The leader holds them (read with valkey-cli, not through rcm). */
    char *out = fo_cli(leader, NULL, "GET fseed:99");
    if (!out || strncmp(out, "v99", 3) != 0) fail_msg("GET fseed:99 on the leader %d: '%s'", leader, out ? out : "");
    free(out);
    /* And a read through rcm sees them. */
    rcm_reply *r = NULL;
    TU_ASSERT_RC(tu_cmd(c, &r, "GET", "fseed:42", NULL), RCM_OK);
    TU_ASSERT_CSTRING_REPLY(r, "v42");
    rcm_reply_free(r);
    rcm_client_close(c);
}

/* mode=auto recognises a RedisRaft follower and still finds the leader. */
static void test_follower_seed__auto_mode_recognises_raft(void **state) {
    (void)state;
    int leader = fo_raft_leader_among(7);
    assert_true(leader > 0);
    int follower = a_follower(leader);
    char url[128];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", follower);
    rcm_client *c = fo_open_ok(url, NULL, "command_timeout_ms", "3000", NULL);
    char *json = NULL;
    TU_ASSERT_RC(rcm_client_topology_json(c, &json), RCM_OK);
    if (!strstr(json, "\"mode\":\"raft\"")) fail_msg("mode=auto on a RedisRaft follower: topology %s", json);
    rcm_free(json);
    rcm_reply *r = NULL;
    TU_ASSERT_RC(tu_cmd(c, &r, "SET", "fseed:auto", "yes", NULL), RCM_OK);
    TU_ASSERT_STATUS_REPLY(r, "OK");
    rcm_reply_free(r);
    rcm_client_close(c);
}

int main(int argc, char **argv) {
    fo_diagnose_signals();
    fo_raft_require_module("raft.follower_seed");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_follower_seed__writes_reach_the_leader),
        cmocka_unit_test(test_follower_seed__auto_mode_recognises_raft),
    };
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
