/* capi.retry: what happens to a request that was sent when its connection broke.
 *
 * How a request is put "in flight" when the kill lands: connection R1 sends DEBUG SLEEP 1
 * (the server stops processing), R2 sends CLIENT KILL TYPE normal, then rcm sends the
 * command. All of it waits in the server's socket buffers; when the server wakes it
 * handles the command and the kill in the same event-loop iteration, and a reply is only
 * written after that iteration: the rcm connection is closed with the command sent and
 * unanswered (it may or may not have been executed). */
#define _GNU_SOURCE
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct kill_setup {
    int sleeper;
    int killer;
};

/* Waits on nothing but the server: the killer is a client the server has accepted (a
 * PING answered) before the sleep, the sleep has begun (tu_raw_debug_sleep_ok) before
 * the kill is sent, so the kill and whatever rcm sends next are read in the same
 * event-loop iteration after the sleep. 2 s leave rcm time to send on a loaded machine. */
static void arm_kill(int pid, int port, struct kill_setup *k) {
    char buf[64];
    k->killer = tu_raw_connect(port);
    assert_true(k->killer >= 0);
    assert_int_equal(tu_raw_send(k->killer, "PING", NULL), 0);
    assert_int_equal(tu_raw_read(k->killer, buf, sizeof buf, 5000), 0);
    k->sleeper = tu_raw_debug_sleep_ok(pid, port, "2");
    assert_int_equal(tu_raw_send(k->killer, "CLIENT", "KILL", "TYPE", "normal", NULL), 0);
}

/* Returns how many clients the kill closed. */
static long finish_kill(struct kill_setup *k) {
    char buf[128];
    int rc = tu_raw_read(k->killer, buf, sizeof buf, 5000);
    tu_raw_close(k->killer);
    tu_raw_close(k->sleeper);
    if (rc != 0 || buf[0] != ':') fail_msg("CLIENT KILL answered '%s'", rc ? "(nothing)" : buf);
    return atol(buf + 1);
}

static rcm_client *open_one_connection(int port, const char *unsafe) {
    return tu_open_ok(port, "pool.size", "1", "command_timeout_ms", "5000",
                      "pool.health_check_ms", "0", "retry.unsafe", unsafe, NULL);
}

static long long stat_of(rcm_client *c, const char *name) {
    char *json = NULL;
    TU_ASSERT_RC(rcm_client_stats_json(c, &json), RCM_OK);
    long long n = tu_json_number(json, name);
    rcm_free(json);
    return n;
}

static void test_retry__read_in_flight_is_retried_transparently(void **state) {
    (void)state;
    int port = tu_port(TU_PRIV_RETRY_READ);
    int pid = tu_server_start_ok(port, NULL);
    rcm_client *c = open_one_connection(port, "false");
    rcm_reply *r = tu_cmd_ok(c, "SET", "retry:read", "the-value", NULL);
    rcm_reply_free(r);

    struct kill_setup k;
    arm_kill(pid, port, &k);
    r = NULL;
    rcm_status st = tu_cmd(c, &r, "GET", "retry:read", NULL);
    long killed = finish_kill(&k);
    printf("killed %ld clients; GET: %s %s\n", killed, rcm_status_name(st), tu_describe(r));
    assert_true(killed >= 2); /* the sleeper and rcm's connection */
    if (st != RCM_OK)
        fail_msg("a GET in flight when its connection was killed: expected a transparent retry "
                 "(RCM_OK), got %s '%s'", rcm_status_name(st), rcm_last_error());
    TU_ASSERT_CSTRING_REPLY(r, "the-value");
    rcm_reply_free(r);
    long long rc = stat_of(c, "reconnects"), retries = stat_of(c, "retries");
    if (rc < 1) fail_msg("stats report %lld reconnects after the kill", rc);
    /* It was sent before the kill (else this test proves nothing): resent, not re-queued. */
    if (retries < 1) fail_msg("stats report %lld retries: the GET was not in flight when the kill came", retries);
    rcm_client_close(c);
    tu_server_stop(pid);
}

static void test_retry__write_in_flight_is_uncertain(void **state) {
    (void)state;
    int port = tu_port(TU_PRIV_RETRY_WRITE);
    int pid = tu_server_start_ok(port, NULL);
    rcm_client *c = open_one_connection(port, "false");
    rcm_reply *r = tu_cmd_ok(c, "DEL", "retry:counter", NULL);
    rcm_reply_free(r);

    struct kill_setup k;
    arm_kill(pid, port, &k);
    r = (rcm_reply *)(void *)&r;
    rcm_status st = tu_cmd(c, &r, "INCR", "retry:counter", NULL);
    long killed = finish_kill(&k);
    printf("killed %ld clients; INCR: %s\n", killed, rcm_status_name(st));
    assert_true(killed >= 2);
    if (st != RCM_ERR_UNCERTAIN)
        fail_msg("an INCR in flight when its connection was killed: expected RCM_ERR_UNCERTAIN, "
                 "got %s %s", rcm_status_name(st), st == RCM_OK ? tu_describe(r) : "");
    assert_null(r);
    assert_true(rcm_last_error()[0] != 0);

    /* it ran at most once: never resent */
    r = tu_cmd_ok(c, "GET", "retry:counter", NULL);
    printf("counter afterwards: %s\n", tu_describe(r));
    if (!(rcm_reply_type(r) == RCM_REPLY_NIL || tu_is_cstring(r, "1")))
        fail_msg("INCR ran more than once: counter is %s", tu_describe(r));
    rcm_reply_free(r);
    rcm_client_close(c);
    tu_server_stop(pid);
}

static void test_retry__write_in_flight_is_resent_with_retry_unsafe(void **state) {
    (void)state;
    int port = tu_port(TU_PRIV_RETRY_UNSAFE);
    int pid = tu_server_start_ok(port, NULL);
    rcm_client *c = open_one_connection(port, "true");
    rcm_reply *r = tu_cmd_ok(c, "DEL", "retry:counter", NULL);
    rcm_reply_free(r);

    struct kill_setup k;
    arm_kill(pid, port, &k);
    r = NULL;
    rcm_status st = tu_cmd(c, &r, "INCR", "retry:counter", NULL);
    long killed = finish_kill(&k);
    printf("killed %ld clients; INCR with retry.unsafe: %s %s\n", killed, rcm_status_name(st),
           tu_describe(r));
    assert_true(killed >= 2);
    if (st != RCM_OK)
        fail_msg("retry.unsafe=true: expected the INCR to be resent (RCM_OK), got %s '%s'",
                 rcm_status_name(st), rcm_last_error());
    assert_int_equal(rcm_reply_type(r), RCM_REPLY_INTEGER);
    long long v = rcm_reply_integer(r);
    assert_true(v == 1 || v == 2); /* ran once or twice: that is what unsafe means */
    rcm_reply_free(r);
    r = tu_cmd_ok(c, "GET", "retry:counter", NULL);
    char want[8];
    snprintf(want, sizeof want, "%lld", v);
    TU_ASSERT_CSTRING_REPLY(r, want);
    rcm_reply_free(r);
    rcm_client_close(c);
    tu_server_stop(pid);
}

/* After the kill the connection comes back by itself: a write sent afterwards is new
 * and simply succeeds (nothing stays broken, no duplicate). */
static void test_retry__writes_after_a_kill_are_not_duplicated(void **state) {
    (void)state;
    int port = tu_port(TU_PRIV_RETRY_KILL);
    int pid = tu_server_start_ok(port, NULL);
    rcm_client *c = open_one_connection(port, "false");
    rcm_reply *r = tu_cmd_ok(c, "DEL", "retry:after", NULL);
    rcm_reply_free(r);
    int fd = tu_raw_connect(port);
    assert_true(fd >= 0);
    char buf[64];
    assert_int_equal(tu_raw_send(fd, "CLIENT", "KILL", "TYPE", "normal", NULL), 0);
    assert_int_equal(tu_raw_read(fd, buf, sizeof buf, 5000), 0);
    tu_raw_close(fd);
    int ok = 0, uncertain = 0;
    for (int i = 0; i < 10; i++) {
        r = NULL;
        rcm_status st = tu_cmd(c, &r, "INCR", "retry:after", NULL);
        /* The server is up: an INCR the client had not written when it saw the dead
         * connection is resent (RCM_OK). Only the first may have been written onto the
         * dead socket before the client read its end, and then is uncertain. */
        if (st == RCM_OK) ok++;
        else if (st == RCM_ERR_UNCERTAIN && i == 0) uncertain++;
        else
            fail_msg("INCR %d after a kill, the server up: %s '%s' (a request not sent must be resent)", i + 1,
                     rcm_status_name(st), rcm_last_error());
        rcm_reply_free(r);
    }
    r = tu_cmd_ok(c, "GET", "retry:after", NULL);
    long long v = atoll(rcm_reply_string(r, NULL) ? rcm_reply_string(r, NULL) : "-1");
    printf("10 INCRs: %d OK, %d uncertain, counter %lld\n", ok, uncertain, v);
    if (v < ok || v > ok + uncertain) fail_msg("%d INCRs succeeded, %d uncertain, the counter is %lld", ok, uncertain, v);
    rcm_reply_free(r);
    rcm_client_close(c);
    tu_server_stop(pid);
}

/* A write that never reached the server, whose node refuses every reconnect until the
 * deadline (retry.max_attempts far away): the deadline's message says it was not sent.
 * Failed reconnects are no sends, so it must not read "sent; outcome unknown". */
static void test_retry__unsent_request_at_its_deadline_says_not_sent(void **state) {
    (void)state;
    int port = tu_port(TU_PRIV_RETRY_KILL); /* this binary's, free after the test above */
    int pid = tu_server_start_ok(port, NULL);
    rcm_client *c = tu_open_ok(port, "pool.size", "1", "command_timeout_ms", "2000", "pool.health_check_ms", "0",
                               "retry.max_attempts", "1000", "retry.backoff_ms", "50", "retry.backoff_max_ms",
                               "100", NULL);
    rcm_reply *r = tu_cmd_ok(c, "PING", NULL);
    rcm_reply_free(r);
    tu_server_stop(pid);
    /* The client has seen its connections close: what follows waits unsent. */
    if (tu_wait_disconnected(c, 30) != 0) fail_msg("the client still has a connection up 30 s after the server stopped");
    r = NULL;
    rcm_status st = tu_cmd(c, &r, "INCR", "retry:unsent", NULL);
    const char *msg = rcm_last_error();
    printf("INCR on a node that refuses reconnects: %s '%s'\n", rcm_status_name(st), msg);
    assert_null(r);
    TU_ASSERT_RC(st, RCM_ERR_TIMEOUT);
    if (!strstr(msg, "not sent") || strstr(msg, "outcome unknown"))
        fail_msg("the deadline's message should say the INCR was not sent: '%s'", msg);
    rcm_client_close(c);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retry__read_in_flight_is_retried_transparently),
        cmocka_unit_test(test_retry__write_in_flight_is_uncertain),
        cmocka_unit_test(test_retry__write_in_flight_is_resent_with_retry_unsafe),
        cmocka_unit_test(test_retry__writes_after_a_kill_are_not_duplicated),
        cmocka_unit_test(test_retry__unsent_request_at_its_deadline_says_not_sent),
    };
    return TU_RUN(tests, argc, argv);
}
