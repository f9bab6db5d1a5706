/* capi.cache: client-side caching on a standalone server. Hits are the server's replies,
 * owned copies; this client's writes are seen at once and another client's once its
 * invalidation came (the window is measured and printed); the race of a read's reply
 * with an invalidation is driven hard and leaves no stale entry; the bounds hold; a
 * FLUSHALL and a killed invalidation connection drop what they covered; the bypass flag
 * and the stats. Tests that flush or kill connections use a private server (base+73). */
#define _GNU_SOURCE
#include "test_util.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache_util.h"

/* ---- hits ----------------------------------------------------------------------------- */

static void test_cache__hit_is_the_servers_reply_as_an_owned_copy(void **state) {
    (void)state;
    tu_watchdog_arm(60, "hit");
    rcm_client *c = cc_open_cached(tu_port(TU_PLAIN), NULL);
    char key[64];
    cc_key(key, sizeof key, "hit", 0);
    rcm_reply_free(tu_cmd_ok(c, "SET", key, "v1", NULL));
    rcm_reply_free(tu_cmd_ok(c, "HSET", key, "f", "x", NULL)); /* WRONGTYPE: errors are not cached */
    rcm_reply_free(tu_cmd_ok(c, "DEL", key, NULL));
    rcm_reply_free(tu_cmd_ok(c, "SET", key, "v1", NULL));
    long long hits0 = cc_stat(c, "hits");
    rcm_reply *a = tu_cmd_ok(c, "GET", key, NULL);
    TU_ASSERT_CSTRING_REPLY(a, "v1");
    /* The first read may have come before the invalidation connection listened (then it
     * is not stored): read until one is a hit, a bounded number of times. */
    rcm_reply *b = NULL;
    for (int i = 0; i < 200 && cc_stat(c, "hits") == hits0; i++) {
        rcm_reply_free(b);
        b = tu_cmd_ok(c, "GET", key, NULL);
        if (cc_stat(c, "hits") == hits0) tu_sleep_ms(10);
    }
    assert_true(cc_stat(c, "hits") > hits0);
    TU_ASSERT_CSTRING_REPLY(b, "v1");
    assert_ptr_not_equal(a, b);
    rcm_reply_free(a); /* each is the caller's own */
    rcm_reply_free(b);
    /* A hit in a pipeline and through the async call. */
    rcm_pipeline *p = NULL;
    TU_ASSERT_RC(rcm_pipeline_new(c, &p), RCM_OK);
    const char *get[] = {"GET", key};
    const char *mget[] = {"MGET", key, key};
    TU_ASSERT_RC(rcm_pipeline_append(p, 2, get, NULL), RCM_OK);
    TU_ASSERT_RC(rcm_pipeline_append(p, 3, mget, NULL), RCM_OK);
    rcm_reply **out = NULL;
    size_t n = 0;
    TU_ASSERT_RC(rcm_pipeline_exec(p, &out, &n), RCM_OK);
    assert_int_equal(n, 2);
    TU_ASSERT_CSTRING_REPLY(out[0], "v1");
    assert_int_equal(rcm_reply_length(out[1]), 2);
    TU_ASSERT_CSTRING_REPLY(rcm_reply_element(out[1], 1), "v1");
    for (size_t i = 0; i < n; i++) rcm_reply_free(out[i]);
    rcm_free(out);
    rcm_pipeline_free(p);
    /* A read after a write in one pipeline sees the write, even with the old value
     * cached again between the append and the exec (the write has not run then). */
    TU_ASSERT_RC(rcm_pipeline_new(c, &p), RCM_OK);
    const char *set[] = {"SET", key, "v2"};
    TU_ASSERT_RC(rcm_pipeline_append(p, 3, set, NULL), RCM_OK);
    long long h0 = cc_stat(c, "hits");
    for (int i = 0; i < 500 && cc_stat(c, "hits") == h0; i++) {
        rcm_reply *g = tu_cmd_ok(c, "GET", key, NULL);
        TU_ASSERT_CSTRING_REPLY(g, "v1");
        rcm_reply_free(g);
    }
    assert_true(cc_stat(c, "hits") > h0);
    TU_ASSERT_RC(rcm_pipeline_append(p, 2, get, NULL), RCM_OK);
    TU_ASSERT_RC(rcm_pipeline_exec(p, &out, &n), RCM_OK);
    assert_int_equal(n, 2);
    TU_ASSERT_CSTRING_REPLY(out[1], "v2");
    for (size_t i = 0; i < n; i++) rcm_reply_free(out[i]);
    rcm_free(out);
    rcm_pipeline_free(p);
    rcm_reply_free(tu_cmd_ok(c, "SET", key, "v1", NULL));
    cc_warm(c, key, "v1");
    /* What a hit costs the caller (printed, not asserted): rcm_command end to end. */
    enum { HITS = 200000 };
    long long before = cc_stat(c, "hits");
    double t0 = tu_now();
    for (int i = 0; i < HITS; i++) {
        rcm_reply *h = NULL;
        rcm_command(c, 2, get, NULL, &h);
        rcm_reply_free(h);
    }
    double per_hit_ns = (tu_now() - t0) * 1e9 / HITS;
    assert_int_equal(cc_stat(c, "hits") - before, HITS);
    printf("a cached GET through rcm_command: %.0f ns (mean of %d hits)\n", per_hit_ns, HITS);
    cc_async_result res;
    cc_async_get(c, key, &res);
    assert_int_equal(res.status, RCM_OK);
    assert_string_equal(res.value, "v1");
    char *json = NULL;
    TU_ASSERT_RC(rcm_client_stats_json(c, &json), RCM_OK);
    assert_true(tu_json_valid(json));
    const char *cache = strstr(json, "\"cache\"");
    assert_non_null(cache);
    assert_non_null(strstr(cache, "\"nodes\""));
    char node[64];
    snprintf(node, sizeof node, "\"127.0.0.1:%d\"", tu_port(TU_PLAIN));
    assert_non_null(strstr(cache, node));
    assert_true(tu_json_number(strstr(cache, node), "hits") > 0);
    assert_true(tu_json_number(cache, "entries") > 0);
    assert_true(tu_json_number(cache, "bytes") > 0);
    rcm_free(json);
    rcm_client_close(c);
    tu_watchdog_disarm();
}

/* SET key 1..n through c, each acknowledged SET followed by a GET that must see it. */
static void own_writes_are_seen(rcm_client *c, const char *key, int n) {
    char val[32];
    for (int i = 1; i <= n; i++) {
        snprintf(val, sizeof val, "%d", i);
        rcm_reply_free(tu_cmd_ok(c, "SET", key, val, NULL));
        rcm_reply *r = tu_cmd_ok(c, "GET", key, NULL);
        if (!tu_is_cstring(r, val)) fail_msg("after SET %s acknowledged: GET gave %s", val, tu_describe(r));
        rcm_reply_free(r);
    }
}

static void test_cache__own_write_is_seen_by_the_next_read(void **state) {
    (void)state;
    tu_watchdog_arm(60, "own write");
    rcm_client *c = cc_open_cached(tu_port(TU_PLAIN), NULL);
    char key[64];
    cc_key(key, sizeof key, "own", 0);
    cc_warm(c, key, "0");
    own_writes_are_seen(c, key, 500);
    assert_true(cc_stat(c, "invalidations") > 0);
    rcm_client_close(c);
    tu_watchdog_disarm();
}

/* rcm_cache_get answers from the cache alone: NULL on a miss (nothing sent, nothing
 * stored), the entry after a read filled it, NULL again once this client's write dropped
 * it, NULL for a command it does not answer; bad arguments are RCM_ERR_ARG. */
static void test_cache__cache_get_answers_hits_only(void **state) {
    (void)state;
    tu_watchdog_arm(60, "cache_get");
    rcm_client *c = cc_open_cached(tu_port(TU_PLAIN), NULL);
    char key[64];
    cc_key(key, sizeof key, "cget", 0);
    const char *argv[] = {"GET", key};
    rcm_reply *r = (rcm_reply *)1;
    assert_int_equal(rcm_cache_get(c, 2, argv, NULL, &r), RCM_OK);
    assert_null(r);
    assert_int_equal(cc_stat(c, "misses"), 0); /* a look only: the ordinary call counts */
    cc_warm(c, key, "v1");
    assert_int_equal(rcm_cache_get(c, 2, argv, NULL, &r), RCM_OK);
    if (!tu_is_cstring(r, "v1")) fail_msg("cache_get after warm-up gave %s", tu_describe(r));
    rcm_reply_free(r);
    rcm_reply_free(tu_cmd_ok(c, "SET", key, "v2", NULL));
    assert_int_equal(rcm_cache_get(c, 2, argv, NULL, &r), RCM_OK);
    assert_null(r);
    const char *ping[] = {"PING"};
    assert_int_equal(rcm_cache_get(c, 1, ping, NULL, &r), RCM_OK);
    assert_null(r);
    assert_int_equal(rcm_cache_get(NULL, 2, argv, NULL, &r), RCM_ERR_ARG);
    assert_int_equal(rcm_cache_get(c, 0, argv, NULL, &r), RCM_ERR_ARG);
    assert_int_equal(rcm_cache_get(c, 2, argv, NULL, NULL), RCM_ERR_ARG);
    rcm_client_close(c);
    tu_watchdog_disarm();
}

/* ---- single-flight: concurrent misses of one entry ------------------------------------- */

typedef struct flight_reader {
    rcm_client *c;
    const char *key;
    const char *expect; /* NULL: any value (the writer test's readers) */
    atomic_int *stop;   /* NULL: read once */
    int failed;
    char got[64];
} flight_reader;

static void *flight_read(void *p) {
    flight_reader *fr = p;
    do {
        const char *argv[] = {"GET", fr->key};
        rcm_reply *r = NULL;
        if (rcm_command(fr->c, 2, argv, NULL, &r) != RCM_OK || (fr->expect && !tu_is_cstring(r, fr->expect))) {
            snprintf(fr->got, sizeof fr->got, "%s", r ? tu_describe(r) : rcm_last_error());
            fr->failed = 1;
        }
        rcm_reply_free(r);
    } while (fr->stop && !atomic_load(fr->stop) && !fr->failed);
    return NULL;
}

/* Eight threads miss one entry while the server sleeps: one read reaches the server, the
 * others wait for its reply (the node's "misses" counts reads sent). */
static void test_cache__concurrent_misses_of_one_entry_send_one_read(void **state) {
    (void)state;
    tu_watchdog_arm(60, "single-flight");
    int port = tu_port(TU_PRIV_CACHE);
    int pid = cc_private_server(port);
    rcm_client *c = cc_open_cached(port, "command_timeout_ms", "20000", NULL);
    rcm_client *other = tu_open_ok(port, NULL);
    char key[64], warm[64];
    cc_key(key, sizeof key, "flight", 0);
    cc_key(warm, sizeof warm, "flight-warm", 0);
    cc_warm(c, warm, "w"); /* the node's invalidation connection is up: replies are stored */
    rcm_reply_free(tu_cmd_ok(other, "SET", key, "v", NULL));
    long long sent = cc_node_stat(c, port, "misses");
    int fd = tu_raw_debug_sleep_ok(pid, port, "1");
    enum { N = 8 };
    pthread_t th[N];
    flight_reader fr[N];
    for (int i = 0; i < N; i++) {
        fr[i] = (flight_reader){c, key, "v", NULL, 0, ""};
        assert_int_equal(pthread_create(&th[i], NULL, flight_read, &fr[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        if (fr[i].failed) fail_msg("reader %d got %s", i, fr[i].got);
    }
    char buf[64];
    tu_raw_read(fd, buf, sizeof buf, 5000);
    tu_raw_close(fd);
    long long now = cc_node_stat(c, port, "misses");
    printf("single-flight: %d readers, %lld reads sent\n", N, now - sent);
    assert_int_equal(now - sent, 1);
    rcm_client_close(other);
    rcm_client_close(c);
    tu_watchdog_disarm();
}

/* The client shut down while readers wait for a read in flight: each completes (its
 * reply, or RCM_ERR_CLOSED), none hangs. */
static void test_cache__shutdown_completes_readers_waiting_for_a_read_in_flight(void **state) {
    (void)state;
    tu_watchdog_arm(60, "single-flight shutdown");
    int port = tu_port(TU_PRIV_CACHE);
    int pid = cc_private_server(port);
    rcm_client *c = cc_open_cached(port, "command_timeout_ms", "20000", NULL);
    char key[64], warm[64];
    cc_key(key, sizeof key, "flight-close", 0);
    cc_key(warm, sizeof warm, "flight-close-warm", 0);
    cc_warm(c, warm, "w");
    long long misses = cc_stat(c, "misses");
    int fd = tu_raw_debug_sleep_ok(pid, port, "2");
    enum { N = 4 };
    pthread_t th[N];
    flight_reader fr[N];
    for (int i = 0; i < N; i++) {
        fr[i] = (flight_reader){c, key, NULL, NULL, 0, ""};
        assert_int_equal(pthread_create(&th[i], NULL, flight_read, &fr[i]), 0);
    }
    for (double until = tu_now() + 10; cc_stat(c, "misses") < misses + N && tu_now() < until;) tu_sleep_ms(5);
    assert_int_equal(cc_stat(c, "misses"), misses + N); /* all missed: one leads, the others wait */
    assert_int_equal(rcm_client_shutdown(c), RCM_OK);
    int closed = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        closed += fr[i].failed;
    }
    printf("shutdown: %d of %d readers failed (closed)\n", closed, N);
    assert_int_equal(closed, N);
    char buf[64];
    tu_raw_read(fd, buf, sizeof buf, 5000);
    tu_raw_close(fd);
    rcm_client_close(c);
    tu_watchdog_disarm();
}

/* This client's write, acknowledged, is seen by its next read even while other threads
 * keep reading the key (a read in flight from before the write must not answer it). */
static void test_cache__own_write_is_seen_while_other_threads_read_it(void **state) {
    (void)state;
    tu_watchdog_arm(120, "own write, readers");
    rcm_client *c = cc_open_cached(tu_port(TU_PLAIN), NULL);
    char key[64];
    cc_key(key, sizeof key, "own-flight", 0);
    cc_warm(c, key, "0");
    enum { N = 4 };
    atomic_int stop = 0;
    pthread_t th[N];
    flight_reader fr[N];
    for (int i = 0; i < N; i++) {
        fr[i] = (flight_reader){c, key, NULL, &stop, 0, ""};
        assert_int_equal(pthread_create(&th[i], NULL, flight_read, &fr[i]), 0);
    }
    own_writes_are_seen(c, key, 300);
    atomic_store(&stop, 1);
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        if (fr[i].failed) fail_msg("reader %d: %s", i, fr[i].got);
    }
    rcm_client_close(c);
    tu_watchdog_disarm();
}

static void test_cache__no_cache_flag_bypasses_and_bad_flags_are_refused(void **state) {
    (void)state;
    tu_watchdog_arm(60, "flags");
    rcm_client *c = cc_open_cached(tu_port(TU_PLAIN), NULL);
    char key[64];
    cc_key(key, sizeof key, "flag", 0);
    cc_warm(c, key, "x");
    long long hits = cc_stat(c, "hits"), misses = cc_stat(c, "misses");
    const char *argv[] = {"GET", key};
    for (int i = 0; i < 20; i++) {
        rcm_reply *r = NULL;
        TU_ASSERT_RC(rcm_command_flags(c, RCM_CALL_NO_CACHE, 2, argv, NULL, &r), RCM_OK);
        TU_ASSERT_CSTRING_REPLY(r, "x");
        rcm_reply_free(r);
    }
    assert_int_equal(cc_stat(c, "hits"), hits);
    assert_int_equal(cc_stat(c, "misses"), misses);
    rcm_reply *r = (rcm_reply *)0x1;
    TU_ASSERT_RC(rcm_command_flags(c, 0x2, 2, argv, NULL, &r), RCM_ERR_ARG);
    assert_null(r);
    TU_ASSERT_RC(rcm_command_async_flags(c, 0x80000000u, 2, argv, NULL, cc_async_cb, NULL), RCM_ERR_ARG);
    /* flags 0 is the ordinary call: a hit. */
    TU_ASSERT_RC(rcm_command_flags(c, 0, 2, argv, NULL, &r), RCM_OK);
    TU_ASSERT_CSTRING_REPLY(r, "x");
    rcm_reply_free(r);
    assert_true(cc_stat(c, "hits") > hits);
    /* Without cache.max_bytes the stats have no "cache" object. */
    rcm_client *plain = tu_open_ok(tu_port(TU_PLAIN), NULL);
    char *json = NULL;
    TU_ASSERT_RC(rcm_client_stats_json(plain, &json), RCM_OK);
    assert_null(strstr(json, "\"cache\""));
    rcm_free(json);
    rcm_client_close(plain);
    rcm_client_close(c);
    tu_watchdog_disarm();
}

/* Every default command: a hit equals what the server answers (read past the cache),
 * and one write to the key drops every entry read from it (HGET, HGETALL, ... of one
 * hash). */
static int same_reply(const rcm_reply *a, const rcm_reply *b) {
    if (rcm_reply_type(a) != rcm_reply_type(b)) return 0;
    switch (rcm_reply_type(a)) {
        case RCM_REPLY_INTEGER: return rcm_reply_integer(a) == rcm_reply_integer(b);
        case RCM_REPLY_ARRAY:
            if (rcm_reply_length(a) != rcm_reply_length(b)) return 0;
            for (size_t i = 0; i < rcm_reply_length(a); i++)
                if (!same_reply(rcm_reply_element(a, i), rcm_reply_element(b, i))) return 0;
            return 1;
        default: {
            size_t la = 0, lb = 0;
            const char *sa = rcm_reply_string(a, &la), *sb = rcm_reply_string(b, &lb);
            return la == lb && (la == 0 || memcmp(sa, sb, la) == 0);
        }
    }
}

static void test_cache__every_default_command_hits_as_the_server_answers(void **state) {
    (void)state;
    tu_watchdog_arm(60, "commands");
    rcm_client *c = cc_open_cached(tu_port(TU_PLAIN), NULL);
    rcm_client *other = tu_open_ok(tu_port(TU_PLAIN), NULL);
    char s[64], h[64], l[64], z[64], set[64];
    cc_key(s, sizeof s, "cmd-str", 0);
    cc_key(h, sizeof h, "cmd-hash", 0);
    cc_key(l, sizeof l, "cmd-list", 0);
    cc_key(z, sizeof z, "cmd-zset", 0);
    cc_key(set, sizeof set, "cmd-set", 0);
    rcm_reply_free(tu_cmd_ok(c, "DEL", s, h, l, z, set, NULL));
    rcm_reply_free(tu_cmd_ok(c, "SET", s, "hello\0world", NULL));
    rcm_reply_free(tu_cmd_ok(c, "HSET", h, "f1", "a", "f2", "b", NULL));
    rcm_reply_free(tu_cmd_ok(c, "RPUSH", l, "x", "y", "z", NULL));
    rcm_reply_free(tu_cmd_ok(c, "ZADD", z, "1.5", "m1", "2", "m2", NULL));
    rcm_reply_free(tu_cmd_ok(c, "SADD", set, "only", NULL));
    const char *cmds[][5] = {
        {"GET", s, NULL},          {"STRLEN", s, NULL},        {"TYPE", h, NULL},
        {"EXISTS", l, NULL},       {"HGET", h, "f1", NULL},    {"HGET", h, "nope", NULL},
        {"HGETALL", h, NULL},      {"HMGET", h, "f2", "f1", NULL}, {"LRANGE", l, "0", "-1", NULL},
        {"ZRANGE", z, "0", "-1", NULL}, {"ZSCORE", z, "m1", NULL}, {"SMEMBERS", set, NULL},
        {"SISMEMBER", set, "only", NULL}, {"MGET", s, h, NULL},
    };
    const int n = (int)(sizeof cmds / sizeof cmds[0]);
    for (int i = 0; i < n; i++) {
        int argc = 0;
        while (argc < 5 && cmds[i][argc]) argc++;
        rcm_reply *server = NULL;
        TU_ASSERT_RC(rcm_command_flags(c, RCM_CALL_NO_CACHE, argc, cmds[i], NULL, &server), RCM_OK);
        long long hits = cc_stat(c, "hits");
        rcm_reply *cached = NULL;
        for (int k = 0; k < 300 && cc_stat(c, "hits") == hits; k++) {
            rcm_reply_free(cached);
            TU_ASSERT_RC(rcm_command(c, argc, cmds[i], NULL, &cached), RCM_OK);
            if (cc_stat(c, "hits") == hits) tu_sleep_ms(2);
        }
        if (cc_stat(c, "hits") == hits) fail_msg("%s: never a hit", cmds[i][0]);
        if (!same_reply(server, cached))
            fail_msg("%s: the cache gave %s, the server %s", cmds[i][0], tu_describe(cached), tu_describe(server));
        rcm_reply_free(server);
        rcm_reply_free(cached);
    }
    /* Another client's HSET drops HGET, HGETALL and HMGET of the hash. */
    rcm_reply_free(tu_cmd_ok(other, "HSET", h, "f1", "changed", NULL));
    double until = tu_now() + 10;
    for (;;) {
        rcm_reply *a = tu_cmd_ok(c, "HGET", h, "f1", NULL);
        rcm_reply *b = tu_cmd_ok(c, "HMGET", h, "f2", "f1", NULL);
        rcm_reply *all = tu_cmd_ok(c, "HGETALL", h, NULL);
        int fresh = tu_is_cstring(a, "changed") && tu_is_cstring(rcm_reply_element(b, 1), "changed") &&
                    rcm_reply_length(all) == 4;
        int all_fresh = 0;
        for (size_t i = 0; i + 1 < rcm_reply_length(all); i += 2)
            if (tu_is_cstring(rcm_reply_element(all, i), "f1")) all_fresh = tu_is_cstring(rcm_reply_element(all, i + 1), "changed");
        rcm_reply_free(a);
        rcm_reply_free(b);
        rcm_reply_free(all);
        if (fresh && all_fresh) break;
        if (tu_now() > until) fail_msg("HGET/HMGET/HGETALL still old 10 s after another client's HSET");
        tu_sleep_ms(1);
    }
    rcm_client_close(other);
    rcm_client_close(c);
    tu_watchdog_disarm();
}

/* ---- another client's writes ------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The window: from the writer's acknowledgement to the first read of the reader (a
 * cached client) that sees the new value. Printed; the test asserts that every change is
 * seen (within a generous bound) and that once seen, the old value never comes back. */
static void test_cache__another_clients_write_is_seen_after_its_invalidation(void **state) {
    (void)state;
    tu_watchdog_arm(120, "window");
    rcm_client *reader = cc_open_cached(tu_port(TU_PLAIN), NULL);
    rcm_client *writer = tu_open_ok(tu_port(TU_PLAIN), NULL);
    char key[64], val[32];
    cc_key(key, sizeof key, "window", 0);
    rcm_reply_free(tu_cmd_ok(writer, "SET", key, "0", NULL));
    cc_warm(reader, key, "0");
    enum { N = 300 };
    static double applied_us[N], seen_us[N];
    long long hits0 = cc_stat(reader, "hits");
    for (int i = 1; i <= N; i++) {
        snprintf(val, sizeof val, "%d", i);
        /* The old value is cached: read it once more (a hit) before the write. */
        rcm_reply_free(tu_cmd_ok(reader, "GET", key, NULL));
        rcm_reply_free(tu_cmd_ok(writer, "SET", key, val, NULL));
        double acked = tu_now(), sent = 0, seen = 0;
        while (!seen) {
            double before = tu_now();
            rcm_reply *r = tu_cmd_ok(reader, "GET", key, NULL);
            if (tu_is_cstring(r, val)) {
                seen = tu_now();
                sent = before;
            }
            rcm_reply_free(r);
            if (!seen && tu_now() - acked > 10) fail_msg("GET still gives the old value 10 s after SET %s", val);
            /* Leave the CPU to the I/O thread that applies the invalidation (2 cores). */
            if (!seen) sched_yield();
        }
        /* The read that saw the new value started after the entry was gone (a hit of
         * the old one takes a microsecond or so): that start bounds when the
         * invalidation was applied; its end is when the reader had the new value. */
        applied_us[i - 1] = (sent - acked) * 1e6;
        seen_us[i - 1] = (seen - acked) * 1e6;
        rcm_reply *r = tu_cmd_ok(reader, "GET", key, NULL); /* never back to the old value */
        if (!tu_is_cstring(r, val)) fail_msg("after seeing %s, GET gave %s", val, tu_describe(r));
        rcm_reply_free(r);
    }
    assert_true(cc_stat(reader, "hits") - hits0 >= N); /* the reads before each write were hits */
    qsort(applied_us, N, sizeof applied_us[0], cmp_double);
    qsort(seen_us, N, sizeof seen_us[0], cmp_double);
    printf("cache invalidation delay (writer ack -> invalidation applied in the reader's cache), %d writes: "
           "p50 %.0f us, p90 %.0f us, p99 %.0f us, max %.0f us\n",
           N, applied_us[N / 2], applied_us[N * 9 / 10], applied_us[N * 99 / 100], applied_us[N - 1]);
    printf("cache window (writer ack -> reader has the new value), %d writes: p50 %.0f us, p90 %.0f us, "
           "p99 %.0f us, max %.0f us\n",
           N, seen_us[N / 2], seen_us[N * 9 / 10], seen_us[N * 99 / 100], seen_us[N - 1]);
    rcm_client_close(writer);
    rcm_client_close(reader);
    tu_watchdog_disarm();
}

/* ---- the race --------------------------------------------------------------------------- */

static void test_cache__race_of_reads_and_invalidations_leaves_no_stale_entry(void **state) {
    (void)state;
    tu_watchdog_arm(120, "race");
    cc_race_run(tu_port(TU_PLAIN), "race", 2.5);
    tu_watchdog_disarm();
}

/* ---- bounds ----------------------------------------------------------------------------- */

static void test_cache__entries_and_bytes_stay_within_their_bounds(void **state) {
    (void)state;
    tu_watchdog_arm(120, "bounds");
    rcm_client *c = cc_open_cached(tu_port(TU_PLAIN), "cache.max_entries", "50", "cache.max_bytes", "20000", NULL);
    char key[64];
    cc_key(key, sizeof key, "bound-warm", 0);
    cc_warm(c, key, "w");
    char big[600];
    memset(big, 'b', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    long long max_entries = 0, max_bytes = 0;
    for (int i = 0; i < 400; i++) {
        cc_key(key, sizeof key, "bound", i);
        rcm_reply_free(tu_cmd_ok(c, "SET", key, i % 2 ? big : "small", NULL));
        for (int k = 0; k < 2; k++) rcm_reply_free(tu_cmd_ok(c, "GET", key, NULL));
        long long e = cc_stat(c, "entries"), b = cc_stat(c, "bytes");
        if (e > 50) fail_msg("%lld entries cached, cache.max_entries is 50", e);
        if (b > 20000) fail_msg("%lld bytes cached, cache.max_bytes is 20000", b);
        if (e > max_entries) max_entries = e;
        if (b > max_bytes) max_bytes = b;
    }
    printf("bounds: at most %lld entries (50) and %lld bytes (20000); %lld evictions\n", max_entries, max_bytes,
           cc_stat(c, "evictions"));
    assert_true(cc_stat(c, "evictions") > 0);
    assert_true(max_entries > 1);
    rcm_client_close(c);
    tu_watchdog_disarm();
}

/* ---- flush and a killed invalidation connection (private server) ------------------------ */

static void test_cache__flushall_by_another_client_empties_the_cache(void **state) {
    (void)state;
    tu_watchdog_arm(60, "flushall");
    int port = tu_port(TU_PRIV_CACHE);
    cc_private_server(port);
    rcm_client *c = cc_open_cached(port, NULL);
    rcm_client *other = tu_open_ok(port, NULL);
    char key[64];
    for (int i = 0; i < 10; i++) {
        cc_key(key, sizeof key, "flush", i);
        cc_warm(c, key, "v");
    }
    assert_true(cc_stat(c, "entries") >= 10);
    rcm_reply_free(tu_cmd_ok(other, "FLUSHALL", NULL));
    for (int i = 0; i < 10; i++) {
        cc_key(key, sizeof key, "flush", i);
        cc_wait_value(c, key, NULL, 10);
    }
    /* This client's own FLUSHDB: nothing cached is served after its reply. */
    for (int i = 0; i < 10; i++) {
        cc_key(key, sizeof key, "flush", i);
        cc_warm(c, key, "v");
    }
    rcm_reply_free(tu_cmd_ok(c, "FLUSHDB", NULL));
    for (int i = 0; i < 10; i++) {
        cc_key(key, sizeof key, "flush", i);
        rcm_reply *r = tu_cmd_ok(c, "GET", key, NULL);
        if (rcm_reply_type(r) != RCM_REPLY_NIL) fail_msg("GET %s after FLUSHDB: %s", key, tu_describe(r));
        rcm_reply_free(r);
    }
    rcm_client_close(other);
    rcm_client_close(c);
    tu_watchdog_disarm();
}

static void test_cache__killed_invalidation_connection_drops_what_it_covered(void **state) {
    (void)state;
    tu_watchdog_arm(60, "client kill");
    int port = tu_port(TU_PRIV_CACHE);
    cc_private_server(port);
    /* A long reconnect backoff keeps the invalidation connection down for a while:
     * what is checked is the time between its loss and its return. */
    rcm_client *c = cc_open_cached(port, "retry.backoff_ms", "3000", "retry.backoff_max_ms", "3000", NULL);
    rcm_client *other = tu_open_ok(port, NULL);
    char key[64];
    cc_key(key, sizeof key, "kill", 0);
    cc_warm(c, key, "before");
    assert_int_equal(cc_node_tracking(c, port), 1);
    /* The invalidation connection is the one subscribed to __redis__:invalidate. */
    cc_kill_invalidation_connection(port);
    /* What the server sends now has nowhere to go: the change must still be seen once
     * rcm noticed the loss (bounded wait for that, then no stale read). */
    rcm_reply_free(tu_cmd_ok(other, "SET", key, "after", NULL));
    double until = tu_now() + 10;
    while (cc_node_tracking(c, port) == 1 && tu_now() < until) tu_sleep_ms(1);
    assert_int_equal(cc_node_tracking(c, port), 0);
    rcm_reply *r = tu_cmd_ok(c, "GET", key, NULL);
    TU_ASSERT_CSTRING_REPLY(r, "after");
    rcm_reply_free(r);
    /* Tracking comes back with the new connection: cached again, invalidated again. */
    cc_warm(c, key, "after");
    rcm_reply_free(tu_cmd_ok(other, "SET", key, "again", NULL));
    cc_wait_value(c, key, "again", 10);
    rcm_client_close(other);
    rcm_client_close(c);
    tu_watchdog_disarm();
}

/* A server that stops answering without closing (SIGSTOP: frozen, or cut off) is not
 * served from the cache for ever: the health check of its invalidation connection gives
 * it up, and its entries with it. */
static void test_cache__stopped_server_is_not_served_from_the_cache_for_ever(void **state) {
    (void)state;
    tu_watchdog_arm(60, "stopped server");
    int port = tu_port(TU_PRIV_CACHE);
    int pid = cc_private_server(port);
    rcm_client *c = cc_open_cached(port, "pool.health_check_ms", "200", "command_timeout_ms", "300", NULL);
    char key[64];
    cc_key(key, sizeof key, "stopped", 0);
    cc_warm(c, key, "v");
    long long resets = cc_node_stat(c, port, "resets");
    kill(pid, SIGSTOP);
    double t0 = tu_now(), until = t0 + 15;
    int served = 0;
    for (;;) {
        rcm_reply *r = NULL;
        rcm_status st = tu_cmd(c, &r, "GET", key, NULL);
        rcm_reply_free(r);
        if (st != RCM_OK) break; /* it went to the server, which does not answer */
        served++;
        if (tu_now() > until) {
            kill(pid, SIGCONT);
            fail_msg("still served from the cache %.1f s after the server stopped", tu_now() - t0);
        }
        tu_sleep_ms(5);
    }
    double gone = tu_now() - t0;
    kill(pid, SIGCONT);
    printf("stopped server: cached reads served for %.2f s (%d reads), then the entries were dropped\n", gone, served);
    assert_true(cc_node_stat(c, port, "resets") > resets);
    /* Back, through the server. The health check closed the connections, so the first
     * GETs may wait for a reconnect longer than their 300 ms deadline ("waiting for a
     * connection"): those are retried, a wrong value is not. */
    double back_until = tu_now() + 10;
    for (;;) {
        rcm_reply *r = NULL;
        rcm_status st = tu_cmd(c, &r, "GET", key, NULL);
        if (st == RCM_OK && !tu_is_cstring(r, "v")) fail_msg("GET %s after SIGCONT: %s", key, tu_describe(r));
        rcm_reply_free(r);
        if (st == RCM_OK) break;
        if (tu_now() > back_until) fail_msg("GET %s: %s for 10 s after SIGCONT", key, rcm_status_name(st));
        tu_sleep_ms(20);
    }
    rcm_client_close(c);
    tu_watchdog_disarm();
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cache__hit_is_the_servers_reply_as_an_owned_copy),
        cmocka_unit_test(test_cache__own_write_is_seen_by_the_next_read),
        cmocka_unit_test(test_cache__no_cache_flag_bypasses_and_bad_flags_are_refused),
        cmocka_unit_test(test_cache__cache_get_answers_hits_only),
        cmocka_unit_test(test_cache__concurrent_misses_of_one_entry_send_one_read),
        cmocka_unit_test(test_cache__own_write_is_seen_while_other_threads_read_it),
        cmocka_unit_test(test_cache__shutdown_completes_readers_waiting_for_a_read_in_flight),
        cmocka_unit_test(test_cache__every_default_command_hits_as_the_server_answers),
        cmocka_unit_test(test_cache__another_clients_write_is_seen_after_its_invalidation),
        cmocka_unit_test(test_cache__race_of_reads_and_invalidations_leaves_no_stale_entry),
        cmocka_unit_test(test_cache__entries_and_bytes_stay_within_their_bounds),
        cmocka_unit_test(test_cache__flushall_by_another_client_empties_the_cache),
        cmocka_unit_test(test_cache__killed_invalidation_connection_drops_what_it_covered),
        cmocka_unit_test(test_cache__stopped_server_is_not_served_from_the_cache_for_ever),
    };
    return TU_RUN(tests, argc, argv);
}
