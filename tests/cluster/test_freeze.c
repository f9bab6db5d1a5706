/* cluster.freeze: a primary frozen with SIGSTOP for 3 s (less than cluster-node-timeout,
 * so no failover): requests for keys on the other shards keep succeeding throughout,
 * also while a request for the frozen shard waits, and without waiting anywhere near the
 * frozen shard's deadline;
 * requests for the frozen shard end with RCM_ERR_TIMEOUT by their deadline; after
 * SIGCONT they succeed again. Teardown sends SIGCONT whatever happened. */
#define _GNU_SOURCE
#include "cluster_util.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Long enough that a healthy shard's request never meets it on a busy 2-core machine (a
 * node's own hiccup after the previous test's failover, a starved CPU: 500 ms did, once in
 * a while), short enough that the frozen shard's requests meet it several times. */
#define TIMEOUT_MS 1000
#define FREEZE_MS 3000

static int frozen_pid = -1;

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
    if (frozen_pid > 0) kill(frozen_pid, SIGCONT);
    frozen_pid = -1;
    char why[256];
    if (cu_restore_layout(why, sizeof why) != 0) {
        fprintf(stderr, "teardown: could not restore the layout: %s\n", why);
        return -1;
    }
    return 0;
}

/* The thread on the frozen shard: GETs of keys that hold known values. */
typedef struct {
    rcm_client *c;
    char keys[20][64];
    atomic_int *stop;
    _Atomic double freeze_at, cont_at; /* set by the main thread */
    long before_ok, before_bad;
    long during_timeout, during_other, during_ok;
    long after_ok, after_bad_late; /* late: after cont_at + 2 s */
    double first_ok_after_cont;
    double max_call_s;
    cu_load_group *healthy;     /* the other shards' threads */
    long min_healthy_while_waiting; /* fewest healthy successes during one timed-out call (-1: none) */
    char problem[300];
} frozen_load;

static long healthy_ok(const cu_load_group *g) {
    long ok = 0;
    for (int t = 0; t < 3; t++) ok += __atomic_load_n(&g->loads[t].ok, __ATOMIC_RELAXED);
    return ok;
}

static void *frozen_main(void *arg) {
    frozen_load *f = arg;
    for (long it = 0; !atomic_load(f->stop); it++) {
        int k = (int)(it % 20);
        char want[32];
        snprintf(want, sizeof want, "frozen-%d", k);
        double t0 = tu_now();
        long healthy0 = healthy_ok(f->healthy);
        rcm_reply *r = NULL;
        rcm_status st = tu_cmd(f->c, &r, "GET", f->keys[k], NULL);
        double t1 = tu_now();
        long healthy_during = healthy_ok(f->healthy) - healthy0;
        if (t1 - t0 > f->max_call_s) f->max_call_s = t1 - t0;
        int ok = st == RCM_OK && tu_is_cstring(r, want);
        double freeze_at = atomic_load(&f->freeze_at);
        double cont_at = atomic_load(&f->cont_at);
        if (freeze_at == 0 || t0 < freeze_at) {
            /* issued before the freeze: it may be caught by it */
            if (ok) f->before_ok++;
            else if (freeze_at == 0) f->before_bad++;
        } else if (cont_at == 0 || t0 < cont_at) {
            if (ok) f->during_ok++;
            else if (st == RCM_ERR_TIMEOUT) {
                f->during_timeout++;
                if (f->min_healthy_while_waiting < 0 || healthy_during < f->min_healthy_while_waiting)
                    f->min_healthy_while_waiting = healthy_during;
            }
            else {
                f->during_other++;
                snprintf(f->problem, sizeof f->problem, "GET %s during the freeze: %s %s '%s'", f->keys[k],
                         rcm_status_name(st), tu_describe(r), rcm_last_error());
            }
        } else {
            if (ok) {
                f->after_ok++;
                if (f->first_ok_after_cont == 0) f->first_ok_after_cont = t1;
            } else if (t0 > cont_at + 2.0) {
                f->after_bad_late++;
                snprintf(f->problem, sizeof f->problem, "GET %s %.2f s after SIGCONT: %s %s '%s'", f->keys[k],
                         t0 - cont_at, rcm_status_name(st), tu_describe(r), rcm_last_error());
            }
        }
        rcm_reply_free(r);
    }
    return NULL;
}

static void test_freeze__frozen_primary_only_affects_its_slots(void **state) {
    (void)state;
    tu_watchdog_arm(300, "SIGSTOP of a primary");
    cu_cluster cl;
    assert_int_equal(cu_cluster_read(cu_port(0), &cl), 0);
    int port = cu_port(2);
    int pid = cu_node_pid(port);
    if (pid <= 0) fail_msg("no PID recorded by the harness for node %d", port);

    char tmo[16];
    snprintf(tmo, sizeof tmo, "%d", TIMEOUT_MS);
    rcm_client *c = cu_open_ok("command_timeout_ms", tmo, NULL);

    /* 3 threads on the other two shards. */
    cu_load_group g;
    cu_group_init(&g, c, 3);
    int prim[3];
    assert_int_equal(cu_primaries(&cl, prim, 3), 3);
    int n = 0;
    for (int t = 0; t < 3; t++) {
        for (int j = 0; j < 40; j++) {
            int other = cl.nodes[prim[j % 2 == 0 ? 0 : 1]].port;
            if (other == port) other = cl.nodes[prim[2]].port;
            cu_key_on(&cl, other, "frz:", &n, g.keys[t][j], sizeof g.keys[t][j]);
        }
        g.loads[t].nkeys = 40;
    }
    /* 1 thread on the shard that will freeze. */
    static atomic_int fstop;
    atomic_store(&fstop, 0);
    static frozen_load f;
    memset(&f, 0, sizeof f);
    f.c = c;
    f.stop = &fstop;
    f.healthy = &g;
    f.min_healthy_while_waiting = -1;
    for (int k = 0; k < 20; k++) {
        char val[32];
        cu_key_on(&cl, port, "frzmine:", &n, f.keys[k], sizeof f.keys[k]);
        snprintf(val, sizeof val, "frozen-%d", k);
        rcm_reply *r = tu_cmd_ok(c, "SET", f.keys[k], val, NULL);
        TU_ASSERT_STATUS_REPLY(r, "OK");
        rcm_reply_free(r);
    }

    cu_log("loads start"); /* problems are stamped in seconds from here */
    cu_group_start(&g);
    pthread_t ft;
    pthread_create(&ft, NULL, frozen_main, &f);
    tu_sleep_ms(1000);
    long ok_before_freeze = 0;
    for (int t = 0; t < 3; t++) ok_before_freeze += __atomic_load_n(&g.loads[t].ok, __ATOMIC_RELAXED);

    cu_log("SIGSTOP %d", port);
    atomic_store(&f.freeze_at, tu_now());
    frozen_pid = pid;
    if (kill(pid, SIGSTOP) != 0) fail_msg("kill(%d, SIGSTOP) failed", pid);
    tu_sleep_ms(FREEZE_MS);
    long ok_during = 0;
    for (int t = 0; t < 3; t++) ok_during += __atomic_load_n(&g.loads[t].ok, __ATOMIC_RELAXED);
    ok_during -= ok_before_freeze;
    kill(pid, SIGCONT);
    cu_log("SIGCONT %d", port);
    frozen_pid = -1;
    atomic_store(&f.cont_at, tu_now());
    tu_sleep_ms(3500);
    atomic_store(&fstop, 1);
    cu_group_stop(&g);
    pthread_join(ft, NULL);

    cu_load sum;
    cu_group_sum(&g, "other shards", &sum);
    printf("other shards: %ld iterations during the %d ms freeze\n", ok_during, FREEZE_MS);
    printf("frozen shard: before %ld ok / %ld bad; during: %ld timeouts, %ld other failures, %ld ok; after: %ld ok, "
           "%ld failures later than 2 s; first success %.3f s after SIGCONT; longest call %.3f s\n",
           f.before_ok, f.before_bad, f.during_timeout, f.during_other, f.during_ok, f.after_ok, f.after_bad_late,
           f.first_ok_after_cont ? f.first_ok_after_cont - atomic_load(&f.cont_at) : -1.0, f.max_call_s);
    if (f.problem[0]) printf("    frozen shard problem: %s\n", f.problem);

    if (sum.failed || sum.error_replies || sum.wrong)
        fail_msg("requests on the healthy shards failed while another was frozen: %ld failed, %ld error replies, "
                 "%ld wrong (first: %s)",
                 sum.failed, sum.error_replies, sum.wrong, sum.first_problem);
    if (ok_during < 50) fail_msg("only %ld requests succeeded on the healthy shards during the freeze", ok_during);
    /* They did not wait behind the frozen shard: no call waited anywhere near its
     * deadline, and while each request for it waited out its deadline, the healthy
     * shards kept completing requests (an order, not a rate: a loaded machine may slow
     * everything, but a healthy request queued behind a frozen one completes none). */
    printf("other shards: %ld iterations in the second before the freeze, %ld during it; longest call %.3f s; "
           "fewest completed while one frozen-shard request waited out its deadline: %ld\n",
           ok_before_freeze, ok_during, sum.max_call_s, f.min_healthy_while_waiting);
    if (sum.max_call_s >= TIMEOUT_MS / 1000.0)
        fail_msg("a request on a healthy shard took %.3f s: as long as the frozen shard's deadline", sum.max_call_s);
    if (f.min_healthy_while_waiting >= 0 && f.min_healthy_while_waiting < 5)
        fail_msg("while a request for the frozen shard waited out its %d ms deadline, the healthy shards completed "
                 "only %ld requests: they waited behind it", TIMEOUT_MS, f.min_healthy_while_waiting);
    if (f.before_ok == 0 || f.before_bad) fail_msg("the frozen shard's thread did not work before the freeze");
    if (f.during_timeout == 0) fail_msg("no request for the frozen shard timed out");
    if (f.during_other) fail_msg("a request for the frozen shard failed otherwise than RCM_ERR_TIMEOUT: %s", f.problem);
    if (f.max_call_s > TIMEOUT_MS / 1000.0 + 1.0)
        fail_msg("a request for the frozen shard took %.3f s with a %d ms deadline", f.max_call_s, TIMEOUT_MS);
    if (f.after_ok == 0 || f.first_ok_after_cont - atomic_load(&f.cont_at) > 2.0)
        fail_msg("the frozen shard did not serve requests within 2 s of SIGCONT");
    if (f.after_bad_late) fail_msg("requests failed more than 2 s after SIGCONT: %s", f.problem);

    /* No failover happened (the premise of the test). */
    char *out = cu_cli(port, "ROLE");
    int still_primary = out && strncmp(out, "master", 6) == 0;
    free(out);
    if (!still_primary) fail_msg("node %d is no longer a primary: the freeze outlasted cluster-node-timeout", port);
    rcm_client_close(c);
    tu_watchdog_disarm();
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_freeze__frozen_primary_only_affects_its_slots, setup, teardown),
    };
    return TU_RUN(tests, argc, argv);
}
