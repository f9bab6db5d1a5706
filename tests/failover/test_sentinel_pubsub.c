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

static const ps_pair names = {"sps-channel", "sps-pattern:*", "sps-pattern:x"};

static void test_pubsub__subscriptions_follow_a_sentinel_failover(void **state) {
    (void)state;
    int old_master = fo_sentinel_master();
    assert_true(old_master > 0);
    ps_events events;
    rcm_client *c = ps_client_open_ok(fo_sentinel_url(), &events, "password", FO_PASSWORD, "command_timeout_ms", "5000",
                                      NULL);
    tu_watchdog_arm(240, "sentinel failover under subscriptions");
    char old_addr[64];
    snprintf(old_addr, sizeof old_addr, "%s", fo_addr(old_master));
    ps_inbox in;
    ps_open_ok(&in, c);
    ps_pair_subscribe_ok(&in, &names);
    fo_wait_pubsub_count_ok(old_master, FO_PASSWORD, names.channel, 2, "before the failover");
    ps_pair_publish_ok(&in, c, &names, "before", 5, old_addr);

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

    ps_pair_wait_gaps_ok(&in, &names, new_addr);
    /* The old master drops its subscribers when a sentinel turns it into a replica,
     * which may come after the switch: the fault ends by the GAPs. */
    long long t_failover_end = ps_unix_ms();
    fo_wait_pubsub_count_ok(new_master, FO_PASSWORD, names.channel, 2, "after the failover");
    ps_pair_publish_ok(&in, c, &names, "after", 20, new_addr);
    fo_wait_pubsub_count_ok(old_master, FO_PASSWORD, names.channel, 0, "the old master, now a replica");
    ps_pair_assert_one_gap_ok(&in, &events, &names, t_failover, t_failover_end);
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
    return cmocka_run_group_tests(tests, fo_sentinel_fixture, fo_sentinel_fixture);
}
