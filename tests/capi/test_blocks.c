/* capi.blocks: what must travel together does, whatever happens to the connections.
 * A pipeline's commands for one server keep their order and a MULTI ... EXEC block stays
 * on one connection when connections break with requests not yet written (they are
 * handed back and sent again); idle leases whose health check fails are dropped safely.
 * Private servers on RCM_TEST_PORT_BASE+54, +55. */
#define _GNU_SOURCE
#include "test_util.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PORT_KILL = 54, PORT_LEASE_PING = 55 };

/* ---- pipelines and transactions through killed connections ------------------------- */

#define ORDER_THREADS 6
#define ORDER_INCRS 200
#define ORDER_ROUNDS 3

struct order_worker {
    rcm_client *client;
    int id;
    int round;
    char problem[512]; /* first problem seen, "" if none */
    int exec_ok;       /* EXEC replies that were the 2-element array */
    int resent_ok;     /* pipelines whose INCRs all succeeded */
};

static void note(struct order_worker *w, const char *fmt, const char *a, const char *b) {
    if (w->problem[0] == 0) snprintf(w->problem, sizeof w->problem, fmt, a, b);
}

/* An rcm failure (not a server reply): status set, type error. */
static int clean_failure(const rcm_reply *r) {
    return r != NULL && rcm_reply_type(r) == RCM_REPLY_ERROR && rcm_reply_status(r) != RCM_OK;
}

/* One pipeline: INCR ord ×200, then MULTI, INCR tx, INCR tx, EXEC. Resent one by one, a
 * held pipeline of 200 would be dealt out to the other connections in chunks of 33. */
static void *order_main(void *arg) {
    struct order_worker *w = arg;
    char ord[64], tx[64];
    snprintf(ord, sizeof ord, "blocks:ord:%d:%d", w->round, w->id);
    snprintf(tx, sizeof tx, "blocks:tx:%d:%d", w->round, w->id);
    rcm_pipeline *p = NULL;
    if (rcm_pipeline_new(w->client, &p) != RCM_OK) {
        note(w, "rcm_pipeline_new: %s%s", rcm_last_error(), "");
        return NULL;
    }
    for (int i = 0; i < ORDER_INCRS; i++) {
        const char *a[] = {"INCR", ord};
        rcm_pipeline_append(p, 2, a, NULL);
    }
    const char *multi[] = {"MULTI"}, *incr[] = {"INCR", tx}, *exec[] = {"EXEC"};
    rcm_pipeline_append(p, 1, multi, NULL);
    rcm_pipeline_append(p, 2, incr, NULL);
    rcm_pipeline_append(p, 2, incr, NULL);
    rcm_pipeline_append(p, 1, exec, NULL);
    rcm_reply **rs = NULL;
    size_t n = 0;
    rcm_status st = rcm_pipeline_exec(p, &rs, &n);
    rcm_pipeline_free(p);
    if (st != RCM_OK) {
        note(w, "rcm_pipeline_exec: %s (%s)", rcm_status_name(st), rcm_last_error());
        return NULL;
    }
    if (n != ORDER_INCRS + 4) {
        note(w, "%s replies for %s commands", "wrong number of", "204");
    } else {
        /* The INCRs ran in pipeline order: the values that came back increase. */
        long long prev = 0;
        int all = 1;
        for (int i = 0; i < ORDER_INCRS; i++) {
            const rcm_reply *r = rs[i];
            if (rcm_reply_type(r) == RCM_REPLY_INTEGER) {
                long long v = rcm_reply_integer(r);
                if (v <= prev) {
                    char a[64], b[64];
                    snprintf(a, sizeof a, "%d (value %lld)", i, v);
                    snprintf(b, sizeof b, "%lld", prev);
                    note(w, "pipeline out of order: INCR %s after %s", a, b);
                }
                prev = v;
            } else {
                all = 0;
                if (!clean_failure(r)) note(w, "INCR reply %s%s", tu_describe(r), "");
            }
        }
        if (all) w->resent_ok++;
        const rcm_reply *m = rs[ORDER_INCRS], *q1 = rs[ORDER_INCRS + 1], *q2 = rs[ORDER_INCRS + 2],
                        *e = rs[ORDER_INCRS + 3];
        if (!tu_is_status(m, "OK") && !clean_failure(m)) note(w, "MULTI: %s%s", tu_describe(m), "");
        if (!tu_is_status(q1, "QUEUED") && !clean_failure(q1)) note(w, "queued INCR: %s%s", tu_describe(q1), "");
        if (!tu_is_status(q2, "QUEUED") && !clean_failure(q2)) note(w, "queued INCR: %s%s", tu_describe(q2), "");
        if (rcm_reply_type(e) == RCM_REPLY_ARRAY) {
            if (rcm_reply_length(e) != 2 || rcm_reply_integer(rcm_reply_element(e, 0)) != 1 ||
                rcm_reply_integer(rcm_reply_element(e, 1)) != 2)
                note(w, "EXEC: %s%s", tu_describe(e), " (expected [1, 2])");
            else
                w->exec_ok++;
        } else if (!clean_failure(e)) {
            note(w, "EXEC: %s%s", tu_describe(e), " (a server error: the block was split)");
        }
    }
    for (size_t i = 0; i < n; i++) rcm_reply_free(rs[i]);
    rcm_free(rs);
    return NULL;
}

/* No shared connection was left inside MULTI: CLIENT LIST says multi=-1 for every client
 * (the field counts queued commands, -1 outside MULTI), and PINGs come back PONG. */
static void assert_no_connection_in_multi(rcm_client *c, int port) {
    for (int i = 0; i < 20; i++) {
        rcm_reply *r = NULL;
        TU_ASSERT_RC(tu_cmd(c, &r, "PING", NULL), RCM_OK);
        if (!tu_is_status(r, "PONG")) fail_msg("PING after the kills: %s", tu_describe(r));
        rcm_reply_free(r);
    }
    int fd = tu_raw_connect(port);
    assert_true(fd >= 0);
    assert_int_equal(tu_raw_send(fd, "CLIENT", "LIST", NULL), 0);
    static char list[1 << 16];
    assert_int_equal(tu_raw_read(fd, list, sizeof list, 5000), 0);
    tu_raw_close(fd);
    for (const char *p = strstr(list, "multi="); p != NULL; p = strstr(p + 1, "multi=")) {
        if (strncmp(p, "multi=-1", 8) != 0) fail_msg("a connection is inside MULTI:\n%s", list);
    }
}

/* The server sleeps (DEBUG SLEEP) while six pipelines arrive on three connections: each
 * connection writes one and holds the next (reply-clocked writes), then CLIENT KILL,
 * queued behind the sleep, closes them all. The held pipelines were never written: they
 * are sent again, whole and in order, and their transactions with them. */
static void test_blocks__pipeline_order_and_transactions_survive_killed_connections(void **state) {
    (void)state;
    int port = tu_port(PORT_KILL);
    int pid = tu_server_start_ok(port, NULL);
    rcm_client *c = tu_open_ok(port, "pool.size", "3", "io_threads", "1", "command_timeout_ms", "15000",
                               "retry.backoff_ms", "10", "retry.backoff_max_ms", "50", "retry.max_attempts", "10", NULL);
    tu_watchdog_arm(120, "pipelines through killed connections");
    int exec_ok = 0, resent_ok = 0;
    for (int round = 0; round < ORDER_ROUNDS; round++) {
        /* Every connection ready and idle before the sleep. */
        for (int i = 0; i < 10; i++) rcm_reply_free(tu_cmd_ok(c, "PING", NULL));
        int fd = tu_raw_connect(port);
        assert_true(fd >= 0);
        assert_int_equal(tu_raw_send(fd, "DEBUG", "SLEEP", "1.5", NULL), 0);
        assert_int_equal(tu_raw_send(fd, "CLIENT", "KILL", "TYPE", "normal", NULL), 0);
        tu_sleep_ms(100);
        struct order_worker w[ORDER_THREADS];
        pthread_t t[ORDER_THREADS];
        for (int i = 0; i < ORDER_THREADS; i++) {
            memset(&w[i], 0, sizeof w[i]);
            w[i].client = c;
            w[i].id = i;
            w[i].round = round;
            assert_int_equal(pthread_create(&t[i], NULL, order_main, &w[i]), 0);
            tu_sleep_ms(60); /* one pipeline per loop iteration: one per connection in turn */
        }
        for (int i = 0; i < ORDER_THREADS; i++) pthread_join(t[i], NULL);
        char buf[128];
        assert_int_equal(tu_raw_read(fd, buf, sizeof buf, 5000), 0); /* +OK of DEBUG SLEEP */
        tu_raw_close(fd);
        for (int i = 0; i < ORDER_THREADS; i++) {
            if (w[i].problem[0]) fail_msg("round %d, pipeline %d: %s", round, i, w[i].problem);
            exec_ok += w[i].exec_ok;
            resent_ok += w[i].resent_ok;
        }
        assert_no_connection_in_multi(c, port);
    }
    tu_watchdog_disarm();
    printf("%d pipelines resent whole, %d transactions ran after the kills\n", resent_ok, exec_ok);
    /* Those held back were resent: some pipelines and transactions went through. */
    assert_true(resent_ok > 0);
    assert_true(exec_ok > 0);
    rcm_client_close(c);
    tu_server_stop(pid);
}

/* ---- idle leases whose health check fails ------------------------------------------- */

/* Several idle leases on a stopped server: their PINGs go unanswered, each check fails
 * its connection, which leaves the idle list while the check walks it. */
static void test_blocks__idle_leases_failing_their_health_check_are_dropped(void **state) {
    (void)state;
    int port = tu_port(PORT_LEASE_PING);
    int pid = tu_server_start_ok(port, NULL);
    rcm_client *c = tu_open_ok(port, "pool.max_leases", "4", "pool.health_check_ms", "100",
                               "command_timeout_ms", "300", "pool.lease_timeout_ms", "5000", NULL);
    rcm_lease *l[4];
    for (int i = 0; i < 4; i++) TU_ASSERT_RC(rcm_lease_acquire(c, NULL, 0, &l[i]), RCM_OK);
    for (int i = 0; i < 4; i++) {
        rcm_reply *r = NULL;
        TU_ASSERT_RC(tu_lease_cmd(l[i], &r, "PING", NULL), RCM_OK);
        rcm_reply_free(r);
    }
    for (int i = 0; i < 4; i++) rcm_lease_release(l[i]);
    tu_watchdog_arm(60, "idle leases on a stopped server");
    assert_int_equal(kill(pid, SIGSTOP), 0);
    /* PING after 100 ms idle, unanswered for max(command_timeout_ms, 1000) ms: broken. */
    tu_sleep_ms(2500);
    assert_int_equal(kill(pid, SIGCONT), 0);
    char *json = NULL;
    TU_ASSERT_RC(rcm_client_stats_json(c, &json), RCM_OK);
    long long total = tu_json_number(json, "leases_total");
    rcm_free(json);
    /* The broken idle leases are gone; a new lease works. */
    if (total > 0) fail_msg("%lld lease connections kept after their health check failed", total);
    rcm_lease *fresh = NULL;
    TU_ASSERT_RC(rcm_lease_acquire(c, NULL, 0, &fresh), RCM_OK);
    rcm_reply *r = NULL;
    TU_ASSERT_RC(tu_lease_cmd(fresh, &r, "PING", NULL), RCM_OK);
    TU_ASSERT_STATUS_REPLY(r, "PONG");
    rcm_reply_free(r);
    rcm_lease_release(fresh);
    tu_watchdog_disarm();
    rcm_client_close(c);
    tu_server_stop(pid);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocks__pipeline_order_and_transactions_survive_killed_connections),
        cmocka_unit_test(test_blocks__idle_leases_failing_their_health_check_are_dropped),
    };
    return TU_RUN(tests, argc, argv);
}
