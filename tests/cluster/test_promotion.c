/* cluster.promotion: what a replica promotion (CLUSTER FAILOVER) looks like to a client
 * that reads from replicas, as the README promises it:
 *
 *   - replica reads keep working through the failover (a reader thread sees no failure
 *     and no wrong value), and once the client knows of the promotion (a write meets
 *     MOVED, which refreshes the topology; reads alone learn nothing, as the promoted
 *     node serves them too, until the periodic refresh) they go where read_from says:
 *     read_from=replica to the demoted primary (now the replica), read_from=primary to
 *     the promoted one (counted on each node with INFO commandstats);
 *   - events: RCM_EVENT_TOPOLOGY_CHANGED is delivered, RCM_EVENT_PRIMARY_CHANGED names
 *     the promoted node with "old -> new: replica promoted", and every callback runs on
 *     one thread of the client's own: not the caller's, not the I/O thread (on which
 *     rcm_command_async's callbacks run), not named rcm-io-*.
 *
 * The old primary takes over again in teardown (cu_restore_layout). */
#define _GNU_SOURCE
#include "cluster_util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NKEYS 20
#define MAX_EVENTS 256

static struct {
    pthread_mutex_t mu;
    int n;
    rcm_event_kind kind[MAX_EVENTS];
    char node[MAX_EVENTS][64];
    char detail[MAX_EVENTS][192];
    pthread_t thread[MAX_EVENTS];
    char thread_name[MAX_EVENTS][32];
} ev = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void on_event(rcm_event_kind kind, const char *node, const char *detail, void *ud) {
    (void)ud;
    pthread_mutex_lock(&ev.mu);
    if (ev.n < MAX_EVENTS) {
        int i = ev.n++;
        ev.kind[i] = kind;
        snprintf(ev.node[i], sizeof ev.node[i], "%s", node ? node : "");
        snprintf(ev.detail[i], sizeof ev.detail[i], "%s", detail ? detail : "");
        ev.thread[i] = pthread_self();
        pthread_getname_np(pthread_self(), ev.thread_name[i], sizeof ev.thread_name[i]);
    }
    pthread_mutex_unlock(&ev.mu);
}

/* The first event from index from on of kind whose node equals node (NULL: any) and
 * whose detail contains needle (NULL: any); -1 when none. */
static int find_event(int from, rcm_event_kind kind, const char *node, const char *needle) {
    pthread_mutex_lock(&ev.mu);
    int found = -1;
    for (int i = from; i < ev.n && found < 0; i++)
        if (ev.kind[i] == kind && (!node || strcmp(ev.node[i], node) == 0) && (!needle || strstr(ev.detail[i], needle)))
            found = i;
    pthread_mutex_unlock(&ev.mu);
    return found;
}

static int events_seen(void) {
    pthread_mutex_lock(&ev.mu);
    int n = ev.n;
    pthread_mutex_unlock(&ev.mu);
    return n;
}

static void print_events(void) {
    pthread_mutex_lock(&ev.mu);
    for (int i = 0; i < ev.n; i++)
        printf("  event %d: kind %d node '%s' detail '%s' thread '%s'\n", i, (int)ev.kind[i], ev.node[i], ev.detail[i],
               ev.thread_name[i]);
    pthread_mutex_unlock(&ev.mu);
}

static pthread_t io_thread;
static atomic_int io_seen;

static void on_async(rcm_status st, rcm_reply *reply, void *ud) {
    (void)st;
    (void)ud;
    io_thread = pthread_self();
    atomic_store(&io_seen, 1);
    rcm_reply_free(reply);
}

static char keys[NKEYS][64];

struct reader {
    rcm_client *c;
    atomic_int stop;
    long ok, bad;
    char first_bad[256];
};

/* GETs of the shard's keys through the read_from=replica client until stopped. */
static void *reader_main(void *arg) {
    struct reader *rd = arg;
    for (long i = 0; !atomic_load(&rd->stop); i++) {
        rcm_reply *r = NULL;
        const char *key = keys[i % NKEYS];
        rcm_status st = tu_cmd(rd->c, &r, "GET", key, NULL);
        if (st == RCM_OK && tu_is_cstring(r, key)) {
            rd->ok++;
        } else {
            if (rd->bad++ == 0)
                snprintf(rd->first_bad, sizeof rd->first_bad, "GET %s at %.2f s: %s %s ('%s')", key, cu_elapsed(),
                         rcm_status_name(st), tu_describe(r), st == RCM_OK ? "" : rcm_last_error());
        }
        rcm_reply_free(r);
        tu_sleep_ms(2);
    }
    return NULL;
}

/* Sends NKEYS GETs through c and returns how many each node ran. */
static void count_gets(rcm_client *c, int port_a, long long *a, int port_b, long long *b) {
    assert_int_equal(cu_reset_stats_all(), 0);
    for (int i = 0; i < NKEYS; i++) {
        rcm_reply *r = tu_cmd_ok(c, "GET", keys[i], NULL);
        TU_ASSERT_CSTRING_REPLY(r, keys[i]);
        rcm_reply_free(r);
    }
    *a = cu_cmdstat_of(port_a, "get").calls;
    *b = cu_cmdstat_of(port_b, "get").calls;
}

static rcm_client *open_reading(const char *read_from, int with_events) {
    rcm_config *cfg = rcm_config_new();
    char url[256];
    snprintf(url, sizeof url, "redis+cluster://:%s@127.0.0.1:%d,127.0.0.1:%d", CU_PASSWORD, cu_port(0), cu_port(1));
    TU_ASSERT_RC(rcm_config_from_url(cfg, url), RCM_OK);
    TU_ASSERT_RC(rcm_config_set(cfg, "read_from", read_from), RCM_OK);
    TU_ASSERT_RC(rcm_config_set(cfg, "command_timeout_ms", "5000"), RCM_OK);
    TU_ASSERT_RC(rcm_config_set(cfg, "io_threads", "1"), RCM_OK);
    if (with_events) TU_ASSERT_RC(rcm_config_set_event_callback(cfg, on_event, NULL), RCM_OK);
    rcm_client *c = NULL;
    rcm_status st = rcm_client_open(cfg, &c);
    rcm_config_free(cfg);
    if (st != RCM_OK) fail_msg("open: %s '%s'", rcm_status_name(st), rcm_last_error());
    return c;
}

static void test_promotion__replica_reads_and_events_follow_a_failover(void **state) {
    (void)state;
    tu_watchdog_arm(300, "replica promotion");
    cu_cluster cl;
    assert_int_equal(cu_cluster_read(cu_port(0), &cl), 0);
    int old_port = cu_port(2);
    int pi = cu_node_index(&cl, old_port);
    assert_true(pi >= 0 && cl.nodes[pi].primary);
    int ri = cu_replica_index(&cl, pi);
    assert_true(ri >= 0);
    int new_port = cl.nodes[ri].port;
    char old_addr[64], new_addr[64];
    snprintf(old_addr, sizeof old_addr, "%s", cu_addr(old_port));
    snprintf(new_addr, sizeof new_addr, "%s", cu_addr(new_port));

    rcm_client *writer = cu_open_ok(NULL);
    int n = 0;
    for (int i = 0; i < NKEYS; i++) {
        cu_key_on(&cl, old_port, "promo:", &n, keys[i], sizeof keys[i]);
        rcm_reply *r = tu_cmd_ok(writer, "SET", keys[i], keys[i], NULL);
        rcm_reply_free(r);
    }
    /* the replica has them */
    long long want_off = cu_info_ll(old_port, "replication", "master_repl_offset");
    for (double e = tu_now() + 20; cu_info_ll(new_port, "replication", "master_repl_offset") < want_off;) {
        if (tu_now() > e) fail_msg("the replica %d did not catch up with %d", new_port, old_port);
        tu_sleep_ms(20);
    }

    rcm_client *rep = open_reading("replica", 1);
    rcm_client *pri = open_reading("primary", 0);
    long long on_old, on_new;
    count_gets(rep, old_port, &on_old, new_port, &on_new);
    printf("before: read_from=replica GETs: %lld on primary %d, %lld on replica %d\n", on_old, old_port, on_new, new_port);
    if (on_new != NKEYS || on_old != 0) fail_msg("before the failover, replica reads did not all go to the replica");

    /* the I/O thread, as rcm_command_async's callback sees it */
    const char *ping[] = {"PING"};
    TU_ASSERT_RC(rcm_command_async(rep, 1, ping, NULL, on_async, NULL), RCM_OK);
    for (double end = tu_now() + 10; !atomic_load(&io_seen) && tu_now() < end;) tu_sleep_ms(5);
    assert_true(atomic_load(&io_seen));

    struct reader rd = {.c = rep};
    pthread_t th;
    int from = events_seen();
    cu_elapsed();
    assert_int_equal(pthread_create(&th, NULL, reader_main, &rd), 0);
    tu_sleep_ms(500);
    cu_log("CLUSTER FAILOVER on %d", new_port);
    if (cu_failover_to(new_port, 60) < 0) fail_msg("%d did not become a primary", new_port);
    cu_assert_healthy_ok(60);
    cu_log("the cluster is healthy");
    /* A write through the reading client finds the new primary (MOVED, then a refresh). */
    rcm_reply *r = tu_cmd_ok(rep, "SET", keys[0], keys[0], NULL);
    TU_ASSERT_STATUS_REPLY(r, "OK");
    rcm_reply_free(r);
    double end = tu_now() + 20;
    while (find_event(from, RCM_EVENT_PRIMARY_CHANGED, new_addr, NULL) < 0 && tu_now() < end) tu_sleep_ms(20);
    tu_sleep_ms(1000);
    atomic_store(&rd.stop, 1);
    pthread_join(th, NULL);
    printf("reads during the failover: %ld ok, %ld failed or wrong%s%s\n", rd.ok, rd.bad, rd.bad ? "; first: " : "",
           rd.first_bad);
    print_events();
    if (rd.bad) fail_msg("%ld replica reads failed during the failover; first: %s", rd.bad, rd.first_bad);
    if (rd.ok < 20) fail_msg("only %ld replica reads completed during the failover", rd.ok);

    /* events */
    int pc = find_event(from, RCM_EVENT_PRIMARY_CHANGED, new_addr, NULL);
    if (pc < 0) fail_msg("no RCM_EVENT_PRIMARY_CHANGED named %s", new_addr);
    char want[192];
    snprintf(want, sizeof want, "%s -> %s: replica promoted", old_addr, new_addr);
    if (find_event(from, RCM_EVENT_PRIMARY_CHANGED, new_addr, want) < 0)
        fail_msg("the PRIMARY_CHANGED event says '%s', not '%s'", ev.detail[pc], want);
    if (find_event(from, RCM_EVENT_TOPOLOGY_CHANGED, NULL, NULL) < 0)
        fail_msg("no RCM_EVENT_TOPOLOGY_CHANGED after the failover");
    pthread_mutex_lock(&ev.mu);
    for (int i = 0; i < ev.n; i++) {
        const char *problem = NULL;
        if (!pthread_equal(ev.thread[i], ev.thread[0])) problem = "another thread than the first event's";
        if (pthread_equal(ev.thread[i], pthread_self()) || pthread_equal(ev.thread[i], th)) problem = "a caller's thread";
        if (pthread_equal(ev.thread[i], io_thread) || strncmp(ev.thread_name[i], "rcm-io-", 7) == 0)
            problem = "the I/O thread";
        if (problem) {
            pthread_mutex_unlock(&ev.mu);
            fail_msg("event %d (kind %d, '%s') ran on %s (thread '%s')", i, (int)ev.kind[i], ev.detail[i], problem,
                     ev.thread_name[i]);
        }
    }
    pthread_mutex_unlock(&ev.mu);

    /* reads go where read_from says */
    count_gets(rep, old_port, &on_old, new_port, &on_new);
    printf("after: read_from=replica GETs: %lld on the demoted %d, %lld on the promoted %d\n", on_old, old_port, on_new,
           new_port);
    if (on_old != NKEYS || on_new != 0)
        fail_msg("read_from=replica after the promotion: %lld of %d GETs on the new replica %d, %lld on the new primary "
                 "%d",
                 on_old, NKEYS, old_port, on_new, new_port);
    count_gets(pri, old_port, &on_old, new_port, &on_new);
    printf("after: read_from=primary GETs: %lld on the demoted %d, %lld on the promoted %d\n", on_old, old_port, on_new,
           new_port);
    if (on_new != NKEYS || on_old != 0)
        fail_msg("read_from=primary after the promotion: %lld of %d GETs on the new primary %d, %lld on %d", on_new, NKEYS,
                 new_port, on_old, old_port);

    for (int i = 0; i < NKEYS; i++) {
        r = tu_cmd_ok(writer, "DEL", keys[i], NULL);
        rcm_reply_free(r);
    }
    rcm_client_close(pri);
    rcm_client_close(rep);
    rcm_client_close(writer);
    tu_watchdog_disarm();
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_promotion__replica_reads_and_events_follow_a_failover, cu_layout_fixture,
                                        cu_layout_fixture),
    };
    return TU_RUN(tests, argc, argv);
}
