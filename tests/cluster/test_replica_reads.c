/* cluster.replica_reads: read_from=replica sends reads to replicas and writes to
 * primaries; read_from=prefer_replica reads from replicas while they are up;
 * read_from=primary (the default) never reads from a replica; read_from=nearest moves the
 * reads of a shard to whichever of its nodes answers faster. Where each command went is
 * read from INFO commandstats on every node (valkey-cli), reset before each phase. */
#define _GNU_SOURCE
#include "cluster_util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NKEYS 300

static cu_cluster cl;
static int prim[3];

static void setup_cluster(void) {
    cu_assert_healthy_ok(60);
    assert_int_equal(cu_cluster_read(cu_port(0), &cl), 0);
    assert_int_equal(cu_primaries(&cl, prim, 3), 3);
}

static void key_of(int i, char *buf, size_t n) { snprintf(buf, n, "rr:%d", i); }
static void val_of(int i, char *buf, size_t n) { snprintf(buf, n, "replicated-%d", i); }

/* Waits until every replica has applied everything its primary has. */
static void wait_replicas_caught_up(void) {
    for (int p = 0; p < 3; p++) {
        int port = cl.nodes[prim[p]].port;
        int rep = cu_replica_index(&cl, prim[p]);
        assert_true(rep >= 0);
        long long want = cu_info_ll(port, "replication", "master_repl_offset");
        double deadline = tu_now() + 10;
        while (cu_info_ll(cl.nodes[rep].port, "replication", "slave_repl_offset") < want) {
            if (tu_now() > deadline) fail_msg("replica %d did not catch up with %d", cl.nodes[rep].port, port);
            tu_sleep_ms(20);
        }
    }
}

static void write_keys(rcm_client *c) {
    for (int i = 0; i < NKEYS; i++) {
        char k[32], v[32];
        key_of(i, k, sizeof k);
        val_of(i, v, sizeof v);
        rcm_reply *r = tu_cmd_ok(c, "SET", k, v, NULL);
        TU_ASSERT_STATUS_REPLY(r, "OK");
        rcm_reply_free(r);
    }
}

static void read_keys(rcm_client *c) {
    for (int i = 0; i < NKEYS; i++) {
        char k[32], v[32];
        key_of(i, k, sizeof k);
        val_of(i, v, sizeof v);
        rcm_reply *r = tu_cmd_ok(c, "GET", k, NULL);
        if (!tu_is_cstring(r, v)) fail_msg("GET %s: %s, expected %s", k, tu_describe(r), v);
        rcm_reply_free(r);
    }
}

/* Sums of cmdstat_<command> calls and rejected calls on primaries and on replicas. */
typedef struct {
    long long primary_calls, replica_calls, rejected, replica_each_min;
} where_t;

static where_t where(const char *command) {
    where_t w = {0, 0, 0, -1};
    for (int i = 0; i < cl.n; i++) {
        cu_cmdstat s = cu_cmdstat_of(cl.nodes[i].port, command);
        w.rejected += s.rejected + s.failed;
        if (cl.nodes[i].primary) {
            w.primary_calls += s.calls;
        } else {
            w.replica_calls += s.calls;
            if (w.replica_each_min < 0 || s.calls < w.replica_each_min) w.replica_each_min = s.calls;
        }
    }
    return w;
}

static void test_replica_reads__replica_reads_from_replicas_writes_to_primaries(void **state) {
    (void)state;
    setup_cluster();
    rcm_client *c = cu_open_ok("read_from", "replica", NULL);
    write_keys(c);
    wait_replicas_caught_up();

    assert_int_equal(cu_reset_stats_all(), 0);
    read_keys(c);
    where_t g = where("get");
    printf("GET: %lld on primaries, %lld on replicas, %lld rejected\n", g.primary_calls, g.replica_calls, g.rejected);
    if (g.primary_calls != 0 || g.rejected != 0 || g.replica_calls != NKEYS)
        fail_msg("read_from=replica: %d GETs ran %lld times on primaries and %lld on replicas (%lld rejected/failed)",
                 NKEYS, g.primary_calls, g.replica_calls, g.rejected);
    if (g.replica_each_min == 0) fail_msg("a replica served no GET (keys span all three shards)");

    /* A split MGET reads from replicas too. */
    assert_int_equal(cu_reset_stats_all(), 0);
    const char *argv[31];
    char keys[30][32];
    argv[0] = "MGET";
    for (int i = 0; i < 30; i++) {
        key_of(i * 7, keys[i], sizeof keys[i]);
        argv[1 + i] = keys[i];
    }
    rcm_reply *r = NULL;
    TU_ASSERT_RC(rcm_command(c, 31, argv, NULL, &r), RCM_OK);
    assert_int_equal(rcm_reply_length(r), 30);
    for (int i = 0; i < 30; i++) {
        char v[32];
        val_of(i * 7, v, sizeof v);
        TU_ASSERT_CSTRING_REPLY(rcm_reply_element(r, (size_t)i), v);
    }
    rcm_reply_free(r);
    where_t m = where("mget");
    if (m.primary_calls != 0 || m.replica_calls < 2 || m.rejected != 0)
        fail_msg("read_from=replica: split MGET ran %lld times on primaries, %lld on replicas, %lld rejected",
                 m.primary_calls, m.replica_calls, m.rejected);

    /* Writes go to the primaries: each SET runs once on a primary (and once more on its
     * replica, through replication), and no replica refused one. */
    assert_int_equal(cu_reset_stats_all(), 0);
    write_keys(c);
    wait_replicas_caught_up();
    where_t s = where("set");
    printf("SET: %lld on primaries, %lld on replicas (replicated), %lld rejected\n", s.primary_calls, s.replica_calls,
           s.rejected);
    if (s.primary_calls != NKEYS || s.rejected != 0 || s.replica_calls != NKEYS)
        fail_msg("read_from=replica: %d SETs ran %lld times on primaries, %lld on replicas, %lld rejected", NKEYS,
                 s.primary_calls, s.replica_calls, s.rejected);
    rcm_client_close(c);
}

static void test_replica_reads__prefer_replica_reads_from_replicas(void **state) {
    (void)state;
    setup_cluster();
    rcm_client *c = cu_open_ok("read_from", "prefer_replica", NULL);
    write_keys(c);
    wait_replicas_caught_up();
    /* A first read per replica opens its connections. */
    read_keys(c);
    assert_int_equal(cu_reset_stats_all(), 0);
    read_keys(c);
    where_t g = where("get");
    printf("GET: %lld on primaries, %lld on replicas, %lld rejected\n", g.primary_calls, g.replica_calls, g.rejected);
    if (g.primary_calls != 0 || g.rejected != 0 || g.replica_calls != NKEYS)
        fail_msg("read_from=prefer_replica with every replica up: %d GETs ran %lld times on primaries and %lld on "
                 "replicas (%lld rejected/failed)",
                 NKEYS, g.primary_calls, g.replica_calls, g.rejected);
    rcm_client_close(c);
}

static void test_replica_reads__primary_never_reads_from_replicas(void **state) {
    (void)state;
    setup_cluster();
    rcm_client *c = cu_open_ok(NULL);
    write_keys(c);
    assert_int_equal(cu_reset_stats_all(), 0);
    read_keys(c);
    where_t g = where("get");
    if (g.primary_calls != NKEYS || g.replica_calls != 0 || g.rejected != 0)
        fail_msg("read_from=primary: %d GETs ran %lld times on primaries and %lld on replicas (%lld rejected)", NKEYS,
                 g.primary_calls, g.replica_calls, g.rejected);
    rcm_client_close(c);
}

/* read_from=nearest picks by measured latency: a slowed node loses the reads of its
 * shard to the other. Shard A: its replica is slowed, so reads end on the primary; shard
 * B: its primary is slowed, so reads end on the replica. A fixed policy (always the
 * primary, always the replica, a turn, random) fails one shard or both. The slowing is
 * DEBUG SLEEP 0.3 on the node, three times, while the client reads. */
typedef struct {
    int port;
} sleeper_arg;
static void *sleeper_main(void *arg) {
    sleeper_arg *a = arg;
    for (int i = 0; i < 3; i++) free(cu_cli(a->port, "DEBUG SLEEP 0.3"));
    return NULL;
}

static void read_while_sleeping(rcm_client *c, const char *key, int slow_port) {
    sleeper_arg a = {slow_port};
    pthread_t th;
    pthread_create(&th, NULL, sleeper_main, &a);
    double until = tu_now() + 1.2;
    while (tu_now() < until) {
        rcm_reply *r = tu_cmd_ok(c, "GET", key, NULL);
        rcm_reply_free(r);
    }
    pthread_join(th, NULL);
}

static void test_replica_reads__nearest_follows_measured_latency(void **state) {
    (void)state;
    setup_cluster();
    rcm_client *c = cu_open_ok("read_from", "nearest", NULL);
    char ka[32], kb[32];
    int n = 0;
    int pa = cl.nodes[prim[0]].port, ra = cl.nodes[cu_replica_index(&cl, prim[0])].port;
    int pb = cl.nodes[prim[1]].port, rb = cl.nodes[cu_replica_index(&cl, prim[1])].port;
    cu_key_on(&cl, pa, "near:a:", &n, ka, sizeof ka);
    cu_key_on(&cl, pb, "near:b:", &n, kb, sizeof kb);
    rcm_reply *r = tu_cmd_ok(c, "SET", ka, "a", NULL);
    rcm_reply_free(r);
    r = tu_cmd_ok(c, "SET", kb, "b", NULL);
    rcm_reply_free(r);
    wait_replicas_caught_up();
    for (int i = 0; i < 50; i++) { /* both nodes of each shard get measured */
        r = tu_cmd_ok(c, "GET", ka, NULL);
        rcm_reply_free(r);
        r = tu_cmd_ok(c, "GET", kb, NULL);
        rcm_reply_free(r);
    }
    read_while_sleeping(c, ka, ra);
    read_while_sleeping(c, kb, pb);
    assert_int_equal(cu_reset_stats_all(), 0);
    enum { READS = 200 };
    for (int i = 0; i < READS; i++) {
        r = tu_cmd_ok(c, "GET", ka, NULL);
        if (!tu_is_cstring(r, "a")) fail_msg("GET %s: %s", ka, tu_describe(r));
        rcm_reply_free(r);
        r = tu_cmd_ok(c, "GET", kb, NULL);
        if (!tu_is_cstring(r, "b")) fail_msg("GET %s: %s", kb, tu_describe(r));
        rcm_reply_free(r);
    }
    long long a_p = cu_cmdstat_of(pa, "get").calls, a_r = cu_cmdstat_of(ra, "get").calls;
    long long b_p = cu_cmdstat_of(pb, "get").calls, b_r = cu_cmdstat_of(rb, "get").calls;
    printf("nearest: shard A (replica slowed) %lld GETs on the primary, %lld on the replica; shard B (primary "
           "slowed) %lld on the primary, %lld on the replica\n", a_p, a_r, b_p, b_r);
    if (a_p < READS * 9 / 10)
        fail_msg("read_from=nearest, replica %d slowed: only %lld of %d GETs on primary %d (%lld on the replica)", ra,
                 a_p, READS, pa, a_r);
    if (b_r < READS * 9 / 10)
        fail_msg("read_from=nearest, primary %d slowed: only %lld of %d GETs on replica %d (%lld on the primary)", pb,
                 b_r, READS, rb, b_p);
    rcm_client_close(c);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replica_reads__replica_reads_from_replicas_writes_to_primaries),
        cmocka_unit_test(test_replica_reads__prefer_replica_reads_from_replicas),
        cmocka_unit_test(test_replica_reads__primary_never_reads_from_replicas),
        cmocka_unit_test(test_replica_reads__nearest_follows_measured_latency),
    };
    return TU_RUN(tests, argc, argv);
}
