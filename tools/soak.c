/*
 * soak.c — `rcm soak`: options, the run (workload threads from soak_work.c, the fault
 * thread from soak_cluster.c), the checks at the end (the cluster restored and healthy,
 * every key read back against its history, every async request completed exactly once)
 * and the summary. The seed is printed first and last: `--seed N` replays the schedule.
 */
#include "soak.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char SOAK_USAGE[] =
    "usage: rcm -u redis+cluster://... soak [options]\n"
    "\n"
    "Runs a mixed workload (sync, async, pipelines, MULTI/EXEC on leases, leases,\n"
    "multi-slot MSET/MGET/DEL) from T threads on one client for S seconds while faults\n"
    "drawn from a seed kill (-9, then restart), stop (SIGSTOP/SIGCONT), fail over and\n"
    "migrate slots, one at a time, each healed before the next. Checks that every request\n"
    "completes exactly once, acknowledged writes stay readable, no reply reaches another\n"
    "caller and no call outlives its deadline by more than the slack. At the end the\n"
    "cluster's layout (primaries, slot owners) is restored and every key read back.\n"
    "\n"
    "options:\n"
    "  --seconds S      how long (default $RCM_SOAK_SECONDS, else 60)\n"
    "  --seed N         the fault schedule and workload (default: from the clock; printed)\n"
    "  --threads T      workload threads (default 4)\n"
    "  --pairs P        key pairs per thread (default 32; a pair shares a slot)\n"
    "  --state DIR      the harness's state dir (default $RCM_TEST_STATE_DIR): kill and stop\n"
    "                   touch only the processes in DIR/cluster/pids\n"
    "  --harness PATH   tests/harness/rcm_harness.sh (default $RCM_HARNESS), to restart a\n"
    "                   killed node; without it no node is killed, without DIR none stopped\n"
    "  --no-faults      the workload and its checks only\n"
    "  --slack-ms MS    how far past its deadline a call may end (default 500)\n"
    "  --verbose        more lines about faults\n"
    "\n"
    "Exit status: 0 when every check held, 1 on a violation (the first is repeated in the\n"
    "summary with the seed that replays the schedule), 2 usage.\n";

/* A config key as a number (rcm_config_get gives every key). */
static long long config_ll(const rcm_config *cfg, const char *key)
{
    char *v = NULL;
    long long n = 0;
    if (rcm_config_get(cfg, key, &v) == RCM_OK) n = atoll(v);
    rcm_free(v);
    return n;
}

/* --verbose: the client's events, on the timeline of the faults. */
static void on_event(rcm_event_kind kind, const char *node, const char *detail, void *userdata)
{
    soak_log(userdata, "event: %s %s %s", cli_event_name(kind), node ? node : "-", detail ? detail : "");
}

typedef struct soak_opts {
    long long seconds, threads, pairs, slack_ms;
    uint64_t seed;
    bool faults, verbose;
    const char *state_dir, *harness;
} soak_opts;

static const char *env_or_null(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && *v != '\0' ? v : NULL;
}

static int parse_opts(int argc, char **argv, soak_opts *o)
{
    *o = (soak_opts){.seconds = 60, .threads = 4, .pairs = 32, .slack_ms = 500, .faults = true};
    const char *env = env_or_null("RCM_SOAK_SECONDS");
    if (env != NULL && !cli_parse_long(env, 1, 86400, &o->seconds))
        return cli_usage_error("soak: RCM_SOAK_SECONDS must be 1..86400, not '%s'", env);
    o->seed = (cli_now_ns() ^ ((uint64_t)getpid() << 32)) % 1000000000ull;
    o->state_dir = env_or_null("RCM_TEST_STATE_DIR");
    o->harness = env_or_null("RCM_HARNESS");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long long n;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(SOAK_USAGE, stdout);
            return -1;
        } else if (strcmp(a, "--no-faults") == 0) {
            o->faults = false;
        } else if (strcmp(a, "--verbose") == 0) {
            o->verbose = true;
        } else if (v == NULL) {
            return cli_usage_error("soak: unknown option '%s' (or it needs a value)", cli_option_name(a));
        } else if (strcmp(a, "--state") == 0 || strcmp(a, "--harness") == 0) {
            *(a[2] == 's' ? &o->state_dir : &o->harness) = argv[++i];
        } else if (strcmp(a, "--seconds") == 0 || strcmp(a, "--threads") == 0 ||
                   strcmp(a, "--pairs") == 0 || strcmp(a, "--slack-ms") == 0 ||
                   strcmp(a, "--seed") == 0) {
            long long max = a[3] == 'e' && a[4] == 'e' ? 1000000000000000000LL : 1000000;
            if (!cli_parse_long(v, 0, max, &n)) return cli_usage_error("soak: %s takes a number, not '%s'", a, v);
            i++;
            if (strcmp(a, "--seconds") == 0) o->seconds = n;
            else if (strcmp(a, "--threads") == 0) o->threads = n;
            else if (strcmp(a, "--pairs") == 0) o->pairs = n;
            else if (strcmp(a, "--slack-ms") == 0) o->slack_ms = n;
            else o->seed = (uint64_t)n;
        } else {
            return cli_usage_error("soak: unknown option '%s'", cli_option_name(a));
        }
    }
    if (o->seconds < 1 || o->threads < 1 || o->threads > 64 || o->pairs < 8 || o->pairs > 4096)
        return cli_usage_error("soak: --seconds >= 1, --threads 1..64 and --pairs 8..4096");
    return 0;
}

/* Keys "{soak.<run>.<thread>.<pair>}.<0|1>"; <run> keeps runs apart. */
static int make_workers(soak_ctx *ctx, rcm_client *c, const soak_opts *o, soak_worker *w,
                        int *slots)
{
    unsigned run = (unsigned)((cli_now_ns() ^ ctx->seed) % 0xffffff);
    int nslots = 0;
    for (int t = 0; t < o->threads; t++) {
        w[t] = (soak_worker){.ctx = ctx, .client = c, .id = t, .nkeys = (int)o->pairs * 2};
        w[t].rng = ctx->seed * 1000003ull + (uint64_t)t;
        w[t].keys = calloc((size_t)w[t].nkeys, sizeof *w[t].keys);
        if (w[t].keys == NULL) return -1;
        for (int i = 0; i < w[t].nkeys; i++) {
            soak_key *k = &w[t].keys[i];
            k->len = (size_t)snprintf(k->name, sizeof k->name, "{soak.%06x.%d.%d}.%d", run, t, i / 2, i % 2);
            k->slot = soak_key_slot(k->name, k->len);
            if (i % 2 == 0) slots[nslots++] = k->slot;
        }
    }
    return nslots;
}

/* Every key read back (a few tries: a read may meet a refresh) against its history. */
static void verify_all(soak_ctx *ctx, soak_worker *w, int nthreads)
{
    long long read = 0;
    for (int t = 0; t < nthreads && atomic_load(&ctx->violations) == 0; t++) {
        for (int i = 0; i < w[t].nkeys; i++) {
            soak_key *k = &w[t].keys[i];
            const char *argv[2] = {"GET", k->name};
            size_t lens[2] = {3, k->len};
            rcm_reply *r = NULL;
            rcm_status st = RCM_ERR_INTERNAL;
            for (int tries = 0; tries < 10; tries++) {
                st = rcm_command(w[t].client, 2, argv, lens, &r);
                if (st == RCM_OK && rcm_reply_type(r) != RCM_REPLY_ERROR) break;
                rcm_reply_free(r);
                r = NULL;
                struct timespec nap = {0, 300000000L};
                nanosleep(&nap, NULL);
            }
            if (r == NULL) {
                soak_violation(ctx, "final read of %s failed: %s: %s", k->name, rcm_status_name(st),
                               rcm_last_error());
                return;
            }
            soak_check_read(&w[t], k, r, cli_now_ns(), "final GET");
            rcm_reply_free(r);
            read++;
        }
    }
    soak_log(ctx, "read back %lld keys", read);
}

/* The keys go, so that later users of the cluster (and tests) do not meet them. */
static void delete_keys(soak_worker *w, int nthreads)
{
    for (int t = 0; t < nthreads; t++)
        for (int i = 0; i + 1 < w[t].nkeys; i += 2) {
            const char *argv[3] = {"DEL", w[t].keys[i].name, w[t].keys[i + 1].name};
            rcm_reply *r = NULL;
            rcm_command(w[t].client, 3, argv, NULL, &r);
            rcm_reply_free(r);
        }
}

/* After rcm_client_close: every async callback must have been called exactly once. */
static void check_exactly_once(soak_ctx *ctx, soak_worker *w, int nthreads, long long *total)
{
    long long never = 0, twice = 0;
    *total = 0;
    for (int t = 0; t < nthreads; t++)
        for (int c = 0; c < w[t].nchunks; c++) {
            int used = c == w[t].nchunks - 1 ? w[t].used_in_chunk : SOAK_CHUNK;
            for (int i = 0; i < used; i++) {
                int calls = atomic_load(&w[t].chunks[c][i].calls);
                never += calls == 0;
                twice += calls > 1;
                (*total)++;
            }
        }
    if (never || twice)
        soak_violation(ctx, "of %lld async requests, %lld never completed and %lld completed more than once",
                       *total, never, twice);
}

static void print_summary(soak_ctx *ctx, double secs, long long async_total)
{
    printf("\nsoak summary: seed %llu, %.1f s, command_timeout %.3f s, slack %.3f s\n",
           (unsigned long long)ctx->seed, secs, (double)soak_S.cmd_ns / 1e9,
           (double)soak_S.slack_ns / 1e9);
    printf("  %-12s %10s %10s %10s %10s\n", "kind", "requests", "ok", "error", "uncertain");
    long long tot[4] = {0};
    for (int k = 0; k < K_KINDS; k++) {
        long long v[4] = {soak_S.req[k], soak_S.ok[k], soak_S.err[k], soak_S.unc[k]};
        printf("  %-12s %10lld %10lld %10lld %10lld\n", soak_kind_names[k], v[0], v[1], v[2], v[3]);
        for (int j = 0; j < 4; j++) tot[j] += v[j];
    }
    printf("  %-12s %10lld %10lld %10lld %10lld\n", "total", tot[0], tot[1], tot[2], tot[3]);
    printf("  failures by status:");
    bool any = false;
    for (int i = 1; i < SOAK_NSTATUS; i++)
        if (soak_S.by_status[i]) {
            printf(" %s=%lld", rcm_status_name((rcm_status)-i), (long long)soak_S.by_status[i]);
            any = true;
        }
    printf("%s\n", any ? "" : " none");
    printf("  reads checked: %lld; async requests completed exactly once: %lld; latest past a "
           "deadline: %.3f s\n", (long long)soak_S.reads_checked, async_total,
           (double)soak_S.late_max_ns / 1e9);
    printf("  reads explained only by writes lost with a killed or replaced primary: %lld\n",
           (long long)soak_S.lost_reads);
    printf("  faults: %lld kills, %lld stops, %lld failovers, %lld migrations\n",
           (long long)ctx->kills, (long long)ctx->stops, (long long)ctx->failovers,
           (long long)ctx->migrations);
    if (ctx->violations)
        printf("FAILED: %lld violation(s); the first: %s\nreplay with: rcm soak --seed %llu\n",
               (long long)ctx->violations, ctx->first_violation, (unsigned long long)ctx->seed);
    else
        printf("OK: every check held (seed %llu)\n", (unsigned long long)ctx->seed);
    fflush(stdout);
}

int cli_soak(const cli_opts *opts, int argc, char **argv)
{
    soak_opts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc != 0) return rc < 0 ? CLI_EXIT_OK : rc;
    static soak_ctx ctx = {.mu = PTHREAD_MUTEX_INITIALIZER};
    ctx.seed = o.seed;
    ctx.faults = o.faults;
    ctx.verbose = o.verbose;
    ctx.state_dir = o.state_dir;
    ctx.harness = o.harness;
    ctx.t0 = cli_now_ns();

    rcm_config *cfg = cli_config_new(opts, o.verbose ? on_event : NULL, &ctx);
    if (cfg == NULL) return CLI_EXIT_USAGE;
    char *password = NULL, *seeds = NULL;
    rcm_config_get(cfg, "password", &password);
    rcm_config_get(cfg, "seeds", &seeds);
    ctx.password = password;
    snprintf(ctx.seeds, sizeof ctx.seeds, "%s", seeds ? seeds : "");
    rcm_free(seeds);
    soak_S.cmd_ns = (uint64_t)config_ll(cfg, "command_timeout_ms") * 1000000ull;
    soak_S.lease_ns = (uint64_t)config_ll(cfg, "pool.lease_timeout_ms") * 1000000ull;
    soak_S.slack_ns = (uint64_t)o.slack_ms * 1000000ull;
    if (soak_S.cmd_ns == 0) {
        rcm_config_free(cfg);
        rcm_free(password);
        return cli_usage_error("soak: command_timeout_ms=0 leaves no deadline to check");
    }
    printf("soak: seed %llu (replay: rcm soak --seed %llu), %lld s, %lld threads x %lld keys, "
           "faults %s\n", (unsigned long long)ctx.seed, (unsigned long long)ctx.seed, o.seconds,
           o.threads, o.pairs * 2,
           !o.faults ? "off" : o.state_dir && o.harness ? "kill/stop/failover/migrate"
           : o.state_dir ? "stop/failover/migrate (no --harness: no kill)"
                         : "failover/migrate (no --state: no kill or stop)");
    fflush(stdout);
    rcm_client *client = NULL;
    rcm_status st = RCM_OK;
    if (soak_cluster_snapshot(&ctx) != 0 || (st = rcm_client_open(cfg, &client)) != RCM_OK) {
        if (st != RCM_OK) cli_fail("connect", st);
        rcm_config_free(cfg);
        rcm_free(password);
        return CLI_EXIT_FAIL;
    }
    rcm_config_free(cfg);

    soak_worker *w = calloc((size_t)o.threads, sizeof *w);
    int *slots = calloc((size_t)(o.threads * o.pairs), sizeof *slots);
    pthread_t *tids = calloc((size_t)o.threads, sizeof *tids);
    if (w == NULL || slots == NULL || tids == NULL) abort();
    soak_fault_args fa = {&ctx, slots, make_workers(&ctx, client, &o, w, slots)};
    if (fa.nslots < 0) abort();
    ctx.end_ns = cli_now_ns() + (uint64_t)o.seconds * 1000000000ull;
    uint64_t t_start = cli_now_ns();
    int started = 0;
    for (; started < o.threads; started++)
        if (pthread_create(&tids[started], NULL, soak_worker_main, &w[started]) != 0) break;
    pthread_t ftid;
    bool fault_thread = o.faults && pthread_create(&ftid, NULL, soak_fault_main, &fa) == 0;
    for (int t = 0; t < started; t++) pthread_join(tids[t], NULL);
    atomic_store(&ctx.stop_workload, true);
    double secs = (double)(cli_now_ns() - t_start) / 1e9;
    if (fault_thread) pthread_join(ftid, NULL);
    soak_log(&ctx, "workload stopped; restoring the cluster's layout");
    if (o.faults && soak_cluster_restore(&ctx, 90) != 0)
        soak_violation(&ctx, "the cluster was not restored to a healthy layout");
    if (atomic_load(&ctx.violations) == 0) verify_all(&ctx, w, started);
    delete_keys(w, started);
    rcm_client_close(client);
    long long async_total = 0;
    check_exactly_once(&ctx, w, started, &async_total);
    print_summary(&ctx, secs, async_total);

    for (int t = 0; t < o.threads; t++) {
        for (int i = 0; i < w[t].nkeys && w[t].keys; i++) free(w[t].keys[i].w);
        free(w[t].keys);
        for (int c = 0; c < w[t].nchunks; c++) free(w[t].chunks[c]);
        free(w[t].chunks);
    }
    free(w);
    free(slots);
    free(tids);
    free(ctx.losses);
    rcm_free(password);
    return ctx.violations ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}
