/* raft.pubsub: real RedisRaft (fixture "raft"; exits 77, skipped, when REDISRAFT_SO is
 * not set). A channel and a pattern subscription while the leader is SIGKILLed: once the
 * survivors elect a new leader, rcm subscribes there again.
 *
 * What must hold:
 *  - before: both live on the leader (PUBSUB NUMSUB / NUMPAT there), messages arrive;
 *  - after the election: each gets exactly one GAP (an RCM_MSG_GAP naming the new leader,
 *    whose interval holds the kill, and one RCM_EVENT_SUBSCRIPTION_GAP naming it), both
 *    are subscribed on the new leader, and messages PUBLISHed through rcm once they are
 *    live arrive exactly once each, in order, from the new leader.
 * The group teardown restarts the killed node and waits for a healthy group. */
#include "failover_util.h"
#include "pubsub_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHANNEL "rps-channel"
#define PATTERN "rps-pattern:*"
#define PATTERN_CHANNEL "rps-pattern:x"

static int restore(void) {
    for (int i = 0; i < 3; i++) {
        if (fo_topology_pid("raft", fo_raft_port(i)) < 0) {
            fprintf(stderr, "restoring raft node %d\n", fo_raft_port(i));
            if (fo_raft_restart(i) < 0) return -1;
        }
    }
    char why[256];
    if (!fo_raft_wait_healthy(60, why, sizeof why)) {
        fprintf(stderr, "the raft group is not healthy: %s\n", why);
        return -1;
    }
    return 0;
}

static int group_setup(void **state) {
    (void)state;
    return restore();
}

static int group_teardown(void **state) {
    (void)state;
    return restore();
}

static void test_pubsub__subscriptions_follow_the_new_leader(void **state) {
    (void)state;
    int leader = fo_raft_leader_among(7);
    assert_true(leader > 0);
    int killed_index = -1;
    for (int i = 0; i < 3; i++)
        if (fo_raft_port(i) == leader) killed_index = i;
    int pid = fo_topology_pid("raft", leader);
    if (pid < 0) fail_msg("no PID recorded for the leader %d", leader);

    ps_events events;
    ps_events_init(&events);
    char url[160];
    snprintf(url, sizeof url, "redis+raft://127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d", fo_raft_port(0), fo_raft_port(1),
             fo_raft_port(2));
    rcm_config *cfg = rcm_config_new();
    TU_ASSERT_RC(rcm_config_from_url(cfg, url), RCM_OK);
    TU_ASSERT_RC(rcm_config_set(cfg, "command_timeout_ms", "5000"), RCM_OK);
    TU_ASSERT_RC(rcm_config_set_event_callback(cfg, ps_events_cb, &events), RCM_OK);
    rcm_client *c = NULL;
    rcm_status st = rcm_client_open(cfg, &c);
    rcm_config_free(cfg);
    if (st != RCM_OK) fail_msg("open: %s '%s'", rcm_status_name(st), rcm_last_error());

    tu_watchdog_arm(240, "raft leader kill under subscriptions");
    char leader_addr[64];
    snprintf(leader_addr, sizeof leader_addr, "%s", fo_addr(leader));
    ps_inbox in;
    ps_open_ok(&in, c);
    ps_subscribe_ok(&in, RCM_SUB_CHANNEL, CHANNEL);
    ps_subscribe_ok(&in, RCM_SUB_PATTERN, PATTERN);
    ps_wait_ok(&in, RCM_MSG_SUBSCRIBED, CHANNEL, 1, 30, "SUBSCRIBED");
    ps_wait_ok(&in, RCM_MSG_SUBSCRIBED, PATTERN, 1, 30, "SUBSCRIBED");
    fo_wait_pubsub_count_ok(leader, NULL, CHANNEL, 2, "before the kill");
    ps_publish_and_expect_ok(&in, c, 0, RCM_SUB_CHANNEL, "PUBLISH", CHANNEL, NULL, "before", 5, leader_addr);
    ps_publish_and_expect_ok(&in, c, 0, RCM_SUB_PATTERN, "PUBLISH", PATTERN_CHANNEL, PATTERN, "before", 5, leader_addr);

    long long t_kill = ps_unix_ms();
    double t0 = tu_now();
    if (fo_kill9(pid) != 0) fail_msg("the leader (pid %d) did not die", pid);
    fprintf(stderr, "killed the leader %d (pid %d)\n", leader, pid);
    unsigned survivors = 7u & ~(1u << killed_index);
    int new_leader = -1;
    while (tu_now() - t0 < 30 && (new_leader = fo_raft_leader_among(survivors)) < 0) tu_sleep_ms(50);
    if (new_leader < 0) fail_msg("no survivor became leader within 30 s of the kill");
    char new_addr[64];
    snprintf(new_addr, sizeof new_addr, "%s", fo_addr(new_leader));
    fprintf(stderr, "new leader %s, %.3f s after the kill\n", new_addr, tu_now() - t0);

    ps_wait_ok(&in, RCM_MSG_GAP, CHANNEL, 1, 60, "GAP of the channel");
    ps_wait_ok(&in, RCM_MSG_GAP, PATTERN, 1, 60, "GAP of the pattern");
    const char *names[] = {CHANNEL, PATTERN};
    for (int i = 0; i < 2; i++) {
        const ps_rec *g = &in.recs[ps_find(&in, 0, RCM_MSG_GAP, names[i])];
        if (strcmp(g->node, new_addr) != 0)
            fail_msg("the GAP of '%s' says live on '%s', expected the new leader %s", names[i], g->node, new_addr);
    }
    fo_wait_pubsub_count_ok(new_leader, NULL, CHANNEL, 2, "after the election");
    ps_publish_and_expect_ok(&in, c, 0, RCM_SUB_CHANNEL, "PUBLISH", CHANNEL, NULL, "after", 20, new_addr);
    ps_publish_and_expect_ok(&in, c, 0, RCM_SUB_PATTERN, "PUBLISH", PATTERN_CHANNEL, PATTERN, "after", 20, new_addr);
    for (int i = 0; i < 2; i++) {
        ps_assert_gaps_ok(&in, 0, names[i], 1, t_kill);
        ps_assert_gap_events_ok(&events, names[i], 1);
    }
    tu_watchdog_disarm();
    ps_close(&in);
    rcm_client_close(c);
}

int main(int argc, char **argv) {
    fo_diagnose_signals();
    fo_raft_require_module("raft.pubsub");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pubsub__subscriptions_follow_the_new_leader),
    };
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
