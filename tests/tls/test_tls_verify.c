/* capi.tls_verify: what the README promises for TLS verification (tls.* keys, the
 * failure table's "TLS verification: RCM_ERR_TLS at open"), against real servers with
 * certificates made for the purpose (tests/harness/tls_servers.sh, fixture
 * tls_standalone): each refusal is RCM_ERR_TLS at open, says which check failed, and
 * never shows the password; each setting that should connect does, and the data lands
 * on the server. */
#define _GNU_SOURCE
#include "tls_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char good_url[128], wrong_name_url[128], expired_url[128];

static int setup(void **state) {
    (void)state;
    snprintf(good_url, sizeof good_url, "rediss://127.0.0.1:%d", tu_port(TT_GOOD));
    snprintf(wrong_name_url, sizeof wrong_name_url, "rediss://127.0.0.1:%d", tu_port(TT_WRONG_NAME));
    snprintf(expired_url, sizeof expired_url, "rediss://127.0.0.1:%d", tu_port(TT_EXPIRED));
    return 0;
}

/* The same URL with the marker password (the servers have none: a refusal comes before
 * AUTH, and no message may show it). */
static const char *with_secret(const char *url) {
    static char buf[160];
    snprintf(buf, sizeof buf, "rediss://:%s@%s", TT_SECRET, url + strlen("rediss://"));
    return buf;
}

/* Opens and expects RCM_ERR_TLS, within a bound (the watchdog): a refused certificate
 * is final, never retried until some timeout. */
static void expect_refused(const char *url, const char *k1, const char *v1, const char *k2, const char *v2) {
    rcm_client *c = NULL;
    tu_watchdog_arm(30, "an open refused for its certificate");
    rcm_status st = tt_open(&c, with_secret(url), "connect_timeout_ms", "3000", "tls.ca", tt_cert("ca.crt"),
                            "tls.cert", tt_cert("client.crt"), "tls.key", tt_cert("client.key"), k1, v1, k2, v2,
                            NULL);
    tu_watchdog_disarm();
    if (st != RCM_ERR_TLS)
        fail_msg("open %s (%s=%s %s=%s): expected RCM_ERR_TLS, got %s '%s'", url, k1 ? k1 : "", v1 ? v1 : "",
                 k2 ? k2 : "", v2 ? v2 : "", rcm_status_name(st), rcm_last_error());
    assert_null(c);
}

/* Opens (with the client certificate of the CA every server trusts), then SET/GET, and
 * reads the value back from the server itself. */
static void expect_works(const char *url, int port, const char *tag, const char *k1, const char *v1, const char *k2,
                         const char *v2) {
    rcm_client *c = tt_open_ok(url, "connect_timeout_ms", "3000", "tls.cert", tt_cert("client.crt"), "tls.key",
                               tt_cert("client.key"), k1, v1, k2, v2, NULL);
    char key[64];
    snprintf(key, sizeof key, "tls-verify:%s", tag);
    tt_set_get_ok(c, key, tag);
    rcm_client_close(c);
    char *out = tt_cli(port, "GET '%s'", key);
    if (!out || strncmp(out, tag, strlen(tag)) != 0) fail_msg("GET %s on the server: '%s'", key, out ? out : "(cli failed)");
    free(out);
}

static void test_tls_verify__trusted_chain_with_client_certificate_works(void **state) {
    (void)state;
    expect_works(good_url, tu_port(TT_GOOD), "good", "tls.ca", tt_cert("ca.crt"), NULL, NULL);
}

/* No tls.ca: the system's CA store, which does not hold the test CA. */
static void test_tls_verify__no_ca_configured_refused(void **state) {
    (void)state;
    rcm_client *c = NULL;
    tu_watchdog_arm(30, "open without a CA");
    rcm_status st = tt_open(&c, with_secret(good_url), "connect_timeout_ms", "3000", "tls.cert",
                            tt_cert("client.crt"), "tls.key", tt_cert("client.key"), NULL);
    tu_watchdog_disarm();
    if (st != RCM_ERR_TLS) fail_msg("open without tls.ca: expected RCM_ERR_TLS, got %s '%s'", rcm_status_name(st), rcm_last_error());
    assert_null(c);
    tt_assert_error_names("certificate verify failed");
    tt_assert_error_names(good_url + strlen("rediss://")); /* which server */
    /* Valkey sends its CA along ("self-signed certificate in certificate chain"), a
     * server that sends the leaf alone gives "unable to get local issuer certificate". */
    const char *e = rcm_last_error();
    if (!strstr(e, "self-signed certificate in certificate chain") && !strstr(e, "unable to get local issuer"))
        fail_msg("the message does not say that the chain's root is not trusted: '%s'", e);
}

/* The server's certificate names elsewhere.example; the client asks for 127.0.0.1. */
static void test_tls_verify__wrong_host_name_refused(void **state) {
    (void)state;
    expect_refused(wrong_name_url, NULL, NULL, NULL, NULL);
    tt_assert_error_names("certificate verify failed");
    tt_assert_error_names("IP address mismatch");
    /* tls.server_name is the name checked (and sent as SNI) */
    expect_refused(wrong_name_url, "tls.server_name", "localhost", NULL, NULL);
    tt_assert_error_names("hostname mismatch");
    expect_refused(wrong_name_url, "tls.server_name", "localhost", "tls.verify_hostname", "true");
    tt_assert_error_names("hostname mismatch");
}

static void test_tls_verify__wrong_host_name_accepted_when_verify_hostname_false(void **state) {
    (void)state;
    expect_works(wrong_name_url, tu_port(TT_WRONG_NAME), "no-name-check", "tls.ca", tt_cert("ca.crt"),
                 "tls.verify_hostname", "false");
    /* the name the certificate does hold passes the check */
    expect_works(wrong_name_url, tu_port(TT_WRONG_NAME), "right-name", "tls.ca", tt_cert("ca.crt"),
                 "tls.server_name", "elsewhere.example");
    /* verify_hostname=false leaves out the name only: an untrusted chain is still refused */
    expect_refused(wrong_name_url, "tls.verify_hostname", "false", "tls.ca", tt_cert("other-ca.crt"));
    tt_assert_error_names("certificate verify failed");
}

static void test_tls_verify__expired_certificate_refused(void **state) {
    (void)state;
    expect_refused(expired_url, NULL, NULL, NULL, NULL);
    tt_assert_error_names("certificate has expired");
    /* the dates are part of the chain's check, not of the name's */
    expect_refused(expired_url, "tls.verify_hostname", "false", NULL, NULL);
    tt_assert_error_names("certificate has expired");
}

static void test_tls_verify__expired_certificate_accepted_when_verify_false(void **state) {
    (void)state;
    expect_works(expired_url, tu_port(TT_EXPIRED), "no-verify", "tls.verify", "false", NULL, NULL);
}

/* The server's reason reaches the client as a TLS alert after the client's side of the
 * handshake is done (TLS 1.3), and a write that meets the closed connection first fails
 * with ECONNRESET (about half the runs on loopback): the message must name the alert
 * either way, and the server. */
static void assert_server_refusal(const char *alert) {
    tt_assert_error_names(alert);
    tt_assert_error_names(good_url + strlen("rediss://"));
}

/* tls-auth-clients yes: the server refuses a client certificate that its CA did not
 * sign, and a client without one; the client reports RCM_ERR_TLS at open either way.
 * Each is tried a few times: which of the alert and the reset comes first varies. */
static void test_tls_verify__client_certificate_from_another_ca_refused(void **state) {
    (void)state;
    for (int attempt = 0; attempt < 4; attempt++) {
        expect_refused(good_url, "tls.cert", tt_cert("other-client.crt"), "tls.key", tt_cert("other-client.key"));
        assert_server_refusal("unknown ca");
        rcm_client *c = NULL;
        tu_watchdog_arm(30, "open without a client certificate");
        rcm_status st = tt_open(&c, with_secret(good_url), "connect_timeout_ms", "3000", "tls.ca", tt_cert("ca.crt"), NULL);
        tu_watchdog_disarm();
        if (st != RCM_ERR_TLS)
            fail_msg("open without a client certificate: expected RCM_ERR_TLS, got %s '%s'", rcm_status_name(st),
                     rcm_last_error());
        assert_null(c);
        assert_server_refusal("certificate required");
    }
}

/* "TLS verification: RCM_ERR_TLS at open", in every mode: the same refusal (a CA that
 * did not sign the server's certificate) reached through the cluster refresher, the
 * Raft and the Sentinel trackers, not only through a standalone open. */
static void test_tls_verify__refusal_is_rcm_err_tls_in_every_mode(void **state) {
    (void)state;
    static const char *const schemes[] = {"rediss", "rediss+cluster", "rediss+raft", "rediss+sentinel"};
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
        char url[200];
        snprintf(url, sizeof url, "%s://:%s@127.0.0.1:%d%s", schemes[i], TT_SECRET, tu_port(TT_GOOD),
                 strcmp(schemes[i], "rediss+sentinel") == 0 ? "/" TT_MASTER_NAME : "");
        rcm_client *c = NULL;
        tu_watchdog_arm(30, "an open refused for its certificate");
        rcm_status st = tt_open(&c, url, "connect_timeout_ms", "3000", "tls.ca", tt_cert("other-ca.crt"), "tls.cert",
                                tt_cert("client.crt"), "tls.key", tt_cert("client.key"), NULL);
        tu_watchdog_disarm();
        printf("%s: %s\n", schemes[i], rcm_status_name(st));
        if (st != RCM_ERR_TLS)
            fail_msg("%s: expected RCM_ERR_TLS, got %s '%s'", schemes[i], rcm_status_name(st), rcm_last_error());
        assert_null(c);
        tt_assert_error_names("certificate verify failed");
    }
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_verify__trusted_chain_with_client_certificate_works),
        cmocka_unit_test(test_tls_verify__no_ca_configured_refused),
        cmocka_unit_test(test_tls_verify__wrong_host_name_refused),
        cmocka_unit_test(test_tls_verify__wrong_host_name_accepted_when_verify_hostname_false),
        cmocka_unit_test(test_tls_verify__expired_certificate_refused),
        cmocka_unit_test(test_tls_verify__expired_certificate_accepted_when_verify_false),
        cmocka_unit_test(test_tls_verify__client_certificate_from_another_ca_refused),
        cmocka_unit_test(test_tls_verify__refusal_is_rcm_err_tls_in_every_mode),
    };
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, setup, NULL);
}
