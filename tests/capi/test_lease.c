/* capi.lease: exclusive connections for blocking and stateful commands. */
#define _GNU_SOURCE
#include "test_util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void key_for(char *buf, size_t n, const char *what) {
    snprintf(buf, n, "lease:%s:%d", what, (int)getpid());
}

/* ---- BLPOP on a lease while the shared connections keep working ------------------- */

struct progress {
    rcm_client *client;
    atomic_int stop;
    atomic_int ok;
    atomic_int failed;
    atomic_int wrong;
    int id;
};

static void *progress_main(void *p) {
    struct progress *g = p;
    char tok[64];
    for (int i = 0; !atomic_load(&g->stop) && i < 1000000; i++) {
        snprintf(tok, sizeof tok, "progress-%d-%d", g->id, i);
        const char *a[] = {"ECHO", tok};
        rcm_reply *r = NULL;
        rcm_status st = rcm_command(g->client, 2, a, NULL, &r);
        if (st != RCM_OK) atomic_fetch_add(&g->failed, 1);
        else if (!tu_is_cstring(r, tok)) atomic_fetch_add(&g->wrong, 1);
        else atomic_fetch_add(&g->ok, 1);
        rcm_reply_free(r);
    }
    return NULL;
}

struct blpop_call {
    rcm_lease *lease;
    const char *key;
    atomic_int started;
    atomic_int finished;
    rcm_status status;
    rcm_reply *reply;
    double seconds;
};

static void *blpop_main(void *p) {
    struct blpop_call *b = p;
    const char *a[] = {"BLPOP", b->key, "2"};
    atomic_store(&b->started, 1);
    double t0 = tu_now();
    b->status = rcm_lease_command(b->lease, 3, a, NULL, &b->reply);
    b->seconds = tu_now() - t0;
    atomic_store(&b->finished, 1);
    return NULL;
}

static void test_lease__blpop_while_shared_commands_progress(void **state) {
    (void)state;
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), "command_timeout_ms", "3000", NULL);
    char key[64];
    key_for(key, sizeof key, "blpop");
    rcm_reply *r = tu_cmd_ok(c, "DEL", key, NULL);
    rcm_reply_free(r);

    rcm_lease *l = NULL;
    TU_ASSERT_RC(rcm_lease_acquire(c, key, strlen(key), &l), RCM_OK);

    struct progress g[2];
    pthread_t pt[2];
    for (int i = 0; i < 2; i++) {
        memset(&g[i], 0, sizeof g[i]);
        g[i].client = c;
        g[i].id = i;
        pthread_create(&pt[i], NULL, progress_main, &g[i]);
    }
    struct blpop_call b;
    memset(&b, 0, sizeof b);
    b.lease = l;
    b.key = key;
    pthread_t bt;
    tu_watchdog_arm(30, "BLPOP on a lease");
    pthread_create(&bt, NULL, blpop_main, &b);
    while (!atomic_load(&b.started)) tu_sleep_ms(1);
    tu_sleep_ms(50); /* the BLPOP is on the wire */
    int before = atomic_load(&g[0].ok) + atomic_load(&g[1].ok);
    tu_sleep_ms(300);
    int after = atomic_load(&g[0].ok) + atomic_load(&g[1].ok);
    int blpop_returned_early = atomic_load(&b.finished);
    r = tu_cmd_ok(c, "LPUSH", key, "pushed-value", NULL);
    TU_ASSERT_INT_REPLY(r, 1);
    rcm_reply_free(r);
    pthread_join(bt, NULL);
    for (int i = 0; i < 2; i++) atomic_store(&g[i].stop, 1);
    for (int i = 0; i < 2; i++) pthread_join(pt[i], NULL);
    tu_watchdog_disarm();

    printf("during the BLPOP: %d shared commands completed in 300 ms\n", after - before);
    if (blpop_returned_early)
        fail_msg("BLPOP returned before the LPUSH: %s %s", rcm_status_name(b.status),
                 tu_describe(b.reply));
    TU_ASSERT_RC(b.status, RCM_OK);
    assert_int_equal(rcm_reply_type(b.reply), RCM_REPLY_ARRAY);
    assert_int_equal(rcm_reply_length(b.reply), 2);
    TU_ASSERT_CSTRING_REPLY(rcm_reply_element(b.reply, 0), key);
    TU_ASSERT_CSTRING_REPLY(rcm_reply_element(b.reply, 1), "pushed-value");
    rcm_reply_free(b.reply);
    if (after - before <= 0) fail_msg("no shared command completed while BLPOP was blocked");
    for (int i = 0; i < 2; i++) {
        assert_int_equal(atomic_load(&g[i].failed), 0);
        assert_int_equal(atomic_load(&g[i].wrong), 0);
    }
    rcm_lease_release(l);
    rcm_client_close(c);
}

static void test_lease__blocking_timeout_extends_the_deadline(void **state) {
    (void)state;
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), "command_timeout_ms", "300", NULL);
    char key[64];
    key_for(key, sizeof key, "blpop-empty");
    rcm_lease *l = NULL;
    TU_ASSERT_RC(rcm_lease_acquire(c, NULL, 0, &l), RCM_OK);
    rcm_reply *r = NULL;
    double t0 = tu_now();
    TU_ASSERT_RC(tu_lease_cmd(l, &r, "BLPOP", key, "1", NULL), RCM_OK);
    double dt = tu_now() - t0;
    /* the server's own timeout: a nil array after ~1 s, not RCM_ERR_TIMEOUT at 300 ms */
    assert_int_equal(rcm_reply_type(r), RCM_REPLY_NIL);
    if (dt < 0.9) fail_msg("BLPOP %s 1 returned after %.3f s", key, dt);
    rcm_reply_free(r);
    /* the lease is usable afterwards */
    TU_ASSERT_RC(tu_lease_cmd(l, &r, "PING", NULL), RCM_OK);
    TU_ASSERT_STATUS_REPLY(r, "PONG");
    rcm_reply_free(r);
    rcm_lease_release(l);
    rcm_client_close(c);
}

/* ---- dirty leases come back clean -------------------------------------------------- */

static void test_lease__release_in_multi_gives_clean_next_lease(void **state) {
    (void)state;
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), "pool.max_leases", "1", NULL);
    char key[64];
    key_for(key, sizeof key, "multi");
    rcm_reply *r = tu_cmd_ok(c, "DEL", key, NULL);
    rcm_reply_free(r);

    rcm_lease *l = NULL;
    TU_ASSERT_RC(rcm_lease_acquire(c, NULL, 0, &l), RCM_OK);
    TU_ASSERT_RC(tu_lease_cmd(l, &r, "MULTI", NULL), RCM_OK);
    TU_ASSERT_STATUS_REPLY(r, "OK");
    rcm_reply_free(r);
    TU_ASSERT_RC(tu_lease_cmd(l, &r, "SET", key, "from-abandoned-multi", NULL), RCM_OK);
    TU_ASSERT_STATUS_REPLY(r, "QUEUED");
    rcm_reply_free(r);
    rcm_lease_release(l); /* left in MULTI */

    l = NULL;
    TU_ASSERT_RC(rcm_lease_acquire(c, NULL, 0, &l), RCM_OK);
    TU_ASSERT_RC(tu_lease_cmd(l, &r, "SET", "lease:other", "x", NULL), RCM_OK);
    TU_ASSERT_STATUS_REPLY(r, "OK"); /* not QUEUED */
    rcm_reply_free(r);
    TU_ASSERT_RC(tu_lease_cmd(l, &r, "EXEC", NULL), RCM_OK);
    assert_true(tu_is_error_prefix(r, "ERR")); /* EXEC without MULTI */
    rcm_reply_free(r);
    rcm_lease_release(l);
    /* the abandoned transaction never ran */
    r = tu_cmd_ok(c, "GET", key, NULL);
    assert_int_equal(rcm_reply_type(r), RCM_REPLY_NIL);
    rcm_reply_free(r);
    rcm_client_close(c);
}

static void test_lease__release_drops_watch(void **state) {
    (void)state;
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), "pool.max_leases", "1", NULL);
    char key[64];
    key_for(key, sizeof key, "watch");
    rcm_lease *l = NULL;
    rcm_reply *r;
    TU_ASSERT_RC(rcm_lease_acquire(c, NULL, 0, &l), RCM_OK);
    TU_ASSERT_RC(tu_lease_cmd(l, &r, "WATCH", key, NULL), RCM_OK);
    rcm_reply_free(r);
    rcm_lease_release(l); /* left watching */
    r = tu_cmd_ok(c, "SET", key, "changed-by-someone-else", NULL);
    rcm_reply_free(r);

    TU_ASSERT_RC(rcm_lease_acquire(c, NULL, 0, &l), RCM_OK);
    TU_ASSERT_RC(tu_lease_cmd(l, &r, "MULTI", NULL), RCM_OK);
    rcm_reply_free(r);
    TU_ASSERT_RC(tu_lease_cmd(l, &r, "SET", key, "mine", NULL), RCM_OK);
    rcm_reply_free(r);
    TU_ASSERT_RC(tu_lease_cmd(l, &r, "EXEC", NULL), RCM_OK);
    /* a stale WATCH would abort the transaction (nil) */
    if (rcm_reply_type(r) != RCM_REPLY_ARRAY)
        fail_msg("EXEC on the next lease: %s (a WATCH survived the release)", tu_describe(r));
    rcm_reply_free(r);
    rcm_lease_release(l);
    r = tu_cmd_ok(c, "GET", key, NULL);
    TU_ASSERT_CSTRING_REPLY(r, "mine");
    rcm_reply_free(r);
    rcm_client_close(c);
}

static void test_lease__release_reselects_db(void **state) {
    (void)state;
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), "pool.max_leases", "1", NULL);
    char key[64];
    key_for(key, sizeof key, "db");
    rcm_reply *r = tu_cmd_ok(c, "DEL", key, NULL);
    rcm_reply_free(r);
    rcm_lease *l = NULL;
    TU_ASSERT_RC(rcm_lease_acquire(c, NULL, 0, &l), RCM_OK);
    TU_ASSERT_RC(tu_lease_cmd(l, &r, "SELECT", "7", NULL), RCM_OK);
    TU_ASSERT_STATUS_REPLY(r, "OK");
    rcm_reply_free(r);
    rcm_lease_release(l);
    TU_ASSERT_RC(rcm_lease_acquire(c, NULL, 0, &l), RCM_OK);
    TU_ASSERT_RC(tu_lease_cmd(l, &r, "SET", key, "in-db-0", NULL), RCM_OK);
    rcm_reply_free(r);
    rcm_lease_release(l);
    r = tu_cmd_ok(c, "GET", key, NULL); /* the shared client is on db 0 */
    TU_ASSERT_CSTRING_REPLY(r, "in-db-0");
    rcm_reply_free(r);
    rcm_client_close(c);
}

static void test_lease__release_while_subscribed_gives_clean_next_lease(void **state) {
    (void)state;
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), "pool.max_leases", "1", NULL);
    char ch[64];
    key_for(ch, sizeof ch, "sub-dirty");
    rcm_lease *l = NULL;
    rcm_reply *r;
    TU_ASSERT_RC(rcm_lease_acquire(c, NULL, 0, &l), RCM_OK);
    TU_ASSERT_RC(tu_lease_cmd(l, &r, "SUBSCRIBE", ch, NULL), RCM_OK);
    assert_int_equal(rcm_reply_type(r), RCM_REPLY_ARRAY);
    rcm_reply_free(r);
    rcm_lease_release(l); /* left subscribed */

    /* nobody is subscribed any more (the server may take a moment to see a close) */
    long long subscribers = -1;
    for (int i = 0; i < 100 && subscribers != 0; i++) {
        r = tu_cmd_ok(c, "PUBLISH", ch, "after-release", NULL);
        subscribers = rcm_reply_integer(r);
        rcm_reply_free(r);
        if (subscribers != 0) tu_sleep_ms(20);
    }
    if (subscribers != 0) fail_msg("the released lease is still subscribed to %s", ch);

    TU_ASSERT_RC(rcm_lease_acquire(c, NULL, 0, &l), RCM_OK);
    /* in subscribed mode PING answers an array; a clean connection answers +PONG */
    TU_ASSERT_RC(tu_lease_cmd(l, &r, "PING", NULL), RCM_OK);
    TU_ASSERT_STATUS_REPLY(r, "PONG");
    rcm_reply_free(r);
    TU_ASSERT_RC(tu_lease_cmd(l, &r, "SET", ch, "plain", NULL), RCM_OK);
    TU_ASSERT_STATUS_REPLY(r, "OK");
    rcm_reply_free(r);
    r = (rcm_reply *)(void *)&r;
    TU_ASSERT_RC(rcm_lease_read(l, 100, &r), RCM_ERR_TIMEOUT);
    assert_null(r);
    rcm_lease_release(l);
    rcm_client_close(c);
}

static void test_lease__release_after_timeout_gives_clean_next_lease(void **state) {
    (void)state;
    int port = tu_port(TU_PRIV_LEASE_TIMEOUT);
    int pid = tu_server_start_ok(port, NULL);
    rcm_client *c = tu_open_ok(port, "pool.max_leases", "1", "command_timeout_ms", "200",
                               "connect_timeout_ms", "3000", "pool.lease_timeout_ms", "5000", NULL);
    rcm_reply *r = tu_cmd_ok(c, "SET", "lease:fresh", "fresh-value", NULL);
    rcm_reply_free(r);

    rcm_lease *l = NULL;
    TU_ASSERT_RC(rcm_lease_acquire(c, NULL, 0, &l), RCM_OK);
    double t0 = tu_now();
    r = (rcm_reply *)(void *)&r;
    TU_ASSERT_RC(tu_lease_cmd(l, &r, "DEBUG", "SLEEP", "1", NULL), RCM_ERR_TIMEOUT);
    double dt = tu_now() - t0;
    assert_null(r);
    if (dt > 0.9) fail_msg("the 200 ms deadline of a lease command fired after %.3f s", dt);
    rcm_lease_release(l); /* a reply is still owed on this connection */

    /* wait for the server to wake up */
    int fd = tu_raw_connect(port);
    assert_true(fd >= 0);
    char buf[256];
    assert_int_equal(tu_raw_send(fd, "PING", NULL), 0);
    assert_int_equal(tu_raw_read(fd, buf, sizeof buf, 5000), 0);
    tu_raw_close(fd);

    l = NULL;
    TU_ASSERT_RC(rcm_lease_acquire(c, NULL, 0, &l), RCM_OK);
    for (int i = 0; i < 3; i++) {
        r = NULL;
        TU_ASSERT_RC(tu_lease_cmd(l, &r, "GET", "lease:fresh", NULL), RCM_OK);
        TU_ASSERT_CSTRING_REPLY(r, "fresh-value"); /* not the stale +OK of DEBUG SLEEP */
        rcm_reply_free(r);
    }
    rcm_lease_release(l);
    rcm_client_close(c);
    tu_server_stop(pid);
}

/* ---- the lease pool is bounded ----------------------------------------------------- */

struct waiter {
    rcm_client *client;
    rcm_status status;
    double seconds;
};

static void *waiter_main(void *p) {
    struct waiter *w = p;
    rcm_lease *l = NULL;
    double t0 = tu_now();
    w->status = rcm_lease_acquire(w->client, NULL, 0, &l);
    w->seconds = tu_now() - t0;
    if (w->status == RCM_OK) {
        rcm_reply *r = NULL;
        if (tu_lease_cmd(l, &r, "PING", NULL) != RCM_OK || !tu_is_status(r, "PONG"))
            w->status = RCM_ERR_INTERNAL;
        rcm_reply_free(r);
        rcm_lease_release(l);
    }
    return NULL;
}

static void test_lease__second_acquire_times_out_with_max_leases_one(void **state) {
    (void)state;
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), "pool.max_leases", "1",
                               "pool.lease_timeout_ms", "300", NULL);
    rcm_lease *l1 = NULL, *l2 = (rcm_lease *)(void *)&l1;
    TU_ASSERT_RC(rcm_lease_acquire(c, NULL, 0, &l1), RCM_OK);
    double t0 = tu_now();
    TU_ASSERT_RC(rcm_lease_acquire(c, NULL, 0, &l2), RCM_ERR_POOL_TIMEOUT);
    double dt = tu_now() - t0;
    assert_null(l2);
    assert_true(rcm_last_error()[0] != 0);
    printf("second acquire failed after %.3f s\n", dt);
    if (dt < 0.25) fail_msg("RCM_ERR_POOL_TIMEOUT after %.3f s: did not wait pool.lease_timeout_ms", dt);
    if (dt > 3.0) fail_msg("RCM_ERR_POOL_TIMEOUT after %.3f s (hang?)", dt);

    /* the shared connections are not leases: plain commands still work */
    rcm_reply *r = tu_cmd_ok(c, "PING", NULL);
    TU_ASSERT_STATUS_REPLY(r, "PONG");
    rcm_reply_free(r);

    rcm_lease_release(l1);
    TU_ASSERT_RC(rcm_lease_acquire(c, NULL, 0, &l2), RCM_OK);
    rcm_lease_release(l2);
    rcm_client_close(c);
}

/* With several I/O threads, pool.max_leases still bounds a server's leases (one pool of
 * leases, not one per I/O thread), and pool.size its shared connections. */
static rcm_status other_thread_status;
static rcm_lease *other_thread_lease;
static void *acquire_in_other_thread(void *arg) {
    other_thread_status = rcm_lease_acquire((rcm_client *)arg, NULL, 0, &other_thread_lease);
    return NULL;
}

static void test_lease__max_leases_and_pool_size_hold_with_io_threads(void **state) {
    (void)state;
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), "io_threads", "2", "pool.size", "3", "pool.max_leases", "1",
                               "pool.lease_timeout_ms", "300", NULL);
    /* Several threads, so that calls start from both I/O threads. */
    pthread_t th;
    pthread_create(&th, NULL, acquire_in_other_thread, c);
    pthread_join(th, NULL);
    TU_ASSERT_RC(other_thread_status, RCM_OK);
    rcm_lease *held = other_thread_lease;
    rcm_lease *l2 = NULL;
    for (int i = 0; i < 2; i++) {
        rcm_status st = RCM_OK;
        pthread_create(&th, NULL, acquire_in_other_thread, c);
        pthread_join(th, NULL);
        st = other_thread_status;
        if (st != RCM_ERR_POOL_TIMEOUT)
            fail_msg("a second lease with pool.max_leases=1 and io_threads=2: %s (expected RCM_ERR_POOL_TIMEOUT)",
                     rcm_status_name(st));
    }
    TU_ASSERT_RC(rcm_lease_acquire(c, NULL, 0, &l2), RCM_ERR_POOL_TIMEOUT);
    char *json = NULL;
    rcm_reply *r = tu_cmd_ok(c, "PING", NULL);
    rcm_reply_free(r);
    TU_ASSERT_RC(rcm_client_stats_json(c, &json), RCM_OK);
    long long conns = tu_json_number(json, "connections");
    long long leases = tu_json_number(json, "leases_total");
    printf("io_threads=2 pool.size=3 pool.max_leases=1: %lld shared connections, %lld leases\n", conns, leases);
    if (conns != 3) fail_msg("%lld shared connections with pool.size=3 and io_threads=2: %s", conns, json);
    if (leases != 1) fail_msg("%lld lease connections with pool.max_leases=1: %s", leases, json);
    rcm_free(json);
    /* Released from another thread than the one that took it: the next caller gets it. */
    rcm_lease_release(held);
    TU_ASSERT_RC(rcm_lease_acquire(c, NULL, 0, &l2), RCM_OK);
    rcm_lease_release(l2);
    rcm_client_close(c);
}

static void test_lease__waiter_gets_lease_released_in_time(void **state) {
    (void)state;
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), "pool.max_leases", "1",
                               "pool.lease_timeout_ms", "3000", NULL);
    rcm_lease *l1 = NULL;
    TU_ASSERT_RC(rcm_lease_acquire(c, NULL, 0, &l1), RCM_OK);
    struct waiter w = {c, (rcm_status)12345, 0};
    pthread_t t;
    tu_watchdog_arm(20, "lease waiter");
    pthread_create(&t, NULL, waiter_main, &w);
    tu_sleep_ms(200);
    rcm_lease_release(l1);
    pthread_join(t, NULL);
    tu_watchdog_disarm();
    TU_ASSERT_RC(w.status, RCM_OK);
    if (w.seconds > 2.5) fail_msg("the waiter got the released lease only after %.3f s", w.seconds);
    rcm_client_close(c);
}

/* ---- many threads, few leases -------------------------------------------------------- */

#define LEASE_THREADS 8
#define LEASE_ROUNDS 300

struct lease_worker {
    rcm_client *client;
    int id;
    int ok;
    int failed;
    int wrong;
    rcm_status first_failure;
};

static void *lease_worker_main(void *p) {
    struct lease_worker *w = p;
    char key[64], val[64];
    snprintf(key, sizeof key, "lease:worker:%d:%d", (int)getpid(), w->id);
    for (int i = 0; i < LEASE_ROUNDS; i++) {
        rcm_lease *l = NULL;
        rcm_status st = rcm_lease_acquire(w->client, NULL, 0, &l);
        if (st != RCM_OK) {
            if (w->failed++ == 0) w->first_failure = st;
            continue;
        }
        snprintf(val, sizeof val, "w%d-%d", w->id, i);
        rcm_reply *r = NULL;
        /* a transaction: only correct if nobody else uses this connection meanwhile */
        int good = tu_lease_cmd(l, &r, "MULTI", NULL) == RCM_OK && tu_is_status(r, "OK");
        rcm_reply_free(r);
        r = NULL;
        good = good && tu_lease_cmd(l, &r, "SET", key, val, NULL) == RCM_OK && tu_is_status(r, "QUEUED");
        rcm_reply_free(r);
        r = NULL;
        good = good && tu_lease_cmd(l, &r, "GET", key, NULL) == RCM_OK && tu_is_status(r, "QUEUED");
        rcm_reply_free(r);
        r = NULL;
        good = good && tu_lease_cmd(l, &r, "EXEC", NULL) == RCM_OK &&
               rcm_reply_length(r) == 2 && tu_is_cstring(rcm_reply_element(r, 1), val);
        rcm_reply_free(r);
        if (good) w->ok++;
        else w->wrong++;
        rcm_lease_release(l);
    }
    return NULL;
}

static void test_lease__many_threads_share_few_leases(void **state) {
    (void)state;
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), "pool.max_leases", "2",
                               "pool.lease_timeout_ms", "10000", "command_timeout_ms", "5000", NULL);
    struct lease_worker w[LEASE_THREADS];
    pthread_t t[LEASE_THREADS];
    tu_watchdog_arm(120, "8 threads sharing 2 leases");
    for (int i = 0; i < LEASE_THREADS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].client = c;
        w[i].id = i;
        pthread_create(&t[i], NULL, lease_worker_main, &w[i]);
    }
    int ok = 0, failed = 0, wrong = 0;
    for (int i = 0; i < LEASE_THREADS; i++) {
        pthread_join(t[i], NULL);
        ok += w[i].ok;
        failed += w[i].failed;
        wrong += w[i].wrong;
        if (w[i].failed) printf("thread %d: first failure %s\n", i, rcm_status_name(w[i].first_failure));
    }
    tu_watchdog_disarm();
    printf("%d transactions on leases: %d OK, %d failed to acquire, %d wrong\n",
           LEASE_THREADS * LEASE_ROUNDS, ok, failed, wrong);
    assert_int_equal(failed, 0);
    assert_int_equal(wrong, 0);
    char *json = NULL;
    TU_ASSERT_RC(rcm_client_stats_json(c, &json), RCM_OK);
    long long in_use = tu_json_number(json, "leases_in_use");
    long long total = tu_json_number(json, "leases_total");
    if (in_use != 0 || total > 2) fail_msg("after the workers: %s", json);
    rcm_free(json);
    rcm_client_close(c);
}

/* ---- pub/sub ------------------------------------------------------------------------ */

static void test_lease__subscribe_publish_read(void **state) {
    (void)state;
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), NULL);
    char ch[64];
    key_for(ch, sizeof ch, "channel");
    rcm_lease *l = NULL;
    rcm_reply *r;
    TU_ASSERT_RC(rcm_lease_acquire(c, NULL, 0, &l), RCM_OK);
    TU_ASSERT_RC(tu_lease_cmd(l, &r, "SUBSCRIBE", ch, NULL), RCM_OK);
    assert_int_equal(rcm_reply_type(r), RCM_REPLY_ARRAY);
    assert_int_equal(rcm_reply_length(r), 3);
    TU_ASSERT_CSTRING_REPLY(rcm_reply_element(r, 0), "subscribe");
    TU_ASSERT_CSTRING_REPLY(rcm_reply_element(r, 1), ch);
    TU_ASSERT_INT_REPLY(rcm_reply_element(r, 2), 1);
    rcm_reply_free(r);

    /* nothing yet */
    r = (rcm_reply *)(void *)&r;
    double t0 = tu_now();
    TU_ASSERT_RC(rcm_lease_read(l, 100, &r), RCM_ERR_TIMEOUT);
    double dt = tu_now() - t0;
    assert_null(r);
    if (dt > 2.0) fail_msg("rcm_lease_read(100 ms) returned after %.3f s", dt);

    const char msg[] = "hello\0world";
    const char *pa[] = {"PUBLISH", ch, msg};
    const size_t pl[] = {7, strlen(ch), sizeof msg - 1};
    TU_ASSERT_RC(rcm_command(c, 3, pa, pl, &r), RCM_OK);
    TU_ASSERT_INT_REPLY(r, 1); /* one subscriber: the lease */
    rcm_reply_free(r);
    r = NULL;
    TU_ASSERT_RC(rcm_lease_read(l, 2000, &r), RCM_OK);
    assert_int_equal(rcm_reply_type(r), RCM_REPLY_ARRAY);
    assert_int_equal(rcm_reply_length(r), 3);
    TU_ASSERT_CSTRING_REPLY(rcm_reply_element(r, 0), "message");
    TU_ASSERT_CSTRING_REPLY(rcm_reply_element(r, 1), ch);
    assert_true(tu_is_string(rcm_reply_element(r, 2), msg, sizeof msg - 1));
    rcm_reply_free(r);

    /* several messages arrive in order; -1 waits without a limit */
    char tok[32];
    for (int i = 0; i < 20; i++) {
        snprintf(tok, sizeof tok, "m%d", i);
        r = tu_cmd_ok(c, "PUBLISH", ch, tok, NULL);
        rcm_reply_free(r);
    }
    tu_watchdog_arm(20, "rcm_lease_read(-1)");
    for (int i = 0; i < 20; i++) {
        snprintf(tok, sizeof tok, "m%d", i);
        r = NULL;
        TU_ASSERT_RC(rcm_lease_read(l, i == 0 ? -1 : 2000, &r), RCM_OK);
        TU_ASSERT_CSTRING_REPLY(rcm_reply_element(r, 2), tok);
        rcm_reply_free(r);
    }
    tu_watchdog_disarm();

    TU_ASSERT_RC(tu_lease_cmd(l, &r, "UNSUBSCRIBE", ch, NULL), RCM_OK);
    assert_int_equal(rcm_reply_type(r), RCM_REPLY_ARRAY);
    TU_ASSERT_CSTRING_REPLY(rcm_reply_element(r, 0), "unsubscribe");
    rcm_reply_free(r);
    rcm_lease_release(l);
    rcm_client_close(c);
}

/* SUBSCRIBE a b answers twice: the first confirmation is the command's reply, the
 * second arrives pushed (rcm_lease_read); neither may be handed to a later command. */
static void test_lease__subscribe_several_channels(void **state) {
    (void)state;
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), "command_timeout_ms", "1000", NULL);
    char ch1[64], ch2[64];
    key_for(ch1, sizeof ch1, "multi-ch-1");
    key_for(ch2, sizeof ch2, "multi-ch-2");
    rcm_lease *l = NULL;
    rcm_reply *r = NULL;
    TU_ASSERT_RC(rcm_lease_acquire(c, NULL, 0, &l), RCM_OK);
    TU_ASSERT_RC(tu_lease_cmd(l, &r, "SUBSCRIBE", ch1, ch2, NULL), RCM_OK);
    assert_int_equal(rcm_reply_length(r), 3);
    TU_ASSERT_CSTRING_REPLY(rcm_reply_element(r, 0), "subscribe");
    TU_ASSERT_CSTRING_REPLY(rcm_reply_element(r, 1), ch1);
    TU_ASSERT_INT_REPLY(rcm_reply_element(r, 2), 1);
    rcm_reply_free(r);
    tu_sleep_ms(100); /* the second confirmation arrives while nothing is in flight */

    /* the second confirmation is read as a pushed message */
    r = NULL;
    TU_ASSERT_RC(rcm_lease_read(l, 1000, &r), RCM_OK);
    assert_int_equal(rcm_reply_type(r), RCM_REPLY_ARRAY);
    TU_ASSERT_CSTRING_REPLY(rcm_reply_element(r, 0), "subscribe");
    TU_ASSERT_CSTRING_REPLY(rcm_reply_element(r, 1), ch2);
    TU_ASSERT_INT_REPLY(rcm_reply_element(r, 2), 2);
    rcm_reply_free(r);

    /* the next command gets its own reply (in subscribed mode PING answers [pong, ""]) */
    r = NULL;
    rcm_status st = tu_lease_cmd(l, &r, "PING", NULL);
    if (st != RCM_OK)
        fail_msg("PING after SUBSCRIBE of two channels: %s '%s'", rcm_status_name(st), rcm_last_error());
    if (rcm_reply_type(r) != RCM_REPLY_ARRAY || !tu_is_cstring(rcm_reply_element(r, 0), "pong"))
        fail_msg("PING after SUBSCRIBE of two channels got %s", tu_describe(r));
    rcm_reply_free(r);

    /* messages of both channels arrive */
    r = tu_cmd_ok(c, "PUBLISH", ch2, "to-two", NULL);
    TU_ASSERT_INT_REPLY(r, 1);
    rcm_reply_free(r);
    r = tu_cmd_ok(c, "PUBLISH", ch1, "to-one", NULL);
    TU_ASSERT_INT_REPLY(r, 1);
    rcm_reply_free(r);
    r = NULL;
    TU_ASSERT_RC(rcm_lease_read(l, 2000, &r), RCM_OK);
    TU_ASSERT_CSTRING_REPLY(rcm_reply_element(r, 0), "message");
    TU_ASSERT_CSTRING_REPLY(rcm_reply_element(r, 2), "to-two");
    rcm_reply_free(r);
    r = NULL;
    TU_ASSERT_RC(rcm_lease_read(l, 2000, &r), RCM_OK);
    TU_ASSERT_CSTRING_REPLY(rcm_reply_element(r, 2), "to-one");
    rcm_reply_free(r);
    r = (rcm_reply *)(void *)&r;
    TU_ASSERT_RC(rcm_lease_read(l, 100, &r), RCM_ERR_TIMEOUT);
    rcm_lease_release(l);
    rcm_client_close(c);
}

/* UNSUBSCRIBE without arguments answers once per channel subscribed: one reply for the
 * command, the others pushed; then the connection is out of pub/sub mode. */
static void test_lease__unsubscribe_all_channels(void **state) {
    (void)state;
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), "command_timeout_ms", "1000",
                               "pool.max_leases", "1", NULL);
    char ch1[64], ch2[64];
    key_for(ch1, sizeof ch1, "unsub-1");
    key_for(ch2, sizeof ch2, "unsub-2");
    rcm_lease *l = NULL;
    rcm_reply *r = NULL;
    TU_ASSERT_RC(rcm_lease_acquire(c, NULL, 0, &l), RCM_OK);
    TU_ASSERT_RC(tu_lease_cmd(l, &r, "SUBSCRIBE", ch1, NULL), RCM_OK);
    rcm_reply_free(r);
    TU_ASSERT_RC(tu_lease_cmd(l, &r, "SUBSCRIBE", ch2, NULL), RCM_OK);
    TU_ASSERT_INT_REPLY(rcm_reply_element(r, 2), 2);
    rcm_reply_free(r);
    r = NULL;
    TU_ASSERT_RC(tu_lease_cmd(l, &r, "UNSUBSCRIBE", NULL), RCM_OK);
    TU_ASSERT_CSTRING_REPLY(rcm_reply_element(r, 0), "unsubscribe");
    TU_ASSERT_INT_REPLY(rcm_reply_element(r, 2), 1);
    rcm_reply_free(r);
    tu_sleep_ms(100);
    r = NULL;
    TU_ASSERT_RC(rcm_lease_read(l, 1000, &r), RCM_OK);
    TU_ASSERT_CSTRING_REPLY(rcm_reply_element(r, 0), "unsubscribe");
    TU_ASSERT_INT_REPLY(rcm_reply_element(r, 2), 0);
    rcm_reply_free(r);
    r = NULL;
    rcm_status st = tu_lease_cmd(l, &r, "PING", NULL);
    if (st != RCM_OK || !tu_is_status(r, "PONG"))
        fail_msg("PING after UNSUBSCRIBE of all channels: %s %s", rcm_status_name(st),
                 st == RCM_OK ? tu_describe(r) : rcm_last_error());
    rcm_reply_free(r);
    rcm_lease_release(l);
    /* out of pub/sub mode: the connection is reusable and clean */
    TU_ASSERT_RC(rcm_lease_acquire(c, NULL, 0, &l), RCM_OK);
    r = NULL;
    TU_ASSERT_RC(tu_lease_cmd(l, &r, "ECHO", "clean", NULL), RCM_OK);
    TU_ASSERT_CSTRING_REPLY(r, "clean");
    rcm_reply_free(r);
    rcm_lease_release(l);
    rcm_client_close(c);
}

/* UNSUBSCRIBE without arguments answers once per channel. Only the first confirmation
 * answers it: the others, however late they come (many channels: after the next command
 * was sent), go to the inbox, never to the next command, which gets its own reply. */
static void test_lease__unsubscribe_all_confirmations_never_answer_the_next_command(void **state) {
    (void)state;
    enum { CHANNELS = 3000 };
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), "command_timeout_ms", "10000", "pool.max_leases", "1", NULL);
    char key[64];
    key_for(key, sizeof key, "unsub-all-key");
    rcm_reply *r = tu_cmd_ok(c, "SET", key, "own-reply", NULL);
    rcm_reply_free(r);
    static char names[CHANNELS][64];
    static const char *argv[CHANNELS + 1];
    argv[0] = "SUBSCRIBE";
    for (int i = 0; i < CHANNELS; i++) {
        char what[32];
        snprintf(what, sizeof what, "unsub-all-%d", i);
        key_for(names[i], sizeof names[i], what);
        argv[i + 1] = names[i];
    }
    rcm_lease *l = NULL;
    TU_ASSERT_RC(rcm_lease_acquire(c, NULL, 0, &l), RCM_OK);
    for (int round = 0; round < 2; round++) {
        /* round 0 with every channel, round 1 with three */
        int n = round == 0 ? CHANNELS : 3;
        r = NULL;
        TU_ASSERT_RC(rcm_lease_command(l, n + 1, argv, NULL, &r), RCM_OK);
        TU_ASSERT_CSTRING_REPLY(rcm_reply_element(r, 0), "subscribe");
        rcm_reply_free(r);
        r = NULL;
        TU_ASSERT_RC(tu_lease_cmd(l, &r, "UNSUBSCRIBE", NULL), RCM_OK);
        TU_ASSERT_CSTRING_REPLY(rcm_reply_element(r, 0), "unsubscribe");
        rcm_reply_free(r);
        /* at once, without waiting for the other confirmations */
        r = NULL;
        rcm_status st = tu_lease_cmd(l, &r, "PING", NULL);
        if (st != RCM_OK || !tu_is_status(r, "PONG"))
            fail_msg("round %d: PING after UNSUBSCRIBE of %d channels got %s", round, n,
                     st == RCM_OK ? tu_describe(r) : rcm_last_error());
        rcm_reply_free(r);
        r = NULL;
        st = tu_lease_cmd(l, &r, "GET", key, NULL);
        if (st != RCM_OK || !tu_is_cstring(r, "own-reply"))
            fail_msg("round %d: GET after UNSUBSCRIBE of %d channels got %s", round, n,
                     st == RCM_OK ? tu_describe(r) : rcm_last_error());
        rcm_reply_free(r);
        /* every other confirmation is in the inbox, in order: n-1 subscribes, n-1 unsubscribes */
        for (int i = 1; i < 2 * n - 1; i++) {
            const char *kind = i < n ? "subscribe" : "unsubscribe";
            long long count = i < n ? i + 1 : 2 * n - 2 - i;
            r = NULL;
            TU_ASSERT_RC(rcm_lease_read(l, 5000, &r), RCM_OK);
            if (!tu_is_cstring(rcm_reply_element(r, 0), kind) || !tu_is_integer(rcm_reply_element(r, 2), count))
                fail_msg("round %d: inbox item %d: expected [%s, ..., %lld], got %s (element 0) / %s (element 2)",
                         round, i, kind, count, tu_describe(rcm_reply_element(r, 0)),
                         tu_describe(rcm_reply_element(r, 2)));
            rcm_reply_free(r);
        }
        r = NULL;
        TU_ASSERT_RC(rcm_lease_read(l, 0, &r), RCM_ERR_TIMEOUT);
    }
    rcm_lease_release(l);
    rcm_client_close(c);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lease__blpop_while_shared_commands_progress),
        cmocka_unit_test(test_lease__blocking_timeout_extends_the_deadline),
        cmocka_unit_test(test_lease__release_in_multi_gives_clean_next_lease),
        cmocka_unit_test(test_lease__release_drops_watch),
        cmocka_unit_test(test_lease__release_reselects_db),
        cmocka_unit_test(test_lease__release_while_subscribed_gives_clean_next_lease),
        cmocka_unit_test(test_lease__release_after_timeout_gives_clean_next_lease),
        cmocka_unit_test(test_lease__second_acquire_times_out_with_max_leases_one),
        cmocka_unit_test(test_lease__max_leases_and_pool_size_hold_with_io_threads),
        cmocka_unit_test(test_lease__waiter_gets_lease_released_in_time),
        cmocka_unit_test(test_lease__many_threads_share_few_leases),
        cmocka_unit_test(test_lease__subscribe_publish_read),
        cmocka_unit_test(test_lease__subscribe_several_channels),
        cmocka_unit_test(test_lease__unsubscribe_all_channels),
        cmocka_unit_test(test_lease__unsubscribe_all_confirmations_never_answer_the_next_command),
    };
    return TU_RUN(tests, argc, argv);
}
