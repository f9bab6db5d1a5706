/* capi.pubsub_pull: what rcm_subscriber_next hands out belongs to the caller alone. The
 * message is the block rcm built (no copy) when one subscriber got it, a copy of its own
 * when several did: a caller that writes to its rcm_message, or frees it late (after its
 * subscriber and client closed), affects no other subscriber. Run under ASan and TSan too. */
#define _GNU_SOURCE
#include "pubsub_local.h"

/* A pull-mode subscriber of channel ch, its subscription confirmed. */
static rcm_subscriber *pull_subscriber_on(rcm_client *c, const char *ch) {
    const char *names[] = {ch};
    rcm_subscriber *s = NULL;
    TU_ASSERT_RC(rcm_subscriber_open(c, NULL, NULL, &s), RCM_OK);
    TU_ASSERT_RC(rcm_subscribe(s, RCM_SUB_CHANNEL, 1, names, NULL), RCM_OK);
    wait_subscribed(s, 1);
    return s;
}

static void test_pubsub_pull__a_message_written_by_one_reader_is_intact_for_another(void **state) {
    (void)state;
    tu_watchdog_arm(60, "pull hand-out");
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), NULL);
    char ch[64];
    name_for(ch, sizeof ch, "pull-shared", 0);
    rcm_subscriber *a = pull_subscriber_on(c, ch);
    rcm_subscriber *b = pull_subscriber_on(c, ch);
    enum { N = 50 };
    for (int i = 0; i < N; i++) {
        char payload[32];
        int len = snprintf(payload, sizeof payload, "shared-%d", i);
        publish_ok(c, ch, payload, (size_t)len);
    }
    for (int i = 0; i < N; i++) {
        char want[32];
        int len = snprintf(want, sizeof want, "shared-%d", i);
        rcm_message *ma = next_of_type(a, RCM_MSG_MESSAGE, 10000);
        /* a's reader scribbles over its message: its fields and its strings */
        assert_int_equal((int)ma->payload_len, len);
        assert_memory_equal(ma->payload, want, (size_t)len);
        memset((char *)ma->payload, 'X', ma->payload_len);
        memset((char *)ma->channel, 'Y', ma->channel_len);
        ma->payload = NULL;
        ma->payload_len = 0;
        ma->type = RCM_MSG_GAP;
        rcm_message_free(ma);
        rcm_message *mb = next_of_type(b, RCM_MSG_MESSAGE, 10000);
        assert_int_equal(mb->type, RCM_MSG_MESSAGE);
        assert_int_equal((int)mb->channel_len, (int)strlen(ch));
        assert_memory_equal(mb->channel, ch, strlen(ch));
        assert_int_equal(mb->channel[mb->channel_len], '\0');
        assert_non_null(mb->payload);
        assert_int_equal((int)mb->payload_len, len);
        assert_memory_equal(mb->payload, want, (size_t)len);
        assert_int_equal(mb->payload[mb->payload_len], '\0');
        assert_null(mb->pattern);
        assert_non_null(mb->node);
        rcm_message_free(mb);
    }
    rcm_subscriber_close(a);
    rcm_subscriber_close(b);
    rcm_client_close(c);
    tu_watchdog_disarm();
}

static void test_pubsub_pull__messages_outlive_their_subscriber_and_client(void **state) {
    (void)state;
    tu_watchdog_arm(60, "pull messages kept");
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), NULL);
    char ch[64];
    name_for(ch, sizeof ch, "pull-kept", 0);
    rcm_subscriber *s = pull_subscriber_on(c, ch);
    enum { N = 300 }; /* more than one batch of rcm's recycled blocks */
    static rcm_message *kept[N];
    char big[1000]; /* some past the recycled blocks' size */
    memset(big, 'b', sizeof big);
    for (int i = 0; i < N; i++) {
        size_t len = i % 3 == 0 ? sizeof big : 8;
        memcpy(big, &i, sizeof i);
        publish_ok(c, ch, big, len);
    }
    for (int i = 0; i < N; i++) kept[i] = next_of_type(s, RCM_MSG_MESSAGE, 10000);
    rcm_subscriber_close(s);
    rcm_client_close(c);
    for (int i = 0; i < N; i++) {
        int seq = -1;
        assert_int_equal((int)kept[i]->payload_len, i % 3 == 0 ? (int)sizeof big : 8);
        memcpy(&seq, kept[i]->payload, sizeof seq);
        assert_int_equal(seq, i);
        assert_int_equal((int)kept[i]->channel_len, (int)strlen(ch));
        assert_memory_equal(kept[i]->channel, ch, strlen(ch));
        rcm_message_free(kept[i]);
    }
    rcm_message_free(NULL); /* allowed, as free(NULL) */
    tu_watchdog_disarm();
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pubsub_pull__a_message_written_by_one_reader_is_intact_for_another),
        cmocka_unit_test(test_pubsub_pull__messages_outlive_their_subscriber_and_client),
    };
    return TU_RUN(tests, argc, argv);
}
