/* capi.basic: a tour of every function of rcm.h against the standalone server. */
#define _GNU_SOURCE
#include "test_util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- library metadata ------------------------------------------------------------- */

static void test_meta__version_matches_macros(void **state) {
    (void)state;
    char want[64];
    snprintf(want, sizeof want, "%d.%d.%d", RCM_VERSION_MAJOR, RCM_VERSION_MINOR, RCM_VERSION_PATCH);
    assert_non_null(rcm_version());
    assert_string_equal(rcm_version(), want);
}

static void test_meta__status_name_of_every_status(void **state) {
    (void)state;
    static const struct { rcm_status s; const char *name; int value; } all[] = {
        {RCM_OK, "RCM_OK", 0},
        {RCM_ERR_ARG, "RCM_ERR_ARG", -1},
        {RCM_ERR_CONFIG, "RCM_ERR_CONFIG", -2},
        {RCM_ERR_NOMEM, "RCM_ERR_NOMEM", -3},
        {RCM_ERR_CONNECTION, "RCM_ERR_CONNECTION", -4},
        {RCM_ERR_TIMEOUT, "RCM_ERR_TIMEOUT", -5},
        {RCM_ERR_AUTH, "RCM_ERR_AUTH", -6},
        {RCM_ERR_PROTOCOL, "RCM_ERR_PROTOCOL", -7},
        {RCM_ERR_UNCERTAIN, "RCM_ERR_UNCERTAIN", -8},
        {RCM_ERR_POOL_TIMEOUT, "RCM_ERR_POOL_TIMEOUT", -9},
        {RCM_ERR_BACKPRESSURE, "RCM_ERR_BACKPRESSURE", -10},
        {RCM_ERR_CLOSED, "RCM_ERR_CLOSED", -11},
        {RCM_ERR_UNSUPPORTED, "RCM_ERR_UNSUPPORTED", -12},
        {RCM_ERR_CROSSSLOT, "RCM_ERR_CROSSSLOT", -13},
        {RCM_ERR_CLUSTERDOWN, "RCM_ERR_CLUSTERDOWN", -14},
        {RCM_ERR_TLS, "RCM_ERR_TLS", -15},
        {RCM_ERR_REDIRECT, "RCM_ERR_REDIRECT", -16},
        {RCM_ERR_STATE, "RCM_ERR_STATE", -17},
        {RCM_ERR_FORK, "RCM_ERR_FORK", -18},
        {RCM_ERR_NO_LEADER, "RCM_ERR_NO_LEADER", -19},
        {RCM_ERR_INTERNAL, "RCM_ERR_INTERNAL", -99},
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        assert_int_equal((int)all[i].s, all[i].value); /* pinned values */
        const char *n = rcm_status_name(all[i].s);
        assert_non_null(n);
        assert_string_equal(n, all[i].name);
    }
    assert_string_equal(rcm_status_name((rcm_status)1), "RCM_ERR_UNKNOWN");
    assert_string_equal(rcm_status_name((rcm_status)-20), "RCM_ERR_UNKNOWN");
    assert_string_equal(rcm_status_name((rcm_status)-1000), "RCM_ERR_UNKNOWN");
}

static void *last_error_fresh_thread(void *p) {
    const char *e = rcm_last_error();
    *(int *)p = (e != NULL && e[0] == 0) ? 1 : (e == NULL ? -1 : -2);
    return NULL;
}

struct err_thread_arg {
    char msg[512];
    int nonnull;
};

static void *last_error_failing_thread(void *p) {
    struct err_thread_arg *a = p;
    rcm_config *cfg = rcm_config_new();
    rcm_status st = rcm_config_set(cfg, "no.such.key.in.thread", "1");
    const char *e = rcm_last_error();
    a->nonnull = e != NULL && st == RCM_ERR_CONFIG;
    snprintf(a->msg, sizeof a->msg, "%s", e ? e : "");
    rcm_config_free(cfg);
    return NULL;
}

static void test_meta__last_error_never_null_and_per_thread(void **state) {
    (void)state;
    /* A thread that never failed: "" not NULL. */
    int fresh = 0;
    pthread_t t;
    pthread_create(&t, NULL, last_error_fresh_thread, &fresh);
    pthread_join(t, NULL);
    assert_int_equal(fresh, 1);

    assert_non_null(rcm_last_error());

    /* Fail on this thread with one message, on another thread with another. */
    rcm_config *cfg = rcm_config_new();
    assert_int_equal(rcm_config_set(cfg, "main.thread.bad.key", "1"), RCM_ERR_CONFIG);
    char mine[512];
    snprintf(mine, sizeof mine, "%s", rcm_last_error());
    assert_non_null(strstr(mine, "main.thread.bad.key"));

    struct err_thread_arg a;
    memset(&a, 0, sizeof a);
    pthread_create(&t, NULL, last_error_failing_thread, &a);
    pthread_join(t, NULL);
    assert_true(a.nonnull);
    assert_non_null(strstr(a.msg, "no.such.key.in.thread"));
    /* The other thread's failure did not overwrite this thread's message. */
    assert_non_null(strstr(rcm_last_error(), "main.thread.bad.key"));
    rcm_config_free(cfg);
}

static void test_meta__free_null_is_noop(void **state) {
    (void)state;
    rcm_free(NULL);
    rcm_config_free(NULL);
    rcm_client_close(NULL);
    rcm_reply_free(NULL);
    rcm_pipeline_free(NULL);
    rcm_lease_release(NULL);
}

/* ---- configuration ---------------------------------------------------------------- */

static void test_config__every_documented_key_accepted(void **state) {
    (void)state;
    const char *kv[][2] = {
        {"mode", "standalone"}, {"mode", "cluster"}, {"mode", "raft"}, {"mode", "sentinel"},
        {"mode", "auto"},
        {"seeds", "127.0.0.1:6379"}, {"seeds", "127.0.0.1:7000,localhost:7001,[::1]:7002"},
        {"username", "someone"}, {"password", "secret"}, {"db", "0"}, {"db", "15"},
        {"client_name", "rcm-test"}, {"io_threads", "2"}, {"io_spin_us", "0"}, {"io_spin_us", "200"},
        {"sync_spin_us", "0"}, {"sync_spin_us", "50"},
        {"pool.size", "4"}, {"pool.max_leases", "3"}, {"pool.lease_timeout_ms", "250"},
        {"pool.max_pending", "1000"}, {"pool.health_check_ms", "0"},
        {"pool.health_check_ms", "2000"}, {"pool.stall_timeout_ms", "0"},
        {"pool.stall_timeout_ms", "30000"}, {"max_reply_bytes", "0"},
        {"max_reply_bytes", "4294967296"},
        {"connect_timeout_ms", "500"}, {"command_timeout_ms", "0"},
        {"command_timeout_ms", "1500"},
        {"retry.max_attempts", "5"}, {"retry.backoff_ms", "5"}, {"retry.backoff_max_ms", "200"},
        {"retry.unsafe", "true"}, {"retry.unsafe", "false"}, {"retry.unsafe", "1"},
        {"retry.unsafe", "0"}, {"retry.unsafe", "yes"}, {"retry.unsafe", "no"},
        {"read_from", "primary"}, {"read_from", "prefer_replica"}, {"read_from", "replica"},
        {"read_from", "nearest"},
        {"topology.refresh_ms", "10000"}, {"cluster.max_redirects", "3"},
        {"sentinel.master", "mymaster"}, {"sentinel.username", "su"},
        {"sentinel.password", "sp"},
        {"tls", "true"}, {"tls", "false"},
        {"tls.ca", tu_tls_file("ca.crt")}, {"tls.cert", tu_tls_file("client.crt")},
        {"tls.key", tu_tls_file("client.key")}, {"tls.server_name", "localhost"},
        {"tls.verify", "true"}, {"tls.verify", "false"},
        {"tls.verify_hostname", "true"}, {"tls.verify_hostname", "false"},
    };
    rcm_config *cfg = rcm_config_new();
    assert_non_null(cfg);
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) {
        /* tu_tls_file uses one buffer: re-resolve the tls file values. */
        const char *v = kv[i][1];
        char path[1024];
        if (!strcmp(kv[i][0], "tls.ca")) v = strcpy(path, tu_tls_file("ca.crt"));
        if (!strcmp(kv[i][0], "tls.cert")) v = strcpy(path, tu_tls_file("client.crt"));
        if (!strcmp(kv[i][0], "tls.key")) v = strcpy(path, tu_tls_file("client.key"));
        rcm_status st = rcm_config_set(cfg, kv[i][0], v);
        if (st != RCM_OK)
            fail_msg("rcm_config_set(%s, %s) = %s '%s'", kv[i][0], v, rcm_status_name(st),
                     rcm_last_error());
        /* rcm_config_get gives it back, booleans spelled true/false. */
        const char *want = v;
        if (!strcmp(v, "1") || !strcmp(v, "yes")) want = "true";
        if (!strcmp(v, "0") && (!strcmp(kv[i][0], "retry.unsafe") || !strncmp(kv[i][0], "tls", 3))) want = "false";
        if (!strcmp(v, "no")) want = "false";
        char *got = NULL;
        TU_ASSERT_RC(rcm_config_get(cfg, kv[i][0], &got), RCM_OK);
        if (strcmp(got, want) != 0) fail_msg("rcm_config_get(%s) = '%s', set '%s'", kv[i][0], got, v);
        rcm_free(got);
    }
    rcm_config_free(cfg);
    /* Defaults, and a URL's values. */
    cfg = rcm_config_new();
    char *got = NULL;
    TU_ASSERT_RC(rcm_config_get(cfg, "sync_spin_us", &got), RCM_OK);
    assert_string_equal(got, "200");
    rcm_free(got);
    TU_ASSERT_RC(rcm_config_from_url(cfg, "rediss://u:p@[::1]:7000,h2:7001/3?sync_spin_us=0&pool.size=5"), RCM_OK);
    const char *from_url[][2] = {{"seeds", "[::1]:7000,h2:7001"}, {"db", "3"}, {"tls", "true"}, {"username", "u"},
                                 {"password", "p"}, {"sync_spin_us", "0"}, {"pool.size", "5"}, {"mode", "auto"}};
    for (size_t i = 0; i < sizeof from_url / sizeof from_url[0]; i++) {
        TU_ASSERT_RC(rcm_config_get(cfg, from_url[i][0], &got), RCM_OK);
        if (strcmp(got, from_url[i][1]) != 0) fail_msg("after the URL, %s = '%s', want '%s'", from_url[i][0], got, from_url[i][1]);
        rcm_free(got);
    }
    rcm_config_free(cfg);
}

static atomic_int node_up_events;
static char expected_node[64];

static void dummy_event_cb(rcm_event_kind kind, const char *node, const char *detail, void *ud) {
    atomic_fetch_add((atomic_int *)ud, 1);
    if (kind == RCM_EVENT_NODE_UP && node && !strcmp(node, expected_node) && detail)
        atomic_fetch_add(&node_up_events, 1);
}

static void test_config__from_url_and_event_callback(void **state) {
    (void)state;
    rcm_config *cfg = rcm_config_new();
    assert_non_null(cfg);
    char url[256];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0?pool.size=3&command_timeout_ms=2000",
             tu_port(TU_PLAIN));
    TU_ASSERT_RC(rcm_config_from_url(cfg, url), RCM_OK);
    static atomic_int events;
    snprintf(expected_node, sizeof expected_node, "127.0.0.1:%d", tu_port(TU_PLAIN));
    TU_ASSERT_RC(rcm_config_set_event_callback(cfg, dummy_event_cb, &events), RCM_OK);
    TU_ASSERT_RC(rcm_config_set_event_callback(cfg, NULL, NULL), RCM_OK); /* clears */
    TU_ASSERT_RC(rcm_config_set_event_callback(cfg, dummy_event_cb, &events), RCM_OK);
    rcm_client *c = NULL;
    TU_ASSERT_RC(rcm_client_open(cfg, &c), RCM_OK);
    rcm_config_free(cfg); /* the client copied it */
    rcm_reply *r = tu_cmd_ok(c, "PING", NULL);
    TU_ASSERT_STATUS_REPLY(r, "PONG");
    rcm_reply_free(r);
    /* the connection to the server was announced (on the client's event thread) */
    double deadline = tu_now() + 5;
    while (atomic_load(&node_up_events) == 0 && tu_now() < deadline) tu_sleep_ms(10);
    if (atomic_load(&node_up_events) == 0)
        fail_msg("no RCM_EVENT_NODE_UP for %s (%d events in all)", expected_node, atomic_load(&events));
    rcm_client_close(c);
}

/* Opens a client from cfg (freed), PINGs, closes it. */
static void open_ping_close(rcm_config *cfg) {
    rcm_client *c = NULL;
    TU_ASSERT_RC(rcm_client_open(cfg, &c), RCM_OK);
    rcm_config_free(cfg);
    rcm_reply *r = tu_cmd_ok(c, "PING", NULL);
    TU_ASSERT_STATUS_REPLY(r, "PONG");
    rcm_reply_free(r);
    rcm_client_close(c);
}

/* A callback set and then cleared with NULL is never called: rcm_client_close delivers
 * every queued event before it returns, so a NODE_UP it would have announced (the test
 * above shows one comes) would have been counted by then. */
static void test_config__null_event_callback_clears_it(void **state) {
    (void)state;
    static atomic_int events;
    atomic_store(&events, 0);
    rcm_config *cfg = tu_config_ok("redis", tu_port(TU_PLAIN), NULL);
    TU_ASSERT_RC(rcm_config_set_event_callback(cfg, dummy_event_cb, &events), RCM_OK);
    TU_ASSERT_RC(rcm_config_set_event_callback(cfg, NULL, NULL), RCM_OK);
    open_ping_close(cfg);
    if (atomic_load(&events) != 0)
        fail_msg("the event callback cleared with NULL was called %d times", atomic_load(&events));
}

static void test_config__bare_host_port_url(void **state) {
    (void)state;
    rcm_config *cfg = rcm_config_new();
    char url[64];
    snprintf(url, sizeof url, "127.0.0.1:%d", tu_port(TU_PLAIN));
    TU_ASSERT_RC(rcm_config_from_url(cfg, url), RCM_OK);
    open_ping_close(cfg);
}

static void test_config__localhost_hostname_seed(void **state) {
    (void)state;
    /* "localhost" may resolve to ::1 first while the server listens on 127.0.0.1 only */
    rcm_config *cfg = rcm_config_new();
    char url[64];
    snprintf(url, sizeof url, "redis://localhost:%d", tu_port(TU_PLAIN));
    TU_ASSERT_RC(rcm_config_from_url(cfg, url), RCM_OK);
    rcm_client *c = NULL;
    rcm_status st = rcm_client_open(cfg, &c);
    rcm_config_free(cfg);
    if (st != RCM_OK) fail_msg("open %s: %s '%s'", url, rcm_status_name(st), rcm_last_error());
    rcm_reply *r = tu_cmd_ok(c, "PING", NULL);
    TU_ASSERT_STATUS_REPLY(r, "PONG");
    rcm_reply_free(r);
    rcm_client_close(c);
}

/* ---- client, commands, replies ---------------------------------------------------- */

static void test_client__command_reply_kinds(void **state) {
    (void)state;
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), NULL);
    rcm_reply *r;

    r = tu_cmd_ok(c, "PING", NULL);
    TU_ASSERT_STATUS_REPLY(r, "PONG");
    assert_int_equal(rcm_reply_status(r), RCM_OK);
    rcm_reply_free(r);

    r = tu_cmd_ok(c, "DEL", "basic:s", "basic:n", "basic:l", NULL);
    assert_int_equal(rcm_reply_type(r), RCM_REPLY_INTEGER);
    rcm_reply_free(r);

    r = tu_cmd_ok(c, "SET", "basic:s", "hello", NULL);
    TU_ASSERT_STATUS_REPLY(r, "OK");
    rcm_reply_free(r);

    /* STRING */
    r = tu_cmd_ok(c, "GET", "basic:s", NULL);
    assert_int_equal(rcm_reply_type(r), RCM_REPLY_STRING);
    size_t len = 99;
    const char *s = rcm_reply_string(r, &len);
    assert_int_equal(len, 5);
    assert_memory_equal(s, "hello", 5);
    assert_int_equal(s[5], 0); /* NUL-terminated for convenience */
    assert_non_null(rcm_reply_string(r, NULL)); /* len may be NULL */
    /* accessors of other kinds on a string */
    assert_int_equal(rcm_reply_integer(r), 0);
    assert_int_equal(rcm_reply_length(r), 0);
    assert_null(rcm_reply_element(r, 0));
    assert_int_equal(rcm_reply_status(r), RCM_OK);
    rcm_reply_free(r);

    /* INTEGER */
    r = tu_cmd_ok(c, "INCRBY", "basic:n", "-42", NULL);
    TU_ASSERT_INT_REPLY(r, -42);
    len = 99;
    assert_null(rcm_reply_string(r, &len));
    assert_int_equal(len, 0);
    rcm_reply_free(r);

    /* NIL */
    r = tu_cmd_ok(c, "GET", "basic:missing-key", NULL);
    assert_int_equal(rcm_reply_type(r), RCM_REPLY_NIL);
    len = 99;
    assert_null(rcm_reply_string(r, &len));
    assert_int_equal(len, 0);
    rcm_reply_free(r);

    /* ARRAY */
    r = tu_cmd_ok(c, "RPUSH", "basic:l", "a", "", "ccc", NULL);
    TU_ASSERT_INT_REPLY(r, 3);
    rcm_reply_free(r);
    r = tu_cmd_ok(c, "LRANGE", "basic:l", "0", "-1", NULL);
    assert_int_equal(rcm_reply_type(r), RCM_REPLY_ARRAY);
    assert_int_equal(rcm_reply_length(r), 3);
    TU_ASSERT_CSTRING_REPLY(rcm_reply_element(r, 0), "a");
    TU_ASSERT_CSTRING_REPLY(rcm_reply_element(r, 1), "");
    TU_ASSERT_CSTRING_REPLY(rcm_reply_element(r, 2), "ccc");
    assert_null(rcm_reply_element(r, 3));
    assert_null(rcm_reply_element(r, (size_t)-1));
    rcm_reply_free(r);

    /* empty ARRAY */
    r = tu_cmd_ok(c, "LRANGE", "basic:missing-key", "0", "-1", NULL);
    assert_int_equal(rcm_reply_type(r), RCM_REPLY_ARRAY);
    assert_int_equal(rcm_reply_length(r), 0);
    assert_null(rcm_reply_element(r, 0));
    rcm_reply_free(r);

    /* nested ARRAY with an integer, a nested array and a string */
    r = tu_cmd_ok(c, "EVAL", "return {1, {2, 'x', {}}, 'y'}", "0", NULL);
    assert_int_equal(rcm_reply_type(r), RCM_REPLY_ARRAY);
    assert_int_equal(rcm_reply_length(r), 3);
    TU_ASSERT_INT_REPLY(rcm_reply_element(r, 0), 1);
    const rcm_reply *inner = rcm_reply_element(r, 1);
    assert_int_equal(rcm_reply_type(inner), RCM_REPLY_ARRAY);
    assert_int_equal(rcm_reply_length(inner), 3);
    TU_ASSERT_INT_REPLY(rcm_reply_element(inner, 0), 2);
    TU_ASSERT_CSTRING_REPLY(rcm_reply_element(inner, 1), "x");
    assert_int_equal(rcm_reply_type(rcm_reply_element(inner, 2)), RCM_REPLY_ARRAY);
    assert_int_equal(rcm_reply_length(rcm_reply_element(inner, 2)), 0);
    TU_ASSERT_CSTRING_REPLY(rcm_reply_element(r, 2), "y");
    rcm_reply_free(r);

    /* ERROR from the server: RCM_OK call, ERROR reply, rcm_reply_status OK */
    r = NULL;
    TU_ASSERT_RC(tu_cmd(c, &r, "NOSUCHCOMMAND", "x", NULL), RCM_OK);
    assert_non_null(r);
    assert_int_equal(rcm_reply_type(r), RCM_REPLY_ERROR);
    assert_true(tu_is_error_prefix(r, "ERR"));
    assert_int_equal(rcm_reply_status(r), RCM_OK);
    rcm_reply_free(r);

    r = NULL;
    TU_ASSERT_RC(tu_cmd(c, &r, "INCR", "basic:s", NULL), RCM_OK); /* not an integer */
    assert_int_equal(rcm_reply_type(r), RCM_REPLY_ERROR);
    assert_int_equal(rcm_reply_status(r), RCM_OK);
    rcm_reply_free(r);

    /* NULL reply accessors */
    assert_int_equal(rcm_reply_type(NULL), RCM_REPLY_NIL);
    assert_int_equal(rcm_reply_integer(NULL), 0);
    len = 5;
    assert_null(rcm_reply_string(NULL, &len));
    assert_int_equal(len, 0);
    assert_int_equal(rcm_reply_length(NULL), 0);
    assert_null(rcm_reply_element(NULL, 0));

    rcm_client_close(c);
}

static void test_client__explicit_argvlen(void **state) {
    (void)state;
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), NULL);
    /* Arguments that are not NUL-terminated at their length. */
    const char buf[] = "SETXXbasic:lenYYvalueZZ";
    const char *argv[] = {buf, buf + 5, buf + 16};
    const size_t lens[] = {3, 9, 5};
    rcm_reply *r = NULL;
    TU_ASSERT_RC(rcm_command(c, 3, argv, lens, &r), RCM_OK);
    TU_ASSERT_STATUS_REPLY(r, "OK");
    rcm_reply_free(r);
    r = tu_cmd_ok(c, "GET", "basic:len", NULL);
    TU_ASSERT_CSTRING_REPLY(r, "value");
    rcm_reply_free(r);
    rcm_client_close(c);
}

static void test_client__db_and_client_name_from_config(void **state) {
    (void)state;
    rcm_client *c3 = tu_open_ok(tu_port(TU_PLAIN), "db", "3", "client_name", "basic-db3", NULL);
    rcm_client *c0 = tu_open_ok(tu_port(TU_PLAIN), NULL);
    rcm_reply *r = tu_cmd_ok(c3, "SET", "basic:dbkey", "in-db-3", NULL);
    rcm_reply_free(r);
    r = tu_cmd_ok(c0, "DEL", "basic:dbkey", NULL);
    rcm_reply_free(r);
    r = tu_cmd_ok(c3, "GET", "basic:dbkey", NULL);
    TU_ASSERT_CSTRING_REPLY(r, "in-db-3");
    rcm_reply_free(r);
    r = tu_cmd_ok(c0, "GET", "basic:dbkey", NULL);
    assert_int_equal(rcm_reply_type(r), RCM_REPLY_NIL);
    rcm_reply_free(r);
    r = tu_cmd_ok(c3, "CLIENT", "GETNAME", NULL);
    TU_ASSERT_CSTRING_REPLY(r, "basic-db3");
    rcm_reply_free(r);
    r = tu_cmd_ok(c0, "CLIENT", "GETNAME", NULL);
    TU_ASSERT_CSTRING_REPLY(r, "rcm");
    rcm_reply_free(r);
    rcm_client_close(c0);

    /* db from the URL path */
    rcm_config *cfg = rcm_config_new();
    char url[128];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/3", tu_port(TU_PLAIN));
    TU_ASSERT_RC(rcm_config_from_url(cfg, url), RCM_OK);
    rcm_client *u3 = NULL;
    TU_ASSERT_RC(rcm_client_open(cfg, &u3), RCM_OK);
    rcm_config_free(cfg);
    r = tu_cmd_ok(u3, "GET", "basic:dbkey", NULL);
    TU_ASSERT_CSTRING_REPLY(r, "in-db-3");
    rcm_reply_free(r);
    rcm_client_close(u3);
    rcm_client_close(c3);
}

/* ---- explicit routes (standalone: every route names the one server) ---------------- */

static void expect_per_node_array(const rcm_reply *r, const char *addr, const char *echo) {
    if (rcm_reply_type(r) != RCM_REPLY_ARRAY || rcm_reply_length(r) != 1)
        fail_msg("expected an array of one [address, reply], got %s", tu_describe(r));
    const rcm_reply *pair = rcm_reply_element(r, 0);
    assert_int_equal(rcm_reply_type(pair), RCM_REPLY_ARRAY);
    assert_int_equal(rcm_reply_length(pair), 2);
    TU_ASSERT_CSTRING_REPLY(rcm_reply_element(pair, 0), addr);
    TU_ASSERT_CSTRING_REPLY(rcm_reply_element(pair, 1), echo);
}

static void test_client__command_routed_standalone(void **state) {
    (void)state;
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), NULL);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", tu_port(TU_PLAIN));
    const char *echo[] = {"ECHO", "routed"};
    rcm_reply *r = NULL;

    rcm_route slot = {RCM_ROUTE_SLOT, 12539, NULL, 0, NULL};
    TU_ASSERT_RC(rcm_command_routed(c, &slot, 2, echo, NULL, &r), RCM_OK);
    TU_ASSERT_CSTRING_REPLY(r, "routed");
    rcm_reply_free(r);

    rcm_route key = {RCM_ROUTE_KEY, 0, "a\0key", 5, NULL};
    TU_ASSERT_RC(rcm_command_routed(c, &key, 2, echo, NULL, &r), RCM_OK);
    TU_ASSERT_CSTRING_REPLY(r, "routed");
    rcm_reply_free(r);

    rcm_route node = {RCM_ROUTE_NODE, 0, NULL, 0, addr};
    TU_ASSERT_RC(rcm_command_routed(c, &node, 2, echo, NULL, &r), RCM_OK);
    TU_ASSERT_CSTRING_REPLY(r, "routed");
    rcm_reply_free(r);

    rcm_route random_primary = {RCM_ROUTE_RANDOM, 0, NULL, 0, NULL};
    TU_ASSERT_RC(rcm_command_routed(c, &random_primary, 2, echo, NULL, &r), RCM_OK);
    TU_ASSERT_CSTRING_REPLY(r, "routed");
    rcm_reply_free(r);

    rcm_route all_primaries = {RCM_ROUTE_ALL_PRIMARIES, 0, NULL, 0, NULL};
    TU_ASSERT_RC(rcm_command_routed(c, &all_primaries, 2, echo, NULL, &r), RCM_OK);
    expect_per_node_array(r, addr, "routed");
    rcm_reply_free(r);

    rcm_route all_nodes = {RCM_ROUTE_ALL_NODES, 0, NULL, 0, NULL};
    TU_ASSERT_RC(rcm_command_routed(c, &all_nodes, 2, echo, NULL, &r), RCM_OK);
    expect_per_node_array(r, addr, "routed");
    rcm_reply_free(r);

    /* a node the client does not know, and a slot out of range */
    char other[64];
    snprintf(other, sizeof other, "127.0.0.1:%d", tu_port(TU_NEVER_STARTED));
    rcm_route bad_node = {RCM_ROUTE_NODE, 0, NULL, 0, other};
    r = (rcm_reply *)(void *)&r;
    TU_ASSERT_RC(rcm_command_routed(c, &bad_node, 2, echo, NULL, &r), RCM_ERR_ARG);
    assert_null(r);
    rcm_route bad_slot = {RCM_ROUTE_SLOT, 16384, NULL, 0, NULL};
    r = (rcm_reply *)(void *)&r;
    TU_ASSERT_RC(rcm_command_routed(c, &bad_slot, 2, echo, NULL, &r), RCM_ERR_ARG);
    assert_null(r);
    rcm_client_close(c);
}

/* ---- async ------------------------------------------------------------------------ */

#define ASYNC_N 2000

struct async_slot {
    atomic_int calls;
    atomic_int ok;    /* reply was this slot's own echo */
    rcm_status status;
    char token[32];
};
static struct async_slot slots[ASYNC_N];
static atomic_int async_total;

static void async_cb(rcm_status st, rcm_reply *reply, void *ud) {
    struct async_slot *s = ud;
    s->status = st;
    if (st == RCM_OK && tu_is_cstring(reply, s->token)) atomic_store(&s->ok, 1);
    if (st != RCM_OK && reply != NULL) atomic_store(&s->ok, -1); /* failure must carry no reply */
    rcm_reply_free(reply);
    atomic_fetch_add(&s->calls, 1);
    atomic_fetch_add(&async_total, 1);
}

static void reset_slots(void) {
    for (int i = 0; i < ASYNC_N; i++) {
        atomic_store(&slots[i].calls, 0);
        atomic_store(&slots[i].ok, 0);
        slots[i].status = (rcm_status)12345;
        snprintf(slots[i].token, sizeof slots[i].token, "async-%d", i);
    }
    atomic_store(&async_total, 0);
}

static void test_async__each_callback_exactly_once_with_own_reply(void **state) {
    (void)state;
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), "command_timeout_ms", "10000", NULL);
    reset_slots();
    for (int i = 0; i < ASYNC_N; i++) {
        const char *argv[] = {"ECHO", slots[i].token};
        TU_ASSERT_RC(rcm_command_async(c, 2, argv, NULL, async_cb, &slots[i]), RCM_OK);
    }
    double deadline = tu_now() + 20;
    while (atomic_load(&async_total) < ASYNC_N && tu_now() < deadline) tu_sleep_ms(5);
    tu_sleep_ms(200); /* a late duplicate would show up here */
    int bad_calls = 0, bad_reply = 0;
    for (int i = 0; i < ASYNC_N; i++) {
        if (atomic_load(&slots[i].calls) != 1) bad_calls++;
        if (atomic_load(&slots[i].ok) != 1) bad_reply++;
    }
    if (bad_calls || bad_reply)
        fail_msg("%d callbacks, %d slots not called exactly once, %d without their own reply",
                 atomic_load(&async_total), bad_calls, bad_reply);
    rcm_client_close(c);
}

/* Each callback issues the next command, from the I/O thread. */
#define CHAIN_N 200
static atomic_int chain_done;
static atomic_int chain_bad;
static rcm_client *chain_client;

static void chain_cb(rcm_status st, rcm_reply *reply, void *ud) {
    intptr_t i = (intptr_t)ud;
    char want[32];
    snprintf(want, sizeof want, "chain-%d", (int)i);
    if (st != RCM_OK || !tu_is_cstring(reply, want)) atomic_fetch_add(&chain_bad, 1);
    rcm_reply_free(reply);
    if (i + 1 < CHAIN_N) {
        char tok[32];
        snprintf(tok, sizeof tok, "chain-%d", (int)(i + 1));
        const char *argv[] = {"ECHO", tok};
        if (rcm_command_async(chain_client, 2, argv, NULL, chain_cb, (void *)(i + 1)) != RCM_OK)
            atomic_fetch_add(&chain_bad, 1000);
    }
    atomic_fetch_add(&chain_done, 1);
}

static void test_async__command_async_from_callback(void **state) {
    (void)state;
    chain_client = tu_open_ok(tu_port(TU_PLAIN), NULL);
    atomic_store(&chain_done, 0);
    atomic_store(&chain_bad, 0);
    const char *argv[] = {"ECHO", "chain-0"};
    TU_ASSERT_RC(rcm_command_async(chain_client, 2, argv, NULL, chain_cb, (void *)(intptr_t)0), RCM_OK);
    double deadline = tu_now() + 20;
    while (atomic_load(&chain_done) < CHAIN_N && tu_now() < deadline) tu_sleep_ms(5);
    assert_int_equal(atomic_load(&chain_done), CHAIN_N);
    assert_int_equal(atomic_load(&chain_bad), 0);
    rcm_client_close(chain_client);
}

static void test_async__close_completes_outstanding_callbacks(void **state) {
    (void)state;
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), "command_timeout_ms", "10000", NULL);
    reset_slots();
    for (int i = 0; i < ASYNC_N; i++) {
        const char *argv[] = {"ECHO", slots[i].token};
        TU_ASSERT_RC(rcm_command_async(c, 2, argv, NULL, async_cb, &slots[i]), RCM_OK);
    }
    tu_watchdog_arm(30, "rcm_client_close with outstanding async requests");
    rcm_client_close(c);
    tu_watchdog_disarm();
    /* Every callback ran by the time close returned: OK with the own reply, or CLOSED. */
    int not_once = 0, bad = 0, closed = 0;
    for (int i = 0; i < ASYNC_N; i++) {
        if (atomic_load(&slots[i].calls) != 1) not_once++;
        else if (slots[i].status == RCM_ERR_CLOSED) closed++;
        else if (slots[i].status != RCM_OK || atomic_load(&slots[i].ok) != 1) bad++;
    }
    printf("close with %d outstanding: %d completed RCM_ERR_CLOSED\n", ASYNC_N, closed);
    if (not_once || bad)
        fail_msg("after close: %d callbacks not called exactly once, %d with a wrong outcome",
                 not_once, bad);
    tu_sleep_ms(100);
    for (int i = 0; i < ASYNC_N; i++) assert_int_equal(atomic_load(&slots[i].calls), 1);
}

/* ---- pipeline --------------------------------------------------------------------- */

static void test_pipeline__append_length_exec_reuse(void **state) {
    (void)state;
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), NULL);
    rcm_pipeline *p = (rcm_pipeline *)(void *)&p;
    TU_ASSERT_RC(rcm_pipeline_new(c, &p), RCM_OK);
    assert_non_null(p);
    assert_int_equal(rcm_pipeline_length(p), 0);

    const char *a1[] = {"SET", "basic:pipe", "v1"};
    const char *a2[] = {"GET", "basic:pipe"};
    const char *a3[] = {"NOSUCHCOMMAND"};
    const char *a4[] = {"INCR", "basic:pipe"};
    TU_ASSERT_RC(rcm_pipeline_append(p, 3, a1, NULL), RCM_OK);
    TU_ASSERT_RC(rcm_pipeline_append(p, 2, a2, NULL), RCM_OK);
    TU_ASSERT_RC(rcm_pipeline_append(p, 1, a3, NULL), RCM_OK);
    TU_ASSERT_RC(rcm_pipeline_append(p, 2, a4, NULL), RCM_OK);
    assert_int_equal(rcm_pipeline_length(p), 4);

    rcm_reply **replies = NULL;
    size_t n = 0;
    TU_ASSERT_RC(rcm_pipeline_exec(p, &replies, &n), RCM_OK);
    assert_int_equal(n, 4);
    assert_non_null(replies);
    TU_ASSERT_STATUS_REPLY(replies[0], "OK");
    TU_ASSERT_CSTRING_REPLY(replies[1], "v1");
    assert_true(tu_is_error_prefix(replies[2], "ERR"));
    assert_int_equal(rcm_reply_status(replies[2]), RCM_OK); /* the server's error */
    assert_int_equal(rcm_reply_type(replies[3]), RCM_REPLY_ERROR); /* INCR of "v1" */
    assert_int_equal(rcm_reply_status(replies[3]), RCM_OK);
    for (size_t i = 0; i < n; i++) rcm_reply_free(replies[i]);
    rcm_free(replies);
    assert_int_equal(rcm_pipeline_length(p), 0); /* emptied */

    /* reuse */
    const char *b1[] = {"SET", "basic:pipe", "10"};
    const char *b2[] = {"INCR", "basic:pipe"};
    TU_ASSERT_RC(rcm_pipeline_append(p, 3, b1, NULL), RCM_OK);
    TU_ASSERT_RC(rcm_pipeline_append(p, 2, b2, NULL), RCM_OK);
    assert_int_equal(rcm_pipeline_length(p), 2);
    TU_ASSERT_RC(rcm_pipeline_exec(p, &replies, &n), RCM_OK);
    assert_int_equal(n, 2);
    TU_ASSERT_STATUS_REPLY(replies[0], "OK");
    TU_ASSERT_INT_REPLY(replies[1], 11);
    for (size_t i = 0; i < n; i++) rcm_reply_free(replies[i]);
    rcm_free(replies);

    rcm_pipeline_free(p);
    rcm_client_close(c);
}

/* ---- lease ------------------------------------------------------------------------ */

static void test_lease__acquire_command_release(void **state) {
    (void)state;
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), NULL);
    rcm_lease *l = NULL;
    TU_ASSERT_RC(rcm_lease_acquire(c, NULL, 0, &l), RCM_OK);
    assert_non_null(l);
    rcm_reply *r = NULL;
    TU_ASSERT_RC(tu_lease_cmd(l, &r, "SET", "basic:lease", "leased", NULL), RCM_OK);
    TU_ASSERT_STATUS_REPLY(r, "OK");
    rcm_reply_free(r);
    /* WATCH/MULTI/EXEC: the stateful commands a lease exists for */
    TU_ASSERT_RC(tu_lease_cmd(l, &r, "WATCH", "basic:lease", NULL), RCM_OK);
    TU_ASSERT_STATUS_REPLY(r, "OK");
    rcm_reply_free(r);
    TU_ASSERT_RC(tu_lease_cmd(l, &r, "MULTI", NULL), RCM_OK);
    TU_ASSERT_STATUS_REPLY(r, "OK");
    rcm_reply_free(r);
    TU_ASSERT_RC(tu_lease_cmd(l, &r, "GET", "basic:lease", NULL), RCM_OK);
    TU_ASSERT_STATUS_REPLY(r, "QUEUED");
    rcm_reply_free(r);
    TU_ASSERT_RC(tu_lease_cmd(l, &r, "EXEC", NULL), RCM_OK);
    assert_int_equal(rcm_reply_type(r), RCM_REPLY_ARRAY);
    assert_int_equal(rcm_reply_length(r), 1);
    TU_ASSERT_CSTRING_REPLY(rcm_reply_element(r, 0), "leased");
    rcm_reply_free(r);
    rcm_lease_release(l);

    /* by key */
    l = NULL;
    TU_ASSERT_RC(rcm_lease_acquire(c, "basic:lease", strlen("basic:lease"), &l), RCM_OK);
    TU_ASSERT_RC(tu_lease_cmd(l, &r, "GET", "basic:lease", NULL), RCM_OK);
    TU_ASSERT_CSTRING_REPLY(r, "leased");
    rcm_reply_free(r);
    /* nothing pushed: lease_read with timeout 0 reports RCM_ERR_TIMEOUT at once */
    r = (rcm_reply *)(void *)&r;
    TU_ASSERT_RC(rcm_lease_read(l, 0, &r), RCM_ERR_TIMEOUT);
    assert_null(r);
    rcm_lease_release(l);
    rcm_client_close(c);
}

/* ---- introspection ---------------------------------------------------------------- */

static void test_introspection__stats_json_fields(void **state) {
    (void)state;
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), NULL);
    for (int i = 0; i < 20; i++) {
        rcm_reply *r = tu_cmd_ok(c, "PING", NULL);
        rcm_reply_free(r);
    }
    rcm_lease *l = NULL;
    TU_ASSERT_RC(rcm_lease_acquire(c, NULL, 0, &l), RCM_OK);

    char *json = NULL;
    TU_ASSERT_RC(rcm_client_stats_json(c, &json), RCM_OK);
    assert_non_null(json);
    printf("stats: %s\n", json);
    if (!tu_json_valid(json)) fail_msg("stats is not valid JSON: %s", json);
    const char *keys[] = {"servers", "connections", "requests", "latency_us", "p50", "p99",
                          "errors", "reconnects", "leases_in_use"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (!tu_json_has_key(json, keys[i])) fail_msg("stats has no \"%s\": %s", keys[i], json);
    char addr[64];
    snprintf(addr, sizeof addr, "%d", tu_port(TU_PLAIN));
    assert_non_null(strstr(json, addr));
    long long requests = tu_json_number(json, "requests");
    if (requests < 20) fail_msg("stats requests = %lld after 20 PINGs: %s", requests, json);
    long long leases = tu_json_number(json, "leases_in_use");
    if (leases != 1) fail_msg("stats leases_in_use = %lld with one lease held: %s", leases, json);
    rcm_free(json);

    rcm_lease_release(l);
    json = NULL;
    TU_ASSERT_RC(rcm_client_stats_json(c, &json), RCM_OK);
    leases = tu_json_number(json, "leases_in_use");
    if (leases != 0) fail_msg("stats leases_in_use = %lld after release: %s", leases, json);
    rcm_free(json);
    rcm_client_close(c);
}

static void test_introspection__topology_json_fields(void **state) {
    (void)state;
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), "mode", "standalone", NULL);
    char *json = NULL;
    TU_ASSERT_RC(rcm_client_topology_json(c, &json), RCM_OK);
    assert_non_null(json);
    printf("topology: %s\n", json);
    if (!tu_json_valid(json)) fail_msg("topology is not valid JSON: %s", json);
    const char *keys[] = {"mode", "nodes", "role", "state"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (!tu_json_has_key(json, keys[i])) fail_msg("topology has no \"%s\": %s", keys[i], json);
    assert_non_null(strstr(json, "standalone"));
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", tu_port(TU_PLAIN));
    if (!strstr(json, addr)) fail_msg("topology does not name %s: %s", addr, json);
    rcm_free(json);
    rcm_client_close(c);

    /* mode=auto recognises a standalone server */
    c = tu_open_ok(tu_port(TU_PLAIN), NULL);
    json = NULL;
    TU_ASSERT_RC(rcm_client_topology_json(c, &json), RCM_OK);
    if (!strstr(json, "standalone")) fail_msg("mode=auto on a standalone server: %s", json);
    rcm_free(json);
    rcm_client_close(c);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_meta__version_matches_macros),
        cmocka_unit_test(test_meta__status_name_of_every_status),
        cmocka_unit_test(test_meta__last_error_never_null_and_per_thread),
        cmocka_unit_test(test_meta__free_null_is_noop),
        cmocka_unit_test(test_config__every_documented_key_accepted),
        cmocka_unit_test(test_config__from_url_and_event_callback),
        cmocka_unit_test(test_config__null_event_callback_clears_it),
        cmocka_unit_test(test_config__bare_host_port_url),
        cmocka_unit_test(test_config__localhost_hostname_seed),
        cmocka_unit_test(test_client__command_reply_kinds),
        cmocka_unit_test(test_client__explicit_argvlen),
        cmocka_unit_test(test_client__db_and_client_name_from_config),
        cmocka_unit_test(test_client__command_routed_standalone),
        cmocka_unit_test(test_async__each_callback_exactly_once_with_own_reply),
        cmocka_unit_test(test_async__command_async_from_callback),
        cmocka_unit_test(test_async__close_completes_outstanding_callbacks),
        cmocka_unit_test(test_pipeline__append_length_exec_reuse),
        cmocka_unit_test(test_lease__acquire_command_release),
        cmocka_unit_test(test_introspection__stats_json_fields),
        cmocka_unit_test(test_introspection__topology_json_fields),
    };
    return TU_RUN(tests, argc, argv);
}
