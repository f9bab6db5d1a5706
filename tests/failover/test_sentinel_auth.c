/* sentinel.auth: a sentinel with requirepass. sentinel.password (separate from the data
 * nodes' password) opens the client and the master serves; a wrong or missing sentinel
 * password fails the open with RCM_ERR_AUTH, in bounded time, with a message that says
 * what failed and quotes neither password.
 *
 * Private servers (tests/harness/fixtures.cmake): base+18 a data node (requirepass
 * abc123), base+19 a sentinel monitoring it (requirepass SENTINEL_SECRET). */
#define _GNU_SOURCE
#include "failover_util.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { PRIV_DATA = 18, PRIV_SENTINEL = 19 };

#define SENTINEL_SECRET "s3ntinel-Secret-917"
#define WRONG_SECRET "wr0ng-Sentinel-Secret-443"

static int sentinel_pid = -1;

static void stop_sentinel(void) {
    if (sentinel_pid > 0) {
        kill(sentinel_pid, SIGTERM);
        for (int i = 0; i < 100 && fo_alive(sentinel_pid); i++) tu_sleep_ms(50);
        if (fo_alive(sentinel_pid)) kill(sentinel_pid, SIGKILL);
    }
    sentinel_pid = -1;
}

/* Starts a sentinel with requirepass on base+19 (a config file of its own: sentinel
 * rewrites it), records it where `rcm_harness.sh cleanup` finds it, waits until it names
 * the master. */
static void start_sentinel_ok(int data_port) {
    int port = tu_port(PRIV_SENTINEL);
    char dir[1024], conf[1100], pidfile[1100], cmd[4096];
    snprintf(dir, sizeof dir, "%s/sentinel-auth-%d", tu_state_dir(), port);
    mkdir(dir, 0755);
    snprintf(conf, sizeof conf, "%s/sentinel.conf", dir);
    snprintf(pidfile, sizeof pidfile, "%s/sentinel.pid", dir);
    unlink(pidfile);
    FILE *f = fopen(conf, "w");
    if (!f) fail_msg("cannot write %s", conf);
    fprintf(f,
            "port %d\nbind 127.0.0.1\ndaemonize yes\npidfile %s\nlogfile %s/sentinel.log\ndir %s\n"
            "requirepass %s\nsentinel monitor %s 127.0.0.1 %d 1\nsentinel auth-pass %s %s\n",
            port, pidfile, dir, dir, SENTINEL_SECRET, FO_MASTER_NAME, data_port, FO_MASTER_NAME, FO_PASSWORD);
    fclose(f);
    const char *bin = getenv("RCM_SERVER_BIN");
    snprintf(cmd, sizeof cmd, "'%s' '%s' --sentinel", bin && *bin ? bin : "valkey-server", conf);
    if (system(cmd) != 0) fail_msg("could not start a sentinel: %s", cmd);
    for (double end = tu_now() + 10; sentinel_pid <= 0 && tu_now() < end; tu_sleep_ms(50)) {
        FILE *p = fopen(pidfile, "r");
        if (p) {
            if (fscanf(p, "%d", &sentinel_pid) != 1) sentinel_pid = -1;
            fclose(p);
        }
    }
    if (sentinel_pid <= 0) fail_msg("the sentinel on %d wrote no PID file", port);
    atexit(stop_sentinel);
    char pids[1100];
    snprintf(pids, sizeof pids, "%s/private", tu_state_dir());
    mkdir(pids, 0755);
    snprintf(pids, sizeof pids, "%s/private/pids", tu_state_dir());
    f = fopen(pids, "a");
    if (f) {
        fprintf(f, "%d %d\n", sentinel_pid, port);
        fclose(f);
    }
    char want[16];
    snprintf(want, sizeof want, "%d", data_port);
    for (double end = tu_now() + 20;; tu_sleep_ms(100)) {
        char *out = fo_cli(port, SENTINEL_SECRET, "SENTINEL get-master-addr-by-name %s", FO_MASTER_NAME);
        int ok = out && strstr(out, want);
        free(out);
        if (ok) break;
        if (tu_now() > end) fail_msg("the sentinel on %d never named the master %d", port, data_port);
    }
}

static int data_pid = -1;

static int setup(void **state) {
    (void)state;
    data_pid = tu_server_start_ok(tu_port(PRIV_DATA), "--requirepass " FO_PASSWORD);
    start_sentinel_ok(tu_port(PRIV_DATA));
    return 0;
}

static int teardown(void **state) {
    (void)state;
    stop_sentinel();
    tu_server_stop(data_pid);
    data_pid = -1;
    return 0;
}

/* Opens redis+sentinel://<private sentinel>/mymaster with the data password and, when
 * not NULL, sentinel.password. Returns the status; the client through *out. */
static rcm_status open_with(const char *sentinel_password, rcm_client **out, char *err, size_t n, double *took) {
    char url[256];
    snprintf(url, sizeof url, "redis+sentinel://127.0.0.1:%d/%s", tu_port(PRIV_SENTINEL), FO_MASTER_NAME);
    rcm_config *cfg = rcm_config_new();
    TU_ASSERT_RC(rcm_config_from_url(cfg, url), RCM_OK);
    TU_ASSERT_RC(rcm_config_set(cfg, "password", FO_PASSWORD), RCM_OK);
    TU_ASSERT_RC(rcm_config_set(cfg, "connect_timeout_ms", "1000"), RCM_OK);
    if (sentinel_password) TU_ASSERT_RC(rcm_config_set(cfg, "sentinel.password", sentinel_password), RCM_OK);
    *out = NULL;
    double t0 = tu_now();
    rcm_status st = rcm_client_open(cfg, out);
    *took = tu_now() - t0;
    snprintf(err, n, "%s", rcm_last_error());
    rcm_config_free(cfg);
    return st;
}

static void test_sentinel_auth__sentinel_password_opens_and_the_master_serves(void **state) {
    (void)state;
    tu_watchdog_arm(60, "sentinel with requirepass");
    rcm_client *c = NULL;
    char err[512];
    double took;
    rcm_status st = open_with(SENTINEL_SECRET, &c, err, sizeof err, &took);
    if (st != RCM_OK) fail_msg("open with the sentinel's password: %s '%s'", rcm_status_name(st), err);
    rcm_reply *r = tu_cmd_ok(c, "SET", "sentinel:auth", "yes", NULL);
    TU_ASSERT_STATUS_REPLY(r, "OK");
    rcm_reply_free(r);
    r = tu_cmd_ok(c, "GET", "sentinel:auth", NULL);
    TU_ASSERT_CSTRING_REPLY(r, "yes");
    rcm_reply_free(r);
    char buf[64];
    fo_topology_primary(c, buf, sizeof buf);
    if (strcmp(buf, fo_addr(tu_port(PRIV_DATA))) != 0) fail_msg("the client's primary is '%s'", buf);
    rcm_client_close(c);
    tu_watchdog_disarm();
}

static void assert_refused(const char *sentinel_password, const char *what) {
    rcm_client *c = NULL;
    char err[512];
    double took;
    rcm_status st = open_with(sentinel_password, &c, err, sizeof err, &took);
    printf("open with %s: %s after %.2f s: '%s'\n", what, rcm_status_name(st), took, err);
    if (st == RCM_OK) {
        rcm_client_close(c);
        fail_msg("the open with %s succeeded", what);
    }
    assert_null(c);
    if (st != RCM_ERR_AUTH) fail_msg("open with %s: expected RCM_ERR_AUTH, got %s '%s'", what, rcm_status_name(st), err);
    if (strstr(err, WRONG_SECRET) || strstr(err, SENTINEL_SECRET) || strstr(err, FO_PASSWORD))
        fail_msg("the message quotes a password: '%s'", err);
    /* it names the sentinel that refused, so that the reader knows which password is wrong */
    if (!strstr(err, fo_addr(tu_port(PRIV_SENTINEL))) && !strstr(err, "entinel"))
        fail_msg("the message does not say that the sentinel refused: '%s'", err);
    /* bounded: connect_timeout_ms is 1 s; 15 s is far beyond any scheduling delay */
    if (took > 15) fail_msg("the refused open took %.1f s", took);
}

static void test_sentinel_auth__wrong_sentinel_password_fails_with_auth_and_no_secret(void **state) {
    (void)state;
    tu_watchdog_arm(60, "wrong sentinel password");
    assert_refused(WRONG_SECRET, "a wrong sentinel.password");
    tu_watchdog_disarm();
}

static void test_sentinel_auth__missing_sentinel_password_fails_with_auth(void **state) {
    (void)state;
    tu_watchdog_arm(60, "no sentinel password");
    assert_refused(NULL, "no sentinel.password");
    tu_watchdog_disarm();
}

int main(int argc, char **argv) {
    fo_diagnose_signals();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sentinel_auth__sentinel_password_opens_and_the_master_serves),
        cmocka_unit_test(test_sentinel_auth__wrong_sentinel_password_fails_with_auth_and_no_secret),
        cmocka_unit_test(test_sentinel_auth__missing_sentinel_password_fails_with_auth),
    };
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, setup, teardown);
}
