/* capi.lifecycle: handles used after close, calls from callbacks, close in a forked child,
 * what close tells the requests it ends, and shutdown while other threads wait. */
#define _GNU_SOURCE
#include "test_util.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void key_for(char *buf, size_t n, const char *what) {
    snprintf(buf, n, "lifecycle:%s:%d", what, (int)getpid());
}

/* Waits up to seconds for *flag to become non-zero. */
static int wait_flag(atomic_int *flag, double seconds) {
    double until = tu_now() + seconds;
    while (!atomic_load(flag) && tu_now() < until) tu_sleep_ms(5);
    return atomic_load(flag);
}

/* ---- a pipeline outlives its client's close ------------------------------------------ */

static void test_pipeline__used_after_close_is_closed(void **state) {
    (void)state;
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), NULL);
    char key[64];
    key_for(key, sizeof key, "pipeline-after-close");
    const char *set[] = {"SET", key, "v"};
    rcm_pipeline *p = NULL;
    TU_ASSERT_RC(rcm_pipeline_new(c, &p), RCM_OK);
    TU_ASSERT_RC(rcm_pipeline_append(p, 3, set, NULL), RCM_OK);
    rcm_client_close(c); /* the pipeline is still the caller's */

    TU_ASSERT_RC(rcm_pipeline_append(p, 3, set, NULL), RCM_ERR_CLOSED);
    rcm_reply **replies = (rcm_reply **)(void *)&p;
    size_t n = 99;
    TU_ASSERT_RC(rcm_pipeline_exec(p, &replies, &n), RCM_ERR_CLOSED);
    assert_null(replies);
    assert_int_equal(n, 0);
    assert_non_null(strstr(rcm_last_error(), "closed"));
    assert_int_equal(rcm_pipeline_length(p), 1);
    rcm_pipeline_free(p);
}

/* ---- calls that wait, made from an rcm_callback (an I/O thread) ----------------------- */

struct misuse {
    rcm_client *client;
    rcm_pipeline *pipeline;
    rcm_lease *lease;
    rcm_status command, routed, exec, acquire, lease_command, lease_read, lease_poll, async;
    char command_error[256];
    char close_error[256];
    atomic_int done;       /* the outer callback returned */
    atomic_int inner_done; /* 1: the callback's own async command was answered OK; 2: failed */
};

static void misuse_inner_cb(rcm_status status, rcm_reply *reply, void *userdata) {
    struct misuse *m = userdata;
    int ok = status == RCM_OK && tu_is_status(reply, "PONG");
    rcm_reply_free(reply);
    atomic_store(&m->inner_done, ok ? 1 : 2);
}

static void misuse_cb(rcm_status status, rcm_reply *reply, void *userdata) {
    struct misuse *m = userdata;
    (void)status;
    rcm_reply_free(reply);
    const char *ping[] = {"PING"};
    rcm_reply *out = NULL;
    m->command = rcm_command(m->client, 1, ping, NULL, &out);
    snprintf(m->command_error, sizeof m->command_error, "%s", rcm_last_error());
    rcm_reply_free(out);
    rcm_route route = {RCM_ROUTE_RANDOM, 0, NULL, 0, NULL};
    out = NULL;
    m->routed = rcm_command_routed(m->client, &route, 1, ping, NULL, &out);
    rcm_reply_free(out);
    rcm_reply **replies = NULL;
    size_t n = 0;
    m->exec = rcm_pipeline_exec(m->pipeline, &replies, &n);
    for (size_t i = 0; i < n; i++) rcm_reply_free(replies[i]);
    rcm_free(replies);
    rcm_lease *other = NULL;
    m->acquire = rcm_lease_acquire(m->client, NULL, 0, &other);
    rcm_lease_release(other);
    out = NULL;
    m->lease_command = rcm_lease_command(m->lease, 1, ping, NULL, &out);
    rcm_reply_free(out);
    out = NULL;
    m->lease_read = rcm_lease_read(m->lease, 1000, &out);
    rcm_reply_free(out);
    out = NULL;
    m->lease_poll = rcm_lease_read(m->lease, 0, &out); /* does not wait: allowed */
    rcm_reply_free(out);
    m->async = rcm_command_async(m->client, 1, ping, NULL, misuse_inner_cb, m);
    rcm_client_close(m->client); /* an I/O thread cannot join itself: does nothing */
    snprintf(m->close_error, sizeof m->close_error, "%s", rcm_last_error());
    atomic_store(&m->done, 1);
}

static void test_callback__calls_that_wait_are_refused_on_the_io_thread(void **state) {
    (void)state;
    tu_watchdog_arm(60, "calls that wait, made from an async callback");
    static struct misuse m;
    memset(&m, 0, sizeof m);
    m.client = tu_open_ok(tu_port(TU_PLAIN), "command_timeout_ms", "5000", NULL);
    const char *ping[] = {"PING"};
    TU_ASSERT_RC(rcm_pipeline_new(m.client, &m.pipeline), RCM_OK);
    TU_ASSERT_RC(rcm_pipeline_append(m.pipeline, 1, ping, NULL), RCM_OK);
    TU_ASSERT_RC(rcm_lease_acquire(m.client, NULL, 0, &m.lease), RCM_OK);

    TU_ASSERT_RC(rcm_command_async(m.client, 1, ping, NULL, misuse_cb, &m), RCM_OK);
    if (!wait_flag(&m.done, 30)) fail_msg("the callback did not return: a call in it blocked its I/O thread");
    TU_ASSERT_RC(m.command, RCM_ERR_STATE);
    TU_ASSERT_RC(m.routed, RCM_ERR_STATE);
    TU_ASSERT_RC(m.exec, RCM_ERR_STATE);
    TU_ASSERT_RC(m.acquire, RCM_ERR_STATE);
    TU_ASSERT_RC(m.lease_command, RCM_ERR_STATE);
    TU_ASSERT_RC(m.lease_read, RCM_ERR_STATE);
    TU_ASSERT_RC(m.lease_poll, RCM_ERR_TIMEOUT);
    TU_ASSERT_RC(m.async, RCM_OK);
    if (!strstr(m.command_error, "rcm_command") || !strstr(m.command_error, "I/O thread"))
        fail_msg("rcm_command from a callback: the message does not say why: '%s'", m.command_error);
    if (!strstr(m.close_error, "callback"))
        fail_msg("rcm_client_close from a callback: the message does not say why: '%s'", m.close_error);
    if (!wait_flag(&m.inner_done, 30)) fail_msg("the async command sent from a callback was never answered");
    assert_int_equal(atomic_load(&m.inner_done), 1);

    /* everything still works from an ordinary thread */
    rcm_reply *r = tu_cmd_ok(m.client, "PING", NULL);
    TU_ASSERT_STATUS_REPLY(r, "PONG");
    rcm_reply_free(r);
    rcm_reply **replies = NULL;
    size_t n = 0;
    TU_ASSERT_RC(rcm_pipeline_exec(m.pipeline, &replies, &n), RCM_OK);
    assert_int_equal(n, 1);
    TU_ASSERT_STATUS_REPLY(replies[0], "PONG");
    rcm_reply_free(replies[0]);
    rcm_free(replies);
    r = NULL;
    TU_ASSERT_RC(tu_lease_cmd(m.lease, &r, "PING", NULL), RCM_OK);
    TU_ASSERT_STATUS_REPLY(r, "PONG");
    rcm_reply_free(r);
    rcm_lease_release(m.lease);
    rcm_pipeline_free(m.pipeline);
    rcm_client_close(m.client);
    tu_watchdog_disarm();
}

/* ---- rcm_client_close from the client's own event callback ---------------------------- */

struct event_close {
    _Atomic(rcm_client *) client;
    atomic_int entered;
    atomic_int closed;
};

static void close_from_event_cb(rcm_event_kind kind, const char *node, const char *detail, void *userdata) {
    struct event_close *e = userdata;
    (void)kind, (void)node, (void)detail;
    if (atomic_exchange(&e->entered, 1)) return; /* the first event closes */
    /* The first event (the connection is up) may come before rcm_client_open returned. */
    double until = tu_now() + 30;
    while (atomic_load(&e->client) == NULL && tu_now() < until) tu_sleep_ms(5);
    rcm_client *c = atomic_load(&e->client);
    if (c == NULL) return;
    rcm_client_close(c);
    atomic_store(&e->closed, 1);
}

static void test_events__close_from_the_event_callback(void **state) {
    (void)state;
    tu_watchdog_arm(60, "rcm_client_close from the event callback");
    static struct event_close e;
    atomic_store(&e.client, NULL);
    atomic_store(&e.entered, 0);
    atomic_store(&e.closed, 0);
    rcm_config *cfg = tu_config_ok("redis", tu_port(TU_PLAIN), NULL);
    TU_ASSERT_RC(rcm_config_set_event_callback(cfg, close_from_event_cb, &e), RCM_OK);
    rcm_client *c = NULL;
    TU_ASSERT_RC(rcm_client_open(cfg, &c), RCM_OK);
    rcm_config_free(cfg);
    char key[64];
    key_for(key, sizeof key, "event-close");
    rcm_reply *r = tu_cmd_ok(c, "SET", key, "before", NULL);
    rcm_reply_free(r);
    atomic_store(&e.client, c); /* from here on the callback owns c */
    if (!wait_flag(&e.closed, 30))
        fail_msg("rcm_client_close did not return in the event callback (entered: %d)", atomic_load(&e.entered));

    /* the server saw the client go: a fresh client works */
    rcm_client *c2 = tu_open_ok(tu_port(TU_PLAIN), NULL);
    r = tu_cmd_ok(c2, "GET", key, NULL);
    TU_ASSERT_CSTRING_REPLY(r, "before");
    rcm_reply_free(r);
    rcm_client_close(c2);
    tu_watchdog_disarm();
}

/* ---- fork: the child closes its copy of a client with an event callback --------------- */

static void quiet_event_cb(rcm_event_kind kind, const char *node, const char *detail, void *userdata) {
    (void)kind, (void)node, (void)detail, (void)userdata;
}

static void test_fork__child_closes_a_client_with_an_event_callback(void **state) {
    (void)state;
    tu_watchdog_arm(60, "rcm_client_close in a forked child");
    rcm_config *cfg = tu_config_ok("redis", tu_port(TU_PLAIN), NULL);
    TU_ASSERT_RC(rcm_config_set_event_callback(cfg, quiet_event_cb, NULL), RCM_OK);
    rcm_client *c = NULL;
    TU_ASSERT_RC(rcm_client_open(cfg, &c), RCM_OK);
    rcm_config_free(cfg);
    char key[64];
    key_for(key, sizeof key, "fork");
    rcm_reply *r = tu_cmd_ok(c, "SET", key, "parent", NULL);
    rcm_reply_free(r);

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        rcm_client_close(c);
        _exit(0);
    }
    int status = 0;
    pid_t got = 0;
    double until = tu_now() + 30;
    while ((got = waitpid(pid, &status, WNOHANG)) == 0 && tu_now() < until) tu_sleep_ms(10);
    if (got == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        fail_msg("the child hung in rcm_client_close (killed after 30 s)");
    }
    assert_int_equal(got, pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("the child did not exit normally after rcm_client_close (%s %d)",
                 WIFSIGNALED(status) ? "signal" : "exit status",
                 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));

    /* the parent's client is untouched */
    r = tu_cmd_ok(c, "GET", key, NULL);
    TU_ASSERT_CSTRING_REPLY(r, "parent");
    rcm_reply_free(r);
    rcm_client_close(c);
    tu_watchdog_disarm();
}

/* ---- close ends requests that only wait for their deadline as closed ------------------ */

struct pending {
    atomic_int calls;
    atomic_int closed;
    char first_error[256];
};

static void pending_cb(rcm_status status, rcm_reply *reply, void *userdata) {
    struct pending *p = userdata;
    if (status == RCM_ERR_CLOSED) {
        atomic_fetch_add(&p->closed, 1);
    } else if (p->first_error[0] == 0) {
        snprintf(p->first_error, sizeof p->first_error, "%s: %s", rcm_status_name(status),
                 reply ? rcm_reply_string(reply, NULL) : "(no reply)");
    }
    rcm_reply_free(reply);
    atomic_fetch_add(&p->calls, 1);
}

static void test_close__requests_waiting_for_their_deadline_end_closed(void **state) {
    (void)state;
    enum { REQUESTS = 4 };
    tu_watchdog_arm(90, "close with requests that wait for their deadline");
    /* A replica of a master that never answers refuses reads (MASTERDOWN, transient): with
     * a backoff longer than the deadline the requests wait out their deadline unsent. */
    int pid = tu_server_start_ok(tu_port(TU_PRIV_CLOSE_DEADLINE), NULL);
    int fd = tu_raw_connect(tu_port(TU_PRIV_CLOSE_DEADLINE));
    assert_true(fd >= 0);
    char master_port[16], buf[256];
    snprintf(master_port, sizeof master_port, "%d", tu_port(TU_NEVER_STARTED));
    assert_int_equal(tu_raw_send(fd, "CONFIG", "SET", "replica-serve-stale-data", "no", NULL), 0);
    assert_int_equal(tu_raw_read(fd, buf, sizeof buf, 5000), 0);
    assert_string_equal(buf, "+OK");
    assert_int_equal(tu_raw_send(fd, "REPLICAOF", "127.0.0.1", master_port, NULL), 0);
    assert_int_equal(tu_raw_read(fd, buf, sizeof buf, 5000), 0);
    assert_string_equal(buf, "+OK");
    tu_raw_close(fd);
    rcm_client *c = tu_open_ok(tu_port(TU_PRIV_CLOSE_DEADLINE), "command_timeout_ms", "60000", "pool.size", "1",
                               "io_threads", "1", "retry.backoff_ms", "120000", "retry.backoff_max_ms", "120000",
                               NULL);
    static struct pending p;
    memset(&p, 0, sizeof p);
    char key[64];
    key_for(key, sizeof key, "deadline");
    const char *get[] = {"GET", key};
    for (int i = 0; i < REQUESTS; i++) TU_ASSERT_RC(rcm_command_async(c, 2, get, NULL, pending_cb, &p), RCM_OK);
    /* INFO runs on a stale replica; its reply comes after the GETs' on the one connection */
    rcm_reply *r = tu_cmd_ok(c, "INFO", "replication", NULL);
    rcm_reply_free(r);
    if (atomic_load(&p.calls) != 0) fail_msg("a GET ended before close: %s", p.first_error);

    rcm_client_close(c);
    assert_int_equal(atomic_load(&p.calls), REQUESTS);
    if (atomic_load(&p.closed) != REQUESTS)
        fail_msg("%d of %d requests ended RCM_ERR_CLOSED at close; first other: %s", atomic_load(&p.closed),
                 REQUESTS, p.first_error);
    tu_server_stop(pid);
    tu_watchdog_disarm();
}

/* ---- rcm_client_shutdown while other threads wait in calls on the client -------------- */

struct waiter {
    rcm_client *client;
    int use_pipeline;
    rcm_status status;
    char error[256];
    atomic_int started;
    atomic_int done;
};

static void *waiter_main(void *arg) {
    struct waiter *w = arg;
    const char *get[] = {"GET", "lifecycle:shutdown"};
    atomic_store(&w->started, 1);
    if (w->use_pipeline) {
        rcm_pipeline *p = NULL;
        w->status = rcm_pipeline_new(w->client, &p);
        if (w->status == RCM_OK) w->status = rcm_pipeline_append(p, 2, get, NULL);
        if (w->status == RCM_OK) {
            rcm_reply **replies = NULL;
            size_t n = 0;
            w->status = rcm_pipeline_exec(p, &replies, &n);
            /* a request that failed is an error reply made by rcm, carrying its status */
            if (w->status == RCM_OK && n == 1) w->status = rcm_reply_status(replies[0]);
            for (size_t i = 0; i < n; i++) rcm_reply_free(replies[i]);
            rcm_free(replies);
        }
        snprintf(w->error, sizeof w->error, "%s", rcm_last_error());
        rcm_pipeline_free(p);
    } else {
        rcm_reply *r = NULL;
        w->status = rcm_command(w->client, 2, get, NULL, &r);
        snprintf(w->error, sizeof w->error, "%s", rcm_last_error());
        rcm_reply_free(r);
    }
    atomic_store(&w->done, 1);
    return NULL;
}

static void test_shutdown__ends_calls_waiting_in_other_threads(void **state) {
    (void)state;
    tu_watchdog_arm(90, "rcm_client_shutdown with calls waiting on a stopped server");
    int port = tu_port(TU_PRIV_SHUTDOWN);
    int pid = tu_server_start_ok(port, NULL);
    /* No deadline and no stall check: nothing but the shutdown ends these calls. */
    rcm_client *c = tu_open_ok(port, "command_timeout_ms", "0", "pool.stall_timeout_ms", "0",
                               "pool.health_check_ms", "0", NULL);
    assert_int_equal(kill(pid, SIGSTOP), 0);
    static struct waiter w[2];
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].client = c;
        w[i].use_pipeline = i;
        assert_int_equal(pthread_create(&t[i], NULL, waiter_main, &w[i]), 0);
    }
    for (int i = 0; i < 2; i++) assert_true(wait_flag(&w[i].started, 10));
    tu_sleep_ms(300); /* the calls are sent and wait for replies that do not come */
    for (int i = 0; i < 2; i++)
        if (atomic_load(&w[i].done)) fail_msg("call %d ended before the shutdown: %s", i, w[i].error);

    TU_ASSERT_RC(rcm_client_shutdown(c), RCM_OK);
    for (int i = 0; i < 2; i++) {
        if (!wait_flag(&w[i].done, 30))
            fail_msg("%s still waits 30 s after rcm_client_shutdown", i ? "rcm_pipeline_exec" : "rcm_command");
        pthread_join(t[i], NULL);
        if (w[i].status != RCM_ERR_CLOSED)
            fail_msg("%s after rcm_client_shutdown: %s '%s', expected RCM_ERR_CLOSED",
                     i ? "rcm_pipeline_exec" : "rcm_command", rcm_status_name(w[i].status), w[i].error);
    }
    /* later calls find it closed; shutting down again is harmless; close still frees */
    rcm_reply *r = NULL;
    TU_ASSERT_RC(tu_cmd(c, &r, "PING", NULL), RCM_ERR_CLOSED);
    assert_null(r);
    TU_ASSERT_RC(rcm_client_shutdown(c), RCM_OK);
    TU_ASSERT_RC(rcm_client_shutdown(NULL), RCM_ERR_ARG);
    rcm_client_close(c);
    kill(pid, SIGCONT);
    tu_server_stop(pid);
    tu_watchdog_disarm();
}

/* ---- snapshots from callbacks on different I/O threads at once ------------------------- */

struct snapshot_cb {
    rcm_client *client;
    atomic_int inside;  /* callbacks that reached the rendezvous */
    atomic_int done;
    rcm_status stats[2], topology[2];
    pthread_t thread[2];
    char error[2][256];
};

struct snapshot_arg {
    struct snapshot_cb *s;
    int i;
};

static void snapshot_from_cb(rcm_status status, rcm_reply *reply, void *userdata) {
    struct snapshot_arg *a = userdata;
    struct snapshot_cb *s = a->s;
    (void)status;
    rcm_reply_free(reply);
    s->thread[a->i] = pthread_self();
    /* Both callbacks are inside before either asks: each I/O thread is busy in one. */
    atomic_fetch_add(&s->inside, 1);
    double until = tu_now() + 5;
    while (atomic_load(&s->inside) < 2 && tu_now() < until) tu_sleep_ms(1);
    char *json = NULL;
    s->stats[a->i] = rcm_client_stats_json(s->client, &json);
    snprintf(s->error[a->i], sizeof s->error[a->i], "%s", rcm_last_error());
    rcm_free(json);
    json = NULL;
    s->topology[a->i] = rcm_client_topology_json(s->client, &json);
    rcm_free(json);
    atomic_fetch_add(&s->done, 1);
}

static void *send_snapshot_cb(void *arg) {
    struct snapshot_arg *a = arg;
    const char *ping[] = {"PING"};
    /* each new thread is handed the next I/O thread (round robin) */
    if (rcm_command_async(a->s->client, 1, ping, NULL, snapshot_from_cb, a) != RCM_OK)
        atomic_fetch_add(&a->s->done, 1);
    return NULL;
}

static void test_callback__snapshots_on_two_io_threads_at_once_do_not_deadlock(void **state) {
    (void)state;
    tu_watchdog_arm(60, "rcm_client_stats_json from callbacks on two I/O threads at once");
    static struct snapshot_cb s;
    memset(&s, 0, sizeof s);
    s.client = tu_open_ok(tu_port(TU_PLAIN), "io_threads", "2", "command_timeout_ms", "5000", NULL);
    static struct snapshot_arg args[2];
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        args[i].s = &s;
        args[i].i = i;
        assert_int_equal(pthread_create(&t[i], NULL, send_snapshot_cb, &args[i]), 0);
        pthread_join(t[i], NULL);
    }
    double until = tu_now() + 30;
    while (atomic_load(&s.done) < 2 && tu_now() < until) tu_sleep_ms(5);
    if (atomic_load(&s.done) < 2) fail_msg("the callbacks asking for stats did not return: the I/O threads wait for each other");
    if (pthread_equal(s.thread[0], s.thread[1])) fail_msg("both callbacks ran on one I/O thread: the test proves nothing");
    for (int i = 0; i < 2; i++) {
        TU_ASSERT_RC(s.stats[i], RCM_ERR_STATE);
        TU_ASSERT_RC(s.topology[i], RCM_ERR_STATE);
        if (!strstr(s.error[i], "rcm_client_stats_json") || !strstr(s.error[i], "callback"))
            fail_msg("the refusal does not say why: '%s'", s.error[i]);
    }
    /* from an ordinary thread they work */
    char *json = NULL;
    TU_ASSERT_RC(rcm_client_stats_json(s.client, &json), RCM_OK);
    assert_true(tu_json_valid(json));
    rcm_free(json);
    json = NULL;
    TU_ASSERT_RC(rcm_client_topology_json(s.client, &json), RCM_OK);
    rcm_free(json);
    rcm_client_close(s.client);
    tu_watchdog_disarm();
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pipeline__used_after_close_is_closed),
        cmocka_unit_test(test_callback__calls_that_wait_are_refused_on_the_io_thread),
        cmocka_unit_test(test_events__close_from_the_event_callback),
        cmocka_unit_test(test_fork__child_closes_a_client_with_an_event_callback),
        cmocka_unit_test(test_close__requests_waiting_for_their_deadline_end_closed),
        cmocka_unit_test(test_shutdown__ends_calls_waiting_in_other_threads),
        cmocka_unit_test(test_callback__snapshots_on_two_io_threads_at_once_do_not_deadlock),
    };
    return TU_RUN(tests, argc, argv);
}
