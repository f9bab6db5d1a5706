/* cluster.migration: a slot holding keys moves from one primary to another (CLUSTER
 * SETSLOT IMPORTING/MIGRATING, MIGRATE ... KEYS in small batches, CLUSTER SETSLOT NODE on
 * every primary) while 4 threads SET and GET keys in that slot and elsewhere: no request
 * fails, every GET reads what its thread wrote, and the client's stats count the ASK and
 * MOVED redirects it followed. The slot moves back afterwards (also when the test fails:
 * teardown).
 *
 * And TRYAGAIN from real nodes: while a slot's keys are split between the two primaries
 * (one migrated, the other not yet), a multi-key command on both gets TRYAGAIN; it is
 * retried within its deadline and answered once the migration ends, or ends with
 * RCM_ERR_TIMEOUT naming TRYAGAIN. */
#define _GNU_SOURCE
#include "cluster_util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PRELOAD 200

static struct {
    int slot;
    int home_port; /* where the slot lives in the harness's layout */
} mig = {-1, -1};

static int setup(void **state) {
    (void)state;
    char why[256];
    if (cu_restore_layout(why, sizeof why) != 0) {
        fprintf(stderr, "setup: the cluster is not in the harness's layout: %s\n", why);
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char why[256];
    if (mig.slot >= 0) {
        if (cu_return_slot(mig.slot, mig.home_port, why, sizeof why) != 0)
            fprintf(stderr, "teardown: moving slot %d back: %s\n", mig.slot, why);
        mig.slot = -1;
    }
    if (!cu_wait_healthy(120, why, sizeof why)) {
        fprintf(stderr, "teardown: the cluster is not healthy: %s\n", why);
        return -1;
    }
    return 0;
}

static void test_migration__slot_moves_under_load_without_failures(void **state) {
    (void)state;
    tu_watchdog_arm(300, "slot migration under load");
    cu_cluster cl;
    assert_int_equal(cu_cluster_read(cu_port(0), &cl), 0);
    int from_port = cu_port(1), to_port = cu_port(2);
    char tag[32];
    int slot = cu_tag_on(&cl, from_port, "mig", tag, sizeof tag);
    mig.slot = slot;
    mig.home_port = from_port;
    printf("moving slot %d (hash tag {%s}) from %d to %d\n", slot, tag, from_port, to_port);

    rcm_client *c = cu_open_ok(NULL);
    /* Keys in the slot that are not touched by the threads... */
    for (int i = 0; i < PRELOAD; i++) {
        char key[64], val[32];
        snprintf(key, sizeof key, "{%s}:pre:%d", tag, i);
        snprintf(val, sizeof val, "pre-%d", i);
        rcm_reply *r = tu_cmd_ok(c, "SET", key, val, NULL);
        TU_ASSERT_STATUS_REPLY(r, "OK");
        rcm_reply_free(r);
    }
    /* ...and each thread's own keys: every other one in the slot. */
    cu_load_group g;
    cu_group_init(&g, c, 4);
    for (int t = 0; t < 4; t++) {
        for (int j = 0; j < 40; j++) {
            if (j % 2 == 0)
                snprintf(g.keys[t][j], sizeof g.keys[t][j], "{%s}:t%d:%d", tag, t, j);
            else
                snprintf(g.keys[t][j], sizeof g.keys[t][j], "migother:t%d:%d", t, j);
            rcm_reply *r = tu_cmd_ok(c, "SET", g.keys[t][j], "init", NULL);
            rcm_reply_free(r);
        }
        g.loads[t].nkeys = 40;
    }
    char *out = cu_cli(from_port, "CLUSTER COUNTKEYSINSLOT %d", slot);
    assert_non_null(out);
    long long in_slot = atoll(out);
    free(out);
    assert_int_equal(in_slot, PRELOAD + 4 * 20);

    long long moved0 = cu_stats_sum(c, "moved"), ask0 = cu_stats_sum(c, "ask");
    cu_group_start(&g);
    tu_sleep_ms(500);
    char why[256];
    double t0 = tu_now();
    int rc = cu_move_slot(slot, from_port, to_port, 5, 25, why, sizeof why);
    double t1 = tu_now();
    if (rc == 0) tu_sleep_ms(1500);
    cu_group_stop(&g);
    if (rc != 0) fail_msg("moving slot %d: %s", slot, why);
    printf("migration took %.2f s\n", t1 - t0);

    cu_load sum;
    cu_group_sum(&g, "load", &sum);
    if (sum.failed || sum.error_replies || sum.wrong)
        fail_msg("during the migration: %ld failed calls, %ld error replies, %ld wrong values (first: %s)", sum.failed,
                 sum.error_replies, sum.wrong, sum.first_problem);
    for (int t = 0; t < 4; t++)
        if (g.loads[t].ok < 20) fail_msg("thread %d completed only %ld iterations", t, g.loads[t].ok);

    long long moved = cu_stats_sum(c, "moved") - moved0, ask = cu_stats_sum(c, "ask") - ask0;
    printf("redirects followed: %lld MOVED, %lld ASK\n", moved, ask);
    if (moved <= 0) fail_msg("stats count no MOVED after the slot changed owner");
    if (ask <= 0) fail_msg("stats count no ASK during the migration");

    /* Every key of the slot is on the new owner now. */
    if (!cu_wait_owner_everywhere(slot, to_port, 20)) fail_msg("not every node names %d the owner of slot %d", to_port, slot);
    out = cu_cli(to_port, "CLUSTER COUNTKEYSINSLOT %d", slot);
    assert_non_null(out);
    assert_int_equal(atoll(out), PRELOAD + 4 * 20);
    free(out);
    out = cu_cli(from_port, "CLUSTER COUNTKEYSINSLOT %d", slot);
    assert_non_null(out);
    assert_int_equal(atoll(out), 0);
    free(out);
    for (int i = 0; i < PRELOAD; i += 17) {
        char key[64], val[32];
        snprintf(key, sizeof key, "{%s}:pre:%d", tag, i);
        snprintf(val, sizeof val, "pre-%d", i);
        rcm_reply *r = tu_cmd_ok(c, "GET", key, NULL);
        TU_ASSERT_CSTRING_REPLY(r, val);
        rcm_reply_free(r);
    }

    /* Back home, under load again. */
    cu_group_start(&g);
    rc = cu_move_slot(slot, to_port, from_port, 20, 10, why, sizeof why);
    if (rc == 0) tu_sleep_ms(1000);
    cu_group_stop(&g);
    if (rc != 0) fail_msg("moving slot %d back: %s", slot, why);
    cu_group_sum(&g, "load (moving back)", &sum);
    if (sum.failed || sum.error_replies || sum.wrong)
        fail_msg("moving the slot back: %ld failed calls, %ld error replies, %ld wrong values (first: %s)", sum.failed,
                 sum.error_replies, sum.wrong, sum.first_problem);
    if (!cu_wait_owner_everywhere(slot, from_port, 20)) fail_msg("slot %d did not return to %d everywhere", slot, from_port);
    mig.slot = -1;

    /* Clean up. */
    for (int i = 0; i < PRELOAD; i++) {
        char key[64];
        snprintf(key, sizeof key, "{%s}:pre:%d", tag, i);
        rcm_reply *r = tu_cmd_ok(c, "DEL", key, NULL);
        rcm_reply_free(r);
    }
    rcm_client_close(c);
    cu_assert_healthy_ok(120);
    tu_watchdog_disarm();
}

/* errorstat_TRYAGAIN's count on the node on port (0 when it never answered TRYAGAIN). */
static long long tryagain_count(int port) {
    char buf[128];
    cu_info_str(port, "errorstats", "errorstat_TRYAGAIN", buf, sizeof buf);
    const char *f = strstr(buf, "count=");
    return f ? atoll(f + 6) : 0;
}

struct mget_call {
    rcm_client *c;
    const char *a, *b;
    rcm_status st;
    char got[2][32];
    char err[512];
};

static void *mget_thread(void *arg) {
    struct mget_call *k = arg;
    rcm_reply *r = NULL;
    k->st = tu_cmd(k->c, &r, "MGET", k->a, k->b, NULL);
    snprintf(k->err, sizeof k->err, "%s", rcm_last_error());
    for (size_t i = 0; i < 2; i++) {
        const char *s = r && rcm_reply_type(r) == RCM_REPLY_ARRAY ? cu_str(rcm_reply_element(r, i)) : NULL;
        snprintf(k->got[i], sizeof k->got[i], "%s", s ? s : tu_describe(r));
    }
    rcm_reply_free(r);
    return NULL;
}

static void test_migration__multikey_split_by_a_migration_waits_out_tryagain(void **state) {
    (void)state;
    tu_watchdog_arm(300, "TRYAGAIN during a migration");
    cu_cluster cl;
    assert_int_equal(cu_cluster_read(cu_port(0), &cl), 0);
    int from_port = cu_port(0), to_port = cu_port(2);
    char tag[32], a[64], b[64];
    int slot = cu_tag_on(&cl, from_port, "tryagain", tag, sizeof tag);
    mig.slot = slot;
    mig.home_port = from_port;
    snprintf(a, sizeof a, "{%s}:a", tag);
    snprintf(b, sizeof b, "{%s}:b", tag);
    rcm_client *c = cu_open_ok("command_timeout_ms", "30000", "retry.backoff_max_ms", "100", NULL);
    rcm_client *quick = cu_open_ok("command_timeout_ms", "600", "retry.backoff_max_ms", "100", NULL);
    rcm_reply *r = tu_cmd_ok(c, "SET", a, "va", NULL);
    rcm_reply_free(r);
    r = tu_cmd_ok(c, "SET", b, "vb", NULL);
    rcm_reply_free(r);

    /* Half of the slot moves: a is on to_port, b still on from_port. */
    cu_cluster now;
    assert_int_equal(cu_cluster_read(from_port, &now), 0);
    const char *from_id = now.nodes[cu_node_index(&now, from_port)].id, *to_id = now.nodes[cu_node_index(&now, to_port)].id;
    char *out = cu_cli(to_port, "CLUSTER SETSLOT %d IMPORTING %s", slot, from_id);
    assert_true(out && strncmp(out, "OK", 2) == 0);
    free(out);
    out = cu_cli(from_port, "CLUSTER SETSLOT %d MIGRATING %s", slot, to_id);
    assert_true(out && strncmp(out, "OK", 2) == 0);
    free(out);
    out = cu_cli(from_port, "MIGRATE 127.0.0.1 %d '' 0 5000 AUTH %s KEYS '%s'", to_port, CU_PASSWORD, a);
    assert_true(out && strncmp(out, "OK", 2) == 0);
    free(out);
    out = cu_cli(from_port, "MGET '%s' '%s'", a, b);
    printf("MGET on %d while the slot is split: %s", from_port, out ? out : "(cli failed)\n");
    if (!out || !strstr(out, "TRYAGAIN")) fail_msg("the split slot does not make %d answer TRYAGAIN", from_port);
    free(out);

    /* Past its deadline: RCM_ERR_TIMEOUT naming the last reply. */
    r = NULL;
    rcm_status st = tu_cmd(quick, &r, "MGET", a, b, NULL);
    char err[512];
    snprintf(err, sizeof err, "%s", rcm_last_error());
    printf("MGET with a 600 ms deadline: %s ('%s') %s\n", rcm_status_name(st), err, tu_describe(r));
    rcm_reply_free(r);
    if (st != RCM_ERR_TIMEOUT) fail_msg("expected RCM_ERR_TIMEOUT, got %s ('%s')", rcm_status_name(st), err);
    if (!strstr(err, "TRYAGAIN")) fail_msg("the timeout's message does not name the last reply (TRYAGAIN): '%s'", err);

    /* Within its deadline: refused while split, answered once the slot has moved. */
    long long before = tryagain_count(from_port) + tryagain_count(to_port);
    struct mget_call k = {.c = c, .a = a, .b = b};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, mget_thread, &k), 0);
    double end = tu_now() + 20;
    while (tryagain_count(from_port) + tryagain_count(to_port) < before + 2 && tu_now() < end) tu_sleep_ms(20);
    long long refused = tryagain_count(from_port) + tryagain_count(to_port) - before;
    char why[256];
    int rc = cu_move_slot(slot, from_port, to_port, 10, 0, why, sizeof why);
    pthread_join(th, NULL);
    if (rc != 0) fail_msg("finishing the move of slot %d: %s", slot, why);
    printf("MGET during the split: %s [%s, %s] ('%s'); TRYAGAIN answered %lld times before the move ended\n",
           rcm_status_name(k.st), k.got[0], k.got[1], k.err, refused);
    if (refused < 2) fail_msg("the nodes answered TRYAGAIN %lld times: rcm's MGET did not wait on it", refused);
    if (k.st != RCM_OK || strcmp(k.got[0], "va") != 0 || strcmp(k.got[1], "vb") != 0)
        fail_msg("the MGET that met TRYAGAIN ended %s [%s, %s] ('%s') instead of reading both keys", rcm_status_name(k.st),
                 k.got[0], k.got[1], k.err);

    if (cu_move_slot(slot, to_port, from_port, 10, 0, why, sizeof why) != 0) fail_msg("moving slot %d back: %s", slot, why);
    if (!cu_wait_owner_everywhere(slot, from_port, 20)) fail_msg("slot %d did not return to %d everywhere", slot, from_port);
    mig.slot = -1;
    r = tu_cmd_ok(c, "DEL", a, b, NULL);
    rcm_reply_free(r);
    rcm_client_close(quick);
    rcm_client_close(c);
    cu_assert_healthy_ok(120);
    tu_watchdog_disarm();
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migration__slot_moves_under_load_without_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration__multikey_split_by_a_migration_waits_out_tryagain, setup,
                                        teardown),
    };
    return TU_RUN(tests, argc, argv);
}
