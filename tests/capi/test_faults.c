/* capi.faults: slow servers, killed connections and restarted servers on private
 * servers. Nothing hangs, every request completes exactly once with a status, no reply
 * reaches the wrong caller, and the client works afterwards. */
#define _GNU_SOURCE
#include "test_util.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Waits (up to seconds) until a PING through the client succeeds. */
static int wait_client_works(rcm_client *c, double seconds) {
    double deadline = tu_now() + seconds;
    while (tu_now() < deadline) {
        rcm_reply *r = NULL;
        rcm_status st = tu_cmd(c, &r, "PING", NULL);
        int ok = st == RCM_OK && tu_is_status(r, "PONG");
        rcm_reply_free(r);
        if (ok) return 1;
        tu_sleep_ms(50);
    }
    return 0;
}


/* ---- DEBUG SLEEP: the deadline fires, the late reply is never delivered ------------- */

static atomic_int timeout_cb_calls;
static rcm_status timeout_cb_status;
static double timeout_cb_at;

static void timeout_cb(rcm_status st, rcm_reply *r, void *ud) {
    (void)ud;
    timeout_cb_status = st;
    timeout_cb_at = tu_now();
    rcm_reply_free(r);
    atomic_fetch_add(&timeout_cb_calls, 1);
}

static void test_faults__debug_sleep_times_out_and_client_recovers(void **state) {
    (void)state;
    int port = tu_port(TU_PRIV_DEBUG_SLEEP);
    int pid = tu_server_start_ok(port, NULL);
    /* one connection, so a late reply would land on the connection reused next */
    rcm_client *c = tu_open_ok(port, "command_timeout_ms", "200", "pool.size", "1",
                               "connect_timeout_ms", "3000", NULL);
    rcm_reply *r = tu_cmd_ok(c, "SET", "fault:a", "AAA", NULL);
    rcm_reply_free(r);
    r = tu_cmd_ok(c, "SET", "fault:b", "BBB", NULL);
    rcm_reply_free(r);

    /* sync */
    int fd = tu_raw_debug_sleep_ok(pid, port, "2");
    double t0 = tu_now();
    r = (rcm_reply *)(void *)&r;
    rcm_status st = tu_cmd(c, &r, "GET", "fault:a", NULL);
    double dt = tu_now() - t0;
    if (st != RCM_ERR_TIMEOUT)
        fail_msg("GET during DEBUG SLEEP 2: expected RCM_ERR_TIMEOUT, got %s", rcm_status_name(st));
    assert_null(r);
    printf("timeout after %.3f s\n", dt);
    if (dt > 1.5) fail_msg("the 200 ms deadline fired after %.3f s", dt);

    /* async: the callback gets the timeout, once */
    atomic_store(&timeout_cb_calls, 0);
    const char *ga[] = {"GET", "fault:a"};
    t0 = tu_now();
    TU_ASSERT_RC(rcm_command_async(c, 2, ga, NULL, timeout_cb, NULL), RCM_OK);
    while (atomic_load(&timeout_cb_calls) == 0 && tu_now() - t0 < 5) tu_sleep_ms(5);
    assert_int_equal(atomic_load(&timeout_cb_calls), 1);
    TU_ASSERT_RC(timeout_cb_status, RCM_ERR_TIMEOUT);
    if (timeout_cb_at - t0 > 1.5) fail_msg("async deadline fired after %.3f s", timeout_cb_at - t0);

    /* the client recovers; the first answers after the sleep are their own */
    double deadline = tu_now() + 10;
    int got = 0;
    while (tu_now() < deadline && !got) {
        r = NULL;
        st = tu_cmd(c, &r, "GET", "fault:b", NULL);
        if (st == RCM_OK) {
            got = 1;
            if (!tu_is_cstring(r, "BBB"))
                fail_msg("first GET fault:b after the timeout got %s (a stale reply?)", tu_describe(r));
        } else if (st != RCM_ERR_TIMEOUT && st != RCM_ERR_CONNECTION) {
            fail_msg("GET after the sleep: %s", rcm_status_name(st));
        }
        rcm_reply_free(r);
    }
    assert_true(got);
    for (int i = 0; i < 20; i++) {
        r = tu_cmd_ok(c, "GET", i % 2 ? "fault:a" : "fault:b", NULL);
        TU_ASSERT_CSTRING_REPLY(r, i % 2 ? "AAA" : "BBB");
        rcm_reply_free(r);
    }
    char buf[64];
    tu_raw_read(fd, buf, sizeof buf, 5000);
    tu_raw_close(fd);

    /* pipeline: every command of it fails as an ERROR reply with rcm's status */
    fd = tu_raw_debug_sleep_ok(pid, port, "1");
    rcm_pipeline *p = NULL;
    TU_ASSERT_RC(rcm_pipeline_new(c, &p), RCM_OK);
    const char *e1[] = {"ECHO", "one"};
    const char *e2[] = {"ECHO", "two"};
    TU_ASSERT_RC(rcm_pipeline_append(p, 2, e1, NULL), RCM_OK);
    TU_ASSERT_RC(rcm_pipeline_append(p, 2, e2, NULL), RCM_OK);
    rcm_reply **rs = NULL;
    size_t n = 0;
    t0 = tu_now();
    TU_ASSERT_RC(rcm_pipeline_exec(p, &rs, &n), RCM_OK);
    dt = tu_now() - t0;
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++) {
        if (rcm_reply_type(rs[i]) != RCM_REPLY_ERROR || rcm_reply_status(rs[i]) != RCM_ERR_TIMEOUT)
            fail_msg("pipeline reply %zu during DEBUG SLEEP: %s, rcm_reply_status %s", i,
                     tu_describe(rs[i]), rcm_status_name(rcm_reply_status(rs[i])));
        size_t len = 0;
        assert_non_null(rcm_reply_string(rs[i], &len));
        assert_true(len > 0);
        rcm_reply_free(rs[i]);
    }
    rcm_free(rs);
    if (dt > 1.5) fail_msg("the pipeline's 200 ms deadline fired after %.3f s", dt);
    tu_raw_read(fd, buf, sizeof buf, 5000);
    tu_raw_close(fd);
    assert_true(wait_client_works(c, 10));
    TU_ASSERT_RC(rcm_pipeline_append(p, 2, e1, NULL), RCM_OK);
    TU_ASSERT_RC(rcm_pipeline_exec(p, &rs, &n), RCM_OK);
    assert_int_equal(n, 1);
    TU_ASSERT_CSTRING_REPLY(rs[0], "one");
    rcm_reply_free(rs[0]);
    rcm_free(rs);
    rcm_pipeline_free(p);

    rcm_client_close(c);
    tu_server_stop(pid);
}

/* ---- load generators ----------------------------------------------------------------- */

#define LOAD_THREADS 4
#define LOAD_MAX_ITER 200000
#define NSTATUS 21

static int status_index(rcm_status st) {
    int v = -(int)st;
    if (st == RCM_ERR_INTERNAL) return NSTATUS - 1;
    if (v < 0 || v >= NSTATUS - 1) return NSTATUS - 1;
    return v;
}

/* What each loader iteration runs: a write, a read, and ECHO (a connection command the
 * server lists as neither read nor write; rcm treats it as a read, so it is resent). */
enum { OP_SET, OP_GET, OP_ECHO, NOPS };
static const char *const op_names[NOPS] = {"SET", "GET", "ECHO"};

struct loader {
    rcm_client *client;
    int id;
    int data_may_vanish; /* the server restarts empty */
    atomic_int *stop;
    int counts[NSTATUS]; /* all operations; counts[0] (RCM_OK) is read while it runs */
    int by_op[NOPS][NSTATUS];
    double last_failure_t0; /* when the latest request that failed was issued */
    int crossed;
    char first_crossed[200];
    double max_call;
};

static void count(struct loader *w, int op, rcm_status st, double t0) {
    __atomic_fetch_add(&w->counts[status_index(st)], 1, __ATOMIC_RELAXED);
    w->by_op[op][status_index(st)]++;
    if (st != RCM_OK && t0 > w->last_failure_t0) w->last_failure_t0 = t0;
    double d = tu_now() - t0;
    if (d > w->max_call) w->max_call = d;
}

static void crossed(struct loader *w, const char *what, const rcm_reply *r) {
    if (w->crossed++ == 0)
        snprintf(w->first_crossed, sizeof w->first_crossed, "%s got %s", what, tu_describe(r));
}

static void *loader_main(void *p) {
    struct loader *w = p;
    char key[64], val[64], tok[64];
    snprintf(key, sizeof key, "load:%d", w->id);
    for (int i = 0; i < LOAD_MAX_ITER && !atomic_load(w->stop); i++) {
        snprintf(val, sizeof val, "v-%d-%d", w->id, i);
        snprintf(tok, sizeof tok, "echo-%d-%d", w->id, i);
        rcm_reply *r = NULL;
        double t0 = tu_now();
        const char *sa[] = {"SET", key, val};
        rcm_status st = rcm_command(w->client, 3, sa, NULL, &r);
        count(w, OP_SET, st, t0);
        int set_ok = st == RCM_OK;
        if (set_ok && !tu_is_status(r, "OK")) crossed(w, "SET", r);
        rcm_reply_free(r);

        r = NULL;
        t0 = tu_now();
        const char *ga[] = {"GET", key};
        st = rcm_command(w->client, 2, ga, NULL, &r);
        count(w, OP_GET, st, t0);
        if (st == RCM_OK) {
            /* our value, or (after a failed SET / a restart) another of ours or nil */
            int fine = tu_is_cstring(r, val);
            if (!fine && (!set_ok || w->data_may_vanish)) {
                size_t len = 0;
                const char *s = rcm_reply_string(r, &len);
                char prefix[32];
                int pl = snprintf(prefix, sizeof prefix, "v-%d-", w->id);
                fine = rcm_reply_type(r) == RCM_REPLY_NIL ||
                       (s && len > (size_t)pl && memcmp(s, prefix, (size_t)pl) == 0);
            }
            if (!fine) crossed(w, "GET", r);
        }
        rcm_reply_free(r);

        r = NULL;
        t0 = tu_now();
        const char *ea[] = {"ECHO", tok};
        st = rcm_command(w->client, 2, ea, NULL, &r);
        count(w, OP_ECHO, st, t0);
        if (st == RCM_OK && !tu_is_cstring(r, tok)) crossed(w, "ECHO", r);
        rcm_reply_free(r);
    }
    return NULL;
}

/* What a fault may cost the loaders. Whatever it is, a read is never RCM_ERR_UNCERTAIN:
 * one killed after it was sent is resent (README, "What happens when things fail"). */
struct fault_bounds {
    int server_down;      /* the server was unreachable for a while: unsent requests may end
                             with RCM_ERR_CONNECTION or RCM_ERR_TIMEOUT; else they are resent */
    int max_failures;     /* at most this many requests may fail (-1: no count bound) */
    double fail_until;    /* no request issued after this (tu_now) may fail (0: no bound) */
    double max_call;      /* no call may take longer (its deadline plus slack) */
};

/* Sums the loaders' statuses per operation, prints them, and fails the test on what the
 * bounds do not allow. */
static void check_loaders(struct loader *w, int n, const struct fault_bounds *b) {
    int total[NSTATUS] = {0}, by_op[NOPS][NSTATUS] = {{0}};
    int crossed_total = 0;
    double max_call = 0, last_failure_t0 = 0;
    for (int i = 0; i < n; i++) {
        for (int s = 0; s < NSTATUS; s++) total[s] += w[i].counts[s];
        for (int op = 0; op < NOPS; op++)
            for (int s = 0; s < NSTATUS; s++) by_op[op][s] += w[i].by_op[op][s];
        crossed_total += w[i].crossed;
        if (w[i].crossed) printf("loader %d: %d crossed, first: %s\n", i, w[i].crossed, w[i].first_crossed);
        if (w[i].max_call > max_call) max_call = w[i].max_call;
        if (w[i].last_failure_t0 > last_failure_t0) last_failure_t0 = w[i].last_failure_t0;
    }
    int unexpected = 0, failures = 0, all = 0;
    for (int op = 0; op < NOPS; op++) {
        printf("%s:", op_names[op]);
        for (int s = 0; s < NSTATUS; s++) {
            if (!by_op[op][s]) continue;
            rcm_status st = s == NSTATUS - 1 ? RCM_ERR_INTERNAL : (rcm_status)-s;
            printf(" %s=%d", s == NSTATUS - 1 ? "other" : rcm_status_name(st), by_op[op][s]);
            all += by_op[op][s];
            if (st != RCM_OK) failures += by_op[op][s];
            int allowed = s != NSTATUS - 1 &&
                          (st == RCM_OK || (st == RCM_ERR_UNCERTAIN && op == OP_SET) ||
                           (b->server_down && (st == RCM_ERR_CONNECTION || st == RCM_ERR_TIMEOUT)));
            if (!allowed) unexpected += by_op[op][s];
        }
        printf("; ");
    }
    printf("longest call %.3f s\n", max_call);
    if (crossed_total) fail_msg("%d replies reached the wrong request", crossed_total);
    for (int op = OP_GET; op <= OP_ECHO; op++)
        if (by_op[op][status_index(RCM_ERR_UNCERTAIN)])
            fail_msg("%d %ss ended RCM_ERR_UNCERTAIN: a read whose connection broke after it was sent must be resent",
                     by_op[op][status_index(RCM_ERR_UNCERTAIN)], op_names[op]);
    if (unexpected)
        fail_msg("%d requests completed with a status this fault does not allow (%s)", unexpected,
                 b->server_down ? "RCM_OK, RCM_ERR_CONNECTION, RCM_ERR_TIMEOUT; RCM_ERR_UNCERTAIN for writes"
                                : "the server stayed up: RCM_OK; RCM_ERR_UNCERTAIN for writes in flight at a kill");
    if (total[0] == 0) fail_msg("no request succeeded at all");
    if (b->max_failures >= 0 && failures > b->max_failures)
        fail_msg("%d of %d requests failed; this fault allows at most %d", failures, all, b->max_failures);
    if (b->fail_until > 0 && last_failure_t0 > b->fail_until)
        fail_msg("a request issued %.3f s after the fault was over failed", last_failure_t0 - b->fail_until);
    if (max_call > b->max_call)
        fail_msg("a call took %.3f s, beyond its deadline (bound %.1f s)", max_call, b->max_call);
}

static void start_loaders(struct loader *w, pthread_t *t, rcm_client *c, atomic_int *stop, int vanish) {
    atomic_store(stop, 0);
    for (int i = 0; i < LOAD_THREADS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].client = c;
        w[i].id = i;
        w[i].stop = stop;
        w[i].data_may_vanish = vanish;
        pthread_create(&t[i], NULL, loader_main, &w[i]);
    }
}

static void join_loaders(pthread_t *t, atomic_int *stop) {
    atomic_store(stop, 1);
    for (int i = 0; i < LOAD_THREADS; i++) pthread_join(t[i], NULL);
}

static void check_works_afterwards(rcm_client *c) {
    if (!wait_client_works(c, 10)) fail_msg("the client did not recover within 10 s");
    for (int i = 0; i < 50; i++) {
        char tok[32];
        snprintf(tok, sizeof tok, "after-%d", i);
        rcm_reply *r = tu_cmd_ok(c, "ECHO", tok, NULL);
        TU_ASSERT_CSTRING_REPLY(r, tok);
        rcm_reply_free(r);
    }
}

/* ---- CLIENT KILL under load ---------------------------------------------------------- */

static void test_faults__client_kill_under_load(void **state) {
    (void)state;
    int port = tu_port(TU_PRIV_CLIENT_KILL);
    int pid = tu_server_start_ok(port, NULL);
    rcm_client *c = tu_open_ok(port, "command_timeout_ms", "2000", "retry.backoff_max_ms", "100",
                               NULL);
    struct loader w[LOAD_THREADS];
    pthread_t t[LOAD_THREADS];
    atomic_int stop;
    tu_watchdog_arm(90, "CLIENT KILL under load");
    start_loaders(w, t, c, &stop, 0);
    int fd = tu_raw_connect(port);
    assert_true(fd >= 0);
    long killed = 0;
    for (int round = 0; round < 5; round++) {
        tu_sleep_ms(300);
        char buf[128];
        assert_int_equal(tu_raw_send(fd, "CLIENT", "KILL", "TYPE", "normal", NULL), 0);
        assert_int_equal(tu_raw_read(fd, buf, sizeof buf, 5000), 0);
        assert_true(buf[0] == ':');
        killed += atol(buf + 1);
    }
    tu_sleep_ms(500);
    join_loaders(t, &stop);
    tu_raw_close(fd);
    tu_watchdog_disarm();
    printf("CLIENT KILL killed %ld connections in 5 rounds\n", killed);
    assert_true(killed > 0);
    /* The server stays up: what was not sent yet is resent, reads are resent; only a
     * write in flight at a kill may end uncertain, one per thread and kill. */
    const struct fault_bounds bounds = {.server_down = 0, .max_failures = 5 * LOAD_THREADS, .max_call = 2.0 + 2.0};
    check_loaders(w, LOAD_THREADS, &bounds);
    check_works_afterwards(c);

    char *json = NULL;
    TU_ASSERT_RC(rcm_client_stats_json(c, &json), RCM_OK);
    long long reconnects = tu_json_number(json, "reconnects");
    printf("stats after the kills: %s\n", json);
    if (reconnects < 1) fail_msg("stats report %lld reconnects after %ld kills", reconnects, killed);
    rcm_free(json);
    rcm_client_close(c);
    tu_server_stop(pid);
}

/* ---- server killed (SIGKILL) and restarted under load --------------------------------- */

static atomic_int restart_node_up, restart_node_down, restart_other_node;
static char restart_node[64];

static void restart_event_cb(rcm_event_kind kind, const char *node, const char *detail, void *ud) {
    (void)ud;
    (void)detail;
    if (!node || strcmp(node, restart_node) != 0) atomic_fetch_add(&restart_other_node, 1);
    else if (kind == RCM_EVENT_NODE_UP) atomic_fetch_add(&restart_node_up, 1);
    else if (kind == RCM_EVENT_NODE_DOWN) atomic_fetch_add(&restart_node_down, 1);
}

static void test_faults__server_restart_under_load(void **state) {
    (void)state;
    int port = tu_port(TU_PRIV_RESTART);
    int pid = tu_server_start_ok(port, NULL);
    snprintf(restart_node, sizeof restart_node, "127.0.0.1:%d", port);
    rcm_config *cfg = tu_config_ok("redis", port, "command_timeout_ms", "1000", "connect_timeout_ms",
                                   "500", "retry.backoff_max_ms", "200", NULL);
    TU_ASSERT_RC(rcm_config_set_event_callback(cfg, restart_event_cb, NULL), RCM_OK);
    rcm_client *c = NULL;
    TU_ASSERT_RC(rcm_client_open(cfg, &c), RCM_OK);
    rcm_config_free(cfg);
    double deadline = tu_now() + 5;
    while (atomic_load(&restart_node_up) == 0 && tu_now() < deadline) tu_sleep_ms(10);
    int ups_before = atomic_load(&restart_node_up);
    struct loader w[LOAD_THREADS];
    pthread_t t[LOAD_THREADS];
    atomic_int stop;
    tu_watchdog_arm(120, "server restart under load");
    start_loaders(w, t, c, &stop, 1);
    tu_sleep_ms(400);
    /* Killed, not stopped: no goodbye, no flush; the sockets just reset. */
    tu_server_kill_ok(pid);
    printf("server killed (SIGKILL)\n");
    tu_sleep_ms(800); /* requests fail meanwhile: with a status, by their deadline */
    pid = tu_server_start_ok(port, NULL);
    double up_at = tu_now(); /* it answers PING */
    printf("server restarted\n");
    /* keep the load on until requests succeed again (up to 10 s) */
    int before = 0;
    for (int i = 0; i < LOAD_THREADS; i++) before += __atomic_load_n(&w[i].counts[0], __ATOMIC_RELAXED);
    deadline = tu_now() + 10;
    int after = before;
    while (tu_now() < deadline && after < before + 100) {
        tu_sleep_ms(100);
        after = 0;
        for (int i = 0; i < LOAD_THREADS; i++) after += __atomic_load_n(&w[i].counts[0], __ATOMIC_RELAXED);
    }
    join_loaders(t, &stop);
    tu_watchdog_disarm();
    printf("successes after the restart: %d; events: %d NODE_UP before the stop, %d NODE_UP and "
           "%d NODE_DOWN in all, %d naming another node\n", after - before, ups_before,
           atomic_load(&restart_node_up), atomic_load(&restart_node_down),
           atomic_load(&restart_other_node));
    /* Requests fail only while the server is gone: allow the client a second to
     * reconnect (its backoff is at most 200 ms). */
    const struct fault_bounds bounds = {.server_down = 1, .max_failures = -1, .fail_until = up_at + 1.0,
                                        .max_call = 1.0 + 2.0};
    check_loaders(w, LOAD_THREADS, &bounds);
    if (after - before < 100) fail_msg("requests did not succeed again within 10 s of the restart");
    check_works_afterwards(c);
    if (ups_before < 1) fail_msg("no RCM_EVENT_NODE_UP for %s after open", restart_node);
    deadline = tu_now() + 5;
    while ((atomic_load(&restart_node_down) < 1 || atomic_load(&restart_node_up) <= ups_before) &&
           tu_now() < deadline)
        tu_sleep_ms(10);
    if (atomic_load(&restart_node_down) < 1) fail_msg("no RCM_EVENT_NODE_DOWN when the server stopped");
    if (atomic_load(&restart_node_up) <= ups_before)
        fail_msg("no RCM_EVENT_NODE_UP when the server came back");
    assert_int_equal(atomic_load(&restart_other_node), 0);
    rcm_client_close(c);
    tu_server_stop(pid);
}

/* ---- close while requests are in flight ---------------------------------------------- */

#define CLOSE_N 200
static atomic_int close_calls[CLOSE_N];
static rcm_status close_status[CLOSE_N];

static void close_cb(rcm_status st, rcm_reply *r, void *ud) {
    int i = (int)(size_t)ud;
    close_status[i] = st;
    rcm_reply_free(r);
    atomic_fetch_add(&close_calls[i], 1);
}

static void test_faults__close_completes_requests_in_flight(void **state) {
    (void)state;
    int port = tu_port(TU_PRIV_CLOSE_PENDING);
    int pid = tu_server_start_ok(port, NULL);
    rcm_client *c = tu_open_ok(port, "command_timeout_ms", "10000", NULL);
    int fd = tu_raw_debug_sleep_ok(pid, port, "2");
    for (int i = 0; i < CLOSE_N; i++) {
        atomic_store(&close_calls[i], 0);
        const char *a[] = {"PING"};
        TU_ASSERT_RC(rcm_command_async(c, 1, a, NULL, close_cb, (void *)(size_t)i), RCM_OK);
    }
    /* All of them written to the sleeping server before the close. */
    long long in_flight = 0;
    for (double until = tu_now() + 10; in_flight < CLOSE_N && tu_now() < until;) {
        char *json = NULL;
        TU_ASSERT_RC(rcm_client_stats_json(c, &json), RCM_OK);
        in_flight = tu_json_number(json, "in_flight");
        rcm_free(json);
        if (in_flight < CLOSE_N) tu_sleep_ms(5);
    }
    if (in_flight < CLOSE_N) fail_msg("only %lld of %d PINGs in flight after 10 s", in_flight, CLOSE_N);
    tu_watchdog_arm(30, "rcm_client_close with requests in flight");
    double t0 = tu_now();
    rcm_client_close(c);
    double dt = tu_now() - t0;
    tu_watchdog_disarm();
    int not_once = 0, not_closed = 0;
    for (int i = 0; i < CLOSE_N; i++) {
        if (atomic_load(&close_calls[i]) != 1) not_once++;
        else if (close_status[i] != RCM_ERR_CLOSED) not_closed++;
    }
    printf("close took %.3f s\n", dt);
    if (not_once) fail_msg("%d callbacks not called exactly once by close", not_once);
    if (not_closed) fail_msg("%d requests in flight did not complete with RCM_ERR_CLOSED", not_closed);
    char buf[64];
    tu_raw_read(fd, buf, sizeof buf, 5000);
    tu_raw_close(fd);
    tu_server_stop(pid);
}

/* ---- bounded queues: pool.max_pending ---------------------------------------------- */

#define BP_N 500
#define BP_MAX_PENDING 50
static atomic_int bp_calls[BP_N];
static rcm_status bp_status[BP_N];
static atomic_int bp_done;

static void bp_cb(rcm_status st, rcm_reply *r, void *ud) {
    int i = (int)(size_t)ud;
    bp_status[i] = st;
    rcm_reply_free(r);
    atomic_fetch_add(&bp_calls[i], 1);
    atomic_fetch_add(&bp_done, 1);
}

/* Issues BP_N async PINGs; returns how many were refused with RCM_ERR_BACKPRESSURE (by the
 * call or by the callback). Fails unless every accepted request's callback ran once. */
static int flood(rcm_client *c) {
    atomic_store(&bp_done, 0);
    int refused_by_call = 0, accepted = 0;
    for (int i = 0; i < BP_N; i++) {
        atomic_store(&bp_calls[i], 0);
        bp_status[i] = (rcm_status)12345;
    }
    for (int i = 0; i < BP_N; i++) {
        const char *a[] = {"PING"};
        rcm_status st = rcm_command_async(c, 1, a, NULL, bp_cb, (void *)(size_t)i);
        if (st == RCM_OK) accepted++;
        else if (st == RCM_ERR_BACKPRESSURE) {
            refused_by_call++;
            atomic_store(&bp_calls[i], -1000); /* no callback may follow */
        } else fail_msg("rcm_command_async: %s", rcm_status_name(st));
    }
    double deadline = tu_now() + 15;
    while (atomic_load(&bp_done) < accepted && tu_now() < deadline) tu_sleep_ms(10);
    tu_sleep_ms(100);
    int counts[NSTATUS] = {0}, not_once = 0;
    for (int i = 0; i < BP_N; i++) {
        int calls = atomic_load(&bp_calls[i]);
        if (calls == -1000) continue;
        if (calls != 1) not_once++;
        else counts[status_index(bp_status[i])]++;
    }
    if (not_once) fail_msg("%d accepted requests did not complete exactly once", not_once);
    printf("%d requests: %d refused by the call;", BP_N, refused_by_call);
    for (int s = 0; s < NSTATUS; s++)
        if (counts[s]) printf(" %s=%d", s == NSTATUS - 1 ? "other" : rcm_status_name((rcm_status)-s), counts[s]);
    printf("\n");
    return refused_by_call + counts[status_index(RCM_ERR_BACKPRESSURE)];
}

static void test_faults__backpressure_when_server_down(void **state) {
    (void)state;
    int port = tu_port(TU_PRIV_BACKPRESSURE_DOWN);
    int pid = tu_server_start_ok(port, NULL);
    rcm_client *c = tu_open_ok(port, "pool.max_pending", "50", "command_timeout_ms", "2000",
                               "retry.backoff_ms", "1000", "retry.backoff_max_ms", "1000", NULL);
    tu_server_stop(pid);
    /* The client has seen its connections close: what follows waits unsent. */
    if (tu_wait_disconnected(c, 30) != 0) fail_msg("the client still has a connection up 30 s after the server stopped");
    tu_watchdog_arm(60, "requests to a stopped server");
    int refused = flood(c);
    tu_watchdog_disarm();
    if (refused < BP_N - BP_MAX_PENDING - 50)
        fail_msg("only %d of %d requests refused with RCM_ERR_BACKPRESSURE (pool.max_pending=%d)",
                 refused, BP_N, BP_MAX_PENDING);
    pid = tu_server_start_ok(port, NULL);
    check_works_afterwards(c);
    rcm_client_close(c);
    tu_server_stop(pid);
}

/* A server that stops answering (not disconnected) is an outage too: what waits for it
 * is bounded by pool.max_pending as well. */
static void test_faults__backpressure_when_server_hangs(void **state) {
    (void)state;
    int port = tu_port(TU_PRIV_BACKPRESSURE_HUNG);
    int pid = tu_server_start_ok(port, NULL);
    rcm_client *c = tu_open_ok(port, "pool.max_pending", "50", "command_timeout_ms", "3000", NULL);
    int fd = tu_raw_debug_sleep_ok(pid, port, "2");
    tu_watchdog_arm(60, "requests to a hung server");
    int refused = flood(c);
    tu_watchdog_disarm();
    char buf[64];
    tu_raw_read(fd, buf, sizeof buf, 5000);
    tu_raw_close(fd);
    if (refused < BP_N - BP_MAX_PENDING - 50)
        fail_msg("only %d of %d requests to a hung server refused with RCM_ERR_BACKPRESSURE "
                 "(pool.max_pending=%d): the queue is unbounded", refused, BP_N, BP_MAX_PENDING);
    /* A pipeline is bounded the same way: what does not fit is an error reply with
     * RCM_ERR_BACKPRESSURE, the rest runs when the server wakes up. */
    fd = tu_raw_debug_sleep_ok(pid, port, "2");
    tu_watchdog_arm(60, "a pipeline to a hung server");
    rcm_pipeline *p = NULL;
    TU_ASSERT_RC(rcm_pipeline_new(c, &p), RCM_OK);
    for (int i = 0; i < BP_N; i++) {
        const char *a[] = {"PING"};
        TU_ASSERT_RC(rcm_pipeline_append(p, 1, a, NULL), RCM_OK);
    }
    rcm_reply **replies = NULL;
    size_t nr = 0;
    TU_ASSERT_RC(rcm_pipeline_exec(p, &replies, &nr), RCM_OK);
    tu_watchdog_disarm();
    assert_int_equal(nr, BP_N);
    int pp_refused = 0, pp_pong = 0;
    for (size_t i = 0; i < nr; i++) {
        if (rcm_reply_type(replies[i]) == RCM_REPLY_ERROR && rcm_reply_status(replies[i]) == RCM_ERR_BACKPRESSURE) pp_refused++;
        else if (rcm_reply_type(replies[i]) == RCM_REPLY_STATUS) pp_pong++;
        rcm_reply_free(replies[i]);
    }
    rcm_free(replies);
    rcm_pipeline_free(p);
    tu_raw_read(fd, buf, sizeof buf, 5000);
    tu_raw_close(fd);
    printf("pipeline of %d PINGs to a hung server: %d refused, %d answered\n", BP_N, pp_refused, pp_pong);
    if (pp_refused != BP_N - BP_MAX_PENDING || pp_pong != BP_MAX_PENDING)
        fail_msg("pipeline of %d to a hung server with pool.max_pending=%d: %d refused, %d answered", BP_N,
                 BP_MAX_PENDING, pp_refused, pp_pong);
    check_works_afterwards(c);
    rcm_client_close(c);
    tu_server_stop(pid);
}

/* A transaction that does not fit under pool.max_pending is refused whole: a cut one
 * would leave the shared connection inside MULTI, and every later command there would be
 * answered QUEUED. */
static void test_faults__transaction_over_max_pending_is_refused_whole(void **state) {
    (void)state;
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), "pool.size", "1", "pool.max_pending", "3", NULL);
    rcm_pipeline *p = NULL;
    TU_ASSERT_RC(rcm_pipeline_new(c, &p), RCM_OK);
    const char *multi[] = {"MULTI"}, *exec[] = {"EXEC"};
    TU_ASSERT_RC(rcm_pipeline_append(p, 1, multi, NULL), RCM_OK);
    for (int i = 0; i < 3; i++) {
        const char *set[] = {"SET", "mp:tx", "v"};
        TU_ASSERT_RC(rcm_pipeline_append(p, 3, set, NULL), RCM_OK);
    }
    TU_ASSERT_RC(rcm_pipeline_append(p, 1, exec, NULL), RCM_OK);
    rcm_reply **replies = NULL;
    size_t nr = 0;
    TU_ASSERT_RC(rcm_pipeline_exec(p, &replies, &nr), RCM_OK);
    assert_int_equal(nr, 5);
    for (size_t i = 0; i < nr; i++) {
        if (rcm_reply_type(replies[i]) != RCM_REPLY_ERROR || rcm_reply_status(replies[i]) != RCM_ERR_BACKPRESSURE)
            fail_msg("reply %zu of a 5-command transaction with pool.max_pending=3: %s", i, tu_describe(replies[i]));
        rcm_reply_free(replies[i]);
    }
    rcm_free(replies);
    rcm_pipeline_free(p);
    /* The connection is not inside MULTI. */
    rcm_reply *r = tu_cmd_ok(c, "PING", NULL);
    TU_ASSERT_STATUS_REPLY(r, "PONG");
    rcm_reply_free(r);
    rcm_client_close(c);
}

/* ---- reconnect backoff and health checks -------------------------------------------- */

/* A server that is gone: reconnects wait retry.backoff_ms, doubling up to
 * retry.backoff_max_ms (jittered to [d/2, d]), instead of hammering the address. */
static void test_faults__reconnects_back_off(void **state) {
    (void)state;
    int port = tu_port(TU_PRIV_BACKOFF);
    int pid = tu_server_start_ok(port, NULL);
    rcm_client *c = tu_open_ok(port, "pool.size", "1", "retry.backoff_ms", "50", "retry.backoff_max_ms", "400",
                               "pool.health_check_ms", "0", NULL);
    rcm_reply *r = tu_cmd_ok(c, "PING", NULL);
    rcm_reply_free(r);
    tu_server_stop(pid);
    tu_sleep_ms(3000);
    char *json = NULL;
    TU_ASSERT_RC(rcm_client_stats_json(c, &json), RCM_OK);
    long long failures = tu_json_number(json, "connect_failures");
    printf("server gone for 3 s: %lld failed connects (backoff 50 ms doubling to 400 ms)\n", failures);
    /* 50+100+200+400 ms, then one every 200-400 ms: about 8-15 in 3 s. Without backoff
     * it would be thousands, with a fixed 50 ms about 60. */
    if (failures < 4 || failures > 25)
        fail_msg("%lld failed connects in 3 s with retry.backoff_ms=50, retry.backoff_max_ms=400: %s", failures, json);
    rcm_free(json);
    /* Back: the client finds it on its next attempt. */
    pid = tu_server_start_ok(port, NULL);
    check_works_afterwards(c);
    rcm_client_close(c);
    tu_server_stop(pid);
}

/* Item 18: retry.backoff_ms=0 made a dead server a busy loop of zero-delay reconnects
 * (thousands a second). Reconnects wait at least 1 ms and grow from there. */
static void test_faults__zero_backoff_reconnects_are_not_a_busy_loop(void **state) {
    (void)state;
    int port = tu_port(TU_PRIV_BACKOFF);
    int pid = tu_server_start_ok(port, NULL);
    rcm_client *c = tu_open_ok(port, "pool.size", "1", "retry.backoff_ms", "0", "retry.backoff_max_ms", "200",
                               "pool.health_check_ms", "0", NULL);
    rcm_reply *r = tu_cmd_ok(c, "PING", NULL);
    rcm_reply_free(r);
    tu_server_stop(pid);
    tu_sleep_ms(1500);
    char *json = NULL;
    TU_ASSERT_RC(rcm_client_stats_json(c, &json), RCM_OK);
    long long failures = tu_json_number(json, "connect_failures");
    printf("server gone for 1.5 s: %lld failed connects (backoff 0 ms doubling to 200 ms)\n", failures);
    /* 1, 2, 4 ... 128 ms, then one every 100-200 ms: about 10-20. A busy loop makes
     * thousands; the bound is generous for a loaded machine. */
    if (failures < 2 || failures > 100)
        fail_msg("%lld failed connects in 1.5 s with retry.backoff_ms=0: %s", failures, json);
    rcm_free(json);
    rcm_client_close(c);
}

/* Idle connections are checked with PING after pool.health_check_ms. */
static void test_faults__idle_connections_are_pinged(void **state) {
    (void)state;
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), "client_name", "rcm-hc-test", "pool.size", "2",
                               "pool.health_check_ms", "200", NULL);
    rcm_reply *r = tu_cmd_ok(c, "SET", "hc:key", "v", NULL);
    rcm_reply_free(r);
    tu_sleep_ms(1200);
    /* CLIENT LIST from a connection of the test's own: each of the client's connections
     * last ran PING. */
    int fd = tu_raw_connect(tu_port(TU_PLAIN));
    assert_true(fd >= 0);
    assert_int_equal(tu_raw_send(fd, "CLIENT", "LIST", NULL), 0);
    char buf[16384];
    assert_int_equal(tu_raw_read(fd, buf, sizeof buf, 2000), 0); /* "$" + the bulk string */
    tu_raw_close(fd);
    int ours = 0, pinged = 0;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strstr(line, " name=rcm-hc-test ")) continue;
        ours++;
        if (strstr(line, " cmd=ping ")) pinged++;
    }
    printf("%d connections of the client, %d last ran PING\n", ours, pinged);
    if (ours < 2 || pinged != ours) fail_msg("after 1.2 s idle with pool.health_check_ms=200: %d of %d connections pinged", pinged, ours);
    rcm_client_close(c);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_faults__debug_sleep_times_out_and_client_recovers),
        cmocka_unit_test(test_faults__client_kill_under_load),
        cmocka_unit_test(test_faults__server_restart_under_load),
        cmocka_unit_test(test_faults__close_completes_requests_in_flight),
        cmocka_unit_test(test_faults__backpressure_when_server_down),
        cmocka_unit_test(test_faults__backpressure_when_server_hangs),
        cmocka_unit_test(test_faults__transaction_over_max_pending_is_refused_whole),
        cmocka_unit_test(test_faults__reconnects_back_off),
        cmocka_unit_test(test_faults__zero_backoff_reconnects_are_not_a_busy_loop),
        cmocka_unit_test(test_faults__idle_connections_are_pinged),
    };
    return TU_RUN(tests, argc, argv);
}
