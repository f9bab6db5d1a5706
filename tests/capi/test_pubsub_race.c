/* capi.pubsub_race: subscribers opened, changed and closed from several threads while
 * messages flow, and the client shut down under them (run it under TSan too:
 * -DRCM_SANITIZE=thread).
 *
 *   - three long-lived subscribers of "race:stable" (one with a callback, one read with
 *     rcm_subscriber_next(-1), one through its descriptor and poll) each receive the
 *     STABLE_MESSAGES published to it exactly once, in order, while a mutator thread
 *     subscribes and unsubscribes other names on the very same handles;
 *   - churn threads (callback and pull mode, some closing their subscriber from inside
 *     its own callback) open, subscribe, unsubscribe and close subscribers over and
 *     over: no message of a name is delivered after its RCM_MSG_UNSUBSCRIBED, no
 *     callback runs after rcm_subscriber_close returned, none after a callback closed
 *     its own subscriber;
 *   - a closer thread calls rcm_client_shutdown while all of that runs: every thread
 *     comes back, every pull-mode rcm_subscriber_next afterwards (also one blocked
 *     without a limit) returns RCM_ERR_CLOSED, and rcm_subscribe / rcm_subscriber_open
 *     return RCM_ERR_CLOSED.
 * Bounded: STABLE_MESSAGES publishes to race:stable (the churn's names get messages until
 * the shutdown), CHURN_ITERATIONS per churn thread, a watchdog. */
#define _GNU_SOURCE
#include "test_util.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STABLE_MESSAGES 2000
#define CHURN_THREADS 4
#define CHURN_ITERATIONS 2000 /* a bound: the shutdown normally ends them first */
#define CHURN_BEFORE_CLOSE 20 /* iterations each churn thread completes before the shutdown */
#define NAMES 8

static rcm_client *client;

/* ---- the long-lived subscribers ---------------------------------------------------- */

typedef struct stable {
    rcm_subscriber *sub;
    atomic_long received;   /* messages of race:stable */
    atomic_int subscribed;  /* RCM_MSG_SUBSCRIBED of race:stable / race:sta* seen */
    atomic_int closed_returned;
    atomic_int after_close; /* callbacks after rcm_subscriber_close returned */
    /* Touched by the callbacks (one at a time per subscriber, as rcm.h promises) or the
     * reader thread only; read by the main thread after both ended. */
    long last_seq;
    long disorder;
    unsigned long long dropped;
    rcm_status end_status;      /* what made the reader stop */
    rcm_status after_end[3];    /* next() again after that */
    char problem[200];
} stable;

static stable s_cb, s_next, s_poll;

/* Common to the three: a message of race:stable carries its sequence number. */
static void stable_note(stable *s, const char *channel, size_t channel_len, rcm_message_type type,
                        const char *payload, unsigned long long dropped) {
    int is_stable = channel_len == 11 && memcmp(channel, "race:stable", 11) == 0;
    if (type == RCM_MSG_SUBSCRIBED && (is_stable || (channel_len == 9 && memcmp(channel, "race:sta*", 9) == 0)))
        atomic_fetch_add(&s->subscribed, 1);
    if (type == RCM_MSG_DROPPED) s->dropped += dropped;
    if (type != RCM_MSG_MESSAGE || !is_stable) return;
    long seq = atol(payload);
    if (seq <= s->last_seq && s->disorder++ == 0)
        snprintf(s->problem, sizeof s->problem, "message %ld after %ld", seq, s->last_seq);
    s->last_seq = seq;
    atomic_fetch_add(&s->received, 1);
}

static void stable_cb(const rcm_message *m, void *ud) {
    stable *s = ud;
    if (atomic_load(&s->closed_returned)) atomic_fetch_add(&s->after_close, 1);
    stable_note(s, m->channel, m->channel_len, m->type, m->payload, m->dropped);
}

static void stable_record(stable *s, rcm_message *m) {
    stable_note(s, m->channel, m->channel_len, m->type, m->payload, m->dropped);
    rcm_message_free(m);
}

/* After the reader met RCM_ERR_CLOSED: every later next() says so too. */
static void stable_after_end(stable *s) {
    int waits[3] = {0, 10, -1};
    for (int i = 0; i < 3; i++) {
        rcm_message *m = NULL;
        s->after_end[i] = rcm_subscriber_next(s->sub, waits[i], &m);
        rcm_message_free(m);
    }
}

/* rcm_subscriber_next without a limit: only the shutdown ends it. */
static void *next_reader(void *arg) {
    stable *s = arg;
    for (;;) {
        rcm_message *m = NULL;
        rcm_status st = rcm_subscriber_next(s->sub, -1, &m);
        if (st != RCM_OK) {
            s->end_status = st;
            break;
        }
        stable_record(s, m);
    }
    stable_after_end(s);
    return NULL;
}

/* poll on the descriptor, then next(0) until RCM_ERR_TIMEOUT. */
static void *poll_reader(void *arg) {
    stable *s = arg;
    int fd = -1;
    s->end_status = rcm_subscriber_fd(s->sub, &fd);
    if (s->end_status != RCM_OK) return NULL;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        poll(&p, 1, 50);
        rcm_status st;
        rcm_message *m = NULL;
        while ((st = rcm_subscriber_next(s->sub, 0, &m)) == RCM_OK) {
            stable_record(s, m);
            m = NULL;
        }
        if (st != RCM_ERR_TIMEOUT) {
            s->end_status = st;
            break;
        }
    }
    stable_after_end(s);
    return NULL;
}

/* Subscribes and unsubscribes names nobody publishes to on the three stable handles,
 * beside their readers, until the client is shut down. */
static void *mutator(void *arg) {
    (void)arg;
    stable *subs[3] = {&s_cb, &s_next, &s_poll};
    for (unsigned i = 0;; i++) {
        char name[32];
        snprintf(name, sizeof name, "race:m%u", i % 16);
        const char *names[] = {name};
        rcm_subscriber *sub = subs[i % 3]->sub;
        rcm_status st = (i / 3) % 2 ? rcm_unsubscribe(sub, RCM_SUB_CHANNEL, 1, names, NULL)
                                    : rcm_subscribe(sub, RCM_SUB_CHANNEL, 1, names, NULL);
        if (st == RCM_ERR_CLOSED) break;
        if (st != RCM_OK) {
            fprintf(stderr, "mutator: %s ('%s')\n", rcm_status_name(st), rcm_last_error());
            abort();
        }
        tu_sleep_ms(1);
    }
    return NULL;
}

/* STABLE_MESSAGES to race:stable, and to the churn threads' names until the shutdown
 * makes PUBLISH return RCM_ERR_CLOSED: messages flow while the client closes. */
static void *publisher(void *arg) {
    (void)arg;
    for (int i = 1;; i++) {
        char seq[16], ch[32], pch[32];
        snprintf(seq, sizeof seq, "%d", i);
        snprintf(ch, sizeof ch, "race:c%d", i % NAMES);
        snprintf(pch, sizeof pch, "race:p%d:x", i % NAMES);
        const char *a[] = {"PUBLISH", "race:stable", seq};
        const char *b[] = {"PUBLISH", ch, seq};
        const char *c[] = {"PUBLISH", pch, seq};
        const char *const *cmds[] = {a, b, c};
        for (int k = i <= STABLE_MESSAGES ? 0 : 1; k < 3; k++) {
            rcm_reply *r = NULL;
            rcm_status st = rcm_command(client, 3, cmds[k], NULL, &r);
            if (st == RCM_ERR_CLOSED) {
                rcm_reply_free(r);
                return NULL;
            }
            if (st != RCM_OK || rcm_reply_type(r) != RCM_REPLY_INTEGER) {
                fprintf(stderr, "publisher: PUBLISH %s: %s %s ('%s')\n", cmds[k][1], rcm_status_name(st),
                        tu_describe(r), rcm_last_error());
                abort();
            }
            rcm_reply_free(r);
        }
        if (i > STABLE_MESSAGES) tu_sleep_ms(1);
    }
}

/* ---- churn ---------------------------------------------------------------------------- */

typedef struct churn_sub {
    atomic_int closed_returned;  /* the owner's rcm_subscriber_close returned */
    atomic_int self_closed;      /* the callback closed the subscriber (and returned from that) */
    atomic_int close_claimed;    /* who closes: the owner or the callback, once */
    int self_close;              /* this round the callback closes on a message... */
    atomic_int may_self_close;   /* ...once the owner no longer calls on the handle */
    rcm_subscriber *sub;
    /* Callback-only (one at a time per subscriber): names confirmed unsubscribed. */
    char gone[2 * NAMES + 2][32];
    int ngone;
    long messages;
} churn_sub;

typedef struct churn {
    int id, callback_mode;
    pthread_t thread;
    atomic_int iterations;
    atomic_long violations;
    atomic_long messages;
    atomic_int self_closes;      /* rounds whose callback closed its own subscriber */
    char problem[256];
    churn_sub cs;
} churn;

static churn churns[CHURN_THREADS];

static void churn_violation(churn *ch, const char *fmt, const char *a, const char *b) {
    if (atomic_fetch_add(&ch->violations, 1) == 0) snprintf(ch->problem, sizeof ch->problem, fmt, a, b);
}

/* A message's name as the subscription knows it: the pattern for a pattern match. */
static void message_name(const rcm_message *m, char *buf, size_t n) {
    const char *s = m->pattern ? m->pattern : m->channel;
    size_t len = m->pattern ? m->pattern_len : m->channel_len;
    if (len >= n) len = n - 1;
    memcpy(buf, s, len);
    buf[len] = '\0';
}

/* Shared by the callback and the pull reader of a churn subscriber. */
static void churn_check(churn *ch, churn_sub *cs, const rcm_message *m) {
    char name[64];
    if (m->type == RCM_MSG_UNSUBSCRIBED) {
        size_t len = m->channel_len < 31 ? m->channel_len : 31;
        if (cs->ngone < (int)(sizeof cs->gone / sizeof cs->gone[0])) {
            memcpy(cs->gone[cs->ngone], m->channel, len);
            cs->gone[cs->ngone++][len] = '\0';
        }
        return;
    }
    if (m->type != RCM_MSG_MESSAGE) return;
    cs->messages++;
    atomic_fetch_add(&ch->messages, 1);
    message_name(m, name, sizeof name);
    for (int i = 0; i < cs->ngone; i++)
        if (strcmp(cs->gone[i], name) == 0) churn_violation(ch, "a message of '%s' after its UNSUBSCRIBED (%s)", name, "");
}

static void churn_cb(const rcm_message *m, void *ud) {
    churn *ch = ud;
    churn_sub *cs = &ch->cs;
    if (atomic_load(&cs->closed_returned) || atomic_load(&cs->self_closed))
        churn_violation(ch, "a callback ran after the subscriber was closed (%s%s)", "", "");
    churn_check(ch, cs, m);
    if (cs->self_close && m->type == RCM_MSG_MESSAGE && atomic_load(&cs->may_self_close) &&
        atomic_exchange(&cs->close_claimed, 1) == 0) {
        rcm_subscriber_close(cs->sub);
        /* The last touch of cs by this callback: the owner reuses it once it sees this. */
        atomic_fetch_add(&ch->self_closes, 1);
        atomic_store(&cs->self_closed, 1);
    }
}

/* Returns 0 to go on, -1 once the client is closed. */
static int churn_round(churn *ch, unsigned *seed) {
    churn_sub *cs = &ch->cs;
    memset(cs, 0, sizeof *cs);
    cs->self_close = ch->callback_mode && atomic_load(&ch->iterations) % 3 == 2;
    rcm_status st = rcm_subscriber_open(client, ch->callback_mode ? churn_cb : NULL, ch, &cs->sub);
    if (st == RCM_ERR_CLOSED) return -1;
    if (st != RCM_OK) {
        churn_violation(ch, "rcm_subscriber_open: %s (%s)", rcm_status_name(st), rcm_last_error());
        return -1;
    }
    int k = (int)(rand_r(seed) % NAMES);
    char c1[32], c2[32], p1[32];
    snprintf(c1, sizeof c1, "race:c%d", k);
    snprintf(c2, sizeof c2, "race:c%d", (k + 1) % NAMES);
    snprintf(p1, sizeof p1, "race:p%d:*", k);
    const char *chans[] = {c1, c2}, *pats[] = {p1};
    int closed = 0;
    /* Once the callback may close the subscriber (self_close), this thread must not touch it. */
    if (rcm_subscribe(cs->sub, RCM_SUB_PATTERN, 1, pats, NULL) == RCM_ERR_CLOSED) closed = 1;
    if (!cs->self_close && rcm_subscribe(cs->sub, RCM_SUB_CHANNEL, 2, chans, NULL) == RCM_ERR_CLOSED) closed = 1;
    if (!ch->callback_mode) {
        for (int i = 0; i < 20 && !closed; i++) {
            rcm_message *m = NULL;
            st = rcm_subscriber_next(cs->sub, 5, &m);
            if (st == RCM_OK) churn_check(ch, cs, m);
            rcm_message_free(m);
            if (st == RCM_ERR_CLOSED) closed = 1;
        }
    } else {
        tu_sleep_ms(5);
    }
    if (!cs->self_close && !closed) {
        /* One name, or every channel (n == 0); then more messages, which must not include it. */
        if (rcm_unsubscribe(cs->sub, RCM_SUB_CHANNEL, k % 2 ? 1 : 0, chans, NULL) == RCM_ERR_CLOSED) closed = 1;
        for (int i = 0; i < 20 && !closed && !ch->callback_mode; i++) {
            rcm_message *m = NULL;
            st = rcm_subscriber_next(cs->sub, 5, &m);
            if (st == RCM_OK) churn_check(ch, cs, m);
            rcm_message_free(m);
            if (st == RCM_ERR_CLOSED) closed = 1;
        }
        if (ch->callback_mode) tu_sleep_ms(5);
    }
    if (cs->self_close) {
        atomic_store(&cs->may_self_close, 1);
        double end = tu_now() + 2;
        while (!atomic_load(&cs->self_closed) && tu_now() < end) tu_sleep_ms(1);
    }
    if (atomic_exchange(&cs->close_claimed, 1) == 0) {
        rcm_subscriber_close(cs->sub);
        atomic_store(&cs->closed_returned, 1);
    } else {
        while (!atomic_load(&cs->self_closed)) tu_sleep_ms(1);
    }
    return closed ? -1 : 0;
}

static void *churn_main(void *arg) {
    churn *ch = arg;
    unsigned seed = 12345u + (unsigned)ch->id;
    for (int i = 0; i < CHURN_ITERATIONS; i++) {
        if (churn_round(ch, &seed) < 0) break;
        atomic_fetch_add(&ch->iterations, 1);
    }
    return NULL;
}

static void *closer(void *arg) {
    (void)arg;
    rcm_status st = rcm_client_shutdown(client);
    if (st != RCM_OK) {
        fprintf(stderr, "rcm_client_shutdown: %s\n", rcm_status_name(st));
        abort();
    }
    return NULL;
}

/* ---- the test ------------------------------------------------------------------------ */

static void open_stable(stable *s, rcm_message_callback cb, int kind, const char *name) {
    memset(s, 0, sizeof *s);
    TU_ASSERT_RC(rcm_subscriber_open(client, cb, cb ? s : NULL, &s->sub), RCM_OK);
    const char *names[] = {name};
    TU_ASSERT_RC(rcm_subscribe(s->sub, kind, 1, names, NULL), RCM_OK);
}

static void check_stable(stable *s, const char *what) {
    long got = atomic_load(&s->received);
    printf("%s: %ld messages of race:stable, %llu dropped\n", what, got, s->dropped);
    if (s->disorder) fail_msg("%s: %ld messages out of order or twice (%s)", what, s->disorder, s->problem);
    if (got + (long)s->dropped != STABLE_MESSAGES || s->last_seq != STABLE_MESSAGES)
        fail_msg("%s: %ld received + %llu dropped of %d published (last %ld)", what, got, s->dropped, STABLE_MESSAGES,
                 s->last_seq);
    if (atomic_load(&s->after_close))
        fail_msg("%s: %d callbacks after rcm_subscriber_close returned", what, atomic_load(&s->after_close));
}

static void check_reader(stable *s, const char *what) {
    printf("%s: the reader ended with %s, then next() said %s %s %s\n", what, rcm_status_name(s->end_status),
           rcm_status_name(s->after_end[0]), rcm_status_name(s->after_end[1]), rcm_status_name(s->after_end[2]));
    if (s->end_status != RCM_ERR_CLOSED)
        fail_msg("%s: the reader ended with %s, expected RCM_ERR_CLOSED", what, rcm_status_name(s->end_status));
    for (int i = 0; i < 3; i++)
        if (s->after_end[i] != RCM_ERR_CLOSED)
            fail_msg("%s: next() #%d after the shutdown returned %s, expected RCM_ERR_CLOSED", what, i + 1,
                     rcm_status_name(s->after_end[i]));
}

static int all_stable_received(void) {
    stable *subs[3] = {&s_cb, &s_next, &s_poll};
    for (int i = 0; i < 3; i++)
        if (atomic_load(&subs[i]->received) < STABLE_MESSAGES) return 0;
    return 1;
}

static void test_pubsub_race__churn_and_shutdown_under_messages(void **state) {
    (void)state;
    tu_watchdog_arm(300, "capi.pubsub_race"); /* below ctest's TIMEOUT: its message is seen */
    client = tu_open_ok(tu_port(TU_PLAIN), "pubsub.max_pending", "1000000", "pubsub.callback_threads", "2",
                        "command_timeout_ms", "10000", NULL);
    open_stable(&s_cb, stable_cb, RCM_SUB_CHANNEL, "race:stable");
    open_stable(&s_next, NULL, RCM_SUB_CHANNEL, "race:stable");
    open_stable(&s_poll, NULL, RCM_SUB_PATTERN, "race:sta*");
    pthread_t r_next, r_poll, mut, pub, clo;
    assert_int_equal(pthread_create(&r_next, NULL, next_reader, &s_next), 0);
    assert_int_equal(pthread_create(&r_poll, NULL, poll_reader, &s_poll), 0);
    double end = tu_now() + 60;
    while ((atomic_load(&s_cb.subscribed) < 1 || atomic_load(&s_next.subscribed) < 1 ||
            atomic_load(&s_poll.subscribed) < 1) && tu_now() < end)
        tu_sleep_ms(10);
    if (tu_now() >= end)
        fail_msg("SUBSCRIBED within 60 s: callback %d, next %d, poll %d", atomic_load(&s_cb.subscribed),
                 atomic_load(&s_next.subscribed), atomic_load(&s_poll.subscribed));

    for (int i = 0; i < CHURN_THREADS; i++) {
        churns[i].id = i;
        churns[i].callback_mode = i % 2 == 0;
        assert_int_equal(pthread_create(&churns[i].thread, NULL, churn_main, &churns[i]), 0);
    }
    assert_int_equal(pthread_create(&mut, NULL, mutator, NULL), 0);
    assert_int_equal(pthread_create(&pub, NULL, publisher, NULL), 0);
    /* Every stable message delivered, and the churn well under way (callbacks that closed
     * their own subscriber among it), before the shutdown. */
    end = tu_now() + 180;
    for (;;) {
        int churned = 1;
        for (int i = 0; i < CHURN_THREADS; i++)
            if (atomic_load(&churns[i].iterations) < CHURN_BEFORE_CLOSE ||
                (churns[i].callback_mode && atomic_load(&churns[i].self_closes) < 2))
                churned = 0;
        if (all_stable_received() && churned) break;
        if (tu_now() > end) break; /* the checks below say what is missing */
        tu_sleep_ms(20);
    }
    assert_int_equal(pthread_create(&clo, NULL, closer, NULL), 0);
    pthread_join(clo, NULL);
    pthread_join(pub, NULL);
    pthread_join(mut, NULL);
    for (int i = 0; i < CHURN_THREADS; i++) pthread_join(churns[i].thread, NULL);
    pthread_join(r_next, NULL);
    pthread_join(r_poll, NULL);

    /* After the shutdown, on handles that are still to be closed. */
    const char *names[] = {"race:late"};
    TU_ASSERT_RC(rcm_subscribe(s_cb.sub, RCM_SUB_CHANNEL, 1, names, NULL), RCM_ERR_CLOSED);
    TU_ASSERT_RC(rcm_unsubscribe(s_next.sub, RCM_SUB_CHANNEL, 0, NULL, NULL), RCM_ERR_CLOSED);
    rcm_subscriber *late = NULL;
    TU_ASSERT_RC(rcm_subscriber_open(client, NULL, NULL, &late), RCM_ERR_CLOSED);
    assert_null(late);
    rcm_subscriber_close(s_cb.sub);
    atomic_store(&s_cb.closed_returned, 1);
    rcm_subscriber_close(s_next.sub);
    rcm_subscriber_close(s_poll.sub);
    rcm_client_close(client);
    tu_watchdog_disarm();

    check_stable(&s_cb, "callback subscriber");
    check_stable(&s_next, "next(-1) subscriber");
    check_stable(&s_poll, "poll subscriber (pattern)");
    check_reader(&s_next, "next(-1) subscriber");
    check_reader(&s_poll, "poll subscriber");
    long total_iterations = 0;
    for (int i = 0; i < CHURN_THREADS; i++) {
        churn *ch = &churns[i];
        printf("churn %d (%s): %d rounds (%d closed by their callback), %ld messages, %ld violations %s\n", i,
               ch->callback_mode ? "callback" : "pull", atomic_load(&ch->iterations), atomic_load(&ch->self_closes),
               atomic_load(&ch->messages), atomic_load(&ch->violations), ch->problem);
        if (atomic_load(&ch->violations)) fail_msg("churn thread %d: %s", i, ch->problem);
        if (atomic_load(&ch->iterations) < CHURN_BEFORE_CLOSE)
            fail_msg("churn thread %d completed %d rounds before the shutdown (at least %d expected)", i,
                     atomic_load(&ch->iterations), CHURN_BEFORE_CLOSE);
        if (ch->callback_mode && atomic_load(&ch->self_closes) < 2)
            fail_msg("churn thread %d: %d callbacks closed their own subscriber (at least 2 expected)", i,
                     atomic_load(&ch->self_closes));
        total_iterations += atomic_load(&ch->iterations);
    }
    printf("%ld churn rounds in all\n", total_iterations);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pubsub_race__churn_and_shutdown_under_messages),
    };
    return TU_RUN(tests, argc, argv);
}
