/* capi.attempts: retry.max_attempts is the exact number of times a request is sent,
 * counted by the server (INFO commandstats), not by rcm.
 *
 * A retriable failure on every attempt, on request: the server closes a connection whose
 * reply outgrows `client-output-buffer-limit normal 16kb` (a read whose connection broke
 * after it was sent: resent, then RCM_ERR_UNCERTAIN: sent, no reply), and rcm itself drops
 * a connection whose reply is larger than `max_reply_bytes` (a read: resent, then
 * RCM_ERR_PROTOCOL). A write whose connection broke after it was sent is sent once,
 * whatever retry.max_attempts says.
 *
 * Private server: base+4 (see tests/harness/fixtures.cmake). */
#define _GNU_SOURCE
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PRIV_ATTEMPTS = 4 };

#define BIG_LEN (256 * 1024)

static int g_pid = -1;

/* One field of one INFO commandstats line ("cmdstat_get", "calls"), read over a raw
 * socket; -1 when it could not be read, 0 when the command never ran. */
static long long cmdstat(int port, const char *cmd, const char *field) {
    int fd = tu_raw_connect(port);
    if (fd < 0) return -1;
    static char buf[65536];
    long long v = -1;
    if (tu_raw_send(fd, "INFO", "commandstats", NULL) == 0 && tu_raw_read(fd, buf, sizeof buf, 5000) == 0) {
        char head[64];
        snprintf(head, sizeof head, "cmdstat_%s:", cmd);
        const char *line = strstr(buf, head);
        if (!line) {
            v = 0;
        } else {
            char key[64];
            snprintf(key, sizeof key, "%s=", field);
            const char *end = strchr(line, '\n');
            const char *f = strstr(line, key);
            /* "calls=" also ends "rejected_calls=": the field must start the line's data or follow a comma */
            while (f && f[-1] != ',' && f[-1] != ':') f = strstr(f + 1, key);
            if (f && (!end || f < end)) v = atoll(f + strlen(key));
        }
    }
    tu_raw_close(fd);
    return v;
}

static void raw_ok(int port, const char *a, const char *b, const char *c, const char *d) {
    int fd = tu_raw_connect(port);
    assert_true(fd >= 0);
    char buf[256];
    assert_int_equal(tu_raw_send(fd, a, b, c, d, NULL), 0);
    assert_int_equal(tu_raw_read(fd, buf, sizeof buf, 5000), 0);
    if (buf[0] == '-') fail_msg("%s %s: %s", a, b, buf);
    tu_raw_close(fd);
}

static int setup(void **state) {
    (void)state;
    g_pid = tu_server_start_ok(tu_port(PRIV_ATTEMPTS), NULL);
    int port = tu_port(PRIV_ATTEMPTS);
    char last[32];
    snprintf(last, sizeof last, "%d", BIG_LEN - 1);
    raw_ok(port, "SETRANGE", "attempts:big", last, "v"); /* a BIG_LEN value */
    return 0;
}

static int teardown(void **state) {
    (void)state;
    tu_server_stop(g_pid);
    g_pid = -1;
    return 0;
}

static rcm_client *open_attempts(const char *attempts, const char *max_reply) {
    return tu_open_ok(tu_port(PRIV_ATTEMPTS), "retry.max_attempts", attempts, "max_reply_bytes", max_reply,
                      "retry.backoff_ms", "1", "retry.backoff_max_ms", "20", "command_timeout_ms", "20000",
                      "pool.health_check_ms", "0", NULL);
}

/* Opens a client and waits until it has its COMMAND table (a reply far over 16 kB, which
 * the output buffer limit of the cut test would refuse it). */
static rcm_client *open_ready(const char *attempts, const char *max_reply) {
    rcm_client *c = open_attempts(attempts, max_reply);
    rcm_reply *r = tu_cmd_ok(c, "PING", NULL);
    rcm_reply_free(r);
    for (double end = tu_now() + 20;; tu_sleep_ms(10)) {
        char *json = NULL;
        TU_ASSERT_RC(rcm_client_stats_json(c, &json), RCM_OK);
        const char *t = strstr(json, "\"command_table\"");
        int learned = t && strncmp(t + strcspn(t + 15, "\"") + 16, "COMMAND", 7) == 0;
        if (!learned && tu_now() > end) fail_msg("the client never learned the server's COMMAND table: %s", json);
        rcm_free(json);
        if (learned) break;
    }
    return c;
}

/* 16 kB of pending reply closes a normal client at once (hard limit, no soft one). */
static void cut_big_replies(int on) {
    raw_ok(tu_port(PRIV_ATTEMPTS), "CONFIG", "SET", "client-output-buffer-limit", on ? "normal 16kb 16kb 0" : "normal 0 0 0");
}

/* GET of the big value with max_attempts n: the server ran it exactly n times. */
static void read_sent_n_times(const char *n, const char *max_reply, int cut, rcm_status want) {
    int port = tu_port(PRIV_ATTEMPTS);
    /* (the COMMAND reply is over max_reply_bytes too: that client keeps the built-in table) */
    rcm_client *c = cut ? open_ready(n, max_reply) : open_attempts(n, max_reply);
    rcm_reply *ping = tu_cmd_ok(c, "PING", NULL);
    rcm_reply_free(ping);
    if (cut) cut_big_replies(1);
    raw_ok(port, "CONFIG", "RESETSTAT", NULL, NULL);
    rcm_reply *r = NULL;
    rcm_status st = tu_cmd(c, &r, "GET", "attempts:big", NULL);
    char err[512];
    snprintf(err, sizeof err, "%s", rcm_last_error());
    rcm_reply_free(r);
    if (cut) cut_big_replies(0);
    long long calls = cmdstat(port, "get", "calls");
    printf("retry.max_attempts=%s, max_reply_bytes=%s: %s ('%s'), the server ran GET %lld times\n", n, max_reply,
           rcm_status_name(st), err, calls);
    if (st != want) fail_msg("GET: expected %s, got %s ('%s')", rcm_status_name(want), rcm_status_name(st), err);
    if (calls != atoll(n))
        fail_msg("retry.max_attempts=%s: the server ran the GET %lld times (a read whose connection broke is resent "
                 "until retry.max_attempts sends were made)",
                 n, calls);
    rcm_client_close(c);
}

static void test_attempts__read_cut_by_the_server_is_sent_max_attempts_times(void **state) {
    (void)state;
    tu_watchdog_arm(90, "reads cut by the server");
    read_sent_n_times("1", "0", 1, RCM_ERR_UNCERTAIN);
    read_sent_n_times("4", "0", 1, RCM_ERR_UNCERTAIN);
    tu_watchdog_disarm();
}

static void test_attempts__read_over_max_reply_bytes_is_sent_max_attempts_times(void **state) {
    (void)state;
    tu_watchdog_arm(90, "reads over max_reply_bytes");
    read_sent_n_times("2", "4096", 0, RCM_ERR_PROTOCOL);
    read_sent_n_times("5", "4096", 0, RCM_ERR_PROTOCOL);
    tu_watchdog_disarm();
}

/* SET … GET returns the old (big) value: the server cuts the connection after running the
 * write. Its outcome is known to the server only; rcm must not run it again. */
static void test_attempts__write_cut_after_sending_is_sent_once(void **state) {
    (void)state;
    tu_watchdog_arm(90, "write cut by the server");
    int port = tu_port(PRIV_ATTEMPTS);
    rcm_client *c = open_ready("5", "0");
    static char big[BIG_LEN + 1];
    memset(big, 'w', BIG_LEN);
    rcm_reply *r = tu_cmd_ok(c, "SET", "attempts:swap", big, NULL);
    rcm_reply_free(r);
    cut_big_replies(1);
    raw_ok(port, "CONFIG", "RESETSTAT", NULL, NULL);
    r = NULL;
    rcm_status st = tu_cmd(c, &r, "SET", "attempts:swap", "small", "GET", NULL);
    char err[512];
    snprintf(err, sizeof err, "%s", rcm_last_error());
    rcm_reply_free(r);
    long long calls = cmdstat(port, "set", "calls");
    printf("SET ... GET cut after sending: %s ('%s'), the server ran SET %lld times\n", rcm_status_name(st), err,
           calls);
    if (st != RCM_ERR_UNCERTAIN) fail_msg("expected RCM_ERR_UNCERTAIN, got %s ('%s')", rcm_status_name(st), err);
    if (calls != 1) fail_msg("the server ran the write %lld times; a sent write is never resent", calls);
    rcm_client_close(c);
    tu_watchdog_disarm();
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_attempts__read_cut_by_the_server_is_sent_max_attempts_times, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_attempts__read_over_max_reply_bytes_is_sent_max_attempts_times, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_attempts__write_cut_after_sending_is_sent_once, setup, teardown),
    };
    return TU_RUN(tests, argc, argv);
}
