/* cluster.pubsub: subscriptions that rcm keeps true on a real cluster (issue 13). What
 * the servers hold is read with valkey-cli (PUBSUB SHARDNUMSUB / NUMSUB / NUMPAT, CLIENT
 * LIST); what arrives is read with rcm_subscriber_next; PUBLISH and SPUBLISH go through
 * rcm_command.
 *
 *   every_shard   shard channels whose slots fall on each primary, from two subscribers:
 *                 each is subscribed on its slot's owner only, over one connection per
 *                 primary shared by both subscribers (SPUBLISH counts one receiver),
 *                 every message arrives once to each subscriber that wants it, from the
 *                 owner; the server is unsubscribed once no subscriber wants a name;
 *   keyspace      `__keyspace@0__:*` with RCM_SUB_EVERY_PRIMARY (notify-keyspace-events
 *                 set on every node through rcm, restored after): subscribed on every
 *                 primary, and a write to a key on each shard is notified once, by the
 *                 key's owner;
 *   migration     a slot moves away under a live shard subscription: the old owner's
 *                 `sunsubscribe` makes rcm subscribe at the new owner, one GAP (whose
 *                 interval holds the move), messages SPUBLISHed then arrive from the new
 *                 owner; a shard channel of another slot of the same node is not
 *                 interrupted; the same again when the slot moves back;
 *   failover      CLUSTER FAILOVER on the replica of a shard: the shard subscription
 *                 ends up on the promoted node alone (not also on the demoted one: no
 *                 message twice), exactly one GAP of the shard channel, on the promoted
 *                 node (one of the channel too when it lived on the demoted node),
 *                 messages published after arrive from it; the same when it fails back;
 *   kill          SIGKILL of the primary that holds the client's channel subscription
 *                 and a shard subscription: both come back (the shard one on the
 *                 promoted replica), one GAP each (also as RCM_EVENT_SUBSCRIPTION_GAP),
 *                 messages published after arrive once; the node is restarted and the
 *                 layout restored (teardown does that also when the test fails).
 *
 * Runs after the other disturbing cluster tests and leaves the harness's layout: the
 * original primaries, every slot home, notify-keyspace-events empty. */
#define _GNU_SOURCE
#include "cluster_util.h"
#include "pubsub_util.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHARD_NAMES 4 /* shard channels per primary in every_shard */

static ps_events events;
static struct {
    int slot, home_port; /* a slot moved away from home_port, until it is back */
    int killed_port;     /* a node killed, until it is restarted */
    int notify_set;      /* notify-keyspace-events was changed */
} fault = {-1, -1, -1, 0};

static int teardown(void **state) {
    (void)state;
    char why[256];
    if (fault.notify_set) {
        for (int i = 0; i < CU_NODES; i++) free(cu_cli(cu_port(i), "CONFIG SET notify-keyspace-events ''"));
        fault.notify_set = 0;
    }
    if (fault.killed_port > 0 && cu_node_pid(fault.killed_port) < 0) {
        int pid = cu_node_restart(fault.killed_port);
        fprintf(stderr, "teardown: restarted node %d (pid %d)\n", fault.killed_port, pid);
    }
    fault.killed_port = -1;
    if (fault.slot >= 0) {
        if (cu_return_slot(fault.slot, fault.home_port, why, sizeof why) != 0)
            fprintf(stderr, "teardown: moving slot %d back: %s\n", fault.slot, why);
        fault.slot = -1;
    }
    if (cu_restore_layout(why, sizeof why) != 0) {
        fprintf(stderr, "teardown: could not restore the layout: %s\n", why);
        return -1;
    }
    return 0;
}

/* Publishing waits out a failover (command_timeout_ms) rather than failing and being
 * sent again. */
static rcm_client *open_client(void) {
    char url[256];
    snprintf(url, sizeof url, "redis+cluster://:%s@127.0.0.1:%d,127.0.0.1:%d", CU_PASSWORD, cu_port(0), cu_port(1));
    return ps_client_open_ok(url, &events, "command_timeout_ms", "10000", NULL);
}

/* ---- what the servers say ------------------------------------------------------------ */

/* PUBSUB NUMSUB / SHARDNUMSUB <name> on port: the count, or -1. */
static int numsub(int port, const char *sub, const char *name) {
    char *out = cu_cli(port, "PUBSUB %s '%s'", sub, name);
    int n = -1;
    const char *nl = out ? strchr(out, '\n') : NULL;
    if (nl) n = atoi(nl + 1);
    free(out);
    return n;
}

static int numpat(int port) {
    char *out = cu_cli(port, "PUBSUB NUMPAT");
    int n = out ? atoi(out) : -1;
    free(out);
    return n;
}

/* Connections on port with a subscription of this kind ("sub", "psub", "ssub" > 0 in
 * CLIENT LIST). */
static int subscribed_connections(int port, const char *field) {
    char *out = cu_cli(port, "CLIENT LIST");
    int n = 0;
    char want[16];
    snprintf(want, sizeof want, " %s=", field);
    for (const char *p = out; p && (p = strstr(p, want)) != NULL; p += strlen(want))
        if (atoi(p + strlen(want)) > 0) n++;
    free(out);
    return n;
}

/* Waits until numsub(port, sub, name) == want (up to seconds); asserts. */
static void wait_numsub_ok(int port, const char *sub, const char *name, int want, double seconds) {
    double end = tu_now() + seconds;
    int n;
    while ((n = numsub(port, sub, name)) != want && tu_now() < end) tu_sleep_ms(50);
    if (n != want) fail_msg("PUBSUB %s '%s' on %d: %d after %.0f s, expected %d", sub, name, port, n, seconds, want);
}

/* The primaries' ports (by port) and how many. */
static int primary_ports(const cu_cluster *cl, int *ports) {
    int idx[CU_NODES];
    int n = cu_primaries(cl, idx, CU_NODES);
    for (int i = 0; i < n; i++) ports[i] = cl->nodes[idx[i]].port;
    return n;
}

/* ---- every shard --------------------------------------------------------------------- */

static void test_pubsub__shard_channels_on_every_shard(void **state) {
    (void)state;
    tu_watchdog_arm(300, "shard channels on every shard");
    cu_cluster cl;
    assert_int_equal(cu_cluster_read(cu_port(0), &cl), 0);
    int prim[CU_NODES];
    int np = primary_ports(&cl, prim);
    assert_int_equal(np, CU_PRIMARIES);
    char names[CU_PRIMARIES][SHARD_NAMES][64];
    int seq = 0;
    for (int p = 0; p < np; p++)
        for (int j = 0; j < SHARD_NAMES; j++) cu_key_on(&cl, prim[p], "psevery:", &seq, names[p][j], sizeof names[p][j]);

    rcm_client *c = open_client();
    ps_inbox all, firsts; /* all: every name; firsts: the first name of each shard */
    ps_open_ok(&all, c);
    ps_open_ok(&firsts, c);
    for (int p = 0; p < np; p++) {
        for (int j = 0; j < SHARD_NAMES; j++) ps_subscribe_ok(&all, RCM_SUB_SHARD, names[p][j]);
        ps_subscribe_ok(&firsts, RCM_SUB_SHARD, names[p][0]);
    }
    for (int p = 0; p < np; p++) {
        for (int j = 0; j < SHARD_NAMES; j++) ps_wait_ok(&all, RCM_MSG_SUBSCRIBED, names[p][j], 1, 30, "SUBSCRIBED");
        ps_wait_ok(&firsts, RCM_MSG_SUBSCRIBED, names[p][0], 1, 30, "SUBSCRIBED (second subscriber)");
    }

    /* On the owner only, once for both subscribers, one connection per primary. */
    for (int p = 0; p < np; p++) {
        for (int j = 0; j < SHARD_NAMES; j++)
            for (int q = 0; q < np; q++) {
                int n = numsub(prim[q], "SHARDNUMSUB", names[p][j]);
                if (n != (q == p))
                    fail_msg("'%s' (slot %d, owner %d): PUBSUB SHARDNUMSUB on %d says %d", names[p][j],
                             cu_key_slot(names[p][j], strlen(names[p][j])), prim[p], prim[q], n);
            }
        int conns = subscribed_connections(prim[p], "ssub");
        if (conns != 1)
            fail_msg("primary %d has %d connections with shard subscriptions, expected 1 shared by both subscribers",
                     prim[p], conns);
    }

    for (int p = 0; p < np; p++) {
        const char *owner = cu_addr(prim[p]);
        char node[64];
        snprintf(node, sizeof node, "%s", owner);
        for (int j = 0; j < SHARD_NAMES; j++) {
            long long receivers = ps_publish(c, "SPUBLISH", names[p][j], "probe-0");
            if (receivers != 1)
                fail_msg("SPUBLISH '%s' counted %lld receivers on its owner %d, expected 1 (one shared connection)",
                         names[p][j], receivers, prim[p]);
            ps_expect_ok(&all, 0, RCM_SUB_SHARD, names[p][j], NULL, "probe", 1, node);
            ps_publish_and_expect_ok(&all, c, 0, RCM_SUB_SHARD, "SPUBLISH", names[p][j], NULL, "every", 5, node);
            if (j == 0) {
                ps_expect_ok(&firsts, 0, RCM_SUB_SHARD, names[p][j], NULL, "probe", 1, node);
                ps_expect_ok(&firsts, 0, RCM_SUB_SHARD, names[p][j], NULL, "every", 5, node);
            }
        }
    }
    /* firsts got nothing of the names it does not want. */
    for (int p = 0; p < np; p++)
        for (int j = 1; j < SHARD_NAMES; j++)
            if (ps_count(&firsts, 0, RCM_MSG_MESSAGE, names[p][j]))
                fail_msg("a subscriber got a message of '%s', which it never subscribed", names[p][j]);
    for (int p = 0; p < np; p++) ps_assert_gaps_ok(&all, 0, names[p][0], 0, -1, -1);

    /* The server forgets a name once no subscriber wants it. */
    TU_ASSERT_RC(rcm_unsubscribe(all.sub, RCM_SUB_SHARD, 0, NULL, NULL), RCM_OK);
    for (int p = 0; p < np; p++)
        for (int j = 0; j < SHARD_NAMES; j++) ps_wait_ok(&all, RCM_MSG_UNSUBSCRIBED, names[p][j], 1, 30, "UNSUBSCRIBED");
    for (int p = 0; p < np; p++) {
        wait_numsub_ok(prim[p], "SHARDNUMSUB", names[p][0], 1, 1); /* firsts still wants it */
        for (int j = 1; j < SHARD_NAMES; j++) wait_numsub_ok(prim[p], "SHARDNUMSUB", names[p][j], 0, 20);
    }
    ps_close(&firsts);
    for (int p = 0; p < np; p++) wait_numsub_ok(prim[p], "SHARDNUMSUB", names[p][0], 0, 20);
    ps_close(&all);
    rcm_client_close(c);
    tu_watchdog_disarm();
}

/* ---- keyspace notifications on every primary ------------------------------------------ */

static void test_pubsub__keyspace_notifications_from_every_primary(void **state) {
    (void)state;
    tu_watchdog_arm(300, "keyspace notifications");
    cu_cluster cl;
    assert_int_equal(cu_cluster_read(cu_port(0), &cl), 0);
    int prim[CU_NODES];
    int np = primary_ports(&cl, prim);
    assert_int_equal(np, CU_PRIMARIES);
    rcm_client *c = open_client();

    rcm_route every = {RCM_ROUTE_ALL_NODES, 0, NULL, 0, NULL};
    rcm_reply *r = NULL;
    fault.notify_set = 1;
    TU_ASSERT_RC(cu_routed(c, &every, &r, "CONFIG", "SET", "notify-keyspace-events", "K$", NULL), RCM_OK);
    if (rcm_reply_type(r) != RCM_REPLY_ARRAY || rcm_reply_length(r) != CU_NODES)
        fail_msg("CONFIG SET on every node: %s", tu_describe(r));
    rcm_reply_free(r);

    const char *pattern = "__keyspace@0__:*";
    ps_inbox in;
    ps_open_ok(&in, c);
    ps_subscribe_ok(&in, RCM_SUB_PATTERN | RCM_SUB_EVERY_PRIMARY, pattern);
    ps_wait_ok(&in, RCM_MSG_SUBSCRIBED, pattern, 1, 30, "SUBSCRIBED");
    /* Live on every primary (a SUBSCRIBED may come once the first one confirmed). */
    for (int p = 0; p < np; p++) {
        double end = tu_now() + 30;
        while (numpat(prim[p]) != 1 && tu_now() < end) tu_sleep_ms(50);
        if (numpat(prim[p]) != 1) fail_msg("PUBSUB NUMPAT on primary %d: %d, expected 1", prim[p], numpat(prim[p]));
    }
    for (int i = 0; i < CU_NODES; i++) {
        int port = cl.nodes[i].port;
        if (!cl.nodes[i].primary && numpat(port) != 0)
            fail_msg("replica %d holds %d pattern subscriptions: its notifications would come twice", port, numpat(port));
    }
    long first = ps_find(&in, 0, RCM_MSG_SUBSCRIBED, pattern);
    if (!in.recs[first].every_primary) fail_msg("the SUBSCRIBED of '%s' does not say every_primary", pattern);

    /* Three keys on each shard: one notification each, from the key's owner. */
    char keys[CU_PRIMARIES][3][64];
    int seq = 0;
    for (int p = 0; p < np; p++)
        for (int k = 0; k < 3; k++) {
            cu_key_on(&cl, prim[p], "psks:", &seq, keys[p][k], sizeof keys[p][k]);
            r = tu_cmd_ok(c, "SET", keys[p][k], "v", NULL);
            TU_ASSERT_STATUS_REPLY(r, "OK");
            rcm_reply_free(r);
        }
    for (int p = 0; p < np; p++)
        for (int k = 0; k < 3; k++) {
            char channel[96];
            snprintf(channel, sizeof channel, "__keyspace@0__:%s", keys[p][k]);
            if (!ps_wait(&in, RCM_MSG_MESSAGE, channel, 1, 30)) {
                ps_print(&in, "keyspace");
                fail_msg("no notification for '%s' (on primary %d) within 30 s", keys[p][k], prim[p]);
            }
        }
    ps_drain(&in, 300);
    for (int p = 0; p < np; p++)
        for (int k = 0; k < 3; k++) {
            char channel[96];
            snprintf(channel, sizeof channel, "__keyspace@0__:%s", keys[p][k]);
            if (ps_count(&in, 0, RCM_MSG_MESSAGE, channel) != 1) {
                ps_print(&in, "keyspace");
                fail_msg("'%s': %zu notifications, expected 1", channel, ps_count(&in, 0, RCM_MSG_MESSAGE, channel));
            }
            const ps_rec *m = &in.recs[ps_find(&in, 0, RCM_MSG_MESSAGE, channel)];
            if (strcmp(m->payload, "set") != 0 || strcmp(m->pattern, pattern) != 0 || m->kind != RCM_SUB_PATTERN ||
                strcmp(m->node, cu_addr(prim[p])) != 0)
                fail_msg("'%s': payload '%s' pattern '%s' kind %d node '%s', expected 'set' '%s' %d %s", channel,
                         m->payload, m->pattern, (int)m->kind, m->node, pattern, RCM_SUB_PATTERN, cu_addr(prim[p]));
            r = tu_cmd_ok(c, "DEL", keys[p][k], NULL);
            rcm_reply_free(r);
        }

    /* Unsubscribed everywhere once nobody wants it. */
    ps_close(&in);
    for (int p = 0; p < np; p++) {
        double end = tu_now() + 20;
        while (numpat(prim[p]) != 0 && tu_now() < end) tu_sleep_ms(50);
        if (numpat(prim[p]) != 0)
            fail_msg("primary %d still holds %d patterns after the subscriber closed", prim[p], numpat(prim[p]));
    }
    TU_ASSERT_RC(cu_routed(c, &every, &r, "CONFIG", "SET", "notify-keyspace-events", "", NULL), RCM_OK);
    rcm_reply_free(r);
    fault.notify_set = 0;
    rcm_client_close(c);
    tu_watchdog_disarm();
}

/* ---- a slot moves under a live shard subscription -------------------------------------- */

/* Waits for the n-th GAP of name (counting from index 0); asserts. */
static void wait_gap_ok(ps_inbox *in, const char *name, size_t n, double seconds, const char *what) {
    ps_wait_ok(in, RCM_MSG_GAP, name, n, seconds, what);
}

/* The node of the n-th (1-based) GAP of name. */
static const char *gap_node(const ps_inbox *in, const char *name, size_t n) {
    long at = -1;
    for (size_t k = 0; k < n; k++) at = ps_find(in, (size_t)(at + 1), RCM_MSG_GAP, name);
    return at >= 0 ? in->recs[at].node : "";
}

static void test_pubsub__slot_migration_moves_the_shard_subscription(void **state) {
    (void)state;
    tu_watchdog_arm(300, "slot migration under a shard subscription");
    cu_cluster cl;
    assert_int_equal(cu_cluster_read(cu_port(0), &cl), 0);
    int from_port = cu_port(1), to_port = cu_port(2);
    char tag[32], moving[64], staying[64];
    int slot = cu_tag_on(&cl, from_port, "psmig", tag, sizeof tag);
    snprintf(moving, sizeof moving, "{%s}:moving", tag);
    int seq = 0;
    while (cu_key_on(&cl, from_port, "psmig:staying:", &seq, staying, sizeof staying) == slot) {
    }
    printf("moving slot %d ('%s') from %d to %d; '%s' stays on %d\n", slot, moving, from_port, to_port, staying,
           from_port);
    char from_addr[64], to_addr[64];
    snprintf(from_addr, sizeof from_addr, "%s", cu_addr(from_port));
    snprintf(to_addr, sizeof to_addr, "%s", cu_addr(to_port));

    rcm_client *c = open_client();
    ps_inbox in;
    ps_open_ok(&in, c);
    ps_subscribe_ok(&in, RCM_SUB_SHARD, moving);
    ps_subscribe_ok(&in, RCM_SUB_SHARD, staying);
    ps_wait_ok(&in, RCM_MSG_SUBSCRIBED, moving, 1, 30, "SUBSCRIBED");
    ps_wait_ok(&in, RCM_MSG_SUBSCRIBED, staying, 1, 30, "SUBSCRIBED");
    ps_publish_and_expect_ok(&in, c, 0, RCM_SUB_SHARD, "SPUBLISH", moving, NULL, "before", 5, from_addr);

    fault.slot = slot;
    fault.home_port = from_port;
    long long t_move = ps_unix_ms();
    char why[256];
    if (cu_move_slot(slot, from_port, to_port, 100, 0, why, sizeof why) != 0) fail_msg("moving slot %d: %s", slot, why);
    long long t_moved = ps_unix_ms(); /* the old owner let go of the slot (sunsubscribe) by now */
    if (!cu_wait_owner_everywhere(slot, to_port, 20)) fail_msg("not every node names %d the owner of slot %d", to_port, slot);
    wait_gap_ok(&in, moving, 1, 60, "GAP after the slot moved away");
    if (strcmp(gap_node(&in, moving, 1), to_addr) != 0)
        fail_msg("the GAP of '%s' says it is live on '%s', expected the new owner %s", moving, gap_node(&in, moving, 1),
                 to_addr);
    wait_numsub_ok(to_port, "SHARDNUMSUB", moving, 1, 10);
    wait_numsub_ok(from_port, "SHARDNUMSUB", moving, 0, 10);
    size_t at = ps_publish_and_expect_ok(&in, c, 0, RCM_SUB_SHARD, "SPUBLISH", moving, NULL, "after", 10, to_addr);
    ps_publish_and_expect_ok(&in, c, 0, RCM_SUB_SHARD, "SPUBLISH", staying, NULL, "stay", 5, from_addr);
    ps_assert_gaps_ok(&in, 0, moving, 1, t_move, t_moved);
    ps_assert_gaps_ok(&in, 0, staying, 0, -1, -1);
    ps_assert_gap_events_ok(&events, moving, 1);
    ps_assert_gap_events_ok(&events, staying, 0);

    /* And back home. */
    long long t_back = ps_unix_ms();
    if (cu_move_slot(slot, to_port, from_port, 100, 0, why, sizeof why) != 0) fail_msg("moving slot %d back: %s", slot, why);
    long long t_back_end = ps_unix_ms();
    if (!cu_wait_owner_everywhere(slot, from_port, 20)) fail_msg("slot %d did not return to %d everywhere", slot, from_port);
    fault.slot = -1;
    wait_gap_ok(&in, moving, 2, 60, "GAP after the slot moved back");
    if (strcmp(gap_node(&in, moving, 2), from_addr) != 0)
        fail_msg("the second GAP of '%s' says it is live on '%s', expected %s", moving, gap_node(&in, moving, 2), from_addr);
    wait_numsub_ok(from_port, "SHARDNUMSUB", moving, 1, 10);
    wait_numsub_ok(to_port, "SHARDNUMSUB", moving, 0, 10);
    ps_publish_and_expect_ok(&in, c, at, RCM_SUB_SHARD, "SPUBLISH", moving, NULL, "back", 10, from_addr);
    ps_assert_gaps_ok(&in, at, moving, 1, t_back, t_back_end);
    ps_assert_gaps_ok(&in, 0, staying, 0, -1, -1);
    ps_close(&in);
    rcm_client_close(c);
    cu_assert_healthy_ok(120);
    tu_watchdog_disarm();
}

/* ---- CLUSTER FAILOVER -------------------------------------------------------------------- */

/* CLUSTER FAILOVER to the replica on port, then a healthy cluster; asserts. */
static void failover_to_ok(int port) {
    cu_log("CLUSTER FAILOVER on %d", port);
    if (cu_failover_to(port, 60) < 0) fail_msg("%d did not become a primary within 60 s of CLUSTER FAILOVER", port);
    cu_assert_healthy_ok(60);
    cu_log("%d is a primary, the cluster is healthy", port);
}

/* The node whose NUMSUB counts channel, among every node; -1 when none or several. */
static int channel_home(const char *channel) {
    int home = -1;
    for (int i = 0; i < CU_NODES; i++) {
        int n = numsub(cu_port(i), "NUMSUB", channel);
        if (n > 0) {
            if (home >= 0) return -1;
            home = cu_port(i);
        }
    }
    return home;
}

/* Waits until exactly one node holds channel's subscription; asserts. */
static void wait_channel_home_ok(const char *channel) {
    double end = tu_now() + 30;
    while (channel_home(channel) < 0 && tu_now() < end) tu_sleep_ms(50);
    if (channel_home(channel) < 0) fail_msg("no single node holds the subscription of '%s' after 30 s", channel);
}

/* After a failover from old_port to new_port: the shard subscription moves to new_port
 * (and off old_port, which still serves the shard as a replica: subscribed on both, every
 * message would come twice), messages published then arrive once from the new primary.
 * One failover is one interruption: exactly one GAP of the shard channel since index
 * from, naming the new primary (not a GAP on the demoted node that took the name back,
 * then another once it moved); the channel has exactly one when it lived on old_port
 * (channel_on_old: it moves to a primary), else none. Returns the inbox index after them. */
static size_t shard_follows_ok(ps_inbox *in, rcm_client *c, size_t from, const char *shard, const char *channel,
                               int channel_on_old, int old_port, int new_port, const char *tag) {
    wait_numsub_ok(new_port, "SHARDNUMSUB", shard, 1, 60);
    wait_numsub_ok(old_port, "SHARDNUMSUB", shard, 0, 30);
    char new_addr[64], ctag[64];
    snprintf(new_addr, sizeof new_addr, "%s", cu_addr(new_port));
    size_t at = ps_publish_and_expect_ok(in, c, from, RCM_SUB_SHARD, "SPUBLISH", shard, NULL, tag, 10, new_addr);
    snprintf(ctag, sizeof ctag, "%s-channel", tag);
    wait_channel_home_ok(channel);
    size_t at2 = ps_publish_and_expect_ok(in, c, from, RCM_SUB_CHANNEL | PS_ANY_ORDER, "PUBLISH", channel, NULL, ctag, 10, NULL);
    for (long g = ps_find(in, from, RCM_MSG_GAP, shard); g >= 0; g = ps_find(in, (size_t)g + 1, RCM_MSG_GAP, shard))
        if (strcmp(in->recs[g].node, new_addr) != 0) {
            ps_print(in, tag);
            fail_msg("%s: the shard subscription was made live again on %s (record %ld), not on the new primary %s",
                     tag, in->recs[g].node, g, new_addr);
        }
    size_t after = at > at2 ? at : at2;
    if (channel_on_old) {
        size_t before = ps_count(in, 0, RCM_MSG_GAP, channel) - ps_count(in, from, RCM_MSG_GAP, channel);
        ps_wait_ok(in, RCM_MSG_GAP, channel, before + 1, 60, "GAP of the channel that lived on the demoted primary");
        long g = ps_find(in, from, RCM_MSG_GAP, channel);
        if ((size_t)g + 1 > after) after = (size_t)g + 1; /* the next failover counts from here */
        if (strcmp(in->recs[g].node, cu_addr(old_port)) == 0) {
            ps_print(in, tag);
            fail_msg("%s: the channel was made live again on the demoted %s", tag, cu_addr(old_port));
        }
    }
    if (ps_count(in, from, RCM_MSG_GAP, shard) != 1 || ps_count(in, from, RCM_MSG_GAP, channel) != (size_t)channel_on_old) {
        ps_print(in, tag);
        fail_msg("%s: %zu GAP(s) of the shard channel (want 1), %zu of the channel (want %d) for one failover", tag,
                 ps_count(in, from, RCM_MSG_GAP, shard), ps_count(in, from, RCM_MSG_GAP, channel), channel_on_old);
    }
    return after;
}

static void test_pubsub__manual_failover_moves_the_shard_subscription(void **state) {
    (void)state;
    tu_watchdog_arm(360, "CLUSTER FAILOVER under subscriptions");
    cu_cluster cl;
    assert_int_equal(cu_cluster_read(cu_port(0), &cl), 0);
    int old_port = cu_port(0);
    int pi = cu_node_index(&cl, old_port);
    assert_true(pi >= 0 && cl.nodes[pi].primary);
    int ri = cu_replica_index(&cl, pi);
    assert_true(ri >= 0);
    int new_port = cl.nodes[ri].port;
    char shard[64];
    int seq = 0;
    cu_key_on(&cl, old_port, "psfo:", &seq, shard, sizeof shard);
    const char *channel = "psfo-channel";
    printf("shard channel '%s' on %d; failing over to %d\n", shard, old_port, new_port);

    rcm_client *c = open_client();
    ps_inbox in;
    ps_open_ok(&in, c);
    ps_subscribe_ok(&in, RCM_SUB_SHARD, shard);
    ps_subscribe_ok(&in, RCM_SUB_CHANNEL, channel);
    ps_wait_ok(&in, RCM_MSG_SUBSCRIBED, shard, 1, 30, "SUBSCRIBED");
    ps_wait_ok(&in, RCM_MSG_SUBSCRIBED, channel, 1, 30, "SUBSCRIBED");
    size_t at = ps_publish_and_expect_ok(&in, c, 0, RCM_SUB_SHARD, "SPUBLISH", shard, NULL, "before", 5, cu_addr(old_port));

    wait_channel_home_ok(channel);
    int channel_on_old = channel_home(channel) == old_port;
    failover_to_ok(new_port);
    at = shard_follows_ok(&in, c, at, shard, channel, channel_on_old, old_port, new_port, "promoted");
    wait_channel_home_ok(channel);
    channel_on_old = channel_home(channel) == new_port;
    failover_to_ok(old_port);
    shard_follows_ok(&in, c, at, shard, channel, channel_on_old, new_port, old_port, "failback");
    ps_assert_no_drops_ok(&in);
    ps_close(&in);
    rcm_client_close(c);
    tu_watchdog_disarm();
}

/* ---- SIGKILL of a primary ----------------------------------------------------------------- */

static void test_pubsub__primary_sigkill_resubscribes_on_the_promoted_replica(void **state) {
    (void)state;
    tu_watchdog_arm(420, "SIGKILL of a primary under subscriptions");
    rcm_client *c = open_client();
    ps_inbox in;
    ps_open_ok(&in, c);
    const char *channel = "pskill-channel";
    ps_subscribe_ok(&in, RCM_SUB_CHANNEL, channel);
    ps_wait_ok(&in, RCM_MSG_SUBSCRIBED, channel, 1, 30, "SUBSCRIBED");

    /* Kill the node rcm chose for channels, with a shard channel on it too. */
    wait_channel_home_ok(channel);
    int port = channel_home(channel);
    cu_cluster cl;
    assert_int_equal(cu_cluster_read(cu_port(0), &cl), 0);
    int pi = cu_node_index(&cl, port);
    if (pi < 0 || !cl.nodes[pi].primary) fail_msg("the channel is subscribed on %d, which is not a primary", port);
    int ri = cu_replica_index(&cl, pi);
    assert_true(ri >= 0);
    int replica_port = cl.nodes[ri].port;
    char shard[64];
    int seq = 0;
    cu_key_on(&cl, port, "pskill:", &seq, shard, sizeof shard);
    ps_subscribe_ok(&in, RCM_SUB_SHARD, shard);
    ps_wait_ok(&in, RCM_MSG_SUBSCRIBED, shard, 1, 30, "SUBSCRIBED");
    ps_publish_and_expect_ok(&in, c, 0, RCM_SUB_SHARD, "SPUBLISH", shard, NULL, "before", 5, cu_addr(port));
    ps_publish_and_expect_ok(&in, c, 0, RCM_SUB_CHANNEL | PS_ANY_ORDER, "PUBLISH", channel, NULL, "before", 5, NULL);
    int pid = cu_node_pid(port);
    if (pid <= 0) fail_msg("no PID recorded by the harness for node %d", port);
    printf("'%s' and '%s' are subscribed on %d (pid %d); its replica is %d\n", channel, shard, port, pid, replica_port);

    fault.killed_port = port;
    long long t_kill = ps_unix_ms();
    if (kill(pid, SIGKILL) != 0) fail_msg("kill(%d, SIGKILL) failed", pid);
    if (cu_wait_role_master(replica_port, 60) < 0) fail_msg("replica %d was not promoted within 60 s", replica_port);
    cu_note_vote(port);
    cu_log("replica %d promoted", replica_port);
    wait_gap_ok(&in, shard, 1, 60, "GAP of the shard channel after the kill");
    wait_gap_ok(&in, channel, 1, 60, "GAP of the channel after the kill");
    char promoted[64];
    snprintf(promoted, sizeof promoted, "%s", cu_addr(replica_port));
    if (strcmp(gap_node(&in, shard, 1), promoted) != 0)
        fail_msg("the shard channel's GAP says live on '%s', expected the promoted %s", gap_node(&in, shard, 1), promoted);
    if (strcmp(gap_node(&in, channel, 1), cu_addr(port)) == 0)
        fail_msg("the channel's GAP says live on the killed node %d", port);
    ps_publish_and_expect_ok(&in, c, 0, RCM_SUB_SHARD, "SPUBLISH", shard, NULL, "after", 10, promoted);
    ps_publish_and_expect_ok(&in, c, 0, RCM_SUB_CHANNEL | PS_ANY_ORDER, "PUBLISH", channel, NULL, "after", 10, NULL);
    ps_assert_gaps_ok(&in, 0, shard, 1, t_kill, t_kill);
    ps_assert_gaps_ok(&in, 0, channel, 1, t_kill, t_kill);
    ps_assert_gap_events_ok(&events, shard, 1);
    ps_assert_gap_events_ok(&events, channel, 1);

    /* Restart the killed node (a replica of the promoted one), restore the layout: the
     * subscriptions still deliver. */
    int newpid = cu_node_restart(port);
    if (newpid <= 0) fail_msg("could not restart node %d", port);
    fault.killed_port = -1;
    cu_assert_healthy_ok(120);
    char why[256];
    if (cu_restore_layout(why, sizeof why) != 0) fail_msg("restoring the layout: %s", why);
    wait_numsub_ok(port, "SHARDNUMSUB", shard, 1, 60);
    wait_numsub_ok(replica_port, "SHARDNUMSUB", shard, 0, 30);
    wait_channel_home_ok(channel);
    size_t from = in.n;
    ps_publish_and_expect_ok(&in, c, from, RCM_SUB_SHARD, "SPUBLISH", shard, NULL, "restored", 10, NULL);
    ps_publish_and_expect_ok(&in, c, from, RCM_SUB_CHANNEL | PS_ANY_ORDER, "PUBLISH", channel, NULL, "restored", 10, NULL);
    ps_close(&in);
    rcm_client_close(c);
    tu_watchdog_disarm();
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pubsub__shard_channels_on_every_shard, cu_layout_fixture, teardown),
        cmocka_unit_test_setup_teardown(test_pubsub__keyspace_notifications_from_every_primary, cu_layout_fixture, teardown),
        cmocka_unit_test_setup_teardown(test_pubsub__slot_migration_moves_the_shard_subscription, cu_layout_fixture, teardown),
        cmocka_unit_test_setup_teardown(test_pubsub__manual_failover_moves_the_shard_subscription, cu_layout_fixture, teardown),
        cmocka_unit_test_setup_teardown(test_pubsub__primary_sigkill_resubscribes_on_the_promoted_replica, cu_layout_fixture,
                                        teardown),
    };
    return TU_RUN(tests, argc, argv);
}
