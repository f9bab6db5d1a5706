/* Helpers of the Pub/Sub tests that run against real servers in a failover
 * (cluster.pubsub, sentinel.pubsub, raft.pubsub): a pull-mode subscriber whose messages
 * are recorded in an inbox the test then queries, publishing through rcm, and the
 * checks every such test makes after an interruption (messages published after the
 * gap arrive once each, in order, from the node the subscription moved to; one gap).
 *
 * The inbox is read and written by the test's main thread only (ps_*_ok() assert with
 * cmocka); ps_events_* may be fed from the client's event thread. */
#ifndef RCM_PUBSUB_UTIL_H
#define RCM_PUBSUB_UTIL_H

#include <pthread.h>
#include <stddef.h>

#include "test_util.h"

/* One message as rcm_subscriber_next gave it (strings cut to fit: test names are short). */
typedef struct ps_rec {
    rcm_message_type type;
    rcm_sub_kind kind;
    int every_primary;
    char channel[128];
    char pattern[128];
    char payload[128];
    char node[64];
    long long gap_from_ms, gap_to_ms;
    unsigned long long dropped;
    long long got_ms; /* Unix time in ms when the test read it */
} ps_rec;

typedef struct ps_events ps_events; /* below */

typedef struct ps_inbox {
    rcm_subscriber *sub;
    ps_rec *recs;
    size_t n, cap;
} ps_inbox;

/* Unix time in ms (the clock of rcm_message's gap_from_ms / gap_to_ms). */
long long ps_unix_ms(void);

/* Opens a pull-mode subscriber on c into in (zeroed first). Asserts RCM_OK. */
void ps_open_ok(ps_inbox *in, rcm_client *c);
/* Closes the subscriber and frees the records. */
void ps_close(ps_inbox *in);

/* rcm_subscribe of one NUL-terminated name; asserts RCM_OK. kind may carry
 * RCM_SUB_EVERY_PRIMARY. */
void ps_subscribe_ok(ps_inbox *in, int kind, const char *name);

/* Reads messages until none comes for timeout_ms; returns how many were recorded. */
size_t ps_drain(ps_inbox *in, int timeout_ms);
/* Reads messages until at least count records of type whose channel is name (NULL: any)
 * are in the inbox, for at most seconds. Returns 1 when they are. */
int ps_wait(ps_inbox *in, rcm_message_type type, const char *name, size_t count, double seconds);
/* ps_wait that fails the test (printing the inbox) when they do not come. */
void ps_wait_ok(ps_inbox *in, rcm_message_type type, const char *name, size_t count, double seconds,
                const char *what);

/* Records of type whose channel is name (NULL: any) from index from on. */
size_t ps_count(const ps_inbox *in, size_t from, rcm_message_type type, const char *name);
/* The index of the first such record from index from on, or -1. */
long ps_find(const ps_inbox *in, size_t from, rcm_message_type type, const char *name);
/* Prints every record (for failure messages). */
void ps_print(const ps_inbox *in, const char *what);

/* PUBLISH or SPUBLISH (cmd) channel payload through rcm's ordinary command path. Returns
 * the receivers the server counted, or -1 (with the reason on stdout) when the call
 * failed or the reply was not an integer. Thread-safe. */
long long ps_publish(rcm_client *c, const char *cmd, const char *channel, const char *payload);

#define PS_MAX_PUBLISH 256
/* Or'ed into the kind of ps_expect_ok / ps_publish_and_expect_ok: the messages may come in
 * any order (once each still). PUBLISH in a cluster reaches the subscriber's node over
 * the cluster bus from whichever primary rcm sent it to, so one may overtake another. */
#define PS_ANY_ORDER 0x10000
/* Publishes count (<= PS_MAX_PUBLISH) messages "<tag>-<i>" with cmd (PUBLISH or
 * SPUBLISH) to channel through rcm, retrying a failed call for up to 30 s (the node may
 * still be changing); retried[i] (may be NULL) is set for a message sent again, which
 * may then arrive twice. */
void ps_publish_tagged_ok(rcm_client *c, const char *cmd, const char *channel, const char *tag, int count,
                          char *retried);
/* Asserts that the count messages "<tag>-<i>" of channel arrive (waiting up to 30 s,
 * then 300 ms more for a duplicate) exactly once each, in order (unless PS_ANY_ORDER), as kind (with pattern
 * when not NULL, none when NULL) and, when node is not NULL, from that node
 * ("host:port"). Records before index from are ignored. Returns the index after the
 * last one checked. */
size_t ps_expect_ok(ps_inbox *in, size_t from, int kind, const char *channel, const char *pattern, const char *tag,
                    int count, const char *node);
/* Both: publish, then expect (a message sent again after a failure may arrive twice). */
size_t ps_publish_and_expect_ok(ps_inbox *in, rcm_client *c, size_t from, int kind, const char *cmd,
                                const char *channel, const char *pattern, const char *tag, int count,
                                const char *node);

/* Asserts the inbox holds exactly want GAP records for name from index from on, each
 * with a node and from <= to, and no RCM_MSG_DROPPED at all. When fault_from_ms >= 0,
 * the fault (Unix ms) took from fault_from_ms to fault_to_ms: each GAP's subscription
 * was last known live before the fault ended and confirmed again after it began. */
void ps_assert_gaps_ok(const ps_inbox *in, size_t from, const char *name, size_t want, long long fault_from_ms,
                       long long fault_to_ms);

/* Asserts no RCM_MSG_DROPPED is in the inbox. */
void ps_assert_no_drops_ok(const ps_inbox *in);

/* ---- one channel and one pattern through a switch of the writable node --------------- */

/* What sentinel.pubsub and raft.pubsub subscribe: a channel, a pattern and a channel the
 * pattern matches. */
typedef struct ps_pair {
    const char *channel, *pattern, *pattern_channel;
} ps_pair;

/* Subscribes both names and waits for their SUBSCRIBED (30 s). */
void ps_pair_subscribe_ok(ps_inbox *in, const ps_pair *p);
/* Publishes count messages "<tag>-<i>" to each and expects them from node. */
void ps_pair_publish_ok(ps_inbox *in, rcm_client *c, const ps_pair *p, const char *tag, int count, const char *node);
/* Waits (60 s) for a GAP of each name and asserts it says live on node. */
void ps_pair_wait_gaps_ok(ps_inbox *in, const ps_pair *p, const char *node);
/* Exactly one GAP per name that fits the fault (ps_assert_gaps_ok), and one
 * SUBSCRIPTION_GAP event naming each. */
void ps_pair_assert_one_gap_ok(const ps_inbox *in, ps_events *e, const ps_pair *p, long long fault_from_ms,
                               long long fault_to_ms);

/* ---- events of the client (RCM_EVENT_SUBSCRIPTION_GAP) ------------------------------ */

#define PS_MAX_EVENTS 256
struct ps_events {
    pthread_mutex_t mu;
    int n;
    rcm_event_kind kind[PS_MAX_EVENTS];
    char node[PS_MAX_EVENTS][64];
    char detail[PS_MAX_EVENTS][512];
};

void ps_events_init(ps_events *e);
/* The rcm_event_callback; userdata is a ps_events. */
void ps_events_cb(rcm_event_kind kind, const char *node, const char *detail, void *userdata);
/* How many events of kind from index from on name `name` in their detail. */
int ps_events_count(ps_events *e, int from, rcm_event_kind kind, const char *name);
/* Waits up to seconds until ps_events_count reaches want; returns the count. */
int ps_events_wait(ps_events *e, int from, rcm_event_kind kind, const char *name, int want, double seconds);
int ps_events_total(ps_events *e);
/* Asserts that exactly want RCM_EVENT_SUBSCRIPTION_GAP events name `name` (waiting up to
 * 10 s for them, then 200 ms for one more). Main thread only. */
void ps_assert_gap_events_ok(ps_events *e, const char *name, int want);
void ps_events_print(ps_events *e);

/* Opens a client from url with the key/value config pairs after it (NULL-terminated)
 * and, when e is not NULL, ps_events_cb feeding e (initialised here). Asserts RCM_OK. */
rcm_client *ps_client_open_ok(const char *url, ps_events *e, ...);

#endif
