/* capi.transients: LOADING and MASTERDOWN from real servers (cluster.scripted covers them
 * from a scripted one): the request is retried with backoff within its deadline and gets
 * the real reply once the server serves again; past its deadline it ends with
 * RCM_ERR_TIMEOUT naming the last reply. The server's own counters (rejected_calls)
 * show that rcm's request did meet the error, so a test cannot pass by arriving late.
 *
 *   LOADING     DEBUG RELOAD of 20000 keys with key-load-delay (a slow load, on request)
 *               and loading-process-events-interval-bytes 1024 (so that the loading
 *               server answers other clients, with -LOADING)
 *   MASTERDOWN  a replica with replica-serve-stale-data no whose master was stopped
 *
 * Private servers: base+5 (loading), base+6 master, base+7 its replica (see
 * tests/harness/fixtures.cmake). */
#define _GNU_SOURCE
#include "test_util.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PRIV_LOADING = 5, PRIV_MASTER = 6, PRIV_STALE_REPLICA = 7 };

/* A flat command over a raw socket; its reply (flat rendering) in buf. 0 when read. */
static int raw(int port, char *buf, size_t n, const char *a, const char *b, const char *c, const char *d) {
    int fd = tu_raw_connect(port);
    if (fd < 0) return -1;
    int rc = tu_raw_send(fd, a, b, c, d, NULL) == 0 ? tu_raw_read(fd, buf, n, 5000) : -1;
    tu_raw_close(fd);
    return rc;
}

/* rejected_calls of one command (INFO commandstats); -1 when unreadable. */
static long long rejected_of(int port, const char *cmd) {
    static char buf[65536];
    if (raw(port, buf, sizeof buf, "INFO", "commandstats", NULL, NULL) != 0) return -1;
    char head[64];
    snprintf(head, sizeof head, "cmdstat_%s:", cmd);
    const char *line = strstr(buf, head);
    if (!line) return 0;
    const char *f = strstr(line, "rejected_calls=");
    return f ? atoll(f + strlen("rejected_calls=")) : -1;
}

/* Polls GET key on port over a raw socket until the reply starts with prefix. Returns
 * how many of those probes were refused with prefix (0 when it never came). */
static int wait_for_reply(int port, const char *key, const char *prefix, double seconds) {
    double end = tu_now() + seconds;
    char buf[256];
    while (tu_now() < end) {
        if (raw(port, buf, sizeof buf, "GET", key, NULL, NULL) == 0 && strncmp(buf, prefix, strlen(prefix)) == 0)
            return 1;
        tu_sleep_ms(20);
    }
    return 0;
}

/* ---- LOADING -------------------------------------------------------------------------- */

typedef struct {
    int pid, after_ms;
    int stopped;
} stopper;

/* SIGSTOPs pid after after_ms (the caller sends SIGCONT). */
static void *stop_later(void *arg) {
    stopper *s = arg;
    tu_sleep_ms(s->after_ms);
    s->stopped = kill(s->pid, SIGSTOP) == 0;
    return NULL;
}

/* Starts DEBUG RELOAD on its own connection (left open: it answers when the load ends)
 * and waits until the server answers -LOADING. Returns the connection. */
static int start_slow_reload(int port) {
    int fd = tu_raw_connect(port);
    assert_true(fd >= 0);
    assert_int_equal(tu_raw_send(fd, "DEBUG", "RELOAD", NULL), 0);
    if (!wait_for_reply(port, "key:1", "-LOADING", 10)) fail_msg("the server on %d never answered -LOADING", port);
    return fd;
}

static void end_reload(int fd) {
    char buf[256];
    if (tu_raw_read(fd, buf, sizeof buf, 60000) != 0 || strcmp(buf, "+OK") != 0)
        fail_msg("DEBUG RELOAD did not end with +OK");
    tu_raw_close(fd);
}

static void test_transients__loading_is_retried_until_the_load_ends(void **state) {
    (void)state;
    tu_watchdog_arm(150, "LOADING from a real server");
    int port = tu_port(PRIV_LOADING);
    int pid = tu_server_start_ok(port, "--loading-process-events-interval-bytes 1024");
    char buf[256];
    assert_int_equal(raw(port, buf, sizeof buf, "DEBUG", "POPULATE", "20000", "key"), 0);
    assert_string_equal(buf, "+OK");
    /* 20000 keys x 150 us: a load of 3 s or more */
    assert_int_equal(raw(port, buf, sizeof buf, "CONFIG", "SET", "key-load-delay", "150"), 0);
    assert_string_equal(buf, "+OK");

    rcm_client *c = tu_open_ok(port, "command_timeout_ms", "60000", "retry.backoff_ms", "10",
                               "retry.backoff_max_ms", "200", NULL);
    rcm_reply *r = tu_cmd_ok(c, "PING", NULL);
    rcm_reply_free(r);

    /* Within the deadline: the GET waits out the load and reads the value. */
    int fd = start_slow_reload(port);
    long long before = rejected_of(port, "get");
    double t0 = tu_now();
    r = tu_cmd_ok(c, "GET", "key:1", NULL);
    double took = tu_now() - t0;
    long long after = rejected_of(port, "get");
    printf("GET during the load: %s after %.2f s; the server refused %lld GETs meanwhile\n", tu_describe(r), took,
           after - before);
    TU_ASSERT_CSTRING_REPLY(r, "value:1");
    rcm_reply_free(r);
    end_reload(fd);
    if (after - before < 1)
        fail_msg("the server refused no GET with LOADING while rcm's GET waited (%.2f s): the test did not test", took);

    /* Past the deadline: RCM_ERR_TIMEOUT, and the message names LOADING. */
    rcm_client *quick = tu_open_ok(port, "command_timeout_ms", "400", "retry.backoff_ms", "10",
                                   "retry.backoff_max_ms", "100", NULL);
    r = tu_cmd_ok(quick, "PING", NULL);
    rcm_reply_free(r);
    fd = start_slow_reload(port);
    r = NULL;
    rcm_status st = tu_cmd(quick, &r, "GET", "key:1", NULL);
    char err[512];
    snprintf(err, sizeof err, "%s", rcm_last_error());
    printf("GET with a 400 ms deadline during the load: %s ('%s') %s\n", rcm_status_name(st), err, tu_describe(r));
    rcm_reply_free(r);
    end_reload(fd);
    if (st != RCM_ERR_TIMEOUT) fail_msg("expected RCM_ERR_TIMEOUT, got %s ('%s')", rcm_status_name(st), err);
    if (!strstr(err, "LOADING")) fail_msg("the timeout's message does not name the last reply (LOADING): '%s'", err);

    /* A retry in flight at the deadline (the server stopped with SIGSTOP 300 ms into the
     * call, while it answered -LOADING): RCM_ERR_TIMEOUT, and the message still names
     * LOADING, what refused the tries before (main said only "waiting for the reply"). */
    rcm_client *held = tu_open_ok(port, "command_timeout_ms", "1500", "retry.backoff_ms", "10",
                                  "retry.backoff_max_ms", "50", NULL);
    r = tu_cmd_ok(held, "PING", NULL);
    rcm_reply_free(r);
    fd = start_slow_reload(port);
    stopper s = {.pid = pid, .after_ms = 300};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, stop_later, &s), 0);
    r = NULL;
    st = tu_cmd(held, &r, "GET", "key:1", NULL);
    snprintf(err, sizeof err, "%s", rcm_last_error());
    pthread_join(th, NULL);
    kill(pid, SIGCONT);
    printf("GET with a 1500 ms deadline, server stopped mid-load: %s ('%s') %s\n", rcm_status_name(st), err,
           tu_describe(r));
    rcm_reply_free(r);
    end_reload(fd);
    if (!s.stopped) fail_msg("could not stop the server (pid %d)", pid);
    if (st != RCM_ERR_TIMEOUT) fail_msg("expected RCM_ERR_TIMEOUT, got %s ('%s')", rcm_status_name(st), err);
    if (!strstr(err, "LOADING"))
        fail_msg("a retry in flight at the deadline: the message does not name the reply before (LOADING): '%s'", err);

    rcm_client_close(held);
    rcm_client_close(quick);
    rcm_client_close(c);
    tu_server_stop(pid);
    tu_watchdog_disarm();
}

/* ---- MASTERDOWN ------------------------------------------------------------------------ */

struct call {
    rcm_client *c;
    rcm_status st;
    char reply[128];
    char err[512];
    double took;
};

static void *get_thread(void *arg) {
    struct call *k = arg;
    rcm_reply *r = NULL;
    double t0 = tu_now();
    k->st = tu_cmd(k->c, &r, "GET", "stale:key", NULL);
    k->took = tu_now() - t0;
    snprintf(k->err, sizeof k->err, "%s", rcm_last_error());
    snprintf(k->reply, sizeof k->reply, "%s", tu_describe(r));
    rcm_reply_free(r);
    return NULL;
}

static void test_transients__masterdown_is_retried_until_the_master_is_back(void **state) {
    (void)state;
    tu_watchdog_arm(150, "MASTERDOWN from a real replica");
    int mport = tu_port(PRIV_MASTER), rport = tu_port(PRIV_STALE_REPLICA);
    char master_port[16], buf[256];
    snprintf(master_port, sizeof master_port, "%d", mport);
    int mpid = tu_server_start_ok(mport, NULL);
    char extra[128];
    snprintf(extra, sizeof extra, "--replica-serve-stale-data no --replicaof 127.0.0.1 %d", mport);
    int rpid = tu_server_start_ok(rport, extra);
    assert_int_equal(raw(mport, buf, sizeof buf, "SET", "stale:key", "v1", NULL), 0);
    if (!wait_for_reply(rport, "stale:key", "$v1", 20)) fail_msg("the replica on %d never served the key", rport);

    rcm_client *c = tu_open_ok(rport, "command_timeout_ms", "60000", "retry.backoff_ms", "10",
                               "retry.backoff_max_ms", "200", NULL);
    rcm_client *quick = tu_open_ok(rport, "command_timeout_ms", "500", "retry.backoff_ms", "10",
                                   "retry.backoff_max_ms", "100", NULL);
    rcm_reply *r = tu_cmd_ok(c, "PING", NULL);
    rcm_reply_free(r);
    r = tu_cmd_ok(quick, "PING", NULL);
    rcm_reply_free(r);

    tu_server_stop(mpid);
    if (!wait_for_reply(rport, "stale:key", "-MASTERDOWN", 20))
        fail_msg("the replica on %d never answered -MASTERDOWN after its master stopped", rport);

    /* Past the deadline: RCM_ERR_TIMEOUT naming MASTERDOWN. */
    r = NULL;
    rcm_status st = tu_cmd(quick, &r, "GET", "stale:key", NULL);
    char err[512];
    snprintf(err, sizeof err, "%s", rcm_last_error());
    printf("GET with a 500 ms deadline while the master is down: %s ('%s') %s\n", rcm_status_name(st), err,
           tu_describe(r));
    rcm_reply_free(r);
    if (st != RCM_ERR_TIMEOUT) fail_msg("expected RCM_ERR_TIMEOUT, got %s ('%s')", rcm_status_name(st), err);
    if (!strstr(err, "MASTERDOWN")) fail_msg("the timeout's message does not name the last reply (MASTERDOWN): '%s'", err);

    /* Within the deadline: the GET is refused until the master is back, then read. */
    long long before = rejected_of(rport, "get");
    struct call k = {.c = c};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, get_thread, &k), 0);
    double end = tu_now() + 20;
    while (rejected_of(rport, "get") < before + 2 && tu_now() < end) tu_sleep_ms(20);
    long long refused = rejected_of(rport, "get") - before;
    mpid = tu_server_start_ok(mport, NULL);
    /* The master restarts empty (no save): write the key again once the link is up. */
    for (double e = tu_now() + 20; tu_now() < e; tu_sleep_ms(50))
        if (raw(mport, buf, sizeof buf, "SET", "stale:key", "v2", NULL) == 0 && strcmp(buf, "+OK") == 0) break;
    pthread_join(th, NULL);
    printf("GET while the master was down: %s %s after %.2f s ('%s'); refused %lld times before the master restarted\n",
           rcm_status_name(k.st), k.reply, k.took, k.err, refused);
    if (refused < 2) fail_msg("the replica refused rcm's GET only %lld times: it did not wait on MASTERDOWN", refused);
    if (k.st != RCM_OK || strncmp(k.reply, "error", 5) == 0)
        fail_msg("the GET that met MASTERDOWN ended %s %s ('%s') instead of reading once the master was back",
                 rcm_status_name(k.st), k.reply, k.err);

    rcm_client_close(quick);
    rcm_client_close(c);
    tu_server_stop(rpid);
    tu_server_stop(mpid);
    tu_watchdog_disarm();
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transients__loading_is_retried_until_the_load_ends),
        cmocka_unit_test(test_transients__masterdown_is_retried_until_the_master_is_back),
    };
    return TU_RUN(tests, argc, argv);
}
