/*
 * rcm — the command-line client of librcm: one command, a pipeline from stdin, stats and
 * topology JSON, a thread-sharing check, a benchmark against raw hiredis and
 * valkey-benchmark (bench.c), and a topology event watch.
 *
 * It uses the public C API only (<rcm/rcm.h>); hiredis is linked for the bench's
 * baselines and nothing else.
 */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char USAGE[] =
    "usage: rcm [global options] <subcommand | COMMAND ARGS...>\n"
    "\n"
    "global options (before the subcommand):\n"
    "  -u URL            where to connect: redis://[[user]:password@]host[:port][/db],\n"
    "                    rediss://, redis+cluster://, redis+raft://, redis+sentinel://,\n"
    "                    or host:port[,host:port...] (default: $RCM_URL, else 127.0.0.1:6379)\n"
    "  -c key=value      a config key (see rcm.h: pool.size, command_timeout_ms,\n"
    "                    io_threads, password, ...); repeatable, applied after -u\n"
    "  --raw             print replies raw (no quotes, no (integer)/(error) tags)\n"
    "  --node HOST:PORT  send `rcm COMMAND ARGS...` to that node (e.g. a replica)\n"
    "  --key KEY, --slot N   ... to the primary that owns KEY's slot / slot N\n"
    "  --all-primaries, --all-nodes   ... to every primary / every node: one\n"
    "                    [address, reply] pair per node\n"
    "  -h, --help        this text\n"
    "\n"
    "subcommands (lowercase; anything else is sent to the server as a command):\n"
    "  COMMAND ARGS...   run one command and print its reply, redis-cli style\n"
    "                    (use `rcm -- cmd ...` for a command named like a subcommand)\n"
    "  pipeline          read commands from stdin, one per line (whitespace-separated,\n"
    "                    \"double\" quotes with \\n \\t \\\" \\\\ \\xHH escapes, 'single' quotes,\n"
    "                    # comments), run them as one pipeline, print every reply\n"
    "  stats             print the client's stats JSON (after connecting)\n"
    "  topology          print the topology JSON\n"
    "  where KEY...      per key: its hash slot (CLUSTER KEYSLOT, asked of the owner) and\n"
    "                    the node the client routes it to (that node's own address)\n"
    "  threads N COUNT [--stats]\n"
    "                    N threads share one client, each runs COUNT SET/GET pairs on its\n"
    "                    own keys and checks every reply; prints ok/error counts and ops/s\n"
    "                    (--stats: then the shared client's stats JSON)\n"
    "  bench [options]   GET/SET throughput, latency and CPU of rcm against raw hiredis and\n"
    "                    valkey-benchmark on the same server (see `rcm bench --help`)\n"
    "  pubsub-bench [options]  messages/s and client CPU per message of an rcm subscriber\n"
    "                    against a raw hiredis subscriber on the same publisher and server;\n"
    "                    --failover: resubscription time after a restart or failover\n"
    "                    (see `rcm pubsub-bench --help`)\n"
    "  instr-run --workload W --requests N  exactly N GETs of one workload, for\n"
    "                    bench/instructions.sh to count under callgrind\n"
    "  watch [--seconds S]  print topology/health events until Ctrl-C (or S seconds)\n"
    "  load [options]    SET/GET from N threads for S seconds; requests and errors by\n"
    "                    status every second, events as they come, a summary; SIGUSR1\n"
    "                    marks a fault (see `rcm load --help`)\n"
    "  soak [options]    a mixed workload on a cluster under a seeded fault schedule,\n"
    "                    checking every reply (see `rcm soak --help`)\n"
    "  version           print the tool's and the library's versions\n"
    "\n"
    "exit status: 0 ok; 1 failure (rcm error, server error reply, failed check); 2 usage\n";

/* ---------------------------------------------------------------------------------
 * rcm COMMAND ARGS...
 * ------------------------------------------------------------------------------ */

static int run_command(const cli_opts *opts, int argc, char **argv)
{
    rcm_client *client;
    int rc = cli_open(opts, NULL, NULL, &client);
    if (rc != CLI_EXIT_OK) return rc;
    rcm_reply *reply = NULL;
    rcm_status st = opts->routed
        ? rcm_command_routed(client, &opts->route, argc, (const char *const *)argv, NULL, &reply)
        : rcm_command(client, argc, (const char *const *)argv, NULL, &reply);
    if (st != RCM_OK) {
        rc = cli_fail(argv[0], st);
    } else {
        cli_print_reply(opts, reply);
        rc = rcm_reply_type(reply) == RCM_REPLY_ERROR ? CLI_EXIT_FAIL : CLI_EXIT_OK;
        rcm_reply_free(reply);
    }
    rcm_client_close(client);
    return rc;
}

/* ---------------------------------------------------------------------------------
 * rcm pipeline < commands
 * ------------------------------------------------------------------------------ */

/* A growable byte buffer and a list of arguments pointing into separately owned
 * copies. */
typedef struct arglist {
    char **argv;
    size_t *lens;
    int argc, cap;
} arglist;

static bool arglist_push(arglist *a, const char *bytes, size_t len)
{
    if (a->argc == a->cap) {
        int cap = a->cap ? a->cap * 2 : 8;
        char **nv = realloc(a->argv, (size_t)cap * sizeof *nv);
        if (nv == NULL) return false;
        a->argv = nv;
        size_t *nl = realloc(a->lens, (size_t)cap * sizeof *nl);
        if (nl == NULL) return false;
        a->lens = nl;
        a->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (copy == NULL) return false;
    memcpy(copy, bytes, len);
    copy[len] = '\0';
    a->argv[a->argc] = copy;
    a->lens[a->argc] = len;
    a->argc++;
    return true;
}

static void arglist_clear(arglist *a)
{
    for (int i = 0; i < a->argc; i++) free(a->argv[i]);
    a->argc = 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Splits one line as redis-cli does (sdssplitargs). Returns NULL on success or a
 * description of the syntax error. Fails with "out of memory" as well. */
static const char *split_line(const char *p, arglist *out)
{
    size_t cap = 64, len;
    char *tok = malloc(cap);
    if (tok == NULL) return "out of memory";
    for (;;) {
        while (*p && isspace((unsigned char)*p)) p++;
        if (*p == '\0' || *p == '#') break;
        len = 0;
        int quote = 0; /* 0, '"' or '\'' */
        for (;;) {
            int c = (unsigned char)*p;
            int emit = -1;
            if (quote == '"') {
                if (c == '\0') { free(tok); return "unbalanced \" quote"; }
                if (c == '\\' && p[1] == 'x' && hexval(p[2]) >= 0 && hexval(p[3]) >= 0) {
                    emit = hexval(p[2]) * 16 + hexval(p[3]);
                    p += 3;
                } else if (c == '\\' && p[1] != '\0') {
                    p++;
                    switch (*p) {
                    case 'n': emit = '\n'; break;
                    case 'r': emit = '\r'; break;
                    case 't': emit = '\t'; break;
                    case 'b': emit = '\b'; break;
                    case 'a': emit = '\a'; break;
                    default: emit = (unsigned char)*p;
                    }
                } else if (c == '"') {
                    if (p[1] != '\0' && !isspace((unsigned char)p[1])) {
                        free(tok);
                        return "closing quote must be followed by a space";
                    }
                    quote = 0;
                    p++;
                    break;
                } else {
                    emit = c;
                }
            } else if (quote == '\'') {
                if (c == '\0') { free(tok); return "unbalanced ' quote"; }
                if (c == '\\' && p[1] == '\'') {
                    p++;
                    emit = '\'';
                } else if (c == '\'') {
                    if (p[1] != '\0' && !isspace((unsigned char)p[1])) {
                        free(tok);
                        return "closing quote must be followed by a space";
                    }
                    quote = 0;
                    p++;
                    break;
                } else {
                    emit = c;
                }
            } else {
                if (c == '\0' || isspace(c)) break;
                if (c == '"' || c == '\'') quote = c;
                else emit = c;
            }
            p++;
            if (emit >= 0) {
                if (len + 1 >= cap) {
                    char *nt = realloc(tok, cap * 2);
                    if (nt == NULL) { free(tok); return "out of memory"; }
                    tok = nt;
                    cap *= 2;
                }
                tok[len++] = (char)emit;
            }
        }
        if (!arglist_push(out, tok, len)) { free(tok); return "out of memory"; }
    }
    free(tok);
    return NULL;
}

static int run_pipeline(const cli_opts *opts)
{
    rcm_client *client;
    int rc = cli_open(opts, NULL, NULL, &client);
    if (rc != CLI_EXIT_OK) return rc;
    rcm_pipeline *pipe = NULL;
    rcm_status st = rcm_pipeline_new(client, &pipe);
    if (st != RCM_OK) {
        rc = cli_fail("pipeline", st);
        rcm_client_close(client);
        return rc;
    }
    arglist args = {0};
    char *line = NULL;
    size_t linecap = 0;
    long lineno = 0;
    while (rc == CLI_EXIT_OK && getline(&line, &linecap, stdin) >= 0) {
        lineno++;
        const char *err = split_line(line, &args);
        if (err != NULL) {
            rc = cli_usage_error("stdin line %ld: %s", lineno, err);
        } else if (args.argc > 0) {
            st = rcm_pipeline_append(pipe, args.argc, (const char *const *)args.argv,
                                     args.lens);
            if (st != RCM_OK) {
                char what[64];
                snprintf(what, sizeof what, "stdin line %ld", lineno);
                rc = cli_fail(what, st);
            }
        }
        arglist_clear(&args);
    }
    free(line);
    free(args.argv);
    free(args.lens);

    if (rc == CLI_EXIT_OK && rcm_pipeline_length(pipe) == 0) {
        rc = cli_usage_error("pipeline: no commands on stdin");
    }
    if (rc == CLI_EXIT_OK) {
        rcm_reply **replies = NULL;
        size_t n = 0;
        st = rcm_pipeline_exec(pipe, &replies, &n);
        if (st != RCM_OK) {
            rc = cli_fail("pipeline exec", st);
        } else {
            for (size_t i = 0; i < n; i++) {
                cli_print_reply(opts, replies[i]);
                if (rcm_reply_type(replies[i]) == RCM_REPLY_ERROR) rc = CLI_EXIT_FAIL;
                rcm_reply_free(replies[i]);
            }
            rcm_free(replies);
        }
    }
    rcm_pipeline_free(pipe);
    rcm_client_close(client);
    return rc;
}

/* ---------------------------------------------------------------------------------
 * rcm stats | topology
 * ------------------------------------------------------------------------------ */

static int run_json(const cli_opts *opts, bool topology)
{
    rcm_client *client;
    int rc = cli_open(opts, NULL, NULL, &client);
    if (rc != CLI_EXIT_OK) return rc;
    char *json = NULL;
    rcm_status st = topology ? rcm_client_topology_json(client, &json)
                             : rcm_client_stats_json(client, &json);
    if (st != RCM_OK) {
        rc = cli_fail(topology ? "topology" : "stats", st);
    } else {
        puts(json);
        rcm_free(json);
    }
    rcm_client_close(client);
    return rc;
}

/* ---------------------------------------------------------------------------------
 * rcm where KEY...
 * ------------------------------------------------------------------------------ */

/* The value of field name= in CLIENT INFO's line ("laddr=127.0.0.1:7001 ..."). */
static bool client_info_field(const rcm_reply *r, const char *name, char *out, size_t cap)
{
    size_t len = 0;
    const char *s = rcm_reply_string(r, &len);
    size_t nlen = strlen(name);
    for (size_t i = 0; s && i + nlen < len; i++) {
        if ((i == 0 || s[i - 1] == ' ') && memcmp(s + i, name, nlen) == 0 && s[i + nlen] == '=') {
            size_t start = i + nlen + 1, end = start;
            while (end < len && s[end] != ' ' && s[end] != '\n' && s[end] != '\r') end++;
            if (end - start >= cap) return false;
            memcpy(out, s + start, end - start);
            out[end - start] = '\0';
            return true;
        }
    }
    return false;
}

/* Per key, the slot (the owner's CLUSTER KEYSLOT) and the node that serves it: CLIENT
 * INFO sent along the key's route reports that connection's local address on the
 * server, i.e. the node's own address. */
static int run_where(const cli_opts *opts, int argc, char **argv)
{
    if (argc < 2) return cli_usage_error("where: expected KEY...");
    rcm_client *client;
    int rc = cli_open(opts, NULL, NULL, &client);
    if (rc != CLI_EXIT_OK) return rc;
    printf("%-24s %6s  %s\n", "key", "slot", "node (primary the client routes the key to)");
    for (int i = 1; i < argc; i++) {
        rcm_route route = {.kind = RCM_ROUTE_KEY, .key = argv[i], .keylen = strlen(argv[i])};
        const char *keyslot[] = {"CLUSTER", "KEYSLOT", argv[i]};
        const char *info[] = {"CLIENT", "INFO"};
        rcm_reply *r = NULL;
        char slot[32] = "-", node[128] = "?";
        rcm_status st = rcm_command_routed(client, &route, 3, keyslot, NULL, &r);
        if (st != RCM_OK) {
            rc = cli_fail(argv[i], st);
            continue;
        }
        if (rcm_reply_type(r) == RCM_REPLY_INTEGER) snprintf(slot, sizeof slot, "%lld", rcm_reply_integer(r));
        rcm_reply_free(r);
        r = NULL;
        st = rcm_command_routed(client, &route, 2, info, NULL, &r);
        if (st != RCM_OK) {
            rc = cli_fail(argv[i], st);
            continue;
        }
        if (!client_info_field(r, "laddr", node, sizeof node)) snprintf(node, sizeof node, "?");
        rcm_reply_free(r);
        printf("%-24s %6s  %s\n", argv[i], slot, node);
    }
    rcm_client_close(client);
    return rc;
}

/* ---------------------------------------------------------------------------------
 * rcm threads N COUNT
 * ------------------------------------------------------------------------------ */

#define THREADS_KEYS 100 /* distinct keys per thread; cleaned up afterwards */

typedef struct thread_job {
    rcm_client *client;
    int id;
    long long count;
    long long ok, errors;
    char first_error[256];
} thread_job;

static void job_error(thread_job *job, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void job_error(thread_job *job, const char *fmt, ...)
{
    job->errors++;
    if (job->first_error[0] != '\0') return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(job->first_error, sizeof job->first_error, fmt, ap);
    va_end(ap);
}

static void threads_key(char *buf, size_t cap, int id, long long i)
{
    snprintf(buf, cap, "rcm:threads:%d:%lld", id, i % THREADS_KEYS);
}

static void *threads_worker(void *arg)
{
    thread_job *job = arg;
    char key[64], val[64];
    for (long long i = 0; i < job->count; i++) {
        threads_key(key, sizeof key, job->id, i);
        int vlen = snprintf(val, sizeof val, "t%d-%lld", job->id, i);
        const char *set[] = {"SET", key, val};
        const char *get[] = {"GET", key};
        rcm_reply *r = NULL;
        rcm_status st = rcm_command(job->client, 3, set, NULL, &r);
        size_t len = 0;
        const char *s;
        if (st != RCM_OK) {
            job_error(job, "SET %s: %s: %s", key, rcm_status_name(st), rcm_last_error());
        } else if (rcm_reply_type(r) != RCM_REPLY_STATUS ||
                   (s = rcm_reply_string(r, &len)) == NULL || len != 2 || memcmp(s, "OK", 2)) {
            job_error(job, "SET %s: unexpected reply (type %d)", key, (int)rcm_reply_type(r));
        } else {
            job->ok++;
        }
        rcm_reply_free(r);
        r = NULL;
        st = rcm_command(job->client, 2, get, NULL, &r);
        if (st != RCM_OK) {
            job_error(job, "GET %s: %s: %s", key, rcm_status_name(st), rcm_last_error());
        } else if (rcm_reply_type(r) != RCM_REPLY_STRING ||
                   (s = rcm_reply_string(r, &len)) == NULL || len != (size_t)vlen ||
                   memcmp(s, val, len) != 0) {
            job_error(job, "GET %s: expected \"%s\", got another reply (type %d)", key, val,
                      (int)rcm_reply_type(r));
        } else {
            job->ok++;
        }
        rcm_reply_free(r);
    }
    return NULL;
}

/* Deletes the keys the threads wrote, one DEL per thread. */
static void threads_cleanup(rcm_client *client, int nthreads, long long count)
{
    long long nkeys = count < THREADS_KEYS ? count : THREADS_KEYS;
    const char **argv = calloc((size_t)nkeys + 1, sizeof *argv);
    char (*keys)[64] = calloc((size_t)nkeys, sizeof *keys);
    if (argv == NULL || keys == NULL) goto out;
    argv[0] = "DEL";
    for (int t = 0; t < nthreads; t++) {
        for (long long i = 0; i < nkeys; i++) {
            threads_key(keys[i], sizeof keys[i], t, i);
            argv[i + 1] = keys[i];
        }
        rcm_reply *r = NULL;
        if (rcm_command(client, (int)nkeys + 1, argv, NULL, &r) == RCM_OK) rcm_reply_free(r);
    }
out:
    free(argv);
    free(keys);
}

static int run_threads(const cli_opts *opts, int argc, char **argv)
{
    long long n, count;
    bool show_stats = argc == 4 && strcmp(argv[3], "--stats") == 0;
    if (argc != 3 && !show_stats) return cli_usage_error("threads: expected N COUNT [--stats]");
    if (!cli_parse_long(argv[1], 1, 1024, &n))
        return cli_usage_error("threads: N must be 1..1024, not '%s'", argv[1]);
    if (!cli_parse_long(argv[2], 1, 1000000000LL, &count))
        return cli_usage_error("threads: COUNT must be a positive integer, not '%s'", argv[2]);

    rcm_client *client;
    int rc = cli_open(opts, NULL, NULL, &client);
    if (rc != CLI_EXIT_OK) return rc;
    thread_job *jobs = calloc((size_t)n, sizeof *jobs);
    pthread_t *tids = calloc((size_t)n, sizeof *tids);
    if (jobs == NULL || tids == NULL) {
        fprintf(stderr, "rcm: out of memory\n");
        rcm_client_close(client);
        free(jobs);
        free(tids);
        return CLI_EXIT_FAIL;
    }
    uint64_t t0 = cli_now_ns();
    int started = 0;
    for (int i = 0; i < n; i++) {
        jobs[i] = (thread_job){.client = client, .id = i, .count = count};
        if (pthread_create(&tids[i], NULL, threads_worker, &jobs[i]) != 0) {
            fprintf(stderr, "rcm: threads: could not start thread %d\n", i);
            rc = CLI_EXIT_FAIL;
            break;
        }
        started++;
    }
    for (int i = 0; i < started; i++) pthread_join(tids[i], NULL);
    double secs = (double)(cli_now_ns() - t0) / 1e9;

    long long ok = 0, errors = 0;
    for (int i = 0; i < started; i++) {
        printf("thread %3d: %lld ok, %lld errors", i, jobs[i].ok, jobs[i].errors);
        if (jobs[i].first_error[0]) printf("  (first: %s)", jobs[i].first_error);
        putchar('\n');
        ok += jobs[i].ok;
        errors += jobs[i].errors;
    }
    printf("total: %d threads x %lld SET/GET pairs on one client: %lld ok, %lld errors, "
           "%.3f s, %.0f ops/s\n",
           started, count, ok, errors, secs, secs > 0 ? (double)(ok + errors) / secs : 0.0);
    threads_cleanup(client, started, count);
    if (show_stats) {
        char *json = NULL;
        rcm_status st = rcm_client_stats_json(client, &json);
        if (st == RCM_OK) {
            printf("stats of the shared client:\n%s\n", json);
            rcm_free(json);
        } else {
            rc = cli_fail("stats", st);
        }
    }
    rcm_client_close(client);
    free(jobs);
    free(tids);
    return (rc == CLI_EXIT_OK && errors == 0) ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

/* ---------------------------------------------------------------------------------
 * rcm watch [--seconds S]
 * ------------------------------------------------------------------------------ */

static volatile sig_atomic_t g_interrupted;

static void on_interrupt(int sig)
{
    (void)sig;
    g_interrupted = 1;
}

/* Runs on the client's event thread: print one line, flushed, so a pipe sees it now. */
static void on_event(rcm_event_kind kind, const char *node, const char *detail, void *userdata)
{
    (void)userdata;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    localtime_r(&ts.tv_sec, &tm);
    printf("%02d:%02d:%02d.%03ld  %-16s  %s%s%s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
           ts.tv_nsec / 1000000L, cli_event_name(kind), node ? node : "-",
           (detail && *detail) ? "  " : "", detail ? detail : "");
    fflush(stdout);
}

static int run_watch(const cli_opts *opts, int argc, char **argv)
{
    long long seconds = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            if (!cli_parse_long(argv[++i], 1, 100000000LL, &seconds))
                return cli_usage_error("watch: --seconds must be a positive integer");
        } else {
            return cli_usage_error("watch: unexpected argument '%s'", argv[i]);
        }
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    rcm_client *client;
    int rc = cli_open(opts, on_event, NULL, &client);
    if (rc != CLI_EXIT_OK) return rc;
    if (seconds > 0) printf("watching for %lld s (Ctrl-C stops)\n", seconds);
    else printf("watching (Ctrl-C stops)\n");
    fflush(stdout);
    uint64_t end = seconds > 0 ? cli_now_ns() + (uint64_t)seconds * 1000000000ull : UINT64_MAX;
    while (!g_interrupted && cli_now_ns() < end) {
        struct timespec nap = {0, 100 * 1000000L};
        nanosleep(&nap, NULL);
    }
    rcm_client_close(client);
    printf("stopped\n");
    return CLI_EXIT_OK;
}

/* ---------------------------------------------------------------------------------
 * main
 * ------------------------------------------------------------------------------ */

static int run_version(void)
{
    printf("rcm tool %d.%d.%d (header), librcm %s (loaded)\n", RCM_VERSION_MAJOR,
           RCM_VERSION_MINOR, RCM_VERSION_PATCH, rcm_version());
    return CLI_EXIT_OK;
}

int main(int argc, char **argv)
{
    /* A server that closes a socket must not kill the tool: every write checks. */
    signal(SIGPIPE, SIG_IGN);

    cli_opts opts = {0};
    opts.url = getenv("RCM_URL");
    if (opts.url != NULL && *opts.url == '\0') opts.url = NULL;
    opts.settings = calloc((size_t)argc, sizeof *opts.settings);
    if (opts.settings == NULL) return CLI_EXIT_FAIL;

    int i = 1, rc;
    bool forced_command = false;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            forced_command = true;
            i++;
            break;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(USAGE, stdout);
            rc = CLI_EXIT_OK;
            goto out;
        } else if (strcmp(a, "--version") == 0) {
            rc = run_version();
            goto out;
        } else if (strcmp(a, "--raw") == 0) {
            opts.raw = true;
        } else if (strcmp(a, "--node") == 0 || strcmp(a, "--key") == 0 ||
                   strcmp(a, "--slot") == 0) {
            if (i + 1 >= argc) {
                rc = cli_usage_error("%s needs a value", a);
                goto out;
            }
            if (opts.routed) {
                rc = cli_usage_error("only one of --node/--key/--slot/--all-*");
                goto out;
            }
            const char *v = argv[++i];
            opts.routed = true;
            if (a[2] == 'n') {
                opts.route.kind = RCM_ROUTE_NODE;
                opts.route.node = v;
            } else if (a[2] == 'k') {
                opts.route.kind = RCM_ROUTE_KEY;
                opts.route.key = v;
                opts.route.keylen = strlen(v);
            } else {
                long long slot;
                if (!cli_parse_long(v, 0, 16383, &slot)) {
                    rc = cli_usage_error("--slot must be 0..16383, not '%s'", v);
                    goto out;
                }
                opts.route.kind = RCM_ROUTE_SLOT;
                opts.route.slot = (int)slot;
            }
        } else if (strcmp(a, "--all-primaries") == 0 || strcmp(a, "--all-nodes") == 0) {
            if (opts.routed) {
                rc = cli_usage_error("only one of --node/--key/--slot/--all-*");
                goto out;
            }
            opts.routed = true;
            opts.route.kind = a[6] == 'p' ? RCM_ROUTE_ALL_PRIMARIES : RCM_ROUTE_ALL_NODES;
        } else if (strcmp(a, "-u") == 0) {
            if (i + 1 >= argc) {
                rc = cli_usage_error("-u needs a URL");
                goto out;
            }
            opts.url = argv[++i];
        } else if (strcmp(a, "-c") == 0) {
            if (i + 1 >= argc) {
                rc = cli_usage_error("-c needs key=value");
                goto out;
            }
            char *kv = argv[++i];
            char *eq = strchr(kv, '=');
            if (eq == NULL || eq == kv) {
                /* Not echoed: "-c password:S3cret" is a password with a typo. */
                rc = cli_usage_error("-c expects key=value (an argument without a key and '=' was given)");
                goto out;
            }
            *eq = '\0';
            opts.settings[opts.nsettings++] = (cli_setting){kv, eq + 1};
        } else {
            rc = cli_usage_error("unknown option '%s'", cli_option_name(a));
            goto out;
        }
    }
    if (i >= argc) {
        rc = cli_usage_error("no command given");
        goto out;
    }

    int rest = argc - i;
    char **sub = argv + i;
    if (forced_command) rc = run_command(&opts, rest, sub);
    else if (strcmp(sub[0], "help") == 0) { fputs(USAGE, stdout); rc = CLI_EXIT_OK; }
    else if (strcmp(sub[0], "version") == 0) rc = run_version();
    else if (strcmp(sub[0], "pipeline") == 0)
        rc = rest == 1 ? run_pipeline(&opts)
                       : cli_usage_error("pipeline takes no arguments (commands come on stdin)");
    else if (strcmp(sub[0], "stats") == 0)
        rc = rest == 1 ? run_json(&opts, false) : cli_usage_error("stats takes no arguments");
    else if (strcmp(sub[0], "topology") == 0)
        rc = rest == 1 ? run_json(&opts, true) : cli_usage_error("topology takes no arguments");
    else if (strcmp(sub[0], "threads") == 0) rc = run_threads(&opts, rest, sub);
    else if (strcmp(sub[0], "bench") == 0) rc = cli_bench(&opts, rest, sub);
    else if (strcmp(sub[0], "pubsub-bench") == 0) rc = cli_pubsub_bench(&opts, rest, sub);
    else if (strcmp(sub[0], "instr-run") == 0) rc = cli_instr_run(&opts, rest, sub);
    else if (strcmp(sub[0], "watch") == 0) rc = run_watch(&opts, rest, sub);
    else if (strcmp(sub[0], "load") == 0) rc = cli_load(&opts, rest, sub);
    else if (strcmp(sub[0], "soak") == 0) rc = cli_soak(&opts, rest, sub);
    else if (strcmp(sub[0], "where") == 0) rc = run_where(&opts, rest, sub);
    else rc = run_command(&opts, rest, sub);
out:
    free(opts.settings);
    return rc;
}
