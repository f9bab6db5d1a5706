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
 * died wait for the new one instead of failing (no RCM_ERR_CONNECTION). */
#define _GNU_SOURCE
#include "cluster_util.h"

#include <signal.h>
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

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kill__primary_sigkill_under_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill__unsent_requests_wait_for_the_new_primary, setup, teardown),
    };
    return TU_RUN(tests, argc, argv);
}
