/* cluster.failover: CLUSTER FAILOVER on a replica while 4 threads SET and GET keys on
 * every shard: no request fails and every GET reads what its thread wrote; afterwards
 * writes go straight to the new primary (the old one, now a replica, refuses none), the
 * topology JSON names it primary and a PRIMARY_CHANGED event names it. Then the old
 * primary takes over again, under load too, which restores the harness's layout
 * (teardown does it also when the test fails).
 *
 * Second: a FLUSHALL (every primary) from a client whose map missed a failover runs on
 * the new primary within its deadline (READONLY from the demoted node brings the new
 * map, and the part follows its shard there); then FLUSHALL in a loop across the
 * failback, every one +OK. */
#define _GNU_SOURCE
#include "cluster_util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t ev_mu = PTHREAD_MUTEX_INITIALIZER;
static char ev_primary_changed[16][128]; /* node of each PRIMARY_CHANGED event */
static int ev_count;

static void on_event(rcm_event_kind kind, const char *node, const char *detail, void *ud) {
    (void)ud;
    if (kind != RCM_EVENT_PRIMARY_CHANGED) return;
    printf("event PRIMARY_CHANGED %s (%s)\n", node, detail);
    pthread_mutex_lock(&ev_mu);
    if (ev_count < 16) snprintf(ev_primary_changed[ev_count++], sizeof ev_primary_changed[0], "%s", node);
    pthread_mutex_unlock(&ev_mu);
}

static int saw_primary_changed(const char *addr) {
    pthread_mutex_lock(&ev_mu);
    int found = 0;
    for (int i = 0; i < ev_count; i++)
        if (strcmp(ev_primary_changed[i], addr) == 0) found = 1;
    pthread_mutex_unlock(&ev_mu);
    return found;
}

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
    if (cu_restore_layout(why, sizeof why) != 0) {
        fprintf(stderr, "teardown: could not restore the layout: %s\n", why);
        return -1;
    }
    return 0;
}

static rcm_client *open_with_events(void) {
    rcm_config *cfg = rcm_config_new();
    char url[256];
    snprintf(url, sizeof url, "redis+cluster://:%s@127.0.0.1:%d,127.0.0.1:%d", CU_PASSWORD, cu_port(0), cu_port(1));
    TU_ASSERT_RC(rcm_config_from_url(cfg, url), RCM_OK);
    TU_ASSERT_RC(rcm_config_set(cfg, "command_timeout_ms", "2000"), RCM_OK);
    TU_ASSERT_RC(rcm_config_set_event_callback(cfg, on_event, NULL), RCM_OK);
    rcm_client *c = NULL;
    rcm_status st = rcm_client_open(cfg, &c);
    rcm_config_free(cfg);
    if (st != RCM_OK) fail_msg("open: %s '%s'", rcm_status_name(st), rcm_last_error());
    return c;
}

/* rcm's topology JSON (static per thread, truncated), for failure messages. */
static const char *topology_json(rcm_client *c) {
    static __thread char buf[4096];
    char *json = NULL;
    TU_ASSERT_RC(rcm_client_topology_json(c, &json), RCM_OK);
    snprintf(buf, sizeof buf, "%s", json);
    rcm_free(json);
    return buf;
}

/* 1 when rcm's topology JSON gives the node on port this role ("primary", "replica"). */
static int rcm_role_is(rcm_client *c, int port, const char *role) {
    char *json = NULL;
    TU_ASSERT_RC(rcm_client_topology_json(c, &json), RCM_OK);
    cj *t = cj_parse(json);
    rcm_free(json);
    assert_non_null(t);
    const cj *nodes = cj_get(t, "nodes");
    int found = 0;
    for (size_t i = 0; nodes && i < nodes->n; i++) {
        const char *addr = cj_str(cj_get(cj_at(nodes, i), "address"));
        const char *r = cj_str(cj_get(cj_at(nodes, i), "role"));
        if (addr && r && strcmp(addr, cu_addr(port)) == 0 && strcmp(r, role) == 0) found = 1;
    }
    cj_free(t);
    return found;
}

static void assert_clean(cu_load_group *g, const char *phase) {
    cu_load sum;
    cu_group_sum(g, phase, &sum);
    if (sum.failed || sum.error_replies || sum.wrong)
        fail_msg("%s: %ld failed calls, %ld error replies, %ld wrong values (first: %s; last: %s)", phase, sum.failed,
                 sum.error_replies, sum.wrong, sum.first_problem, sum.last_problem);
    for (int t = 0; t < g->n; t++)
        if (g->loads[t].ok < 10) fail_msg("%s: thread %d completed only %ld iterations", phase, t, g->loads[t].ok);
}

/* Fails over to the replica on port (CLUSTER FAILOVER there) and waits until it is a
 * primary and the cluster is healthy again. */
static void failover_to(int port) {
    cu_log("CLUSTER FAILOVER on %d", port);
    double t = cu_failover_to(port, 60);
    cu_log("%d is a primary", port);
    if (t < 0) fail_msg("%d did not become a primary within 60 s of CLUSTER FAILOVER", port);
    cu_assert_healthy_ok(60);
    cu_log("the cluster is healthy");
}

static void test_failover__manual_failover_under_load_loses_nothing(void **state) {
    (void)state;
    tu_watchdog_arm(300, "manual failover under load");
    cu_cluster cl;
    assert_int_equal(cu_cluster_read(cu_port(0), &cl), 0);
    int old_port = cu_port(1);
    int pi = cu_node_index(&cl, old_port);
    assert_true(pi >= 0 && cl.nodes[pi].primary);
    int ri = cu_replica_index(&cl, pi);
    assert_true(ri >= 0);
    int new_port = cl.nodes[ri].port;
    printf("failing over %d -> %d\n", old_port, new_port);

    rcm_client *c = open_with_events();
    cu_load_group g;
    cu_group_init(&g, c, 4);
    int n = 0;
    for (int t = 0; t < 4; t++) {
        for (int j = 0; j < 40; j++) {
            if (j % 2 == 0) /* half on the shard that fails over */
                cu_key_on(&cl, old_port, "fo:", &n, g.keys[t][j], sizeof g.keys[t][j]);
            else
                snprintf(g.keys[t][j], sizeof g.keys[t][j], "foany:t%d:%d", t, j);
        }
        g.loads[t].nkeys = 40;
    }

    cu_elapsed();
    cu_group_start(&g);
    cu_log("load started");
    tu_sleep_ms(1000);
    failover_to(new_port);
    tu_sleep_ms(2000);
    cu_group_stop(&g);
    assert_clean(&g, "failover");

    /* Writes go to the new primary; the old one refuses none. */
    assert_int_equal(cu_reset_stats_all(), 0);
    int sets = 0;
    for (int t = 0; t < 4; t++)
        for (int j = 0; j < 40; j += 2) {
            rcm_reply *r = tu_cmd_ok(c, "SET", g.keys[t][j], "after", NULL);
            TU_ASSERT_STATUS_REPLY(r, "OK");
            rcm_reply_free(r);
            sets++;
        }
    cu_cmdstat snew = cu_cmdstat_of(new_port, "set"), sold = cu_cmdstat_of(old_port, "set");
    printf("after failover: new primary %d: %lld SET calls, %lld rejected; old primary %d: %lld rejected\n", new_port,
           snew.calls, snew.rejected, old_port, sold.rejected);
    if (snew.calls != sets || snew.rejected != 0 || sold.rejected != 0)
        fail_msg("%d SETs after the failover: %lld ran on the new primary %d, the old primary %d refused %lld", sets,
                 snew.calls, new_port, old_port, sold.rejected);

    /* The client's topology says so soon (a refresh follows MOVED), and an event said so. */
    double t_topo = tu_now();
    while (!(rcm_role_is(c, new_port, "primary") && rcm_role_is(c, old_port, "replica"))) {
        if (tu_now() - t_topo > 40) fail_msg("topology JSON 40 s after the failover settled: %s", topology_json(c));
        tu_sleep_ms(100);
    }
    double topo_s = tu_now() - t_topo;
    printf("topology JSON named the new primary %.2f s after the checks began\n", topo_s);
    /* MOVED schedules a refresh; the view must not wait for the periodic one. */
    if (topo_s > 5)
        fail_msg("the topology JSON named the new primary %d only %.1f s after the failover had settled (and after "
                 "%d SETs to it): the refreshes MOVED asked for did not bring the new view, a periodic one did",
                 new_port, topo_s, sets);
    double deadline = tu_now() + 5;
    while (!saw_primary_changed(cu_addr(new_port)) && tu_now() < deadline) tu_sleep_ms(50);
    if (!saw_primary_changed(cu_addr(new_port))) fail_msg("no RCM_EVENT_PRIMARY_CHANGED named %s", cu_addr(new_port));

    /* Fail back, under load. */
    cu_group_start(&g);
    tu_sleep_ms(500);
    failover_to(old_port);
    tu_sleep_ms(2000);
    cu_group_stop(&g);
    assert_clean(&g, "failback");

    rcm_client_close(c);
    tu_watchdog_disarm();
}

/* FLUSHALL in a loop (another thread) until told to stop, each within the client's
 * deadline; counts what did not come back +OK. */
typedef struct flush_loop {
    rcm_client *c;
    atomic_int stop;
    atomic_long ok, bad;
    char first_problem[256];
} flush_loop;

static void *flush_loop_run(void *arg) {
    flush_loop *l = arg;
    for (int i = 0; i < 20000 && !atomic_load(&l->stop); i++) {
        rcm_reply *r = NULL;
        rcm_status st = tu_cmd(l->c, &r, "FLUSHALL", NULL);
        if (st == RCM_OK && tu_is_status(r, "OK")) {
            atomic_fetch_add(&l->ok, 1);
        } else if (atomic_fetch_add(&l->bad, 1) == 0) {
            snprintf(l->first_problem, sizeof l->first_problem, "%s: %s", rcm_status_name(st),
                     st == RCM_OK ? tu_describe(r) : rcm_last_error());
        }
        rcm_reply_free(r);
        tu_sleep_ms(5);
    }
    return NULL;
}

/* A command for every primary (FLUSHALL) from a client whose map still names the demoted
 * primary (no periodic refresh, nothing else asked for one): the demoted node answers
 * READONLY, which must bring the new map, and the command must then run on the new
 * primary within its deadline, not be retried on the demoted node until it ends. Then the
 * shard fails back while another thread sends FLUSHALL in a loop: every one succeeds. */
static void test_failover__command_to_every_primary_follows_a_failover_the_map_missed(void **state) {
    (void)state;
    tu_watchdog_arm(300, "every-primary command after a failover");
    cu_cluster cl;
    assert_int_equal(cu_cluster_read(cu_port(0), &cl), 0);
    int old_port = cu_port(0); /* another shard than the test above: no vote to wait for */
    int pi = cu_node_index(&cl, old_port);
    assert_true(pi >= 0 && cl.nodes[pi].primary);
    int ri = cu_replica_index(&cl, pi);
    assert_true(ri >= 0);
    int new_port = cl.nodes[ri].port;

    /* The deadline is a bound, not a measurement: ample for a refresh on a loaded machine. */
    rcm_client *c = cu_open_ok("command_timeout_ms", "10000", "topology.refresh_ms", "0", NULL);
    rcm_reply *r = tu_cmd_ok(c, "FLUSHALL", NULL);
    TU_ASSERT_STATUS_REPLY(r, "OK");
    rcm_reply_free(r);
    if (!rcm_role_is(c, old_port, "primary")) fail_msg("before the failover rcm's map is %s", topology_json(c));

    failover_to(new_port); /* valkey-cli: nothing tells this client */
    if (!rcm_role_is(c, old_port, "primary"))
        fail_msg("the client refreshed its map by itself (%s): the case under test did not happen", topology_json(c));

    assert_int_equal(cu_reset_stats_all(), 0);
    r = NULL;
    rcm_status st = tu_cmd(c, &r, "FLUSHALL", NULL);
    if (st != RCM_OK || !tu_is_status(r, "OK"))
        fail_msg("FLUSHALL after the failover: %s %s", rcm_status_name(st), st == RCM_OK ? tu_describe(r) : rcm_last_error());
    rcm_reply_free(r);
    cu_cmdstat sold = cu_cmdstat_of(old_port, "flushall"), snew = cu_cmdstat_of(new_port, "flushall");
    printf("FLUSHALL: demoted %d refused %lld; new primary %d ran %lld\n", old_port, sold.rejected, new_port, snew.calls);
    if (sold.rejected < 1) fail_msg("the demoted primary %d refused no FLUSHALL: rcm did not send it there", old_port);
    if (snew.calls != 1) fail_msg("the new primary %d ran FLUSHALL %lld times, expected once", new_port, snew.calls);
    if (!rcm_role_is(c, new_port, "primary") || !rcm_role_is(c, old_port, "replica"))
        fail_msg("after FLUSHALL ran on the new primary, rcm's map is %s", topology_json(c));

    /* Fail back under a FLUSHALL loop; the loop goes on until 20 more succeeded after it. */
    flush_loop l = {.c = c};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, flush_loop_run, &l), 0);
    failover_to(old_port);
    long after = atomic_load(&l.ok) + 20;
    for (int i = 0; i < 6000 && atomic_load(&l.ok) < after && atomic_load(&l.bad) == 0; i++) tu_sleep_ms(10);
    atomic_store(&l.stop, 1);
    pthread_join(th, NULL);
    printf("FLUSHALL loop across the failback: %ld ok, %ld not\n", atomic_load(&l.ok), atomic_load(&l.bad));
    if (atomic_load(&l.bad)) fail_msg("%ld FLUSHALLs across the failback failed; first: %s", atomic_load(&l.bad), l.first_problem);
    if (atomic_load(&l.ok) < after) fail_msg("the FLUSHALL loop stalled: %ld done", atomic_load(&l.ok));
    rcm_client_close(c);
    tu_watchdog_disarm();
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_failover__manual_failover_under_load_loses_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failover__command_to_every_primary_follows_a_failover_the_map_missed,
                                        setup, teardown),
    };
    return TU_RUN(tests, argc, argv);
}
