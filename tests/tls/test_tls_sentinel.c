/* sentinel.tls: Sentinel with TLS only (tests/harness/tls_servers.sh, fixture
 * tls_sentinel: a primary, its replica and a sentinel, each on a TLS port alone,
 * tls-replication yes). An rediss+sentinel:// client asks the sentinel over TLS, then
 * writes to the master and reads from the replica it names, over TLS; a certificate it
 * cannot verify is refused at open. What landed where is read from the servers
 * themselves (valkey-cli over TLS). */
#define _GNU_SOURCE
#include "tls_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char url[160];

static int setup(void **state) {
    (void)state;
    snprintf(url, sizeof url, "rediss+sentinel://127.0.0.1:%d/%s", tu_port(TT_SENTINEL), TT_MASTER_NAME);
    return 0;
}

static void expect_value_on(int port, const char *key, const char *value) {
    char *out = tt_cli(port, "GET '%s'", key);
    if (!out || strncmp(out, value, strlen(value)) != 0)
        fail_msg("GET %s on %d: '%s', expected '%s'", key, port, out ? out : "(cli failed)", value);
    free(out);
}

static void test_tls_sentinel__master_found_and_used_over_tls(void **state) {
    (void)state;
    rcm_client *c = tt_open_ok(url, "connect_timeout_ms", "3000", "command_timeout_ms", "5000", "tls.ca",
                               tt_cert("ca.crt"), NULL);
    tt_set_get_ok(c, "tls-sentinel:master", "written");
    expect_value_on(tu_port(TT_SENTINEL_PRIMARY), "tls-sentinel:master", "written");
    rcm_client_close(c);
}

/* The replica's address comes from the sentinel (SENTINEL REPLICAS: the replica's TLS
 * port, which it announces under tls-replication yes). */
static void test_tls_sentinel__replica_reads_over_tls(void **state) {
    (void)state;
    const int primary = tu_port(TT_SENTINEL_PRIMARY), replica = tu_port(TT_SENTINEL_REPLICA);
    free(tt_cli(primary, "SET tls-sentinel:replica from-primary"));
    double until = tu_now() + 30;
    for (;;) { /* replicated before rcm reads it */
        char *out = tt_cli(replica, "GET tls-sentinel:replica");
        int there = out && strncmp(out, "from-primary", 12) == 0;
        free(out);
        if (there) break;
        if (tu_now() > until) fail_msg("the replica on %d did not receive the key within 30 s", replica);
        tu_sleep_ms(50);
    }
    rcm_client *c = tt_open_ok(url, "connect_timeout_ms", "3000", "command_timeout_ms", "5000", "tls.ca",
                               tt_cert("ca.crt"), "read_from", "replica", NULL);
    long long on_replica = tt_calls(replica, "get"), on_primary = tt_calls(primary, "get");
    if (on_replica < 0 || on_primary < 0) fail_msg("INFO commandstats could not be read");
    rcm_reply *r = tu_cmd_ok(c, "GET", "tls-sentinel:replica", NULL);
    TU_ASSERT_CSTRING_REPLY(r, "from-primary");
    rcm_reply_free(r);
    long long replica_after = tt_calls(replica, "get"), primary_after = tt_calls(primary, "get");
    printf("GET calls: replica %lld -> %lld, primary %lld -> %lld\n", on_replica, replica_after, on_primary, primary_after);
    if (replica_after != on_replica + 1 || primary_after != on_primary)
        fail_msg("the GET did not go to the replica alone: replica +%lld, primary +%lld", replica_after - on_replica,
                 primary_after - on_primary);
    rcm_client_close(c);
}

static void test_tls_sentinel__unverified_certificate_refused_at_open(void **state) {
    (void)state;
    char secret_url[200];
    snprintf(secret_url, sizeof secret_url, "rediss+sentinel://:%s@127.0.0.1:%d/%s", TT_SECRET, tu_port(TT_SENTINEL),
             TT_MASTER_NAME);
    rcm_client *c = NULL;
    tu_watchdog_arm(30, "a sentinel open refused for its certificate");
    rcm_status st = tt_open(&c, secret_url, "connect_timeout_ms", "3000", "tls.ca", tt_cert("other-ca.crt"),
                            "sentinel.password", TT_SECRET, NULL);
    tu_watchdog_disarm();
    if (st != RCM_ERR_TLS) fail_msg("expected RCM_ERR_TLS, got %s '%s'", rcm_status_name(st), rcm_last_error());
    tt_assert_error_names("certificate verify failed");
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_sentinel__master_found_and_used_over_tls),
        cmocka_unit_test(test_tls_sentinel__replica_reads_over_tls),
        cmocka_unit_test(test_tls_sentinel__unverified_certificate_refused_at_open),
    };
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, setup, NULL);
}
