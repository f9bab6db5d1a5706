/* A server that stops answering is detected without deadlines (command_timeout_ms=0):
 * a connection that owes replies and reads nothing for pool.stall_timeout_ms is given up,
 * so the requests on it end (resent, then failed) instead of waiting forever. The server
 * is a private one of this test, stopped with SIGSTOP (a frozen process, the same to a
 * client as a half-open link: the kernel still accepts and acknowledges). */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "test_util.h"

enum { PRIV_STALL = 56 }; /* base+56: this test's private server */

static int g_pid = -1;

struct call {
    rcm_client *client;
    rcm_lease *lease;
    atomic_int done; /* set by the calling thread when its call returned */
    rcm_status status;
};

static void *run_get(void *arg) {
    struct call *c = arg;
    const char *argv[] = {"GET", "rcm:stall:k"};
    rcm_reply *r = NULL;
    c->status = c->lease ? rcm_lease_command(c->lease, 2, argv, NULL, &r) : rcm_command(c->client, 2, argv, NULL, &r);
    rcm_reply_free(r);
    atomic_store(&c->done, 1);
    return NULL;
}

static int teardown(void **state) {
    (void)state;
    if (g_pid > 0) {
        kill(g_pid, SIGCONT);
        tu_server_stop(g_pid);
        g_pid = -1;
    }
    return 0;
}

/* Waits up to 15 s for the call; on a hang resumes the server so the thread can end. */
static void expect_ends(struct call *c, pthread_t t, const char *what) {
    for (int i = 0; i < 1500 && !atomic_load(&c->done); i++) tu_sleep_ms(10);
    int hung = !atomic_load(&c->done);
    kill(g_pid, SIGCONT);
    pthread_join(t, NULL);
    if (hung) fail_msg("%s: still waiting 15 s after the server stopped answering", what);
    if (c->status == RCM_OK) fail_msg("%s succeeded from a stopped server", what);
}

static rcm_client *open_stall_client(void) {
    return tu_open_ok(tu_port(PRIV_STALL), "command_timeout_ms", "0", "pool.stall_timeout_ms", "1000",
                      "retry.max_attempts", "2", NULL);
}

static void test_stall__silent_server_detected_without_deadlines(void **state) {
    (void)state;
    g_pid = tu_server_start_ok(tu_port(PRIV_STALL), NULL);
    rcm_client *c = open_stall_client();
    rcm_reply_free(tu_cmd_ok(c, "SET", "rcm:stall:k", "v", NULL));
    kill(g_pid, SIGSTOP);
    struct call call = {c, NULL, 0, RCM_OK};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, run_get, &call), 0);
    expect_ends(&call, t, "GET");
    /* Once the server answers again the client serves again. */
    int ok = 0;
    for (int i = 0; i < 100 && !ok; i++) {
        rcm_reply *r = NULL;
        ok = tu_cmd(c, &r, "GET", "rcm:stall:k", NULL) == RCM_OK;
        rcm_reply_free(r);
        if (!ok) tu_sleep_ms(50);
    }
    if (!ok) fail_msg("no recovery after SIGCONT: %s", rcm_last_error());
    rcm_client_close(c);
    teardown(NULL);
}

/* A lease in use is not PINGed, but a stalled one ends as well. */
static void test_stall__silent_server_detected_on_a_lease(void **state) {
    (void)state;
    g_pid = tu_server_start_ok(tu_port(PRIV_STALL), NULL);
    rcm_client *c = open_stall_client();
    rcm_lease *l = NULL;
    TU_ASSERT_RC(rcm_lease_acquire(c, NULL, 0, &l), RCM_OK);
    kill(g_pid, SIGSTOP);
    struct call call = {c, l, 0, RCM_OK};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, run_get, &call), 0);
    expect_ends(&call, t, "GET on a lease");
    rcm_lease_release(l);
    rcm_client_close(c);
    teardown(NULL);
}

/* A slow command within the bound is not mistaken for a stall, also on a connection
 * that was idle (nothing read) for longer than the bound before it was sent. */
static void test_stall__slow_command_within_the_bound_is_kept(void **state) {
    (void)state;
    g_pid = tu_server_start_ok(tu_port(PRIV_STALL), NULL);
    rcm_client *c = tu_open_ok(tu_port(PRIV_STALL), "command_timeout_ms", "0", "pool.stall_timeout_ms", "2000",
                               "pool.health_check_ms", "0", "pool.size", "1", NULL);
    rcm_reply_free(tu_cmd_ok(c, "PING", NULL));
    tu_sleep_ms(2500);
    rcm_reply *r = NULL;
    rcm_status st = tu_cmd(c, &r, "DEBUG", "SLEEP", "1", NULL);
    if (st != RCM_OK) fail_msg("DEBUG SLEEP 1 with pool.stall_timeout_ms=2000: %s %s", rcm_status_name(st), rcm_last_error());
    TU_ASSERT_STATUS_REPLY(r, "OK");
    rcm_reply_free(r);
    rcm_client_close(c);
    teardown(NULL);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_stall__silent_server_detected_without_deadlines, teardown),
        cmocka_unit_test_teardown(test_stall__silent_server_detected_on_a_lease, teardown),
        cmocka_unit_test_teardown(test_stall__slow_command_within_the_bound_is_kept, teardown),
    };
    return TU_RUN(tests, argc, argv);
}
