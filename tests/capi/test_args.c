/* capi.args: bad input is refused with the right status and a message that names it. */
#define _GNU_SOURCE
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

/* The call returned RCM_ERR_ARG and rcm_last_error() names the parameter. */
#define CHECK_ARG(call, param)                                                              \
    do {                                                                                    \
        rcm_status st_ = (call);                                                            \
        const char *e_ = rcm_last_error();                                                  \
        if (st_ != RCM_ERR_ARG)                                                             \
            fail_msg("%s: expected RCM_ERR_ARG, got %s", #call, rcm_status_name(st_));     \
        if (e_ == NULL || e_[0] == 0) fail_msg("%s: rcm_last_error() is empty", #call);     \
        if (strstr(e_, (param)) == NULL)                                                    \
            fail_msg("%s: rcm_last_error() '%s' does not name '%s'", #call, e_, (param));  \
    } while (0)

static void *garbage(void) { return (void *)(size_t)0x1; }

static void must_not_be_called(rcm_status st, rcm_reply *r, void *ud) {
    (void)st; (void)r; (void)ud;
    fprintf(stderr, "a callback ran for a refused request\n");
    abort();
}

static void test_args__null_config_functions(void **state) {
    (void)state;
    rcm_config *cfg = rcm_config_new();
    assert_non_null(cfg);
    CHECK_ARG(rcm_config_set(NULL, "pool.size", "2"), "config");
    CHECK_ARG(rcm_config_set(cfg, NULL, "2"), "key");
    CHECK_ARG(rcm_config_set(cfg, "pool.size", NULL), "value");
    CHECK_ARG(rcm_config_from_url(NULL, "redis://127.0.0.1:6379"), "config");
    CHECK_ARG(rcm_config_from_url(cfg, NULL), "url");
    CHECK_ARG(rcm_config_set_event_callback(NULL, NULL, NULL), "config");
    char *v = (char *)garbage();
    CHECK_ARG(rcm_config_get(NULL, "pool.size", &v), "config");
    assert_null(v);
    v = (char *)garbage();
    CHECK_ARG(rcm_config_get(cfg, NULL, &v), "key");
    assert_null(v);
    CHECK_ARG(rcm_config_get(cfg, "pool.size", NULL), "value");

    rcm_client *c = (rcm_client *)garbage();
    CHECK_ARG(rcm_client_open(NULL, &c), "config");
    assert_null(c);
    CHECK_ARG(rcm_client_open(cfg, NULL), "out");
    rcm_config_free(cfg);
}

static void test_args__null_client_functions(void **state) {
    (void)state;
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), NULL);
    const char *argv[] = {"PING"};
    const size_t lens[] = {4};
    rcm_reply *r;

    r = (rcm_reply *)garbage();
    CHECK_ARG(rcm_command(NULL, 1, argv, lens, &r), "client");
    assert_null(r);
    r = (rcm_reply *)garbage();
    CHECK_ARG(rcm_command(c, 1, NULL, lens, &r), "argv");
    assert_null(r);
    CHECK_ARG(rcm_command(c, 1, argv, lens, NULL), "out");
    r = (rcm_reply *)garbage();
    CHECK_ARG(rcm_command(c, 0, argv, lens, &r), "argc");
    assert_null(r);
    r = (rcm_reply *)garbage();
    CHECK_ARG(rcm_command(c, -1, argv, lens, &r), "argc");
    assert_null(r);
    /* a NULL argument inside argv */
    const char *with_null[] = {"GET", NULL};
    r = (rcm_reply *)garbage();
    CHECK_ARG(rcm_command(c, 2, with_null, NULL, &r), "argv");
    assert_null(r);

    rcm_route route = {RCM_ROUTE_RANDOM, 0, NULL, 0, NULL};
    r = (rcm_reply *)garbage();
    CHECK_ARG(rcm_command_routed(NULL, &route, 1, argv, lens, &r), "client");
    assert_null(r);
    r = (rcm_reply *)garbage();
    CHECK_ARG(rcm_command_routed(c, NULL, 1, argv, lens, &r), "route");
    assert_null(r);
    CHECK_ARG(rcm_command_routed(c, &route, 1, NULL, lens, &r), "argv");
    CHECK_ARG(rcm_command_routed(c, &route, 0, argv, lens, &r), "argc");
    CHECK_ARG(rcm_command_routed(c, &route, 1, argv, lens, NULL), "out");
    rcm_route key_null = {RCM_ROUTE_KEY, 0, NULL, 3, NULL};
    CHECK_ARG(rcm_command_routed(c, &key_null, 1, argv, lens, &r), "key");
    rcm_route node_null = {RCM_ROUTE_NODE, 0, NULL, 0, NULL};
    CHECK_ARG(rcm_command_routed(c, &node_null, 1, argv, lens, &r), "node");
    rcm_route bad_kind = {(rcm_route_kind)99, 0, NULL, 0, NULL};
    r = (rcm_reply *)garbage();
    rcm_status bk = rcm_command_routed(c, &bad_kind, 1, argv, lens, &r);
    if (bk != RCM_ERR_ARG) fail_msg("route kind 99: expected RCM_ERR_ARG, got %s", rcm_status_name(bk));
    assert_null(r);

    CHECK_ARG(rcm_command_async(NULL, 1, argv, lens, NULL, NULL), "client");
    CHECK_ARG(rcm_command_async(c, 1, NULL, lens, NULL, NULL), "argv");
    CHECK_ARG(rcm_command_async(c, 0, argv, lens, NULL, NULL), "argc");

    rcm_pipeline *p = (rcm_pipeline *)garbage();
    CHECK_ARG(rcm_pipeline_new(NULL, &p), "client");
    assert_null(p);
    CHECK_ARG(rcm_pipeline_new(c, NULL), "out");

    TU_ASSERT_RC(rcm_pipeline_new(c, &p), RCM_OK);
    CHECK_ARG(rcm_pipeline_append(NULL, 1, argv, lens), "pipeline");
    CHECK_ARG(rcm_pipeline_append(p, 1, NULL, lens), "argv");
    CHECK_ARG(rcm_pipeline_append(p, 0, argv, lens), "argc");
    CHECK_ARG(rcm_pipeline_append(p, -3, argv, lens), "argc");
    assert_int_equal(rcm_pipeline_length(p), 0); /* nothing bad was appended */
    assert_int_equal(rcm_pipeline_length(NULL), 0);
    rcm_reply **replies = (rcm_reply **)garbage();
    size_t n = 77;
    CHECK_ARG(rcm_pipeline_exec(NULL, &replies, &n), "pipeline");
    assert_null(replies);
    assert_int_equal(n, 0);
    CHECK_ARG(rcm_pipeline_exec(p, NULL, &n), "replies");
    CHECK_ARG(rcm_pipeline_exec(p, &replies, NULL), "n");
    rcm_pipeline_free(p);

    rcm_lease *l = (rcm_lease *)garbage();
    CHECK_ARG(rcm_lease_acquire(NULL, NULL, 0, &l), "client");
    assert_null(l);
    CHECK_ARG(rcm_lease_acquire(c, NULL, 0, NULL), "out");
    TU_ASSERT_RC(rcm_lease_acquire(c, NULL, 0, &l), RCM_OK);
    r = (rcm_reply *)garbage();
    CHECK_ARG(rcm_lease_command(NULL, 1, argv, lens, &r), "lease");
    assert_null(r);
    CHECK_ARG(rcm_lease_command(l, 1, NULL, lens, &r), "argv");
    CHECK_ARG(rcm_lease_command(l, 1, argv, lens, NULL), "out");
    CHECK_ARG(rcm_lease_command(l, 0, argv, lens, &r), "argc");
    r = (rcm_reply *)garbage();
    CHECK_ARG(rcm_lease_read(NULL, 0, &r), "lease");
    assert_null(r);
    CHECK_ARG(rcm_lease_read(l, 0, NULL), "out");
    /* the lease still works after all that */
    TU_ASSERT_RC(rcm_lease_command(l, 1, argv, lens, &r), RCM_OK);
    TU_ASSERT_STATUS_REPLY(r, "PONG");
    rcm_reply_free(r);
    rcm_lease_release(l);

    char *json = (char *)garbage();
    CHECK_ARG(rcm_client_stats_json(NULL, &json), "client");
    assert_null(json);
    CHECK_ARG(rcm_client_stats_json(c, NULL), "json");
    json = (char *)garbage();
    CHECK_ARG(rcm_client_topology_json(NULL, &json), "client");
    assert_null(json);
    CHECK_ARG(rcm_client_topology_json(c, NULL), "json");

    /* the client still works after all that */
    r = tu_cmd_ok(c, "PING", NULL);
    TU_ASSERT_STATUS_REPLY(r, "PONG");
    rcm_reply_free(r);
    rcm_client_close(c);
}

static void test_args__async_without_callback_refused(void **state) {
    (void)state;
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), NULL);
    const char *argv[] = {"PING"};
    CHECK_ARG(rcm_command_async(c, 1, argv, NULL, NULL, NULL), "cb");
    rcm_client_close(c);
}

static void test_args__malformed_urls(void **state) {
    (void)state;
    const char *urls[] = {
        "",
        "http://127.0.0.1:6379",
        "redis+bogus://127.0.0.1:6379",
        "redis://127.0.0.1:notaport",
        "redis://127.0.0.1:99999",
        "redis://127.0.0.1:65536",
        "redis://127.0.0.1:-1",
        "redis://127.0.0.1:",
        "redis://[::1",
        "redis://[::1]junk:6379",
        "redis://[]:6379",
        "redis://127.0.0.1:6379/notadb",
        "redis://127.0.0.1:6379/-1",
        "redis://127.0.0.1:6379/99999999999999999999",
        "redis://127.0.0.1:6379/0/extra",
        "redis://127.0.0.1:6379,,127.0.0.1:6380",
        "redis://127.0.0.1:6379?nosuchkey=1",
        "redis://127.0.0.1:6379?pool.size=abc",
        "redis://127.0.0.1:6379?pool.size",
        "redis://127.0.0.1:6379?mode=bogus",
        "redis://127.0.0.1:6379?connect_timeout_ms=-5",
        "redis://127.0.0.1:6379?tls.verify=maybe",
        "127.0.0.1:6379,127.0.0.1:x",
    };
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        rcm_config *cfg = rcm_config_new();
        rcm_status st = rcm_config_from_url(cfg, urls[i]);
        const char *e = rcm_last_error();
        if (st != RCM_ERR_CONFIG)
            fail_msg("URL '%s': expected RCM_ERR_CONFIG, got %s", urls[i], rcm_status_name(st));
        if (!e || !e[0]) fail_msg("URL '%s': empty rcm_last_error()", urls[i]);
        printf("  %-45s -> %s\n", urls[i], e);
        rcm_config_free(cfg);
    }
}

static void test_args__url_message_never_contains_password(void **state) {
    (void)state;
    rcm_config *cfg = rcm_config_new();
    assert_int_equal(rcm_config_from_url(cfg, "redis://user:Sup3rS3cret@127.0.0.1:badport"),
                     RCM_ERR_CONFIG);
    assert_null(strstr(rcm_last_error(), "Sup3rS3cret"));
    assert_int_equal(rcm_config_from_url(cfg, "redis://:Sup3rS3cret@127.0.0.1:6379/x"),
                     RCM_ERR_CONFIG);
    assert_null(strstr(rcm_last_error(), "Sup3rS3cret"));
    assert_int_equal(rcm_config_from_url(cfg, "redis://u:Sup3rS3cret@127.0.0.1:6379?bad.key=1"),
                     RCM_ERR_CONFIG);
    assert_null(strstr(rcm_last_error(), "Sup3rS3cret"));
    rcm_config_free(cfg);
}

/* Item 7: a marker password holding every character that splits a URL, over a table of
 * malformed URLs: rcm_last_error() quotes no piece of it; where the URL is well formed
 * the password is read whole. */
#define MARKER "Qz7/Kx9?Wv4#Jm2:Hy6@Tb5&Rn8"
#define MARKER_Q "Qz7/Kx9?Wv4:Hy6@Tb5&Rn8" /* for the query, where '#' starts a fragment */
static const char *marker_leak(const char *text) {
    static const char *pieces[] = {"Qz7", "Kx9", "Wv4", "Jm2", "Hy6", "Tb5", "Rn8"};
    for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++)
        if (strstr(text, pieces[i])) return pieces[i];
    return NULL;
}

static void test_args__url_errors_never_quote_a_password(void **state) {
    (void)state;
    const char *urls[] = {
        "user:" MARKER "@127.0.0.1:6379",
        MARKER "@127.0.0.1",
        "user:" MARKER "@127.0.0.1:6379/0",
        "redis:/user:" MARKER "@127.0.0.1",
        "user:a://" MARKER "@127.0.0.1",
        "redis://user:" MARKER "@127.0.0.1:badport",
        "redis://user:" MARKER "@127.0.0.1:6379/notadb",
        "redis://user:" MARKER "@127.0.0.1:6379?pool.size=abc",
        "redis://user:" MARKER "@127.0.0.1:6379?pool.size",
        "redis://user:" MARKER "@127.0.0.1:6379?no.such.key=1",
        "redis://user:" MARKER "@",
        "redis://user:" MARKER "@bad host:1",
        "redis://user:" MARKER "%zz@127.0.0.1:6379",
        "redis+sentinel://user:" MARKER "@127.0.0.1:26379/a/b",
        "redis://127.0.0.1:6379?password=" MARKER_Q "&x",
        "redis://127.0.0.1:x?password=" MARKER_Q,
    };
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        rcm_config *cfg = rcm_config_new();
        rcm_status st = rcm_config_from_url(cfg, urls[i]);
        const char *e = rcm_last_error();
        if (st != RCM_ERR_CONFIG) fail_msg("URL #%zu: expected RCM_ERR_CONFIG, got %s", i, rcm_status_name(st));
        if (!e[0]) fail_msg("URL #%zu: empty rcm_last_error()", i);
        const char *leak = marker_leak(e);
        if (leak) fail_msg("URL #%zu: '%s' quotes '%s' of the password", i, e, leak);
        printf("  #%-2zu -> %s\n", i, e);
        rcm_config_free(cfg);
    }
    /* well formed: the password is read whole, unencoded specials and all */
    rcm_config *cfg = rcm_config_new();
    TU_ASSERT_RC(rcm_config_from_url(cfg, "redis://user:" MARKER "@127.0.0.1:6379/3"), RCM_OK);
    char *got = NULL;
    TU_ASSERT_RC(rcm_config_get(cfg, "password", &got), RCM_OK);
    assert_string_equal(got, MARKER);
    rcm_free(got);
    TU_ASSERT_RC(rcm_config_get(cfg, "seeds", &got), RCM_OK);
    assert_string_equal(got, "127.0.0.1:6379");
    rcm_free(got);
    TU_ASSERT_RC(rcm_config_get(cfg, "db", &got), RCM_OK);
    assert_string_equal(got, "3");
    rcm_free(got);
    rcm_config_free(cfg);
}

/* Item 18: an argvlen no buffer can have is the caller's mistake (RCM_ERR_ARG), found
 * before anything is allocated, not RCM_ERR_INTERNAL/NOMEM from deep inside. */
static void test_args__bogus_argvlen_is_an_argument_error(void **state) {
    (void)state;
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), NULL);
    const char *argv[] = {"SET", "args:k", "v"};
    const size_t bogus[][3] = {
        {3, 6, (size_t)-1}, {(size_t)-1, 6, 1}, {3, (size_t)1 << 62, 1}, {3, (size_t)-1 / 2, (size_t)-1 / 2 + 2},
    };
    for (size_t i = 0; i < sizeof bogus / sizeof bogus[0]; i++) {
        rcm_reply *r = (rcm_reply *)garbage();
        rcm_status st = rcm_command(c, 3, argv, bogus[i], &r);
        if (st != RCM_ERR_ARG)
            fail_msg("argvlen #%zu: expected RCM_ERR_ARG, got %s '%s'", i, rcm_status_name(st), rcm_last_error());
        assert_null(r);
        if (!strstr(rcm_last_error(), "argvlen")) fail_msg("'%s' does not name argvlen", rcm_last_error());
        TU_ASSERT_RC(rcm_command_async(c, 3, argv, bogus[i], must_not_be_called, NULL), RCM_ERR_ARG);
        rcm_pipeline *p = NULL;
        TU_ASSERT_RC(rcm_pipeline_new(c, &p), RCM_OK);
        TU_ASSERT_RC(rcm_pipeline_append(p, 3, argv, bogus[i]), RCM_ERR_ARG);
        rcm_pipeline_free(p);
    }
    const size_t fine[] = {3, 6, 1};
    rcm_reply *r = NULL;
    TU_ASSERT_RC(rcm_command(c, 3, argv, fine, &r), RCM_OK);
    TU_ASSERT_STATUS_REPLY(r, "OK");
    rcm_reply_free(r);
    rcm_client_close(c);
}

static void test_args__unknown_config_key_named(void **state) {
    (void)state;
    rcm_config *cfg = rcm_config_new();
    const char *keys[] = {"pool.sizee", "no_such_key", "tls.nope", ""};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        rcm_status st = rcm_config_set(cfg, keys[i], "1");
        if (st != RCM_ERR_CONFIG)
            fail_msg("key '%s': expected RCM_ERR_CONFIG, got %s", keys[i], rcm_status_name(st));
        const char *e = rcm_last_error();
        assert_non_null(e);
        assert_true(e[0] != 0);
        if (keys[i][0] && !strstr(e, keys[i]))
            fail_msg("key '%s': message '%s' does not name the key", keys[i], e);
        char *v = (char *)garbage();
        st = rcm_config_get(cfg, keys[i], &v);
        if (st != RCM_ERR_CONFIG)
            fail_msg("get '%s': expected RCM_ERR_CONFIG, got %s", keys[i], rcm_status_name(st));
        assert_null(v);
        if (keys[i][0] && !strstr(rcm_last_error(), keys[i]))
            fail_msg("get '%s': message '%s' does not name the key", keys[i], rcm_last_error());
    }
    rcm_config_free(cfg);
}

static void test_args__bad_config_values_named(void **state) {
    (void)state;
    const char *kv[][2] = {
        {"pool.size", "0"}, {"pool.size", "abc"}, {"pool.size", "-1"}, {"pool.size", ""},
        {"pool.size", "2x"}, {"pool.size", "99999999999999999999"},
        {"connect_timeout_ms", "-5"}, {"command_timeout_ms", "-1"},
        {"command_timeout_ms", "1.5"},
        {"tls.verify", "maybe"}, {"tls", "2"}, {"retry.unsafe", "perhaps"},
        {"mode", "bogus"}, {"mode", ""}, {"read_from", "x"},
        {"db", "-1"}, {"db", "abc"}, {"io_threads", "0"}, {"pool.max_leases", "-2"},
        {"pool.lease_timeout_ms", "x"}, {"retry.max_attempts", "-1"},
        {"seeds", ""}, {"seeds", "127.0.0.1:x"}, {"seeds", "127.0.0.1:70000"},
        {"seeds", "[::1"},
    };
    rcm_config *cfg = rcm_config_new();
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) {
        rcm_status st = rcm_config_set(cfg, kv[i][0], kv[i][1]);
        if (st != RCM_ERR_CONFIG)
            fail_msg("%s='%s': expected RCM_ERR_CONFIG, got %s", kv[i][0], kv[i][1],
                     rcm_status_name(st));
        const char *e = rcm_last_error();
        if (!e || !strstr(e, kv[i][0]))
            fail_msg("%s='%s': message '%s' does not name the key", kv[i][0], kv[i][1],
                     e ? e : "(null)");
    }
    /* the config is still usable with its previous (valid) values */
    assert_int_equal(rcm_config_set(cfg, "pool.size", "3"), RCM_OK);
    rcm_config_free(cfg);
}

/* Modes against a server that is not of that kind: a config error naming the mode
 * ("mode=cluster, but this server is not a cluster node"), at open. */
static void test_args__modes_not_matching_the_server(void **state) {
    (void)state;
    const struct { const char *mode; rcm_status want; } rows[] = {
        {"cluster", RCM_ERR_CONFIG},
        {"raft", RCM_ERR_CONFIG},
        {"sentinel", RCM_ERR_CONFIG},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        rcm_client *c = NULL;
        rcm_status st = tu_open_status(&c, "redis", tu_port(TU_PLAIN), "mode", rows[i].mode,
                                       "sentinel.master", "mymaster", NULL);
        if (st != rows[i].want)
            fail_msg("mode=%s against a standalone server: expected %s, got %s '%s'", rows[i].mode,
                     rcm_status_name(rows[i].want), rcm_status_name(st), rcm_last_error());
        assert_null(c);
        if (!strstr(rcm_last_error(), rows[i].mode))
            fail_msg("mode=%s: the message does not name the mode: '%s'", rows[i].mode, rcm_last_error());
    }
}

static void test_args__connect_to_closed_port(void **state) {
    (void)state;
    rcm_client *c = NULL;
    double t0 = tu_now();
    rcm_status st = tu_open_status(&c, "redis", tu_port(TU_NEVER_STARTED), "connect_timeout_ms",
                                   "1000", NULL);
    double dt = tu_now() - t0;
    if (st != RCM_ERR_CONNECTION)
        fail_msg("closed port: expected RCM_ERR_CONNECTION, got %s '%s'", rcm_status_name(st),
                 rcm_last_error());
    assert_null(c);
    char port[16];
    snprintf(port, sizeof port, "%d", tu_port(TU_NEVER_STARTED));
    if (!strstr(rcm_last_error(), port))
        fail_msg("message '%s' does not name the address", rcm_last_error());
    if (dt > 5.0) fail_msg("open of a closed port took %.1f s (hang?)", dt);
}

/* A server that accepts TCP connections (the kernel does) but never answers: open fails
 * by connect_timeout_ms, it does not wait forever for the handshake replies. */
static void test_args__open_against_silent_server_times_out(void **state) {
    (void)state;
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(ls >= 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)tu_port(TU_SILENT));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(ls, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(ls, 16), 0);
    rcm_client *c = NULL;
    double t0 = tu_now();
    rcm_status st = tu_open_status(&c, "redis", tu_port(TU_SILENT), "connect_timeout_ms", "500",
                                   "command_timeout_ms", "5000", NULL);
    double dt = tu_now() - t0;
    close(ls);
    printf("silent server: %s '%s' after %.3f s\n", rcm_status_name(st), rcm_last_error(), dt);
    if (st != RCM_ERR_TIMEOUT && st != RCM_ERR_CONNECTION)
        fail_msg("silent server: expected RCM_ERR_TIMEOUT, got %s", rcm_status_name(st));
    assert_null(c);
    if (dt > 1.0) fail_msg("open took %.3f s with connect_timeout_ms=500", dt);
    char port[16];
    snprintf(port, sizeof port, "%d", tu_port(TU_SILENT));
    if (!strstr(rcm_last_error(), port))
        fail_msg("message '%s' does not name the address", rcm_last_error());
}

static void test_args__blocking_and_stateful_refused_on_shared_client(void **state) {
    (void)state;
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), NULL);
    const char *cmds[][4] = {
        {"BLPOP", "args:l", "1", NULL},        {"blpop", "args:l", "1", NULL},
        {"BRPOP", "args:l", "1", NULL},        {"BLMOVE", "args:a", "args:b", NULL},
        {"SUBSCRIBE", "args:ch", NULL, NULL},  {"PSUBSCRIBE", "args:*", NULL, NULL},
        {"MULTI", NULL, NULL, NULL},           {"multi", NULL, NULL, NULL},
        {"WATCH", "args:k", NULL, NULL},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        int argc = 0;
        while (argc < 4 && cmds[i][argc]) argc++;
        if (!strcmp(cmds[i][0], "BLMOVE")) continue; /* needs 5 args, below */
        rcm_reply *r = (rcm_reply *)garbage();
        rcm_status st = rcm_command(c, argc, cmds[i], NULL, &r);
        if (st != RCM_ERR_ARG)
            fail_msg("%s on the shared client: expected RCM_ERR_ARG, got %s", cmds[i][0],
                     rcm_status_name(st));
        assert_null(r);
        assert_true(rcm_last_error()[0] != 0);
    }
    const char *blmove[] = {"BLMOVE", "args:a", "args:b", "LEFT", "RIGHT", "1"};
    rcm_reply *r = NULL;
    TU_ASSERT_RC(rcm_command(c, 6, blmove, NULL, &r), RCM_ERR_ARG);

    /* async is refused the same way, with no callback */
    const char *blpop[] = {"BLPOP", "args:l", "1"};
    TU_ASSERT_RC(rcm_command_async(c, 3, blpop, NULL, must_not_be_called, NULL), RCM_ERR_ARG);

    /* the shared connections were not disturbed */
    for (int i = 0; i < 10; i++) {
        r = tu_cmd_ok(c, "SET", "args:k", "v", NULL);
        TU_ASSERT_STATUS_REPLY(r, "OK");
        rcm_reply_free(r);
    }
    rcm_client_close(c);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_args__null_config_functions),
        cmocka_unit_test(test_args__null_client_functions),
        cmocka_unit_test(test_args__async_without_callback_refused),
        cmocka_unit_test(test_args__malformed_urls),
        cmocka_unit_test(test_args__url_message_never_contains_password),
        cmocka_unit_test(test_args__unknown_config_key_named),
        cmocka_unit_test(test_args__bad_config_values_named),
        cmocka_unit_test(test_args__modes_not_matching_the_server),
        cmocka_unit_test(test_args__connect_to_closed_port),
        cmocka_unit_test(test_args__open_against_silent_server_times_out),
        cmocka_unit_test(test_args__blocking_and_stateful_refused_on_shared_client),
        cmocka_unit_test(test_args__url_errors_never_quote_a_password),
        cmocka_unit_test(test_args__bogus_argvlen_is_an_argument_error),
    };
    return TU_RUN(tests, argc, argv);
}
