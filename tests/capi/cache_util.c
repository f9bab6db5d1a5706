#define _GNU_SOURCE
#include "cache_util.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static rcm_client *open_va(const char *url, va_list ap) {
    rcm_config *cfg = rcm_config_new();
    assert_non_null(cfg);
    TU_ASSERT_RC(rcm_config_from_url(cfg, url), RCM_OK);
    TU_ASSERT_RC(rcm_config_set(cfg, "cache.max_bytes", "64000000"), RCM_OK);
    const char *k;
    while ((k = va_arg(ap, const char *)) != NULL) {
        const char *v = va_arg(ap, const char *);
        if (rcm_config_set(cfg, k, v) != RCM_OK) fail_msg("config %s=%s: %s", k, v, rcm_last_error());
    }
    rcm_client *c = NULL;
    rcm_status st = rcm_client_open(cfg, &c);
    rcm_config_free(cfg);
    if (st != RCM_OK) fail_msg("rcm_client_open(%s): %s '%s'", url, rcm_status_name(st), rcm_last_error());
    return c;
}

rcm_client *cc_open_cached_url(const char *url, ...) {
    va_list ap;
    va_start(ap, url);
    rcm_client *c = open_va(url, ap);
    va_end(ap);
    return c;
}

rcm_client *cc_open_cached(int port, ...) {
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
    va_list ap;
    va_start(ap, port);
    rcm_client *c = open_va(url, ap);
    va_end(ap);
    return c;
}

void cc_key(char *buf, size_t n, const char *what, int i) { snprintf(buf, n, "cache:%d:%s:%d", (int)getpid(), what, i); }

static const char *cache_section(const char *json) {
    const char *p = strstr(json, "\"cache\":");
    return p ? p : "";
}

long long cc_stat(rcm_client *c, const char *name) {
    char *json = NULL;
    if (rcm_client_stats_json(c, &json) != RCM_OK) return -1;
    long long v = tu_json_number(cache_section(json), name);
    rcm_free(json);
    return v;
}

long long cc_node_stat_addr(rcm_client *c, const char *addr, const char *name) {
    char *json = NULL;
    if (rcm_client_stats_json(c, &json) != RCM_OK) return -1;
    char quoted[128];
    snprintf(quoted, sizeof quoted, "\"%s\":{", addr);
    const char *p = strstr(cache_section(json), quoted);
    long long v = p ? tu_json_number(p, name) : -1;
    rcm_free(json);
    return v;
}

long long cc_node_stat(rcm_client *c, int port, const char *name) {
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    return cc_node_stat_addr(c, addr, name);
}

int cc_node_tracking(rcm_client *c, int port) {
    char *json = NULL;
    if (rcm_client_stats_json(c, &json) != RCM_OK) return -1;
    char quoted[128];
    snprintf(quoted, sizeof quoted, "\"127.0.0.1:%d\":{", port);
    const char *p = strstr(cache_section(json), quoted);
    const char *t = p ? strstr(p, "\"tracking\":") : NULL;
    int v = t ? strncmp(t + 11, "true", 4) == 0 : -1;
    rcm_free(json);
    return v;
}

void cc_warm(rcm_client *c, const char *key, const char *value) {
    rcm_reply_free(tu_cmd_ok(c, "SET", key, value, NULL));
    long long hits = cc_stat(c, "hits");
    double until = tu_now() + 10;
    while (cc_stat(c, "hits") == hits) {
        rcm_reply *r = tu_cmd_ok(c, "GET", key, NULL);
        if (!tu_is_cstring(r, value)) fail_msg("warming %s: GET gave %s, expected %s", key, tu_describe(r), value);
        rcm_reply_free(r);
        if (tu_now() > until) fail_msg("warming %s: no read was a hit within 10 s", key);
        if (cc_stat(c, "hits") == hits) tu_sleep_ms(2);
    }
}

void cc_wait_value(rcm_client *c, const char *key, const char *value, int seconds) {
    double until = tu_now() + seconds;
    for (;;) {
        rcm_reply *r = tu_cmd_ok(c, "GET", key, NULL);
        int ok = value ? tu_is_cstring(r, value) : rcm_reply_type(r) == RCM_REPLY_NIL;
        if (ok) {
            rcm_reply_free(r);
            return;
        }
        if (tu_now() > until)
            fail_msg("GET %s still gives %s after %d s (expected %s)", key, tu_describe(r), seconds,
                     value ? value : "nil");
        rcm_reply_free(r);
        tu_sleep_ms(1);
    }
}

void cc_write_ok(rcm_client *c, const char *key, const char *value) {
    double until = tu_now() + 30;
    for (;;) {
        rcm_reply *r = NULL;
        rcm_status st = tu_cmd(c, &r, "SET", key, value, NULL);
        int ok = st == RCM_OK && tu_is_status(r, "OK");
        if (!ok && tu_now() > until) fail_msg("SET %s %s: %s %s", key, value, rcm_status_name(st), tu_describe(r));
        rcm_reply_free(r);
        if (ok) return;
        tu_sleep_ms(50);
    }
}

void cc_assert_sees(rcm_client *reader, const char *key, const char *value) {
    cc_wait_value(reader, key, value, 20);
    for (int i = 0; i < 50; i++) {
        rcm_reply *r = tu_cmd_ok(reader, "GET", key, NULL);
        if (!tu_is_cstring(r, value)) fail_msg("GET %s gave %s after %s", key, tu_describe(r), value);
        rcm_reply_free(r);
    }
}

int cc_private_server(int port) {
    static int started[100], pids[100];
    int slot = port % 100;
    if (started[slot] == port) return pids[slot];
    pids[slot] = tu_server_start_ok(port, NULL);
    started[slot] = port;
    return pids[slot];
}

void cc_kill_invalidation_connection(int port) {
    rcm_client *admin = tu_open_ok(port, NULL);
    rcm_reply *list = tu_cmd_ok(admin, "CLIENT", "LIST", NULL);
    size_t len = 0;
    const char *text = rcm_reply_string(list, &len);
    assert_non_null(text);
    char *copy = strndup(text, len);
    long long id = -1;
    for (char *line = strtok(copy, "\n"); line; line = strtok(NULL, "\n")) {
        if (strstr(line, " sub=1 ") == NULL) continue;
        const char *p = strstr(line, "id=");
        if (p) id = atoll(p + 3);
    }
    free(copy);
    rcm_reply_free(list);
    if (id < 0) fail_msg("no connection subscribed to __redis__:invalidate on port %d", port);
    char ids[32];
    snprintf(ids, sizeof ids, "%lld", id);
    rcm_reply *r = tu_cmd_ok(admin, "CLIENT", "KILL", "ID", ids, NULL);
    TU_ASSERT_INT_REPLY(r, 1);
    rcm_reply_free(r);
    rcm_client_close(admin);
}

void cc_async_cb(rcm_status status, rcm_reply *reply, void *userdata) {
    cc_async_result *res = userdata;
    if (res) {
        res->status = status;
        size_t len = 0;
        const char *s = reply ? rcm_reply_string(reply, &len) : NULL;
        if (len >= sizeof res->value) len = sizeof res->value - 1;
        if (s) memcpy(res->value, s, len);
        res->value[s ? len : 0] = '\0';
        atomic_store(&res->done, 1);
    }
    rcm_reply_free(reply);
}

void cc_async_get(rcm_client *c, const char *key, cc_async_result *res) {
    memset(res, 0, sizeof *res);
    const char *argv[] = {"GET", key};
    TU_ASSERT_RC(rcm_command_async(c, 2, argv, NULL, cc_async_cb, res), RCM_OK);
    double until = tu_now() + 10;
    while (!atomic_load(&res->done)) {
        if (tu_now() > until) fail_msg("async GET %s: no callback within 10 s", key);
        tu_sleep_ms(1);
    }
}

/* ---- the race --------------------------------------------------------------------- */

enum { RACE_KEYS = 4, RACE_WRITERS = 3, RACE_READERS = 4 };

typedef struct race {
    rcm_client *writer, *reader;
    char keys[RACE_KEYS][96];
    atomic_int stop;
    atomic_long writes, reads, failures;
} race;

typedef struct race_thread {
    race *r;
    int index;
} race_thread;

static unsigned next_rand(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

static void *race_writer(void *arg) {
    race_thread *t = arg;
    race *r = t->r;
    unsigned seed = 7u + (unsigned)t->index;
    char val[48];
    for (long n = 0; !atomic_load(&r->stop); n++) {
        const char *key = r->keys[next_rand(&seed) % RACE_KEYS];
        snprintf(val, sizeof val, "w%d-%ld", t->index, n);
        const char *argv[] = {"SET", key, val};
        rcm_reply *rep = NULL;
        if (rcm_command(r->writer, 3, argv, NULL, &rep) != RCM_OK) atomic_fetch_add(&r->failures, 1);
        rcm_reply_free(rep);
        atomic_fetch_add(&r->writes, 1);
    }
    return NULL;
}

static void *race_reader(void *arg) {
    race_thread *t = arg;
    race *r = t->r;
    unsigned seed = 101u + (unsigned)t->index;
    while (!atomic_load(&r->stop)) {
        unsigned pick = next_rand(&seed);
        rcm_reply *rep = NULL;
        rcm_status st;
        if (pick % 16 == 0) {
            const char *argv[1 + RACE_KEYS] = {"MGET"};
            for (int i = 0; i < RACE_KEYS; i++) argv[1 + i] = r->keys[i];
            st = rcm_command(r->reader, 1 + RACE_KEYS, argv, NULL, &rep);
        } else {
            const char *argv[] = {"GET", r->keys[pick % RACE_KEYS]};
            st = rcm_command(r->reader, 2, argv, NULL, &rep);
        }
        if (st != RCM_OK) atomic_fetch_add(&r->failures, 1);
        rcm_reply_free(rep);
        atomic_fetch_add(&r->reads, 1);
    }
    return NULL;
}

static char *get_value(rcm_client *c, const char *key, unsigned flags) {
    const char *argv[] = {"GET", key};
    rcm_reply *rep = NULL;
    TU_ASSERT_RC(rcm_command_flags(c, flags, 2, argv, NULL, &rep), RCM_OK);
    size_t len = 0;
    const char *s = rcm_reply_string(rep, &len);
    char *out = s ? strndup(s, len) : strdup("(nil)");
    rcm_reply_free(rep);
    return out;
}

void cc_race_run_url(const char *url, const char *tag, double seconds) {
    race r;
    memset(&r, 0, sizeof r);
    /* Two I/O threads: replies and invalidations are read on different threads, which
     * widens the race that the epochs close. */
    r.reader = cc_open_cached_url(url, "io_threads", "2", NULL);
    rcm_config *cfg = rcm_config_new();
    TU_ASSERT_RC(rcm_config_from_url(cfg, url), RCM_OK);
    TU_ASSERT_RC(rcm_config_set(cfg, "io_threads", "2"), RCM_OK);
    TU_ASSERT_RC(rcm_client_open(cfg, &r.writer), RCM_OK);
    rcm_config_free(cfg);
    for (int i = 0; i < RACE_KEYS; i++) {
        cc_key(r.keys[i], sizeof r.keys[i], tag, i);
        const char *argv[] = {"SET", r.keys[i], "init"};
        rcm_reply *rep = NULL;
        TU_ASSERT_RC(rcm_command(r.writer, 3, argv, NULL, &rep), RCM_OK);
        rcm_reply_free(rep);
    }
    pthread_t th[RACE_WRITERS + RACE_READERS];
    race_thread args[RACE_WRITERS + RACE_READERS];
    long long hits0 = cc_stat(r.reader, "hits"), inv0 = cc_stat(r.reader, "invalidations");
    for (int i = 0; i < RACE_WRITERS + RACE_READERS; i++) {
        args[i].r = &r;
        args[i].index = i;
        pthread_create(&th[i], NULL, i < RACE_WRITERS ? race_writer : race_reader, &args[i]);
    }
    tu_sleep_ms((int)(seconds * 1000));
    atomic_store(&r.stop, 1);
    for (int i = 0; i < RACE_WRITERS + RACE_READERS; i++) pthread_join(th[i], NULL);
    long long hits = cc_stat(r.reader, "hits") - hits0, inv = cc_stat(r.reader, "invalidations") - inv0;
    /* Once the invalidations in flight are applied, the cached value is the server's; a
     * stale entry would stay (cache.ttl_ms is 60 s), so a bounded wait catches it. */
    int converged_ms[RACE_KEYS];
    for (int i = 0; i < RACE_KEYS; i++) {
        char *server = get_value(r.writer, r.keys[i], 0);
        double start = tu_now(), until = start + 5;
        for (;;) {
            char *cached = get_value(r.reader, r.keys[i], 0);
            int same = strcmp(cached, server) == 0;
            if (!same && tu_now() > until)
                fail_msg("%s: the cache still serves '%s' 5 s after the writers stopped; the server has '%s'",
                         r.keys[i], cached, server);
            free(cached);
            if (same) break;
            tu_sleep_ms(1);
        }
        converged_ms[i] = (int)((tu_now() - start) * 1000);
        /* And it stays so: several reads, all equal. */
        for (int k = 0; k < 20; k++) {
            char *cached = get_value(r.reader, r.keys[i], 0);
            if (strcmp(cached, server) != 0) fail_msg("%s: '%s' after '%s'", r.keys[i], cached, server);
            free(cached);
        }
        free(server);
    }
    printf("race %s: %.1f s, %ld writes, %ld reads (%lld hits), %lld invalidations; after the writers stopped "
           "every key agreed with the server within %d/%d/%d/%d ms\n",
           tag, seconds, atomic_load(&r.writes), atomic_load(&r.reads), hits, inv, converged_ms[0], converged_ms[1],
           converged_ms[2], converged_ms[3]);
    assert_int_equal(atomic_load(&r.failures), 0);
    assert_true(hits > 0);
    assert_true(inv > 0);
    rcm_client_close(r.writer);
    rcm_client_close(r.reader);
}

void cc_race_run(int port, const char *tag, double seconds) {
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
    cc_race_run_url(url, tag, seconds);
}
