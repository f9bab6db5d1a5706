/* cluster.routing: every key goes to the primary that owns its slot (checked with
 * valkey-cli --scan on each primary, not through rcm), {hash tags} keep keys in one slot
 * so multi-key commands on them work, and a multi-key command whose keys span slots is
 * refused with RCM_ERR_CROSSSLOT before anything reaches a server — also where only the
 * server's COMMAND key specs (or the command's own syntax: SORT ... STORE) say where the
 * keys are, and for subcommands (OBJECT ENCODING key). */
#define _GNU_SOURCE
#include "cluster_util.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NKEYS 10000

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void test_routing__10000_keys_live_on_their_slot_owner(void **state) {
    (void)state;
    cu_cluster cl;
    assert_int_equal(cu_cluster_read(cu_port(0), &cl), 0);
    rcm_client *c = cu_open_ok(NULL);

    /* Our own CRC16 agrees with the server's CLUSTER KEYSLOT (so the owner we compute is
     * the server's notion, independent of rcm). */
    static char keys[NKEYS][48];
    static char *sorted[NKEYS];
    unsigned seed = (unsigned)getpid() * 2654435761u;
    int tag = (int)getpid();
    for (int i = 0; i < NKEYS; i++) {
        seed = seed * 1103515245u + 12345u;
        snprintf(keys[i], sizeof keys[i], "route:%d:%08x:%d", tag, seed, i);
    }
    for (int i = 0; i < 40; i++) {
        char *out = cu_cli(cu_port(0), "CLUSTER KEYSLOT '%s'", keys[i * 250]);
        assert_non_null(out);
        int server_slot = atoi(out);
        free(out);
        if (server_slot != cu_key_slot(keys[i * 250], strlen(keys[i * 250])))
            fail_msg("CLUSTER KEYSLOT %s = %d, local CRC16 = %d", keys[i * 250], server_slot,
                     cu_key_slot(keys[i * 250], strlen(keys[i * 250])));
    }

    /* SET through rcm: each goes straight to its owner (no server refuses one with MOVED). */
    assert_int_equal(cu_reset_stats_all(), 0);
    for (int i = 0; i < NKEYS; i++) {
        char val[32];
        snprintf(val, sizeof val, "v%d", i);
        rcm_reply *r = NULL;
        rcm_status st = tu_cmd(c, &r, "SET", keys[i], val, NULL);
        if (st != RCM_OK || !tu_is_status(r, "OK"))
            fail_msg("SET %s: %s %s '%s'", keys[i], rcm_status_name(st), tu_describe(r), rcm_last_error());
        rcm_reply_free(r);
    }

    /* Where the keys are, according to each primary itself. */
    for (int i = 0; i < NKEYS; i++) sorted[i] = keys[i];
    qsort(sorted, NKEYS, sizeof *sorted, cmp_str);
    static unsigned char found[NKEYS];
    memset(found, 0, sizeof found);
    int prim[3];
    assert_int_equal(cu_primaries(&cl, prim, 3), 3);
    int per_primary[3] = {0, 0, 0};
    for (int p = 0; p < 3; p++) {
        int port = cl.nodes[prim[p]].port;
        char *out = cu_cli(port, "--scan --count 1000 --pattern 'route:%d:*'", tag);
        assert_non_null(out);
        char *save = NULL;
        for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            char **hit = bsearch(&line, sorted, NKEYS, sizeof *sorted, cmp_str);
            if (!hit) fail_msg("primary %d holds an unexpected key '%s'", port, line);
            int idx = (int)((*hit - keys[0]) / sizeof keys[0]);
            if (found[idx]++) fail_msg("key %s is on two primaries", line);
            int slot = cu_key_slot(line, strlen(line));
            if (cu_owner_port(&cl, slot) != port)
                fail_msg("key %s (slot %d) is on primary %d, but slot %d belongs to %d", line, slot, port, slot,
                         cu_owner_port(&cl, slot));
            per_primary[p]++;
        }
        free(out);
    }
    for (int i = 0; i < NKEYS; i++)
        if (!found[i]) fail_msg("key %s (slot %d) is on no primary", keys[i], cu_key_slot(keys[i], strlen(keys[i])));
    printf("keys per primary: %d %d %d\n", per_primary[0], per_primary[1], per_primary[2]);
    for (int p = 0; p < 3; p++) {
        assert_true(per_primary[p] > NKEYS / 5);
        cu_cmdstat s = cu_cmdstat_of(cl.nodes[prim[p]].port, "set");
        if (s.calls != per_primary[p] || s.rejected != 0)
            fail_msg("primary %d holds %d keys but ran SET %lld times and refused it %lld times: rcm did not send "
                     "each SET to the slot's owner",
                     cl.nodes[prim[p]].port, per_primary[p], s.calls, s.rejected);
    }

    /* GET through rcm, routed explicitly to the owner, returns each value. */
    for (int i = 0; i < NKEYS; i++) {
        char val[32];
        snprintf(val, sizeof val, "v%d", i);
        int owner = cu_owner_port(&cl, cu_key_slot(keys[i], strlen(keys[i])));
        rcm_reply *r = NULL;
        rcm_status st = cu_to_node(c, owner, &r, "GET", keys[i], NULL);
        if (st != RCM_OK || !tu_is_cstring(r, val))
            fail_msg("GET %s on its owner %d: %s %s", keys[i], owner, rcm_status_name(st), tu_describe(r));
        rcm_reply_free(r);
    }

    /* Each GET ran on the node the route named, and nowhere was one refused. */
    for (int i = 0; i < CU_NODES; i++) {
        cu_cmdstat g = cu_cmdstat_of(cu_port(i), "get");
        int idx = cu_node_index(&cl, cu_port(i)), want = 0;
        for (int p = 0; p < 3; p++)
            if (prim[p] == idx) want = per_primary[p];
        if (g.calls != want || g.rejected != 0)
            fail_msg("node %d: GET ran %lld times (refused %lld), expected %d", cu_port(i), g.calls, g.rejected, want);
    }

    /* A sample read on the other primaries with a plain connection: they do not have it. */
    for (int i = 0; i < NKEYS; i += 500) {
        int owner = cu_owner_port(&cl, cu_key_slot(keys[i], strlen(keys[i])));
        for (int p = 0; p < 3; p++) {
            int port = cl.nodes[prim[p]].port;
            if (port == owner) continue;
            char *out = cu_cli(port, "GET '%s'", keys[i]);
            assert_non_null(out);
            if (strncmp(out, "MOVED ", 6) != 0) fail_msg("GET %s on non-owner %d: '%s'", keys[i], port, out);
            free(out);
        }
    }

    /* Clean up (DEL split across slots). */
    for (int i = 0; i < NKEYS; i += 100) {
        const char *argv[101];
        argv[0] = "DEL";
        for (int k = 0; k < 100; k++) argv[1 + k] = keys[i + k];
        rcm_reply *r = NULL;
        TU_ASSERT_RC(rcm_command(c, 101, argv, NULL, &r), RCM_OK);
        TU_ASSERT_INT_REPLY(r, 100);
        rcm_reply_free(r);
    }
    rcm_client_close(c);
}

static void test_routing__hash_tags_keep_keys_together(void **state) {
    (void)state;
    cu_cluster cl;
    assert_int_equal(cu_cluster_read(cu_port(0), &cl), 0);
    rcm_client *c = cu_open_ok(NULL);
    const char *a = "{user1}:a", *b = "{user1}:b", *u = "{user1}:u", *d = "{user1}:d";
    int slot = cu_key_slot("user1", 5);
    assert_int_equal(cu_key_slot(a, strlen(a)), slot);
    assert_int_equal(cu_key_slot(b, strlen(b)), slot);
    char *out = cu_cli(cu_port(0), "CLUSTER KEYSLOT '%s'", b);
    assert_non_null(out);
    assert_int_equal(atoi(out), slot);
    free(out);
    int owner = cu_owner_port(&cl, slot);

    rcm_reply *r = tu_cmd_ok(c, "DEL", a, b, u, d, "{user1}:m1", "{user1}:m2", NULL);
    rcm_reply_free(r);
    r = tu_cmd_ok(c, "SADD", a, "x", "y", NULL);
    TU_ASSERT_INT_REPLY(r, 2);
    rcm_reply_free(r);
    r = tu_cmd_ok(c, "SADD", b, "y", "z", NULL);
    TU_ASSERT_INT_REPLY(r, 2);
    rcm_reply_free(r);
    r = tu_cmd_ok(c, "SUNIONSTORE", u, a, b, NULL);
    TU_ASSERT_INT_REPLY(r, 3);
    rcm_reply_free(r);
    r = tu_cmd_ok(c, "SINTER", a, b, NULL);
    if (rcm_reply_type(r) != RCM_REPLY_ARRAY || rcm_reply_length(r) != 1 || !tu_is_cstring(rcm_reply_element(r, 0), "y"))
        fail_msg("SINTER: %s", tu_describe(r));
    rcm_reply_free(r);
    r = tu_cmd_ok(c, "RENAME", u, d, NULL);
    TU_ASSERT_STATUS_REPLY(r, "OK");
    rcm_reply_free(r);
    r = tu_cmd_ok(c, "MSETNX", "{user1}:m1", "1", "{user1}:m2", "2", NULL);
    TU_ASSERT_INT_REPLY(r, 1);
    rcm_reply_free(r);
    r = tu_cmd_ok(c, "EVAL", "return redis.call('GET', KEYS[1]) .. redis.call('GET', KEYS[2])", "2", "{user1}:m1",
                  "{user1}:m2", NULL);
    TU_ASSERT_CSTRING_REPLY(r, "12");
    rcm_reply_free(r);
    r = tu_cmd_ok(c, "SMOVE", a, b, "x", NULL);
    TU_ASSERT_INT_REPLY(r, 1);
    rcm_reply_free(r);

    /* On the owner, with a plain connection. */
    out = cu_cli(owner, "SCARD '%s'", d);
    assert_non_null(out);
    if (atoi(out) != 3) fail_msg("SCARD %s on owner %d: '%s'", d, owner, out);
    free(out);
    out = cu_cli(owner, "EXISTS '%s'", u);
    assert_non_null(out);
    if (atoi(out) != 0) fail_msg("%s still exists after RENAME: '%s'", u, out);
    free(out);
    out = cu_cli(owner, "SCARD '%s'", b);
    assert_non_null(out);
    if (atoi(out) != 3) fail_msg("SCARD %s after SMOVE: '%s'", b, out);
    free(out);

    r = tu_cmd_ok(c, "DEL", a, b, d, "{user1}:m1", "{user1}:m2", NULL);
    TU_ASSERT_INT_REPLY(r, 5);
    rcm_reply_free(r);
    rcm_client_close(c);
}

/* Calls + rejected + failed of a command summed over all six nodes. */
static long long all_nodes_count(const char *command) {
    long long sum = 0;
    for (int i = 0; i < CU_NODES; i++) {
        cu_cmdstat s = cu_cmdstat_of(cu_port(i), command);
        sum += s.calls + s.rejected + s.failed;
    }
    return sum;
}

static atomic_int async_calls;
static void async_cb(rcm_status st, rcm_reply *r, void *ud) {
    (void)st;
    (void)ud;
    rcm_reply_free(r);
    atomic_fetch_add(&async_calls, 1);
}

static void test_routing__crossslot_is_refused_before_sending(void **state) {
    (void)state;
    cu_cluster cl;
    assert_int_equal(cu_cluster_read(cu_port(0), &cl), 0);
    rcm_client *c = cu_open_ok(NULL);
    /* Two keys on different primaries. */
    char ka[64], kb[64];
    int n = 0;
    int prim[3];
    assert_int_equal(cu_primaries(&cl, prim, 3), 3);
    int sa = cu_key_on(&cl, cl.nodes[prim[0]].port, "cross:a:", &n, ka, sizeof ka);
    int sb = cu_key_on(&cl, cl.nodes[prim[1]].port, "cross:b:", &n, kb, sizeof kb);
    assert_int_not_equal(sa, sb);
    rcm_reply *r = tu_cmd_ok(c, "DEL", ka, kb, NULL);
    rcm_reply_free(r);

    const char *commands[] = {"sunion", "rename", "sinterstore", "msetnx", "eval", "smove", "lmove"};
    enum { NCMD = sizeof commands / sizeof *commands };
    long long before[NCMD];
    for (int i = 0; i < NCMD; i++) before[i] = all_nodes_count(commands[i]);

    struct {
        int argc;
        const char *argv[8];
    } calls[] = {
        {3, {"SUNION", ka, kb}},
        {3, {"RENAME", ka, kb}},
        {4, {"SINTERSTORE", ka, ka, kb}},
        {5, {"MSETNX", ka, "1", kb, "2"}},
        {5, {"EVAL", "return 1", "2", ka, kb}},
        {4, {"SMOVE", ka, kb, "x"}},
        {5, {"LMOVE", ka, kb, "LEFT", "RIGHT"}},
    };
    for (size_t i = 0; i < sizeof calls / sizeof *calls; i++) {
        r = (rcm_reply *)(void *)&r;
        rcm_status st = rcm_command(c, calls[i].argc, calls[i].argv, NULL, &r);
        if (st != RCM_ERR_CROSSSLOT)
            fail_msg("%s %s %s: expected RCM_ERR_CROSSSLOT, got %s (%s)", calls[i].argv[0], ka, kb, rcm_status_name(st),
                     st == RCM_OK ? tu_describe(r) : rcm_last_error());
        assert_null(r);
        assert_true(strlen(rcm_last_error()) > 0);
    }

    /* Async: refused at once, no callback. */
    atomic_store(&async_calls, 0);
    rcm_status st = rcm_command_async(c, 3, calls[0].argv, NULL, async_cb, NULL);
    if (st != RCM_ERR_CROSSSLOT) fail_msg("async SUNION across slots: %s", rcm_status_name(st));
    /* Pipeline: refused at append, or an error reply with RCM_ERR_CROSSSLOT at exec. */
    rcm_pipeline *p = NULL;
    TU_ASSERT_RC(rcm_pipeline_new(c, &p), RCM_OK);
    st = rcm_pipeline_append(p, 3, calls[0].argv, NULL);
    if (st == RCM_OK) {
        rcm_reply **replies = NULL;
        size_t nr = 0;
        rcm_status ex = rcm_pipeline_exec(p, &replies, &nr);
        if (ex == RCM_OK) {
            assert_int_equal(nr, 1);
            if (rcm_reply_type(replies[0]) != RCM_REPLY_ERROR || rcm_reply_status(replies[0]) != RCM_ERR_CROSSSLOT)
                fail_msg("pipelined SUNION across slots: %s (reply status %s)", tu_describe(replies[0]),
                         rcm_status_name(rcm_reply_status(replies[0])));
            rcm_reply_free(replies[0]);
            rcm_free(replies);
        } else if (ex != RCM_ERR_CROSSSLOT) {
            fail_msg("pipelined SUNION across slots: exec %s", rcm_status_name(ex));
        }
    } else if (st != RCM_ERR_CROSSSLOT) {
        fail_msg("pipeline append of SUNION across slots: %s", rcm_status_name(st));
    }
    rcm_pipeline_free(p);
    tu_sleep_ms(300);
    assert_int_equal(atomic_load(&async_calls), 0);

    /* Nothing reached any server. */
    for (int i = 0; i < NCMD; i++) {
        long long after = all_nodes_count(commands[i]);
        if (after != before[i])
            fail_msg("cmdstat_%s on the six nodes went from %lld to %lld: a refused command was sent", commands[i],
                     before[i], after);
    }
    r = tu_cmd_ok(c, "EXISTS", ka, kb, NULL);
    TU_ASSERT_INT_REPLY(r, 0);
    rcm_reply_free(r);
    rcm_client_close(c);
}

/* The client's stats once it has learned the server's COMMAND table (up to 5 s). */
static void wait_command_table(rcm_client *c) {
    for (int i = 0; i < 100; i++) {
        char *json = NULL;
        TU_ASSERT_RC(rcm_client_stats_json(c, &json), RCM_OK);
        cj *v = cj_parse(json);
        assert_non_null(v);
        const char *src = cj_str(cj_get(v, "command_table"));
        double known = cj_num(cj_get(v, "commands_known"), -1);
        int learned = src != NULL && strcmp(src, "COMMAND") == 0;
        if (src == NULL || known < 100) fail_msg("stats: command_table %s, commands_known %g: %s", src ? src : "absent", known, json);
        cj_free(v);
        rcm_free(json);
        if (learned) return;
        tu_sleep_ms(50);
    }
    fail_msg("the client did not learn the COMMAND table within 5 s");
}

static void test_routing__keys_found_by_key_specs_and_subcommands(void **state) {
    (void)state;
    cu_cluster cl;
    assert_int_equal(cu_cluster_read(cu_port(0), &cl), 0);
    rcm_client *c = cu_open_ok(NULL);
    wait_command_table(c);
    char ka[64], kb[64], ta[64], tb[64];
    int n = 0;
    int prim[3];
    assert_int_equal(cu_primaries(&cl, prim, 3), 3);
    int sa = cu_key_on(&cl, cl.nodes[prim[0]].port, "spec:a:", &n, ka, sizeof ka);
    int sb = cu_key_on(&cl, cl.nodes[prim[1]].port, "spec:b:", &n, kb, sizeof kb);
    assert_int_not_equal(sa, sb);
    snprintf(ta, sizeof ta, "{spec:%d}a", sa);
    snprintf(tb, sizeof tb, "{spec:%d}b", sa);
    rcm_reply *r = tu_cmd_ok(c, "DEL", ka, kb, ta, tb, NULL);
    rcm_reply_free(r);

    /* Keys that first/last/step do not show: a keyword (GEORADIUS ... STORE, XREAD ...
     * STREAMS), a count (LMPOP, SINTERCARD, ZINTERSTORE), the command's own syntax (SORT
     * ... STORE, past BY/LIMIT/GET arguments). */
    const char *commands[] = {"sort", "georadius", "georadiusbymember", "xread", "lmpop", "sintercard", "zinterstore"};
    enum { NCMD = sizeof commands / sizeof *commands };
    long long before[NCMD];
    for (int i = 0; i < NCMD; i++) before[i] = all_nodes_count(commands[i]);
    struct {
        int argc;
        const char *argv[12];
    } cross[] = {
        {4, {"SORT", ka, "STORE", kb}},
        {11, {"sort", ka, "BY", "nosort", "LIMIT", "0", "1", "GET", "#", "store", kb}},
        {8, {"GEORADIUS", ka, "0", "0", "10", "km", "STORE", kb}},
        {7, {"GEORADIUSBYMEMBER", ka, "m", "10", "km", "STOREDIST", kb}},
        {8, {"XREAD", "COUNT", "1", "STREAMS", ka, kb, "0", "0"}},
        {5, {"LMPOP", "2", ka, kb, "LEFT"}},
        {4, {"SINTERCARD", "2", ka, kb}},
        {5, {"ZINTERSTORE", ka, "2", ka, kb}},
    };
    for (size_t i = 0; i < sizeof cross / sizeof *cross; i++) {
        r = NULL;
        rcm_status st = rcm_command(c, cross[i].argc, cross[i].argv, NULL, &r);
        if (st != RCM_ERR_CROSSSLOT)
            fail_msg("%s with keys %s and %s: expected RCM_ERR_CROSSSLOT, got %s (%s)", cross[i].argv[0], ka, kb,
                     rcm_status_name(st), st == RCM_OK ? tu_describe(r) : rcm_last_error());
        assert_null(r);
    }
    for (int i = 0; i < NCMD; i++) {
        long long after = all_nodes_count(commands[i]);
        if (after != before[i])
            fail_msg("cmdstat_%s went from %lld to %lld: a refused command was sent", commands[i], before[i], after);
    }

    /* The same commands with both keys in one slot run on its owner. */
    r = tu_cmd_ok(c, "RPUSH", ta, "3", "1", "2", NULL);
    rcm_reply_free(r);
    r = tu_cmd_ok(c, "SORT", ta, "STORE", tb, NULL);
    TU_ASSERT_INT_REPLY(r, 3);
    rcm_reply_free(r);
    r = tu_cmd_ok(c, "LRANGE", tb, "0", "-1", NULL);
    assert_int_equal(rcm_reply_length(r), 3);
    assert_string_equal(cu_str(rcm_reply_element(r, 0)), "1");
    rcm_reply_free(r);
    r = tu_cmd_ok(c, "DEL", ta, tb, NULL);
    rcm_reply_free(r);
    r = tu_cmd_ok(c, "GEOADD", ta, "0.001", "0.001", "m", NULL);
    rcm_reply_free(r);
    r = tu_cmd_ok(c, "GEORADIUS", ta, "0", "0", "10", "km", "STORE", tb, NULL);
    TU_ASSERT_INT_REPLY(r, 1);
    rcm_reply_free(r);
    r = tu_cmd_ok(c, "ZCARD", tb, NULL);
    TU_ASSERT_INT_REPLY(r, 1);
    rcm_reply_free(r);

    /* Subcommands with a key (COMMAND's "object|encoding", "xinfo|stream"...) and shard
     * channels go to the owner without a redirect, for keys on every primary. */
    long long moved_before = cu_stats_sum(c, "moved");
    for (int p = 0; p < 3; p++) {
        char k[64];
        cu_key_on(&cl, cl.nodes[prim[p]].port, "spec:sub:", &n, k, sizeof k);
        r = tu_cmd_ok(c, "SET", k, "12345", NULL);
        rcm_reply_free(r);
        r = tu_cmd_ok(c, "OBJECT", "ENCODING", k, NULL);
        assert_string_equal(cu_str(r), "int");
        rcm_reply_free(r);
        r = tu_cmd_ok(c, "MEMORY", "USAGE", k, NULL);
        assert_int_equal(rcm_reply_type(r), RCM_REPLY_INTEGER);
        rcm_reply_free(r);
        r = tu_cmd_ok(c, "DEL", k, NULL);
        rcm_reply_free(r);
        r = tu_cmd_ok(c, "XGROUP", "CREATE", k, "g", "$", "MKSTREAM", NULL);
        TU_ASSERT_STATUS_REPLY(r, "OK");
        rcm_reply_free(r);
        r = tu_cmd_ok(c, "XINFO", "GROUPS", k, NULL);
        assert_int_equal(rcm_reply_length(r), 1);
        rcm_reply_free(r);
        r = tu_cmd_ok(c, "DEL", k, NULL);
        rcm_reply_free(r);
        /* A shard channel (a "not_key" spec) goes to its slot's owner too. */
        r = tu_cmd_ok(c, "SPUBLISH", k, "hello", NULL);
        TU_ASSERT_INT_REPLY(r, 0);
        rcm_reply_free(r);
    }
    long long moved_after = cu_stats_sum(c, "moved");
    if (moved_after != moved_before) fail_msg("%lld MOVED redirects for commands routed by their subcommand's key", moved_after - moved_before);
    r = tu_cmd_ok(c, "DEL", ta, tb, NULL);
    rcm_reply_free(r);
    rcm_client_close(c);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routing__10000_keys_live_on_their_slot_owner),
        cmocka_unit_test(test_routing__hash_tags_keep_keys_together),
        cmocka_unit_test(test_routing__crossslot_is_refused_before_sending),
        cmocka_unit_test(test_routing__keys_found_by_key_specs_and_subcommands),
    };
    return TU_RUN(tests, argc, argv);
}
