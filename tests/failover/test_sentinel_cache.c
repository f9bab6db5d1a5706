/* sentinel.cache: client-side caching through SENTINEL FAILOVER (fixture "sentinel").
 * A cached key, then the switch: a write made afterwards by another client is seen by
 * the cached client, never the old value after it; the old master's entries were
 * dropped (its "resets" in the stats); the key is cached again from the new master and
 * kept true by it. Leaves the topology healthy (with the new master). */
#include "failover_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache_util.h"

static void test_sentinel_cache__switch_drops_the_old_masters_entries(void **state) {
    (void)state;
    tu_watchdog_arm(180, "cache through SENTINEL FAILOVER");
    int old_master = fo_sentinel_master();
    assert_true(old_master > 0);
    rcm_client *reader = cc_open_cached_url(fo_sentinel_url(), "password", FO_PASSWORD, NULL);
    rcm_client *writer = fo_open_ok(fo_sentinel_url(), NULL, "password", FO_PASSWORD, NULL);
    char key[64];
    cc_key(key, sizeof key, "sentinel", 0);
    cc_warm(reader, key, "before");
    long long resets = cc_node_stat(reader, old_master, "resets");
    assert_true(resets >= 0);
    char *out = fo_cli(fo_sentinel_port(0), NULL, "SENTINEL FAILOVER %s", FO_MASTER_NAME);
    if (!out || strncmp(out, "OK", 2) != 0) fail_msg("SENTINEL FAILOVER: '%s'", out ? out : "");
    free(out);
    int new_master = -1;
    double t0 = tu_now();
    while (tu_now() - t0 < 60 && new_master < 0) {
        int m = fo_sentinel_master();
        char role[32];
        if (m > 0 && m != old_master && strcmp(fo_role_of(m, role, sizeof role), "master") == 0) new_master = m;
        else tu_sleep_ms(50);
    }
    if (new_master < 0) fail_msg("the sentinels named no new master within 60 s of SENTINEL FAILOVER");
    cc_write_ok(writer, key, "after");
    cc_assert_sees(reader, key, "after");
    double until = tu_now() + 20;
    while (cc_node_stat(reader, old_master, "resets") <= resets) {
        if (tu_now() > until) fail_msg("the old master's entries were not dropped within 20 s of the switch");
        tu_sleep_ms(20);
    }
    cc_warm(reader, key, "again");
    cc_write_ok(writer, key, "third");
    cc_assert_sees(reader, key, "third");
    printf("switch %d -> %d: the cached key followed\n", old_master, new_master);
    rcm_client_close(writer);
    rcm_client_close(reader);
    tu_watchdog_disarm();
}

int main(int argc, char **argv) {
    fo_diagnose_signals();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sentinel_cache__switch_drops_the_old_masters_entries),
    };
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, fo_sentinel_fixture, fo_sentinel_fixture);
}
