/* cluster.cache: client-side caching in a cluster. The race of reads and invalidations
 * on keys of every shard; then a cached key's shard fails over (CLUSTER FAILOVER), loses
 * its primary to SIGKILL, or its slot moves to another primary: in each case a write
 * made afterwards by another client is seen, never the old value once it was, and the
 * old owner's entries were dropped (its "resets" in the stats). Teardown restores the
 * harness's layout. */
#define _GNU_SOURCE
#include "cluster_util.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_util.h"

static int killed_port = -1;
static struct {
    int slot, home_port;
} mig = {-1, -1};

static int teardown(void **state) {
    (void)state;
    char why[256];
    if (killed_port > 0 && cu_node_pid(killed_port) < 0) {
        int pid = cu_node_restart(killed_port);
        fprintf(stderr, "teardown: restarted node %d (pid %d)\n", killed_port, pid);
    }
    killed_port = -1;
    if (mig.slot >= 0) {
        if (cu_return_slot(mig.slot, mig.home_port, why, sizeof why) != 0)
            fprintf(stderr, "teardown: moving slot %d back: %s\n", mig.slot, why);
        mig.slot = -1;
    }
    if (cu_restore_layout(why, sizeof why) != 0) {
        fprintf(stderr, "teardown: could not restore the layout: %s\n", why);
        return -1;
    }
    return 0;
}

static const char *cluster_url(void) {
    static char url[128];
    snprintf(url, sizeof url, "redis+cluster://:%s@127.0.0.1:%d,127.0.0.1:%d", CU_PASSWORD, cu_port(0), cu_port(1));
    return url;
}

static void wait_reset(rcm_client *reader, int port, long long before) {
    double until = tu_now() + 20;
    while (cc_node_stat_addr(reader, cu_addr(port), "resets") <= before) {
        if (tu_now() > until) fail_msg("the entries of %s were not dropped within 20 s", cu_addr(port));
        tu_sleep_ms(20);
    }
}

static void test_cluster_cache__race_on_keys_of_every_shard(void **state) {
    (void)state;
    tu_watchdog_arm(120, "cluster race");
    cc_race_run_url(cluster_url(), "crace", 2.0);
    tu_watchdog_disarm();
}

/* The same with reads from replicas: tracking on the replicas' connections, whose
 * invalidations come as they apply the primaries' writes. */
static void test_cluster_cache__race_with_reads_from_replicas(void **state) {
    (void)state;
    tu_watchdog_arm(120, "cluster race, replica reads");
    char url[160];
    snprintf(url, sizeof url, "%s?read_from=replica", cluster_url());
    cc_race_run_url(url, "crace-replica", 2.0);
    tu_watchdog_disarm();
}

/* A cached key on the primary at port, a cached client and a writer without cache. */
typedef struct shard_case {
    int port, replica_port;
    char key[64];
    rcm_client *reader, *writer;
} shard_case;

static void shard_case_open(shard_case *sc, int port, const char *prefix) {
    cu_cluster cl;
    assert_int_equal(cu_cluster_read(cu_port(0), &cl), 0);
    sc->port = port;
    int pi = cu_node_index(&cl, port);
    assert_true(pi >= 0 && cl.nodes[pi].primary);
    int ri = cu_replica_index(&cl, pi);
    assert_true(ri >= 0);
    sc->replica_port = cl.nodes[ri].port;
    int n = 0;
    cu_key_on(&cl, port, prefix, &n, sc->key, sizeof sc->key);
    sc->reader = cc_open_cached_url(cluster_url(), NULL);
    sc->writer = cu_open_ok(NULL);
    cc_warm(sc->reader, sc->key, "before");
}

static void shard_case_close(shard_case *sc) {
    rcm_client_close(sc->writer);
    rcm_client_close(sc->reader);
}

static void test_cluster_cache__failover_drops_the_shards_entries(void **state) {
    (void)state;
    tu_watchdog_arm(300, "cache through CLUSTER FAILOVER");
    shard_case sc;
    shard_case_open(&sc, cu_port(0), "cfo:");
    long long resets = cc_node_stat_addr(sc.reader, cu_addr(sc.port), "resets");
    if (cu_failover_to(sc.replica_port, 60) < 0) fail_msg("CLUSTER FAILOVER to %d did not complete", sc.replica_port);
    cc_write_ok(sc.writer, sc.key, "after");
    cc_assert_sees(sc.reader, sc.key, "after");
    /* The reader learns the new topology from a MOVED or a refresh: its old primary's
     * entries go then. */
    wait_reset(sc.reader, sc.port, resets);
    /* Cached again from the new primary, and kept true by it. */
    cc_warm(sc.reader, sc.key, "again");
    cc_write_ok(sc.writer, sc.key, "third");
    cc_assert_sees(sc.reader, sc.key, "third");
    shard_case_close(&sc);
    tu_watchdog_disarm();
}

static void test_cluster_cache__sigkill_of_a_primary_drops_its_entries(void **state) {
    (void)state;
    tu_watchdog_arm(300, "cache through SIGKILL of a primary");
    shard_case sc;
    shard_case_open(&sc, cu_port(2), "ckill:");
    long long resets = cc_node_stat_addr(sc.reader, cu_addr(sc.port), "resets");
    int pid = cu_node_pid(sc.port);
    if (pid <= 0) fail_msg("no PID recorded by the harness for node %d", sc.port);
    killed_port = sc.port;
    if (kill(pid, SIGKILL) != 0) fail_msg("kill(%d, SIGKILL) failed", pid);
    if (cu_wait_role_master(sc.replica_port, 60) < 0) fail_msg("replica %d was not promoted", sc.replica_port);
    cu_note_vote(sc.port);
    wait_reset(sc.reader, sc.port, resets);
    cc_write_ok(sc.writer, sc.key, "after");
    cc_assert_sees(sc.reader, sc.key, "after");
    cc_warm(sc.reader, sc.key, "again");
    cc_write_ok(sc.writer, sc.key, "third");
    cc_assert_sees(sc.reader, sc.key, "third");
    shard_case_close(&sc);
    tu_watchdog_disarm();
}

static void test_cluster_cache__slot_migrated_under_cached_keys(void **state) {
    (void)state;
    tu_watchdog_arm(300, "cache through a slot migration");
    cu_cluster cl;
    assert_int_equal(cu_cluster_read(cu_port(0), &cl), 0);
    int from_port = cu_port(1), to_port = cu_port(2);
    char tag[32];
    int slot = cu_tag_on(&cl, from_port, "cmig", tag, sizeof tag);
    mig.slot = slot;
    mig.home_port = from_port;
    rcm_client *reader = cc_open_cached_url(cluster_url(), NULL);
    rcm_client *writer = cu_open_ok(NULL);
    enum { N = 10 };
    char keys[N][64], val[32];
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "{%s}:%d:%d", tag, (int)getpid(), i);
        cc_warm(reader, keys[i], "before");
    }
    long long resets = cc_node_stat_addr(reader, cu_addr(from_port), "resets");
    char why[256];
    if (cu_move_slot(slot, from_port, to_port, 3, 0, why, sizeof why) != 0) fail_msg("moving slot %d: %s", slot, why);
    for (int i = 0; i < N; i++) {
        snprintf(val, sizeof val, "moved-%d", i);
        cc_write_ok(writer, keys[i], val);
        cc_assert_sees(reader, keys[i], val);
    }
    wait_reset(reader, from_port, resets);
    /* Cached from the new owner, and kept true by it. */
    cc_warm(reader, keys[0], "again");
    cc_write_ok(writer, keys[0], "third");
    cc_assert_sees(reader, keys[0], "third");
    rcm_client_close(writer);
    rcm_client_close(reader);
    tu_watchdog_disarm();
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cluster_cache__race_on_keys_of_every_shard),
        cmocka_unit_test(test_cluster_cache__race_with_reads_from_replicas),
        cmocka_unit_test_setup_teardown(test_cluster_cache__failover_drops_the_shards_entries, cu_layout_fixture, teardown),
        cmocka_unit_test_setup_teardown(test_cluster_cache__sigkill_of_a_primary_drops_its_entries, cu_layout_fixture, teardown),
        cmocka_unit_test_setup_teardown(test_cluster_cache__slot_migrated_under_cached_keys, cu_layout_fixture, teardown),
    };
    return TU_RUN(tests, argc, argv);
}
