/* cluster.pipeline: a pipeline of 10 000 SET/GET/INCR over keys in every slot range
 * returns each reply in append order, with the values a single server would give (a
 * model of the keys predicts each one); MULTI/EXEC in one slot works; a transaction
 * whose keys span slots is RCM_ERR_CROSSSLOT and nothing of it reaches a server; a
 * transaction whose slot moved runs whole on the new owner. */
#define _GNU_SOURCE
#include "cluster_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NCMDS 10000
#define NSTR 500
#define NCTR 50

static cu_cluster cl;

static void delete_model_keys(rcm_client *c) {
    const char *argv[1 + NSTR + NCTR];
    static char names[NSTR + NCTR][32];
    argv[0] = "DEL";
    for (int i = 0; i < NSTR; i++) {
        snprintf(names[i], sizeof names[i], "pl:s:%d", i);
        argv[1 + i] = names[i];
    }
    for (int i = 0; i < NCTR; i++) {
        snprintf(names[NSTR + i], sizeof names[NSTR + i], "pl:c:%d", i);
        argv[1 + NSTR + i] = names[NSTR + i];
    }
    rcm_reply *r = NULL;
    TU_ASSERT_RC(rcm_command(c, 1 + NSTR + NCTR, argv, NULL, &r), RCM_OK);
    assert_int_equal(rcm_reply_type(r), RCM_REPLY_INTEGER);
    rcm_reply_free(r);
}

/* The model: the value of each string key ("" = absent) and of each counter. */
static char str_model[NSTR][48];
static long long ctr_model[NCTR];

/* Appends n commands drawn from seed, executes, checks every reply against the model. */
static void run_mixed(rcm_pipeline *p, int n, unsigned seed) {
    static char expect[NCMDS][48];
    static int kind[NCMDS]; /* 0 SET, 1 GET of a value, 2 INCR, 3 GET of an absent key */
    for (int i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        unsigned rnd = seed >> 8;
        char key[32], val[48];
        int op = (int)(rnd % 3);
        if (op == 0) {
            int k = (int)((rnd / 3) % NSTR);
            snprintf(key, sizeof key, "pl:s:%d", k);
            snprintf(val, sizeof val, "v%d-%u", i, seed);
            const char *argv[] = {"SET", key, val};
            TU_ASSERT_RC(rcm_pipeline_append(p, 3, argv, NULL), RCM_OK);
            snprintf(str_model[k], sizeof str_model[k], "%s", val);
            kind[i] = 0;
        } else if (op == 1) {
            int k = (int)((rnd / 3) % NSTR);
            snprintf(key, sizeof key, "pl:s:%d", k);
            const char *argv[] = {"GET", key};
            TU_ASSERT_RC(rcm_pipeline_append(p, 2, argv, NULL), RCM_OK);
            kind[i] = str_model[k][0] ? 1 : 3;
            snprintf(expect[i], sizeof expect[i], "%s", str_model[k]);
        } else {
            int k = (int)((rnd / 3) % NCTR);
            snprintf(key, sizeof key, "pl:c:%d", k);
            const char *argv[] = {"INCR", key};
            TU_ASSERT_RC(rcm_pipeline_append(p, 2, argv, NULL), RCM_OK);
            snprintf(expect[i], sizeof expect[i], "%lld", ++ctr_model[k]);
            kind[i] = 2;
        }
    }
    assert_int_equal(rcm_pipeline_length(p), (size_t)n);
    rcm_reply **replies = NULL;
    size_t nr = 0;
    TU_ASSERT_RC(rcm_pipeline_exec(p, &replies, &nr), RCM_OK);
    assert_int_equal(nr, (size_t)n);
    assert_int_equal(rcm_pipeline_length(p), 0);
    for (int i = 0; i < n; i++) {
        const rcm_reply *r = replies[i];
        switch (kind[i]) {
        case 0:
            if (!tu_is_status(r, "OK")) fail_msg("pipeline reply %d (SET): %s", i, tu_describe(r));
            break;
        case 1:
            if (!tu_is_cstring(r, expect[i])) fail_msg("pipeline reply %d (GET): %s, expected \"%s\"", i, tu_describe(r), expect[i]);
            break;
        case 3:
            if (rcm_reply_type(r) != RCM_REPLY_NIL) fail_msg("pipeline reply %d (GET of a key never set): %s", i, tu_describe(r));
            break;
        default:
            if (!tu_is_integer(r, atoll(expect[i])))
                fail_msg("pipeline reply %d (INCR): %s, expected %s", i, tu_describe(r), expect[i]);
        }
    }
    for (size_t i = 0; i < nr; i++) rcm_reply_free(replies[i]);
    rcm_free(replies);
}

static void test_pipeline__10000_mixed_slot_commands_in_order(void **state) {
    (void)state;
    assert_int_equal(cu_cluster_read(cu_port(0), &cl), 0);
    rcm_client *c = cu_open_ok("command_timeout_ms", "10000", NULL);
    delete_model_keys(c);
    memset(str_model, 0, sizeof str_model);
    memset(ctr_model, 0, sizeof ctr_model);
    rcm_pipeline *p = NULL;
    TU_ASSERT_RC(rcm_pipeline_new(c, &p), RCM_OK);
    run_mixed(p, NCMDS, 12345u);
    /* The pipeline is reusable; the model carries over. */
    run_mixed(p, 2000, 777u);
    rcm_pipeline_free(p);
    /* The counters as the owners see them (plain connection). */
    for (int k = 0; k < NCTR; k++) {
        char key[32];
        snprintf(key, sizeof key, "pl:c:%d", k);
        char *out = cu_cli(cu_owner_port(&cl, cu_key_slot(key, strlen(key))), "GET '%s'", key);
        assert_non_null(out);
        if (atoll(out) != ctr_model[k]) fail_msg("%s on its owner: '%s', model %lld", key, out, ctr_model[k]);
        free(out);
    }
    delete_model_keys(c);
    rcm_client_close(c);
}

/* The smallest form of the order guarantee: one key written and read back again and
 * again, with a command for another node between the two each time. */
static void test_pipeline__same_key_order_across_interleaved_nodes(void **state) {
    (void)state;
    assert_int_equal(cu_cluster_read(cu_port(0), &cl), 0);
    rcm_client *c = cu_open_ok(NULL);
    int prim[3];
    assert_int_equal(cu_primaries(&cl, prim, 3), 3);
    char mine[32], other[32];
    int n = 0;
    cu_key_on(&cl, cl.nodes[prim[0]].port, "plorder:", &n, mine, sizeof mine);
    cu_key_on(&cl, cl.nodes[prim[1]].port, "plorder:", &n, other, sizeof other);
    rcm_reply *r = tu_cmd_ok(c, "SET", other, "x", NULL);
    rcm_reply_free(r);
    enum { ROUNDS = 300 };
    rcm_pipeline *p = NULL;
    TU_ASSERT_RC(rcm_pipeline_new(c, &p), RCM_OK);
    for (int i = 0; i < ROUNDS; i++) {
        char v[16];
        snprintf(v, sizeof v, "%d", i);
        const char *set[] = {"SET", mine, v}, *get_other[] = {"GET", other}, *get[] = {"GET", mine};
        TU_ASSERT_RC(rcm_pipeline_append(p, 3, set, NULL), RCM_OK);
        TU_ASSERT_RC(rcm_pipeline_append(p, 2, get_other, NULL), RCM_OK);
        TU_ASSERT_RC(rcm_pipeline_append(p, 2, get, NULL), RCM_OK);
    }
    rcm_reply **replies = NULL;
    size_t nr = 0;
    TU_ASSERT_RC(rcm_pipeline_exec(p, &replies, &nr), RCM_OK);
    assert_int_equal(nr, 3 * ROUNDS);
    int bad = 0;
    char first[200] = "";
    for (int i = 0; i < ROUNDS; i++) {
        char v[16];
        snprintf(v, sizeof v, "%d", i);
        if (!tu_is_cstring(replies[3 * i + 2], v) && bad++ == 0)
            snprintf(first, sizeof first, "round %d: GET %s after SET %s %s: %s", i, mine, mine, v,
                     tu_describe(replies[3 * i + 2]));
    }
    for (size_t i = 0; i < nr; i++) rcm_reply_free(replies[i]);
    rcm_free(replies);
    rcm_pipeline_free(p);
    if (bad) fail_msg("%d of %d GETs did not read the SET just before them (first: %s)", bad, ROUNDS, first);
    rcm_client_close(c);
}

static rcm_status run_pipeline(rcm_client *c, int n, const char *const cmds[][5], const int *argcs, rcm_reply ***replies,
                               size_t *nr) {
    rcm_pipeline *p = NULL;
    TU_ASSERT_RC(rcm_pipeline_new(c, &p), RCM_OK);
    for (int i = 0; i < n; i++) {
        rcm_status st = rcm_pipeline_append(p, argcs[i], cmds[i], NULL);
        if (st != RCM_OK) {
            rcm_pipeline_free(p);
            return st;
        }
    }
    rcm_status st = rcm_pipeline_exec(p, replies, nr);
    rcm_pipeline_free(p);
    return st;
}

static void free_replies(rcm_reply **replies, size_t n) {
    for (size_t i = 0; i < n; i++) rcm_reply_free(replies[i]);
    rcm_free(replies);
}

static void test_pipeline__transaction_in_one_slot(void **state) {
    (void)state;
    assert_int_equal(cu_cluster_read(cu_port(0), &cl), 0);
    rcm_client *c = cu_open_ok(NULL);
    rcm_reply *r = tu_cmd_ok(c, "DEL", "{pltx}:a", "{pltx}:b", NULL);
    rcm_reply_free(r);
    int owner = cu_owner_port(&cl, cu_key_slot("pltx", 4));
    long long exec_before = cu_cmdstat_of(owner, "exec").calls;
    const char *const cmds[][5] = {
        {"MULTI"}, {"SET", "{pltx}:a", "1"}, {"INCR", "{pltx}:a"}, {"GET", "{pltx}:b"}, {"EXEC"},
    };
    const int argcs[] = {1, 3, 2, 2, 1};
    rcm_reply **replies = NULL;
    size_t n = 0;
    TU_ASSERT_RC(run_pipeline(c, 5, cmds, argcs, &replies, &n), RCM_OK);
    assert_int_equal(n, 5);
    TU_ASSERT_STATUS_REPLY(replies[0], "OK");
    for (int i = 1; i < 4; i++) TU_ASSERT_STATUS_REPLY(replies[i], "QUEUED");
    const rcm_reply *e = replies[4];
    if (rcm_reply_type(e) != RCM_REPLY_ARRAY || rcm_reply_length(e) != 3) fail_msg("EXEC: %s", tu_describe(e));
    TU_ASSERT_STATUS_REPLY(rcm_reply_element(e, 0), "OK");
    TU_ASSERT_INT_REPLY(rcm_reply_element(e, 1), 2);
    if (rcm_reply_type(rcm_reply_element(e, 2)) != RCM_REPLY_NIL) fail_msg("EXEC[2]: %s", tu_describe(rcm_reply_element(e, 2)));
    free_replies(replies, n);
    long long exec_after = cu_cmdstat_of(owner, "exec").calls;
    if (exec_after != exec_before + 1) fail_msg("EXEC ran %lld times on the slot's owner %d", exec_after - exec_before, owner);
    char *out = cu_cli(owner, "GET '{pltx}:a'");
    assert_non_null(out);
    assert_int_equal(atoi(out), 2);
    free(out);
    rcm_client_close(c);
}

static long long primaries_count(const char *command) {
    int prim[3];
    int np = cu_primaries(&cl, prim, 3);
    long long sum = 0;
    for (int i = 0; i < np; i++) {
        cu_cmdstat s = cu_cmdstat_of(cl.nodes[prim[i]].port, command);
        sum += s.calls + s.rejected + s.failed;
    }
    return sum;
}

static void test_pipeline__transaction_across_slots_is_crossslot(void **state) {
    (void)state;
    assert_int_equal(cu_cluster_read(cu_port(0), &cl), 0);
    rcm_client *c = cu_open_ok(NULL);
    char ka[32], kb[32];
    int n = 0;
    int prim[3];
    assert_int_equal(cu_primaries(&cl, prim, 3), 3);
    cu_key_on(&cl, cl.nodes[prim[0]].port, "pltxa:", &n, ka, sizeof ka);
    cu_key_on(&cl, cl.nodes[prim[2]].port, "pltxb:", &n, kb, sizeof kb);
    rcm_reply *r = tu_cmd_ok(c, "DEL", ka, kb, NULL);
    rcm_reply_free(r);
    long long multi_before = primaries_count("multi"), set_before = primaries_count("set");
    const char *const cmds[][5] = {{"MULTI"}, {"SET", ka, "1"}, {"SET", kb, "2"}, {"EXEC"}};
    const int argcs[] = {1, 3, 3, 1};
    rcm_reply **replies = (rcm_reply **)(void *)&r;
    size_t nr = 99;
    rcm_status st = run_pipeline(c, 4, cmds, argcs, &replies, &nr);
    if (st != RCM_ERR_CROSSSLOT) fail_msg("MULTI/SET %s/SET %s/EXEC: expected RCM_ERR_CROSSSLOT, got %s", ka, kb, rcm_status_name(st));
    assert_null(replies);
    assert_int_equal(nr, 0);
    tu_sleep_ms(200);
    if (primaries_count("multi") != multi_before || primaries_count("set") != set_before)
        fail_msg("part of a refused transaction reached a primary");
    r = tu_cmd_ok(c, "EXISTS", ka, kb, NULL);
    TU_ASSERT_INT_REPLY(r, 0);
    rcm_reply_free(r);
    rcm_client_close(c);
}

/* rcm.h: "MULTI ... EXEC in a pipeline is allowed when all its keys are in one slot" --
 * the transaction's keys; commands outside it may go anywhere. */
static void test_pipeline__transaction_beside_commands_on_other_slots(void **state) {
    (void)state;
    assert_int_equal(cu_cluster_read(cu_port(0), &cl), 0);
    rcm_client *c = cu_open_ok(NULL);
    char other[32];
    int n = 0;
    int tx_owner = cu_owner_port(&cl, cu_key_slot("pltx2", 5));
    int prim[3];
    assert_int_equal(cu_primaries(&cl, prim, 3), 3);
    int other_port = cl.nodes[prim[0]].port == tx_owner ? cl.nodes[prim[1]].port : cl.nodes[prim[0]].port;
    cu_key_on(&cl, other_port, "plother:", &n, other, sizeof other);
    rcm_reply *r = tu_cmd_ok(c, "SET", other, "outside", NULL);
    rcm_reply_free(r);
    const char *const cmds[][5] = {{"GET", other}, {"MULTI"}, {"SET", "{pltx2}:a", "5"}, {"INCR", "{pltx2}:a"}, {"EXEC"},
                                   {"GET", other}};
    const int argcs[] = {2, 1, 3, 2, 1, 2};
    rcm_reply **replies = NULL;
    size_t nr = 0;
    rcm_status st = run_pipeline(c, 6, cmds, argcs, &replies, &nr);
    if (st != RCM_OK)
        fail_msg("GET (other slot) + MULTI/SET/INCR/EXEC in slot of {pltx2} + GET (other slot): %s '%s'",
                 rcm_status_name(st), rcm_last_error());
    assert_int_equal(nr, 6);
    TU_ASSERT_CSTRING_REPLY(replies[0], "outside");
    TU_ASSERT_STATUS_REPLY(replies[1], "OK");
    TU_ASSERT_STATUS_REPLY(replies[2], "QUEUED");
    TU_ASSERT_STATUS_REPLY(replies[3], "QUEUED");
    if (rcm_reply_type(replies[4]) != RCM_REPLY_ARRAY || rcm_reply_length(replies[4]) != 2 ||
        !tu_is_integer(rcm_reply_element(replies[4], 1), 6))
        fail_msg("EXEC: %s", tu_describe(replies[4]));
    TU_ASSERT_CSTRING_REPLY(replies[5], "outside");
    free_replies(replies, nr);
    rcm_client_close(c);
}

/* A slot moves to another primary after the client learned the map: the command queued
 * in MULTI gets MOVED, the server aborts the EXEC, and rcm sends the whole block again to
 * the new owner. Nothing of the transaction may run outside it (a MOVED command resent
 * alone would), and the caller gets the transaction's real result. */
static void test_pipeline__transaction_follows_a_moved_slot(void **state) {
    (void)state;
    assert_int_equal(cu_cluster_read(cu_port(0), &cl), 0);
    rcm_client *c = cu_open_ok(NULL);
    /* An empty slot (keys cannot stay behind when its owner changes). */
    char tag[32], k[48], ctr[48];
    int slot = -1, from_port = -1;
    for (int i = 0; i < 1000 && slot < 0; i++) {
        snprintf(tag, sizeof tag, "pltxmv%d", i);
        int s = cu_key_slot(tag, strlen(tag));
        int owner = cu_owner_port(&cl, s);
        char *out = cu_cli(owner, "CLUSTER COUNTKEYSINSLOT %d", s);
        if (out && atoi(out) == 0) {
            slot = s;
            from_port = owner;
        }
        free(out);
    }
    assert_true(slot >= 0);
    snprintf(k, sizeof k, "{%s}:k", tag);
    snprintf(ctr, sizeof ctr, "{%s}:n", tag);
    int prim[3];
    assert_int_equal(cu_primaries(&cl, prim, 3), 3);
    int to_port = cl.nodes[prim[0]].port == from_port ? cl.nodes[prim[1]].port : cl.nodes[prim[0]].port;
    rcm_reply *r = tu_cmd_ok(c, "GET", k, NULL); /* the client knows the slot's owner */
    rcm_reply_free(r);
    long long moved_before = cu_stats_sum(c, "moved");

    char why[256];
    if (cu_setslot_node_everywhere(slot, from_port, to_port, why, sizeof why) != 0) fail_msg("moving slot %d: %s", slot, why);
    if (!cu_wait_owner_everywhere(slot, to_port, 20)) fail_msg("not every node names %d the owner of slot %d", to_port, slot);

    const char *const cmds[][5] = {{"MULTI"}, {"SET", k, "in-tx"}, {"INCR", ctr}, {"EXEC"}};
    const int argcs[] = {1, 3, 2, 1};
    rcm_reply **replies = NULL;
    size_t nr = 0;
    rcm_status st = run_pipeline(c, 4, cmds, argcs, &replies, &nr);
    if (st != RCM_OK) fail_msg("MULTI/SET/INCR/EXEC after slot %d moved: %s '%s'", slot, rcm_status_name(st), rcm_last_error());
    assert_int_equal(nr, 4);
    TU_ASSERT_STATUS_REPLY(replies[0], "OK");
    TU_ASSERT_STATUS_REPLY(replies[1], "QUEUED");
    TU_ASSERT_STATUS_REPLY(replies[2], "QUEUED");
    if (rcm_reply_type(replies[3]) != RCM_REPLY_ARRAY || rcm_reply_length(replies[3]) != 2 ||
        !tu_is_integer(rcm_reply_element(replies[3], 1), 1))
        fail_msg("EXEC after slot %d moved from %d to %d: %s", slot, from_port, to_port, tu_describe(replies[3]));
    free_replies(replies, nr);
    /* The client did meet the MOVED (the scenario happened), and the writes are on the
     * new owner, once. */
    if (cu_stats_sum(c, "moved") <= moved_before) fail_msg("no MOVED was seen: the slot move did not reach the client's path");
    char *out = cu_cli(to_port, "GET %s", k);
    if (!out || strncmp(out, "in-tx", 5) != 0) fail_msg("GET %s on the new owner %d: %s", k, to_port, out ? out : "(cli failed)");
    free(out);
    out = cu_cli(to_port, "GET %s", ctr);
    if (!out || atoi(out) != 1) fail_msg("GET %s on the new owner %d: %s (the INCR ran more than once?)", ctr, to_port, out ? out : "(cli failed)");
    free(out);

    /* Put the slot back, empty. */
    r = tu_cmd_ok(c, "DEL", k, ctr, NULL);
    rcm_reply_free(r);
    if (cu_setslot_node_everywhere(slot, to_port, from_port, why, sizeof why) != 0) fail_msg("moving slot %d back: %s", slot, why);
    if (!cu_wait_owner_everywhere(slot, from_port, 20)) fail_msg("slot %d did not return to %d everywhere", slot, from_port);

    /* The client still names the other node for it: a command outside a transaction in
     * the same pipeline follows the MOVED as usual (only the block is kept whole). */
    out = cu_cli(from_port, "SET %s back", k);
    free(out);
    char other[48];
    snprintf(other, sizeof other, "{%s}:n", "pltxmv-other");
    const char *const cmds2[][5] = {{"GET", k}, {"MULTI"}, {"INCR", other}, {"EXEC"}};
    const int argcs2[] = {2, 1, 2, 1};
    replies = NULL;
    nr = 0;
    st = run_pipeline(c, 4, cmds2, argcs2, &replies, &nr);
    if (st != RCM_OK) fail_msg("GET + MULTI/INCR/EXEC: %s '%s'", rcm_status_name(st), rcm_last_error());
    assert_int_equal(nr, 4);
    if (!tu_is_cstring(replies[0], "back"))
        fail_msg("GET %s beside a transaction after slot %d moved back: %s (the MOVED was not followed)", k, slot,
                 tu_describe(replies[0]));
    if (rcm_reply_type(replies[3]) != RCM_REPLY_ARRAY) fail_msg("EXEC: %s", tu_describe(replies[3]));
    free_replies(replies, nr);
    r = tu_cmd_ok(c, "DEL", k, other, NULL);
    rcm_reply_free(r);
    rcm_client_close(c);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pipeline__10000_mixed_slot_commands_in_order),
        cmocka_unit_test(test_pipeline__same_key_order_across_interleaved_nodes),
        cmocka_unit_test(test_pipeline__transaction_in_one_slot),
        cmocka_unit_test(test_pipeline__transaction_across_slots_is_crossslot),
        cmocka_unit_test(test_pipeline__transaction_beside_commands_on_other_slots),
        cmocka_unit_test(test_pipeline__transaction_follows_a_moved_slot),
    };
    return TU_RUN(tests, argc, argv);
}
