/*
 * cli.h — what the rcm command-line tool's source files share (the helpers are in cli.c).
 *
 * The tool talks to the library through <rcm/rcm.h> only. Exit codes: 0 success,
 * 1 a failure (rcm status, server error reply, failed check), 2 bad usage.
 */
#ifndef RCM_TOOLS_CLI_H
#define RCM_TOOLS_CLI_H

#include <rcm/rcm.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { CLI_EXIT_OK = 0, CLI_EXIT_FAIL = 1, CLI_EXIT_USAGE = 2 };

/** One -c key=value setting, pointing into argv. */
typedef struct cli_setting {
    const char *key;
    const char *value;
} cli_setting;

/** The global options, parsed before the subcommand. */
typedef struct cli_opts {
    const char *url;          /* -u URL, else $RCM_URL, else NULL (library default) */
    cli_setting *settings;    /* -c key=value, in command-line order */
    size_t nsettings;
    bool raw;                 /* --raw: print replies without quotes and type tags */
    bool routed;              /* --node/--slot/--key/--all-primaries/--all-nodes given */
    rcm_route route;          /* then: where `rcm COMMAND ARGS...` goes */
} cli_opts;

/** Builds a config from -u and -c (in that order) and, when cb is not NULL, the event
 *  callback. Prints the failure and returns NULL when the library refuses a value. */
rcm_config *cli_config_new(const cli_opts *opts, rcm_event_callback cb, void *userdata);

/** Opens a client from the options. Returns CLI_EXIT_OK, or prints the failure and
 *  returns CLI_EXIT_FAIL (CLI_EXIT_USAGE for a config the library refused). */
int cli_open(const cli_opts *opts, rcm_event_callback cb, void *userdata, rcm_client **out);

/** Prints "rcm: <what>: RCM_ERR_X: <rcm_last_error()>" and returns CLI_EXIT_FAIL. */
int cli_fail(const char *what, rcm_status status);

/* Prints a reply to stdout as redis-cli does (print.c): tagged and quoted, or raw with
 * --raw. */
void cli_print_reply(const cli_opts *opts, const rcm_reply *r);

/** Prints "rcm: <message>" and a pointer to --help; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* An unknown option's name for a message, without what follows it (which may be a
 * value such as a URL with a password). Not reentrant. */
const char *cli_option_name(const char *arg);

/** CLOCK_MONOTONIC in nanoseconds. */
uint64_t cli_now_ns(void);

/** Parses a positive integer argument; false when it is not one (or is out of range). */
bool cli_parse_long(const char *s, long long min, long long max, long long *out);

/** "node-up", "primary-changed", ... for an event kind (static string). */
const char *cli_event_name(rcm_event_kind kind);

/** The `bench` subcommand (bench.c). argv[0] is "bench". */
int cli_bench(const cli_opts *opts, int argc, char **argv);

/** `bench --workload readmostly` (bench_readmostly.c): the client-side cache's figures. */
int cli_bench_readmostly(const cli_opts *opts, int argc, char **argv);

/** The `pubsub-bench` subcommand (pubsub_bench.c; --failover: pubsub_failover.c).
 *  argv[0] is "pubsub-bench". */
int cli_pubsub_bench(const cli_opts *opts, int argc, char **argv);

/** The `instr-run` subcommand (instr_run.c): N requests of one workload, to be counted
 *  by callgrind (bench/instructions.sh). argv[0] is "instr-run". */
int cli_instr_run(const cli_opts *opts, int argc, char **argv);

/** The `load` subcommand (load.c). argv[0] is "load". */
int cli_load(const cli_opts *opts, int argc, char **argv);

/** The `soak` subcommand (soak.c). argv[0] is "soak". */
int cli_soak(const cli_opts *opts, int argc, char **argv);

#endif /* RCM_TOOLS_CLI_H */
