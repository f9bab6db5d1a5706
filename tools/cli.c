/*
 * cli.c — the helpers the rcm tool's subcommands share (declared in cli.h): options to
 * a config and a client, failure and usage messages, time, integer arguments, event
 * names. rcm.c (the front end), bench*.c and load.c use them; this file uses none of them.
 */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t cli_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int cli_fail(const char *what, rcm_status status)
{
    fprintf(stderr, "rcm: %s: %s: %s\n", what, rcm_status_name(status), rcm_last_error());
    return CLI_EXIT_FAIL;
}

const char *cli_option_name(const char *arg)
{
    /* "-uredis://:S3cret@host" (no space after -u) or redis-cli's "-aS3cret" is an unknown
     * option that holds a password: quote "-x" of a short option, and of a long one the
     * lower-case letters and dashes of its name (up to '=' or anything else). */
    static char name[40];
    size_t n = 0;
    if (arg[0] == '-' && arg[1] != '-') {
        n = arg[1] != '\0' ? 2 : 1;
    } else {
        while (arg[n] != '\0' && n + 4 < sizeof name && ((arg[n] >= 'a' && arg[n] <= 'z') || arg[n] == '-'))
            n++;
    }
    memcpy(name, arg, n);
    if (arg[n] != '\0') memcpy(name + n, "...", 4);
    else name[n] = '\0';
    return name;
}

int cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("rcm: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\n(rcm --help for usage)\n", stderr);
    va_end(ap);
    return CLI_EXIT_USAGE;
}

bool cli_parse_long(const char *s, long long min, long long max, long long *out)
{
    if (s == NULL || *s == '\0') return false;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max) return false;
    *out = v;
    return true;
}

rcm_config *cli_config_new(const cli_opts *opts, rcm_event_callback cb, void *userdata)
{
    rcm_config *config = rcm_config_new();
    if (config == NULL) {
        fprintf(stderr, "rcm: out of memory\n");
        return NULL;
    }
    rcm_status st;
    if (opts->url != NULL && (st = rcm_config_from_url(config, opts->url)) != RCM_OK) {
        cli_fail("-u", st);
        rcm_config_free(config);
        return NULL;
    }
    for (size_t i = 0; i < opts->nsettings; i++) {
        st = rcm_config_set(config, opts->settings[i].key, opts->settings[i].value);
        if (st != RCM_OK) {
            char what[300];
            snprintf(what, sizeof what, "-c %s", opts->settings[i].key);
            cli_fail(what, st);
            rcm_config_free(config);
            return NULL;
        }
    }
    if (cb != NULL && (st = rcm_config_set_event_callback(config, cb, userdata)) != RCM_OK) {
        cli_fail("event callback", st);
        rcm_config_free(config);
        return NULL;
    }
    return config;
}

int cli_open(const cli_opts *opts, rcm_event_callback cb, void *userdata, rcm_client **out)
{
    *out = NULL;
    rcm_config *config = cli_config_new(opts, cb, userdata);
    if (config == NULL) return CLI_EXIT_USAGE;
    rcm_status st = rcm_client_open(config, out);
    rcm_config_free(config);
    if (st != RCM_OK) return cli_fail("connect", st);
    return CLI_EXIT_OK;
}

const char *cli_event_name(rcm_event_kind kind)
{
    switch (kind) {
    case RCM_EVENT_NODE_UP: return "node-up";
    case RCM_EVENT_NODE_DOWN: return "node-down";
    case RCM_EVENT_TOPOLOGY_CHANGED: return "topology-changed";
    case RCM_EVENT_PRIMARY_CHANGED: return "primary-changed";
    case RCM_EVENT_SUBSCRIPTION_GAP: return "subscription-gap";
    case RCM_EVENT_PUBSUB_DROPPED: return "pubsub-dropped";
    }
    return "unknown-event";
}
