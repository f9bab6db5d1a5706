/* sentinel.pubsub: a channel and a pattern subscription through a Sentinel failover
 * (fixture "sentinel", SENTINEL FAILOVER mymaster as sentinel.failover does).
 *
 * What must hold:
 *  - before: both live on the master (PUBSUB NUMSUB / NUMPAT there), messages arrive;
 *  - after the sentinels agree on the new master: both are subscribed there, each gets
 *    exactly one GAP (an RCM_MSG_GAP naming the new master, whose interval holds the
 *    failover, and one RCM_EVENT_SUBSCRIPTION_GAP naming it), and messages PUBLISHed
 *    through rcm once it is live arrive exactly once each, in order, from the new
 *    master (PUBLISH is also replicated to replicas: a subscription left on the old
 *    master as well would deliver them twice);
 *  - the old master, a replica now, holds none of rcm's subscriptions.
 * Leaves the topology healthy (with the new master, as sentinel.failover does). */
#include "failover_util.h"
#include "pubsub_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHANNEL "sps-channel"
#define PATTERN "sps-pattern:*"
#define PATTERN_CHANNEL "sps-pattern:x"

static int healthy(void) {
    char why[256];
    if (!fo_sentinel_wait_healthy(90, why, sizeof why)) {
        fprintf(stderr, "the sentinel topology is not healthy: %s\n", why);
        return -1;
    }
    return 0;
}

static int group_setup(void **state) {
    (void)state;
    return healthy();
}

static int group_teardown(void **state) {
    (void)state;
    return healthy();
}

static void test_pubsub__subscriptions_follow_a_sentinel_failover(void **state) {
    (void)state;
    int old_master = fo_sentinel_master();
    assert_true(old_master > 0);
    ps_events events;
    ps_events_init(&events);
    rcm_config *cfg = rcm_config_new();
    TU_ASSERT_RC(rcm_config_from_url(cfg, fo_sentinel_url()), RCM_OK);
    TU_ASSERT_RC(rcm_config_set(cfg, "password", FO_PASSWORD), RCM_OK);
    TU_ASSERT_RC(rcm_config_set(cfg, "command_timeout_ms", "5000"), RCM_OK);
    TU_ASSERT_RC(rcm_config_set_event_callback(cfg, ps_events_cb, &events), RCM_OK);
    rcm_client *c = NULL;
    rcm_status st = rcm_client_open(cfg, &c);
    rcm_config_free(cfg);
    if (st != RCM_OK) fail_msg("open: %s '%s'", rcm_status_name(st), rcm_last_error());

    tu_watchdog_arm(240, "sentinel failover under subscriptions");
    char old_addr[64];
    snprintf(old_addr, sizeof old_addr, "%s", fo_addr(old_master));
    ps_inbox in;
    ps_open_ok(&in, c);
    ps_subscribe_ok(&in, RCM_SUB_CHANNEL, CHANNEL);
    ps_subscribe_ok(&in, RCM_SUB_PATTERN, PATTERN);
    ps_wait_ok(&in, RCM_MSG_SUBSCRIBED, CHANNEL, 1, 30, "SUBSCRIBED");
    ps_wait_ok(&in, RCM_MSG_SUBSCRIBED, PATTERN, 1, 30, "SUBSCRIBED");
    fo_wait_pubsub_count_ok(old_master, FO_PASSWORD, CHANNEL, 2, "before the failover");
    ps_publish_and_expect_ok(&in, c, 0, RCM_SUB_CHANNEL, "PUBLISH", CHANNEL, NULL, "before", 5, old_addr);
    ps_publish_and_expect_ok(&in, c, 0, RCM_SUB_PATTERN, "PUBLISH", PATTERN_CHANNEL, PATTERN, "before", 5, old_addr);

    long long t_failover = ps_unix_ms();
    double t0 = tu_now();
    char *out = fo_cli(fo_sentinel_port(0), NULL, "SENTINEL FAILOVER %s", FO_MASTER_NAME);
    if (!out || strncmp(out, "OK", 2) != 0) fail_msg("SENTINEL FAILOVER: '%s'", out ? out : "");
    free(out);
    int new_master = -1;
    while (tu_now() - t0 < 60) {
        int m = fo_sentinel_master();
        char role[32];
        if (m > 0 && m != old_master && strcmp(fo_role_of(m, role, sizeof role), "master") == 0) {
            new_master = m;
            break;
        }
        tu_sleep_ms(50);
    }
    if (new_master < 0) fail_msg("the sentinels named no new master within 60 s of SENTINEL FAILOVER");
    char new_addr[64];
    snprintf(new_addr, sizeof new_addr, "%s", fo_addr(new_master));
    fprintf(stderr, "new master %s, %.3f s after SENTINEL FAILOVER\n", new_addr, tu_now() - t0);

    ps_wait_ok(&in, RCM_MSG_GAP, CHANNEL, 1, 60, "GAP of the channel");
    ps_wait_ok(&in, RCM_MSG_GAP, PATTERN, 1, 60, "GAP of the pattern");
    const char *names[] = {CHANNEL, PATTERN};
    for (int i = 0; i < 2; i++) {
        const ps_rec *g = &in.recs[ps_find(&in, 0, RCM_MSG_GAP, names[i])];
        if (strcmp(g->node, new_addr) != 0)
            fail_msg("the GAP of '%s' says live on '%s', expected the new master %s", names[i], g->node, new_addr);
    }
    fo_wait_pubsub_count_ok(new_master, FO_PASSWORD, CHANNEL, 2, "after the failover");
    ps_publish_and_expect_ok(&in, c, 0, RCM_SUB_CHANNEL, "PUBLISH", CHANNEL, NULL, "after", 20, new_addr);
    ps_publish_and_expect_ok(&in, c, 0, RCM_SUB_PATTERN, "PUBLISH", PATTERN_CHANNEL, PATTERN, "after", 20, new_addr);
    fo_wait_pubsub_count_ok(old_master, FO_PASSWORD, CHANNEL, 0, "the old master, now a replica");
    for (int i = 0; i < 2; i++) {
        ps_assert_gaps_ok(&in, 0, names[i], 1, t_failover);
        ps_assert_gap_events_ok(&events, names[i], 1);
    }
    tu_watchdog_disarm();
    ps_close(&in);
    rcm_client_close(c);
}

int main(int argc, char **argv) {
    fo_diagnose_signals();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pubsub__subscriptions_follow_a_sentinel_failover),
    };
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
