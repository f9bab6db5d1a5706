/* raft.scripted: mode=raft against fake_raft.py, a scripted 3-node group that answers
 * with the real module's reply sequences (see the script's header). It runs where no
 * redisraft.so exists; raft.follower_seed, raft.leader_kill and raft.quorum test the
 * same behaviour against the real module. */
#include "failover_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char url_all[256];

static const char *url_of(int i) {
    static char buf[128];
    snprintf(buf, sizeof buf, "redis+raft://127.0.0.1:%d", fo_fake_port(i));
    return buf;
}

static int group_setup(void **state) {
    (void)state;
    fo_fake_start_ok();
    snprintf(url_all, sizeof url_all, "redis+raft://127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d", fo_fake_port(0),
             fo_fake_port(1), fo_fake_port(2));
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    fo_fake_stop();
    return 0;
}

/* Every test starts from: node 0 leads, all nodes up, no failure scripted. */
static int setup(void **state) {
    (void)state;
    fo_fake_ctl_ok(NULL, 0, "LEADER", "0", NULL);
    fo_fake_ctl_ok(NULL, 0, "RESETCOUNTS", NULL);
    return 0;
}

static void assert_data(const char *key, const char *value) {
    char buf[256], want[256];
    fo_fake_ctl_ok(buf, sizeof buf, "DATA", key, NULL);
    snprintf(want, sizeof want, "$%s", value);
    if (strcmp(buf, want) != 0) fail_msg("the group holds %s = %s, expected %s", key, buf, want);
}

static void set_ok(rcm_client *c, const char *key, const char *value) {
    rcm_reply *r = NULL;
    rcm_status st = tu_cmd(c, &r, "SET", key, value, NULL);
    if (st != RCM_OK || !tu_is_status(r, "OK"))
        fail_msg("SET %s: %s, reply %s (%s)", key, rcm_status_name(st), tu_describe(r), rcm_last_error());
    rcm_reply_free(r);
}

/* A client given only a follower finds the leader and writes there. */
static void test_scripted__follower_seed_finds_leader(void **state) {
    (void)state;
    fo_fake_ctl_ok(NULL, 0, "LEADER", "2", NULL);
    rcm_client *c = fo_open_ok(url_of(0), NULL, "command_timeout_ms", "3000", NULL);
    set_ok(c, "fs:key", "v1");
    assert_data("fs:key", "v1");
    if (fo_fake_count(2, "SET") != 1)
        fail_msg("the leader (node 2) received %lld SETs, expected 1", fo_fake_count(2, "SET"));
    char primary[64];
    fo_topology_primary(c, primary, sizeof primary);
    if (strcmp(primary, fo_addr(fo_fake_port(2))) != 0)
        fail_msg("topology primary is '%s', expected %s", primary, fo_addr(fo_fake_port(2)));
    rcm_client_close(c);
}

/* Leadership moves (no death): the old leader answers MOVED 0 <new>; the client resends
 * there, once, and says PRIMARY_CHANGED old -> new. */
static void test_scripted__moved_is_followed(void **state) {
    (void)state;
    fo_events ev;
    fo_events_init(&ev);
    rcm_client *c = fo_open_ok(url_all, &ev, "command_timeout_ms", "3000", NULL);
    set_ok(c, "mv:key", "before");
    fo_fake_ctl_ok(NULL, 0, "TRANSFER", "1", NULL);
    fo_fake_ctl_ok(NULL, 0, "RESETCOUNTS", NULL);
    set_ok(c, "mv:key", "after");
    assert_data("mv:key", "after");
    long long old_sets = fo_fake_count(0, "SET"), new_sets = fo_fake_count(1, "SET");
    if (old_sets != 1 || new_sets != 1)
        fail_msg("SETs: %lld on the old leader (expected 1: answered MOVED), %lld on the new one (expected 1)",
                 old_sets, new_sets);
    char want[128];
    snprintf(want, sizeof want, "%s -> ", fo_addr(fo_fake_port(0)));
    strcat(want, fo_addr(fo_fake_port(1)));
    fo_event e;
    if (fo_events_wait(&ev, 0, RCM_EVENT_PRIMARY_CHANGED, want, &e, 2) < 0) {
        fo_events_print(&ev);
        fail_msg("no PRIMARY_CHANGED event with '%s'", want);
    }
    if (strcmp(e.node, fo_addr(fo_fake_port(1))) != 0) fail_msg("PRIMARY_CHANGED node is %s", e.node);
    /* Later writes go straight to the new leader. */
    fo_fake_ctl_ok(NULL, 0, "RESETCOUNTS", NULL);
    for (int i = 0; i < 10; i++) set_ok(c, "mv:key2", "x");
    if (fo_fake_count(0, "SET") != 0 || fo_fake_count(1, "SET") != 10)
        fail_msg("after the move: %lld SETs on the old leader, %lld on the new (expected 0 and 10)",
                 fo_fake_count(0, "SET"), fo_fake_count(1, "SET"));
    rcm_client_close(c);
}

/* The leader dies. For 1.5 s the followers still answer MOVED 0 <dead leader>, then
 * CLUSTERDOWN for 0.5 s, then node 2 leads. A write issued at once reaches node 2
 * within its deadline and within 1 s of node 2's election; the client does not hammer
 * the followers meanwhile; it says PRIMARY_CHANGED dead -> new. */
static void test_scripted__dead_hint_falls_back_to_new_leader(void **state) {
    (void)state;
    fo_events ev;
    fo_events_init(&ev);
    rcm_client *c = fo_open_ok(url_all, &ev, "command_timeout_ms", "5000", NULL);
    set_ok(c, "el:warm", "1");
    fo_fake_ctl_ok(NULL, 0, "RESETCOUNTS", NULL);
    tu_watchdog_arm(30, "dead_hint_falls_back_to_new_leader");
    double t0 = tu_now();
    fo_fake_ctl_ok(NULL, 0, "ELECTION", "2", "1500", "500", NULL);
    /* Let the client see its connection to the leader close first: a write racing the
     * close may rightly end RCM_ERR_UNCERTAIN (raft.leader_kill allows that). */
    tu_sleep_ms(100);

    rcm_reply *r = NULL;
    double s0 = tu_now();
    rcm_status st = tu_cmd(c, &r, "SET", "el:key", "during", NULL);
    double done = tu_now();
    if (st != RCM_OK || !tu_is_status(r, "OK"))
        fail_msg("SET during the election: %s, reply %s after %.3f s (%s)", rcm_status_name(st), tu_describe(r),
                 done - s0, rcm_last_error());
    rcm_reply_free(r);
    fprintf(stderr, "SET during the election completed %.3f s after the leader died (node 2 leads from 2.0 s)\n",
            done - t0);
    if (done - t0 < 1.9) fail_msg("SET completed %.3f s after the leader died, before any new leader", done - t0);
    if (done - s0 > 5.2) fail_msg("SET took %.3f s, past its 5 s deadline", done - s0);
    assert_data("el:key", "during");

    /* Backoff, not a busy loop: over ~2 s the followers were asked a bounded number of
     * times (the tracker's rounds are >= 100 ms apart and back off). */
    for (int i = 1; i <= 2; i++) {
        long long info = fo_fake_count(i, "INFO"), sets = fo_fake_count(i, "SET");
        fprintf(stderr, "follower %d during the election: %lld INFO, %lld SET\n", i, info, sets);
        if (info > 60 || sets > 30)
            fail_msg("follower %d was asked %lld INFO and %lld SET during a 2 s election: no backoff", i, info, sets);
    }

    char want[128];
    snprintf(want, sizeof want, "%s -> ", fo_addr(fo_fake_port(0)));
    strcat(want, fo_addr(fo_fake_port(2)));
    if (fo_events_wait(&ev, 0, RCM_EVENT_PRIMARY_CHANGED, want, NULL, 2) < 0) {
        fo_events_print(&ev);
        fail_msg("no PRIMARY_CHANGED event with '%s'", want);
    }
    /* Nothing names the dead node as primary after the new one. */
    char primary[64];
    fo_topology_primary(c, primary, sizeof primary);
    if (strcmp(primary, fo_addr(fo_fake_port(2))) != 0) fail_msg("topology primary is '%s'", primary);
    tu_watchdog_disarm();
    rcm_client_close(c);
    /* As raft.leader_kill asks of the real module: back to success within 1 s of the
     * new leader's election. */
    if (done - t0 > 3.0)
        fail_msg("SET completed %.3f s after the leader died, %.3f s after node 2 began to lead (limit 1 s)",
                 done - t0, done - t0 - 2.0);
}

/* The client still writes to node 0, which has meanwhile become a follower naming node 1
 * as leader -- and node 1 has just died: node 0 answers MOVED 0 <dead node 1> for 1.5 s,
 * then CLUSTERDOWN, then MOVED 0 <node 2>. The client follows the hint, finds node 1
 * refusing connections, falls back to asking the other members (with backoff, not a
 * storm of MOVED round trips) and writes on node 2 within its deadline. */
static void test_scripted__moved_to_dead_leader_falls_back(void **state) {
    (void)state;
    fo_events ev;
    fo_events_init(&ev);
    rcm_client *c = fo_open_ok(url_all, &ev, "command_timeout_ms", "5000", NULL);
    set_ok(c, "md:warm", "1");
    tu_watchdog_arm(30, "moved_to_dead_leader_falls_back");
    fo_fake_ctl_ok(NULL, 0, "TRANSFER", "1", NULL);
    double t0 = tu_now();
    fo_fake_ctl_ok(NULL, 0, "ELECTION", "2", "1500", "500", NULL);
    fo_fake_ctl_ok(NULL, 0, "RESETCOUNTS", NULL);
    rcm_reply *r = NULL;
    rcm_status st = tu_cmd(c, &r, "SET", "md:key", "v", NULL);
    double done = tu_now();
    fprintf(stderr, "SET after MOVED to a dead leader: %s after %.3f s\n", rcm_status_name(st), done - t0);
    if (st != RCM_OK || !tu_is_status(r, "OK"))
        fail_msg("SET answered MOVED 0 <dead leader>: %s, reply %s after %.3f s (%s)", rcm_status_name(st),
                 tu_describe(r), done - t0, rcm_last_error());
    rcm_reply_free(r);
    if (done - t0 < 1.9) fail_msg("SET completed %.3f s after the leader died, before any new leader", done - t0);
    if (done - t0 > 5.2) fail_msg("SET took %.3f s, past its 5 s deadline", done - t0);
    assert_data("md:key", "v");
    long long sets0 = fo_fake_count(0, "SET");
    fprintf(stderr, "node 0 answered %lld SETs (MOVED/CLUSTERDOWN) meanwhile\n", sets0);
    if (sets0 < 1 || sets0 > 30) fail_msg("node 0 received %lld SETs during the election", sets0);
    char want[64];
    snprintf(want, sizeof want, "-> %s", fo_addr(fo_fake_port(2)));
    if (fo_events_wait(&ev, 0, RCM_EVENT_PRIMARY_CHANGED, want, NULL, 2) < 0) {
        fo_events_print(&ev);
        fail_msg("no PRIMARY_CHANGED event with '%s'", want);
    }
    tu_watchdog_disarm();
    rcm_client_close(c);
}

/* A client opened during the election, with only a follower as seed (which names the
 * dead leader, whose port refuses connections): the open waits for the new leader
 * (within connect_timeout_ms + command_timeout_ms) instead of failing on the dead member,
 * and its first write lands on the new leader. */
static void test_scripted__open_during_election_with_follower_seed(void **state) {
    (void)state;
    tu_watchdog_arm(30, "open_during_election_with_follower_seed");
    double t0 = tu_now();
    fo_fake_ctl_ok(NULL, 0, "ELECTION", "2", "1500", "500", NULL);
    tu_sleep_ms(100);
    rcm_client *late = NULL;
    rcm_config *cfg = rcm_config_new();
    TU_ASSERT_RC(rcm_config_from_url(cfg, url_of(1)), RCM_OK);
    TU_ASSERT_RC(rcm_config_set(cfg, "command_timeout_ms", "5000"), RCM_OK);
    rcm_status st = rcm_client_open(cfg, &late);
    rcm_config_free(cfg);
    double took = tu_now() - t0;
    if (st != RCM_OK)
        fail_msg("open with a follower seed during the election: %s after %.3f s (%s); expected RCM_OK once node 2 "
                 "leads (2 s after the leader died)",
                 rcm_status_name(st), took, rcm_last_error());
    rcm_reply *r = NULL;
    double s0 = tu_now();
    st = tu_cmd(late, &r, "SET", "el:late", "yes", NULL);
    if (st != RCM_OK || !tu_is_status(r, "OK"))
        fail_msg("SET by the client opened during the election: %s, reply %s after %.3f s (%s)", rcm_status_name(st),
                 tu_describe(r), tu_now() - s0, rcm_last_error());
    rcm_reply_free(r);
    assert_data("el:late", "yes");
    tu_watchdog_disarm();
    rcm_client_close(late);
}

/* CLUSTERDOWN / LOADING / NOCLUSTER for 800 ms: a write and a read are retried with
 * backoff and succeed once the group recovers, within their deadline. */
static void transient_is_retried(const char *kind) {
    rcm_client *c = fo_open_ok(url_all, NULL, "command_timeout_ms", "5000", NULL);
    set_ok(c, "tr:key", "v");
    fo_fake_ctl_ok(NULL, 0, "RESETCOUNTS", NULL);
    fo_fake_ctl_ok(NULL, 0, "FAIL", kind, "800", NULL);
    double t0 = tu_now();
    rcm_reply *r = NULL;
    rcm_status st = tu_cmd(c, &r, "SET", "tr:key", kind, NULL);
    double took = tu_now() - t0;
    if (st != RCM_OK || !tu_is_status(r, "OK"))
        fail_msg("%s: SET gave %s, reply %s after %.3f s (%s)", kind, rcm_status_name(st), tu_describe(r), took,
                 rcm_last_error());
    rcm_reply_free(r);
    if (took < 0.7 || took > 5.2) fail_msg("%s: SET took %.3f s (the failure lasted 0.8 s; deadline 5 s)", kind, took);
    assert_data("tr:key", kind);
    long long sets = fo_fake_count(0, "SET");
    if (sets < 2 || sets > 40) fail_msg("%s: the leader received %lld SETs (expected a few retries)", kind, sets);

    fo_fake_ctl_ok(NULL, 0, "FAIL", kind, "800", NULL);
    t0 = tu_now();
    r = NULL;
    st = tu_cmd(c, &r, "GET", "tr:key", NULL);
    took = tu_now() - t0;
    if (st != RCM_OK || !tu_is_cstring(r, kind))
        fail_msg("%s: GET gave %s, reply %s after %.3f s (%s)", kind, rcm_status_name(st), tu_describe(r), took,
                 rcm_last_error());
    rcm_reply_free(r);
    if (took < 0.7 || took > 5.2) fail_msg("%s: GET took %.3f s", kind, took);
    rcm_client_close(c);
}

static void test_scripted__clusterdown_is_retried(void **state) {
    (void)state;
    transient_is_retried("CLUSTERDOWN");
}

static void test_scripted__loading_is_retried(void **state) {
    (void)state;
    transient_is_retried("LOADING");
}

static void test_scripted__nocluster_is_retried(void **state) {
    (void)state;
    transient_is_retried("NOCLUSTER");
}

/* No leader for longer than the deadline: the call ends by its deadline with a failure
 * status (the group has no leader), never with success and never later. */
static void test_scripted__clusterdown_past_deadline_ends_by_deadline(void **state) {
    (void)state;
    rcm_client *c = fo_open_ok(url_all, NULL, "command_timeout_ms", "1000", NULL);
    set_ok(c, "cd:key", "v");
    fo_fake_ctl_ok(NULL, 0, "FAIL", "CLUSTERDOWN", "3000", NULL);
    const char *cmds[2][3] = {{"SET", "cd:key", "w"}, {"GET", "cd:key", NULL}};
    for (int i = 0; i < 2; i++) {
        double t0 = tu_now();
        rcm_reply *r = NULL;
        rcm_status st = tu_cmdv(c, &r, i == 0 ? 3 : 2, cmds[i]);
        double took = tu_now() - t0;
        fprintf(stderr, "%s while the group has no leader: %s, reply %s, %.3f s (%s)\n", cmds[i][0],
                rcm_status_name(st), tu_describe(r), took, rcm_last_error());
        if (took > 1.5) fail_msg("%s took %.3f s with command_timeout_ms=1000", cmds[i][0], took);
        if (st != RCM_ERR_TIMEOUT && st != RCM_ERR_UNCERTAIN && st != RCM_ERR_CLUSTERDOWN && st != RCM_ERR_NO_LEADER)
            fail_msg("%s while the group has no leader for longer than the deadline: %s, reply %s (%s); expected "
                     "RCM_ERR_TIMEOUT, RCM_ERR_UNCERTAIN, RCM_ERR_CLUSTERDOWN or RCM_ERR_NO_LEADER",
                     cmds[i][0], rcm_status_name(st), tu_describe(r), rcm_last_error());
        rcm_reply_free(r);
    }
    tu_sleep_ms(2200);
    set_ok(c, "cd:key", "again");
    rcm_client_close(c);
}

/* The leader answers a write -TIMEOUT (taken, not committed yet): RCM_ERR_UNCERTAIN, and
 * the write is not sent again. */
static void test_scripted__timeout_write_is_uncertain(void **state) {
    (void)state;
    rcm_client *c = fo_open_ok(url_all, NULL, "command_timeout_ms", "3000", NULL);
    set_ok(c, "to:key", "v");
    fo_fake_ctl_ok(NULL, 0, "RESETCOUNTS", NULL);
    fo_fake_ctl_ok(NULL, 0, "TIMEOUT_WRITES", "1", NULL);
    rcm_reply *r = NULL;
    rcm_status st = tu_cmd(c, &r, "INCR", "to:counter", NULL);
    if (st != RCM_ERR_UNCERTAIN)
        fail_msg("INCR answered -TIMEOUT: %s, reply %s (%s); expected RCM_ERR_UNCERTAIN", rcm_status_name(st),
                 tu_describe(r), rcm_last_error());
    assert_null(r);
    long long incrs = 0;
    for (int i = 0; i < 3; i++) incrs += fo_fake_count(i, "INCR");
    if (incrs != 1) fail_msg("INCR was sent %lld times; a write answered -TIMEOUT must not be resent", incrs);
    set_ok(c, "to:key", "after");
    rcm_client_close(c);
}

/* A read answered -TIMEOUT is retried and succeeds. */
static void test_scripted__timeout_read_is_retried(void **state) {
    (void)state;
    rcm_client *c = fo_open_ok(url_all, NULL, "command_timeout_ms", "3000", NULL);
    set_ok(c, "tr2:key", "value");
    fo_fake_ctl_ok(NULL, 0, "RESETCOUNTS", NULL);
    fo_fake_ctl_ok(NULL, 0, "TIMEOUT_READS", "1", NULL);
    rcm_reply *r = NULL;
    rcm_status st = tu_cmd(c, &r, "GET", "tr2:key", NULL);
    if (st != RCM_OK || !tu_is_cstring(r, "value"))
        fail_msg("GET answered -TIMEOUT once: %s, reply %s (%s); expected the value after a retry",
                 rcm_status_name(st), tu_describe(r), rcm_last_error());
    rcm_reply_free(r);
    if (fo_fake_count(0, "GET") != 2) fail_msg("the leader received %lld GETs, expected 2", fo_fake_count(0, "GET"));
    rcm_client_close(c);
}

int main(int argc, char **argv) {
    fo_diagnose_signals();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_scripted__follower_seed_finds_leader, setup),
        cmocka_unit_test_setup(test_scripted__moved_is_followed, setup),
        cmocka_unit_test_setup(test_scripted__dead_hint_falls_back_to_new_leader, setup),
        cmocka_unit_test_setup(test_scripted__moved_to_dead_leader_falls_back, setup),
        cmocka_unit_test_setup(test_scripted__open_during_election_with_follower_seed, setup),
        cmocka_unit_test_setup(test_scripted__clusterdown_is_retried, setup),
        cmocka_unit_test_setup(test_scripted__loading_is_retried, setup),
        cmocka_unit_test_setup(test_scripted__nocluster_is_retried, setup),
        cmocka_unit_test_setup(test_scripted__clusterdown_past_deadline_ends_by_deadline, setup),
        cmocka_unit_test_setup(test_scripted__timeout_write_is_uncertain, setup),
        cmocka_unit_test_setup(test_scripted__timeout_read_is_retried, setup),
    };
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
