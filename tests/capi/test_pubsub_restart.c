/* capi.pubsub_restart: subscriptions through a SIGKILLed server restarted on the same port
 * (resubscribed, one GAP per name and subscriber, one event), changes made while it is down,
 * and a SIGSTOPped server detected and resubscribed. Split from capi.pubsub. */
#define _GNU_SOURCE
#include "pubsub_local.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

/* ---- SIGKILL and restart on the same port ---------------------------------------------- */

static atomic_int gap_events;
static char gap_detail[1024];
static pthread_mutex_t gap_mu = PTHREAD_MUTEX_INITIALIZER;

static void gap_event_cb(rcm_event_kind kind, const char *node, const char *detail, void *ud) {
    (void)ud;
    (void)node;
    if (kind != RCM_EVENT_SUBSCRIPTION_GAP) return;
    pthread_mutex_lock(&gap_mu);
    snprintf(gap_detail, sizeof gap_detail, "%s", detail ? detail : "");
    pthread_mutex_unlock(&gap_mu);
    atomic_fetch_add(&gap_events, 1);
}

static void test_pubsub__server_killed_and_restarted_resubscribes(void **state) {
    (void)state;
    tu_watchdog_arm(120, "restart");
    int port = tu_port(TU_PRIV_PUBSUB_RESTART);
    int pid = tu_server_start_ok(port, NULL);
    rcm_config *cfg = tu_config_ok("redis", port, "connect_timeout_ms", "500", "retry.backoff_max_ms", "200", NULL);
    TU_ASSERT_RC(rcm_config_set_event_callback(cfg, gap_event_cb, NULL), RCM_OK);
    rcm_client *c = NULL;
    TU_ASSERT_RC(rcm_client_open(cfg, &c), RCM_OK);
    rcm_config_free(cfg);
    enum { NSUB = 3, NCH = 30 };
    rcm_subscriber *subs[NSUB];
    char chbuf[NCH][64];
    const char *chs[NCH];
    for (int i = 0; i < NCH; i++) {
        name_for(chbuf[i], sizeof chbuf[i], "restart", i);
        chs[i] = chbuf[i];
    }
    char pat[64];
    name_for(pat, sizeof pat, "restartp", 0);
    strcat(pat, "*");
    const char *pats[] = {pat};
    for (int i = 0; i < NSUB; i++) {
        TU_ASSERT_RC(rcm_subscriber_open(c, NULL, NULL, &subs[i]), RCM_OK);
        TU_ASSERT_RC(rcm_subscribe(subs[i], RCM_SUB_CHANNEL, NCH, chs, NULL), RCM_OK);
        TU_ASSERT_RC(rcm_subscribe(subs[i], RCM_SUB_PATTERN, 1, pats, NULL), RCM_OK);
        wait_subscribed(subs[i], NCH + 1);
    }
    long long killed_at = (long long)time(NULL) * 1000;
    tu_server_kill_ok(pid);
    tu_sleep_ms(300);
    pid = tu_server_start_ok(port, NULL);
    /* each subscriber hears one GAP per name, then gets what is published after */
    for (int i = 0; i < NSUB; i++) {
        int gaps = 0;
        static unsigned char seen[NCH + 1];
        memset(seen, 0, sizeof seen);
        while (gaps < NCH + 1) {
            rcm_message *m = NULL;
            TU_ASSERT_RC(rcm_subscriber_next(subs[i], 20000, &m), RCM_OK);
            if (m->type != RCM_MSG_GAP) fail_msg("subscriber %d: message type %d before its gaps", i, (int)m->type);
            assert_true(m->gap_from_ms <= m->gap_to_ms);
            assert_true(m->gap_to_ms >= killed_at - 1000);
            int idx = m->kind == RCM_SUB_PATTERN ? NCH : atoi(strrchr(m->channel, ':') + 1);
            if (seen[idx]++) fail_msg("subscriber %d: two gaps for '%s'", i, m->channel);
            gaps++;
            rcm_message_free(m);
        }
    }
    rcm_client *pub = tu_open_ok(port, NULL);
    for (int k = 0; k < NCH; k++) publish_ok(pub, chs[k], "after", 5);
    char pch[64];
    name_for(pch, sizeof pch, "restartp", 0);
    strcat(pch, "z");
    publish_ok(pub, pch, "after", 5);
    for (int i = 0; i < NSUB; i++) {
        for (int k = 0; k < NCH + 1; k++) {
            rcm_message *m = NULL;
            TU_ASSERT_RC(rcm_subscriber_next(subs[i], 10000, &m), RCM_OK);
            if (m->type != RCM_MSG_MESSAGE) fail_msg("subscriber %d: type %d (a second GAP?)", i, (int)m->type);
            assert_memory_equal(m->payload, "after", 5);
            rcm_message_free(m);
        }
        rcm_message *m = NULL;
        TU_ASSERT_RC(rcm_subscriber_next(subs[i], 200, &m), RCM_ERR_TIMEOUT);
    }
    for (double until = tu_now() + 5; atomic_load(&gap_events) == 0 && tu_now() < until;) tu_sleep_ms(20);
    tu_sleep_ms(200);
    assert_int_equal(atomic_load(&gap_events), 1);
    pthread_mutex_lock(&gap_mu);
    printf("gap event: %s\n", gap_detail);
    assert_non_null(strstr(gap_detail, "31 subscription"));
    assert_non_null(strstr(gap_detail, "and 11 more"));
    assert_non_null(strstr(gap_detail, " ms)"));
    pthread_mutex_unlock(&gap_mu);
    assert_int_equal(stats_number(c, "gaps"), 1);
    assert_int_equal(stats_number(c, "resubscribes"), NCH + 1);
    for (int i = 0; i < NSUB; i++) rcm_subscriber_close(subs[i]);
    rcm_client_close(pub);
    rcm_client_close(c);
    tu_server_stop(pid);
    tu_watchdog_disarm();
}

/* While the server is down: a name added waits (SUBSCRIBED once it is live, no GAP), a
 * name removed is gone at once (UNSUBSCRIBED, no GAP), the others get their GAP. */
static void test_pubsub__changes_while_the_server_is_down(void **state) {
    (void)state;
    tu_watchdog_arm(120, "changes while down");
    int port = tu_port(TU_PRIV_PUBSUB_RESTART);
    int pid = tu_server_start_ok(port, NULL);
    rcm_client *c = tu_open_ok(port, "connect_timeout_ms", "500", "retry.backoff_max_ms", "200", NULL);
    rcm_subscriber *s = NULL;
    TU_ASSERT_RC(rcm_subscriber_open(c, NULL, NULL, &s), RCM_OK);
    char kept[64], removed[64], added[64];
    name_for(kept, sizeof kept, "down", 0);
    name_for(removed, sizeof removed, "down", 1);
    name_for(added, sizeof added, "down", 2);
    const char *both[] = {kept, removed};
    TU_ASSERT_RC(rcm_subscribe(s, RCM_SUB_CHANNEL, 2, both, NULL), RCM_OK);
    wait_subscribed(s, 2);
    tu_server_kill_ok(pid);
    for (double until = tu_now() + 10; stats_number(c, "subscriber_connections") != 0 && tu_now() < until;) tu_sleep_ms(20);
    assert_int_equal(stats_number(c, "subscriber_connections"), 0);
    const char *rm[] = {removed};
    const char *add[] = {added};
    TU_ASSERT_RC(rcm_unsubscribe(s, RCM_SUB_CHANNEL, 1, rm, NULL), RCM_OK);
    TU_ASSERT_RC(rcm_subscribe(s, RCM_SUB_CHANNEL, 1, add, NULL), RCM_OK);
    rcm_message *m = next_of_type(s, RCM_MSG_UNSUBSCRIBED, 5000);
    assert_string_equal(m->channel, removed);
    rcm_message_free(m);
    tu_sleep_ms(300);
    pid = tu_server_start_ok(port, NULL);
    int gap_kept = 0, subscribed_added = 0;
    for (double until = tu_now() + 20; (gap_kept + subscribed_added < 2) && tu_now() < until;) {
        m = NULL;
        if (rcm_subscriber_next(s, 100, &m) != RCM_OK) continue;
        if (m->type == RCM_MSG_GAP) {
            if (strcmp(m->channel, kept) != 0) fail_msg("GAP for '%s'", m->channel);
            gap_kept++;
        } else if (m->type == RCM_MSG_SUBSCRIBED) {
            if (strcmp(m->channel, added) != 0) fail_msg("SUBSCRIBED for '%s'", m->channel);
            subscribed_added++;
        } else {
            fail_msg("unexpected message type %d for '%s'", (int)m->type, m->channel ? m->channel : "");
        }
        rcm_message_free(m);
    }
    assert_int_equal(gap_kept, 1);
    assert_int_equal(subscribed_added, 1);
    rcm_client *pub = tu_open_ok(port, NULL);
    rcm_reply *r = tu_cmd_ok(pub, "PUBSUB", "NUMSUB", kept, removed, added, NULL);
    assert_int_equal(rcm_reply_integer(rcm_reply_element(r, 1)), 1);
    assert_int_equal(rcm_reply_integer(rcm_reply_element(r, 3)), 0);
    assert_int_equal(rcm_reply_integer(rcm_reply_element(r, 5)), 1);
    rcm_reply_free(r);
    rcm_subscriber_close(s);
    rcm_client_close(pub);
    rcm_client_close(c);
    tu_server_stop(pid);
    tu_watchdog_disarm();
}

static long long wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A server that stops answering keeps its socket open: only the health check (a PING
 * answered ["pong", ""] while subscribed) can tell. */
static void test_pubsub__stopped_server_is_detected_and_resubscribed(void **state) {
    (void)state;
    tu_watchdog_arm(120, "stopped server");
    int port = tu_port(TU_PRIV_PUBSUB_STOPPED);
    int pid = tu_server_start_ok(port, NULL);
    rcm_client *c = tu_open_ok(port, "pool.health_check_ms", "200", "command_timeout_ms", "300", "connect_timeout_ms",
                               "300", "retry.backoff_max_ms", "200", NULL);
    rcm_subscriber *s = NULL;
    TU_ASSERT_RC(rcm_subscriber_open(c, NULL, NULL, &s), RCM_OK);
    char ch[64];
    name_for(ch, sizeof ch, "stopped", 0);
    const char *names[] = {ch};
    TU_ASSERT_RC(rcm_subscribe(s, RCM_SUB_CHANNEL, 1, names, NULL), RCM_OK);
    wait_subscribed(s, 1);
    /* idle for several health checks: the PINGs are answered, nothing is lost */
    tu_sleep_ms(1200);
    rcm_message *m = NULL;
    TU_ASSERT_RC(rcm_subscriber_next(s, 0, &m), RCM_ERR_TIMEOUT);
    assert_int_equal(stats_number(c, "subscriber_connections"), 1);
    assert_int_equal(stats_number(c, "gaps"), 0);
    long long stopped_at = wall_ms();
    if (kill(pid, SIGSTOP) != 0) fail_msg("SIGSTOP failed");
    long long conns = 1;
    for (double until = tu_now() + 20; conns != 0 && tu_now() < until;) {
        tu_sleep_ms(50);
        conns = stats_number(c, "subscriber_connections");
    }
    long long resumed_at = wall_ms();
    kill(pid, SIGCONT);
    assert_int_equal(conns, 0); /* the dead connection was given up */
    m = next_of_type(s, RCM_MSG_GAP, 20000);
    printf("gap %lld..%lld (stopped at %lld, resumed at %lld)\n", m->gap_from_ms, m->gap_to_ms, stopped_at, resumed_at);
    assert_true(m->gap_from_ms <= stopped_at + 5);
    assert_true(m->gap_to_ms >= resumed_at);
    rcm_message_free(m);
    publish_ok(c, ch, "back", 4);
    m = next_of_type(s, RCM_MSG_MESSAGE, 10000);
    assert_memory_equal(m->payload, "back", 4);
    rcm_message_free(m);
    rcm_subscriber_close(s);
    rcm_client_close(c);
    tu_server_stop(pid);
    tu_watchdog_disarm();
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pubsub__server_killed_and_restarted_resubscribes),
        cmocka_unit_test(test_pubsub__changes_while_the_server_is_down),
        cmocka_unit_test(test_pubsub__stopped_server_is_detected_and_resubscribed),
    };
    return TU_RUN(tests, argc, argv);
}
