/* capi.pubsub: subscriptions as desired state on a standalone server: delivery and order,
 * patterns, binary payloads, many names and many subscribers on one connection, pull
 * mode with poll(), the bound on a slow consumer, callbacks and threads that race;
 * the server's restarts are capi.pubsub_restart. */
#define _GNU_SOURCE
#include "pubsub_local.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- order and payloads ---------------------------------------------------------------- */

static void test_pubsub__messages_arrive_in_order(void **state) {
    (void)state;
    tu_watchdog_arm(60, "order");
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), NULL);
    rcm_subscriber *s = NULL;
    TU_ASSERT_RC(rcm_subscriber_open(c, NULL, NULL, &s), RCM_OK);
    char ch[64];
    name_for(ch, sizeof ch, "order", 0);
    const char *names[] = {ch};
    TU_ASSERT_RC(rcm_subscribe(s, RCM_SUB_CHANNEL, 1, names, NULL), RCM_OK);
    rcm_message *m = next_of_type(s, RCM_MSG_SUBSCRIBED, 10000);
    assert_int_equal(m->kind, RCM_SUB_CHANNEL);
    assert_string_equal(m->channel, ch);
    rcm_message_free(m);
    const int n = 2000;
    char payload[32];
    for (int i = 0; i < n; i++) {
        snprintf(payload, sizeof payload, "%d", i);
        publish_ok(c, ch, payload, strlen(payload));
    }
    for (int i = 0; i < n; i++) {
        m = NULL;
        TU_ASSERT_RC(rcm_subscriber_next(s, 5000, &m), RCM_OK);
        assert_int_equal(m->type, RCM_MSG_MESSAGE);
        assert_string_equal(m->channel, ch);
        assert_null(m->pattern);
        snprintf(payload, sizeof payload, "%d", i);
        if (strcmp(m->payload, payload) != 0) fail_msg("message %d: got payload '%s'", i, m->payload);
        rcm_message_free(m);
    }
    rcm_subscriber_close(s);
    rcm_client_close(c);
    tu_watchdog_disarm();
}

/* Names are confirmed in the order they were asked for, not in the order rcm keeps them:
 * 'zz', 'aa', 'mm' in one call, then 'yy' and 'bb' in two more before the first is sent. */
static void test_pubsub__names_are_confirmed_in_the_order_asked(void **state) {
    (void)state;
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), NULL);
    rcm_subscriber *s = NULL;
    TU_ASSERT_RC(rcm_subscriber_open(c, NULL, NULL, &s), RCM_OK);
    const char *tags[] = {"zz", "aa", "mm", "yy", "bb"};
    char names[5][64];
    const char *ptrs[5];
    for (int i = 0; i < 5; i++) {
        snprintf(names[i], sizeof names[i], "ps:%d:%s:order", (int)getpid(), tags[i]);
        ptrs[i] = names[i];
    }
    TU_ASSERT_RC(rcm_subscribe(s, RCM_SUB_CHANNEL, 3, ptrs, NULL), RCM_OK);
    TU_ASSERT_RC(rcm_subscribe(s, RCM_SUB_CHANNEL, 1, ptrs + 3, NULL), RCM_OK);
    TU_ASSERT_RC(rcm_subscribe(s, RCM_SUB_CHANNEL, 1, ptrs + 4, NULL), RCM_OK);
    for (int i = 0; i < 5; i++) {
        rcm_message *m = next_of_type(s, RCM_MSG_SUBSCRIBED, 10000);
        if (strcmp(m->channel, names[i]) != 0)
            fail_msg("confirmation %d names '%s', expected '%s' (asked for zz, aa, mm, yy, bb)", i, m->channel,
                     names[i]);
        rcm_message_free(m);
    }
    rcm_subscriber_close(s);
    rcm_client_close(c);
}

static void test_pubsub__pattern_message_names_the_pattern(void **state) {
    (void)state;
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), NULL);
    rcm_subscriber *s = NULL;
    TU_ASSERT_RC(rcm_subscriber_open(c, NULL, NULL, &s), RCM_OK);
    char pat[64], ch[64];
    name_for(pat, sizeof pat, "pat", 0);
    strcat(pat, ":*");
    name_for(ch, sizeof ch, "pat", 0);
    strcat(ch, ":news");
    const char *names[] = {pat};
    TU_ASSERT_RC(rcm_subscribe(s, RCM_SUB_PATTERN, 1, names, NULL), RCM_OK);
    rcm_message *m = next_of_type(s, RCM_MSG_SUBSCRIBED, 10000);
    assert_int_equal(m->kind, RCM_SUB_PATTERN);
    assert_string_equal(m->channel, pat);
    rcm_message_free(m);
    publish_ok(c, ch, "hello", 5);
    m = next_of_type(s, RCM_MSG_MESSAGE, 10000);
    assert_int_equal(m->kind, RCM_SUB_PATTERN);
    assert_string_equal(m->channel, ch);
    assert_non_null(m->pattern);
    assert_string_equal(m->pattern, pat);
    assert_int_equal(m->payload_len, 5);
    assert_memory_equal(m->payload, "hello", 5);
    assert_non_null(m->node);
    assert_int_equal(strncmp(m->node, "127.0.0.1:", 10), 0);
    rcm_message_free(m);
    rcm_subscriber_close(s);
    rcm_client_close(c);
}

/* A name subscribed with and without RCM_SUB_EVERY_PRIMARY is two subscriptions: one
 * server subscription, each message delivered once per flag. */
static void test_pubsub__every_primary_flag_is_a_subscription_of_its_own(void **state) {
    (void)state;
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), NULL);
    rcm_subscriber *s = NULL;
    TU_ASSERT_RC(rcm_subscriber_open(c, NULL, NULL, &s), RCM_OK);
    char ch[64];
    name_for(ch, sizeof ch, "every", 0);
    const char *names[] = {ch};
    TU_ASSERT_RC(rcm_subscribe(s, RCM_SUB_CHANNEL, 1, names, NULL), RCM_OK);
    TU_ASSERT_RC(rcm_subscribe(s, RCM_SUB_CHANNEL | RCM_SUB_EVERY_PRIMARY, 1, names, NULL), RCM_OK);
    wait_subscribed(s, 2);
    publish_ok(c, ch, "twice", 5);
    int seen[2] = {0, 0};
    for (int i = 0; i < 2; i++) {
        rcm_message *m = next_of_type(s, RCM_MSG_MESSAGE, 10000);
        assert_string_equal(m->channel, ch);
        assert_memory_equal(m->payload, "twice", 5);
        seen[m->every_primary ? 1 : 0]++;
        rcm_message_free(m);
    }
    assert_int_equal(seen[0], 1);
    assert_int_equal(seen[1], 1);
    /* dropping one flag keeps the other */
    TU_ASSERT_RC(rcm_unsubscribe(s, RCM_SUB_CHANNEL, 1, names, NULL), RCM_OK);
    rcm_message_free(next_of_type(s, RCM_MSG_UNSUBSCRIBED, 10000));
    publish_ok(c, ch, "once", 4);
    rcm_message *m = next_of_type(s, RCM_MSG_MESSAGE, 10000);
    assert_int_equal(m->every_primary, 1);
    rcm_message_free(m);
    TU_ASSERT_RC(rcm_subscriber_next(s, 200, &m), RCM_ERR_TIMEOUT);
    rcm_subscriber_close(s);
    rcm_client_close(c);
}

static void test_pubsub__binary_payload_and_channel(void **state) {
    (void)state;
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), NULL);
    rcm_subscriber *s = NULL;
    TU_ASSERT_RC(rcm_subscriber_open(c, NULL, NULL, &s), RCM_OK);
    char ch[64];
    int chlen = snprintf(ch, sizeof ch, "ps:%d:bin", (int)getpid());
    ch[chlen] = '\0';
    ch[chlen + 1] = 'x'; /* the channel carries a NUL byte: "ps:<pid>:bin\0x" */
    const size_t channel_len = (size_t)chlen + 2;
    const char *names[] = {ch};
    size_t lens[] = {channel_len};
    TU_ASSERT_RC(rcm_subscribe(s, RCM_SUB_CHANNEL, 1, names, lens), RCM_OK);
    wait_subscribed(s, 1);
    const char payload[] = {'a', '\0', 'b', '\r', '\n', '\0', (char)0xff};
    const char *argv[] = {"PUBLISH", ch, payload};
    size_t alens[] = {7, channel_len, sizeof payload};
    rcm_reply *r = NULL;
    TU_ASSERT_RC(rcm_command(c, 3, argv, alens, &r), RCM_OK);
    TU_ASSERT_INT_REPLY(r, 1);
    rcm_reply_free(r);
    rcm_message *m = next_of_type(s, RCM_MSG_MESSAGE, 10000);
    assert_int_equal(m->channel_len, channel_len);
    assert_memory_equal(m->channel, ch, channel_len);
    assert_int_equal(m->payload_len, sizeof payload);
    assert_memory_equal(m->payload, payload, sizeof payload);
    assert_int_equal(m->payload[m->payload_len], '\0');
    rcm_message_free(m);
    rcm_subscriber_close(s);
    rcm_client_close(c);
}

/* ---- many names, many subscribers ------------------------------------------------------ */

static void test_pubsub__thousand_channels_and_hundred_patterns(void **state) {
    (void)state;
    tu_watchdog_arm(120, "many names");
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), NULL);
    rcm_subscriber *s = NULL;
    TU_ASSERT_RC(rcm_subscriber_open(c, NULL, NULL, &s), RCM_OK);
    enum { NCH = 1000, NPAT = 100 };
    static char chbuf[NCH][64], patbuf[NPAT][64];
    const char *chs[NCH], *pats[NPAT];
    for (int i = 0; i < NCH; i++) {
        name_for(chbuf[i], sizeof chbuf[i], "many", i);
        chs[i] = chbuf[i];
    }
    for (int i = 0; i < NPAT; i++) {
        snprintf(patbuf[i], sizeof patbuf[i], "ps:%d:pmany:%d:*", (int)getpid(), i);
        pats[i] = patbuf[i];
    }
    TU_ASSERT_RC(rcm_subscribe(s, RCM_SUB_CHANNEL, NCH, chs, NULL), RCM_OK);
    TU_ASSERT_RC(rcm_subscribe(s, RCM_SUB_PATTERN, NPAT, pats, NULL), RCM_OK);
    wait_subscribed(s, NCH + NPAT);
    assert_int_equal(stats_number(c, "channels"), NCH);
    assert_int_equal(stats_number(c, "patterns"), NPAT);
    for (int i = 0; i < NCH; i++) publish_ok(c, chs[i], "c", 1);
    char ch[64];
    for (int i = 0; i < NPAT; i++) {
        snprintf(ch, sizeof ch, "ps:%d:pmany:%d:x", (int)getpid(), i);
        publish_ok(c, ch, "p", 1);
    }
    static unsigned char seen_ch[NCH], seen_pat[NPAT];
    memset(seen_ch, 0, sizeof seen_ch);
    memset(seen_pat, 0, sizeof seen_pat);
    for (int got = 0; got < NCH + NPAT; got++) {
        rcm_message *m = NULL;
        TU_ASSERT_RC(rcm_subscriber_next(s, 5000, &m), RCM_OK);
        assert_int_equal(m->type, RCM_MSG_MESSAGE);
        int idx = -1;
        if (m->kind == RCM_SUB_CHANNEL) {
            const char *colon = strrchr(m->channel, ':');
            idx = atoi(colon + 1);
            assert_true(idx >= 0 && idx < NCH);
            seen_ch[idx]++;
        } else {
            assert_int_equal(m->kind, RCM_SUB_PATTERN);
            if (sscanf(m->pattern, "ps:%*d:pmany:%d:*", &idx) != 1) fail_msg("pattern '%s'", m->pattern);
            assert_true(idx >= 0 && idx < NPAT);
            seen_pat[idx]++;
        }
        rcm_message_free(m);
    }
    for (int i = 0; i < NCH; i++)
        if (seen_ch[i] != 1) fail_msg("channel %d delivered %d times", i, seen_ch[i]);
    for (int i = 0; i < NPAT; i++)
        if (seen_pat[i] != 1) fail_msg("pattern %d delivered %d times", i, seen_pat[i]);
    rcm_subscriber_close(s);
    rcm_client_close(c);
    tu_watchdog_disarm();
}

/* Subscribers on this client's pub/sub connection(s), as the server counts them. */
static int server_pubsub_clients(rcm_client *probe, const char *client_name) {
    rcm_reply *r = tu_cmd_ok(probe, "CLIENT", "LIST", "TYPE", "pubsub", NULL);
    size_t len = 0;
    const char *text = rcm_reply_string(r, &len);
    char needle[128];
    snprintf(needle, sizeof needle, "name=%s ", client_name);
    int n = 0;
    for (const char *p = text; p && (p = strstr(p, needle)) != NULL; p += strlen(needle)) n++;
    rcm_reply_free(r);
    return n;
}

struct counting {
    atomic_int messages;
    atomic_int subscribed;
};

static void count_cb(const rcm_message *m, void *ud) {
    struct counting *c = ud;
    if (m->type == RCM_MSG_MESSAGE) atomic_fetch_add(&c->messages, 1);
    if (m->type == RCM_MSG_SUBSCRIBED) atomic_fetch_add(&c->subscribed, 1);
}

static void test_pubsub__two_hundred_subscribers_share_one_connection(void **state) {
    (void)state;
    tu_watchdog_arm(120, "shared connection");
    char cname[64];
    snprintf(cname, sizeof cname, "ps-share-%d", (int)getpid());
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), "client_name", cname, NULL);
    enum { NSUB = 200, NCH = 5 };
    static rcm_subscriber *subs[NSUB];
    static struct counting counts[NSUB];
    char chbuf[NCH][64];
    const char *chs[NCH];
    for (int i = 0; i < NCH; i++) {
        name_for(chbuf[i], sizeof chbuf[i], "share", i);
        chs[i] = chbuf[i];
    }
    for (int i = 0; i < NSUB; i++) {
        atomic_init(&counts[i].messages, 0);
        atomic_init(&counts[i].subscribed, 0);
        TU_ASSERT_RC(rcm_subscriber_open(c, count_cb, &counts[i], &subs[i]), RCM_OK);
        TU_ASSERT_RC(rcm_subscribe(subs[i], RCM_SUB_CHANNEL, NCH, chs, NULL), RCM_OK);
        /* subscribing twice adds nothing */
        TU_ASSERT_RC(rcm_subscribe(subs[i], RCM_SUB_CHANNEL, 1, chs, NULL), RCM_OK);
    }
    for (double until = tu_now() + 20; tu_now() < until;) {
        int done = 0;
        for (int i = 0; i < NSUB; i++) done += atomic_load(&counts[i].subscribed) == NCH;
        if (done == NSUB) break;
        tu_sleep_ms(20);
    }
    for (int i = 0; i < NSUB; i++) assert_int_equal(atomic_load(&counts[i].subscribed), NCH);
    rcm_client *probe = tu_open_ok(tu_port(TU_PLAIN), NULL);
    assert_int_equal(server_pubsub_clients(probe, cname), 1);
    assert_int_equal(stats_number(c, "subscriber_connections"), 1);
    assert_int_equal(stats_number(c, "subscribers"), NSUB);
    for (int i = 0; i < NCH; i++) {
        rcm_reply *r = NULL;
        const char *argv[] = {"PUBLISH", chs[i], "x"};
        TU_ASSERT_RC(rcm_command(probe, 3, argv, NULL, &r), RCM_OK);
        TU_ASSERT_INT_REPLY(r, 1); /* one server-side subscriber: rcm's one connection */
        rcm_reply_free(r);
    }
    for (double until = tu_now() + 20; tu_now() < until;) {
        int done = 0;
        for (int i = 0; i < NSUB; i++) done += atomic_load(&counts[i].messages) == NCH;
        if (done == NSUB) break;
        tu_sleep_ms(20);
    }
    for (int i = 0; i < NSUB; i++) assert_int_equal(atomic_load(&counts[i].messages), NCH);
    for (int i = 0; i < NSUB; i++) rcm_subscriber_close(subs[i]);
    /* nothing wanted any more: the connection goes */
    int left = -1;
    for (double until = tu_now() + 10; tu_now() < until && left != 0;) {
        left = server_pubsub_clients(probe, cname);
        if (left) tu_sleep_ms(50);
    }
    assert_int_equal(left, 0);
    rcm_client_close(probe);
    rcm_client_close(c);
    tu_watchdog_disarm();
}

static void test_pubsub__unsubscribe_all_of_a_kind(void **state) {
    (void)state;
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), NULL);
    rcm_subscriber *s = NULL;
    TU_ASSERT_RC(rcm_subscriber_open(c, NULL, NULL, &s), RCM_OK);
    char a[64], b[64], p[64];
    name_for(a, sizeof a, "unsub", 1);
    name_for(b, sizeof b, "unsub", 2);
    name_for(p, sizeof p, "unsubp", 0);
    strcat(p, "*");
    const char *chs[] = {a, b};
    const char *pats[] = {p};
    TU_ASSERT_RC(rcm_subscribe(s, RCM_SUB_CHANNEL, 2, chs, NULL), RCM_OK);
    TU_ASSERT_RC(rcm_subscribe(s, RCM_SUB_PATTERN, 1, pats, NULL), RCM_OK);
    wait_subscribed(s, 3);
    TU_ASSERT_RC(rcm_unsubscribe(s, RCM_SUB_CHANNEL, 0, NULL, NULL), RCM_OK);
    int unsubscribed = 0;
    for (int i = 0; i < 2; i++) {
        rcm_message *m = next_of_type(s, RCM_MSG_UNSUBSCRIBED, 10000);
        assert_int_equal(m->kind, RCM_SUB_CHANNEL);
        unsubscribed += strcmp(m->channel, a) == 0 || strcmp(m->channel, b) == 0;
        rcm_message_free(m);
    }
    assert_int_equal(unsubscribed, 2);
    publish_ok(c, a, "gone", 4);
    char pch[64];
    name_for(pch, sizeof pch, "unsubp", 0);
    strcat(pch, "x");
    publish_ok(c, pch, "kept", 4);
    rcm_message *m = next_of_type(s, RCM_MSG_MESSAGE, 10000);
    /* the pattern's message, not the unsubscribed channel's */
    assert_int_equal(m->kind, RCM_SUB_PATTERN);
    assert_memory_equal(m->payload, "kept", 4);
    rcm_message_free(m);
    m = NULL;
    TU_ASSERT_RC(rcm_subscriber_next(s, 300, &m), RCM_ERR_TIMEOUT);
    assert_int_equal(stats_number(c, "channels"), 0);
    assert_int_equal(stats_number(c, "patterns"), 1);
    rcm_subscriber_close(s);
    rcm_client_close(c);
}

/* ---- pull mode with poll() ------------------------------------------------------------- */

/* A pull-mode subscriber of c whose channel ps:<pid>:<what>:0 (written to ch) is live. */
static rcm_subscriber *pull_subscriber_of(rcm_client *c, const char *what, char *ch, size_t n) {
    rcm_subscriber *s = NULL;
    TU_ASSERT_RC(rcm_subscriber_open(c, NULL, NULL, &s), RCM_OK);
    name_for(ch, n, what, 0);
    const char *names[] = {ch};
    TU_ASSERT_RC(rcm_subscribe(s, RCM_SUB_CHANNEL, 1, names, NULL), RCM_OK);
    wait_subscribed(s, 1);
    return s;
}

/* The descriptor is kept in step only once asked for: asked while messages already wait
 * (read by rcm_subscriber_next alone until then), it is readable at once; and it stays
 * readable until the last message is read, one call at a time, although rcm takes them
 * from its queue many at a time. */
static void test_pubsub__fd_asked_late_is_readable_until_the_last_message(void **state) {
    (void)state;
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), NULL);
    char ch[64];
    rcm_subscriber *s = pull_subscriber_of(c, "fdlate", ch, sizeof ch);
    rcm_message *m = NULL;
    enum { N = 5 };
    for (int i = 0; i < N; i++) {
        char p = (char)('a' + i);
        publish_ok(c, ch, &p, 1);
    }
    usleep(300 * 1000); /* most likely all arrived: the next call takes them at once */
    TU_ASSERT_RC(rcm_subscriber_next(s, 10000, &m), RCM_OK);
    assert_int_equal(m->payload[0], 'a');
    rcm_message_free(m);
    int fd = -1;
    TU_ASSERT_RC(rcm_subscriber_fd(s, &fd), RCM_OK);
    struct pollfd pfd = {fd, POLLIN, 0};
    for (int i = 1; i < N; i++) {
        pfd.revents = 0;
        assert_int_equal(poll(&pfd, 1, 10000), 1); /* message i waits */
        TU_ASSERT_RC(rcm_subscriber_next(s, 0, &m), RCM_OK);
        assert_int_equal(m->payload[0], 'a' + i);
        rcm_message_free(m);
    }
    TU_ASSERT_RC(rcm_subscriber_next(s, 0, &m), RCM_ERR_TIMEOUT);
    pfd.revents = 0;
    assert_int_equal(poll(&pfd, 1, 0), 0); /* drained */
    rcm_subscriber_close(s);
    rcm_client_close(c);
}

static void test_pubsub__fd_is_readable_while_messages_wait(void **state) {
    (void)state;
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), NULL);
    rcm_subscriber *s = NULL;
    TU_ASSERT_RC(rcm_subscriber_open(c, NULL, NULL, &s), RCM_OK);
    int fd = -1;
    TU_ASSERT_RC(rcm_subscriber_fd(s, &fd), RCM_OK);
    assert_true(fd >= 0);
    struct pollfd pfd = {fd, POLLIN, 0};
    assert_int_equal(poll(&pfd, 1, 0), 0); /* nothing waits */
    char ch[64];
    name_for(ch, sizeof ch, "fd", 0);
    const char *names[] = {ch};
    TU_ASSERT_RC(rcm_subscribe(s, RCM_SUB_CHANNEL, 1, names, NULL), RCM_OK);
    assert_int_equal(poll(&pfd, 1, 10000), 1); /* SUBSCRIBED waits */
    rcm_message *m = NULL;
    TU_ASSERT_RC(rcm_subscriber_next(s, 0, &m), RCM_OK);
    assert_int_equal(m->type, RCM_MSG_SUBSCRIBED);
    rcm_message_free(m);
    TU_ASSERT_RC(rcm_subscriber_next(s, 0, &m), RCM_ERR_TIMEOUT);
    pfd.revents = 0;
    assert_int_equal(poll(&pfd, 1, 0), 0); /* drained: not readable */
    publish_ok(c, ch, "1", 1);
    publish_ok(c, ch, "2", 1);
    assert_int_equal(poll(&pfd, 1, 10000), 1);
    int got = 0;
    for (double until = tu_now() + 10; got < 2 && tu_now() < until;) {
        pfd.revents = 0;
        if (poll(&pfd, 1, 100) != 1) continue;
        while (rcm_subscriber_next(s, 0, &m) == RCM_OK) {
            assert_int_equal(m->type, RCM_MSG_MESSAGE);
            assert_int_equal(m->payload[0], '1' + got);
            got++;
            rcm_message_free(m);
        }
    }
    assert_int_equal(got, 2);
    pfd.revents = 0;
    assert_int_equal(poll(&pfd, 1, 0), 0);
    /* wrong mode and bad arguments */
    rcm_subscriber *cb = NULL;
    struct counting counts;
    atomic_init(&counts.messages, 0);
    atomic_init(&counts.subscribed, 0);
    TU_ASSERT_RC(rcm_subscriber_open(c, count_cb, &counts, &cb), RCM_OK);
    TU_ASSERT_RC(rcm_subscriber_next(cb, 0, &m), RCM_ERR_STATE);
    TU_ASSERT_RC(rcm_subscriber_fd(cb, &fd), RCM_ERR_STATE);
    TU_ASSERT_RC(rcm_subscribe(cb, 7, 1, names, NULL), RCM_ERR_ARG);
    assert_non_null(strstr(rcm_last_error(), "kind"));
    TU_ASSERT_RC(rcm_subscribe(cb, RCM_SUB_CHANNEL, 0, names, NULL), RCM_ERR_ARG);
    TU_ASSERT_RC(rcm_subscribe(cb, RCM_SUB_SHARD | RCM_SUB_EVERY_PRIMARY, 1, names, NULL), RCM_ERR_ARG);
    const char *bad[] = {ch, NULL};
    TU_ASSERT_RC(rcm_subscribe(cb, RCM_SUB_CHANNEL, 2, bad, NULL), RCM_ERR_ARG);
    assert_non_null(strstr(rcm_last_error(), "names[1]"));
    const char *empty[] = {""};
    TU_ASSERT_RC(rcm_subscribe(cb, RCM_SUB_CHANNEL, 1, empty, NULL), RCM_ERR_ARG);
    rcm_subscriber *none = cb;
    TU_ASSERT_RC(rcm_subscriber_open(NULL, NULL, NULL, &none), RCM_ERR_ARG);
    assert_null(none);
    rcm_subscriber_close(cb);
    rcm_subscriber_close(s);
    rcm_subscriber_close(NULL);
    rcm_client_close(c);
}

/* ---- a slow consumer is bounded -------------------------------------------------------- */

static atomic_int dropped_events;

static void dropped_event_cb(rcm_event_kind kind, const char *node, const char *detail, void *ud) {
    (void)node;
    (void)detail;
    (void)ud;
    if (kind == RCM_EVENT_PUBSUB_DROPPED) atomic_fetch_add(&dropped_events, 1);
}

static void test_pubsub__slow_consumer_drops_oldest_and_counts(void **state) {
    (void)state;
    tu_watchdog_arm(120, "slow consumer");
    rcm_config *cfg = tu_config_ok("redis", tu_port(TU_PLAIN), "pubsub.max_pending", "50", NULL);
    TU_ASSERT_RC(rcm_config_set_event_callback(cfg, dropped_event_cb, NULL), RCM_OK);
    rcm_client *c = NULL;
    TU_ASSERT_RC(rcm_client_open(cfg, &c), RCM_OK);
    rcm_config_free(cfg);
    rcm_subscriber *slow = NULL, *fast = NULL;
    TU_ASSERT_RC(rcm_subscriber_open(c, NULL, NULL, &slow), RCM_OK);
    TU_ASSERT_RC(rcm_subscriber_open(c, NULL, NULL, &fast), RCM_OK);
    char ch[64];
    name_for(ch, sizeof ch, "slow", 0);
    const char *names[] = {ch};
    TU_ASSERT_RC(rcm_subscribe(slow, RCM_SUB_CHANNEL, 1, names, NULL), RCM_OK);
    TU_ASSERT_RC(rcm_subscribe(fast, RCM_SUB_CHANNEL, 1, names, NULL), RCM_OK);
    wait_subscribed(slow, 1);
    wait_subscribed(fast, 1);
    const int n = 1000;
    char payload[32];
    int fast_got = 0, last = -1;
    for (int i = 0; i < n; i++) {
        snprintf(payload, sizeof payload, "%d", i);
        publish_ok(c, ch, payload, strlen(payload));
        rcm_message *m = NULL;
        /* the fast one keeps up: nothing of it is dropped */
        while (rcm_subscriber_next(fast, 0, &m) == RCM_OK) {
            assert_int_equal(m->type, RCM_MSG_MESSAGE);
            assert_int_equal(atoi(m->payload), ++last);
            fast_got++;
            rcm_message_free(m);
        }
    }
    while (fast_got < n) {
        rcm_message *m = NULL;
        TU_ASSERT_RC(rcm_subscriber_next(fast, 5000, &m), RCM_OK);
        assert_int_equal(atoi(m->payload), ++last);
        fast_got++;
        rcm_message_free(m);
    }
    /* every message reached the slow one's queue (the fast one got them all), which
     * holds at most 50: the rest were dropped, oldest first, and counted */
    unsigned long long dropped = 0;
    int kept = 0, prev = -1;
    rcm_message *m = NULL;
    while (rcm_subscriber_next(slow, 0, &m) == RCM_OK) {
        if (m->type == RCM_MSG_DROPPED) {
            assert_int_equal(kept, 0); /* the count comes before what follows the hole */
            dropped += m->dropped;
        } else {
            assert_int_equal(m->type, RCM_MSG_MESSAGE);
            int v = atoi(m->payload);
            assert_true(v > prev);
            prev = v;
            kept++;
        }
        rcm_message_free(m);
    }
    printf("slow subscriber: %d kept, %llu dropped\n", kept, dropped);
    assert_true(kept <= 50);
    assert_int_equal(kept, 50);
    assert_int_equal((unsigned long long)kept + dropped, (unsigned long long)n);
    assert_int_equal(prev, n - 1); /* the newest are kept */
    assert_int_equal(stats_number(c, "dropped"), (long long)dropped);
    /* one overflow episode (the slow one never caught up until now): one event */
    for (double until = tu_now() + 5; atomic_load(&dropped_events) == 0 && tu_now() < until;) tu_sleep_ms(10);
    tu_sleep_ms(100);
    assert_int_equal(atomic_load(&dropped_events), 1);
    rcm_subscriber_close(slow);
    rcm_subscriber_close(fast);
    rcm_client_close(c);
    tu_watchdog_disarm();
}

/* ---- the client closes under its subscribers ------------------------------------------- */

static void test_pubsub__client_close_closes_subscribers(void **state) {
    (void)state;
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), NULL);
    rcm_subscriber *s = NULL;
    TU_ASSERT_RC(rcm_subscriber_open(c, NULL, NULL, &s), RCM_OK);
    char ch[64];
    name_for(ch, sizeof ch, "close", 0);
    const char *names[] = {ch};
    TU_ASSERT_RC(rcm_subscribe(s, RCM_SUB_CHANNEL, 1, names, NULL), RCM_OK);
    wait_subscribed(s, 1);
    int fd = -1;
    TU_ASSERT_RC(rcm_subscriber_fd(s, &fd), RCM_OK);
    rcm_client_close(c);
    rcm_message *m = NULL;
    TU_ASSERT_RC(rcm_subscriber_next(s, 1000, &m), RCM_ERR_CLOSED);
    TU_ASSERT_RC(rcm_subscribe(s, RCM_SUB_CHANNEL, 1, names, NULL), RCM_ERR_CLOSED);
    struct pollfd pfd = {fd, POLLIN, 0};
    assert_int_equal(poll(&pfd, 1, 0), 1); /* a loop waiting on it wakes */
    rcm_subscriber_close(s);
}

struct blocked_reader {
    rcm_subscriber *s;
    atomic_int entered;
    rcm_status status;
};

static void *blocked_reader_main(void *arg) {
    struct blocked_reader *b = arg;
    atomic_store(&b->entered, 1);
    rcm_message *m = NULL;
    b->status = rcm_subscriber_next(b->s, -1, &m);
    rcm_message_free(m);
    return NULL;
}

static void test_pubsub__close_wakes_a_reader_waiting_without_limit(void **state) {
    (void)state;
    tu_watchdog_arm(30, "close wakes reader");
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), NULL);
    struct blocked_reader b;
    b.s = NULL;
    atomic_init(&b.entered, 0);
    b.status = RCM_OK;
    TU_ASSERT_RC(rcm_subscriber_open(c, NULL, NULL, &b.s), RCM_OK);
    pthread_t t;
    pthread_create(&t, NULL, blocked_reader_main, &b);
    while (!atomic_load(&b.entered)) tu_sleep_ms(1);
    tu_sleep_ms(50);
    rcm_subscriber_close(b.s); /* returns once the reader has left */
    pthread_join(t, NULL);
    TU_ASSERT_RC(b.status, RCM_ERR_CLOSED);
    rcm_client_close(c);
    tu_watchdog_disarm();
}

/* ---- callbacks that subscribe and close; threads that race ----------------------------- */

struct self_closing {
    rcm_subscriber *self;
    char second[64];
    atomic_int after_close;
    atomic_int closed;
    atomic_int messages;
};

static void self_closing_cb(const rcm_message *m, void *ud) {
    struct self_closing *sc = ud;
    if (atomic_load(&sc->closed)) atomic_fetch_add(&sc->after_close, 1);
    if (m->type == RCM_MSG_SUBSCRIBED && strcmp(m->channel, sc->second) != 0) {
        /* from inside a callback: subscribe another name */
        const char *names[] = {sc->second};
        if (rcm_subscribe(sc->self, RCM_SUB_CHANNEL, 1, names, NULL) != RCM_OK) abort();
    } else if (m->type == RCM_MSG_MESSAGE) {
        atomic_fetch_add(&sc->messages, 1);
        if (strcmp(m->channel, sc->second) == 0) {
            atomic_store(&sc->closed, 1);
            rcm_subscriber_close(sc->self); /* its own handle, from its own callback */
        }
    }
}

static void test_pubsub__callback_subscribes_and_closes_its_own_subscriber(void **state) {
    (void)state;
    tu_watchdog_arm(60, "self close");
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), NULL);
    static struct self_closing sc;
    memset(&sc, 0, sizeof sc);
    char first[64];
    name_for(first, sizeof first, "self", 1);
    name_for(sc.second, sizeof sc.second, "self", 2);
    TU_ASSERT_RC(rcm_subscriber_open(c, self_closing_cb, &sc, &sc.self), RCM_OK);
    const char *names[] = {first};
    TU_ASSERT_RC(rcm_subscribe(sc.self, RCM_SUB_CHANNEL, 1, names, NULL), RCM_OK);
    /* the callback subscribes the second name once the first is live */
    rcm_client *probe = tu_open_ok(tu_port(TU_PLAIN), NULL);
    for (double until = tu_now() + 10; tu_now() < until;) {
        rcm_reply *r = tu_cmd_ok(probe, "PUBSUB", "NUMSUB", sc.second, NULL);
        long long n = rcm_reply_integer(rcm_reply_element(r, 1));
        rcm_reply_free(r);
        if (n == 1) break;
        tu_sleep_ms(20);
    }
    publish_ok(c, first, "1", 1);
    publish_ok(c, sc.second, "2", 1); /* the callback closes its subscriber here */
    for (double until = tu_now() + 10; !atomic_load(&sc.closed) && tu_now() < until;) tu_sleep_ms(10);
    assert_int_equal(atomic_load(&sc.closed), 1);
    for (int i = 0; i < 20; i++) publish_ok(c, first, "x", 1);
    tu_sleep_ms(200);
    assert_int_equal(atomic_load(&sc.messages), 2);
    assert_int_equal(atomic_load(&sc.after_close), 0);
    rcm_client_close(probe);
    rcm_client_close(c);
    tu_watchdog_disarm();
}

struct racer {
    rcm_client *client;
    int id;
    atomic_int *stop;
    atomic_int rounds;
};

static void race_cb(const rcm_message *m, void *ud) {
    (void)m;
    (void)ud;
}

static void *racer_main(void *arg) {
    struct racer *r = arg;
    char buf[4][64];
    const char *names[4];
    for (int i = 0; i < 4; i++) {
        snprintf(buf[i], sizeof buf[i], "ps:%d:race:%d", (int)getpid(), (r->id + i) % 6);
        names[i] = buf[i];
    }
    for (int round = 0; round < 200 && !atomic_load(r->stop); round = atomic_fetch_add(&r->rounds, 1) + 1) {
        rcm_subscriber *s = NULL;
        if (rcm_subscriber_open(r->client, (round & 1) ? race_cb : NULL, NULL, &s) != RCM_OK) break;
        rcm_subscribe(s, RCM_SUB_CHANNEL, 4, names, NULL);
        rcm_subscribe(s, RCM_SUB_PATTERN, 1, names, NULL);
        if (round % 3 == 0) rcm_unsubscribe(s, RCM_SUB_CHANNEL, 2, names, NULL);
        if (round % 5 == 0) rcm_unsubscribe(s, RCM_SUB_CHANNEL, 0, NULL, NULL);
        rcm_message *m = NULL;
        if (!(round & 1) && rcm_subscriber_next(s, 1, &m) == RCM_OK) rcm_message_free(m);
        rcm_subscriber_close(s);
    }
    return NULL;
}

static void *publisher_main(void *arg) {
    struct racer *r = arg;
    char ch[64];
    for (int i = 0; i < 5000 && !atomic_load(r->stop); i++) {
        snprintf(ch, sizeof ch, "ps:%d:race:%d", (int)getpid(), i % 6);
        const char *argv[] = {"PUBLISH", ch, "x"};
        rcm_reply *rep = NULL;
        if (rcm_command(r->client, 3, argv, NULL, &rep) == RCM_OK) rcm_reply_free(rep);
    }
    return NULL;
}

static void test_pubsub__threads_race_subscribe_unsubscribe_close(void **state) {
    (void)state;
    tu_watchdog_arm(120, "race");
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), NULL);
    enum { N = 4 };
    atomic_int stop;
    atomic_init(&stop, 0);
    struct racer rs[N + 1];
    pthread_t t[N + 1];
    for (int i = 0; i <= N; i++) {
        rs[i].client = c;
        rs[i].id = i;
        rs[i].stop = &stop;
        atomic_init(&rs[i].rounds, 0);
        pthread_create(&t[i], NULL, i < N ? racer_main : publisher_main, &rs[i]);
    }
    /* bounded: 200 rounds per thread, or 20 s */
    for (double until = tu_now() + 20; tu_now() < until;) {
        int done = 0;
        for (int i = 0; i < N; i++) done += atomic_load(&rs[i].rounds) >= 200;
        if (done == N) break;
        tu_sleep_ms(50);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i <= N; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < N; i++) assert_true(atomic_load(&rs[i].rounds) > 0);
    /* everything closed: nothing left wanted, and the client still answers */
    for (double until = tu_now() + 5; stats_number(c, "channels") != 0 && tu_now() < until;) tu_sleep_ms(20);
    assert_int_equal(stats_number(c, "channels"), 0);
    assert_int_equal(stats_number(c, "patterns"), 0);
    assert_int_equal(stats_number(c, "subscribers"), 0);
    rcm_reply *r = tu_cmd_ok(c, "PING", NULL);
    TU_ASSERT_STATUS_REPLY(r, "PONG");
    rcm_reply_free(r);
    /* subscribers still open when the client closes: their handles take only close */
    rcm_subscriber *open_cb = NULL, *open_pull = NULL;
    TU_ASSERT_RC(rcm_subscriber_open(c, race_cb, NULL, &open_cb), RCM_OK);
    TU_ASSERT_RC(rcm_subscriber_open(c, NULL, NULL, &open_pull), RCM_OK);
    const char *names[] = {"ps:race:last"};
    TU_ASSERT_RC(rcm_subscribe(open_cb, RCM_SUB_CHANNEL, 1, names, NULL), RCM_OK);
    rcm_client_close(c);
    rcm_message *m = NULL;
    TU_ASSERT_RC(rcm_subscriber_next(open_pull, -1, &m), RCM_ERR_CLOSED);
    TU_ASSERT_RC(rcm_unsubscribe(open_cb, RCM_SUB_CHANNEL, 0, NULL, NULL), RCM_ERR_CLOSED);
    rcm_subscriber_close(open_cb);
    rcm_subscriber_close(open_pull);
    tu_watchdog_disarm();
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pubsub__messages_arrive_in_order),
        cmocka_unit_test(test_pubsub__names_are_confirmed_in_the_order_asked),
        cmocka_unit_test(test_pubsub__pattern_message_names_the_pattern),
        cmocka_unit_test(test_pubsub__every_primary_flag_is_a_subscription_of_its_own),
        cmocka_unit_test(test_pubsub__binary_payload_and_channel),
        cmocka_unit_test(test_pubsub__thousand_channels_and_hundred_patterns),
        cmocka_unit_test(test_pubsub__two_hundred_subscribers_share_one_connection),
        cmocka_unit_test(test_pubsub__unsubscribe_all_of_a_kind),
        cmocka_unit_test(test_pubsub__fd_is_readable_while_messages_wait),
        cmocka_unit_test(test_pubsub__fd_asked_late_is_readable_until_the_last_message),
        cmocka_unit_test(test_pubsub__slow_consumer_drops_oldest_and_counts),
        cmocka_unit_test(test_pubsub__client_close_closes_subscribers),
        cmocka_unit_test(test_pubsub__close_wakes_a_reader_waiting_without_limit),
        cmocka_unit_test(test_pubsub__callback_subscribes_and_closes_its_own_subscriber),
        cmocka_unit_test(test_pubsub__threads_race_subscribe_unsubscribe_close),
    };
    return TU_RUN(tests, argc, argv);
}
