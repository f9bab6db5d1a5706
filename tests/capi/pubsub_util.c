/* Helpers of the Pub/Sub failover tests: see pubsub_util.h. */
#define _GNU_SOURCE
#include "pubsub_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

long long ps_unix_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ps_open_ok(ps_inbox *in, rcm_client *c) {
    memset(in, 0, sizeof *in);
    TU_ASSERT_RC(rcm_subscriber_open(c, NULL, NULL, &in->sub), RCM_OK);
    assert_non_null(in->sub);
}

void ps_close(ps_inbox *in) {
    rcm_subscriber_close(in->sub);
    free(in->recs);
    memset(in, 0, sizeof *in);
}

void ps_subscribe_ok(ps_inbox *in, int kind, const char *name) {
    const char *names[] = {name};
    TU_ASSERT_RC(rcm_subscribe(in->sub, kind, 1, names, NULL), RCM_OK);
}

static void copy_bytes(char *dst, size_t n, const char *src, size_t len) {
    if (!src) {
        dst[0] = '\0';
        return;
    }
    if (len >= n) len = n - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

static void record(ps_inbox *in, const rcm_message *m) {
    if (in->n == in->cap) {
        in->cap = in->cap ? in->cap * 2 : 256;
        in->recs = realloc(in->recs, in->cap * sizeof *in->recs);
        assert_non_null(in->recs);
    }
    ps_rec *r = &in->recs[in->n++];
    memset(r, 0, sizeof *r);
    r->type = m->type;
    r->kind = m->kind;
    r->every_primary = m->every_primary;
    copy_bytes(r->channel, sizeof r->channel, m->channel, m->channel_len);
    copy_bytes(r->pattern, sizeof r->pattern, m->pattern, m->pattern_len);
    copy_bytes(r->payload, sizeof r->payload, m->payload, m->payload_len);
    copy_bytes(r->node, sizeof r->node, m->node, m->node ? strlen(m->node) : 0);
    r->gap_from_ms = m->gap_from_ms;
    r->gap_to_ms = m->gap_to_ms;
    r->dropped = m->dropped;
    r->got_ms = ps_unix_ms();
}

/* One rcm_subscriber_next; 1 when a message was recorded, 0 on timeout. */
static int pump(ps_inbox *in, int timeout_ms) {
    rcm_message *m = NULL;
    rcm_status st = rcm_subscriber_next(in->sub, timeout_ms, &m);
    if (st == RCM_ERR_TIMEOUT) return 0;
    if (st != RCM_OK) fail_msg("rcm_subscriber_next: %s ('%s')", rcm_status_name(st), rcm_last_error());
    assert_non_null(m);
    record(in, m);
    rcm_message_free(m);
    return 1;
}

size_t ps_drain(ps_inbox *in, int timeout_ms) {
    size_t got = 0;
    while (pump(in, timeout_ms)) got++;
    return got;
}

int ps_wait(ps_inbox *in, rcm_message_type type, const char *name, size_t count, double seconds) {
    double end = tu_now() + seconds;
    while (ps_count(in, 0, type, name) < count) {
        double left = end - tu_now();
        if (left <= 0) return 0;
        pump(in, left > 0.2 ? 200 : (int)(left * 1000) + 1);
    }
    return 1;
}

static const char *type_name(rcm_message_type t) {
    switch (t) {
    case RCM_MSG_MESSAGE: return "MESSAGE";
    case RCM_MSG_SUBSCRIBED: return "SUBSCRIBED";
    case RCM_MSG_UNSUBSCRIBED: return "UNSUBSCRIBED";
    case RCM_MSG_GAP: return "GAP";
    case RCM_MSG_DROPPED: return "DROPPED";
    }
    return "?";
}

void ps_wait_ok(ps_inbox *in, rcm_message_type type, const char *name, size_t count, double seconds,
                const char *what) {
    if (ps_wait(in, type, name, count, seconds)) return;
    ps_print(in, what);
    fail_msg("%s: %zu %s message(s) for '%s' within %.0f s, expected %zu", what, ps_count(in, 0, type, name),
             type_name(type), name ? name : "(any)", seconds, count);
}

static int rec_matches(const ps_rec *r, rcm_message_type type, const char *name) {
    return r->type == type && (!name || strcmp(r->channel, name) == 0);
}

size_t ps_count(const ps_inbox *in, size_t from, rcm_message_type type, const char *name) {
    size_t n = 0;
    for (size_t i = from; i < in->n; i++) n += rec_matches(&in->recs[i], type, name);
    return n;
}

long ps_find(const ps_inbox *in, size_t from, rcm_message_type type, const char *name) {
    for (size_t i = from; i < in->n; i++)
        if (rec_matches(&in->recs[i], type, name)) return (long)i;
    return -1;
}

void ps_print(const ps_inbox *in, const char *what) {
    printf("inbox (%s): %zu records\n", what, in->n);
    /* The last 200 are what a failure needs; the rest is noise in the log. */
    for (size_t i = in->n > 200 ? in->n - 200 : 0; i < in->n; i++) {
        const ps_rec *r = &in->recs[i];
        printf("  %4zu %-12s kind %d%s ch '%s' pat '%s' payload '%s' node '%s'", i, type_name(r->type), (int)r->kind,
               r->every_primary ? " every" : "", r->channel, r->pattern, r->payload, r->node);
        if (r->type == RCM_MSG_GAP)
            printf(" gap %lld..%lld (%lld ms)", r->gap_from_ms, r->gap_to_ms, r->gap_to_ms - r->gap_from_ms);
        if (r->type == RCM_MSG_DROPPED) printf(" dropped %llu", r->dropped);
        printf("\n");
    }
}

long long ps_publish(rcm_client *c, const char *cmd, const char *channel, const char *payload) {
    rcm_reply *r = NULL;
    rcm_status st = tu_cmd(c, &r, cmd, channel, payload, NULL);
    long long n = -1;
    if (st == RCM_OK && rcm_reply_type(r) == RCM_REPLY_INTEGER)
        n = rcm_reply_integer(r);
    else
        printf("%s %s %s: %s, reply %s ('%s')\n", cmd, channel, payload, rcm_status_name(st), tu_describe(r),
               st == RCM_OK ? "" : rcm_last_error());
    rcm_reply_free(r);
    return n;
}

/* Records from index from on that are MESSAGEs of channel with payload "<tag>-<i>";
 * *index gets i. */
static int tagged(const ps_rec *r, const char *channel, const char *tag, int *index) {
    size_t tl = strlen(tag);
    if (r->type != RCM_MSG_MESSAGE || strcmp(r->channel, channel) != 0) return 0;
    if (strncmp(r->payload, tag, tl) != 0 || r->payload[tl] != '-') return 0;
    *index = atoi(r->payload + tl + 1);
    return 1;
}

static size_t expect(ps_inbox *in, size_t from, int kind, const char *channel, const char *pattern, const char *tag,
                     int count, const char *node, const char *retried) {
    /* Every one of them, then a little more for a duplicate that would follow. */
    double end = tu_now() + 30;
    for (;;) {
        int seen = 0, i;
        for (size_t k = from; k < in->n; k++) seen += tagged(&in->recs[k], channel, tag, &i);
        if (seen >= count) break;
        if (tu_now() > end) {
            ps_print(in, tag);
            fail_msg("%s: %d of %d messages to '%s' arrived within 30 s", tag, seen, count, channel);
        }
        pump(in, 200);
    }
    ps_drain(in, 300);
    int any_order = kind & PS_ANY_ORDER;
    kind &= ~PS_ANY_ORDER;
    int next = 0, got;
    int times[PS_MAX_PUBLISH] = {0};
    size_t last = from;
    for (size_t k = from; k < in->n; k++) {
        const ps_rec *r = &in->recs[k];
        if (!tagged(r, channel, tag, &got)) continue;
        if (got < 0 || got >= count || got >= PS_MAX_PUBLISH) {
            ps_print(in, tag);
            fail_msg("%s: record %zu is '%s', which was never published", tag, k, r->payload);
        }
        if (++times[got] > 1 + (retried && retried[got])) {
            ps_print(in, tag);
            fail_msg("%s: '%s' arrived %d times (record %zu)", tag, r->payload, times[got], k);
        }
        if (times[got] > 1) continue; /* sent again after a failure */
        if (!any_order && got != next) {
            ps_print(in, tag);
            fail_msg("%s: record %zu is '%s', expected '%s-%d' (in the order published)", tag, k, r->payload, tag, next);
        }
        if ((int)r->kind != kind || (pattern && strcmp(r->pattern, pattern) != 0) || (!pattern && r->pattern[0])) {
            ps_print(in, tag);
            fail_msg("%s: '%s' came as kind %d with pattern '%s', expected kind %d and pattern '%s'", tag, r->payload,
                     (int)r->kind, r->pattern, kind, pattern ? pattern : "");
        }
        if (node && strcmp(r->node, node) != 0) {
            ps_print(in, tag);
            fail_msg("%s: '%s' came from '%s', expected from %s", tag, r->payload, r->node, node);
        }
        next++;
        last = k + 1;
    }
    if (next != count) {
        ps_print(in, tag);
        fail_msg("%s: %d of the %d messages to '%s' arrived", tag, next, count, channel);
    }
    return last;
}

size_t ps_expect_ok(ps_inbox *in, size_t from, int kind, const char *channel, const char *pattern, const char *tag,
                    int count, const char *node) {
    return expect(in, from, kind, channel, pattern, tag, count, node, NULL);
}

void ps_publish_tagged_ok(rcm_client *c, const char *cmd, const char *channel, const char *tag, int count,
                          char *retried) {
    char payload[128];
    assert_true(count <= PS_MAX_PUBLISH);
    for (int i = 0; i < count; i++) {
        snprintf(payload, sizeof payload, "%s-%d", tag, i);
        double end = tu_now() + 30;
        while (ps_publish(c, cmd, channel, payload) < 0) {
            if (tu_now() > end) fail_msg("%s %s '%s' failed for 30 s", cmd, channel, payload);
            /* A PUBLISH that failed may still have run: sent again, it may arrive twice. */
            if (retried) retried[i] = 1;
            tu_sleep_ms(100);
        }
    }
}

size_t ps_publish_and_expect_ok(ps_inbox *in, rcm_client *c, size_t from, int kind, const char *cmd,
                                const char *channel, const char *pattern, const char *tag, int count,
                                const char *node) {
    char retried[PS_MAX_PUBLISH] = {0};
    ps_publish_tagged_ok(c, cmd, channel, tag, count, retried);
    return expect(in, from, kind, channel, pattern, tag, count, node, retried);
}

void ps_assert_gaps_ok(const ps_inbox *in, size_t from, const char *name, size_t want, long long fault_from_ms,
                       long long fault_to_ms) {
    size_t gaps = ps_count(in, from, RCM_MSG_GAP, name);
    if (gaps != want) {
        ps_print(in, name);
        fail_msg("'%s': %zu GAP messages, expected %zu (one per interruption)", name, gaps, want);
    }
    ps_assert_no_drops_ok(in);
    for (size_t i = from; i < in->n; i++) {
        const ps_rec *r = &in->recs[i];
        if (!rec_matches(r, RCM_MSG_GAP, name)) continue;
        if (r->gap_from_ms <= 0 || r->gap_from_ms > r->gap_to_ms || !r->node[0]) {
            ps_print(in, name);
            fail_msg("'%s': GAP record %zu has the interval %lld..%lld and node '%s'", name, i, r->gap_from_ms,
                     r->gap_to_ms, r->node);
        }
        /* Ordering only (a little slack for rounding): the subscription was last known
         * live before the fault had ended, confirmed again after it began, and before
         * the test read the GAP. */
        if (fault_from_ms >= 0 &&
            (r->gap_from_ms > fault_to_ms + 20 || r->gap_to_ms < fault_from_ms || r->gap_to_ms > r->got_ms + 20)) {
            ps_print(in, name);
            fail_msg("'%s': GAP %lld..%lld (read at %lld) does not fit the fault at %lld..%lld", name, r->gap_from_ms,
                     r->gap_to_ms, r->got_ms, fault_from_ms, fault_to_ms);
        }
    }
}

void ps_assert_no_drops_ok(const ps_inbox *in) {
    for (size_t i = 0; i < in->n; i++)
        if (in->recs[i].type == RCM_MSG_DROPPED) {
            ps_print(in, "drops");
            fail_msg("record %zu: %llu messages dropped (nothing here should fill pubsub.max_pending)", i,
                     in->recs[i].dropped);
        }
}

/* ---- a channel and a pattern ----------------------------------------------------------- */

void ps_pair_subscribe_ok(ps_inbox *in, const ps_pair *p) {
    ps_subscribe_ok(in, RCM_SUB_CHANNEL, p->channel);
    ps_subscribe_ok(in, RCM_SUB_PATTERN, p->pattern);
    ps_wait_ok(in, RCM_MSG_SUBSCRIBED, p->channel, 1, 30, "SUBSCRIBED");
    ps_wait_ok(in, RCM_MSG_SUBSCRIBED, p->pattern, 1, 30, "SUBSCRIBED");
}

void ps_pair_publish_ok(ps_inbox *in, rcm_client *c, const ps_pair *p, const char *tag, int count, const char *node) {
    ps_publish_and_expect_ok(in, c, 0, RCM_SUB_CHANNEL, "PUBLISH", p->channel, NULL, tag, count, node);
    ps_publish_and_expect_ok(in, c, 0, RCM_SUB_PATTERN, "PUBLISH", p->pattern_channel, p->pattern, tag, count, node);
}

void ps_pair_wait_gaps_ok(ps_inbox *in, const ps_pair *p, const char *node) {
    const char *names[] = {p->channel, p->pattern};
    for (int i = 0; i < 2; i++) {
        ps_wait_ok(in, RCM_MSG_GAP, names[i], 1, 60, "GAP after the switch");
        const ps_rec *g = &in->recs[ps_find(in, 0, RCM_MSG_GAP, names[i])];
        if (strcmp(g->node, node) != 0)
            fail_msg("the GAP of '%s' says live on '%s', expected the new primary %s", names[i], g->node, node);
    }
}

void ps_pair_assert_one_gap_ok(const ps_inbox *in, ps_events *e, const ps_pair *p, long long fault_from_ms,
                               long long fault_to_ms) {
    const char *names[] = {p->channel, p->pattern};
    for (int i = 0; i < 2; i++) {
        ps_assert_gaps_ok(in, 0, names[i], 1, fault_from_ms, fault_to_ms);
        ps_assert_gap_events_ok(e, names[i], 1);
    }
}

/* ---- events ------------------------------------------------------------------------ */

void ps_events_init(ps_events *e) {
    memset(e, 0, sizeof *e);
    pthread_mutex_init(&e->mu, NULL);
}

void ps_events_cb(rcm_event_kind kind, const char *node, const char *detail, void *userdata) {
    ps_events *e = userdata;
    if (kind == RCM_EVENT_SUBSCRIPTION_GAP || kind == RCM_EVENT_PUBSUB_DROPPED)
        printf("event %d node '%s' detail '%s'\n", (int)kind, node ? node : "", detail ? detail : "");
    pthread_mutex_lock(&e->mu);
    if (e->n < PS_MAX_EVENTS) {
        int i = e->n++;
        e->kind[i] = kind;
        snprintf(e->node[i], sizeof e->node[i], "%s", node ? node : "");
        snprintf(e->detail[i], sizeof e->detail[i], "%s", detail ? detail : "");
    }
    pthread_mutex_unlock(&e->mu);
}

int ps_events_count(ps_events *e, int from, rcm_event_kind kind, const char *name) {
    pthread_mutex_lock(&e->mu);
    int n = 0;
    for (int i = from; i < e->n; i++)
        if (e->kind[i] == kind && (!name || strstr(e->detail[i], name))) n++;
    pthread_mutex_unlock(&e->mu);
    return n;
}

int ps_events_wait(ps_events *e, int from, rcm_event_kind kind, const char *name, int want, double seconds) {
    double end = tu_now() + seconds;
    int n;
    while ((n = ps_events_count(e, from, kind, name)) < want && tu_now() < end) tu_sleep_ms(50);
    return n;
}

void ps_assert_gap_events_ok(ps_events *e, const char *name, int want) {
    ps_events_wait(e, 0, RCM_EVENT_SUBSCRIPTION_GAP, name, want, 10);
    tu_sleep_ms(200);
    int n = ps_events_count(e, 0, RCM_EVENT_SUBSCRIPTION_GAP, name);
    if (n != want) {
        ps_events_print(e);
        fail_msg("%d RCM_EVENT_SUBSCRIPTION_GAP events name '%s', expected %d", n, name, want);
    }
}

int ps_events_total(ps_events *e) {
    pthread_mutex_lock(&e->mu);
    int n = e->n;
    pthread_mutex_unlock(&e->mu);
    return n;
}

void ps_events_print(ps_events *e) {
    pthread_mutex_lock(&e->mu);
    for (int i = 0; i < e->n; i++)
        printf("  event %d: kind %d node '%s' detail '%s'\n", i, (int)e->kind[i], e->node[i], e->detail[i]);
    pthread_mutex_unlock(&e->mu);
}

rcm_client *ps_client_open_ok(const char *url, ps_events *e, ...) {
    rcm_config *cfg = rcm_config_new();
    assert_non_null(cfg);
    TU_ASSERT_RC(rcm_config_from_url(cfg, url), RCM_OK);
    va_list ap;
    va_start(ap, e);
    for (const char *k; (k = va_arg(ap, const char *)) != NULL;) {
        const char *v = va_arg(ap, const char *);
        rcm_status st = rcm_config_set(cfg, k, v);
        if (st != RCM_OK) fail_msg("config %s=%s: %s '%s'", k, v, rcm_status_name(st), rcm_last_error());
    }
    va_end(ap);
    if (e) {
        ps_events_init(e);
        TU_ASSERT_RC(rcm_config_set_event_callback(cfg, ps_events_cb, e), RCM_OK);
    }
    rcm_client *c = NULL;
    rcm_status st = rcm_client_open(cfg, &c);
    rcm_config_free(cfg);
    if (st != RCM_OK) fail_msg("open %s: %s '%s'", url, rcm_status_name(st), rcm_last_error());
    return c;
}
