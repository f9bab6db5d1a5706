/* Helpers of the standalone Pub/Sub tests (capi.pubsub, capi.pubsub_restart). */
#pragma once

#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static inline void name_for(char *buf, size_t n, const char *what, int i) {
    snprintf(buf, n, "ps:%d:%s:%d", (int)getpid(), what, i);
}

/* Reads messages until one of type `want` (others are dropped); asserts one came. */
static inline rcm_message *next_of_type(rcm_subscriber *s, rcm_message_type want, int timeout_ms) {
    double until = tu_now() + timeout_ms / 1000.0;
    while (tu_now() < until) {
        rcm_message *m = NULL;
        rcm_status st = rcm_subscriber_next(s, 100, &m);
        if (st == RCM_ERR_TIMEOUT) continue;
        TU_ASSERT_RC(st, RCM_OK);
        if (m->type == want) return m;
        rcm_message_free(m);
    }
    fail_msg("no message of type %d within %d ms", (int)want, timeout_ms);
    return NULL;
}

static inline void wait_subscribed(rcm_subscriber *s, int n) {
    for (int i = 0; i < n; i++) rcm_message_free(next_of_type(s, RCM_MSG_SUBSCRIBED, 10000));
}

static inline void publish_ok(rcm_client *c, const char *channel, const char *payload, size_t len) {
    const char *argv[] = {"PUBLISH", channel, payload};
    size_t lens[] = {7, strlen(channel), len};
    rcm_reply *r = NULL;
    TU_ASSERT_RC(rcm_command(c, 3, argv, lens, &r), RCM_OK);
    if (rcm_reply_type(r) != RCM_REPLY_INTEGER) fail_msg("PUBLISH: %s", tu_describe(r));
    rcm_reply_free(r);
}

static inline long long stats_number(rcm_client *c, const char *key) {
    char *json = NULL;
    TU_ASSERT_RC(rcm_client_stats_json(c, &json), RCM_OK);
    long long v = tu_json_number(strstr(json, "\"pubsub\""), key);
    rcm_free(json);
    return v;
}
