/* sentinel.kill: the harness's Sentinel topology (fixture "sentinel"). The master is
 * SIGKILLed under load; the sentinels promote a replica (down-after 1000 ms, then the
 * failover); later the killed node is restarted with its directory and password and the
 * sentinels make it a replica of the new master.
 *
 * What must hold:
 *  - every call returns +OK / the value, or a failure status, within
 *    command_timeout_ms + 2 s (never RCM_OK with an error reply, never a hang);
 *  - success resumes after the promotion: no call fails later than 1 s after the
 *    sentinels agree on the new master;
 *  - success resumes within 0.5 s of the first sentinel's +switch-master (the client
 *    listens on every sentinel; one that is not the failover's leader announces late);
 *  - PRIMARY_CHANGED "<old> -> <new>: ..." is delivered;
 *  - the restarted node becomes a replica of the new master and the client keeps
 *    working meanwhile without a single failure.
 * The teardown restarts the killed node if the test did not, and waits for health. */
#include "failover_util.h"

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TIMEOUT_MS 2000
#define NLOADS 5 /* 0: reader, 1..4: writers */
#define SWITCH_TO_SUCCESS_MAX_S 0.5

/* Listens to +switch-master on every sentinel and records when each announces the
 * switch: the first of them is the moment the sentinels publish the new master. */
typedef struct {
    int fd[3];
    atomic_int stop;
    double at[3]; /* tu_now() of each sentinel's message; 0 until then */
    pthread_t thread;
} switch_watch;

static void *switch_watch_main(void *arg) {
    switch_watch *w = arg;
    char buf[3][4096];
    size_t len[3] = {0, 0, 0};
    while (!atomic_load(&w->stop)) {
        struct pollfd p[3];
        for (int i = 0; i < 3; i++) p[i] = (struct pollfd){w->at[i] > 0 ? -1 : w->fd[i], POLLIN, 0};
        if (poll(p, 3, 50) <= 0) continue;
        for (int i = 0; i < 3; i++) {
            if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            ssize_t n = read(w->fd[i], buf[i] + len[i], sizeof buf[i] - 1 - len[i]);
            if (n <= 0) {
                w->at[i] = -1;
                continue;
            }
            len[i] += (size_t)n;
            buf[i][len[i]] = 0;
            /* A message, not the subscription's confirmation: "message" then the channel. */
            if (strstr(buf[i], "message\r\n$14\r\n+switch-master\r\n") && strstr(buf[i], "mymaster")) {
                w->at[i] = tu_now();
                continue;
            }
            if (len[i] > sizeof buf[i] / 2) { /* keep the tail: a message may straddle reads */
                memmove(buf[i], buf[i] + len[i] - 256, 256);
                len[i] = 256;
            }
        }
    }
    return NULL;
}

static void switch_watch_start(switch_watch *w) {
    memset(w, 0, sizeof *w);
    const char sub[] = "*2\r\n$9\r\nSUBSCRIBE\r\n$14\r\n+switch-master\r\n";
    for (int i = 0; i < 3; i++) {
        w->fd[i] = tu_raw_connect(fo_sentinel_port(i));
        if (w->fd[i] < 0) fail_msg("cannot connect to sentinel %d", fo_sentinel_port(i));
        if (write(w->fd[i], sub, sizeof sub - 1) != (ssize_t)(sizeof sub - 1))
            fail_msg("SUBSCRIBE to sentinel %d failed", fo_sentinel_port(i));
    }
    pthread_create(&w->thread, NULL, switch_watch_main, w);
}

/* Stops watching; returns when the first sentinel announced the switch (0: none did). */
static double switch_watch_stop(switch_watch *w, double t0) {
    atomic_store(&w->stop, 1);
    pthread_join(w->thread, NULL);
    double first = 0;
    for (int i = 0; i < 3; i++) {
        tu_raw_close(w->fd[i]);
        fprintf(stderr, "sentinel %d announced +switch-master %.3f s after the kill\n", fo_sentinel_port(i),
                w->at[i] > 0 ? w->at[i] - t0 : -1.0);
        if (w->at[i] > 0 && (first == 0 || w->at[i] < first)) first = w->at[i];
    }
    return first;
}

/* The earliest end of a successful call that started after t. */
static double first_success_after(fo_load *loads, int n, double t) {
    double best = 0;
    for (int i = 0; i < n; i++)
        for (size_t k = 0; k < loads[i].n; k++) {
            const fo_call *c = &loads[i].calls[k];
            if (c->ok && c->start > t && (best == 0 || c->end < best)) best = c->end;
        }
    return best;
}

static int killed_port = -1;

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
    if (killed_port > 0 && fo_topology_pid("sentinel", killed_port) < 0) {
        fprintf(stderr, "restarting %d\n", killed_port);
        if (fo_sentinel_restart(killed_port) < 0) return -1;
    }
    return healthy();
}

static void start_loads(fo_load *loads, rcm_client *c, atomic_int *stop, const char *prefix) {
    memset(loads, 0, sizeof(fo_load) * NLOADS);
    for (int i = 0; i < NLOADS; i++) {
        loads[i].client = c;
        loads[i].id = i;
        loads[i].prefix = prefix;
        loads[i].stop = stop;
        loads[i].pause_us = 1000;
        loads[i].kind = i == 0 ? FO_LOAD_READ : FO_LOAD_WRITE;
        loads[i].read_key = "sk:read";
        loads[i].read_value = "stable";
        fo_load_start(&loads[i]);
    }
}

static void stop_loads(fo_load *loads, atomic_int *stop) {
    atomic_store(stop, 1);
    for (int i = 0; i < NLOADS; i++) fo_load_join(&loads[i]);
}

/* SIGKILLs the master (pid, port old_master) while loads run and waits up to 60 s for the
 * sentinels to promote a replica: its port, with the times of the kill and the promotion.
 * On failure the loads are stopped and the test fails. */
static int kill_master_under_load(int pid, int old_master, fo_load *loads, atomic_int *stop, double *t_kill,
                                  double *t_promo) {
    *t_kill = tu_now();
    killed_port = old_master;
    if (fo_kill9(pid) != 0) {
        stop_loads(loads, stop);
        fail_msg("the master (pid %d) did not die", pid);
    }
    while (tu_now() - *t_kill < 60) {
        int m = fo_sentinel_master();
        char role[32];
        if (m > 0 && m != old_master && strcmp(fo_role_of(m, role, sizeof role), "master") == 0) {
            *t_promo = tu_now();
            fprintf(stderr, "new master %d, %.3f s after the kill\n", m, *t_promo - *t_kill);
            return m;
        }
        tu_sleep_ms(50);
    }
    stop_loads(loads, stop);
    fail_msg("the sentinels promoted no replica within 60 s of the kill");
    return -1;
}

static void test_kill__master_sigkill_under_load(void **state) {
    (void)state;
    int old_master = fo_sentinel_master();
    assert_true(old_master > 0);
    int pid = fo_topology_pid("sentinel", old_master);
    if (pid < 0) fail_msg("no PID recorded for the master %d", old_master);
    fo_events ev;
    fo_events_init(&ev);
    rcm_client *c = fo_open_ok(fo_sentinel_url(), &ev, "password", FO_PASSWORD, "command_timeout_ms", "2000", NULL);
    rcm_reply *r = NULL;
    TU_ASSERT_RC(tu_cmd(c, &r, "SET", "sk:read", "stable", NULL), RCM_OK);
    TU_ASSERT_STATUS_REPLY(r, "OK");
    rcm_reply_free(r);
    char *out = fo_cli(old_master, FO_PASSWORD, "WAIT 2 5000");
    if (!out || atoi(out) != 2) fail_msg("WAIT 2 on the master: '%s'", out ? out : "");
    free(out);

    tu_watchdog_arm(150, "sentinel master SIGKILL under load");
    atomic_int stop = 0;
    fo_load loads[NLOADS];
    switch_watch sw;
    switch_watch_start(&sw);
    start_loads(loads, c, &stop, "sk1");
    tu_sleep_ms(1000);
    double t_kill = 0, t_promo = 0;
    int new_master = kill_master_under_load(pid, old_master, loads, &stop, &t_kill, &t_promo);
    tu_sleep_ms(4000);
    stop_loads(loads, &stop);
    tu_watchdog_disarm();
    double t_switch = switch_watch_stop(&sw, t_kill);
    double t_first = first_success_after(loads, NLOADS, t_kill);
    fo_event changed;
    double t_changed = fo_events_find(&ev, 0, RCM_EVENT_PRIMARY_CHANGED, NULL, &changed) >= 0 ? changed.at : 0;
    fprintf(stderr, "GAP: +switch-master %.3f s after the kill; the client's PRIMARY_CHANGED %+.0f ms, its first "
            "success %+.0f ms from it\n", t_switch - t_kill, (t_changed - t_switch) * 1e3, (t_first - t_switch) * 1e3);
    /* The client listens on every sentinel, so it hears the first announcement: success
     * resumes within a few ms of it. Listening on one sentinel only, it heard the switch
     * from that one, which lags the failover's leader by 0.3-1.1 s when it is not the
     * leader (686 and 992 ms were seen). The bound leaves a loaded machine a wide margin. */
    if (t_switch == 0) fail_msg("no sentinel announced +switch-master (new master %d)", new_master);
    if (t_first == 0 || t_first - t_switch > SWITCH_TO_SUCCESS_MAX_S)
        fail_msg("the first success came %.0f ms after the first sentinel announced +switch-master (bound %.0f ms)",
                 t_first > 0 ? (t_first - t_switch) * 1e3 : -1.0, SWITCH_TO_SUCCESS_MAX_S * 1e3);

    fo_summary before = fo_summarize(loads, NLOADS, 0, t_kill - 0.1);
    fo_summary all = fo_summarize(loads, NLOADS, 0, 1e18);
    fo_summary after = fo_summarize(loads, NLOADS, t_promo + 1.0, 1e18);
    fo_summary_print("before the kill", &before);
    fo_summary_print("all calls", &all);
    fo_summary_print("from 1 s after the promotion", &after);
    double limit = TIMEOUT_MS / 1000.0 + 2.0;
    if (before.ok != before.calls) fail_msg("%ld calls failed before the kill", before.calls - before.ok);
    if (all.max_duration > limit)
        fail_msg("a call took %.3f s (limit %.1f s): %s", all.max_duration, limit, all.longest->reply);
    if (all.bad_reply)
        fail_msg("%ld calls returned RCM_OK with an unexpected reply (expected a value or a failure status), e.g. %s",
                 all.bad_reply, all.first_bad->reply);
    const fo_call *late = NULL;
    long late_failures = fo_failures_ending_after(loads, NLOADS, t_promo + 1.0, &late);
    if (after.calls == 0 || late_failures > 0) {
        fo_events_print(&ev);
        fail_msg("%ld calls failed later than 1 s after the promotion (%ld calls started after that); the first "
                 "started %.3f s and ended %.3f s after it: %s",
                 late_failures, after.calls, late ? late->start - t_promo : 0.0, late ? late->end - t_promo : 0.0,
                 late ? late->reply : "(none)");
    }
    char want[128];
    snprintf(want, sizeof want, "%s -> ", fo_addr(old_master));
    strcat(want, fo_addr(new_master));
    if (fo_events_wait(&ev, 0, RCM_EVENT_PRIMARY_CHANGED, want, NULL, 5) < 0) {
        fo_events_print(&ev);
        fail_msg("no PRIMARY_CHANGED event with '%s'", want);
    }
    /* The client follows the sentinels: its primary is the master all three name now.
     * That is new_master, unless the sentinels failed over once more meanwhile (on a
     * loaded machine a promotion can outlast failover-timeout and be redone with
     * another replica): then it is the later one. */
    char primary[64] = "";
    int agreed = -1;
    double t_check = tu_now();
    while (agreed < 0 && tu_now() - t_check < 10) {
        int m = fo_sentinel_master();
        fo_topology_primary(c, primary, sizeof primary);
        if (m > 0 && strcmp(primary, fo_addr(m)) == 0)
            agreed = m;
        else
            tu_sleep_ms(100);
    }
    if (agreed < 0) {
        fo_events_print(&ev);
        fail_msg("topology primary '%s' 10 s on, the sentinels name %d (at the promotion: %d)", primary,
                 fo_sentinel_master(), new_master);
    }
    if (agreed != new_master) {
        fprintf(stderr, "note: the sentinels moved the master again, %d -> %d; the client followed\n", new_master,
                agreed);
        new_master = agreed;
    }

    /* Restore: the killed node comes back (as a master with its own, older data) and
     * the sentinels make it a replica of the new master. The client keeps working. */
    fo_load loads2[NLOADS];
    atomic_int stop2 = 0;
    tu_watchdog_arm(150, "restart of the killed master");
    start_loads(loads2, c, &stop2, "sk2");
    tu_sleep_ms(300);
    int npid = fo_sentinel_restart(old_master);
    if (npid < 0) {
        stop_loads(loads2, &stop2);
        fail_msg("could not restart %d", old_master);
    }
    double t_restart = tu_now();
    char why[256];
    int ok = fo_sentinel_wait_healthy(90, why, sizeof why);
    double t_healthy = tu_now();
    char role[32];
    fo_role_of(old_master, role, sizeof role);
    tu_sleep_ms(1000);
    stop_loads(loads2, &stop2);
    tu_watchdog_disarm();
    if (!ok) fail_msg("the topology did not heal after restarting %d: %s", old_master, why);
    fprintf(stderr, "%d is a %s again %.3f s after its restart\n", old_master, role, t_healthy - t_restart);
    if (strcmp(role, "slave") != 0) fail_msg("the restarted node %d says ROLE '%s'", old_master, role);
    if (fo_sentinel_master() != new_master) fail_msg("the master moved again to %d", fo_sentinel_master());
    fo_summary during = fo_summarize(loads2, NLOADS, 0, 1e18);
    fo_summary_print("while the killed node restarted", &during);
    if (during.ok != during.calls)
        fail_msg("%ld of %ld calls failed while the old master restarted and became a replica: %s",
                 during.calls - during.ok, during.calls, during.first_bad->reply);
    for (int i = 0; i < NLOADS; i++) {
        fo_load_free(&loads[i]);
        fo_load_free(&loads2[i]);
    }
    rcm_client_close(c);
}

/* A dead master's unsent requests wait for the new master: with command_timeout_ms 5000
 * (longer than the failover: down-after 1000 ms plus the election) no call fails with
 * RCM_ERR_CONNECTION, and, when the promotion came within 3.5 s, the only failures are
 * writes in flight at the kill (RCM_ERR_UNCERTAIN). The killed node is restarted and
 * becomes a replica (the sentinels' doing) before the test ends. */
static void test_kill__unsent_requests_wait_for_the_new_master(void **state) {
    (void)state;
    int old_master = fo_sentinel_master();
    assert_true(old_master > 0);
    int pid = fo_topology_pid("sentinel", old_master);
    if (pid < 0) fail_msg("no PID recorded for the master %d", old_master);
    rcm_client *c = fo_open_ok(fo_sentinel_url(), NULL, "password", FO_PASSWORD, "command_timeout_ms", "5000", NULL);
    rcm_reply *r = NULL;
    TU_ASSERT_RC(tu_cmd(c, &r, "SET", "sk:read", "stable", NULL), RCM_OK);
    rcm_reply_free(r);
    char *out = fo_cli(old_master, FO_PASSWORD, "WAIT 2 5000");
    if (!out || atoi(out) != 2) fail_msg("WAIT 2 on the master: '%s'", out ? out : "");
    free(out);

    tu_watchdog_arm(150, "sentinel master SIGKILL, requests held for the new master");
    atomic_int stop = 0;
    fo_load loads[NLOADS];
    start_loads(loads, c, &stop, "sk3");
    tu_sleep_ms(1000);
    double t_kill = 0, t_promo = 0;
    (void)kill_master_under_load(pid, old_master, loads, &stop, &t_kill, &t_promo);
    tu_sleep_ms(6000); /* every call held across the outage has ended by now */
    stop_loads(loads, &stop);
    tu_watchdog_disarm();

    fo_summary all = fo_summarize(loads, NLOADS, 0, 1e18);
    fo_summary_print("all calls", &all);
    long connection = all.by_status[-RCM_ERR_CONNECTION];
    long uncertain = all.by_status[-RCM_ERR_UNCERTAIN];
    if (connection > 0)
        fail_msg("%ld calls failed with RCM_ERR_CONNECTION within their 5 s deadline instead of waiting for the new "
                 "master, e.g. %s",
                 connection, all.first_bad ? all.first_bad->reply : "");
    if (all.failed_status > uncertain && t_promo - t_kill < 3.5)
        fail_msg("%ld calls failed with another status than RCM_ERR_UNCERTAIN, e.g. %s", all.failed_status - uncertain,
                 all.first_bad ? all.first_bad->reply : "");
    if (all.bad_reply) fail_msg("%ld calls returned RCM_OK with an unexpected reply", all.bad_reply);
    const fo_call *late = NULL;
    if (fo_failures_ending_after(loads, NLOADS, t_promo + 1.0, &late) > 0)
        fail_msg("a call failed later than 1 s after the promotion: %s", late ? late->reply : "");
    for (int i = 0; i < NLOADS; i++) fo_load_free(&loads[i]);
    rcm_client_close(c);

    if (fo_sentinel_restart(old_master) < 0) fail_msg("could not restart %d", old_master);
    killed_port = -1;
    char why[256];
    if (!fo_sentinel_wait_healthy(90, why, sizeof why))
        fail_msg("the topology did not heal after restarting %d: %s", old_master, why);
}

/* Reads on a replica that dies are not lost either: with read_from=replica and
 * command_timeout_ms 5000, the reads queued for (or in flight on) a SIGKILLed replica
 * wait while the client looks again and then go to the other replica: every read
 * succeeds (main failed them with RCM_ERR_CONNECTION after retry.max_attempts
 * reconnects). The replica is restarted and rejoins before the test ends. */
static void test_kill__reads_on_a_dead_replica_go_to_another(void **state) {
    (void)state;
    int master = fo_sentinel_master();
    assert_true(master > 0);
    int victim = -1;
    for (int i = 0; i < 3 && victim < 0; i++) {
        char role[32];
        int p = fo_sentinel_data_port(i);
        if (p != master && strcmp(fo_role_of(p, role, sizeof role), "slave") == 0) victim = p;
    }
    assert_true(victim > 0);
    int pid = fo_topology_pid("sentinel", victim);
    if (pid < 0) fail_msg("no PID recorded for the replica %d", victim);
    rcm_client *c = fo_open_ok(fo_sentinel_url(), NULL, "password", FO_PASSWORD, "command_timeout_ms", "5000",
                               "read_from", "replica", NULL);
    rcm_reply *r = NULL;
    TU_ASSERT_RC(tu_cmd(c, &r, "SET", "sk:read", "stable", NULL), RCM_OK);
    rcm_reply_free(r);
    char *out = fo_cli(master, FO_PASSWORD, "WAIT 2 5000");
    if (!out || atoi(out) != 2) fail_msg("WAIT 2 on the master: '%s'", out ? out : "");
    free(out);

    tu_watchdog_arm(150, "replica SIGKILL under reads");
    atomic_int stop = 0;
    fo_load loads[NLOADS];
    memset(loads, 0, sizeof loads);
    for (int i = 0; i < NLOADS; i++) {
        loads[i].client = c;
        loads[i].id = i;
        loads[i].prefix = "sk4";
        loads[i].stop = &stop;
        loads[i].kind = FO_LOAD_READ;
        loads[i].read_key = "sk:read";
        loads[i].read_value = "stable";
        fo_load_start(&loads[i]);
    }
    tu_sleep_ms(1000);
    killed_port = victim;
    if (fo_kill9(pid) != 0) {
        stop_loads(loads, &stop);
        fail_msg("the replica (pid %d) did not die", pid);
    }
    tu_sleep_ms(6000); /* longer than the deadline: every read held across the kill has ended */
    stop_loads(loads, &stop);
    tu_watchdog_disarm();
    fo_summary all = fo_summarize(loads, NLOADS, 0, 1e18);
    fo_summary_print("reads", &all);
    char problem[160];
    snprintf(problem, sizeof problem, "%ld of %ld reads failed (%ld with RCM_ERR_CONNECTION), e.g. %s",
             all.failed_status + all.bad_reply, all.calls, all.by_status[-RCM_ERR_CONNECTION],
             all.first_bad ? all.first_bad->reply : "");
    int failed = all.failed_status > 0 || all.bad_reply > 0;
    for (int i = 0; i < NLOADS; i++) fo_load_free(&loads[i]);
    rcm_client_close(c);
    if (fo_sentinel_restart(victim) < 0) fail_msg("could not restart %d", victim);
    killed_port = -1;
    char why[256];
    if (!fo_sentinel_wait_healthy(90, why, sizeof why))
        fail_msg("the topology did not heal after restarting %d: %s", victim, why);
    if (failed) fail_msg("%s", problem);
}

int main(int argc, char **argv) {
    fo_diagnose_signals();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill__master_sigkill_under_load),
        cmocka_unit_test_setup(test_kill__unsent_requests_wait_for_the_new_master, group_teardown),
        cmocka_unit_test_setup(test_kill__reads_on_a_dead_replica_go_to_another, group_teardown),
    };
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
