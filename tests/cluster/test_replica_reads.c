/* cluster.replica_reads: read_from=replica sends reads to replicas and writes to
 * primaries; read_from=prefer_replica reads from replicas while they are up;
 * read_from=primary (the default) never reads from a replica; read_from=nearest moves the
 * reads of a shard to whichever of its nodes answers faster, and back when that changes. Where each command went is
 * read from INFO commandstats on every node (valkey-cli), reset before each phase. */
#define _GNU_SOURCE
#include "cluster_util.h"

#include <pthread.h>
#include <stdatomic.h>
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

/* read_from=nearest picks by measured latency, and follows it when it changes. One shard:
 * first its replica is slowed, so reads must end on the primary; then the replica is
 * fast again and the primary slowed, so reads must move to the replica. A fixed policy
 * (always the primary, always the replica, random, a turn) fails one phase or both.
 * The slowing is steady, not a few bursts: the node runs DEBUG SLEEP back to back for the
 * whole phase (every read there waits for the sleep in progress: tens of ms against well
 * under 1 ms, a gap a loaded machine does not close), and each phase reads for a while
 * first so that the estimates reflect it. The second phase needs the mechanism to renew a
 * node's estimate while it is not chosen: otherwise the replica keeps the slow samples of
 * the first phase and the reads stay on the slowed primary. */
typedef struct {
    int port;
    const char *seconds; /* of each DEBUG SLEEP */
    atomic_int stop;
    pthread_t thread;
} slower;

static void *slower_main(void *arg) {
    slower *s = arg;
    /* Ten sleeps per valkey-cli run (-r): no gap for a process start between them. */
    while (!atomic_load(&s->stop)) free(cu_cli(s->port, "-r 10 DEBUG SLEEP %s", s->seconds));
    return NULL;
}

/* Returns once the node is seen sleeping (a PING waits), so that the first samples of
 * the phase already see the slowing. */
static void slower_start(slower *s, int port, const char *seconds) {
    s->port = port;
    s->seconds = seconds;
    atomic_init(&s->stop, 0);
    pthread_create(&s->thread, NULL, slower_main, s);
    double wait = atof(seconds) / 2, until = tu_now() + 5;
    while (tu_now() < until) {
        int fd = tu_raw_connect(port);
        char buf[64];
        double t0 = tu_now();
        int ok = fd >= 0 && tu_raw_send(fd, "PING", NULL) == 0 && tu_raw_read(fd, buf, sizeof buf, 2000) >= 0;
        double took = tu_now() - t0;
        if (fd >= 0) tu_raw_close(fd);
        if (ok && took >= wait) return;
    }
}

static void slower_stop(slower *s) {
    atomic_store(&s->stop, 1);
    pthread_join(s->thread, NULL);
}

static void read_for(rcm_client *c, const char *key, const char *want, double seconds) {
    double until = tu_now() + seconds;
    while (tu_now() < until) {
        rcm_reply *r = tu_cmd_ok(c, "GET", key, NULL);
        if (!tu_is_cstring(r, want)) fail_msg("GET %s: %s", key, tu_describe(r));
        rcm_reply_free(r);
    }
}

enum { NEAREST_READS = 200, NEAREST_MAJORITY = NEAREST_READS * 3 / 4 };

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* The median of 5 PINGs to the node on port, sent through the client (as it measures). */
static double ping_median_ms(rcm_client *c, int port) {
    double ms[5];
    char node[32];
    snprintf(node, sizeof node, "127.0.0.1:%d", port);
    rcm_route route = {.kind = RCM_ROUTE_NODE, .node = node};
    const char *ping[] = {"PING"};
    for (int i = 0; i < 5; i++) {
        rcm_reply *r = NULL;
        double t0 = tu_now();
        TU_ASSERT_RC(rcm_command_routed(c, &route, 1, ping, NULL, &r), RCM_OK);
        ms[i] = (tu_now() - t0) * 1000;
        rcm_reply_free(r);
    }
    qsort(ms, 5, sizeof ms[0], cmp_double);
    return ms[2];
}

/* The premise of a phase, checked before its reads are counted: the slowed node answers
 * the client slower than the other (else a loaded machine, not the policy, decides
 * where reads go, and the count says nothing). Waits up to 10 s for it. */
static void assert_slowed(rcm_client *c, int slowed, int fast, double min_ms) {
    double s = 0, f = 0;
    for (double until = tu_now() + 10; tu_now() < until;) {
        s = ping_median_ms(c, slowed);
        f = ping_median_ms(c, fast);
        if (s >= min_ms && s > 3 * f) {
            printf("node %d (slowed) answers in %.1f ms, node %d in %.1f ms (medians of 5 PINGs)\n", slowed, s, fast, f);
            return;
        }
    }
    fail_msg("node %d, slowed, answers in %.1f ms, node %d in %.1f ms: not the slower one, the phase cannot tell "
             "anything", slowed, s, fast, f);
}

/* NEAREST_READS reads after a warm-up while the slower runs; returns how many ran on
 * port_a and port_b. */
static void measure(rcm_client *c, const char *key, int port_a, int port_b, const slower *slowed, long long *on_a,
                    long long *on_b) {
    read_for(c, key, "a", 2.5); /* > two renewals of a node's estimate (one a second) */
    /* A PING meets a sleep in progress: on average half of it is left. */
    assert_slowed(c, slowed->port, slowed->port == port_a ? port_b : port_a, atof(slowed->seconds) * 1000 / 4);
    read_for(c, key, "a", 1.0); /* the PINGs fed the estimates too: let reads renew them */
    assert_int_equal(cu_reset_stats_all(), 0);
    for (int i = 0; i < NEAREST_READS; i++) {
        rcm_reply *r = tu_cmd_ok(c, "GET", key, NULL);
        if (!tu_is_cstring(r, "a")) fail_msg("GET %s: %s", key, tu_describe(r));
        rcm_reply_free(r);
    }
    *on_a = cu_cmdstat_of(port_a, "get").calls;
    *on_b = cu_cmdstat_of(port_b, "get").calls;
}

static void test_replica_reads__nearest_follows_measured_latency(void **state) {
    (void)state;
    setup_cluster();
    /* A read that meets a sleep waits up to 0.5 s, more on a loaded machine. */
    rcm_client *c = cu_open_ok("read_from", "nearest", "command_timeout_ms", "5000", NULL);
    char ka[32];
    int n = 0;
    int pa = cl.nodes[prim[0]].port, ra = cl.nodes[cu_replica_index(&cl, prim[0])].port;
    cu_key_on(&cl, pa, "near:a:", &n, ka, sizeof ka);
    rcm_reply *r = tu_cmd_ok(c, "SET", ka, "a", NULL);
    rcm_reply_free(r);
    wait_replicas_caught_up();

    long long p1, r1, p2, r2;
    slower s;
    slower_start(&s, ra, "0.5");
    measure(c, ka, pa, ra, &s, &p1, &r1);
    slower_stop(&s);
    /* 0.2 s, not less: the phase needs the slowed node's PINGs at 3x the fast node's, and
     * under ASan on a loaded machine the fast one answers in up to ~10 ms (0.05 s sleeps
     * gave medians of 25-50 ms against 8 ms: too thin a margin). */
    slower_start(&s, pa, "0.2");
    measure(c, ka, pa, ra, &s, &p2, &r2);
    slower_stop(&s);
    printf("nearest: replica %d slowed: %lld GETs on the primary, %lld on the replica; then primary %d slowed: "
           "%lld on the primary, %lld on the replica\n", ra, p1, r1, pa, p2, r2);
    if (p1 < NEAREST_MAJORITY)
        fail_msg("read_from=nearest, replica %d slowed: only %lld of %d GETs on primary %d (%lld on the replica)", ra, p1,
                 NEAREST_READS, pa, r1);
    if (r2 < NEAREST_MAJORITY)
        fail_msg("read_from=nearest, then primary %d slowed and replica %d fast again: only %lld of %d GETs on the "
                 "replica (%lld on the primary)", pa, ra, r2, NEAREST_READS, p2);
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
