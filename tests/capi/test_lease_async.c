/* capi.lease_async: rcm_lease_command_async, a lease command the caller waits for in its
 * own way (the Python binding waits in slices to see Ctrl-C, and may give up). */
#define _GNU_SOURCE
#include "test_util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct outcome {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int calls; /* guarded by mu */
    rcm_status status;
    rcm_reply *reply;
};

static void outcome_init(struct outcome *o) {
    memset(o, 0, sizeof *o);
    pthread_mutex_init(&o->mu, NULL);
    pthread_cond_init(&o->cv, NULL);
}

static void on_done(rcm_status status, rcm_reply *reply, void *userdata) {
    struct outcome *o = userdata;
    pthread_mutex_lock(&o->mu);
    o->calls++;
    o->status = status;
    o->reply = reply;
    pthread_cond_broadcast(&o->cv);
    pthread_mutex_unlock(&o->mu);
}

/* Waits up to 10 s for the callback; its number of calls. */
static int wait_calls(struct outcome *o) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&o->mu);
    while (o->calls == 0 && pthread_cond_timedwait(&o->cv, &o->mu, &until) == 0) {
    }
    int n = o->calls;
    pthread_mutex_unlock(&o->mu);
    return n;
}

static rcm_lease *acquire_ok(rcm_client *c) {
    rcm_lease *l = NULL;
    TU_ASSERT_RC(rcm_lease_acquire(c, NULL, 0, &l), RCM_OK);
    return l;
}

/* Queues BLPOP key 0 (no deadline) on l; o gets its outcome. */
static void start_blpop(rcm_lease *l, struct outcome *o, const char *key) {
    outcome_init(o);
    const char *a[] = {"BLPOP", key, "0"};
    TU_ASSERT_RC(rcm_lease_command_async(l, 3, a, NULL, on_done, o), RCM_OK);
    usleep(100 * 1000);
}

static void test_lease_async__reply_comes_to_the_callback(void **state) {
    (void)state;
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), NULL);
    rcm_lease *l = acquire_ok(c);
    struct outcome o;
    outcome_init(&o);
    const char *a[] = {"ECHO", "on-the-lease"};
    TU_ASSERT_RC(rcm_lease_command_async(l, 2, a, NULL, on_done, &o), RCM_OK);
    assert_int_equal(wait_calls(&o), 1);
    assert_int_equal(o.status, RCM_OK);
    TU_ASSERT_CSTRING_REPLY(o.reply, "on-the-lease");
    rcm_reply_free(o.reply);
    /* the lease goes on with ordinary commands afterwards */
    rcm_reply *r = NULL;
    TU_ASSERT_RC(tu_lease_cmd(l, &r, "PING", NULL), RCM_OK);
    TU_ASSERT_STATUS_REPLY(r, "PONG");
    rcm_reply_free(r);
    rcm_lease_release(l);
    TU_ASSERT_RC(rcm_lease_command_async(NULL, 2, a, NULL, on_done, &o), RCM_ERR_ARG);
    rcm_client_close(c);
}

static void test_lease_async__release_while_waiting_closes_the_connection(void **state) {
    (void)state;
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), "pool.max_leases", "1", NULL);
    char key[64];
    snprintf(key, sizeof key, "lease_async:%d", (int)getpid());
    rcm_reply *r = tu_cmd_ok(c, "DEL", key, NULL);
    rcm_reply_free(r);

    rcm_lease *l = acquire_ok(c);
    struct outcome o;
    start_blpop(l, &o, key);
    rcm_lease_release(l); /* given up: the BLPOP is still owed on this connection */
    assert_int_equal(wait_calls(&o), 1);
    assert_int_equal(o.status, RCM_ERR_CLOSED);
    rcm_reply_free(o.reply);

    /* The one lease there is comes back on a fresh connection, not blocked in BLPOP. */
    l = acquire_ok(c);
    TU_ASSERT_RC(tu_lease_cmd(l, &r, "PING", NULL), RCM_OK);
    TU_ASSERT_STATUS_REPLY(r, "PONG");
    rcm_reply_free(r);
    rcm_lease_release(l);
    /* Nothing pops what is pushed now: the server dropped the abandoned BLPOP. */
    r = tu_cmd_ok(c, "RPUSH", key, "kept", NULL);
    rcm_reply_free(r);
    r = tu_cmd_ok(c, "LLEN", key, NULL);
    TU_ASSERT_INT_REPLY(r, 1);
    rcm_reply_free(r);
    r = tu_cmd_ok(c, "DEL", key, NULL);
    rcm_reply_free(r);
    rcm_client_close(c);
}

static void test_lease_async__close_completes_it(void **state) {
    (void)state;
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), NULL);
    rcm_lease *l = acquire_ok(c);
    char key[64];
    snprintf(key, sizeof key, "lease_async:close:%d", (int)getpid());
    struct outcome o;
    start_blpop(l, &o, key);
    TU_ASSERT_RC(rcm_client_shutdown(c), RCM_OK);
    assert_int_equal(wait_calls(&o), 1);
    assert_int_equal(o.status, RCM_ERR_CLOSED);
    rcm_reply_free(o.reply);
    const char *a[] = {"PING"};
    TU_ASSERT_RC(rcm_lease_command_async(l, 1, a, NULL, on_done, &o), RCM_ERR_CLOSED);
    rcm_lease_release(l);
    rcm_client_close(c);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lease_async__reply_comes_to_the_callback),
        cmocka_unit_test(test_lease_async__release_while_waiting_closes_the_connection),
        cmocka_unit_test(test_lease_async__close_completes_it),
    };
    return TU_RUN(tests, argc, argv);
}
