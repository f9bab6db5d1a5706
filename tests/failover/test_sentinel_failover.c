/* sentinel.failover: the harness's Sentinel topology (fixture "sentinel"). SENTINEL
 * FAILOVER mymaster while a reader and two writers run.
 *
 * What must hold:
 *  - zero failed reads: every GET of a key written before returns RCM_OK and its value;
 *  - every write returns +OK or a failure status (never RCM_OK with an error reply such
 *    as -READONLY), within command_timeout_ms + 2 s;
 *  - PRIMARY_CHANGED "<old> -> <new>: ..." is delivered;
 *  - the client follows the new master: topology primary, ROLE through RCM_ROUTE_NODE,
 *    and writes counted by INFO commandstats on the new master; no write fails later
 *    than 1 s after the sentinels agree on the new master.
 * Leaves the topology healthy (with the new master; the tests find the master through
 * the sentinels). */
#include "failover_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TIMEOUT_MS 2000
#define NLOADS 3 /* 0: reader, 1..2: writers */

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

static long long cmd_calls(int port, const char *cmd) {
    char *out = fo_cli(port, FO_PASSWORD, "INFO commandstats");
    char name[64], field[256];
    snprintf(name, sizeof name, "cmdstat_%s", cmd);
    fo_field(out, name, field, sizeof field);
    free(out);
    const char *p = strstr(field, "calls=");
    return p ? atoll(p + 6) : 0;
}

static void test_failover__sentinel_failover_under_load(void **state) {
    (void)state;
    int old_master = fo_sentinel_master();
    assert_true(old_master > 0);
    fo_events ev;
    fo_events_init(&ev);
    rcm_client *c = fo_open_ok(fo_sentinel_url(), &ev, "password", FO_PASSWORD, "command_timeout_ms", "2000", NULL);
    rcm_reply *r = NULL;
    TU_ASSERT_RC(tu_cmd(c, &r, "SET", "sf:read", "stable", NULL), RCM_OK);
    TU_ASSERT_STATUS_REPLY(r, "OK");
    rcm_reply_free(r);
    char *out = fo_cli(old_master, FO_PASSWORD, "WAIT 2 5000");
    if (!out || atoi(out) != 2) fail_msg("WAIT 2 on the master: '%s'", out ? out : "");
    free(out);

    tu_watchdog_arm(120, "sentinel failover under load");
    atomic_int stop = 0;
    fo_load loads[NLOADS];
    memset(loads, 0, sizeof loads);
    for (int i = 0; i < NLOADS; i++) {
        loads[i].client = c;
        loads[i].id = i;
        loads[i].prefix = "sf";
        loads[i].stop = &stop;
        loads[i].pause_us = 1000;
        loads[i].kind = i == 0 ? FO_LOAD_READ : FO_LOAD_WRITE;
        loads[i].read_key = "sf:read";
        loads[i].read_value = "stable";
        fo_load_start(&loads[i]);
    }
    tu_sleep_ms(1000);
    double t_failover = tu_now();
    out = fo_cli(fo_sentinel_port(0), NULL, "SENTINEL FAILOVER %s", FO_MASTER_NAME);
    if (!out || strncmp(out, "OK", 2) != 0) {
        atomic_store(&stop, 1);
        for (int i = 0; i < NLOADS; i++) fo_load_join(&loads[i]);
        fail_msg("SENTINEL FAILOVER: '%s'", out ? out : "");
    }
    free(out);

    /* The sentinels agree on a new master that says it is one. */
    int new_master = -1;
    double t_switch = 0;
    while (tu_now() - t_failover < 60) {
        int m = fo_sentinel_master();
        char role[32];
        if (m > 0 && m != old_master && strcmp(fo_role_of(m, role, sizeof role), "master") == 0) {
            new_master = m;
            t_switch = tu_now();
            break;
        }
        tu_sleep_ms(50);
    }
    if (new_master < 0) {
        atomic_store(&stop, 1);
        for (int i = 0; i < NLOADS; i++) fo_load_join(&loads[i]);
        fail_msg("the sentinels named no new master within 60 s of SENTINEL FAILOVER");
    }
    fprintf(stderr, "new master %d, %.3f s after SENTINEL FAILOVER\n", new_master, t_switch - t_failover);
    tu_sleep_ms(3000);
    atomic_store(&stop, 1);
    for (int i = 0; i < NLOADS; i++) fo_load_join(&loads[i]);
    tu_watchdog_disarm();

    fo_summary reads = fo_summarize(&loads[0], 1, 0, 1e18);
    fo_summary writes = fo_summarize(&loads[1], NLOADS - 1, 0, 1e18);
    fo_summary late = fo_summarize(&loads[1], NLOADS - 1, t_switch + 1.0, 1e18);
    fo_summary_print("reads", &reads);
    fo_summary_print("writes", &writes);
    fo_summary_print("writes from 1 s after the switch", &late);
    double limit = TIMEOUT_MS / 1000.0 + 2.0;
    if (reads.ok != reads.calls)
        fail_msg("%ld of %ld reads failed during SENTINEL FAILOVER; first %.3f s after it: %s", reads.calls - reads.ok,
                 reads.calls, reads.first_bad->start - t_failover, reads.first_bad->reply);
    if (writes.bad_reply)
        fail_msg("%ld writes returned RCM_OK with an error reply (expected +OK or a failure status), e.g. %s",
                 writes.bad_reply, writes.first_bad->reply);
    if (writes.max_duration > limit || reads.max_duration > limit)
        fail_msg("a call took %.3f s (limit %.1f s)", writes.max_duration > reads.max_duration ? writes.max_duration : reads.max_duration, limit);
    const fo_call *first_late = NULL;
    long late_failures = fo_failures_ending_after(&loads[1], NLOADS - 1, t_switch + 1.0, &first_late);
    if (late.calls == 0 || late_failures > 0)
        fail_msg("%ld writes failed later than 1 s after the switch (%ld started after it): %s", late_failures,
                 late.calls, first_late ? first_late->reply : "(none ran)");

    char want[128];
    snprintf(want, sizeof want, "%s -> ", fo_addr(old_master));
    strcat(want, fo_addr(new_master));
    if (fo_events_wait(&ev, 0, RCM_EVENT_PRIMARY_CHANGED, want, NULL, 5) < 0) {
        fo_events_print(&ev);
        fail_msg("no PRIMARY_CHANGED event with '%s'", want);
    }

    /* The client follows the new master. */
    char primary[64], role[32];
    fo_topology_primary(c, primary, sizeof primary);
    if (strcmp(primary, fo_addr(new_master)) != 0) fail_msg("topology primary '%s', expected %s", primary, fo_addr(new_master));
    fo_role_via_rcm(c, new_master, role, sizeof role);
    if (strcmp(role, "master") != 0) fail_msg("ROLE through rcm on %d: '%s'", new_master, role);
    long long before = cmd_calls(new_master, "set");
    for (int i = 0; i < 50; i++) {
        r = NULL;
        rcm_status st = tu_cmd(c, &r, "SET", "sf:after", "x", NULL);
        if (st != RCM_OK || !tu_is_status(r, "OK"))
            fail_msg("SET after the failover: %s, reply %s (%s)", rcm_status_name(st), tu_describe(r), rcm_last_error());
        rcm_reply_free(r);
    }
    long long after = cmd_calls(new_master, "set");
    if (after - before != 50) fail_msg("the new master %d counted %lld SETs of 50", new_master, after - before);
    for (int i = 0; i < NLOADS; i++) fo_load_free(&loads[i]);
    rcm_client_close(c);
}

int main(int argc, char **argv) {
    fo_diagnose_signals();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_failover__sentinel_failover_under_load),
    };
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
