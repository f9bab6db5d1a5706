/* sentinel.seeds: the first sentinel listed is down (nothing listens there): the client
 * opens through the second, finds the master the sentinels agree on and writes to it. */
#define _GNU_SOURCE
#include "failover_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_sentinel_seeds__first_sentinel_down_is_skipped(void **state) {
    (void)state;
    tu_watchdog_arm(90, "first sentinel down");
    char why[256];
    if (!fo_sentinel_wait_healthy(60, why, sizeof why)) fail_msg("the sentinel topology is not healthy: %s", why);
    int master = fo_sentinel_master();
    assert_true(master > 0);
    char url[256];
    snprintf(url, sizeof url, "redis+sentinel://127.0.0.1:%d,127.0.0.1:%d/%s", tu_port(TU_NEVER_STARTED),
             fo_sentinel_port(0), FO_MASTER_NAME);
    double t0 = tu_now();
    rcm_client *c = fo_open_ok(url, NULL, "password", FO_PASSWORD, "connect_timeout_ms", "1000", NULL);
    printf("open with %s: %.2f s\n", url, tu_now() - t0);
    rcm_reply *r = tu_cmd_ok(c, "SET", "sentinel:seeds", "second", NULL);
    TU_ASSERT_STATUS_REPLY(r, "OK");
    rcm_reply_free(r);
    char *out = fo_cli(master, FO_PASSWORD, "GET sentinel:seeds");
    if (!out || strncmp(out, "second", 6) != 0) fail_msg("the master %d holds '%s'", master, out ? out : "(cli failed)");
    free(out);
    char buf[64];
    fo_topology_primary(c, buf, sizeof buf);
    if (strcmp(buf, fo_addr(master)) != 0) fail_msg("the client's primary is '%s', the sentinels name %d", buf, master);
    r = tu_cmd_ok(c, "DEL", "sentinel:seeds", NULL);
    rcm_reply_free(r);
    rcm_client_close(c);
    tu_watchdog_disarm();
}

int main(int argc, char **argv) {
    fo_diagnose_signals();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sentinel_seeds__first_sentinel_down_is_skipped),
    };
    return TU_RUN(tests, argc, argv);
}
