/* cluster.kill: a primary killed with SIGKILL while 4 threads SET and GET keys on every
 * shard. Every call returns with a status by its deadline (command_timeout_ms 1000, each
 * call within 1 s + 2 s), no GET reads a value other than the one its thread just wrote,
 * and from 2 s after the replica's promotion (ROLE polled with valkey-cli) every request
 * succeeds again. The killed node is restarted with its own directory and arguments (it
 * rejoins as a replica) and takes its primary role back, restoring the harness's
 * layout; teardown does this also when the test fails.
 *
 * test_kill__unsent_requests_wait_for_the_new_primary: the same kill with
 * command_timeout_ms 5000 and a takeover ~1 s later: requests not sent when the primary
 * died wait for the new one instead of failing (no RCM_ERR_CONNECTION).
 *
 * test_kill__strict_replica_reads_wait_for_the_replica: read_from=replica reads of a shard
 * whose only replica is SIGKILLed wait for it and are served by it once it is back (never
 * by the primary); read_from=prefer_replica reads meanwhile go to the primary. */
#define _GNU_SOURCE
#include "cluster_util.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TIMEOUT_MS 1000

static int killed_port = -1;

/* Keys for a load group: on each thread, even ones on the primary on port, odd ones anywhere. */
static void fill_keys(cu_load_group *g, const cu_cluster *cl, int port, const char *prefix) {
    int n = 0;
    for (int t = 0; t < g->n; t++) {
        for (int j = 0; j < 40; j++) {
            if (j % 2 == 0)
                cu_key_on(cl, port, prefix, &n, g->keys[t][j], sizeof g->keys[t][j]);
            else
                snprintf(g->keys[t][j], sizeof g->keys[t][j], "%sany:t%d:%d", prefix, t, j);
        }
        g->loads[t].nkeys = 40;
    }
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
    if (killed_port > 0 && cu_node_pid(killed_port) < 0) {
        int pid = cu_node_restart(killed_port);
        fprintf(stderr, "teardown: restarted node %d (pid %d)\n", killed_port, pid);
    }
    killed_port = -1;
    char why[256];
    if (cu_restore_layout(why, sizeof why) != 0) {
        fprintf(stderr, "teardown: could not restore the layout: %s\n", why);
        return -1;
    }
    return 0;
}

static void test_kill__primary_sigkill_under_load(void **state) {
    (void)state;
    tu_watchdog_arm(360, "SIGKILL of a primary under load");
    cu_cluster cl;
    assert_int_equal(cu_cluster_read(cu_port(0), &cl), 0);
    int port = cu_port(2);
    int pi = cu_node_index(&cl, port);
    assert_true(pi >= 0 && cl.nodes[pi].primary);
    int ri = cu_replica_index(&cl, pi);
    assert_true(ri >= 0);
    int replica_port = cl.nodes[ri].port;
    int pid = cu_node_pid(port);
    if (pid <= 0) fail_msg("no PID recorded by the harness for node %d", port);

    char tmo[16];
    snprintf(tmo, sizeof tmo, "%d", TIMEOUT_MS);
    rcm_client *c = cu_open_ok("command_timeout_ms", tmo, NULL);
    cu_load_group g;
    cu_group_init(&g, c, 4);
    int n = 0;
    for (int t = 0; t < 4; t++) {
        for (int j = 0; j < 40; j++) {
            if (j % 2 == 0)
                cu_key_on(&cl, port, "kill:", &n, g.keys[t][j], sizeof g.keys[t][j]);
            else
                snprintf(g.keys[t][j], sizeof g.keys[t][j], "killany:t%d:%d", t, j);
        }
        g.loads[t].nkeys = 40;
    }

    cu_group_start(&g);
    tu_sleep_ms(1000);
    killed_port = port;
    double t_kill = tu_now();
    if (kill(pid, SIGKILL) != 0) fail_msg("kill(%d, SIGKILL) failed", pid);
    double t_promoted = cu_wait_role_master(replica_port, 60);
    if (t_promoted < 0) {
        cu_group_stop(&g);
        fail_msg("replica %d was not promoted within 60 s of killing %d", replica_port, port);
    }
    cu_note_vote(port);
    printf("replica %d promoted %.2f s after the kill\n", replica_port, t_promoted - t_kill);
    /* Full success is due 2 s after the promotion; watch 3 s more. */
    while (tu_now() < t_promoted + 5.0) tu_sleep_ms(100);
    cu_group_stop(&g);

    cu_load sum;
    cu_group_sum(&g, "load", &sum);
    if (sum.wrong) fail_msg("%ld GETs read another value than their thread had just written: %s", sum.wrong, sum.wrong_problem);
    /* None hangs past its deadline (a timer ends it; 0.5 s covers the wake-up of a busy
     * machine, not a wait for the dead node). */
    printf("longest call %.3f s (deadline %d ms)\n", sum.max_call_s, TIMEOUT_MS);
    if (sum.max_call_s > TIMEOUT_MS / 1000.0 + 0.5)
        fail_msg("a call took %.3f s with command_timeout_ms %d", sum.max_call_s, TIMEOUT_MS);
    for (int t = 0; t < g.n; t++) {
        const cu_load *l = &g.loads[t];
        if (l->last_failure_at > t_promoted + 2.0)
            fail_msg("thread %d: a request failed %.2f s after the promotion: %s", t, l->last_failure_at - t_promoted,
                     l->last_problem);
        if (l->last_ok_at < t_promoted + 4.5) fail_msg("thread %d: no success in the last phase", t);
    }
    if (sum.failed + sum.error_replies == 0) printf("note: no request failed at all during the outage\n");

    /* Restart the killed node: it rejoins as a replica of the promoted one. */
    int newpid = cu_node_restart(port);
    if (newpid <= 0) fail_msg("could not restart node %d", port);
    printf("restarted node %d as pid %d\n", port, newpid);
    killed_port = -1;
    cu_assert_healthy_ok(120);
    char *out = cu_cli(port, "ROLE");
    int replica = out && strncmp(out, "slave", 5) == 0;
    free(out);
    if (!replica) fail_msg("the restarted node %d is not a replica", port);

    /* The client still works on every shard; then the original layout comes back. */
    for (int t = 0; t < 4; t++)
        for (int j = 0; j < 40; j++) {
            rcm_reply *r = tu_cmd_ok(c, "SET", g.keys[t][j], "end", NULL);
            TU_ASSERT_STATUS_REPLY(r, "OK");
            rcm_reply_free(r);
        }
    rcm_client_close(c);
    char why[256];
    if (cu_restore_layout(why, sizeof why) != 0) fail_msg("restoring the layout: %s", why);
    tu_watchdog_disarm();
}

/* Item: a dead primary's unsent requests wait for its successor. command_timeout_ms 5000
 * and the replica taken over ~1 s after the SIGKILL (CLUSTER FAILOVER TAKEOVER: the
 * harness's cluster-node-timeout of 5 s would make an automatic failover outlast the
 * deadline). Requests that were not sent when the primary died, or that found it dead,
 * are held (refreshing the topology) and go to the new primary: none fails with
 * RCM_ERR_CONNECTION; the only failures allowed are writes in flight at the kill
 * (RCM_ERR_UNCERTAIN). */
static void test_kill__unsent_requests_wait_for_the_new_primary(void **state) {
    (void)state;
    tu_watchdog_arm(360, "SIGKILL of a primary, requests held for its successor");
    cu_cluster cl;
    assert_int_equal(cu_cluster_read(cu_port(0), &cl), 0);
    int port = cu_port(1);
    int pi = cu_node_index(&cl, port);
    assert_true(pi >= 0 && cl.nodes[pi].primary);
    int ri = cu_replica_index(&cl, pi);
    assert_true(ri >= 0);
    int replica_port = cl.nodes[ri].port;
    int pid = cu_node_pid(port);
    if (pid <= 0) fail_msg("no PID recorded by the harness for node %d", port);

    rcm_client *c = cu_open_ok("command_timeout_ms", "5000", NULL);
    cu_load_group g;
    cu_group_init(&g, c, 4);
    fill_keys(&g, &cl, port, "hold:");
    cu_group_start(&g);
    tu_sleep_ms(1000);
    killed_port = port;
    double t_kill = tu_now();
    if (kill(pid, SIGKILL) != 0) fail_msg("kill(%d, SIGKILL) failed", pid);
    tu_sleep_ms(1000);
    char *out = cu_cli(replica_port, "CLUSTER FAILOVER TAKEOVER");
    free(out);
    double t_promoted = cu_wait_role_master(replica_port, 30);
    if (t_promoted < 0) {
        cu_group_stop(&g);
        fail_msg("replica %d did not take over within 30 s", replica_port);
    }
    printf("replica %d took over %.2f s after the kill\n", replica_port, t_promoted - t_kill);
    /* Every request held across the outage has ended (deadline 5 s) by now. */
    while (tu_now() < t_promoted + 6.0) tu_sleep_ms(100);
    cu_group_stop(&g);

    cu_load sum;
    cu_group_sum(&g, "load", &sum);
    if (sum.wrong) fail_msg("%ld GETs read another value than their thread had just written: %s", sum.wrong, sum.wrong_problem);
    long connection = sum.status_count[cu_status_slot(RCM_ERR_CONNECTION)];
    long uncertain = sum.status_count[cu_status_slot(RCM_ERR_UNCERTAIN)];
    if (connection > 0)
        fail_msg("%ld requests failed with RCM_ERR_CONNECTION within their 5 s deadline instead of waiting for the "
                 "new primary; last problem: %s",
                 connection, sum.last_problem);
    /* Only a takeover later than the deadline allows (a badly loaded machine) excuses
     * requests that ended at their deadline; anything else is a defect. */
    if (sum.failed > uncertain && t_promoted - t_kill < 3.5)
        fail_msg("%ld requests failed with another status than RCM_ERR_UNCERTAIN; last problem: %s",
                 sum.failed - uncertain, sum.last_problem);
    printf("longest call %.3f s (deadline 5000 ms)\n", sum.max_call_s);
    if (sum.max_call_s > 5.0 + 1.0) fail_msg("a call took %.3f s with command_timeout_ms 5000", sum.max_call_s);
    for (int t = 0; t < g.n; t++) {
        const cu_load *l = &g.loads[t];
        if (l->last_failure_at > t_promoted + 2.0)
            fail_msg("thread %d: a request failed %.2f s after the takeover: %s", t, l->last_failure_at - t_promoted,
                     l->last_problem);
        if (l->last_ok_at < t_promoted + 5.5) fail_msg("thread %d: no success in the last phase", t);
    }
    rcm_client_close(c);

    int newpid = cu_node_restart(port);
    if (newpid <= 0) fail_msg("could not restart node %d", port);
    killed_port = -1;
    char why[256];
    if (cu_restore_layout(why, sizeof why) != 0) fail_msg("restoring the layout: %s", why);
    tu_watchdog_disarm();
}

/* 1 when every node but `port` itself flags the node on `port` as failed (CLUSTER NODES
 * "fail", not the suspicion "fail?"). */
static int failed_everywhere(const cu_cluster *cl, int port) {
    char needle[32];
    snprintf(needle, sizeof needle, ":%d@", port);
    for (int i = 0; i < cl->n; i++) {
        if (cl->nodes[i].port == port) continue;
        char *out = cu_cli(cl->nodes[i].port, "CLUSTER NODES");
        const char *line = out ? strstr(out, needle) : NULL;
        int failed = 0;
        if (line) {
            const char *end = strchr(line, '\n');
            const char *flags = strchr(line, ' ');
            if (flags && (!end || flags < end)) {
                const char *f = strstr(flags + 1, "fail");
                failed = f && (!end || f < end) && f[4] != '?';
            }
        }
        free(out);
        if (!failed) return 0;
    }
    return 1;
}

typedef struct {
    rcm_client *c;
    const char *key;
    rcm_status st;
    int kept; /* the reply was "kept" */
    char value[128];
    char error[256];
    atomic_int done;
} strict_read;

static void *strict_read_main(void *arg) {
    strict_read *sr = arg;
    rcm_reply *r = NULL;
    sr->st = tu_cmd(sr->c, &r, "GET", sr->key, NULL);
    sr->kept = sr->st == RCM_OK && tu_is_cstring(r, "kept");
    if (sr->st == RCM_OK) snprintf(sr->value, sizeof sr->value, "%s", tu_describe(r));
    else snprintf(sr->error, sizeof sr->error, "%s", rcm_last_error());
    rcm_reply_free(r);
    atomic_store(&sr->done, 1);
    return NULL;
}

/* read_from=replica never reads from the primary; when a shard's only replica dies, reads
 * of that shard wait (within their deadline) for it to come back, instead of failing at
 * once with RCM_ERR_CLUSTERDOWN as main did. Both ways a read can find no replica:
 *   A: a client that was using the replica when it died (its pool lost, in the map);
 *   B: a client opened after the cluster flagged the replica failed (no replica in its map,
 *      as on a fresh cluster whose gossip has not named the replica yet: the read waits
 *      for a map that names one).
 * Both reads, started while the replica is dead, end OK with the value once it is back
 * (SAVEd before the kill: the harness runs nodes without persistence, and a replica back
 * from an older RDB would miss the value until its primary's backlog reached it), and no
 * GET reaches the primary. A read whose deadline ends first says why.
 * read_from=prefer_replica: a client whose map still names the dead replica reads from the
 * primary within a short deadline (main kept queueing it on the replica that had never
 * answered, until the deadline). */
static void test_kill__strict_replica_reads_wait_for_the_replica(void **state) {
    (void)state;
    tu_watchdog_arm(240, "read_from=replica across the death of a replica");
    cu_cluster cl;
    assert_int_equal(cu_cluster_read(cu_port(0), &cl), 0);
    int port = cu_port(0);
    int pi = cu_node_index(&cl, port);
    assert_true(pi >= 0 && cl.nodes[pi].primary);
    int ri = cu_replica_index(&cl, pi);
    assert_true(ri >= 0);
    int replica_port = cl.nodes[ri].port;
    int pid = cu_node_pid(replica_port);
    if (pid <= 0) fail_msg("no PID recorded by the harness for node %d", replica_port);
    char key[64];
    int n = 0;
    cu_key_on(&cl, port, "strict:", &n, key, sizeof key);

    rcm_client *a = cu_open_ok("read_from", "replica", "command_timeout_ms", "60000", NULL);
    rcm_reply *r = tu_cmd_ok(a, "SET", key, "kept", NULL);
    rcm_reply_free(r);
    char *out = cu_cli(port, "WAIT 1 5000");
    if (!out || atoi(out) != 1) fail_msg("WAIT 1 on %d: '%s'", port, out ? out : "");
    free(out);
    r = tu_cmd_ok(a, "GET", key, NULL);
    if (!tu_is_cstring(r, "kept")) fail_msg("GET %s before the kill: %s", key, tu_describe(r));
    rcm_reply_free(r);

    out = cu_cli(replica_port, "SAVE");
    if (!out || strncmp(out, "OK", 2) != 0) fail_msg("SAVE on %d: '%s'", replica_port, out ? out : "");
    free(out);
    killed_port = replica_port;
    if (kill(pid, SIGKILL) != 0) fail_msg("kill(%d, SIGKILL) failed", pid);
    for (int i = 0; i < cl.n; i++)
        if (cl.nodes[i].port != replica_port) free(cu_cli(cl.nodes[i].port, "CONFIG RESETSTAT"));
    strict_read ra = {.c = a, .key = key};
    pthread_t ta;
    assert_int_equal(pthread_create(&ta, NULL, strict_read_main, &ra), 0);

    /* read_from=prefer_replica, opened now: its map names the replica (no node has flagged
     * it yet), which refuses every connect. STRLEN, not GET: the primary's GET count stays
     * A's and B's alone. */
    rcm_client *p = cu_open_ok("read_from", "prefer_replica", "command_timeout_ms", "1500", NULL);
    double t_p = tu_now();
    rcm_status pst = tu_cmd(p, &r, "STRLEN", key, NULL);
    const char *perr = pst != RCM_OK ? rcm_last_error() : "";
    printf("prefer_replica STRLEN with the replica dead: %s %s after %.2f s %s\n", rcm_status_name(pst),
           tu_describe(r), tu_now() - t_p, perr);
    if (pst != RCM_OK || !r || rcm_reply_type(r) != RCM_REPLY_INTEGER || rcm_reply_integer(r) != 4)
        fail_msg("read_from=prefer_replica with the replica dead: %s %s '%s' (expected :4 from the primary)",
                 rcm_status_name(pst), tu_describe(r), perr);
    rcm_reply_free(r);
    rcm_client_close(p);

    double t0 = tu_now();
    while (!failed_everywhere(&cl, replica_port)) {
        if (tu_now() - t0 > 60) fail_msg("the cluster did not flag the killed replica %d failed within 60 s", replica_port);
        tu_sleep_ms(100);
    }
    printf("replica %d flagged failed by every node %.1f s after the kill\n", replica_port, tu_now() - t0);
    rcm_client *b = cu_open_ok("read_from", "replica", "command_timeout_ms", "60000", NULL);
    strict_read rb = {.c = b, .key = key};
    pthread_t tb;
    assert_int_equal(pthread_create(&tb, NULL, strict_read_main, &rb), 0);

    /* A read whose deadline comes first fails then, not before, and says why. */
    rcm_client *c = cu_open_ok("read_from", "replica", "command_timeout_ms", "400", NULL);
    double t_short = tu_now();
    rcm_status st = tu_cmd(c, &r, "GET", key, NULL);
    double waited = tu_now() - t_short;
    const char *why = st != RCM_OK ? rcm_last_error() : "";
    printf("400 ms read: %s after %.3f s: %s\n", rcm_status_name(st), waited, why);
    if (st != RCM_ERR_CLUSTERDOWN || !strstr(why, "read_from=replica: no replica of slot"))
        fail_msg("a 400 ms read_from=replica GET with the replica down: %s '%s' (expected RCM_ERR_CLUSTERDOWN "
                 "naming the missing replica)", rcm_status_name(st), why);
    if (waited < 0.39) fail_msg("the 400 ms read failed after %.3f s, before its deadline", waited);
    rcm_reply_free(r);
    rcm_client_close(c);

    tu_sleep_ms(1000);
    if (atomic_load(&ra.done)) fail_msg("client A's read ended while the replica was dead: %s '%s'", rcm_status_name(ra.st), ra.error);
    if (atomic_load(&rb.done)) fail_msg("client B's read ended while the replica was dead: %s '%s'", rcm_status_name(rb.st), rb.error);

    int newpid = cu_node_restart(replica_port);
    if (newpid <= 0) fail_msg("could not restart node %d", replica_port);
    double t_restart = tu_now();
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    printf("reads ended %.1f s after the restart: A %s %s, B %s %s\n", tu_now() - t_restart, rcm_status_name(ra.st),
           ra.st == RCM_OK ? ra.value : ra.error, rcm_status_name(rb.st), rb.st == RCM_OK ? rb.value : rb.error);
    killed_port = -1;
    for (int i = 0; i < cl.n; i++)
        printf("node %d: %lld GETs since the kill\n", cl.nodes[i].port, cu_cmdstat_of(cl.nodes[i].port, "get").calls);
    if (!ra.kept)
        fail_msg("client A's read across the replica's death: %s %s", rcm_status_name(ra.st), ra.st == RCM_OK ? ra.value : ra.error);
    if (!rb.kept)
        fail_msg("client B's read across the replica's death: %s %s", rcm_status_name(rb.st), rb.st == RCM_OK ? rb.value : rb.error);
    long long on_primary = cu_cmdstat_of(port, "get").calls;
    if (on_primary != 0) fail_msg("read_from=replica: %lld GETs reached the primary %d", on_primary, port);
    rcm_client_close(a);
    rcm_client_close(b);
    cu_assert_healthy_ok(120);
    tu_watchdog_disarm();
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kill__primary_sigkill_under_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill__unsent_requests_wait_for_the_new_primary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill__strict_replica_reads_wait_for_the_replica, setup, teardown),
    };
    return TU_RUN(tests, argc, argv);
}
