/*
 * bench_readmostly.c — `rcm bench --workload readmostly`: what the client-side cache buys
 * on a read-mostly load, in one run against one server.
 *
 * The load (issue 15): 98 % GET / 2 % SET, 16-byte values, keys drawn Zipf-like with
 * s = 1 over 10 000 keys for reads and writes alike. It runs through rcm without the
 * cache, through rcm with it (cache.max_bytes set on a second client), through raw
 * hiredis (one blocking context per thread: what redis-plus-plus is built on) and, where
 * it is installed, through redis-plus-plus (bench_redispp.h), at 1 and T threads, all
 * interleaved in rounds so that drift of a loaded machine falls on each of them. The
 * issue's target names redis-plus-plus; without it raw hiredis stands in (a stricter
 * baseline) and carries the target.
 *
 * No cache can beat 1 / (share of requests that must reach the server): that share is
 * the writes plus the reads the cache missed (counted by rcm's "cache" stats), and the
 * bound is printed beside each ratio with the hit rate.
 */
#include "bench_redispp.h"
#include "cli.h"
#include "histogram.h"
#include "target.h"

#include <hiredis/hiredis.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static const char RM_USAGE[] =
    "usage: rcm [-u URL] [-c key=value...] bench --workload readmostly [options]\n"
    "\n"
    "GET/SET at --get-pct % GET (default 98), keys Zipf-like (--zipf-s, default 1.0) over\n"
    "--keyspace keys (default 10000), --value-size byte values (default 16), through raw\n"
    "hiredis (a blocking context per thread), rcm without the client-side cache and rcm\n"
    "with it (cache.max_bytes=--cache-mb MiB, default 64; other cache.* keys from -c), at\n"
    "1 and --threads threads (default 8), in --rounds alternating slices (default 3) of\n"
    "--duration-s seconds per workload (default 3). Prints ops/s, latency, client CPU,\n"
    "the cache's hit rate and the bound 1/(share of requests that reach the server)\n"
    "beside each ratio. Writes keys key:000000000000.. (as the other workloads).\n";

typedef struct rm_cfg {
    int threads, keyspace, value_size, rounds, cache_mb;
    double duration_s, zipf_s;
    int get_permille; /* GETs per 1000 ops */
    cli_target srv;
} rm_cfg;

static rm_cfg C;
static char *g_keys;   /* keyspace * RM_KEY_LEN bytes */
static char *g_value;
static double *g_cdf;  /* Zipf: cumulative probability of ranks 0..keyspace-1 */
#define RM_KEY_LEN 16  /* "key:" + 12 digits */

/* ---- the load ---------------------------------------------------------------------- */

static inline uint64_t rm_rng(uint64_t *s)
{
    uint64_t x = *s; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static bool zipf_init(void)
{
    g_cdf = malloc((size_t)C.keyspace * sizeof *g_cdf);
    if (!g_cdf) return false;
    double sum = 0;
    for (int k = 0; k < C.keyspace; k++) sum += 1.0 / pow((double)(k + 1), C.zipf_s);
    double acc = 0;
    for (int k = 0; k < C.keyspace; k++) {
        acc += 1.0 / pow((double)(k + 1), C.zipf_s) / sum;
        g_cdf[k] = acc;
    }
    g_cdf[C.keyspace - 1] = 1.0;
    return true;
}

/* A key index of Zipf-like popularity (rank 0 the hottest): a binary search of the CDF. */
static inline int zipf_draw(uint64_t *s)
{
    double u = (double)(rm_rng(s) >> 11) * (1.0 / 9007199254740992.0);
    int lo = 0, hi = C.keyspace - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (g_cdf[mid] < u) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* The next op into argv/lens: SET (3 args) or GET (2). */
static inline int rm_op(uint64_t *s, const char *argv[3], size_t lens[3], bool *is_set)
{
    argv[1] = g_keys + (size_t)zipf_draw(s) * RM_KEY_LEN;
    lens[1] = RM_KEY_LEN;
    *is_set = (int)(rm_rng(s) % 1000) >= C.get_permille;
    if (*is_set) {
        argv[0] = "SET", lens[0] = 3;
        argv[2] = g_value, lens[2] = (size_t)C.value_size;
        return 3;
    }
    argv[0] = "GET", lens[0] = 3;
    return 2;
}

/* ---- one run: T threads on rcm (client != NULL) or hiredis ---------------------------- */

typedef struct rm_job {
    rcm_client *client;
    redisContext *ctx;
    void *rpp; /* redis-plus-plus: a Redis shared by the threads */
    uint64_t seed, deadline_ns;
    long long ops, sets, errors;
    hist h;
    pthread_barrier_t *start;
} rm_job;

static void *rm_worker(void *arg)
{
    rm_job *j = arg;
    const char *argv[3];
    size_t lens[3];
    bool is_set;
    pthread_barrier_wait(j->start);
    for (;;) {
        int argc = rm_op(&j->seed, argv, lens, &is_set);
        uint64_t t0 = cli_now_ns();
        bool bad;
        if (j->rpp) {
            bad = !bench_redispp_command(j->rpp, argc, argv, lens);
        } else if (j->client) {
            rcm_reply *reply = NULL;
            rcm_status st = rcm_command(j->client, argc, argv, lens, &reply);
            bad = st != RCM_OK || rcm_reply_type(reply) == RCM_REPLY_ERROR;
            rcm_reply_free(reply);
        } else {
            redisReply *reply = redisCommandArgv(j->ctx, argc, argv, lens);
            bad = reply == NULL || reply->type == REDIS_REPLY_ERROR;
            if (reply) freeReplyObject(reply);
            else j->deadline_ns = 0; /* the context is dead */
        }
        uint64_t t1 = cli_now_ns();
        hist_add(&j->h, t1 - t0);
        if (bad) j->errors++;
        else j->ops++;
        j->sets += is_set;
        if (t1 >= j->deadline_ns) break;
    }
    return NULL;
}

/* Per thread count: raw hiredis, rcm without cache, rcm with it, redis-plus-plus. */
enum { RM_CLIENTS = 4 };

typedef struct rm_result {
    char name[64];
    long long ops, sets, errors, hits, misses, sent; /* sent: reads that reached the server */
    double secs, cpu_s;
    hist h;
    bool cached, ran;
    char note[160];
} rm_result;

static double cpu_now(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

/* The client's cache counter (the total, before the per-node objects); -1 unknown. */
static long long cache_counter(rcm_client *client, const char *name)
{
    char *json = NULL;
    if (rcm_client_stats_json(client, &json) != RCM_OK) return -1;
    long long v = -1;
    const char *c = strstr(json, "\"cache\":");
    char pat[48];
    snprintf(pat, sizeof pat, "\"%s\":", name);
    const char *p = c ? strstr(c, pat) : NULL;
    const char *nodes = c ? strstr(c, "\"nodes\":") : NULL;
    if (p && (!nodes || p < nodes)) v = strtoll(p + strlen(pat), NULL, 10);
    rcm_free(json);
    return v;
}

/* A counter summed over the cache's per-node objects ("misses" there: reads sent, so a
 * miss that waited for another's read in flight is not one); -1 unknown. */
static long long cache_node_sum(rcm_client *client, const char *name)
{
    char *json = NULL;
    if (rcm_client_stats_json(client, &json) != RCM_OK) return -1;
    const char *c = strstr(json, "\"cache\":");
    const char *p = c ? strstr(c, "\"nodes\":") : NULL;
    char pat[48];
    snprintf(pat, sizeof pat, "\"%s\":", name);
    long long v = p ? 0 : -1;
    while (p && (p = strstr(p, pat)) != NULL) {
        p += strlen(pat);
        v += strtoll(p, NULL, 10);
    }
    rcm_free(json);
    return v;
}

/* One run: rcm (client), redis-plus-plus (rpp) or, with neither, raw hiredis. */
static void rm_run(rm_result *res, rcm_client *client, void *rpp, int threads, double secs)
{
    rm_job *jobs = calloc((size_t)threads, sizeof *jobs);
    pthread_t *tids = calloc((size_t)threads, sizeof *tids);
    if (!jobs || !tids) {
        snprintf(res->note, sizeof res->note, "out of memory");
        free(jobs);
        free(tids);
        return;
    }
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
    int made = 0;
    for (; made < threads; made++) {
        rm_job *j = &jobs[made];
        j->client = client;
        j->rpp = rpp;
        j->seed = 0x9E3779B97F4A7C15ull * (uint64_t)(made + 1) + (uint64_t)res->ops;
        j->start = &start;
        if (!client && !rpp && !(j->ctx = cli_target_connect(&C.srv, C.srv.host, C.srv.port, res->note, sizeof res->note)))
            break;
    }
    if (made == threads) {
        long long h0 = res->cached ? cache_counter(client, "hits") : 0;
        long long m0 = res->cached ? cache_counter(client, "misses") : 0;
        long long s0 = res->cached ? cache_node_sum(client, "misses") : 0;
        for (int t = 0; t < threads; t++) pthread_create(&tids[t], NULL, rm_worker, &jobs[t]);
        double c0 = cpu_now();
        uint64_t t0 = cli_now_ns();
        for (int t = 0; t < threads; t++) jobs[t].deadline_ns = t0 + (uint64_t)(secs * 1e9);
        pthread_barrier_wait(&start); /* publishes the deadlines */
        for (int t = 0; t < threads; t++) {
            pthread_join(tids[t], NULL);
            res->ops += jobs[t].ops;
            res->sets += jobs[t].sets;
            res->errors += jobs[t].errors;
            hist_merge(&res->h, &jobs[t].h);
        }
        res->secs += (double)(cli_now_ns() - t0) / 1e9;
        res->cpu_s += cpu_now() - c0;
        if (res->cached) {
            long long h1 = cache_counter(client, "hits"), m1 = cache_counter(client, "misses");
            if (h0 < 0 || h1 < 0) snprintf(res->note, sizeof res->note, "no cache counters in the stats");
            else res->hits += h1 - h0, res->misses += m1 - m0, res->sent += cache_node_sum(client, "misses") - s0;
        }
        res->ran = true;
    }
    for (int t = 0; t < made; t++)
        if (jobs[t].ctx) redisFree(jobs[t].ctx);
    pthread_barrier_destroy(&start);
    free(jobs);
    free(tids);
}

/* ---- report -------------------------------------------------------------------------- */

static double ops_s(const rm_result *r) { return r->secs > 0 ? (double)r->ops / r->secs : 0; }

static void rm_row(const rm_result *r)
{
    if (!r->ran) {
        printf("  %-34s  (not measured%s%s)\n", r->name, r->note[0] ? ": " : "", r->note);
        return;
    }
    printf("  %-34s %10.0f %8.1f %8.1f %8.2f", r->name, ops_s(r), (double)hist_percentile(&r->h, 0.5) / 1e3,
           (double)hist_percentile(&r->h, 0.99) / 1e3, r->ops ? r->cpu_s * 1e6 / (double)r->ops : 0);
    if (r->cached && r->hits + r->misses > 0)
        printf("  hit rate %.1f%%", 100.0 * (double)r->hits / (double)(r->hits + r->misses));
    if (r->errors) printf("  [%lld errors]", r->errors);
    putchar('\n');
}

/* cached / base, with the hit rate and the bound, against the target. */
static void rm_ratio(const rm_result *cached, const rm_result *base, double target)
{
    if (!cached->ran || !base->ran || ops_s(base) <= 0) return;
    double ratio = ops_s(cached) / ops_s(base);
    double reach = (double)(cached->sets + cached->sent) / (double)(cached->ops ? cached->ops : 1);
    double hit = cached->hits + cached->misses ? (double)cached->hits / (double)(cached->hits + cached->misses) : 0;
    printf("  %-28s / %-28s %6.2fx  (hit rate %.1f%%, %.2f%% reach the server: bound %.1fx)", cached->name,
           base->name, ratio, 100 * hit, 100 * reach, reach > 0 ? 1 / reach : INFINITY);
    if (target > 0) printf("  target >= %.0fx %s", target, ratio >= target ? "ok" : "MISS");
    putchar('\n');
}

/* ---- setup ----------------------------------------------------------------------------- */

static int rm_parse(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long long n;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(RM_USAGE, stdout);
            return -1;
        }
        if (v == NULL) return cli_usage_error("bench: %s needs a value (or is unknown)", cli_option_name(a));
        if (strcmp(a, "--workload") == 0) {
            if (strcmp(v, "readmostly") != 0) return cli_usage_error("bench: --workload takes readmostly");
        } else if (strcmp(a, "--threads") == 0 && cli_parse_long(v, 1, 256, &n)) {
            C.threads = (int)n;
        } else if (strcmp(a, "--keyspace") == 0 && cli_parse_long(v, 1, 10000000, &n)) {
            C.keyspace = (int)n;
        } else if (strcmp(a, "--value-size") == 0 && cli_parse_long(v, 1, 1 << 20, &n)) {
            C.value_size = (int)n;
        } else if (strcmp(a, "--rounds") == 0 && cli_parse_long(v, 1, 100, &n)) {
            C.rounds = (int)n;
        } else if (strcmp(a, "--cache-mb") == 0 && cli_parse_long(v, 1, 1 << 20, &n)) {
            C.cache_mb = (int)n;
        } else if (strcmp(a, "--get-pct") == 0 && cli_parse_long(v, 0, 100, &n)) {
            C.get_permille = (int)n * 10;
        } else if (strcmp(a, "--duration-s") == 0 || strcmp(a, "--zipf-s") == 0) {
            char *end;
            double d = strtod(v, &end);
            if (*end != '\0' || !(d > 0 && d <= 3600)) return cli_usage_error("bench: %s must be in (0, 3600]", a);
            if (a[2] == 'd') C.duration_s = d;
            else C.zipf_s = d;
        } else {
            return cli_usage_error("bench: bad or unknown option '%s' for --workload readmostly", cli_option_name(a));
        }
        i++;
    }
    return CLI_EXIT_OK;
}

/* SET of every key, pipelined, so that every GET finds a value. */
static bool rm_fill(char *err, size_t errcap)
{
    redisContext *c = cli_target_connect(&C.srv, C.srv.host, C.srv.port, err, errcap);
    if (!c) return false;
    bool ok = true;
    for (int k = 0; k < C.keyspace; k++) {
        const char *argv[3] = {"SET", g_keys + (size_t)k * RM_KEY_LEN, g_value};
        size_t lens[3] = {3, RM_KEY_LEN, (size_t)C.value_size};
        redisAppendCommandArgv(c, 3, argv, lens);
    }
    for (int k = 0; ok && k < C.keyspace; k++) {
        redisReply *r = NULL;
        if (redisGetReply(c, (void **)&r) != REDIS_OK) ok = false;
        ok = cli_hiredis_ok(c, r, err, errcap, "fill") && ok;
    }
    redisFree(c);
    return ok;
}

/* Reads every key through the cached client until it answers from the cache: the timed
 * runs then see the steady state of a long-running reader, not the keyspace's cold
 * misses (10 000 of them, a few % of a short run). The wait: rcm stores replies once
 * the node's invalidation connection is subscribed. */
static bool rm_warm(rcm_client *client, char *err, size_t errcap)
{
    const char *argv[2] = {"GET", g_keys};
    size_t lens[2] = {3, RM_KEY_LEN};
    long long hits = cache_counter(client, "hits");
    for (uint64_t until = cli_now_ns() + 10000000000ull; cache_counter(client, "hits") == hits;) {
        rcm_reply *r = NULL;
        rcm_command(client, 2, argv, lens, &r);
        rcm_reply_free(r);
        if (cli_now_ns() > until) {
            snprintf(err, errcap, "the cached client served no hit within 10 s");
            return false;
        }
    }
    for (int k = 0; k < C.keyspace; k++) {
        argv[1] = g_keys + (size_t)k * RM_KEY_LEN;
        rcm_reply *r = NULL;
        rcm_status st = rcm_command(client, 2, argv, lens, &r);
        rcm_reply_free(r);
        if (st != RCM_OK) {
            snprintf(err, errcap, "warming the cache: %s", rcm_status_name(st));
            return false;
        }
    }
    return true;
}

/* The rcm client of the options, with the cache on (cached) or forced off. */
static rcm_client *rm_open(const cli_opts *opts, bool cached, char *err, size_t errcap)
{
    rcm_config *cfg = cli_config_new(opts, NULL, NULL);
    if (!cfg) return NULL;
    char mb[32];
    snprintf(mb, sizeof mb, "%lld", (long long)C.cache_mb * 1024 * 1024);
    rcm_status st = rcm_config_set(cfg, "cache.max_bytes", cached ? mb : "0");
    if (!cached) st = RCM_OK; /* a library without the key has no cache to turn off */
    rcm_client *client = NULL;
    if (st == RCM_OK) st = rcm_client_open(cfg, &client);
    if (st != RCM_OK) snprintf(err, errcap, "%s: %s", rcm_status_name(st), rcm_last_error());
    rcm_config_free(cfg);
    return client;
}

int cli_bench_readmostly(const cli_opts *opts, int argc, char **argv)
{
    C = (rm_cfg){.threads = 8, .keyspace = 10000, .value_size = 16, .rounds = 3, .cache_mb = 64,
                 .duration_s = 3, .zipf_s = 1.0, .get_permille = 980};
    int rc = rm_parse(argc, argv);
    if (rc != CLI_EXIT_OK) return rc < 0 ? CLI_EXIT_OK : rc;
    cli_target_from_opts(opts, &C.srv);
    if (C.srv.tls) return cli_usage_error("bench: the hiredis baseline does not do TLS; bench a plain server");
    g_keys = malloc((size_t)C.keyspace * RM_KEY_LEN + 1);
    g_value = malloc((size_t)C.value_size);
    char err[256] = "";
    rcm_client *plain = NULL, *cached = NULL;
    void *rpp[2] = {NULL, NULL}; /* redis-plus-plus at 1 and T threads (a pool of that size) */
    rm_result *res = NULL;
    rc = CLI_EXIT_FAIL;
    if (!g_keys || !g_value || !zipf_init()) goto out;
    for (int k = 0; k < C.keyspace; k++) {
        char tmp[RM_KEY_LEN + 1];
        snprintf(tmp, sizeof tmp, "key:%012d", k);
        memcpy(g_keys + (size_t)k * RM_KEY_LEN, tmp, RM_KEY_LEN);
    }
    for (int k = 0; k < C.value_size; k++) g_value[k] = (char)('a' + k % 26);
    if (!rm_fill(err, sizeof err) || !(plain = rm_open(opts, false, err, sizeof err))) {
        fprintf(stderr, "rcm: bench: %s\n", err);
        goto out;
    }
    char cache_err[256] = "";
    cached = rm_open(opts, true, cache_err, sizeof cache_err);
    if (cached && !rm_warm(cached, err, sizeof err)) {
        fprintf(stderr, "rcm: bench: %s\n", err);
        goto out;
    }

    double load[1] = {-1};
    getloadavg(load, 1);
    printf("rcm bench --workload readmostly: %d%% GET / %d%% SET, %d-byte values, Zipf s=%.2f over %d keys, "
           "%.1f s per workload in %d rounds\n",
           C.get_permille / 10, 100 - C.get_permille / 10, C.value_size, C.zipf_s, C.keyspace, C.duration_s,
           C.rounds);
    printf("the cached client read every key once before the timed runs (steady state: no cold misses)\n");
    printf("server %s:%d; %ld CPUs online, load average %.2f before the run; librcm %s, hiredis %d.%d.%d; "
           "cache: %d MiB\n", C.srv.host, C.srv.port, sysconf(_SC_NPROCESSORS_ONLN), load[0], rcm_version(),
           HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH, C.cache_mb);
    if (!cached) printf("note: the cached client did not open (%s): its rows are not measured\n", cache_err);

    int counts[2] = {1, C.threads};
    int ncounts = C.threads == 1 ? 1 : 2;
    char rpp_err[256] = "";
    for (int t = 0; t < ncounts; t++) /* the stub says why there is none */
        rpp[t] = bench_redispp_open(C.srv.host, C.srv.port, counts[t], rpp_err, sizeof rpp_err);
    if (!rpp[0]) printf("note: %s: its rows are not measured\n", rpp_err);
    res = calloc((size_t)ncounts * RM_CLIENTS, sizeof *res);
    if (!res) goto out;
    for (int t = 0; t < ncounts; t++) {
        rm_result *r = &res[t * RM_CLIENTS];
        const char *th = counts[t] == 1 ? "thread" : "threads";
        snprintf(r[0].name, sizeof r[0].name, "hiredis %d %s", counts[t], th);
        snprintf(r[1].name, sizeof r[1].name, "rcm %d %s, no cache", counts[t], th);
        snprintf(r[2].name, sizeof r[2].name, "rcm %d %s, cache", counts[t], th);
        snprintf(r[3].name, sizeof r[3].name, "redis-plus-plus %d %s", counts[t], th);
        if (!rpp[t]) snprintf(r[3].note, sizeof r[3].note, "%s", rpp_err);
        r[2].cached = true;
        if (!cached) snprintf(r[2].note, sizeof r[2].note, "%s", cache_err);
        fprintf(stderr, "bench: readmostly, %d %s...\n", counts[t], th);
        for (int round = 0; round < C.rounds; round++)
            for (int k = 0; k < RM_CLIENTS; k++) {
                int w = (k + round) % RM_CLIENTS;
                rcm_client *client = w == 1 ? plain : w == 2 ? cached : NULL;
                if ((w == 2 && !cached) || (w == 3 && !rpp[t])) continue;
                rm_run(&r[w], client, w == 3 ? rpp[t] : NULL, counts[t], C.duration_s / C.rounds);
            }
    }

    printf("\n  %-34s %10s %8s %8s %8s\n", "workload", "ops/s", "p50 us", "p99 us", "CPU us/op");
    for (int t = 0; t < ncounts; t++) {
        printf(" %d %s\n", counts[t], counts[t] == 1 ? "thread" : "threads");
        for (int w = 0; w < RM_CLIENTS; w++)
            if (w != 3 || rpp[t]) rm_row(&res[t * RM_CLIENTS + w]);
    }
    printf("\nratios (ops/s; the bound: 1 / share of requests that reach the server, writes + reads sent;\n"
           "a miss that waited for the same read in flight is not sent):\n");
    for (int t = 0; t < ncounts; t++) {
        rm_result *r = &res[t * RM_CLIENTS];
        rm_ratio(&r[2], &r[1], 5);
        rm_ratio(&r[2], &r[0], rpp[t] ? 0 : 10); /* hiredis carries the target without redis++ */
        if (rpp[t]) rm_ratio(&r[2], &r[3], 10);
    }
    printf("\nCPU: getrusage(RUSAGE_SELF) per op, all threads of this process (rcm's I/O threads too).\n");
    rc = CLI_EXIT_OK;
    for (int k = 0; k < ncounts * RM_CLIENTS; k++) {
        int w = k % RM_CLIENTS;
        bool wanted = (w != 2 || cached) && (w != 3 || rpp[k / RM_CLIENTS]);
        if (res[k].errors > 0 || (!res[k].ran && wanted)) rc = CLI_EXIT_FAIL;
    }
out:
    for (int t = 0; t < 2; t++) bench_redispp_close(rpp[t]);
    rcm_client_close(cached);
    rcm_client_close(plain);
    free(res);
    free(g_cdf);
    free(g_keys);
    free(g_value);
    g_cdf = NULL, g_keys = g_value = NULL;
    return rc;
}
