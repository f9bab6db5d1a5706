/* cluster.tls: a 3-primary cluster with tls-cluster yes (tests/harness/tls_servers.sh,
 * fixture tls_cluster). Its nodes listen on a plain port and a TLS port, and announce
 * both (CLUSTER SHARDS lists "port" and "tls-port"), as a cluster being moved to TLS
 * does: an rediss+cluster:// client must route to every primary over TLS, follow a MOVED
 * (whose address the node gives as its TLS port to a TLS client), and refuse a node whose
 * certificate it cannot verify, at open. Every check of where data landed asks the
 * nodes themselves (valkey-cli over TLS). */
#define _GNU_SOURCE
#include "tls_util.h"
#include "cluster_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct tt_node {
    int tls_port;
    char id[48];
    int ranges[16][2]; /* the slot ranges it serves, from its own CLUSTER NODES line */
    int nranges;
} tt_node;

static tt_node nodes[TT_CLUSTER_NODES];
static char seed_url[128];

/* Each node's id and slots, as that node itself says ("myself" line). */
static void read_nodes_ok(void) {
    for (int i = 0; i < TT_CLUSTER_NODES; i++) {
        tt_node *n = &nodes[i];
        memset(n, 0, sizeof *n);
        n->tls_port = tu_port(TT_CLUSTER_TLS + i);
        char *out = tt_cli(n->tls_port, "CLUSTER NODES");
        if (!out) fail_msg("CLUSTER NODES on %d failed", n->tls_port);
        char *save = NULL;
        for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            if (!strstr(line, "myself")) continue;
            char *fsave = NULL;
            int field = 0;
            for (char *f = strtok_r(line, " ", &fsave); f; f = strtok_r(NULL, " ", &fsave), field++) {
                if (field == 0) snprintf(n->id, sizeof n->id, "%s", f);
                if (field < 8 || f[0] == '[' || n->nranges == 16) continue;
                int a = 0, b = 0;
                if (sscanf(f, "%d-%d", &a, &b) == 2 || (sscanf(f, "%d", &a) == 1 && (b = a, 1))) {
                    n->ranges[n->nranges][0] = a;
                    n->ranges[n->nranges][1] = b;
                    n->nranges++;
                }
            }
        }
        free(out);
        if (!n->id[0] || n->nranges == 0) fail_msg("node %d: no id or no slots in its CLUSTER NODES", n->tls_port);
    }
}

static int owner_of(int slot) {
    for (int i = 0; i < TT_CLUSTER_NODES; i++)
        for (int r = 0; r < nodes[i].nranges; r++)
            if (slot >= nodes[i].ranges[r][0] && slot <= nodes[i].ranges[r][1]) return i;
    return -1;
}

/* The first "<prefix><n>" whose slot node i owns. */
static int key_on(int i, const char *prefix, char *buf, size_t len) {
    for (int n = 0; n < 100000; n++) {
        snprintf(buf, len, "%s%d", prefix, n);
        int slot = cu_key_slot(buf, strlen(buf));
        if (owner_of(slot) == i) return slot;
    }
    fail_msg("no key of prefix %s on node %d", prefix, nodes[i].tls_port);
    return -1;
}

static void expect_value_on(int i, const char *key, const char *value) {
    char *out = tt_cli(nodes[i].tls_port, "GET '%s'", key);
    if (!out || strncmp(out, value, strlen(value)) != 0)
        fail_msg("GET %s on node %d: '%s', expected '%s'", key, nodes[i].tls_port, out ? out : "(cli failed)", value);
    free(out);
}

static rcm_client *open_cluster_ok(void) {
    /* No periodic refresh while a test moves a slot: its MOVED must come from the node. */
    return tt_open_ok(seed_url, "connect_timeout_ms", "3000", "command_timeout_ms", "5000", "tls.ca",
                      tt_cert("ca.crt"), "topology.refresh_ms", "60000", NULL);
}

static int setup(void **state) {
    (void)state;
    snprintf(seed_url, sizeof seed_url, "rediss+cluster://127.0.0.1:%d", tu_port(TT_CLUSTER_TLS));
    read_nodes_ok();
    return 0;
}

static void test_tls_cluster__commands_reach_every_primary_over_tls(void **state) {
    (void)state;
    rcm_client *c = open_cluster_ok();
    char keys[TT_CLUSTER_NODES][32];
    for (int i = 0; i < TT_CLUSTER_NODES; i++) {
        key_on(i, "tls-route:", keys[i], sizeof keys[i]);
        char value[32];
        snprintf(value, sizeof value, "on-%d", nodes[i].tls_port);
        tt_set_get_ok(c, keys[i], value);
        expect_value_on(i, keys[i], value);
    }
    /* each went to its owner at once, which a wrong address for a node would not allow */
    long long moved = cu_stats_sum(c, "moved");
    if (moved != 0) fail_msg("%lld MOVED while the map was right", moved);
    rcm_client_close(c);
}

/* CLUSTER SETSLOT <slot> NODE <to> on every node, the new owner first, and that one
 * IMPORTING from the old owner before: taking an importing slot bumps its config epoch
 * above every other node's, so that no UPDATE from the old owner takes it back (see
 * cu_setslot_node_everywhere and cluster.slot_moves). */
static void setslot_everywhere_ok(int slot, int from, int to) {
    char *imp = tt_cli(nodes[to].tls_port, "CLUSTER SETSLOT %d IMPORTING %s", slot, nodes[from].id);
    /* "already the owner": a restore after a move that stopped half-way */
    if (!imp || (strncmp(imp, "OK", 2) != 0 && !strstr(imp, "already the owner")))
        fail_msg("CLUSTER SETSLOT %d IMPORTING %s on %d: '%s'", slot, nodes[from].id, nodes[to].tls_port,
                 imp ? imp : "(cli failed)");
    free(imp);
    int order[TT_CLUSTER_NODES] = {to, (to + 1) % TT_CLUSTER_NODES, (to + 2) % TT_CLUSTER_NODES};
    for (int k = 0; k < TT_CLUSTER_NODES; k++) {
        char *out = tt_cli(nodes[order[k]].tls_port, "CLUSTER SETSLOT %d NODE %s", slot, nodes[to].id);
        if (!out || strncmp(out, "OK", 2) != 0)
            fail_msg("CLUSTER SETSLOT %d NODE %s on %d: '%s'", slot, nodes[to].id, nodes[order[k]].tls_port,
                     out ? out : "(cli failed)");
        free(out);
    }
}

/* Until every other node answers a command for key with MOVED to the TLS port of to. */
static void wait_moved_everywhere_ok(const char *key, int slot, int to) {
    char want[64];
    snprintf(want, sizeof want, "MOVED %d 127.0.0.1:%d", slot, nodes[to].tls_port);
    double until = tu_now() + 30;
    for (;;) {
        int agreed = 1;
        char last[256] = "";
        for (int i = 0; i < TT_CLUSTER_NODES; i++) {
            if (i == to) continue;
            char *out = tt_cli(nodes[i].tls_port, "GET '%s'", key);
            if (!out || strncmp(out, want, strlen(want)) != 0) {
                agreed = 0;
                snprintf(last, sizeof last, "node %d: '%s'", nodes[i].tls_port, out ? out : "(cli failed)");
            }
            free(out);
        }
        if (agreed) return;
        if (tu_now() > until) fail_msg("the nodes do not send %s to '%s': %s", key, want, last);
        tu_sleep_ms(100);
    }
}

static int moved_slot = -1, moved_from = -1, moved_to = -1;
static char moved_key[32];

/* Puts the slot back where the harness put it, also after a failure. */
static int restore_slot(void **state) {
    (void)state;
    if (moved_slot < 0) return 0;
    for (int i = 0; i < TT_CLUSTER_NODES; i++) free(tt_cli(nodes[i].tls_port, "DEL '%s'", moved_key));
    setslot_everywhere_ok(moved_slot, moved_to, moved_from);
    wait_moved_everywhere_ok(moved_key, moved_slot, moved_from);
    moved_slot = -1;
    return 0;
}

static void test_tls_cluster__moved_followed_over_tls(void **state) {
    (void)state;
    rcm_client *c = open_cluster_ok();
    int from = 0, to = 1;
    int slot = key_on(from, "tls-moved:", moved_key, sizeof moved_key);
    free(tt_cli(nodes[from].tls_port, "DEL '%s'", moved_key)); /* SETSLOT NODE needs the slot empty */
    tt_set_get_ok(c, "{tls-moved:warm}", "x"); /* the map is loaded before the slot moves */
    moved_slot = slot;
    moved_from = from;
    moved_to = to;
    setslot_everywhere_ok(slot, from, to);
    wait_moved_everywhere_ok(moved_key, slot, to);

    long long moved_before = cu_stats_sum(c, "moved");
    tt_set_get_ok(c, moved_key, "followed");
    long long moved_after = cu_stats_sum(c, "moved");
    printf("MOVED followed: %lld\n", moved_after - moved_before);
    if (moved_after <= moved_before) fail_msg("no MOVED was followed (the client learned of the move otherwise)");
    expect_value_on(to, moved_key, "followed");
    rcm_client_close(c);
}

static void test_tls_cluster__unverified_certificate_refused_at_open(void **state) {
    (void)state;
    char url[160];
    snprintf(url, sizeof url, "rediss+cluster://:%s@127.0.0.1:%d", TT_SECRET, tu_port(TT_CLUSTER_TLS));
    rcm_client *c = NULL;
    tu_watchdog_arm(30, "a cluster open refused for its certificate");
    rcm_status st = tt_open(&c, url, "connect_timeout_ms", "3000", "tls.ca", tt_cert("other-ca.crt"), NULL);
    tu_watchdog_disarm();
    if (st != RCM_ERR_TLS) fail_msg("expected RCM_ERR_TLS, got %s '%s'", rcm_status_name(st), rcm_last_error());
    tt_assert_error_names("certificate verify failed");
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_cluster__commands_reach_every_primary_over_tls),
        cmocka_unit_test_teardown(test_tls_cluster__moved_followed_over_tls, restore_slot),
        cmocka_unit_test(test_tls_cluster__unverified_certificate_refused_at_open),
    };
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, setup, NULL);
}
