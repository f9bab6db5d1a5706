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
#include <string.h>

static const ps_pair names = {"rps-channel", "rps-pattern:*", "rps-pattern:x"};

static void test_pubsub__subscriptions_follow_the_new_leader(void **state) {
    (void)state;
    int leader = fo_raft_leader_among(7);
    assert_true(leader > 0);
    int killed_index = -1;
    for (int i = 0; i < 3; i++)
        if (fo_raft_port(i) == leader) killed_index = i;
    int pid = fo_topology_pid("raft", leader);
    if (pid < 0) fail_msg("no PID recorded for the leader %d", leader);
    char url[160];
    snprintf(url, sizeof url, "redis+raft://127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d", fo_raft_port(0), fo_raft_port(1),
             fo_raft_port(2));
    ps_events events;
    rcm_client *c = ps_client_open_ok(url, &events, "command_timeout_ms", "5000", NULL);

    tu_watchdog_arm(240, "raft leader kill under subscriptions");
    char leader_addr[64];
    snprintf(leader_addr, sizeof leader_addr, "%s", fo_addr(leader));
    ps_inbox in;
    ps_open_ok(&in, c);
    ps_pair_subscribe_ok(&in, &names);
    fo_wait_pubsub_count_ok(leader, NULL, names.channel, 2, "before the kill");
    ps_pair_publish_ok(&in, c, &names, "before", 5, leader_addr);

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

    ps_pair_wait_gaps_ok(&in, &names, new_addr);
    fo_wait_pubsub_count_ok(new_leader, NULL, names.channel, 2, "after the election");
    ps_pair_publish_ok(&in, c, &names, "after", 20, new_addr);
    ps_pair_assert_one_gap_ok(&in, &events, &names, t_kill, t_kill);
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
    return cmocka_run_group_tests(tests, fo_raft_fixture, fo_raft_fixture);
}
