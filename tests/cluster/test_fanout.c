/* cluster.fanout: keyless commands follow the table of rcm.h. FLUSHDB and SCRIPT LOAD
 * reach every primary (checked on each with valkey-cli), DBSIZE is the sum of the
 * primaries' DBSIZE, KEYS is the union of their KEYS, PING reaches exactly one node. */
#define _GNU_SOURCE
#include "cluster_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static cu_cluster cl;
static int prim[3];

static long long cli_ll(int port, const char *cmd) {
    char *out = cu_cli(port, "%s", cmd);
    if (!out) fail_msg("valkey-cli -p %d %s failed", port, cmd);
    long long v = atoll(out);
    free(out);
    return v;
}

static void write_keys(rcm_client *c, const char *prefix, int n) {
    for (int i = 0; i < n; i++) {
        char key[64];
        snprintf(key, sizeof key, "%s%d", prefix, i);
        rcm_reply *r = tu_cmd_ok(c, "SET", key, "x", NULL);
        TU_ASSERT_STATUS_REPLY(r, "OK");
        rcm_reply_free(r);
    }
}

static void setup_cluster(void) {
    assert_int_equal(cu_cluster_read(cu_port(0), &cl), 0);
    assert_int_equal(cu_primaries(&cl, prim, 3), 3);
}

static void test_fanout__flushdb_reaches_every_primary(void **state) {
    (void)state;
    setup_cluster();
    rcm_client *c = cu_open_ok(NULL);
    write_keys(c, "fanflush:", 300);
    for (int p = 0; p < 3; p++)
        if (cli_ll(cl.nodes[prim[p]].port, "DBSIZE") == 0) fail_msg("primary %d got none of 300 keys", cl.nodes[prim[p]].port);
    rcm_reply *r = tu_cmd_ok(c, "FLUSHDB", NULL);
    TU_ASSERT_STATUS_REPLY(r, "OK");
    rcm_reply_free(r);
    for (int p = 0; p < 3; p++) {
        long long n = cli_ll(cl.nodes[prim[p]].port, "DBSIZE");
        if (n != 0) fail_msg("primary %d still has %lld keys after FLUSHDB through rcm", cl.nodes[prim[p]].port, n);
    }
    rcm_client_close(c);
}

static void test_fanout__dbsize_is_summed_and_keys_merged(void **state) {
    (void)state;
    setup_cluster();
    rcm_client *c = cu_open_ok(NULL);
    rcm_reply *r = tu_cmd_ok(c, "FLUSHDB", NULL);
    rcm_reply_free(r);
    write_keys(c, "fankeys:", 123);
    write_keys(c, "{fantag}:", 7);
    long long sum = 0;
    for (int p = 0; p < 3; p++) sum += cli_ll(cl.nodes[prim[p]].port, "DBSIZE");
    assert_int_equal(sum, 130);
    r = tu_cmd_ok(c, "DBSIZE", NULL);
    TU_ASSERT_INT_REPLY(r, sum);
    rcm_reply_free(r);

    r = tu_cmd_ok(c, "KEYS", "fankeys:*", NULL);
    if (rcm_reply_type(r) != RCM_REPLY_ARRAY || rcm_reply_length(r) != 123) fail_msg("KEYS fankeys:*: %s", tu_describe(r));
    static unsigned char seen[123];
    memset(seen, 0, sizeof seen);
    for (size_t i = 0; i < rcm_reply_length(r); i++) {
        const char *k = cu_str(rcm_reply_element(r, i));
        if (!k || strncmp(k, "fankeys:", 8) != 0) fail_msg("KEYS element %zu: %s", i, tu_describe(rcm_reply_element(r, i)));
        int n = atoi(k + 8);
        if (n < 0 || n >= 123 || seen[n]++) fail_msg("KEYS element %s is unexpected or repeated", k);
    }
    rcm_reply_free(r);
    /* The same set as the primaries' own KEYS. */
    int total = 0;
    for (int p = 0; p < 3; p++) {
        char *out = cu_cli(cl.nodes[prim[p]].port, "KEYS 'fankeys:*'");
        assert_non_null(out);
        char *save = NULL;
        for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            int n = atoi(line + 8);
            if (n < 0 || n >= 123 || seen[n] != 1) fail_msg("primary's key %s not in rcm's KEYS reply", line);
            seen[n]++;
            total++;
        }
        free(out);
    }
    assert_int_equal(total, 123);
    r = tu_cmd_ok(c, "FLUSHDB", NULL);
    rcm_reply_free(r);
    rcm_client_close(c);
}

static void test_fanout__script_load_reaches_every_primary(void **state) {
    (void)state;
    setup_cluster();
    rcm_client *c = cu_open_ok(NULL);
    rcm_reply *r = tu_cmd_ok(c, "SCRIPT", "FLUSH", NULL);
    TU_ASSERT_STATUS_REPLY(r, "OK");
    rcm_reply_free(r);
    char body[128];
    snprintf(body, sizeof body, "return 'fanout-%d-' .. (KEYS[1] or 'none')", (int)getpid());
    r = tu_cmd_ok(c, "SCRIPT", "LOAD", body, NULL);
    const char *s = cu_str(r);
    if (!s || strlen(s) != 40) fail_msg("SCRIPT LOAD: %s", tu_describe(r));
    char sha[41];
    snprintf(sha, sizeof sha, "%s", s);
    rcm_reply_free(r);

    /* Every primary has it, through rcm... */
    rcm_route all = {RCM_ROUTE_ALL_PRIMARIES, 0, NULL, 0, NULL};
    TU_ASSERT_RC(cu_routed(c, &all, &r, "SCRIPT", "EXISTS", sha, NULL), RCM_OK);
    if (rcm_reply_type(r) != RCM_REPLY_ARRAY || rcm_reply_length(r) != 3) fail_msg("SCRIPT EXISTS on all primaries: %s", tu_describe(r));
    for (size_t i = 0; i < 3; i++) {
        const rcm_reply *pair = rcm_reply_element(r, i);
        const rcm_reply *ans = rcm_reply_element(pair, 1);
        if (rcm_reply_type(ans) != RCM_REPLY_ARRAY || !tu_is_integer(rcm_reply_element(ans, 0), 1))
            fail_msg("SCRIPT EXISTS on %s: %s", cu_str(rcm_reply_element(pair, 0)), tu_describe(rcm_reply_element(ans, 0)));
    }
    rcm_reply_free(r);
    /* ...and according to each of them. */
    for (int p = 0; p < 3; p++) {
        char *out = cu_cli(cl.nodes[prim[p]].port, "SCRIPT EXISTS %s", sha);
        assert_non_null(out);
        if (atoi(out) != 1) fail_msg("primary %d does not have the script: '%s'", cl.nodes[prim[p]].port, out);
        free(out);
    }
    /* EVALSHA works for a key on any primary. */
    for (int i = 0; i < 30; i++) {
        char key[32], want[96];
        snprintf(key, sizeof key, "fanscript:%d", i);
        snprintf(want, sizeof want, "fanout-%d-%s", (int)getpid(), key);
        r = tu_cmd_ok(c, "EVALSHA", sha, "1", key, NULL);
        TU_ASSERT_CSTRING_REPLY(r, want);
        rcm_reply_free(r);
    }
    r = tu_cmd_ok(c, "SCRIPT", "FLUSH", NULL);
    rcm_reply_free(r);
    rcm_client_close(c);
}

static void test_fanout__ping_goes_to_one_node(void **state) {
    (void)state;
    setup_cluster();
    rcm_client *c = cu_open_ok("pool.health_check_ms", "0", NULL);
    /* Connections to every primary are open before counting. */
    write_keys(c, "fanping:", 30);
    tu_sleep_ms(200);
    assert_int_equal(cu_reset_stats_all(), 0);
    rcm_reply *r = tu_cmd_ok(c, "PING", NULL);
    TU_ASSERT_STATUS_REPLY(r, "PONG");
    rcm_reply_free(r);
    long long pings = 0;
    for (int p = 0; p < 3; p++) pings += cu_cmdstat_of(cl.nodes[prim[p]].port, "ping").calls;
    if (pings != 1) fail_msg("one PING through rcm reached the primaries %lld times", pings);
    rcm_client_close(c);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fanout__flushdb_reaches_every_primary),
        cmocka_unit_test(test_fanout__dbsize_is_summed_and_keys_merged),
        cmocka_unit_test(test_fanout__script_load_reaches_every_primary),
        cmocka_unit_test(test_fanout__ping_goes_to_one_node),
    };
    return TU_RUN(tests, argc, argv);
}
