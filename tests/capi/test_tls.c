/* capi.tls: rediss:// against the TLS-only server of the standalone topology. */
#define _GNU_SOURCE
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char ca[1024], other_ca[1024], client_crt[1024], client_key[1024];

static int setup_paths(void **state) {
    (void)state;
    snprintf(ca, sizeof ca, "%s", tu_tls_file("ca.crt"));
    snprintf(other_ca, sizeof other_ca, "%s", tu_tls_file("other-ca.crt"));
    snprintf(client_crt, sizeof client_crt, "%s", tu_tls_file("client.crt"));
    snprintf(client_key, sizeof client_key, "%s", tu_tls_file("client.key"));
    return 0;
}

static rcm_client *open_tls(rcm_status want, const char *k1, const char *v1, const char *k2,
                            const char *v2, const char *k3, const char *v3) {
    rcm_config *cfg = tu_config_ok("rediss", tu_port(TU_TLS), "connect_timeout_ms", "3000", NULL);
    if (k1) TU_ASSERT_RC(rcm_config_set(cfg, k1, v1), RCM_OK);
    if (k2) TU_ASSERT_RC(rcm_config_set(cfg, k2, v2), RCM_OK);
    if (k3) TU_ASSERT_RC(rcm_config_set(cfg, k3, v3), RCM_OK);
    rcm_client *c = (rcm_client *)(void *)&cfg;
    double t0 = tu_now();
    rcm_status st = rcm_client_open(cfg, &c);
    double dt = tu_now() - t0;
    rcm_config_free(cfg);
    if (st != want)
        fail_msg("open rediss (%s=%s %s=%s %s=%s): expected %s, got %s '%s'", k1, v1 ? v1 : "",
                 k2 ? k2 : "", k2 ? v2 : "", k3 ? k3 : "", k3 ? v3 : "", rcm_status_name(want),
                 rcm_status_name(st), rcm_last_error());
    if (st != RCM_OK) {
        assert_null(c);
        assert_true(rcm_last_error()[0] != 0);
        printf("refused as expected: %s\n", rcm_last_error());
    }
    if (dt > 10) fail_msg("open took %.1f s", dt);
    return st == RCM_OK ? c : NULL;
}

static void set_get(rcm_client *c, const char *tag) {
    char key[64];
    snprintf(key, sizeof key, "tls:%s", tag);
    rcm_reply *r = tu_cmd_ok(c, "SET", key, tag, NULL);
    TU_ASSERT_STATUS_REPLY(r, "OK");
    rcm_reply_free(r);
    r = tu_cmd_ok(c, "GET", key, NULL);
    TU_ASSERT_CSTRING_REPLY(r, tag);
    rcm_reply_free(r);
}

static void test_tls__verified_with_the_right_ca(void **state) {
    (void)state;
    rcm_client *c = open_tls(RCM_OK, "tls.ca", ca, NULL, NULL, NULL, NULL);
    set_get(c, "right-ca");
    /* a big value through TLS (several records) */
    size_t n = 3u << 20;
    char *big = malloc(n);
    for (size_t i = 0; i < n; i++) big[i] = (char)(i * 31 + 7);
    const char *sa[] = {"SET", "tls:big", big};
    const size_t sl[] = {3, 7, n};
    rcm_reply *r = NULL;
    TU_ASSERT_RC(rcm_command(c, 3, sa, sl, &r), RCM_OK);
    rcm_reply_free(r);
    r = tu_cmd_ok(c, "GET", "tls:big", NULL);
    assert_true(tu_is_string(r, big, n));
    rcm_reply_free(r);
    free(big);
    /* leases over TLS */
    rcm_lease *l = NULL;
    TU_ASSERT_RC(rcm_lease_acquire(c, NULL, 0, &l), RCM_OK);
    TU_ASSERT_RC(tu_lease_cmd(l, &r, "PING", NULL), RCM_OK);
    TU_ASSERT_STATUS_REPLY(r, "PONG");
    rcm_reply_free(r);
    rcm_lease_release(l);
    rcm_client_close(c);
}

/* The message says what failed: the certificate could not be verified. */
static void expect_verify_message(const char *extra_word) {
    const char *e = rcm_last_error();
    if (!strcasestr(e, "certif") && !strcasestr(e, "verif") &&
        !(extra_word && strcasestr(e, extra_word)))
        fail_msg("the message does not say that verification failed: '%s'", e);
}

static void test_tls__unrelated_ca_refused(void **state) {
    (void)state;
    open_tls(RCM_ERR_TLS, "tls.ca", other_ca, NULL, NULL, NULL, NULL);
    expect_verify_message(NULL);
}

static void test_tls__verify_false_accepts_unrelated_ca(void **state) {
    (void)state;
    rcm_client *c = open_tls(RCM_OK, "tls.ca", other_ca, "tls.verify", "false", NULL, NULL);
    set_get(c, "no-verify");
    rcm_client_close(c);
}

static void test_tls__client_certificate_accepted(void **state) {
    (void)state;
    rcm_client *c = open_tls(RCM_OK, "tls.ca", ca, "tls.cert", client_crt, "tls.key", client_key);
    set_get(c, "client-cert");
    rcm_client_close(c);
}

/* A server that requires client certificates (tls-auth-clients yes; the shared TLS
 * server only accepts them): without tls.cert/tls.key the handshake is refused, with
 * them the client works. */
static void test_tls__client_certificate_required_by_the_server(void **state) {
    (void)state;
    int port = tu_port(TU_PRIV_TLS_MUTUAL);
    char extra[8192], server_crt[1024], server_key[1024];
    snprintf(server_crt, sizeof server_crt, "%s", tu_tls_file("server.crt"));
    snprintf(server_key, sizeof server_key, "%s", tu_tls_file("server.key"));
    snprintf(extra, sizeof extra,
             "--port 0 --tls-port %d --tls-cert-file '%s' --tls-key-file '%s' --tls-ca-cert-file '%s' "
             "--tls-auth-clients yes --tls-client-cert-file '%s' --tls-client-key-file '%s'",
             port, server_crt, server_key, ca, client_crt, client_key);
    int pid = tu_server_start_ok(port, extra);
    rcm_config *cfg = tu_config_ok("rediss", port, "connect_timeout_ms", "3000", "tls.ca", ca, NULL);
    rcm_client *c = NULL;
    rcm_status st = rcm_client_open(cfg, &c);
    if (st == RCM_OK) {
        /* Some servers close only at the first command: that must fail then. */
        rcm_reply *r = NULL;
        st = tu_cmd(c, &r, "PING", NULL);
        rcm_reply_free(r);
        rcm_client_close(c);
        if (st == RCM_OK) fail_msg("a server with tls-auth-clients yes accepted a client without a certificate");
    }
    printf("without a client certificate: %s '%s'\n", rcm_status_name(st), rcm_last_error());
    TU_ASSERT_RC(rcm_config_set(cfg, "tls.cert", client_crt), RCM_OK);
    TU_ASSERT_RC(rcm_config_set(cfg, "tls.key", client_key), RCM_OK);
    c = NULL;
    TU_ASSERT_RC(rcm_client_open(cfg, &c), RCM_OK);
    rcm_config_free(cfg);
    set_get(c, "mutual");
    rcm_client_close(c);
    tu_server_stop(pid);
}

static void test_tls__server_name_checked(void **state) {
    (void)state;
    rcm_client *c = open_tls(RCM_OK, "tls.ca", ca, "tls.server_name", "localhost", NULL, NULL);
    set_get(c, "server-name");
    rcm_client_close(c);
    open_tls(RCM_ERR_TLS, "tls.ca", ca, "tls.server_name", "not-this-server.example", NULL, NULL);
    expect_verify_message("hostname");
}

/* Item 8: tls.verify_hostname=false leaves out the name check only (redis-py's
 * ssl_check_hostname=False): a certificate for another name is accepted when its chain
 * is trusted, and an untrusted chain is still refused. */
static void test_tls__verify_hostname_false_checks_the_chain_only(void **state) {
    (void)state;
    open_tls(RCM_ERR_TLS, "tls.ca", ca, "tls.server_name", "not-this-server.example", "tls.verify_hostname", "true");
    expect_verify_message("hostname");
    rcm_client *c = open_tls(RCM_OK, "tls.ca", ca, "tls.server_name", "not-this-server.example",
                             "tls.verify_hostname", "false");
    set_get(c, "chain-only");
    rcm_client_close(c);
    open_tls(RCM_ERR_TLS, "tls.ca", other_ca, "tls.server_name", "not-this-server.example", "tls.verify_hostname",
             "false");
    expect_verify_message(NULL);
    open_tls(RCM_ERR_TLS, "tls.ca", other_ca, "tls.verify_hostname", "false", NULL, NULL);
    expect_verify_message(NULL);
}

static void test_tls__tls_flag_from_config_key(void **state) {
    (void)state;
    rcm_config *cfg = tu_config_ok("redis", tu_port(TU_TLS), "tls", "true", "tls.ca", ca, NULL);
    rcm_client *c = NULL;
    TU_ASSERT_RC(rcm_client_open(cfg, &c), RCM_OK);
    rcm_config_free(cfg);
    set_get(c, "tls-key");
    rcm_client_close(c);
}

static void test_tls__plain_and_tls_mismatch_fail_promptly(void **state) {
    (void)state;
    /* plain RESP to the TLS port */
    rcm_client *c = NULL;
    double t0 = tu_now();
    rcm_status st = tu_open_status(&c, "redis", tu_port(TU_TLS), "connect_timeout_ms", "1000", NULL);
    double dt = tu_now() - t0;
    printf("plain to TLS port: %s '%s' after %.3f s\n", rcm_status_name(st), rcm_last_error(), dt);
    assert_int_not_equal(st, RCM_OK);
    assert_null(c);
    /* "Blocks for at most connect_timeout_ms per seed" (+0.5 s of slack) */
    if (dt > 1.5) fail_msg("open took %.3f s with connect_timeout_ms=1000", dt);
    /* TLS to the plain port */
    c = NULL;
    t0 = tu_now();
    st = tu_open_status(&c, "rediss", tu_port(TU_PLAIN), "connect_timeout_ms", "1000",
                        "tls.ca", ca, NULL);
    dt = tu_now() - t0;
    printf("TLS to plain port: %s '%s' after %.3f s\n", rcm_status_name(st), rcm_last_error(), dt);
    if (st != RCM_ERR_TLS && st != RCM_ERR_CONNECTION && st != RCM_ERR_TIMEOUT)
        fail_msg("TLS to a plain port: got %s", rcm_status_name(st));
    assert_null(c);
    if (dt > 1.5) fail_msg("open took %.3f s with connect_timeout_ms=1000", dt);
}

static void test_tls__missing_ca_file_refused(void **state) {
    (void)state;
    rcm_config *cfg = tu_config_ok("rediss", tu_port(TU_TLS), NULL);
    rcm_status st = rcm_config_set(cfg, "tls.ca", "/nonexistent/rcm-ca.crt");
    rcm_client *c = NULL;
    if (st == RCM_OK) st = rcm_client_open(cfg, &c);
    rcm_config_free(cfg);
    printf("missing CA file: %s '%s'\n", rcm_status_name(st), rcm_last_error());
    if (st != RCM_ERR_TLS && st != RCM_ERR_CONFIG)
        fail_msg("tls.ca pointing nowhere: expected RCM_ERR_TLS or RCM_ERR_CONFIG, got %s",
                 rcm_status_name(st));
    assert_null(c);
    assert_non_null(strstr(rcm_last_error(), "rcm-ca.crt"));
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls__verified_with_the_right_ca),
        cmocka_unit_test(test_tls__unrelated_ca_refused),
        cmocka_unit_test(test_tls__verify_false_accepts_unrelated_ca),
        cmocka_unit_test(test_tls__client_certificate_accepted),
        cmocka_unit_test(test_tls__client_certificate_required_by_the_server),
        cmocka_unit_test(test_tls__server_name_checked),
        cmocka_unit_test(test_tls__verify_hostname_false_checks_the_chain_only),
        cmocka_unit_test(test_tls__tls_flag_from_config_key),
        cmocka_unit_test(test_tls__plain_and_tls_mismatch_fail_promptly),
        cmocka_unit_test(test_tls__missing_ca_file_refused),
    };
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, setup_paths, NULL);
}
