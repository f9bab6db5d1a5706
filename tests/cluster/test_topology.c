/* cluster.topology: rcm_client_topology_json and rcm_client_stats_json describe the
 * cluster the servers describe (CLUSTER NODES read with valkey-cli): 6 nodes with
 * their roles, slot ranges covering 16384 slots once each, and per-node statistics with
 * moved/ask counters. mode=auto on a cluster node is cluster mode. */
#define _GNU_SOURCE
#include "cluster_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char topology_text[16384]; /* the last topology JSON, for failure messages */

static cj *topology_of(rcm_client *c) {
    char *json = NULL;
    TU_ASSERT_RC(rcm_client_topology_json(c, &json), RCM_OK);
    assert_non_null(json);
    snprintf(topology_text, sizeof topology_text, "%s", json);
    cj *t = cj_parse(json);
    if (!t) fail_msg("topology JSON does not parse: %s", json);
    rcm_free(json);
    return t;
}

static cj *stats_of(rcm_client *c) {
    char *json = NULL;
    TU_ASSERT_RC(rcm_client_stats_json(c, &json), RCM_OK);
    assert_non_null(json);
    cj *s = cj_parse(json);
    if (!s) fail_msg("stats JSON does not parse: %s", json);
    rcm_free(json);
    return s;
}

/* Checks topology JSON t against the servers' own view. */
static void check_topology(const cj *t) {
    cu_cluster cl;
    assert_int_equal(cu_cluster_read(cu_port(0), &cl), 0);
    assert_int_equal(cl.n, CU_NODES);

    const char *mode = cj_str(cj_get(t, "mode"));
    if (!mode || strcmp(mode, "cluster") != 0) fail_msg("topology mode is '%s', not 'cluster'", mode ? mode : "(none)");

    const cj *nodes = cj_get(t, "nodes");
    assert_non_null(nodes);
    if (nodes->kind != CJ_ARR || nodes->n != CU_NODES)
        fail_msg("topology lists %zu nodes, expected %d: %s", nodes->n, CU_NODES, topology_text);
    int seen[CU_NODES] = {0}, primaries = 0, replicas = 0;
    for (size_t i = 0; i < nodes->n; i++) {
        const cj *n = cj_at(nodes, i);
        const char *addr = cj_str(cj_get(n, "address"));
        const char *role = cj_str(cj_get(n, "role"));
        const char *id = cj_str(cj_get(n, "id"));
        if (!addr || !role) fail_msg("node %zu has no address or role", i);
        int port = -1;
        if (strncmp(addr, "127.0.0.1:", 10) == 0) port = atoi(addr + 10);
        int k = port - cu_port(0);
        if (k < 0 || k >= CU_NODES) fail_msg("node address %s is not one of the cluster's", addr);
        if (seen[k]++) fail_msg("node %s is listed twice", addr);
        int idx = cu_node_index(&cl, port);
        assert_true(idx >= 0);
        const char *want = cl.nodes[idx].primary ? "primary" : "replica";
        if (strcmp(role, want) != 0) fail_msg("node %s: role '%s', the server says %s", addr, role, want);
        if (id && strcmp(id, cl.nodes[idx].id) != 0) fail_msg("node %s: id %s, the server says %s", addr, id, cl.nodes[idx].id);
        if (strcmp(role, "primary") == 0) primaries++;
        else replicas++;
    }
    assert_int_equal(primaries, 3);
    assert_int_equal(replicas, 3);

    const cj *covered = cj_get(t, "covered_slots");
    if (covered && cj_num(covered, -1) != CU_SLOTS) fail_msg("covered_slots is %g", cj_num(covered, -1));

    /* Shards: slot ranges cover every slot exactly once, each by the server-side owner,
     * with the server-side replica. */
    const cj *shards = cj_get(t, "shards");
    assert_non_null(shards);
    if (shards->kind != CJ_ARR || shards->n != CU_PRIMARIES)
        fail_msg("topology has %zu shards, expected 3: %s", shards->n, topology_text);
    static unsigned char owner_seen[CU_SLOTS];
    memset(owner_seen, 0, sizeof owner_seen);
    for (size_t i = 0; i < shards->n; i++) {
        const cj *s = cj_at(shards, i);
        const char *primary = cj_str(cj_get(s, "primary"));
        assert_non_null(primary);
        int pport = atoi(strrchr(primary, ':') + 1);
        int pidx = cu_node_index(&cl, pport);
        if (pidx < 0 || !cl.nodes[pidx].primary) fail_msg("shard primary %s is not a primary on the server", primary);
        const cj *reps = cj_get(s, "replicas");
        int ridx = cu_replica_index(&cl, pidx);
        if (!reps || reps->n != 1) fail_msg("shard %s lists %zu replicas, expected 1", primary, reps ? reps->n : 0);
        const char *rep = cj_str(cj_at(reps, 0));
        if (!rep || ridx < 0 || strcmp(rep, cu_addr(cl.nodes[ridx].port)) != 0)
            fail_msg("shard %s: replica %s, the server says %s", primary, rep ? rep : "(none)",
                     ridx >= 0 ? cu_addr(cl.nodes[ridx].port) : "(none)");
        const cj *ranges = cj_get(s, "slots");
        assert_non_null(ranges);
        for (size_t r = 0; r < ranges->n; r++) {
            const cj *range = cj_at(ranges, r);
            int a = (int)cj_num(cj_at(range, 0), -1), b = (int)cj_num(cj_at(range, 1), -1);
            if (a < 0 || b < a || b >= CU_SLOTS) fail_msg("shard %s: bad slot range [%d, %d]", primary, a, b);
            for (int slot = a; slot <= b; slot++) {
                if (owner_seen[slot]++) fail_msg("slot %d is in two ranges", slot);
                if (cu_owner_port(&cl, slot) != pport)
                    fail_msg("slot %d: topology says %s, the server says port %d", slot, primary, cu_owner_port(&cl, slot));
            }
        }
    }
    for (int slot = 0; slot < CU_SLOTS; slot++)
        if (!owner_seen[slot]) fail_msg("slot %d is in no shard's ranges", slot);
}

/* read_from=replica: reads right after rcm_client_open succeed (they wait, within their
 * deadline, for the replica connections that are still being made), on the replicas.
 * This runs first in the suite, on the fresh cluster the harness just created: nothing
 * has been written yet, the primaries send no replication PING (the harness sets
 * repl-ping-replica-period to an hour), so CLUSTER SHARDS reports the replicas with
 * health "loading" (replication offset 0) although they are in sync and serve reads. */
static void test_topology__replica_reads_on_a_fresh_cluster(void **state) {
    (void)state;
    cu_assert_healthy_ok(60);
    char *out = cu_cli(cu_port(0), "CLUSTER SHARDS");
    assert_non_null(out);
    int loading = 0;
    for (char *p = out; (p = strstr(p, "\nloading")) != NULL; p++) loading++;
    free(out);
    printf("replicas reported as loading by CLUSTER SHARDS: %d\n", loading);
    if (loading == 0)
        fail_msg("CLUSTER SHARDS reports no replica 'loading': the cluster is not fresh (written to, or pinged: "
                 "run cluster.topology first, on a cluster the harness has just made)");
    assert_int_equal(cu_reset_stats_all(), 0);
    /* 5 s: the map a node gives right after the cluster formed may not name every replica
     * yet (gossip); a read waits for one, asking again, within its deadline. */
    rcm_client *c = cu_open_ok("read_from", "replica", "command_timeout_ms", "5000", NULL);
    for (int i = 0; i < 30; i++) {
        char key[32];
        snprintf(key, sizeof key, "fresh:%d", i);
        rcm_reply *r = NULL;
        rcm_status st = tu_cmd(c, &r, "GET", key, NULL);
        if (st != RCM_OK || rcm_reply_type(r) != RCM_REPLY_NIL)
            fail_msg("read_from=replica, GET %s right after open (CLUSTER SHARDS called %d replica(s) 'loading'): "
                     "%s %s '%s'",
                     key, loading, rcm_status_name(st), tu_describe(r), st != RCM_OK ? rcm_last_error() : "");
        rcm_reply_free(r);
    }
    rcm_client_close(c);
    /* Served by the replicas, not by primaries standing in for 'unhealthy' ones. */
    cu_cluster cl;
    assert_int_equal(cu_cluster_read(cu_port(0), &cl), 0);
    long long on_replicas = 0, on_primaries = 0;
    for (int i = 0; i < cl.n; i++) {
        long long calls = cu_cmdstat_of(cl.nodes[i].port, "get").calls;
        if (cl.nodes[i].primary) on_primaries += calls;
        else on_replicas += calls;
    }
    printf("GETs: %lld on replicas, %lld on primaries\n", on_replicas, on_primaries);
    if (on_replicas != 30 || on_primaries != 0)
        fail_msg("read_from=replica with the replicas 'loading': %lld GETs on replicas, %lld on primaries (of 30)",
                 on_replicas, on_primaries);
}

/* Every node and each shard's replica are listed (what a fresh cluster's gossip may not
 * have told every node yet when the client asks). */
static int topology_complete(const cj *t) {
    const cj *nodes = cj_get(t, "nodes"), *shards = cj_get(t, "shards");
    if (!nodes || !shards || nodes->n != CU_NODES || shards->n != CU_PRIMARIES) return 0;
    for (size_t i = 0; i < shards->n; i++) {
        const cj *reps = cj_get(cj_at(shards, i), "replicas");
        if (!reps || reps->n != 1) return 0;
    }
    return 1;
}

static void test_topology__json_matches_the_servers(void **state) {
    (void)state;
    cu_assert_healthy_ok(60);
    /* On the cluster the harness has just made, a node may not list a replica yet (the
     * replication roles travel by gossip): the client's view must converge on the
     * servers' own within its refreshes, and then match it in every detail. */
    rcm_client *c = cu_open_ok("topology.refresh_ms", "200", NULL);
    cj *t = topology_of(c);
    for (double until = tu_now() + 20; !topology_complete(t) && tu_now() < until;) {
        cj_free(t);
        tu_sleep_ms(200);
        t = topology_of(c);
    }
    check_topology(t);
    cj_free(t);
    rcm_client_close(c);
}

static void test_topology__stats_have_per_node_entries(void **state) {
    (void)state;
    cu_cluster cl;
    assert_int_equal(cu_cluster_read(cu_port(0), &cl), 0);
    rcm_client *c = cu_open_ok(NULL);
    /* Traffic to every primary. */
    int prim[3];
    assert_int_equal(cu_primaries(&cl, prim, 3), 3);
    int n = 0;
    for (int p = 0; p < 3; p++) {
        for (int k = 0; k < 20; k++) {
            char key[64];
            cu_key_on(&cl, cl.nodes[prim[p]].port, "topostats:", &n, key, sizeof key);
            rcm_reply *r = tu_cmd_ok(c, "SET", key, "x", NULL);
            TU_ASSERT_STATUS_REPLY(r, "OK");
            rcm_reply_free(r);
        }
    }
    cj *s = stats_of(c);
    const char *mode = cj_str(cj_get(s, "mode"));
    if (!mode || strcmp(mode, "cluster") != 0) fail_msg("stats mode '%s'", mode ? mode : "(none)");
    double refreshes = cj_num(cj_get(s, "topology_refreshes"), -1);
    if (refreshes < 1) fail_msg("topology_refreshes is %g, expected >= 1", refreshes);
    const cj *servers = cj_get(s, "servers");
    if (!servers || servers->kind != CJ_ARR) fail_msg("stats have no servers array");
    for (int p = 0; p < 3; p++) {
        const char *want = cu_addr(cl.nodes[prim[p]].port);
        const cj *entry = NULL;
        for (size_t i = 0; i < servers->n; i++) {
            const char *addr = cj_str(cj_get(cj_at(servers, i), "address"));
            const char *role = cj_str(cj_get(cj_at(servers, i), "role"));
            if (addr && strcmp(addr, want) == 0 && (!role || strcmp(role, "replica") != 0)) entry = cj_at(servers, i);
        }
        if (!entry) fail_msg("stats have no entry for primary %s", want);
        const char *counters[] = {"moved", "ask", "requests", "replies", "retries", "reconnects"};
        for (size_t k = 0; k < sizeof counters / sizeof *counters; k++)
            if (cj_num(cj_get(entry, counters[k]), -1) < 0)
                fail_msg("stats entry of %s has no numeric '%s'", want, counters[k]);
        if (cj_num(cj_get(entry, "requests"), 0) < 20)
            fail_msg("stats entry of %s counts %g requests, expected >= 20", want, cj_num(cj_get(entry, "requests"), 0));
        if (cj_num(cj_get(entry, "moved"), -1) != 0) fail_msg("%s: moved %g in a stable cluster", want, cj_num(cj_get(entry, "moved"), -1));
        if (!cj_get(entry, "errors") || cj_get(entry, "errors")->kind != CJ_OBJ) fail_msg("%s: no errors object", want);
    }
    cj_free(s);
    rcm_client_close(c);
}

static void test_topology__mode_auto_recognises_a_cluster_node(void **state) {
    (void)state;
    rcm_config *cfg = rcm_config_new();
    char url[128];
    snprintf(url, sizeof url, "redis://:%s@127.0.0.1:%d", CU_PASSWORD, cu_port(4));
    TU_ASSERT_RC(rcm_config_from_url(cfg, url), RCM_OK);
    TU_ASSERT_RC(rcm_config_set(cfg, "mode", "auto"), RCM_OK);
    rcm_client *c = NULL;
    rcm_status st = rcm_client_open(cfg, &c);
    rcm_config_free(cfg);
    if (st != RCM_OK) fail_msg("open %s with mode=auto: %s '%s'", url, rcm_status_name(st), rcm_last_error());
    cj *t = topology_of(c);
    check_topology(t);
    cj_free(t);
    /* Keys on all three primaries work (no MOVED reaches the caller). */
    for (int i = 0; i < 60; i++) {
        char key[32], val[32];
        snprintf(key, sizeof key, "auto:%d", i);
        snprintf(val, sizeof val, "v%d", i);
        rcm_reply *r = tu_cmd_ok(c, "SET", key, val, NULL);
        TU_ASSERT_STATUS_REPLY(r, "OK");
        rcm_reply_free(r);
        r = tu_cmd_ok(c, "GET", key, NULL);
        TU_ASSERT_CSTRING_REPLY(r, val);
        rcm_reply_free(r);
    }
    rcm_client_close(c);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topology__replica_reads_on_a_fresh_cluster),
        cmocka_unit_test(test_topology__json_matches_the_servers),
        cmocka_unit_test(test_topology__stats_have_per_node_entries),
        cmocka_unit_test(test_topology__mode_auto_recognises_a_cluster_node),
    };
    return TU_RUN(tests, argc, argv);
}
