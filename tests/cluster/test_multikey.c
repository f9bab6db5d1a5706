/* cluster.multikey: MGET, MSET, DEL, UNLINK, EXISTS and TOUCH whose keys span slots are
 * split per slot and put back together in the caller's order: missing keys are nil in
 * their place, duplicates keep their positions (and count as a single server counts
 * them), and each primary received its part (INFO commandstats). */
#define _GNU_SOURCE
#include "cluster_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NK 40

static cu_cluster cl;
static char keys[NK][32];
static char vals[NK][32];

static void set_all(rcm_client *c) {
    const char *argv[1 + 2 * NK];
    argv[0] = "MSET";
    for (int i = 0; i < NK; i++) {
        snprintf(keys[i], sizeof keys[i], "mk:%d", i);
        snprintf(vals[i], sizeof vals[i], "value-%d", i);
        argv[1 + 2 * i] = keys[i];
        argv[2 + 2 * i] = vals[i];
    }
    rcm_reply *r = NULL;
    TU_ASSERT_RC(rcm_command(c, 1 + 2 * NK, argv, NULL, &r), RCM_OK);
    TU_ASSERT_STATUS_REPLY(r, "OK");
    rcm_reply_free(r);
}

static long long primaries_calls(const char *command) {
    long long sum = 0;
    int prim[3];
    int n = cu_primaries(&cl, prim, 3);
    for (int i = 0; i < n; i++) sum += cu_cmdstat_of(cl.nodes[prim[i]].port, command).calls;
    return sum;
}

static void test_multikey__mset_then_mget_in_caller_order(void **state) {
    (void)state;
    assert_int_equal(cu_cluster_read(cu_port(0), &cl), 0);
    rcm_client *c = cu_open_ok(NULL);
    int prim[3];
    assert_int_equal(cu_primaries(&cl, prim, 3), 3);
    long long mset_before[3];
    for (int p = 0; p < 3; p++) mset_before[p] = cu_cmdstat_of(cl.nodes[prim[p]].port, "mset").calls;
    rcm_reply *r = tu_cmd_ok(c, "DEL", "mk:missing:1", "mk:missing:2", NULL);
    rcm_reply_free(r);
    set_all(c);
    /* The keys span all three primaries and each got its part of the MSET. */
    for (int p = 0; p < 3; p++) {
        long long after = cu_cmdstat_of(cl.nodes[prim[p]].port, "mset").calls;
        if (after <= mset_before[p]) fail_msg("primary %d received no part of the MSET", cl.nodes[prim[p]].port);
    }
    /* Each value is on its owner (plain connection). */
    for (int i = 0; i < NK; i++) {
        int owner = cu_owner_port(&cl, cu_key_slot(keys[i], strlen(keys[i])));
        char *out = cu_cli(owner, "GET '%s'", keys[i]);
        assert_non_null(out);
        out[strcspn(out, "\n")] = 0;
        if (strcmp(out, vals[i]) != 0) fail_msg("GET %s on owner %d: '%s', expected %s", keys[i], owner, out, vals[i]);
        free(out);
    }

    /* MGET with missing keys and duplicates. */
    const char *order[] = {"MGET", keys[5], "mk:missing:1", keys[0], keys[5], keys[39], "mk:missing:2", keys[17],
                           keys[0], keys[22], keys[5]};
    int want[] = {5, -1, 0, 5, 39, -1, 17, 0, 22, 5};
    int argc = (int)(sizeof order / sizeof *order);
    long long mget_before = primaries_calls("mget");
    TU_ASSERT_RC(rcm_command(c, argc, order, NULL, &r), RCM_OK);
    if (rcm_reply_type(r) != RCM_REPLY_ARRAY || rcm_reply_length(r) != (size_t)(argc - 1))
        fail_msg("MGET of %d keys: %s", argc - 1, tu_describe(r));
    for (int i = 0; i < argc - 1; i++) {
        const rcm_reply *e = rcm_reply_element(r, (size_t)i);
        if (want[i] < 0) {
            if (rcm_reply_type(e) != RCM_REPLY_NIL) fail_msg("MGET element %d (%s): %s, expected nil", i, order[i + 1], tu_describe(e));
        } else if (!tu_is_cstring(e, vals[want[i]])) {
            fail_msg("MGET element %d (%s): %s, expected %s", i, order[i + 1], tu_describe(e), vals[want[i]]);
        }
    }
    rcm_reply_free(r);
    long long mget_parts = primaries_calls("mget") - mget_before;
    if (mget_parts < 2) fail_msg("the MGET across slots reached the primaries %lld time(s): not split", mget_parts);

    /* A large MGET: every key, each twice, with a missing key between. */
    const char *big[1 + 3 * NK];
    big[0] = "MGET";
    for (int i = 0; i < NK; i++) {
        big[1 + 3 * i] = keys[NK - 1 - i];
        big[2 + 3 * i] = "mk:missing:1";
        big[3 + 3 * i] = keys[i];
    }
    TU_ASSERT_RC(rcm_command(c, 1 + 3 * NK, big, NULL, &r), RCM_OK);
    assert_int_equal(rcm_reply_type(r), RCM_REPLY_ARRAY);
    assert_int_equal(rcm_reply_length(r), 3 * NK);
    for (int i = 0; i < NK; i++) {
        if (!tu_is_cstring(rcm_reply_element(r, 3 * i), vals[NK - 1 - i]))
            fail_msg("big MGET element %d: %s", 3 * i, tu_describe(rcm_reply_element(r, 3 * i)));
        if (rcm_reply_type(rcm_reply_element(r, 3 * i + 1)) != RCM_REPLY_NIL)
            fail_msg("big MGET element %d: %s, expected nil", 3 * i + 1, tu_describe(rcm_reply_element(r, 3 * i + 1)));
        if (!tu_is_cstring(rcm_reply_element(r, 3 * i + 2), vals[i]))
            fail_msg("big MGET element %d: %s", 3 * i + 2, tu_describe(rcm_reply_element(r, 3 * i + 2)));
    }
    rcm_reply_free(r);

    /* MSET with a key given twice: the later value wins, as on one server. */
    r = tu_cmd_ok(c, "MSET", "mk:dup", "first", keys[3], "three", "mk:dup", "second", keys[30], "thirty", NULL);
    TU_ASSERT_STATUS_REPLY(r, "OK");
    rcm_reply_free(r);
    r = tu_cmd_ok(c, "MGET", "mk:dup", keys[3], keys[30], NULL);
    assert_int_equal(rcm_reply_length(r), 3);
    TU_ASSERT_CSTRING_REPLY(rcm_reply_element(r, 0), "second");
    TU_ASSERT_CSTRING_REPLY(rcm_reply_element(r, 1), "three");
    TU_ASSERT_CSTRING_REPLY(rcm_reply_element(r, 2), "thirty");
    rcm_reply_free(r);
    rcm_client_close(c);
}

static void test_multikey__counting_commands_sum_like_one_server(void **state) {
    (void)state;
    assert_int_equal(cu_cluster_read(cu_port(0), &cl), 0);
    rcm_client *c = cu_open_ok(NULL);
    set_all(c);
    rcm_reply *r;
    /* EXISTS and TOUCH count each occurrence: k0 twice, k1, k20 once, two missing. */
    r = tu_cmd_ok(c, "EXISTS", keys[0], keys[1], "mk:missing:1", keys[0], keys[20], "mk:missing:2", NULL);
    TU_ASSERT_INT_REPLY(r, 4);
    rcm_reply_free(r);
    r = tu_cmd_ok(c, "TOUCH", keys[0], keys[1], "mk:missing:1", keys[0], keys[20], NULL);
    TU_ASSERT_INT_REPLY(r, 4);
    rcm_reply_free(r);
    /* DEL and UNLINK count each key removed once. */
    r = tu_cmd_ok(c, "DEL", keys[0], keys[0], keys[1], "mk:missing:1", keys[20], keys[21], keys[21], NULL);
    TU_ASSERT_INT_REPLY(r, 4);
    rcm_reply_free(r);
    r = tu_cmd_ok(c, "UNLINK", keys[2], "mk:missing:2", keys[2], keys[33], keys[34], keys[35], keys[0], NULL);
    TU_ASSERT_INT_REPLY(r, 4);
    rcm_reply_free(r);
    r = tu_cmd_ok(c, "MGET", keys[0], keys[1], keys[2], keys[3], keys[20], keys[21], keys[33], keys[34], keys[35], keys[36], NULL);
    assert_int_equal(rcm_reply_length(r), 10);
    for (int i = 0; i < 10; i++) {
        int alive = (i == 3 || i == 9);
        const rcm_reply *e = rcm_reply_element(r, (size_t)i);
        if (alive ? !tu_is_cstring(e, i == 3 ? vals[3] : vals[36]) : rcm_reply_type(e) != RCM_REPLY_NIL)
            fail_msg("MGET after DEL/UNLINK, element %d: %s", i, tu_describe(e));
    }
    rcm_reply_free(r);
    /* Verified on the owners: deleted keys are gone. */
    int gone[] = {0, 1, 2, 20, 21, 33, 34, 35};
    for (size_t i = 0; i < sizeof gone / sizeof *gone; i++) {
        const char *k = keys[gone[i]];
        char *out = cu_cli(cu_owner_port(&cl, cu_key_slot(k, strlen(k))), "EXISTS '%s'", k);
        assert_non_null(out);
        if (atoi(out) != 0) fail_msg("%s still exists on its owner after DEL/UNLINK", k);
        free(out);
    }
    /* Everything left goes at once. */
    const char *argv[1 + NK];
    argv[0] = "DEL";
    for (int i = 0; i < NK; i++) argv[1 + i] = keys[i];
    TU_ASSERT_RC(rcm_command(c, 1 + NK, argv, NULL, &r), RCM_OK);
    TU_ASSERT_INT_REPLY(r, NK - 8);
    rcm_reply_free(r);
    rcm_client_close(c);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multikey__mset_then_mget_in_caller_order),
        cmocka_unit_test(test_multikey__counting_commands_sum_like_one_server),
    };
    return TU_RUN(tests, argc, argv);
}
