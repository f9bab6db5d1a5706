/* cluster.scripted: mode=cluster against fake_cluster.py, a scripted 3-primary cluster
 * (see the script's header), for what no real cluster does on request: a MOVED loop,
 * TRYAGAIN / LOADING / MASTERDOWN / CLUSTERDOWN for as long as a test wants, and one
 * node whose view of the slots is stale while the two others agree. The other cluster.*
 * tests cover routing, redirects and failover against the harness's real cluster.
 *
 * Everything checked about the fake comes from its control port (COUNT, DATA), never
 * from rcm, except the "moved" counters of rcm_client_stats_json. */
#include "cluster_util.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *kind, *reply;
} transient_replies[] = {
    {"TRYAGAIN", "TRYAGAIN Multiple keys request during rehashing of slot"},
    {"LOADING", "LOADING Valkey is loading the dataset in memory"},
    {"MASTERDOWN", "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'"},
    {"CLUSTERDOWN", "CLUSTERDOWN The cluster is down"},
};

static const char *transient_reply(const char *kind) {
    for (size_t i = 0; i < sizeof transient_replies / sizeof transient_replies[0]; i++)
        if (strcmp(transient_replies[i].kind, kind) == 0) return transient_replies[i].reply;
    fail_msg("no transient reply of kind %s", kind);
    return NULL;
}

static int group_setup(void **state) {
    (void)state;
    cu_fake_start_ok();
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    cu_fake_stop();
    return 0;
}

/* Every test starts from the true slot map, nothing scripted, counters at zero. */
static int setup(void **state) {
    (void)state;
    cu_fake_ctl_ok(NULL, 0, "RESET", NULL);
    return 0;
}

/* A client seeded with the three nodes, node first's address first, plus key/value
 * config pairs (NULL-terminated). mode is "cluster" unless the pairs say otherwise. */
static rcm_client *open_ok(int first, ...) {
    char seeds[128];
    snprintf(seeds, sizeof seeds, "127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d", cu_fake_port(first),
             cu_fake_port((first + 1) % CU_FAKE_NODES), cu_fake_port((first + 2) % CU_FAKE_NODES));
    rcm_config *cfg = rcm_config_new();
    TU_ASSERT_RC(rcm_config_set(cfg, "mode", "cluster"), RCM_OK);
    TU_ASSERT_RC(rcm_config_set(cfg, "seeds", seeds), RCM_OK);
    va_list ap;
    va_start(ap, first);
    const char *k;
    while ((k = va_arg(ap, const char *)) != NULL) {
        const char *v = va_arg(ap, const char *);
        if (rcm_config_set(cfg, k, v) != RCM_OK) fail_msg("config %s=%s: %s", k, v, rcm_last_error());
    }
    va_end(ap);
    rcm_client *c = NULL;
    rcm_status st = rcm_client_open(cfg, &c);
    rcm_config_free(cfg);
    if (st != RCM_OK)
        fail_msg("open against fake_cluster.py (%s): %s (%s)", seeds, rcm_status_name(st), rcm_last_error());
    return c;
}

/* The first key "<prefix><n>" whose slot fake node `node` owns, into buf; returns its
 * slot. Skips slot `avoid` (-1: none). */
static int key_on(int node, const char *prefix, int avoid, char *buf, size_t n) {
    for (int i = 0;; i++) {
        snprintf(buf, n, "%s%d", prefix, i);
        int slot = cu_key_slot(buf, strlen(buf));
        if (cu_fake_owner(slot) == node && slot != avoid) return slot;
    }
}

static void set_ok(rcm_client *c, const char *key, const char *value) {
    rcm_reply *r = NULL;
    rcm_status st = tu_cmd(c, &r, "SET", key, value, NULL);
    if (st != RCM_OK || !tu_is_status(r, "OK"))
        fail_msg("SET %s: %s, reply %s (%s)", key, rcm_status_name(st), tu_describe(r), rcm_last_error());
    rcm_reply_free(r);
}

static void get_ok(rcm_client *c, const char *key, const char *want) {
    rcm_reply *r = NULL;
    rcm_status st = tu_cmd(c, &r, "GET", key, NULL);
    if (st != RCM_OK || !tu_is_cstring(r, want))
        fail_msg("GET %s: %s, reply %s (%s); expected \"%s\"", key, rcm_status_name(st), tu_describe(r),
                 rcm_last_error(), want);
    rcm_reply_free(r);
}

/* The fake's own value of key: "$value" or "$nil". */
static void assert_data(const char *key, const char *want) {
    char buf[256];
    cu_fake_ctl_ok(buf, sizeof buf, "DATA", key, NULL);
    if (strcmp(buf, want) != 0) fail_msg("the fake holds %s = %s, expected %s", key, buf, want);
}

/* ---- MOVED loop ------------------------------------------------------------------------ */

/* Nodes 1 and 2 send each other MOVED for one slot forever. The command ends with
 * RCM_ERR_REDIRECT after max_redirects hops (max_redirects + 1 sends in all, alternating
 * between the two), naming the limit and the last MOVED, long before its 5 s deadline;
 * the client keeps serving the other slots, and the slot itself once the loop ends.
 * max_redirects NULL: the default, 5. */
static void moved_loop_ends(const char *max_redirects, int hops) {
    rcm_client *c = max_redirects
                        ? open_ok(0, "command_timeout_ms", "5000", "cluster.max_redirects", max_redirects, NULL)
                        : open_ok(0, "command_timeout_ms", "5000", NULL);
    char key[64], other[3][64];
    int slot = key_on(1, "loop:", -1, key, sizeof key);
    for (int i = 0; i < CU_FAKE_NODES; i++) key_on(i, "other:", slot, other[i], sizeof other[i]);
    char slot_s[16];
    snprintf(slot_s, sizeof slot_s, "%d", slot);
    cu_fake_ctl_ok(NULL, 0, "MOVEDLOOP", slot_s, NULL);
    long long moved_before = cu_stats_sum(c, "moved");
    cu_fake_ctl_ok(NULL, 0, "RESETCOUNTS", NULL);

    rcm_reply *r = NULL;
    double t0 = tu_now();
    rcm_status st = tu_cmd(c, &r, "GET", key, NULL);
    double took = tu_now() - t0;
    char msg[512];
    snprintf(msg, sizeof msg, "%s", rcm_last_error());
    fprintf(stderr, "GET in a MOVED loop (max_redirects %d): %s after %.3f s: %s\n", hops, rcm_status_name(st), took,
            msg);
    if (st != RCM_ERR_REDIRECT)
        fail_msg("GET in a MOVED loop: %s, reply %s (%s); expected RCM_ERR_REDIRECT", rcm_status_name(st),
                 tu_describe(r), msg);
    assert_null(r);
    char want[64], moved[64];
    snprintf(want, sizeof want, "cluster.max_redirects=%d", hops);
    snprintf(moved, sizeof moved, "MOVED %d 127.0.0.1:", slot);
    if (!strstr(msg, want) || !strstr(msg, moved))
        fail_msg("the RCM_ERR_REDIRECT message '%s' names neither '%s' nor '%s'", msg, want, moved);
    if (took > 1.0) fail_msg("the MOVED loop took %.3f s to end (deadline 5 s): it should end on the hop limit", took);
    long long sends[CU_FAKE_NODES];
    for (int i = 0; i < CU_FAKE_NODES; i++) sends[i] = cu_fake_count(i, "GET");
    if (sends[0] != 0 || sends[1] != (hops + 2) / 2 || sends[2] != (hops + 1) / 2)
        fail_msg("GETs received: node 0 %lld, owner 1 %lld, partner 2 %lld; expected 0, %d, %d (%d hops)", sends[0],
                 sends[1], sends[2], (hops + 2) / 2, (hops + 1) / 2, hops);
    long long moved_seen = cu_stats_sum(c, "moved") - moved_before;
    if (moved_seen != hops + 1) fail_msg("stats count %lld MOVED replies, expected %d", moved_seen, hops + 1);

    /* The loop is one slot's problem: every node still serves its other slots. */
    for (int i = 0; i < CU_FAKE_NODES; i++) {
        set_ok(c, other[i], "fine");
        get_ok(c, other[i], "fine");
    }
    cu_fake_ctl_ok(NULL, 0, "RESET", NULL);
    set_ok(c, key, "after");
    get_ok(c, key, "after");
    assert_data(key, "$after");
    rcm_client_close(c);
}

static void test_scripted__moved_loop_ends_after_default_max_redirects(void **state) {
    (void)state;
    moved_loop_ends(NULL, 5);
}

static void test_scripted__moved_loop_ends_after_configured_max_redirects(void **state) {
    (void)state;
    moved_loop_ends("2", 2);
}

/* ---- transient errors -------------------------------------------------------------------- */

/* The owner answers the next 3 commands with kind: INCR is retried (backoff 5 ms) and
 * then runs once, well within its deadline. */
static void transient_is_retried(const char *kind) {
    rcm_client *c = open_ok(0, "command_timeout_ms", "3000", "retry.backoff_ms", "5", "retry.backoff_max_ms", "20",
                            NULL);
    char key[64], prefix[32];
    snprintf(prefix, sizeof prefix, "tr:%s:", kind);
    key_on(2, prefix, -1, key, sizeof key);
    cu_fake_ctl_ok(NULL, 0, "RESETCOUNTS", NULL);
    cu_fake_ctl_ok(NULL, 0, "TRANSIENT", kind, "3", NULL);
    rcm_reply *r = NULL;
    double t0 = tu_now();
    rcm_status st = tu_cmd(c, &r, "INCR", key, NULL);
    double took = tu_now() - t0;
    fprintf(stderr, "INCR answered %s 3 times: %s after %.3f s\n", kind, rcm_status_name(st), took);
    if (st != RCM_OK || !tu_is_integer(r, 1))
        fail_msg("INCR answered %s 3 times: %s, reply %s after %.3f s (%s); expected :1 after retries", kind,
                 rcm_status_name(st), tu_describe(r), took, rcm_last_error());
    rcm_reply_free(r);
    if (took > 2.0) fail_msg("%s: INCR took %.3f s for 3 retries with retry.backoff_ms=5", kind, took);
    assert_data(key, "$1");
    long long incrs = cu_fake_count(2, "INCR");
    if (incrs != 4) fail_msg("%s: the owner received %lld INCRs, expected 4 (3 refused, 1 applied)", kind, incrs);
    for (int i = 0; i < 2; i++)
        if (cu_fake_count(i, "INCR") != 0) fail_msg("%s: node %d (not the owner) received an INCR", kind, i);
    rcm_client_close(c);
}

static void test_scripted__tryagain_is_retried(void **state) {
    (void)state;
    transient_is_retried("TRYAGAIN");
}

static void test_scripted__loading_is_retried(void **state) {
    (void)state;
    transient_is_retried("LOADING");
}

static void test_scripted__masterdown_is_retried(void **state) {
    (void)state;
    transient_is_retried("MASTERDOWN");
}

static void test_scripted__clusterdown_is_retried(void **state) {
    (void)state;
    transient_is_retried("CLUSTERDOWN");
}

/* The owner keeps answering kind for longer than the 600 ms deadline: INCR ends at the
 * deadline with `want`, its message naming the last reply and saying it did not run, and
 * nothing was applied. The client works again once the node does. */
static void transient_past_deadline(const char *kind, rcm_status want) {
    rcm_client *c = open_ok(0, "command_timeout_ms", "600", "retry.backoff_ms", "5", "retry.backoff_max_ms", "50",
                            NULL);
    char key[64], prefix[32];
    snprintf(prefix, sizeof prefix, "dl:%s:", kind);
    key_on(1, prefix, -1, key, sizeof key);
    cu_fake_ctl_ok(NULL, 0, "TRANSIENT", kind, "1000000", NULL);
    rcm_reply *r = NULL;
    double t0 = tu_now();
    rcm_status st = tu_cmd(c, &r, "INCR", key, NULL);
    double took = tu_now() - t0;
    char msg[512];
    snprintf(msg, sizeof msg, "%s", rcm_last_error());
    fprintf(stderr, "INCR answered %s past its deadline: %s after %.3f s: %s\n", kind, rcm_status_name(st), took, msg);
    if (st != want)
        fail_msg("INCR answered %s until past its deadline: %s, reply %s (%s); expected %s", kind, rcm_status_name(st),
                 tu_describe(r), msg, rcm_status_name(want));
    assert_null(r);
    if (!strstr(msg, transient_reply(kind)) || !strstr(msg, "did not run"))
        fail_msg("%s: the message '%s' does not name the last reply '%s' and say it did not run", kind, msg,
                 transient_reply(kind));
    if (took < 0.55 || took > 1.1) fail_msg("%s: INCR ended after %.3f s, its deadline was 600 ms", kind, took);
    long long incrs = cu_fake_count(1, "INCR");
    if (incrs < 3) fail_msg("%s: the owner received %lld INCRs in 600 ms: not retried", kind, incrs);
    assert_data(key, "$nil");
    cu_fake_ctl_ok(NULL, 0, "RESET", NULL);
    r = NULL;
    st = tu_cmd(c, &r, "INCR", key, NULL);
    if (st != RCM_OK || !tu_is_integer(r, 1))
        fail_msg("%s: INCR once the node recovered: %s, reply %s (%s)", kind, rcm_status_name(st), tu_describe(r),
                 rcm_last_error());
    rcm_reply_free(r);
    rcm_client_close(c);
}

static void test_scripted__tryagain_past_deadline_is_timeout(void **state) {
    (void)state;
    transient_past_deadline("TRYAGAIN", RCM_ERR_TIMEOUT);
}

static void test_scripted__loading_past_deadline_is_timeout(void **state) {
    (void)state;
    transient_past_deadline("LOADING", RCM_ERR_TIMEOUT);
}

static void test_scripted__masterdown_past_deadline_is_timeout(void **state) {
    (void)state;
    transient_past_deadline("MASTERDOWN", RCM_ERR_TIMEOUT);
}

static void test_scripted__clusterdown_past_deadline_is_clusterdown(void **state) {
    (void)state;
    transient_past_deadline("CLUSTERDOWN", RCM_ERR_CLUSTERDOWN);
}

/* Short backoffs (1..5 ms) over a 2 s deadline make hundreds of retries: the request
 * still retries until its deadline and ends RCM_ERR_TIMEOUT, not as a success carrying
 * the TRYAGAIN reply once some count of retries is used up. */
static void test_scripted__fast_retries_last_until_the_deadline(void **state) {
    (void)state;
    rcm_client *c = open_ok(0, "command_timeout_ms", "2000", "retry.backoff_ms", "1", "retry.backoff_max_ms", "5",
                            NULL);
    char key[64];
    key_on(0, "fast:", -1, key, sizeof key);
    cu_fake_ctl_ok(NULL, 0, "TRANSIENT", "TRYAGAIN", "1000000", NULL);
    rcm_reply *r = NULL;
    double t0 = tu_now();
    rcm_status st = tu_cmd(c, &r, "INCR", key, NULL);
    double took = tu_now() - t0;
    long long sends = cu_fake_count(0, "INCR");
    fprintf(stderr, "INCR answered TRYAGAIN with 1..5 ms backoff: %s after %.3f s, %lld sends\n", rcm_status_name(st),
            took, sends);
    if (st != RCM_ERR_TIMEOUT)
        fail_msg("INCR answered TRYAGAIN until past its 2 s deadline, backoff 1..5 ms: %s, reply %s after %.3f s and "
                 "%lld sends; expected RCM_ERR_TIMEOUT at the deadline",
                 rcm_status_name(st), tu_describe(r), took, sends);
    assert_null(r);
    if (took < 1.95 || took > 2.5) fail_msg("INCR ended after %.3f s, its deadline was 2 s", took);
    assert_data(key, "$nil");
    rcm_client_close(c);
}

/* ---- the view most nodes agree on -------------------------------------------------------- */

/* 10 SET + GET of keys of each node; each node must receive exactly its own 10 of each
 * (a SET sent elsewhere would be answered MOVED, and its GET then go right). */
static void assert_routed_to_owners(rcm_client *c, const char *prefix, int stale) {
    cu_fake_ctl_ok(NULL, 0, "RESETCOUNTS", NULL);
    for (int node = 0; node < CU_FAKE_NODES; node++) {
        for (int k = 0; k < 10; k++) {
            char p[48], key[64];
            snprintf(p, sizeof p, "%s%d:%d:", prefix, node, k);
            key_on(node, p, -1, key, sizeof key);
            set_ok(c, key, p);
            get_ok(c, key, p);
        }
    }
    for (int node = 0; node < CU_FAKE_NODES; node++) {
        long long sets = cu_fake_count(node, "SET"), gets = cu_fake_count(node, "GET");
        if (sets != 10 || gets != 10)
            fail_msg("with node %d's view stale: node %d received %lld SETs and %lld GETs, expected its own 10 of each",
                     stale, node, sets, gets);
    }
}

/* Node `stale` claims every slot, and is the first seed; the two others tell the truth.
 * The client takes the view two of three agree on: every key goes straight to its
 * owner (no MOVED), also after periodic refreshes, each of which asks all three. */
static void test_scripted__majority_view_wins_over_a_stale_node(void **state) {
    (void)state;
    for (int stale = 0; stale < CU_FAKE_NODES; stale++) {
        cu_fake_ctl_ok(NULL, 0, "RESET", NULL);
        char idx[8];
        snprintf(idx, sizeof idx, "%d", stale);
        cu_fake_ctl_ok(NULL, 0, "STALEVIEW", idx, NULL);
        rcm_client *c = open_ok(stale, "command_timeout_ms", "3000", "topology.refresh_ms", "250", NULL);
        long long opened_asks = 0;
        for (int i = 0; i < CU_FAKE_NODES; i++) opened_asks += cu_fake_count(i, "CLUSTER SHARDS");
        if (opened_asks < 2)
            fail_msg("opening asked %lld nodes for CLUSTER SHARDS: one node's view cannot be outvoted", opened_asks);
        assert_routed_to_owners(c, "mv:a", stale);

        /* Periodic rounds (topology.refresh_ms=250) over about a second. */
        cu_fake_ctl_ok(NULL, 0, "RESETCOUNTS", NULL);
        tu_sleep_ms(1100);
        long long asked[CU_FAKE_NODES];
        for (int i = 0; i < CU_FAKE_NODES; i++) asked[i] = cu_fake_count(i, "CLUSTER SHARDS");
        fprintf(stderr, "node %d stale: CLUSTER SHARDS over 1.1 s: %lld, %lld, %lld\n", stale, asked[0], asked[1],
                asked[2]);
        for (int i = 0; i < CU_FAKE_NODES; i++)
            if (asked[i] < 2)
                fail_msg("node %d was asked CLUSTER SHARDS %lld times in 1.1 s with topology.refresh_ms=250 (counts "
                         "%lld, %lld, %lld): each round should ask every primary",
                         i, asked[i], asked[0], asked[1], asked[2]);
        assert_routed_to_owners(c, "mv:b", stale);
        long long moved = cu_stats_sum(c, "moved");
        if (moved != 0) fail_msg("with node %d's view stale the client saw %lld MOVED replies", stale, moved);
        rcm_client_close(c);
    }
}

/* mode=auto with one seed finds a cluster (INFO says cluster_enabled:1, server_mode
 * cluster, and INFO raft is empty) and routes by slot. */
static void test_scripted__auto_mode_detects_the_cluster(void **state) {
    (void)state;
    char seed[32];
    snprintf(seed, sizeof seed, "127.0.0.1:%d", cu_fake_port(0));
    rcm_config *cfg = rcm_config_new();
    TU_ASSERT_RC(rcm_config_set(cfg, "mode", "auto"), RCM_OK);
    TU_ASSERT_RC(rcm_config_set(cfg, "seeds", seed), RCM_OK);
    rcm_client *c = NULL;
    rcm_status st = rcm_client_open(cfg, &c);
    rcm_config_free(cfg);
    if (st != RCM_OK) fail_msg("mode=auto against the fake: %s (%s)", rcm_status_name(st), rcm_last_error());
    char key[64];
    key_on(2, "auto:", -1, key, sizeof key);
    set_ok(c, key, "v");
    get_ok(c, key, "v");
    if (cu_fake_count(2, "GET") != 1) fail_msg("node 2 received %lld GETs, expected 1", cu_fake_count(2, "GET"));
    rcm_client_close(c);
}

/* ---- malformed topology replies ------------------------------------------------------ */

static long long refresh_asks(bool slots) {
    long long n = 0;
    for (int i = 0; i < CU_FAKE_NODES; i++) n += cu_fake_count(i, slots ? "CLUSTER SLOTS" : "CLUSTER SHARDS");
    return n;
}

/* F3 / item 11: a host that is no host name in CLUSTER SHARDS or SLOTS ("bad host",
 * "a]b"), on a primary or on a replica only. It was accepted when the map was read and
 * made parse_endpoint throw later, under a libevent callback: std::terminate inside
 * rcm_client_open. Now the node is left out: the client opens, the other nodes serve, a
 * key of a primary named so fails with a clear status, and the map keeps refreshing. */
static void bad_host_in_the_map(const char *host, int bad_primary, bool slots) {
    cu_fake_ctl_ok(NULL, 0, "RESET", NULL);
    if (slots) cu_fake_ctl_ok(NULL, 0, "NOSHARDS", "1", NULL);
    char idx[16];
    snprintf(idx, sizeof idx, "%d", bad_primary);
    if (bad_primary >= 0) cu_fake_ctl_ok(NULL, 0, "BADHOST", idx, host, NULL);
    else cu_fake_ctl_ok(NULL, 0, "BADREPLICA", host, NULL);
    printf("%s, '%s' on %s\n", slots ? "CLUSTER SLOTS" : "CLUSTER SHARDS", host,
           bad_primary >= 0 ? "a primary" : "a replica");
    rcm_client *c = open_ok(0, "command_timeout_ms", "500", "topology.refresh_ms", "300", NULL);
    char key[64], bad_key[64];
    key_on(bad_primary == 0 ? 1 : 0, "badhost:", -1, key, sizeof key);
    set_ok(c, key, "v");
    get_ok(c, key, "v");
    if (bad_primary >= 0) {
        key_on(bad_primary, "badhost:", -1, bad_key, sizeof bad_key);
        rcm_reply *r = NULL;
        rcm_status st = tu_cmd(c, &r, "GET", bad_key, NULL);
        printf("  GET on the primary named '%s': %s '%s'\n", host, rcm_status_name(st), rcm_last_error());
        if (st != RCM_ERR_CLUSTERDOWN && st != RCM_ERR_TIMEOUT)
            fail_msg("GET of a slot whose primary is named '%s': %s, reply %s", host, rcm_status_name(st),
                     tu_describe(r));
        rcm_reply_free(r);
    }
    /* A fan-out to every node routes by each node's address: the one left out is not
     * among them (this one ended in std::terminate, from Engine::route). */
    rcm_route all = {.kind = RCM_ROUTE_ALL_NODES};
    const char *ping[] = {"PING"};
    rcm_reply *r = NULL;
    rcm_status st = rcm_command_routed(c, &all, 1, ping, NULL, &r);
    size_t want = bad_primary >= 0 ? CU_FAKE_NODES - 1 : CU_FAKE_NODES;
    if (st != RCM_OK || rcm_reply_type(r) != RCM_REPLY_ARRAY || rcm_reply_length(r) != want)
        fail_msg("PING on all nodes: %s, reply %s (%s); expected %zu nodes", rcm_status_name(st), tu_describe(r),
                 rcm_last_error(), want);
    rcm_reply_free(r);
    cu_fake_ctl_ok(NULL, 0, "RESETCOUNTS", NULL);
    tu_sleep_ms(1500);
    long long asked = refresh_asks(slots);
    printf("  %lld topology requests in 1.5 s with topology.refresh_ms=300\n", asked);
    if (asked < 2) fail_msg("the map stopped refreshing: %lld requests in 1.5 s", asked);
    get_ok(c, key, "v");
    rcm_client_close(c);
}

static void test_scripted__bad_host_in_cluster_shards_is_left_out(void **state) {
    (void)state;
    bad_host_in_the_map("bad host", -1, false);
    bad_host_in_the_map("a]b", -1, false);
    bad_host_in_the_map("bad host", 2, false);
    bad_host_in_the_map("a]b", 1, false);
}

static void test_scripted__bad_host_in_cluster_slots_is_left_out(void **state) {
    (void)state;
    bad_host_in_the_map("bad host", -1, true);
    bad_host_in_the_map("a]b", -1, true);
    bad_host_in_the_map("bad host", 2, true);
    bad_host_in_the_map("a]b", 1, true);
}

/* Item 18: topology.refresh_ms above ~238 M overflowed `period * 9 / 10` into a negative
 * wait: refresh rounds back to back, hundreds a second. */
static void test_scripted__huge_refresh_period_waits(void **state) {
    (void)state;
    rcm_client *c = open_ok(0, "topology.refresh_ms", "300000000", NULL);
    tu_sleep_ms(300); /* the opening round is over */
    cu_fake_ctl_ok(NULL, 0, "RESETCOUNTS", NULL);
    tu_sleep_ms(1000);
    long long asked = refresh_asks(false);
    printf("%lld CLUSTER SHARDS in 1 s with topology.refresh_ms=300000000\n", asked);
    if (asked > 6) fail_msg("%lld CLUSTER SHARDS in 1 s: the periodic refresh does not wait", asked);
    rcm_client_close(c);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_scripted__auto_mode_detects_the_cluster, setup),
        cmocka_unit_test_setup(test_scripted__moved_loop_ends_after_default_max_redirects, setup),
        cmocka_unit_test_setup(test_scripted__moved_loop_ends_after_configured_max_redirects, setup),
        cmocka_unit_test_setup(test_scripted__tryagain_is_retried, setup),
        cmocka_unit_test_setup(test_scripted__loading_is_retried, setup),
        cmocka_unit_test_setup(test_scripted__masterdown_is_retried, setup),
        cmocka_unit_test_setup(test_scripted__clusterdown_is_retried, setup),
        cmocka_unit_test_setup(test_scripted__tryagain_past_deadline_is_timeout, setup),
        cmocka_unit_test_setup(test_scripted__loading_past_deadline_is_timeout, setup),
        cmocka_unit_test_setup(test_scripted__masterdown_past_deadline_is_timeout, setup),
        cmocka_unit_test_setup(test_scripted__clusterdown_past_deadline_is_clusterdown, setup),
        cmocka_unit_test_setup(test_scripted__fast_retries_last_until_the_deadline, setup),
        cmocka_unit_test_setup(test_scripted__majority_view_wins_over_a_stale_node, setup),
        cmocka_unit_test_setup(test_scripted__bad_host_in_cluster_shards_is_left_out, setup),
        cmocka_unit_test_setup(test_scripted__bad_host_in_cluster_slots_is_left_out, setup),
        cmocka_unit_test_setup(test_scripted__huge_refresh_period_waits, setup),
    };
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
