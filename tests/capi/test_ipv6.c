/* capi.ipv6: seeds written `[::1]:port` (README: "IPv6 as [::1]:6379") reach the server
 * over IPv6, in standalone and in cluster mode; the server's CLIENT INFO, asked through
 * rcm, shows the connection's address is ::1. Skipped (with a message) when this machine
 * has no ::1.
 *
 * Private servers: base+8 (standalone, listening on 127.0.0.1 and ::1), base+9 a
 * one-node cluster owning every slot that announces ::1 (its bus on base+16); see
 * tests/harness/fixtures.cmake. */
#define _GNU_SOURCE
#include "test_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { PRIV_IPV6 = 8, PRIV_IPV6_CLUSTER = 9, PRIV_IPV6_CLUSTER_BUS = 16 };

static int have_ipv6_loopback(void) {
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

#define REQUIRE_IPV6()                                                                     \
    do {                                                                                   \
        if (!have_ipv6_loopback()) {                                                       \
            printf("no IPv6 loopback (::1) on this machine: skipped\n");                   \
            skip();                                                                        \
        }                                                                                  \
    } while (0)

static rcm_client *open_url(const char *url) {
    rcm_config *cfg = rcm_config_new();
    TU_ASSERT_RC(rcm_config_from_url(cfg, url), RCM_OK);
    TU_ASSERT_RC(rcm_config_set(cfg, "command_timeout_ms", "5000"), RCM_OK);
    rcm_client *c = NULL;
    rcm_status st = rcm_client_open(cfg, &c);
    rcm_config_free(cfg);
    if (st != RCM_OK) fail_msg("open %s: %s '%s'", url, rcm_status_name(st), rcm_last_error());
    return c;
}

/* SET/GET work and CLIENT INFO (through rcm) shows an IPv6 peer. */
static void assert_works_over_ipv6(rcm_client *c, const char *key) {
    rcm_reply *r = tu_cmd_ok(c, "SET", key, "six", NULL);
    TU_ASSERT_STATUS_REPLY(r, "OK");
    rcm_reply_free(r);
    r = tu_cmd_ok(c, "GET", key, NULL);
    TU_ASSERT_CSTRING_REPLY(r, "six");
    rcm_reply_free(r);
    r = tu_cmd_ok(c, "CLIENT", "INFO", NULL);
    const char *info = rcm_reply_string(r, NULL);
    printf("CLIENT INFO: %s\n", info ? info : "(none)");
    if (!info || !strstr(info, "addr=[::1]:"))
        fail_msg("the server saw the connection from elsewhere than ::1: %s", info ? info : tu_describe(r));
    rcm_reply_free(r);
}

static void test_ipv6__standalone_seed_in_brackets_connects_over_ipv6(void **state) {
    (void)state;
    REQUIRE_IPV6();
    tu_watchdog_arm(60, "IPv6 standalone");
    int port = tu_port(PRIV_IPV6);
    int pid = tu_server_start_ok(port, "--bind 127.0.0.1 ::1");
    char url[128];
    snprintf(url, sizeof url, "redis://[::1]:%d", port);
    rcm_client *c = open_url(url);
    assert_works_over_ipv6(c, "ipv6:standalone");
    rcm_client_close(c);

    /* The same through the seeds key. */
    rcm_config *cfg = tu_config_ok("redis", port, NULL);
    char seeds[128];
    snprintf(seeds, sizeof seeds, "[::1]:%d", port);
    TU_ASSERT_RC(rcm_config_set(cfg, "seeds", seeds), RCM_OK);
    c = NULL;
    TU_ASSERT_RC(rcm_client_open(cfg, &c), RCM_OK);
    rcm_config_free(cfg);
    assert_works_over_ipv6(c, "ipv6:seeds");
    rcm_client_close(c);
    tu_server_stop(pid);
    tu_watchdog_disarm();
}

static void test_ipv6__cluster_seed_in_brackets_routes_over_ipv6(void **state) {
    (void)state;
    REQUIRE_IPV6();
    tu_watchdog_arm(90, "IPv6 cluster");
    int port = tu_port(PRIV_IPV6_CLUSTER);
    char extra[256];
    snprintf(extra, sizeof extra,
             "--bind 127.0.0.1 ::1 --cluster-enabled yes --cluster-config-file nodes-%d.conf "
             "--cluster-port %d --cluster-announce-ip ::1",
             port, tu_port(PRIV_IPV6_CLUSTER_BUS));
    char nodes_conf[1024];
    snprintf(nodes_conf, sizeof nodes_conf, "%s/capi-private-%d/nodes-%d.conf", tu_state_dir(), port, port);
    unlink(nodes_conf); /* a fresh cluster, not the one of an earlier run */
    int pid = tu_server_start_ok(port, extra);
    int fd = tu_raw_connect(port);
    assert_true(fd >= 0);
    char buf[4096];
    assert_int_equal(tu_raw_send(fd, "CLUSTER", "ADDSLOTSRANGE", "0", "16383", NULL), 0);
    assert_int_equal(tu_raw_read(fd, buf, sizeof buf, 5000), 0);
    if (strcmp(buf, "+OK") != 0) fail_msg("CLUSTER ADDSLOTSRANGE: %s", buf);
    int ok = 0;
    for (double end = tu_now() + 30; !ok && tu_now() < end; tu_sleep_ms(100)) {
        assert_int_equal(tu_raw_send(fd, "CLUSTER", "INFO", NULL), 0);
        assert_int_equal(tu_raw_read(fd, buf, sizeof buf, 5000), 0);
        ok = strstr(buf, "cluster_state:ok") != NULL;
    }
    tu_raw_close(fd);
    if (!ok) fail_msg("the one-node cluster on %d never said cluster_state:ok", port);

    char url[128];
    snprintf(url, sizeof url, "redis+cluster://[::1]:%d", port);
    rcm_client *c = open_url(url);
    /* keys of many slots: every one is routed to [::1]:port, the address CLUSTER SHARDS names */
    char key[32];
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof key, "ipv6:%d", i);
        assert_works_over_ipv6(c, key);
    }
    char *json = NULL;
    TU_ASSERT_RC(rcm_client_topology_json(c, &json), RCM_OK);
    char want[64];
    snprintf(want, sizeof want, "[::1]:%d", port);
    if (!strstr(json, want)) fail_msg("the topology does not name %s: %s", want, json);
    rcm_free(json);
    rcm_client_close(c);
    tu_server_stop(pid);
    tu_watchdog_disarm();
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv6__standalone_seed_in_brackets_connects_over_ipv6),
        cmocka_unit_test(test_ipv6__cluster_seed_in_brackets_routes_over_ipv6),
    };
    return TU_RUN(tests, argc, argv);
}
