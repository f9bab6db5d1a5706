/* cluster.routes: rcm_command_routed sends a command where the route says. Each node
 * identifies itself with CLUSTER MYID, compared with CLUSTER NODES read by valkey-cli:
 * SLOT and KEY reach the slot's primary, NODE the named node (a replica says "slave" to
 * ROLE), ALL_PRIMARIES and ALL_NODES return [address, reply] pairs for 3 and 6 nodes,
 * RANDOM reaches one primary; bad routes are RCM_ERR_ARG. */
#define _GNU_SOURCE
#include "cluster_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cu_cluster cl;

static const char *id_of_port(int port) {
    int i = cu_node_index(&cl, port);
    return i >= 0 ? cl.nodes[i].id : "(no such node)";
}

/* CLUSTER MYID through a route; asserts RCM_OK and a string reply; returns it (static). */
static const char *myid(rcm_client *c, const rcm_route *route) {
    static char id[64];
    rcm_reply *r = NULL;
    rcm_status st = cu_routed(c, route, &r, "CLUSTER", "MYID", NULL);
    if (st != RCM_OK) fail_msg("routed CLUSTER MYID (kind %d): %s '%s'", route->kind, rcm_status_name(st), rcm_last_error());
    const char *s = cu_str(r);
    if (!s) fail_msg("routed CLUSTER MYID (kind %d): %s", route->kind, tu_describe(r));
    snprintf(id, sizeof id, "%s", s ? s : "");
    rcm_reply_free(r);
    return id;
}

/* Checks a per-node reply: an array of [address, CLUSTER MYID] pairs for exactly ports. */
static void check_pairs(const rcm_reply *r, const int *ports, int n) {
    if (rcm_reply_type(r) != RCM_REPLY_ARRAY || rcm_reply_length(r) != (size_t)n)
        fail_msg("expected an array of %d [address, reply] pairs, got %s", n, tu_describe(r));
    int seen[16] = {0};
    for (size_t i = 0; i < rcm_reply_length(r); i++) {
        const rcm_reply *pair = rcm_reply_element(r, i);
        if (rcm_reply_type(pair) != RCM_REPLY_ARRAY || rcm_reply_length(pair) != 2)
            fail_msg("element %zu is %s, not an [address, reply] pair", i, tu_describe(pair));
        const char *addr = cu_str(rcm_reply_element(pair, 0));
        if (!addr) fail_msg("element %zu: address is %s", i, tu_describe(rcm_reply_element(pair, 0)));
        char a[64];
        snprintf(a, sizeof a, "%s", addr ? addr : "");
        int k;
        for (k = 0; k < n; k++)
            if (strcmp(a, cu_addr(ports[k])) == 0) break;
        if (k == n) fail_msg("element %zu names %s, not one of the expected nodes", i, a);
        if (seen[k]++) fail_msg("%s appears twice", a);
        const char *id = cu_str(rcm_reply_element(pair, 1));
        if (!id || strcmp(id, id_of_port(ports[k])) != 0)
            fail_msg("%s answered CLUSTER MYID %s; its id is %s", a, id ? id : tu_describe(rcm_reply_element(pair, 1)),
                     id_of_port(ports[k]));
    }
}

static void test_routes__slot_and_key_reach_the_owner(void **state) {
    (void)state;
    assert_int_equal(cu_cluster_read(cu_port(0), &cl), 0);
    rcm_client *c = cu_open_ok(NULL);
    int slots[] = {0, 1, 5460, 5461, 8000, 10922, 10923, 12345, 16383};
    for (size_t i = 0; i < sizeof slots / sizeof *slots; i++) {
        rcm_route route = {RCM_ROUTE_SLOT, slots[i], NULL, 0, NULL};
        const char *id = myid(c, &route);
        const char *want = id_of_port(cu_owner_port(&cl, slots[i]));
        if (strcmp(id, want) != 0) fail_msg("ROUTE_SLOT %d reached %s, the owner is %s", slots[i], id, want);
    }
    for (int i = 0; i < 30; i++) {
        char key[32];
        snprintf(key, sizeof key, "routekey:%d", i);
        rcm_route route = {RCM_ROUTE_KEY, 0, key, strlen(key), NULL};
        const char *id = myid(c, &route);
        const char *want = id_of_port(cu_owner_port(&cl, cu_key_slot(key, strlen(key))));
        if (strcmp(id, want) != 0) fail_msg("ROUTE_KEY %s reached %s, the owner is %s", key, id, want);
    }
    /* A key route carries a keyed command too. */
    rcm_reply *r = tu_cmd_ok(c, "SET", "routekey:value", "here", NULL);
    rcm_reply_free(r);
    rcm_route route = {RCM_ROUTE_KEY, 0, "routekey:value", 14, NULL};
    TU_ASSERT_RC(cu_routed(c, &route, &r, "GET", "routekey:value", NULL), RCM_OK);
    TU_ASSERT_CSTRING_REPLY(r, "here");
    rcm_reply_free(r);
    rcm_client_close(c);
}

static void test_routes__node_reaches_that_node(void **state) {
    (void)state;
    assert_int_equal(cu_cluster_read(cu_port(0), &cl), 0);
    rcm_client *c = cu_open_ok(NULL);
    for (int i = 0; i < CU_NODES; i++) {
        int port = cu_port(i);
        char node[64];
        snprintf(node, sizeof node, "127.0.0.1:%d", port);
        rcm_route route = {RCM_ROUTE_NODE, 0, NULL, 0, node};
        const char *id = myid(c, &route);
        if (strcmp(id, id_of_port(port)) != 0) fail_msg("ROUTE_NODE %s reached %s", node, id);
        rcm_reply *r = NULL;
        TU_ASSERT_RC(cu_routed(c, &route, &r, "ROLE", NULL), RCM_OK);
        const char *role = rcm_reply_type(r) == RCM_REPLY_ARRAY ? cu_str(rcm_reply_element(r, 0)) : NULL;
        const char *want = cl.nodes[cu_node_index(&cl, port)].primary ? "master" : "slave";
        if (!role || strcmp(role, want) != 0) fail_msg("ROLE on %s: %s, expected %s", node, role ? role : tu_describe(r), want);
        rcm_reply_free(r);
    }
    /* A keyed command sent to a primary that does not own the key: that node's answer
     * (MOVED), not the owner's reached by following it. */
    int prim[3];
    assert_int_equal(cu_primaries(&cl, prim, 3), 3);
    int owner = cu_owner_port(&cl, cu_key_slot("routes:moved", 12));
    int other = cl.nodes[prim[0]].port == owner ? cl.nodes[prim[1]].port : cl.nodes[prim[0]].port;
    char node[64];
    snprintf(node, sizeof node, "127.0.0.1:%d", other);
    rcm_route route = {RCM_ROUTE_NODE, 0, NULL, 0, node};
    rcm_reply *r = NULL;
    TU_ASSERT_RC(cu_routed(c, &route, &r, "GET", "routes:moved", NULL), RCM_OK);
    size_t elen = 0;
    const char *etext = rcm_reply_type(r) == RCM_REPLY_ERROR ? rcm_reply_string(r, &elen) : NULL;
    if (!etext || elen < 6 || strncmp(etext, "MOVED ", 6) != 0)
        fail_msg("GET routes:moved on %s (owner %d): %s, expected that node's MOVED", node, owner, tu_describe(r));
    rcm_reply_free(r);
    rcm_client_close(c);
}

static void test_routes__all_primaries_and_all_nodes_give_pairs(void **state) {
    (void)state;
    assert_int_equal(cu_cluster_read(cu_port(0), &cl), 0);
    rcm_client *c = cu_open_ok(NULL);
    int prim[3], pports[3];
    assert_int_equal(cu_primaries(&cl, prim, 3), 3);
    for (int i = 0; i < 3; i++) pports[i] = cl.nodes[prim[i]].port;
    rcm_route route = {RCM_ROUTE_ALL_PRIMARIES, 0, NULL, 0, NULL};
    rcm_reply *r = NULL;
    TU_ASSERT_RC(cu_routed(c, &route, &r, "CLUSTER", "MYID", NULL), RCM_OK);
    check_pairs(r, pports, 3);
    rcm_reply_free(r);

    int all[CU_NODES];
    for (int i = 0; i < CU_NODES; i++) all[i] = cu_port(i);
    route.kind = RCM_ROUTE_ALL_NODES;
    TU_ASSERT_RC(cu_routed(c, &route, &r, "CLUSTER", "MYID", NULL), RCM_OK);
    check_pairs(r, all, CU_NODES);
    rcm_reply_free(r);
    rcm_client_close(c);
}

static void test_routes__random_reaches_a_primary(void **state) {
    (void)state;
    assert_int_equal(cu_cluster_read(cu_port(0), &cl), 0);
    rcm_client *c = cu_open_ok(NULL);
    enum { PICKS = 60 };
    int picked[PICKS], hits[16] = {0};
    for (int i = 0; i < PICKS; i++) {
        rcm_route route = {RCM_ROUTE_RANDOM, 0, NULL, 0, NULL};
        const char *id = myid(c, &route);
        int k;
        for (k = 0; k < cl.n; k++)
            if (strcmp(cl.nodes[k].id, id) == 0) break;
        if (k == cl.n || !cl.nodes[k].primary) fail_msg("ROUTE_RANDOM reached %s, not a primary", id);
        picked[i] = k;
        hits[k]++;
    }
    /* Every primary comes up (a miss has odds of about 1e-10), and not in a fixed turn
     * (round-robin would repeat with period 3). */
    int prim[3];
    assert_int_equal(cu_primaries(&cl, prim, 3), 3);
    for (int p = 0; p < 3; p++)
        if (hits[prim[p]] == 0) fail_msg("ROUTE_RANDOM never reached primary %d in %d picks", cl.nodes[prim[p]].port, PICKS);
    int periodic = 1;
    for (int i = 3; i < PICKS && periodic; i++) periodic = picked[i] == picked[i - 3];
    if (periodic) fail_msg("ROUTE_RANDOM picked the primaries in a fixed turn");
    rcm_client_close(c);
}

static void test_routes__bad_routes_are_arg_errors(void **state) {
    (void)state;
    rcm_client *c = cu_open_ok(NULL);
    rcm_reply *r;
    int bad_slots[] = {-1, 16384, 100000};
    for (size_t i = 0; i < sizeof bad_slots / sizeof *bad_slots; i++) {
        rcm_route route = {RCM_ROUTE_SLOT, bad_slots[i], NULL, 0, NULL};
        r = (rcm_reply *)(void *)&r;
        rcm_status st = cu_routed(c, &route, &r, "PING", NULL);
        if (st != RCM_ERR_ARG) fail_msg("ROUTE_SLOT %d: expected RCM_ERR_ARG, got %s", bad_slots[i], rcm_status_name(st));
        assert_null(r);
    }
    rcm_route node_null = {RCM_ROUTE_NODE, 0, NULL, 0, NULL};
    r = (rcm_reply *)(void *)&r;
    TU_ASSERT_RC(cu_routed(c, &node_null, &r, "PING", NULL), RCM_ERR_ARG);
    assert_null(r);
    char stranger[64];
    snprintf(stranger, sizeof stranger, "127.0.0.1:%d", tu_port(TU_NEVER_STARTED));
    rcm_route node_unknown = {RCM_ROUTE_NODE, 0, NULL, 0, stranger};
    r = (rcm_reply *)(void *)&r;
    TU_ASSERT_RC(cu_routed(c, &node_unknown, &r, "PING", NULL), RCM_ERR_ARG);
    assert_null(r);
    rcm_route bad_kind = {(rcm_route_kind)99, 0, NULL, 0, NULL};
    r = (rcm_reply *)(void *)&r;
    TU_ASSERT_RC(cu_routed(c, &bad_kind, &r, "PING", NULL), RCM_ERR_ARG);
    assert_null(r);
    const char *ping[] = {"PING"};
    r = (rcm_reply *)(void *)&r;
    TU_ASSERT_RC(rcm_command_routed(c, NULL, 1, ping, NULL, &r), RCM_ERR_ARG);
    assert_null(r);
    /* The client still works. */
    r = tu_cmd_ok(c, "PING", NULL);
    TU_ASSERT_STATUS_REPLY(r, "PONG");
    rcm_reply_free(r);
    rcm_client_close(c);
}

/* A slot its owner stops serving (CLUSTER DELSLOTS): requests for it are retried within
 * their deadline (CLUSTERDOWN, or no owner in the refreshed map) and then end with
 * RCM_ERR_CLUSTERDOWN, not a bare timeout; once the slot is served again they work. */
static void test_routes__unserved_slot_is_clusterdown(void **state) {
    (void)state;
    assert_int_equal(cu_cluster_read(cu_port(0), &cl), 0);
    rcm_client *c = cu_open_ok("command_timeout_ms", "600", NULL);
    const char *key = "routes:down";
    int slot = cu_key_slot(key, strlen(key));
    int owner = cu_owner_port(&cl, slot);
    rcm_reply *r = tu_cmd_ok(c, "SET", key, "v", NULL);
    rcm_reply_free(r);
    r = tu_cmd_ok(c, "DEL", key, NULL); /* DELSLOTS of a slot with keys would lose them */
    rcm_reply_free(r);
    char *out = cu_cli(owner, "CLUSTER DELSLOTS %d", slot);
    if (!out || strncmp(out, "OK", 2) != 0) fail_msg("CLUSTER DELSLOTS %d on %d: %s", slot, owner, out ? out : "(cli failed)");
    free(out);
    double t0 = tu_now();
    r = NULL;
    rcm_status st = tu_cmd(c, &r, "GET", key, NULL);
    double took = tu_now() - t0;
    char msg[512];
    snprintf(msg, sizeof msg, "%s", rcm_last_error());
    out = cu_cli(owner, "CLUSTER ADDSLOTS %d", slot);
    int readded = out && strncmp(out, "OK", 2) == 0;
    free(out);
    if (!readded) fail_msg("CLUSTER ADDSLOTS %d on %d failed", slot, owner);
    if (!cu_wait_owner_everywhere(slot, owner, 30)) fail_msg("slot %d is not served by %d everywhere again", slot, owner);
    cu_assert_healthy_ok(60);
    if (st != RCM_ERR_CLUSTERDOWN)
        fail_msg("GET on an unserved slot: %s (%s) after %.2f s, expected RCM_ERR_CLUSTERDOWN", rcm_status_name(st),
                 st == RCM_OK ? tu_describe(r) : msg, took);
    if (!strstr(msg, "cluster down")) fail_msg("the message does not say the cluster is down: %s", msg);
    printf("unserved slot %d: %s after %.2f s: %s\n", slot, rcm_status_name(st), took, msg);
    /* Served again: the client recovers (within a few deadlines). */
    double until = tu_now() + 10;
    for (;;) {
        r = NULL;
        st = tu_cmd(c, &r, "SET", key, "back", NULL);
        if (st == RCM_OK && rcm_reply_type(r) == RCM_REPLY_STATUS) break;
        if (tu_now() > until) fail_msg("SET after the slot is served again: %s", rcm_status_name(st));
        rcm_reply_free(r);
        tu_sleep_ms(200);
    }
    rcm_reply_free(r);
    r = tu_cmd_ok(c, "DEL", key, NULL);
    rcm_reply_free(r);
    rcm_client_close(c);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes__slot_and_key_reach_the_owner),
        cmocka_unit_test(test_routes__node_reaches_that_node),
        cmocka_unit_test(test_routes__all_primaries_and_all_nodes_give_pairs),
        cmocka_unit_test(test_routes__random_reaches_a_primary),
        cmocka_unit_test(test_routes__bad_routes_are_arg_errors),
        cmocka_unit_test(test_routes__unserved_slot_is_clusterdown),
    };
    return TU_RUN(tests, argc, argv);
}
