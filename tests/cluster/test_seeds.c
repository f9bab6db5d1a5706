/* cluster.seeds: the first seed is down (nothing listens there, or a listener that never
 * answers): the client opens through the second seed, learns the whole cluster and
 * serves keys of every shard. */
#define _GNU_SOURCE
#include "cluster_util.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { SILENT_SEED = 17 }; /* base+17: this test's listener (tests/harness/fixtures.cmake) */

/* Keys of every primary: SET and GET back through c. */
static void assert_every_shard_served(rcm_client *c, const char *prefix) {
    cu_cluster cl;
    int idx[CU_PRIMARIES];
    assert_int_equal(cu_cluster_read(cu_port(0), &cl), 0);
    assert_int_equal(cu_primaries(&cl, idx, CU_PRIMARIES), CU_PRIMARIES);
    int n = 0;
    for (int i = 0; i < CU_PRIMARIES; i++) {
        char key[64];
        cu_key_on(&cl, cl.nodes[idx[i]].port, prefix, &n, key, sizeof key);
        rcm_reply *r = tu_cmd_ok(c, "SET", key, "seeded", NULL);
        TU_ASSERT_STATUS_REPLY(r, "OK");
        rcm_reply_free(r);
        r = tu_cmd_ok(c, "GET", key, NULL);
        TU_ASSERT_CSTRING_REPLY(r, "seeded");
        rcm_reply_free(r);
        r = tu_cmd_ok(c, "DEL", key, NULL);
        rcm_reply_free(r);
    }
    char *json = NULL;
    TU_ASSERT_RC(rcm_client_topology_json(c, &json), RCM_OK);
    for (int i = 0; i < CU_NODES; i++)
        if (!strstr(json, cu_addr(cu_port(i)))) fail_msg("the topology does not name %s: %s", cu_addr(cu_port(i)), json);
    rcm_free(json);
}

static rcm_client *open_seeds(int first_port) {
    char url[256];
    snprintf(url, sizeof url, "redis+cluster://:%s@127.0.0.1:%d,127.0.0.1:%d", CU_PASSWORD, first_port, cu_port(1));
    rcm_config *cfg = rcm_config_new();
    TU_ASSERT_RC(rcm_config_from_url(cfg, url), RCM_OK);
    TU_ASSERT_RC(rcm_config_set(cfg, "connect_timeout_ms", "1000"), RCM_OK);
    rcm_client *c = NULL;
    double t0 = tu_now();
    rcm_status st = rcm_client_open(cfg, &c);
    rcm_config_free(cfg);
    printf("open with seeds %s: %s after %.2f s\n", url, rcm_status_name(st), tu_now() - t0);
    if (st != RCM_OK) fail_msg("open with the first seed down: %s '%s'", rcm_status_name(st), rcm_last_error());
    return c;
}

static void test_seeds__first_seed_refusing_connections_is_skipped(void **state) {
    (void)state;
    tu_watchdog_arm(60, "first seed refusing");
    rcm_client *c = open_seeds(tu_port(TU_NEVER_STARTED));
    assert_every_shard_served(c, "seeds:refused:");
    rcm_client_close(c);
    tu_watchdog_disarm();
}

static void test_seeds__first_seed_that_never_answers_is_skipped(void **state) {
    (void)state;
    tu_watchdog_arm(60, "first seed silent");
    /* a listener of this test that accepts (the kernel does) and never answers */
    int port = tu_port(SILENT_SEED);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) fail_msg("bind 127.0.0.1:%d failed", port);
    assert_int_equal(listen(fd, 16), 0);
    rcm_client *c = open_seeds(port);
    assert_every_shard_served(c, "seeds:silent:");
    rcm_client_close(c);
    close(fd);
    tu_watchdog_disarm();
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seeds__first_seed_refusing_connections_is_skipped),
        cmocka_unit_test(test_seeds__first_seed_that_never_answers_is_skipped),
    };
    return TU_RUN(tests, argc, argv);
}
