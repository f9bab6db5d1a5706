/* Helpers of the TLS tests; see tls_util.h. */
#define _GNU_SOURCE
#include "tls_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *tt_cert(const char *file) {
    static __thread char bufs[16][1024];
    static __thread unsigned next;
    char *b = bufs[next++ % 16];
    snprintf(b, sizeof bufs[0], "%s/tls-certs/%s", tu_state_dir(), file);
    return b;
}

/* $RCM_CLI_BIN, else the cli of the server's family (from PATH; the servers' own TLS
 * support is what matters, and the family's cli speaks it). */
static const char *cli_bin(void) {
    const char *env = getenv("RCM_CLI_BIN");
    if (env && *env) return env;
    const char *server = getenv("RCM_SERVER_BIN");
    return server && strstr(server, "redis-server") ? "redis-cli" : "valkey-cli";
}

char *tt_cli(int port, const char *fmt, ...) {
    char args[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "timeout 10 '%s' -h 127.0.0.1 -p %d --tls --insecure --cert '%s' --key '%s' %s 2>&1 </dev/null",
             cli_bin(), port, tt_cert("client.crt"), tt_cert("client.key"), args);
    int rc = 0;
    char *out = tu_command_output(cmd, &rc);
    if (out && rc != 0) {
        free(out);
        return NULL;
    }
    return out;
}

long long tt_calls(int port, const char *command) {
    char *out = tt_cli(port, "INFO commandstats");
    if (!out || !strstr(out, "# Commandstats")) {
        free(out);
        return -1;
    }
    char field[128];
    snprintf(field, sizeof field, "cmdstat_%s:calls=", command);
    const char *p = strstr(out, field);
    long long n = p ? atoll(p + strlen(field)) : 0;
    free(out);
    return n;
}

static rcm_status open_va(rcm_client **out, const char *url, va_list ap) {
    rcm_config *cfg = rcm_config_new();
    assert_non_null(cfg);
    TU_ASSERT_RC(rcm_config_from_url(cfg, url), RCM_OK);
    const char *k;
    while ((k = va_arg(ap, const char *)) != NULL) {
        const char *v = va_arg(ap, const char *);
        rcm_status st = rcm_config_set(cfg, k, v);
        if (st != RCM_OK) fail_msg("rcm_config_set(%s, %s): %s '%s'", k, v, rcm_status_name(st), rcm_last_error());
    }
    *out = (rcm_client *)(void *)&cfg; /* garbage: must become NULL on failure */
    rcm_status st = rcm_client_open(cfg, out);
    rcm_config_free(cfg);
    if (st != RCM_OK && *out != NULL) fail_msg("rcm_client_open failed (%s) but left *out set", rcm_status_name(st));
    return st;
}

rcm_status tt_open(rcm_client **out, const char *url, ...) {
    va_list ap;
    va_start(ap, url);
    rcm_status st = open_va(out, url, ap);
    va_end(ap);
    return st;
}

rcm_client *tt_open_ok(const char *url, ...) {
    rcm_client *c = NULL;
    va_list ap;
    va_start(ap, url);
    rcm_status st = open_va(&c, url, ap);
    va_end(ap);
    if (st != RCM_OK) fail_msg("rcm_client_open(%s): %s '%s'", url, rcm_status_name(st), rcm_last_error());
    return c;
}

void tt_assert_error_names(const char *want) {
    const char *e = rcm_last_error();
    printf("  refused: %s\n", e);
    if (!strcasestr(e, want)) fail_msg("the message does not say '%s': '%s'", want, e);
    if (strstr(e, TT_SECRET)) fail_msg("the message shows the password: '%s'", e);
}

void tt_set_get_ok(rcm_client *c, const char *key, const char *value) {
    rcm_reply *r = tu_cmd_ok(c, "SET", key, value, NULL);
    TU_ASSERT_STATUS_REPLY(r, "OK");
    rcm_reply_free(r);
    r = tu_cmd_ok(c, "GET", key, NULL);
    TU_ASSERT_CSTRING_REPLY(r, value);
    rcm_reply_free(r);
}
