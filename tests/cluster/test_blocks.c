/* cluster.blocks: a MULTI ... EXEC block goes where its MULTI goes, whole.
 *  - with read_from=replica or prefer_replica, a read queued inside a transaction runs in
 *    it, on the primary (not at once on a replica);
 *  - a pipeline of transactions that waits for its slot's owner (the slot has none for a
 *    while) is sent whole on one connection once the owner is known: no EXEC lands on
 *    another connection than its MULTI, none stays inside MULTI;
 *  - what waits for an owner is bounded by pool.max_pending (RCM_ERR_BACKPRESSURE).
 * The owner-less slot is made with CLUSTER DELSLOTS on every node and given back to its
 * primary with CLUSTER ADDSLOTS (also in the teardown, should a test fail half-way). */
#define _GNU_SOURCE
#include "cluster_util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cu_cluster cl;
static int hole_slot = -1;  /* a slot without owner while >= 0 */
static int hole_owner_port;

static void read_cluster(void) {
    cu_assert_healthy_ok(60);
    assert_int_equal(cu_cluster_read(cu_port(0), &cl), 0);
}

static void hole_open(int slot, int owner_port) {
    hole_slot = slot;
    hole_owner_port = owner_port;
    for (int i = 0; i < CU_NODES; i++) free(cu_cli(cu_port(i), "CLUSTER DELSLOTS %d", slot));
    cu_log("slot %d has no owner now\n", slot);
}

static void hole_close(void) {
    if (hole_slot < 0) return;
    free(cu_cli(hole_owner_port, "CLUSTER ADDSLOTS %d", hole_slot));
    if (!cu_wait_owner_everywhere(hole_slot, hole_owner_port, 30))
        fail_msg("slot %d not back on %d everywhere", hole_slot, hole_owner_port);
    cu_log("slot %d back on %d\n", hole_slot, hole_owner_port);
    hole_slot = -1;
}

static int teardown(void **state) {
    (void)state;
    hole_close();
    cu_assert_healthy_ok(60);
    return 0;
}

/* An rcm failure (not a server reply): status set, type error. */
static int clean_failure(const rcm_reply *r) {
    return r != NULL && rcm_reply_type(r) == RCM_REPLY_ERROR && rcm_reply_status(r) != RCM_OK;
}

/* No connection to the node on port is inside MULTI (CLIENT LIST: multi=-1 for all). */
static void assert_no_connection_in_multi(int port) {
    char *list = cu_cli(port, "CLIENT LIST");
    assert_non_null(list);
    for (const char *p = strstr(list, "multi="); p != NULL; p = strstr(p + 1, "multi="))
        if (strncmp(p, "multi=-1", 8) != 0) fail_msg("a connection to %d is inside MULTI:\n%s", port, list);
    free(list);
}

/* ---- read_from: reads inside a transaction ------------------------------------------ */

static void transaction_with_a_read(const char *read_from) {
    rcm_client *c = cu_open_ok("read_from", read_from, NULL);
    char tag[32], k[64], n[64];
    cu_tag_on(&cl, cu_port(0), "rtx", tag, sizeof tag);
    snprintf(k, sizeof k, "{%s}k", tag);
    snprintf(n, sizeof n, "{%s}n", tag);
    rcm_reply_free(tu_cmd_ok(c, "SET", k, "v", NULL));
    rcm_reply_free(tu_cmd_ok(c, "DEL", n, NULL));
    rcm_pipeline *p = NULL;
    TU_ASSERT_RC(rcm_pipeline_new(c, &p), RCM_OK);
    const char *multi[] = {"MULTI"}, *get[] = {"GET", k}, *incr[] = {"INCR", n}, *exec[] = {"EXEC"};
    TU_ASSERT_RC(rcm_pipeline_append(p, 1, multi, NULL), RCM_OK);
    TU_ASSERT_RC(rcm_pipeline_append(p, 2, get, NULL), RCM_OK);
    TU_ASSERT_RC(rcm_pipeline_append(p, 2, incr, NULL), RCM_OK);
    TU_ASSERT_RC(rcm_pipeline_append(p, 1, exec, NULL), RCM_OK);
    rcm_reply **rs = NULL;
    size_t nr = 0;
    TU_ASSERT_RC(rcm_pipeline_exec(p, &rs, &nr), RCM_OK);
    rcm_pipeline_free(p);
    assert_int_equal(nr, 4);
    TU_ASSERT_STATUS_REPLY(rs[0], "OK");
    if (!tu_is_status(rs[1], "QUEUED")) fail_msg("read_from=%s: GET inside MULTI: %s", read_from, tu_describe(rs[1]));
    TU_ASSERT_STATUS_REPLY(rs[2], "QUEUED");
    const rcm_reply *e = rs[3];
    if (rcm_reply_type(e) != RCM_REPLY_ARRAY || rcm_reply_length(e) != 2)
        fail_msg("read_from=%s: EXEC: %s (expected [\"v\", 1])", read_from, tu_describe(e));
    if (!tu_is_cstring(rcm_reply_element(e, 0), "v") || !tu_is_integer(rcm_reply_element(e, 1), 1))
        fail_msg("read_from=%s: EXEC: %s (expected [\"v\", 1])", read_from, tu_describe(e));
    for (size_t i = 0; i < nr; i++) rcm_reply_free(rs[i]);
    rcm_free(rs);
    rcm_client_close(c);
}

static void test_blocks__reads_in_a_transaction_run_in_it_on_the_primary(void **state) {
    (void)state;
    read_cluster();
    transaction_with_a_read("replica");
    transaction_with_a_read("prefer_replica");
}

/* ---- a pipeline of transactions waiting for its slot's owner --------------------------- */

#define TX_BLOCKS 5
#define TX_INCRS 8

struct tx_job {
    rcm_client *client;
    char key[64];
    rcm_status status;
    rcm_reply **replies;
    size_t n;
};

static void *tx_main(void *arg) {
    struct tx_job *j = arg;
    rcm_pipeline *p = NULL;
    j->status = rcm_pipeline_new(j->client, &p);
    if (j->status != RCM_OK) return NULL;
    const char *multi[] = {"MULTI"}, *incr[] = {"INCR", j->key}, *exec[] = {"EXEC"};
    for (int b = 0; b < TX_BLOCKS; b++) {
        rcm_pipeline_append(p, 1, multi, NULL);
        for (int i = 0; i < TX_INCRS; i++) rcm_pipeline_append(p, 2, incr, NULL);
        rcm_pipeline_append(p, 1, exec, NULL);
    }
    j->status = rcm_pipeline_exec(p, &j->replies, &j->n);
    rcm_pipeline_free(p);
    return NULL;
}

/* Five blocks of ten commands (50 requests) wait for the owner: once it is known they
 * leave together. Sent one by one, the 34th would go to the pool's other connection
 * (least loaded), cutting the fourth block: its EXEC answered "EXEC without MULTI" there,
 * its MULTI left open here. */
static void test_blocks__transactions_waiting_for_an_owner_stay_on_one_connection(void **state) {
    (void)state;
    read_cluster();
    int owner = cu_port(0);
    char tag[32];
    int slot = cu_tag_on(&cl, owner, "wtx", tag, sizeof tag);
    struct tx_job j;
    memset(&j, 0, sizeof j);
    snprintf(j.key, sizeof j.key, "{%s}n", tag);
    free(cu_cli(owner, "DEL '%s'", j.key));
    hole_open(slot, owner);
    j.client = cu_open_ok("pool.size", "2", "io_threads", "1", "command_timeout_ms", "30000", NULL);
    tu_watchdog_arm(90, "transactions waiting for an owner");
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, tx_main, &j), 0);
    tu_sleep_ms(1000); /* it waits: no node serves the slot */
    hole_close();
    pthread_join(t, NULL);
    tu_watchdog_disarm();
    TU_ASSERT_RC(j.status, RCM_OK);
    assert_int_equal(j.n, TX_BLOCKS * (TX_INCRS + 2));
    for (int b = 0; b < TX_BLOCKS; b++) {
        rcm_reply **blk = j.replies + b * (TX_INCRS + 2);
        if (!tu_is_status(blk[0], "OK")) fail_msg("block %d: MULTI: %s", b, tu_describe(blk[0]));
        for (int i = 1; i <= TX_INCRS; i++)
            if (!tu_is_status(blk[i], "QUEUED")) fail_msg("block %d: INCR %d: %s", b, i, tu_describe(blk[i]));
        const rcm_reply *e = blk[TX_INCRS + 1];
        if (rcm_reply_type(e) != RCM_REPLY_ARRAY || rcm_reply_length(e) != TX_INCRS)
            fail_msg("block %d: EXEC: %s%s", b, tu_describe(e), clean_failure(e) ? "" : " (the block was split)");
        for (int i = 0; i < TX_INCRS; i++)
            if (!tu_is_integer(rcm_reply_element(e, (size_t)i), (long long)b * TX_INCRS + i + 1))
                fail_msg("block %d: EXEC element %d: %s", b, i, tu_describe(rcm_reply_element(e, (size_t)i)));
    }
    for (size_t i = 0; i < j.n; i++) rcm_reply_free(j.replies[i]);
    rcm_free(j.replies);
    assert_no_connection_in_multi(owner);
    rcm_client_close(j.client);
}

/* ---- pool.max_pending bounds what waits for an owner ----------------------------------- */

#define BP_SENT 20
#define BP_LIMIT 8

static atomic_int bp_done, bp_backpressure, bp_ok;
static char bp_message[256];

static void bp_cb(rcm_status st, rcm_reply *r, void *ud) {
    (void)ud;
    if (st == RCM_ERR_BACKPRESSURE) {
        if (atomic_fetch_add(&bp_backpressure, 1) == 0) {
            size_t len = 0;
            const char *s = rcm_reply_string(r, &len);
            snprintf(bp_message, sizeof bp_message, "%.*s", (int)len, s ? s : "");
        }
    } else if (st == RCM_OK) {
        atomic_fetch_add(&bp_ok, 1);
    }
    rcm_reply_free(r);
    atomic_fetch_add(&bp_done, 1);
}

static void test_blocks__requests_waiting_for_an_owner_are_bounded_by_max_pending(void **state) {
    (void)state;
    read_cluster();
    int owner = cu_port(0);
    char tag[32], key[64];
    int slot = cu_tag_on(&cl, owner, "bp", tag, sizeof tag);
    snprintf(key, sizeof key, "{%s}k", tag);
    hole_open(slot, owner);
    rcm_client *c = cu_open_ok("pool.max_pending", "8", "command_timeout_ms", "30000", NULL);
    tu_watchdog_arm(90, "requests waiting for an owner");
    for (int i = 0; i < BP_SENT; i++) {
        const char *argv[] = {"GET", key};
        TU_ASSERT_RC(rcm_command_async(c, 2, argv, NULL, bp_cb, NULL), RCM_OK);
    }
    /* Those over the bound fail at once, long before their deadline. */
    double until = tu_now() + 10;
    while (atomic_load(&bp_done) < BP_SENT - BP_LIMIT && tu_now() < until) tu_sleep_ms(20);
    if (atomic_load(&bp_backpressure) != BP_SENT - BP_LIMIT)
        fail_msg("%d of %d requests for an owner-less slot failed with RCM_ERR_BACKPRESSURE (pool.max_pending=%d), "
                 "expected %d",
                 atomic_load(&bp_backpressure), BP_SENT, BP_LIMIT, BP_SENT - BP_LIMIT);
    if (strstr(bp_message, "pool.max_pending") == NULL) fail_msg("message: '%s'", bp_message);
    /* The others still wait, and run once the slot has an owner. */
    hole_close();
    until = tu_now() + 30;
    while (atomic_load(&bp_done) < BP_SENT && tu_now() < until) tu_sleep_ms(20);
    tu_watchdog_disarm();
    assert_int_equal(atomic_load(&bp_done), BP_SENT);
    assert_int_equal(atomic_load(&bp_ok), BP_LIMIT);
    rcm_client_close(c);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_blocks__reads_in_a_transaction_run_in_it_on_the_primary, teardown),
        cmocka_unit_test_teardown(test_blocks__transactions_waiting_for_an_owner_stay_on_one_connection, teardown),
        cmocka_unit_test_teardown(test_blocks__requests_waiting_for_an_owner_are_bounded_by_max_pending, teardown),
    };
    return TU_RUN(tests, argc, argv);
}
