/* cluster.forget: a node that leaves the cluster leaves the client too. A seventh node
 * (a private server at RCM_TEST_PORT_BASE+38, cluster bus +39) joins the harness's
 * cluster as a primary without slots; the client opens connections to it (it is in the
 * topology, and a PING is routed to it by name). Then every node forgets it (CLUSTER
 * FORGET) and it stops. Within a bounded time the client's pool for it is gone: the
 * stats JSON no longer lists it, and a socket the test itself listens on at its port
 * sees no connection attempt (no reconnect loop). The cluster is left as it was: six
 * nodes, the seventh forgotten everywhere (and banned from gossip for 60 s). */
#define _GNU_SOURCE
#include "cluster_util.h"

#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define EXTRA_PORT_OFFSET 38
#define EXTRA_BUS_OFFSET 39

static int extra_pid = -1;
static char extra_id[48];

static int setup(void **state) {
    (void)state;
    char why[256];
    if (cu_restore_layout(why, sizeof why) != 0) {
        fprintf(stderr, "setup: the cluster is not in the harness's layout: %s\n", why);
        return -1;
    }
    return 0;
}

/* CLUSTER FORGET the extra node on each of the six (a node that does not know it
 * answers an error, which is fine). */
static void forget_everywhere(void) {
    if (!extra_id[0]) return;
    for (int i = 0; i < CU_NODES; i++) free(cu_cli(cu_port(i), "CLUSTER FORGET %s", extra_id));
}

static int teardown(void **state) {
    (void)state;
    if (extra_pid > 0) tu_server_stop(extra_pid);
    extra_pid = -1;
    forget_everywhere();
    char why[256];
    if (!cu_wait_healthy(60, why, sizeof why)) {
        fprintf(stderr, "teardown: the cluster did not become healthy: %s\n", why);
        return -1;
    }
    return 0;
}

/* 1 when every one of the six lists the node with this id. */
static int all_know(const char *id) {
    for (int i = 0; i < CU_NODES; i++) {
        cu_cluster cl;
        if (cu_cluster_read(cu_port(i), &cl) != 0) return 0;
        int found = 0;
        for (int k = 0; k < cl.n; k++) found |= strcmp(cl.nodes[k].id, id) == 0;
        if (!found) return 0;
    }
    return 1;
}

static int stats_list(rcm_client *c, const char *addr) {
    char *json = NULL;
    TU_ASSERT_RC(rcm_client_stats_json(c, &json), RCM_OK);
    char needle[80];
    snprintf(needle, sizeof needle, "\"%s\"", addr);
    int listed = strstr(json, needle) != NULL;
    rcm_free(json);
    return listed;
}

/* A listening socket of the test at port (SO_REUSEADDR), or -1. */
static int listen_on(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    sa.sin_addr.s_addr = htonl(0x7f000001);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 16) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void test_topology__forgotten_node_pool_is_dropped(void **state) {
    (void)state;
    tu_watchdog_arm(240, "a forgotten node's pool is dropped");
    int port = tu_port(EXTRA_PORT_OFFSET), bus = tu_port(EXTRA_BUS_OFFSET);
    const char *addr = cu_addr(port);
    char path[1024];
    snprintf(path, sizeof path, "%s/capi-private-%d/nodes-%d.conf", tu_state_dir(), port, port);
    unlink(path); /* a node file of an earlier run would bring back a node the cluster forgot */
    char extra[512];
    snprintf(extra, sizeof extra,
             "--cluster-enabled yes --cluster-port %d --cluster-config-file nodes-%d.conf "
             "--cluster-node-timeout 5000 --requirepass %s --masterauth %s",
             bus, port, CU_PASSWORD, CU_PASSWORD);
    extra_pid = tu_server_start_ok(port, extra);
    char *id = cu_cli(port, "CLUSTER MYID");
    assert_non_null(id);
    snprintf(extra_id, sizeof extra_id, "%.*s", (int)strcspn(id, "\n"), id);
    free(id);
    assert_int_equal(strlen(extra_id), 40);
    char *out = cu_cli(cu_port(0), "CLUSTER MEET 127.0.0.1 %d %d", port, bus);
    assert_non_null(out);
    free(out);
    double until = tu_now() + 30;
    while (!all_know(extra_id) && tu_now() < until) tu_sleep_ms(100);
    if (!all_know(extra_id)) fail_msg("the six nodes did not all learn node %d within 30 s", port);

    /* topology.refresh_ms 500: pools of nodes outside the topology close after 1 s unused. */
    rcm_client *c = cu_open_ok("topology.refresh_ms", "500", "command_timeout_ms", "2000", NULL);
    rcm_reply *r = NULL;
    until = tu_now() + 30;
    rcm_status st;
    while ((st = cu_to_node(c, port, &r, "PING", NULL)) != RCM_OK && tu_now() < until) tu_sleep_ms(200);
    if (st != RCM_OK) fail_msg("PING routed to %s: %s '%s'", addr, rcm_status_name(st), rcm_last_error());
    TU_ASSERT_STATUS_REPLY(r, "PONG");
    rcm_reply_free(r);
    assert_true(stats_list(c, addr));

    forget_everywhere();
    tu_server_stop(extra_pid);
    extra_pid = -1;
    double t_gone = tu_now();

    /* Bounded: a refresh (0.5 s), the idle time (1 s) and the check's period (1 s),
     * with room for a loaded machine. */
    until = t_gone + 20;
    while (stats_list(c, addr) && tu_now() < until) tu_sleep_ms(200);
    if (stats_list(c, addr)) fail_msg("%s is still in the stats JSON 20 s after it left the cluster", addr);
    printf("pool of %s dropped %.2f s after the node left\n", addr, tu_now() - t_gone);

    /* Nothing reconnects: a listener of ours on its port hears nothing for 3 s (reconnects
     * back off to retry.backoff_max_ms, 1 s by default). */
    int lfd = listen_on(port);
    if (lfd < 0) fail_msg("cannot listen on %d", port);
    struct pollfd pfd = {.fd = lfd, .events = POLLIN};
    int ready = poll(&pfd, 1, 3000);
    close(lfd);
    if (ready > 0) fail_msg("the client still connects to %s after its pool was dropped", addr);

    /* The client still serves every slot. */
    for (int i = 0; i < 50; i++) {
        char key[32];
        snprintf(key, sizeof key, "forget:%d", i);
        rcm_reply *s = tu_cmd_ok(c, "SET", key, "v", NULL);
        TU_ASSERT_STATUS_REPLY(s, "OK");
        rcm_reply_free(s);
    }
    rcm_client_close(c);
    tu_watchdog_disarm();
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_topology__forgotten_node_pool_is_dropped, setup, teardown),
    };
    return TU_RUN(tests, argc, argv);
}
