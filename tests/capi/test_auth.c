/* capi.auth: passwords and ACL users, from config keys and from URLs. */
#define _GNU_SOURCE
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static rcm_status open_url(const char *url, rcm_client **out) {
    rcm_config *cfg = rcm_config_new();
    rcm_status st = rcm_config_from_url(cfg, url);
    if (st != RCM_OK) fail_msg("URL %s: %s '%s'", url, rcm_status_name(st), rcm_last_error());
    *out = NULL;
    st = rcm_client_open(cfg, out);
    rcm_config_free(cfg);
    return st;
}

static void expect_whoami(rcm_client *c, const char *user) {
    rcm_reply *r = tu_cmd_ok(c, "ACL", "WHOAMI", NULL);
    TU_ASSERT_CSTRING_REPLY(r, user);
    rcm_reply_free(r);
}

static void test_auth__wrong_password_refused(void **state) {
    (void)state;
    rcm_client *c = NULL;
    rcm_status st = tu_open_status(&c, "redis", tu_port(TU_PASSWORD), "password", "Zq9-not-it",
                                   "connect_timeout_ms", "2000", NULL);
    const char *e = rcm_last_error();
    if (st != RCM_ERR_AUTH)
        fail_msg("wrong password: expected RCM_ERR_AUTH, got %s '%s'", rcm_status_name(st), e);
    assert_null(c);
    assert_true(e[0] != 0);
    if (strstr(e, "Zq9-not-it")) fail_msg("the message shows the password: '%s'", e);
    printf("wrong password: %s\n", e);
}

static void test_auth__missing_password_refused(void **state) {
    (void)state;
    rcm_client *c = NULL;
    rcm_status st = tu_open_status(&c, "redis", tu_port(TU_PASSWORD), "connect_timeout_ms", "2000", NULL);
    if (st != RCM_ERR_AUTH)
        fail_msg("no password for a requirepass server: expected RCM_ERR_AUTH, got %s '%s'",
                 rcm_status_name(st), rcm_last_error());
    assert_null(c);
}

static void test_auth__right_password_works(void **state) {
    (void)state;
    rcm_client *c = tu_open_ok(tu_port(TU_PASSWORD), "password", TU_PASSWORD_TEXT, NULL);
    rcm_reply *r = tu_cmd_ok(c, "SET", "auth:k", "v", NULL);
    TU_ASSERT_STATUS_REPLY(r, "OK");
    rcm_reply_free(r);
    expect_whoami(c, "default");
    /* leases and pipelines use authenticated connections too */
    rcm_lease *l = NULL;
    TU_ASSERT_RC(rcm_lease_acquire(c, NULL, 0, &l), RCM_OK);
    TU_ASSERT_RC(tu_lease_cmd(l, &r, "GET", "auth:k", NULL), RCM_OK);
    TU_ASSERT_CSTRING_REPLY(r, "v");
    rcm_reply_free(r);
    rcm_lease_release(l);
    rcm_client_close(c);

    /* password only, from the URL */
    char url[256];
    snprintf(url, sizeof url, "redis://:%s@127.0.0.1:%d/0", TU_PASSWORD_TEXT, tu_port(TU_PASSWORD));
    TU_ASSERT_RC(open_url(url, &c), RCM_OK);
    r = tu_cmd_ok(c, "GET", "auth:k", NULL);
    TU_ASSERT_CSTRING_REPLY(r, "v");
    rcm_reply_free(r);
    rcm_client_close(c);
}

static void create_user(const char *user, const char *password) {
    int fd = tu_raw_connect(tu_port(TU_PASSWORD));
    assert_true(fd >= 0);
    char buf[256];
    assert_int_equal(tu_raw_send(fd, "AUTH", TU_PASSWORD_TEXT, NULL), 0);
    assert_int_equal(tu_raw_read(fd, buf, sizeof buf, 5000), 0);
    assert_string_equal(buf, "+OK");
    char pw[128];
    snprintf(pw, sizeof pw, ">%s", password);
    assert_int_equal(tu_raw_send(fd, "ACL", "SETUSER", user, "reset", "on", pw, "~*", "&*", "+@all", NULL), 0);
    assert_int_equal(tu_raw_read(fd, buf, sizeof buf, 5000), 0);
    assert_string_equal(buf, "+OK");
    tu_raw_close(fd);
}

static void test_auth__username_and_password_via_url(void **state) {
    (void)state;
    create_user("rcm-user", "user-pw");
    char url[256];
    rcm_client *c = NULL;
    snprintf(url, sizeof url, "redis://rcm-user:user-pw@127.0.0.1:%d", tu_port(TU_PASSWORD));
    TU_ASSERT_RC(open_url(url, &c), RCM_OK);
    expect_whoami(c, "rcm-user");
    rcm_client_close(c);

    /* the same through config keys */
    c = tu_open_ok(tu_port(TU_PASSWORD), "username", "rcm-user", "password", "user-pw", NULL);
    expect_whoami(c, "rcm-user");
    rcm_client_close(c);

    /* right user, wrong password */
    snprintf(url, sizeof url, "redis://rcm-user:Zq9-not-it@127.0.0.1:%d", tu_port(TU_PASSWORD));
    rcm_status st = open_url(url, &c);
    if (st != RCM_ERR_AUTH)
        fail_msg("wrong ACL password: expected RCM_ERR_AUTH, got %s", rcm_status_name(st));
    assert_null(c);
    assert_null(strstr(rcm_last_error(), "Zq9-not-it"));

    /* percent-encoded reserved characters in the password */
    create_user("rcm-user2", "p@ss:w/rd");
    snprintf(url, sizeof url, "redis://rcm-user2:p%%40ss%%3Aw%%2Frd@127.0.0.1:%d", tu_port(TU_PASSWORD));
    TU_ASSERT_RC(open_url(url, &c), RCM_OK);
    expect_whoami(c, "rcm-user2");
    rcm_client_close(c);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth__wrong_password_refused),
        cmocka_unit_test(test_auth__missing_password_refused),
        cmocka_unit_test(test_auth__right_password_works),
        cmocka_unit_test(test_auth__username_and_password_via_url),
    };
    return TU_RUN(tests, argc, argv);
}
