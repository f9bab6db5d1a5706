/* raft.leader_kill: real RedisRaft (fixture "raft"). The leader is SIGKILLed under load
 * from several threads; then it is restarted with its own port, directory and Raft log
 * and rejoins as a follower while the client keeps working.
 *
 * What must hold:
 *  - every call returns (OK or a failure status) within command_timeout_ms + 2 s;
 *  - full success 1 s after the survivors elected a new leader (seen by polling INFO
 *    raft on them with valkey-cli): no call fails later than that (a call waiting since
 *    before the election must have been served by the new leader by then);
 *  - every write that returned OK is on the new leader afterwards (unique keys);
 *  - PRIMARY_CHANGED "<old> -> <new>: ..." is delivered;
 *  - restarting the old leader disturbs no call.
 * The group teardown restarts whatever node is down and waits for a healthy group. */
#include "failover_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TIMEOUT_MS 2000
#define WRITERS 4
#define NLOADS (WRITERS + 1)

static int killed_index = -1; /* the node test 1 killed; test 2 restarts it */
static int new_leader = -1;

static const char *url_all(void) {
    static char url[160];
    snprintf(url, sizeof url, "redis+raft://127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d", fo_raft_port(0), fo_raft_port(1),
             fo_raft_port(2));
    return url;
}

static void start_loads(fo_load *loads, rcm_client *c, atomic_int *stop, const char *prefix) {
    memset(loads, 0, sizeof(fo_load) * NLOADS);
    for (int i = 0; i < NLOADS; i++) {
        loads[i].client = c;
        loads[i].id = i;
        loads[i].prefix = prefix;
        loads[i].stop = stop;
        loads[i].pause_us = 500;
        loads[i].kind = i < WRITERS ? FO_LOAD_WRITE : FO_LOAD_READ;
        loads[i].read_key = "lk:read";
        loads[i].read_value = "stable";
        fo_load_start(&loads[i]);
    }
}

static void stop_loads(fo_load *loads, atomic_int *stop) {
    atomic_store(stop, 1);
    for (int i = 0; i < NLOADS; i++) fo_load_join(&loads[i]);
}

static void assert_deadlines(fo_load *loads, const char *phase) {
    fo_summary all = fo_summarize(loads, NLOADS, 0, 1e18);
    fo_summary_print(phase, &all);
    double limit = TIMEOUT_MS / 1000.0 + 2.0;
    if (all.max_duration > limit)
        fail_msg("%s: a call took %.3f s (> command_timeout_ms + 2 s = %.1f s): %s", phase, all.max_duration, limit,
                 all.longest->reply);
    if (all.bad_reply > 0)
        fail_msg("%s: %ld calls returned RCM_OK with an unexpected reply, e.g. %s", phase, all.bad_reply,
                 all.first_bad->reply);
}

/* A client opened while the group elects a new leader: the open should wait for the
 * new leader (within connect_timeout_ms + command_timeout_ms), not fail because the dead
 * member refuses connections. */
typedef struct late_open {
    pthread_t thread;
    rcm_status open_status, set_status;
    double open_took;
    char error[300];
} late_open;

static void *late_open_main(void *arg) {
    late_open *lo = arg;
    char url[160];
    snprintf(url, sizeof url, "redis+raft://127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d", fo_raft_port(0),
             fo_raft_port(1), fo_raft_port(2));
    rcm_config *cfg = rcm_config_new();
    rcm_config_from_url(cfg, url);
    rcm_config_set(cfg, "command_timeout_ms", "3000");
    rcm_client *c = NULL;
    double t0 = tu_now();
    lo->open_status = rcm_client_open(cfg, &c);
    lo->open_took = tu_now() - t0;
    rcm_config_free(cfg);
    lo->set_status = RCM_ERR_STATE;
    if (lo->open_status != RCM_OK) {
        snprintf(lo->error, sizeof lo->error, "%s", rcm_last_error());
        return NULL;
    }
    rcm_reply *r = NULL;
    lo->set_status = tu_cmd(c, &r, "SET", "lk:late", "yes", NULL);
    if (lo->set_status == RCM_OK && !tu_is_status(r, "OK")) lo->set_status = RCM_ERR_PROTOCOL;
    if (lo->set_status != RCM_OK) snprintf(lo->error, sizeof lo->error, "%s: %s", tu_describe(r), rcm_last_error());
    rcm_reply_free(r);
    rcm_client_close(c);
    return NULL;
}

static void test_leader_kill__under_load(void **state) {
    (void)state;
    int leader = fo_raft_leader_among(7);
    assert_true(leader > 0);
    for (int i = 0; i < 3; i++)
        if (fo_raft_port(i) == leader) killed_index = i;
    int pid = fo_topology_pid("raft", leader);
    if (pid < 0) fail_msg("no PID recorded for the leader %d", leader);

    fo_events ev;
    fo_events_init(&ev);
    rcm_client *c = fo_open_ok(url_all(), &ev, "command_timeout_ms", "2000", NULL);
    rcm_reply *r = NULL;
    TU_ASSERT_RC(tu_cmd(c, &r, "SET", "lk:read", "stable", NULL), RCM_OK);
    TU_ASSERT_STATUS_REPLY(r, "OK");
    rcm_reply_free(r);

    tu_watchdog_arm(120, "leader_kill under load");
    atomic_int stop = 0;
    fo_load loads[NLOADS];
    start_loads(loads, c, &stop, "lk1");
    tu_sleep_ms(1500);
    double t_kill = tu_now(); /* calls that end after this may meet the kill */
    if (fo_kill9(pid) != 0) fail_msg("the leader (pid %d) did not die", pid);
    fprintf(stderr, "killed the leader %d (pid %d) at %.3f\n", leader, pid, t_kill);
    late_open lo;
    memset(&lo, 0, sizeof lo);
    pthread_create(&lo.thread, NULL, late_open_main, &lo);

    /* The survivors' own view: the first moment one of them says it leads. */
    unsigned survivors = 7u & ~(1u << killed_index);
    double t_elect = 0;
    while (tu_now() - t_kill < 30) {
        int l = fo_raft_leader_among(survivors);
        if (l > 0) {
            new_leader = l;
            t_elect = tu_now();
            break;
        }
        tu_sleep_ms(50);
    }
    if (t_elect == 0) {
        stop_loads(loads, &stop);
        fail_msg("no survivor became leader within 30 s of the kill");
    }
    fprintf(stderr, "new leader %d elected %.3f s after the kill\n", new_leader, t_elect - t_kill);
    tu_sleep_ms(3000);
    stop_loads(loads, &stop);
    pthread_join(lo.thread, NULL);
    tu_watchdog_disarm();

    fo_summary before = fo_summarize(loads, NLOADS, 0, t_kill - 0.1);
    fo_summary_print("before the kill", &before);
    fo_summary during = fo_summarize(loads, NLOADS, t_kill, t_elect + 1.0);
    fo_summary_print("from the kill to 1 s after the election", &during);
    fo_summary after = fo_summarize(loads, NLOADS, t_elect + 1.0, 1e18);
    fo_summary_print("from 1 s after the election on", &after);
    assert_deadlines(loads, "all calls");
    if (before.ok != before.calls) fail_msg("%ld calls failed before the kill", before.calls - before.ok);
    if (after.calls == 0) fail_msg("no calls started 1 s after the election");
    char why[512];
    long missing = fo_verify_writes(new_leader, loads, WRITERS, why, sizeof why);
    if (missing != 0) fail_msg("acknowledged writes missing on the new leader %d: %ld (%s)", new_leader, missing, why);

    char want[128];
    snprintf(want, sizeof want, "%s -> ", fo_addr(leader));
    strcat(want, fo_addr(new_leader));
    if (fo_events_wait(&ev, 0, RCM_EVENT_PRIMARY_CHANGED, want, NULL, 2) < 0) {
        fo_events_print(&ev);
        fail_msg("no PRIMARY_CHANGED event with '%s'", want);
    }
    fprintf(stderr, "client opened during the election: open %s after %.3f s, SET %s (%s)\n",
            rcm_status_name(lo.open_status), lo.open_took, rcm_status_name(lo.set_status), lo.error);
    /* Full success 1 s after the election: nothing fails (or is still waiting to fail)
     * from then on -- a call that waited since before the election must have been
     * served by the new leader by then. */
    const fo_call *late = NULL;
    long late_failures = fo_failures_ending_after(loads, NLOADS, t_elect + 1.0, &late);
    if (late_failures > 0) {
        fo_events_print(&ev);
        fail_msg("%ld calls failed later than 1 s after the new leader was elected (%.3f s after the kill); the "
                 "first started %.3f s and ended %.3f s after the election: %s",
                 late_failures, t_elect - t_kill, late->start - t_elect, late->end - t_elect, late->reply);
    }

    if (lo.open_status != RCM_OK || lo.set_status != RCM_OK)
        fail_msg("a client opened right after the leader died: open %s after %.3f s, SET %s (%s); expected both "
                 "RCM_OK (the new leader came %.3f s after the kill)",
                 rcm_status_name(lo.open_status), lo.open_took, rcm_status_name(lo.set_status), lo.error,
                 t_elect - t_kill);
    for (int i = 0; i < NLOADS; i++) fo_load_free(&loads[i]);
    rcm_client_close(c);
}

static void test_leader_kill__old_leader_rejoins_as_follower(void **state) {
    (void)state;
    if (killed_index < 0 || new_leader < 0) skip();
    int port = fo_raft_port(killed_index);
    if (fo_topology_pid("raft", port) > 0) fail_msg("node %d is already running", port);

    rcm_client *c = fo_open_ok(url_all(), NULL, "command_timeout_ms", "2000", NULL);
    tu_watchdog_arm(120, "old leader rejoins");
    atomic_int stop = 0;
    fo_load loads[NLOADS];
    start_loads(loads, c, &stop, "lk2");
    tu_sleep_ms(500);
    int pid = fo_raft_restart(killed_index);
    if (pid < 0) {
        stop_loads(loads, &stop);
        fail_msg("could not restart raft node %d", port);
    }
    char why[256];
    int healthy = fo_raft_wait_healthy(60, why, sizeof why);
    fo_raft_info ri = fo_raft_info_of(port);
    tu_sleep_ms(2000);
    stop_loads(loads, &stop);
    tu_watchdog_disarm();
    if (!healthy) fail_msg("the group did not re-form after restarting %d: %s", port, why);
    if (strcmp(ri.role, "follower") != 0) fail_msg("the old leader %d rejoined as '%s', not follower", port, ri.role);

    fo_summary all = fo_summarize(loads, NLOADS, 0, 1e18);
    fo_summary_print("while the old leader restarted and rejoined", &all);
    assert_deadlines(loads, "while the old leader rejoined");
    if (all.ok != all.calls)
        fail_msg("%ld of %ld calls failed while the old leader rejoined: %s", all.calls - all.ok, all.calls,
                 all.first_bad->reply);
    int leader = fo_raft_leader_among(7);
    long missing = fo_verify_writes(leader, loads, WRITERS, why, sizeof why);
    if (missing != 0) fail_msg("acknowledged writes missing on the leader %d: %ld (%s)", leader, missing, why);
    for (int i = 0; i < NLOADS; i++) fo_load_free(&loads[i]);
    rcm_client_close(c);
}

int main(int argc, char **argv) {
    fo_diagnose_signals();
    fo_raft_require_module("raft.leader_kill");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_leader_kill__under_load),
        cmocka_unit_test(test_leader_kill__old_leader_rejoins_as_follower),
    };
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, fo_raft_fixture, fo_raft_fixture);
}
