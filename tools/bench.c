/*
 * bench.c — `rcm bench`: GET/SET throughput, latency and client CPU of rcm, measured in
 * one run against the same server as its baselines (raw hiredis, valkey-benchmark).
 *
 * Every workload is a 50/50 mix of SET key value / GET key over a keyspace that is
 * filled first, keys formatted as valkey-benchmark's ("key:%012d"), values of
 * --value-size bytes. Each runs for --duration-s (or --requests operations, whichever
 * comes first). Baseline and rcm runs of a group are interleaved so that drift of the
 * machine hits both.
 *
 * Measures: ops/s; latency percentiles from a per-thread histogram (per op, or per batch
 * for pipelines); client CPU per op from getrusage(RUSAGE_SELF) around the run (all
 * threads of this process, so rcm's I/O threads are counted), or wait4()'s rusage of the
 * valkey-benchmark child; server CPU per op from INFO cpu before and after.
 */
#include "cli.h"
#include "histogram.h"
#include "slotmap.h"
#include "target.h"

#include <hiredis/hiredis.h>

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static const char BENCH_USAGE[] =
    "usage: rcm [-u URL] [-c key=value...] bench [--cluster] [options]\n"
    "\n"
    "Measures GET/SET (50/50) on the server the URL names, in one run:\n"
    "  rcm sync 1 thread, rcm sync T threads (one shared client), rcm async with D in\n"
    "  flight (a submitter thread, and resubmission from the callback), rcm pipeline D;\n"
    "  raw hiredis baselines (1 context; T threads x 1 context; pipeline of D with\n"
    "  redisAppendCommandArgv + redisGetReply) and valkey-benchmark (or redis-benchmark)\n"
    "  -P 1 -c 1, -P 1 -c T, -P D -c 1, -P 1 -c D as a child process.\n"
    "Writes keys key:000000000000.. key:<keyspace-1> (as valkey-benchmark does).\n"
    "\n"
    "Cluster (--cluster, or a redis+cluster:// URL / mode=cluster; the URL names one or\n"
    "more nodes): the client runs in cluster mode and the baselines route too:\n"
    "  rcm sync T threads against raw hiredis with, per thread, one blocking context per\n"
    "  primary, the slot computed by the tool (CRC16) from the map read once with CLUSTER\n"
    "  SLOTS, and valkey-benchmark --cluster -P 1 -c T; rcm async D in flight (submitter,\n"
    "  and callback resubmits) against valkey-benchmark --cluster -P D -c N and -P D/N\n"
    "  -c N (N primaries: one connection each); rcm pipeline D against raw hiredis with\n"
    "  one context per primary (each command appended to its owner's context, all\n"
    "  written, then all read). Keys are random over 100000 keys (nearly every slot);\n"
    "  sync 1 thread only with --only sync1.\n"
    "\n"
    "options:\n"
    "  --cluster         bench a cluster (see above)\n"
    "  --threads T       threads of the multi-threaded sync workloads (default 8)\n"
    "  --depth D         requests in flight / pipeline depth (default 64)\n"
    "  --duration-s S    seconds per workload, all rounds together (default 2;\n"
    "                    with --requests: a cap, 30)\n"
    "  --requests N      operations per workload (stops at N or the duration)\n"
    "  --value-size B    SET value size in bytes (default 16)\n"
    "  --keyspace K      distinct keys (default 10000; cluster 100000)\n"
    "  --rounds R        split each in-process workload into R slices that alternate with\n"
    "                    its baselines (default 3)\n"
    "  --only LIST       run only these groups: sync1,syncn,inflight (default all;\n"
    "                    cluster: syncn,inflight)\n"
    "  --no-external     skip valkey-benchmark (its ratio is then not printed)\n"
    "  --workload readmostly  instead: 98 % GET / 2 % SET, Zipf keys, through rcm with and\n"
    "                    without the client-side cache and raw hiredis (see\n"
    "                    `rcm bench --workload readmostly --help`)\n"
    "\n"
    "Exit status: 0 when every workload ran without errors (the targets are reported, not\n"
    "enforced), 1 when a workload failed or saw errors, 2 for bad usage.\n";

/* ---------------------------------------------------------------------------------
 * Settings and the server address for the baselines.
 * ------------------------------------------------------------------------------ */

enum { GROUP_SYNC1 = 1, GROUP_SYNCN = 2, GROUP_INFLIGHT = 4, GROUP_ALL = 7 };

typedef struct bench_cfg {
    int threads;
    int depth;
    double duration_s;
    long long requests; /* 0: no limit but the duration */
    int value_size;
    int keyspace;
    int rounds;         /* each in-process workload runs in this many alternating slices */
    unsigned groups;    /* GROUP_* bits to run */
    bool groups_given;  /* --only was given */
    bool keyspace_given;
    bool external;
    bool cluster;       /* --cluster or mode=cluster: route by slot, all primaries */
    cli_target srv;     /* where the baselines connect: the first seed, as the rcm client sees it */
} bench_cfg;

/* ---------------------------------------------------------------------------------
 * The workload: keys, values, the op mix.
 * ------------------------------------------------------------------------------ */

#define KEY_LEN 16 /* "key:" + 12 digits, as valkey-benchmark -r */

typedef struct workload {
    char *keys; /* keyspace * KEY_LEN bytes, formatted once */
    char *value;
    size_t value_len;
    int keyspace;
} workload;

static workload W;

typedef struct rng {
    uint64_t s;
} rng;

static inline uint64_t rng_next(rng *r)
{
    uint64_t x = r->s; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* Fills argv/lens for operation number i (even: SET, odd: GET); returns argc. */
static inline int make_op(rng *r, uint64_t i, const char *argv[3], size_t lens[3])
{
    const char *key = W.keys + (rng_next(r) % (uint64_t)W.keyspace) * KEY_LEN;
    argv[1] = key;
    lens[1] = KEY_LEN;
    if ((i & 1) == 0) {
        argv[0] = "SET";
        lens[0] = 3;
        argv[2] = W.value;
        lens[2] = W.value_len;
        return 3;
    }
    argv[0] = "GET";
    lens[0] = 3;
    return 2;
}

/* ---------------------------------------------------------------------------------
 * Results and measurement around a run.
 * ------------------------------------------------------------------------------ */

typedef struct result {
    char name[64];
    const char *lat_unit; /* "op", "batch", or "op*" (valkey-benchmark's own figure) */
    /* accumulated over the rounds of an in-process workload */
    long long ops, errors;
    double secs, cli_cpu_s, srv_cpu_s;
    bool srv_unknown;
    int rounds;
    hist *h;
    double ext_p50_ms_x_ops, ext_p99_ms; /* valkey-benchmark's own percentiles */
    /* derived by result_finish (or set directly for valkey-benchmark) */
    bool valid;
    double ops_s;
    double p50_us, p99_us;
    double cli_cpu_us; /* per op */
    double srv_cpu_us; /* per op; < 0 unknown */
    char note[160];
} result;

typedef struct meter {
    uint64_t t0;
    struct rusage ru0;
    double srv0;
} meter;

/* INFO cpu and the fill: one context per server (per primary of a cluster); owned by
 * the bench's main thread. */
static redisContext *g_side[SLOTMAP_MAX_NODES];
static int g_nside;
static slotmap g_map; /* cluster mode: read once before the runs, then read-only */

/* The CPU seconds of every server (all primaries of a cluster) together; -1 unknown. */
static double server_cpu_s(void)
{
    if (g_nside == 0) return -1;
    double total = 0;
    for (int i = 0; i < g_nside; i++) {
        double t = cli_server_cpu_s(g_side[i]);
        if (t < 0) return -1;
        total += t;
    }
    return total;
}

static double rusage_s(const struct rusage *ru)
{
    return (double)ru->ru_utime.tv_sec + (double)ru->ru_utime.tv_usec / 1e6 +
           (double)ru->ru_stime.tv_sec + (double)ru->ru_stime.tv_usec / 1e6;
}

static void meter_start(meter *m)
{
    m->srv0 = server_cpu_s();
    getrusage(RUSAGE_SELF, &m->ru0);
    m->t0 = cli_now_ns();
}

/* Adds one round's time, operations and CPU to the result. */
static void meter_stop(meter *m, result *res, long long ops, long long errors)
{
    uint64_t t1 = cli_now_ns();
    struct rusage ru1;
    getrusage(RUSAGE_SELF, &ru1);
    double srv1 = server_cpu_s();
    res->ops += ops;
    res->errors += errors;
    res->secs += (double)(t1 - m->t0) / 1e9;
    res->cli_cpu_s += rusage_s(&ru1) - rusage_s(&m->ru0);
    if (m->srv0 >= 0 && srv1 >= 0) res->srv_cpu_s += srv1 - m->srv0;
    else res->srv_unknown = true;
    res->rounds++;
}

/* Adds one round's latencies to the result. */
static void result_latency(result *res, const hist *h, const char *unit)
{
    res->lat_unit = unit;
    if (res->h == NULL) res->h = calloc(1, sizeof *res->h);
    if (res->h) hist_merge(res->h, h);
}

static void result_finish(result *res)
{
    if (res->rounds == 0) return; /* valkey-benchmark, or never ran */
    res->valid = res->ops > 0 && res->secs > 0;
    if (!res->valid) return;
    res->ops_s = (double)res->ops / res->secs;
    res->cli_cpu_us = res->cli_cpu_s * 1e6 / (double)res->ops;
    res->srv_cpu_us = res->srv_unknown ? -1 : res->srv_cpu_s * 1e6 / (double)res->ops;
    if (res->h) {
        res->p50_us = (double)hist_percentile(res->h, 0.50) / 1e3;
        res->p99_us = (double)hist_percentile(res->h, 0.99) / 1e3;
    } else if (res->ext_p99_ms > 0) {
        res->p50_us = res->ext_p50_ms_x_ops / (double)res->ops * 1e3;
        res->p99_us = res->ext_p99_ms * 1e3;
    }
}

/* The bounds of one run. */
typedef struct run_bounds {
    uint64_t deadline_ns;
    long long max_ops; /* for the whole run; LLONG_MAX when unbounded */
} run_bounds;

static const bench_cfg *G; /* the bench's settings, read-only during runs */

/* One round's share of the workload's duration and requests. */
static run_bounds bounds_now(void)
{
    run_bounds b;
    b.deadline_ns = cli_now_ns() + (uint64_t)(G->duration_s / G->rounds * 1e9);
    b.max_ops = G->requests > 0 ? (G->requests + G->rounds - 1) / G->rounds : INT64_MAX;
    return b;
}

/* ---------------------------------------------------------------------------------
 * Synchronous workers: rcm_command or redisCommandArgv, one op at a time.
 * ------------------------------------------------------------------------------ */

typedef struct sync_job {
    rcm_client *client;   /* rcm runs */
    redisContext *ctx;    /* hiredis runs (one per thread) */
    redisContext **ctxs;  /* routed hiredis runs: one per primary (g_map.node order) */
    run_bounds bounds;
    long long quota;      /* ops for this thread */
    long long ops, errors;
    hist h;
    uint64_t seed;
    pthread_barrier_t *start;
} sync_job;

static void *sync_rcm_worker(void *arg)
{
    sync_job *job = arg;
    rng r = {job->seed};
    const char *argv[3];
    size_t lens[3];
    if (job->start) pthread_barrier_wait(job->start);
    for (uint64_t i = 0; (long long)i < job->quota; i++) {
        int argc = make_op(&r, i, argv, lens);
        rcm_reply *reply = NULL;
        uint64_t t0 = cli_now_ns();
        rcm_status st = rcm_command(job->client, argc, argv, lens, &reply);
        uint64_t t1 = cli_now_ns();
        hist_add(&job->h, t1 - t0);
        if (st != RCM_OK || rcm_reply_type(reply) == RCM_REPLY_ERROR) job->errors++;
        else job->ops++;
        rcm_reply_free(reply);
        if (t1 >= job->bounds.deadline_ns) break;
    }
    return NULL;
}

static void *sync_hiredis_worker(void *arg)
{
    sync_job *job = arg;
    rng r = {job->seed};
    const char *argv[3];
    size_t lens[3];
    if (job->start) pthread_barrier_wait(job->start);
    for (uint64_t i = 0; (long long)i < job->quota; i++) {
        int argc = make_op(&r, i, argv, lens);
        uint64_t t0 = cli_now_ns();
        redisReply *reply = redisCommandArgv(job->ctx, argc, argv, lens);
        uint64_t t1 = cli_now_ns();
        hist_add(&job->h, t1 - t0);
        if (reply == NULL) { /* the context is dead */
            job->errors++;
            break;
        }
        if (reply->type == REDIS_REPLY_ERROR) job->errors++;
        else job->ops++;
        freeReplyObject(reply);
        if (t1 >= job->bounds.deadline_ns) break;
    }
    return NULL;
}

/* The raw cluster baseline: one blocking context per primary, the slot computed here
 * (CRC16) and looked up in the map read once; no redirects are followed (an error reply
 * counts as an error). */
static void *sync_routed_worker(void *arg)
{
    sync_job *job = arg;
    rng r = {job->seed};
    const char *argv[3];
    size_t lens[3];
    if (job->start) pthread_barrier_wait(job->start);
    for (uint64_t i = 0; (long long)i < job->quota; i++) {
        int argc = make_op(&r, i, argv, lens);
        uint64_t t0 = cli_now_ns();
        unsigned owner = g_map.owner[slot_of_key(argv[1], lens[1])];
        redisReply *reply = owner < (unsigned)g_map.nnodes
                                ? redisCommandArgv(job->ctxs[owner], argc, argv, lens)
                                : NULL;
        uint64_t t1 = cli_now_ns();
        hist_add(&job->h, t1 - t0);
        if (reply == NULL) { /* a dead context, or an uncovered slot */
            job->errors++;
            break;
        }
        if (reply->type == REDIS_REPLY_ERROR) job->errors++;
        else job->ops++;
        freeReplyObject(reply);
        if (t1 >= job->bounds.deadline_ns) break;
    }
    return NULL;
}

static redisContext *hiredis_connect(char *err, size_t errcap);
static redisContext *hiredis_connect_to(const char *host, int port, char *err, size_t errcap);

/* Connects a job's hiredis context(s): one to the server, or one per primary. */
static bool sync_job_connect(sync_job *j, char *err, size_t errcap)
{
    if (!G->cluster) {
        j->ctx = hiredis_connect(err, errcap);
        return j->ctx != NULL;
    }
    j->ctxs = calloc((size_t)g_map.nnodes, sizeof *j->ctxs);
    if (!j->ctxs) {
        snprintf(err, errcap, "out of memory");
        return false;
    }
    for (int n = 0; n < g_map.nnodes; n++) {
        j->ctxs[n] = hiredis_connect_to(g_map.node[n].host, g_map.node[n].port, err, errcap);
        if (!j->ctxs[n]) return false;
    }
    return true;
}

static void sync_job_disconnect(sync_job *j)
{
    if (j->ctx) redisFree(j->ctx);
    j->ctx = NULL;
    if (j->ctxs) {
        for (int n = 0; n < g_map.nnodes; n++)
            if (j->ctxs[n]) redisFree(j->ctxs[n]);
        free(j->ctxs);
    }
    j->ctxs = NULL;
}

/* Runs `threads` sync workers (rcm when client != NULL, else hiredis: one context per
 * thread, or in cluster mode one per thread and primary, routed by slot). */
static void run_sync(result *res, const char *name, rcm_client *client, int threads)
{
    snprintf(res->name, sizeof res->name, "%s", name);
    sync_job *jobs = calloc((size_t)threads, sizeof *jobs);
    pthread_t *tids = calloc((size_t)threads, sizeof *tids);
    pthread_barrier_t start;
    if (!jobs || !tids) {
        snprintf(res->note, sizeof res->note, "out of memory");
        free(jobs);
        free(tids);
        return;
    }
    pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
    int made = 0;
    for (int t = 0; t < threads; t++) {
        sync_job *j = &jobs[t];
        j->client = client;
        j->seed = 0x9E3779B97F4A7C15ull * (uint64_t)(t + 1);
        j->start = &start;
        if (!client && !sync_job_connect(j, res->note, sizeof res->note)) {
            sync_job_disconnect(j);
            break;
        }
        made++;
    }
    if (made < threads) {
        for (int t = 0; t < made; t++) sync_job_disconnect(&jobs[t]);
        pthread_barrier_destroy(&start);
        free(jobs);
        free(tids);
        return;
    }
    void *(*worker)(void *) = client ? sync_rcm_worker
                              : G->cluster ? sync_routed_worker : sync_hiredis_worker;
    for (int t = 0; t < threads; t++) {
        pthread_create(&tids[t], NULL, worker, &jobs[t]);
        /* named so that a profile (perf --comm, top -H) tells rcm's callers from the
         * baseline's threads */
        pthread_setname_np(tids[t], client ? "bench-rcm" : "bench-raw");
    }
    meter m;
    meter_start(&m);
    run_bounds b = bounds_now();
    for (int t = 0; t < threads; t++) {
        jobs[t].bounds = b;
        jobs[t].quota = b.max_ops == INT64_MAX ? INT64_MAX : (b.max_ops + threads - 1) / threads;
    }
    pthread_barrier_wait(&start); /* bounds are published by the barrier */
    long long ops = 0, errors = 0;
    hist *h = calloc(1, sizeof *h);
    for (int t = 0; t < threads; t++) {
        pthread_join(tids[t], NULL);
        ops += jobs[t].ops;
        errors += jobs[t].errors;
        if (h) hist_merge(h, &jobs[t].h);
    }
    meter_stop(&m, res, ops, errors);
    if (h) result_latency(res, h, "op");
    free(h);
    for (int t = 0; t < threads; t++) sync_job_disconnect(&jobs[t]);
    pthread_barrier_destroy(&start);
    free(jobs);
    free(tids);
}

/* ---------------------------------------------------------------------------------
 * Pipelines of `depth`: rcm_pipeline_exec, or redisAppendCommandArgv + redisGetReply.
 * Latency is per batch, from the first append to the last reply.
 * ------------------------------------------------------------------------------ */

static void run_pipeline_rcm(result *res, rcm_client *client)
{
    snprintf(res->name, sizeof res->name, "rcm pipeline %d", G->depth);
    rcm_pipeline *pipe = NULL;
    rcm_status st = rcm_pipeline_new(client, &pipe);
    if (st != RCM_OK) {
        snprintf(res->note, sizeof res->note, "%s: %s", rcm_status_name(st), rcm_last_error());
        return;
    }
    hist *h = calloc(1, sizeof *h);
    if (!h) { rcm_pipeline_free(pipe); return; }
    rng r = {0x1234567ull};
    const char *argv[3];
    size_t lens[3];
    long long ops = 0, errors = 0;
    uint64_t i = 0;
    meter m;
    meter_start(&m);
    run_bounds b = bounds_now();
    while (ops + errors < b.max_ops) {
        uint64_t t0 = cli_now_ns();
        for (int k = 0; k < G->depth; k++, i++) {
            int argc = make_op(&r, i, argv, lens);
            if (rcm_pipeline_append(pipe, argc, argv, lens) != RCM_OK) errors++;
        }
        rcm_reply **replies = NULL;
        size_t n = 0;
        st = rcm_pipeline_exec(pipe, &replies, &n);
        uint64_t t1 = cli_now_ns();
        hist_add(h, t1 - t0);
        if (st != RCM_OK) {
            errors += G->depth;
            snprintf(res->note, sizeof res->note, "exec: %s: %s", rcm_status_name(st), rcm_last_error());
        } else {
            for (size_t k = 0; k < n; k++) {
                if (rcm_reply_type(replies[k]) == RCM_REPLY_ERROR) errors++;
                else ops++;
                rcm_reply_free(replies[k]);
            }
            rcm_free(replies);
        }
        if (t1 >= b.deadline_ns) break;
    }
    meter_stop(&m, res, ops, errors);
    result_latency(res, h, "batch");
    free(h);
    rcm_pipeline_free(pipe);
}

/* Reads `count` pipelined replies from c into ops/errors; false when the context died
 * (the unread ones count as errors, the note says why). */
static bool read_pipelined(redisContext *c, int count, long long *ops, long long *errors, result *res)
{
    for (int k = 0; k < count; k++) {
        redisReply *reply = NULL;
        if (redisGetReply(c, (void **)&reply) != REDIS_OK || reply == NULL) {
            *errors += count - k;
            snprintf(res->note, sizeof res->note, "hiredis: %s", c->errstr);
            return false;
        }
        if (reply->type == REDIS_REPLY_ERROR) (*errors)++;
        else (*ops)++;
        freeReplyObject(reply);
    }
    return true;
}

/* The raw cluster pipeline: one context per primary; each command is appended to its
 * slot owner's context, every context's buffer is written, then the replies are read
 * context by context (what a hand-written routed pipeline does). */
static void run_pipeline_routed(result *res)
{
    const int nn = g_map.nnodes;
    snprintf(res->name, sizeof res->name, "hiredis routed pipeline %d, %d ctx", G->depth, nn);
    sync_job j;
    memset(&j, 0, sizeof j);
    if (!sync_job_connect(&j, res->note, sizeof res->note)) {
        sync_job_disconnect(&j);
        return;
    }
    hist *h = calloc(1, sizeof *h);
    int *count = calloc((size_t)nn, sizeof *count);
    if (!h || !count) {
        free(h);
        free(count);
        sync_job_disconnect(&j);
        return;
    }
    rng r = {0x1234567ull};
    const char *argv[3];
    size_t lens[3];
    long long ops = 0, errors = 0;
    uint64_t i = 0;
    bool dead = false;
    meter m;
    meter_start(&m);
    run_bounds b = bounds_now();
    while (!dead && ops + errors < b.max_ops) {
        uint64_t t0 = cli_now_ns();
        memset(count, 0, (size_t)nn * sizeof *count);
        for (int k = 0; k < G->depth; k++, i++) {
            int argc = make_op(&r, i, argv, lens);
            unsigned owner = g_map.owner[slot_of_key(argv[1], lens[1])];
            if (owner >= (unsigned)nn) {
                errors++;
                continue;
            }
            redisAppendCommandArgv(j.ctxs[owner], argc, argv, lens);
            count[owner]++;
        }
        for (int n = 0; n < nn && !dead; n++) {
            int done = count[n] == 0;
            while (!done) {
                if (redisBufferWrite(j.ctxs[n], &done) != REDIS_OK) {
                    dead = true;
                    break;
                }
            }
        }
        for (int n = 0; n < nn && !dead; n++)
            dead = !read_pipelined(j.ctxs[n], count[n], &ops, &errors, res);
        uint64_t t1 = cli_now_ns();
        hist_add(h, t1 - t0);
        if (t1 >= b.deadline_ns) break;
    }
    meter_stop(&m, res, ops, errors);
    result_latency(res, h, "batch");
    free(h);
    free(count);
    sync_job_disconnect(&j);
}

static void run_pipeline_hiredis(result *res)
{
    snprintf(res->name, sizeof res->name, "hiredis pipeline %d", G->depth);
    redisContext *c = hiredis_connect(res->note, sizeof res->note);
    if (!c) return;
    hist *h = calloc(1, sizeof *h);
    if (!h) { redisFree(c); return; }
    rng r = {0x1234567ull};
    const char *argv[3];
    size_t lens[3];
    long long ops = 0, errors = 0;
    uint64_t i = 0;
    bool dead = false;
    meter m;
    meter_start(&m);
    run_bounds b = bounds_now();
    while (!dead && ops + errors < b.max_ops) {
        uint64_t t0 = cli_now_ns();
        for (int k = 0; k < G->depth; k++, i++) {
            int argc = make_op(&r, i, argv, lens);
            redisAppendCommandArgv(c, argc, argv, lens);
        }
        dead = !read_pipelined(c, G->depth, &ops, &errors, res);
        uint64_t t1 = cli_now_ns();
        hist_add(h, t1 - t0);
        if (t1 >= b.deadline_ns) break;
    }
    meter_stop(&m, res, ops, errors);
    result_latency(res, h, "batch");
    free(h);
    redisFree(c);
}

/* ---------------------------------------------------------------------------------
 * Async with `depth` in flight.
 *
 * Two drivers. "submitter": this thread keeps up to depth requests outstanding with an
 * atomic counter; when the window is full it sleeps on a condition variable, and the
 * callback that brings the count down to the low-water mark (depth - depth/4) wakes it
 * — one lock and wake-up per depth/4 completions, not per op. "callback": depth
 * requests are started and each callback issues the next one (closed loop, no
 * cross-thread hand-off on our side at all).
 *
 * The submit time travels as the userdata; callbacks record latency into a histogram
 * of their own thread (registered once per thread and run), so no lock is taken per op.
 * ------------------------------------------------------------------------------ */

#define MAX_CB_THREADS 64

static struct async_state {
    rcm_client *client;
    _Atomic long inflight;
    _Atomic long low;          /* wake the submitter when inflight drops to this */
    _Atomic int waiting;       /* the submitter is (about to be) asleep */
    _Atomic long long issued;  /* callback driver: ops started */
    _Atomic long long errors;  /* completions with a failure or an error reply */
    _Atomic long long refused; /* rcm_command_async calls that returned a failure */
    _Atomic int generation;    /* bumps every run: thread histograms re-register */
    _Atomic int last_status;
    run_bounds bounds;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    hist *cb_hist[MAX_CB_THREADS]; /* guarded by mu */
    int ncb_hist;
    _Atomic int hist_overflow;
} A = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static _Thread_local hist *tl_hist;
static _Thread_local int tl_hist_gen = -1;
static _Thread_local rng tl_rng;
static _Thread_local uint64_t tl_op;

static hist *callback_hist(void)
{
    int gen = atomic_load_explicit(&A.generation, memory_order_relaxed);
    if (tl_hist_gen == gen) return tl_hist;
    hist *h = calloc(1, sizeof *h);
    pthread_mutex_lock(&A.mu);
    if (h && A.ncb_hist < MAX_CB_THREADS) {
        A.cb_hist[A.ncb_hist++] = h;
    } else {
        free(h);
        h = NULL;
        atomic_store(&A.hist_overflow, 1);
    }
    pthread_mutex_unlock(&A.mu);
    tl_hist = h;
    tl_hist_gen = gen;
    tl_rng.s = 0xA5A5A5A5DEADBEEFull ^ (uint64_t)(uintptr_t)&tl_rng;
    return h;
}

static void async_done(rcm_status st, rcm_reply *reply, uint64_t submitted)
{
    hist *h = callback_hist();
    if (h) hist_add(h, cli_now_ns() - submitted);
    if (st != RCM_OK || rcm_reply_type(reply) == RCM_REPLY_ERROR) {
        atomic_fetch_add_explicit(&A.errors, 1, memory_order_relaxed);
        if (st != RCM_OK) atomic_store_explicit(&A.last_status, st, memory_order_relaxed);
    }
    rcm_reply_free(reply);
}

static void release_one(void)
{
    long left = atomic_fetch_sub(&A.inflight, 1) - 1;
    if (left <= atomic_load_explicit(&A.low, memory_order_relaxed) && atomic_load(&A.waiting) &&
        atomic_exchange(&A.waiting, 0)) {
        pthread_mutex_lock(&A.mu);
        pthread_cond_signal(&A.cv);
        pthread_mutex_unlock(&A.mu);
    }
}

/* Sleeps until inflight <= low. Only the submitting thread calls this. */
static void wait_inflight_at_most(long low)
{
    atomic_store(&A.low, low);
    if (atomic_load(&A.inflight) <= low) return;
    pthread_mutex_lock(&A.mu);
    atomic_store(&A.waiting, 1);
    while (atomic_load(&A.inflight) > low && atomic_load(&A.waiting))
        pthread_cond_wait(&A.cv, &A.mu);
    atomic_store(&A.waiting, 0);
    pthread_mutex_unlock(&A.mu);
}

static void submitter_cb(rcm_status st, rcm_reply *reply, void *userdata)
{
    async_done(st, reply, (uint64_t)(uintptr_t)userdata);
    release_one();
}

static void closed_loop_cb(rcm_status st, rcm_reply *reply, void *userdata);

/* Issues the next op of the closed loop, or lets this slot end. */
static void closed_loop_next(void)
{
    for (;;) {
        uint64_t now = cli_now_ns();
        if (now >= A.bounds.deadline_ns ||
            atomic_fetch_add_explicit(&A.issued, 1, memory_order_relaxed) >= A.bounds.max_ops) {
            release_one();
            return;
        }
        const char *argv[3];
        size_t lens[3];
        int argc = make_op(&tl_rng, tl_op++, argv, lens);
        rcm_status st = rcm_command_async(A.client, argc, argv, lens, closed_loop_cb,
                                          (void *)(uintptr_t)now);
        if (st == RCM_OK) return;
        atomic_fetch_add(&A.refused, 1);
        atomic_store(&A.last_status, st);
        if (st == RCM_ERR_CLOSED || st == RCM_ERR_ARG) {
            release_one();
            return;
        }
    }
}

static void closed_loop_cb(rcm_status st, rcm_reply *reply, void *userdata)
{
    async_done(st, reply, (uint64_t)(uintptr_t)userdata); /* also seeds tl_rng */
    closed_loop_next();
}

static void async_reset(rcm_client *client)
{
    A.client = client;
    atomic_store(&A.inflight, 0);
    atomic_store(&A.low, 0);
    atomic_store(&A.waiting, 0);
    atomic_store(&A.issued, 0);
    atomic_store(&A.errors, 0);
    atomic_store(&A.refused, 0);
    atomic_store(&A.last_status, RCM_OK);
    atomic_store(&A.hist_overflow, 0);
    pthread_mutex_lock(&A.mu);
    for (int i = 0; i < A.ncb_hist; i++) free(A.cb_hist[i]);
    A.ncb_hist = 0;
    pthread_mutex_unlock(&A.mu);
    atomic_fetch_add(&A.generation, 1);
}

/* completed: requests whose callback ran (errors among them counted by the callbacks). */
static void async_collect(result *res, meter *m, long long completed)
{
    long long errors = atomic_load(&A.errors);
    long long refused = atomic_load(&A.refused);
    meter_stop(m, res, completed - errors, errors + refused);
    hist *h = calloc(1, sizeof *h);
    if (h) {
        pthread_mutex_lock(&A.mu);
        for (int i = 0; i < A.ncb_hist; i++) hist_merge(h, A.cb_hist[i]);
        pthread_mutex_unlock(&A.mu);
        result_latency(res, h, "op");
        free(h);
    }
    rcm_status last = atomic_load(&A.last_status);
    if (last != RCM_OK)
        snprintf(res->note, sizeof res->note, "last failure %s", rcm_status_name(last));
}

static void run_async_submitter(result *res, rcm_client *client)
{
    snprintf(res->name, sizeof res->name, "rcm async %d in flight", G->depth);
    async_reset(client);
    const long depth = G->depth;
    const long low = depth - (depth / 4 > 0 ? depth / 4 : 1);
    rng r = {0xC0FFEEull};
    const char *argv[3];
    size_t lens[3];
    long long submitted = 0, refused = 0;
    uint64_t i = 0;
    meter m;
    meter_start(&m);
    run_bounds b = bounds_now();
    A.bounds = b;
    while (submitted < b.max_ops && cli_now_ns() < b.deadline_ns) {
        long room = depth - atomic_load(&A.inflight);
        if (room <= 0) {
            wait_inflight_at_most(low);
            continue;
        }
        if (room > b.max_ops - submitted) room = (long)(b.max_ops - submitted);
        atomic_fetch_add(&A.inflight, room);
        for (long k = 0; k < room; k++, i++) {
            int argc = make_op(&r, i, argv, lens);
            rcm_status st = rcm_command_async(client, argc, argv, lens, submitter_cb,
                                              (void *)(uintptr_t)cli_now_ns());
            if (st != RCM_OK) {
                refused++;
                atomic_store(&A.last_status, st);
                release_one();
            }
        }
        submitted += room;
    }
    wait_inflight_at_most(0);
    atomic_store(&A.refused, refused);
    async_collect(res, &m, submitted - refused);
}

static void run_async_callback(result *res, rcm_client *client)
{
    snprintf(res->name, sizeof res->name, "rcm async %d, callback resubmits", G->depth);
    async_reset(client);
    meter m;
    meter_start(&m);
    A.bounds = bounds_now();
    atomic_store(&A.inflight, G->depth);
    /* Seed the loop from this thread; callbacks keep it going on the I/O thread(s). */
    for (int k = 0; k < G->depth; k++) {
        rng seed = {0xBADC0DEull + (uint64_t)k};
        uint64_t now = cli_now_ns();
        if (atomic_fetch_add(&A.issued, 1) >= A.bounds.max_ops) {
            release_one();
            continue;
        }
        const char *argv[3];
        size_t lens[3];
        int argc = make_op(&seed, (uint64_t)k, argv, lens);
        rcm_status st = rcm_command_async(client, argc, argv, lens, closed_loop_cb,
                                          (void *)(uintptr_t)now);
        if (st != RCM_OK) {
            atomic_fetch_add(&A.refused, 1);
            atomic_store(&A.last_status, st);
            release_one();
        }
    }
    wait_inflight_at_most(0);
    /* Every completion was recorded once in its thread's histogram. */
    long long completed = 0;
    pthread_mutex_lock(&A.mu);
    for (int i = 0; i < A.ncb_hist; i++) completed += (long long)A.cb_hist[i]->count;
    pthread_mutex_unlock(&A.mu);
    if (atomic_load(&A.hist_overflow))
        snprintf(res->note, sizeof res->note, "more than %d callback threads: counts partial",
                 MAX_CB_THREADS);
    async_collect(res, &m, completed);
}

/* ---------------------------------------------------------------------------------
 * hiredis helpers and the keyspace fill.
 * ------------------------------------------------------------------------------ */

static redisContext *hiredis_connect_to(const char *host, int port, char *err, size_t errcap)
{
    return cli_target_connect(&G->srv, host, port, err, errcap);
}

/* A context to the server the URL names (its first seed). */
static redisContext *hiredis_connect(char *err, size_t errcap)
{
    return hiredis_connect_to(G->srv.host, G->srv.port, err, errcap);
}

/* SET of every key of the keyspace, pipelined in batches, each key on the server that
 * owns it (g_side[i] is the primary g_map.node[i] in cluster mode). */
static bool fill_keyspace(char *err, size_t errcap)
{
    const int batch = 1000;
    int *sent = calloc((size_t)g_nside, sizeof *sent);
    if (!sent) {
        snprintf(err, errcap, "out of memory");
        return false;
    }
    bool ok = true;
    for (int k = 0; ok && k < W.keyspace; k += batch) {
        int n = W.keyspace - k < batch ? W.keyspace - k : batch;
        memset(sent, 0, (size_t)g_nside * sizeof *sent);
        for (int j = 0; j < n; j++) {
            const char *key = W.keys + (size_t)(k + j) * KEY_LEN;
            int to = 0;
            if (G->cluster) {
                unsigned owner = g_map.owner[slot_of_key(key, KEY_LEN)];
                if (owner >= (unsigned)g_nside) continue; /* uncovered slot */
                to = (int)owner;
            }
            const char *argv[3] = {"SET", key, W.value};
            size_t lens[3] = {3, KEY_LEN, W.value_len};
            redisAppendCommandArgv(g_side[to], 3, argv, lens);
            sent[to]++;
        }
        for (int to = 0; ok && to < g_nside; to++) {
            for (int j = 0; j < sent[to]; j++) {
                redisReply *r = NULL;
                if (redisGetReply(g_side[to], (void **)&r) != REDIS_OK) {
                    snprintf(err, errcap, "fill: %s", g_side[to]->errstr);
                    ok = false;
                    break;
                }
                if (r->type == REDIS_REPLY_ERROR) {
                    snprintf(err, errcap, "fill: %.200s", r->str);
                    ok = false;
                }
                freeReplyObject(r);
                if (!ok) break;
            }
        }
    }
    free(sent);
    return ok;
}

/* ---------------------------------------------------------------------------------
 * valkey-benchmark as a child process.
 * ------------------------------------------------------------------------------ */

static bool find_in_path(const char *name, char *out, size_t cap)
{
    const char *path = getenv("PATH");
    if (!path) path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        size_t len = strcspn(path, ":");
        if (len > 0 && (size_t)snprintf(out, cap, "%.*s/%s", (int)len, path, name) < cap &&
            access(out, X_OK) == 0)
            return true;
        path += len;
        if (*path == ':') path++;
    }
    return false;
}

static char g_vb_path[512];

/* Parses one CSV line "\"SET\",\"123.45\",avg,min,p50,p95,p99,max". */
static bool parse_vb_line(const char *line, const char *test, double *rps, double *p50_ms,
                          double *p99_ms)
{
    char prefix[16];
    snprintf(prefix, sizeof prefix, "\"%s\",", test);
    if (strncmp(line, prefix, strlen(prefix)) != 0) return false;
    double f[8];
    int n = 0;
    const char *p = line;
    while (n < 8 && (p = strchr(p, ',')) != NULL) {
        p++;
        if (*p == '"') p++;
        f[n++] = atof(p);
    }
    if (n < 6) return false;
    *rps = f[0];
    *p50_ms = f[3];
    *p99_ms = f[5];
    return true;
}

static void run_valkey_benchmark(result *res, int pipeline, int clients, double est_ops_s)
{
    const char *tool = strrchr(g_vb_path, '/') ? strrchr(g_vb_path, '/') + 1 : g_vb_path;
    snprintf(res->name, sizeof res->name, "%.16s%s -P %d -c %d", tool,
             G->cluster ? " --cluster" : "", pipeline, clients);
    /* -n is per test (SET, then GET): size it so both together take about one round. */
    long long n;
    if (G->requests > 0) n = G->requests / 2 / G->rounds;
    else n = (long long)(est_ops_s * G->duration_s / G->rounds / 2);
    long long unit = (long long)pipeline * clients;
    if (n < unit * 20) n = unit * 20;
    n = (n + unit - 1) / unit * unit;

    char nbuf[32], dbuf[16], rbuf[16], pbuf[16], cbuf[16], portbuf[16], dbnum[16];
    snprintf(nbuf, sizeof nbuf, "%lld", n);
    snprintf(dbuf, sizeof dbuf, "%d", G->value_size);
    snprintf(rbuf, sizeof rbuf, "%d", G->keyspace);
    snprintf(pbuf, sizeof pbuf, "%d", pipeline);
    snprintf(cbuf, sizeof cbuf, "%d", clients);
    snprintf(portbuf, sizeof portbuf, "%d", G->srv.port);
    snprintf(dbnum, sizeof dbnum, "%d", G->srv.db);
    const char *argv[40];
    int a = 0;
    argv[a++] = g_vb_path;
    argv[a++] = "-h"; argv[a++] = G->srv.host;
    argv[a++] = "-p"; argv[a++] = portbuf;
    if (G->srv.password[0]) { argv[a++] = "-a"; argv[a++] = G->srv.password; }
    if (G->srv.username[0]) { argv[a++] = "--user"; argv[a++] = G->srv.username; }
    if (G->srv.db) { argv[a++] = "--dbnum"; argv[a++] = dbnum; }
    if (G->cluster) argv[a++] = "--cluster";
    argv[a++] = "-t"; argv[a++] = "set,get";
    argv[a++] = "-n"; argv[a++] = nbuf;
    argv[a++] = "-d"; argv[a++] = dbuf;
    argv[a++] = "-r"; argv[a++] = rbuf;
    argv[a++] = "-P"; argv[a++] = pbuf;
    argv[a++] = "-c"; argv[a++] = cbuf;
    argv[a++] = "--csv";
    argv[a] = NULL;

    int out[2];
    if (pipe(out) != 0) {
        snprintf(res->note, sizeof res->note, "pipe: %s", strerror(errno));
        return;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, out[1], 2); /* -a prints a warning there */
    posix_spawn_file_actions_addclose(&fa, out[0]);
    posix_spawn_file_actions_addclose(&fa, out[1]);
    pid_t pid;
    double srv0 = server_cpu_s();
    int err = posix_spawn(&pid, g_vb_path, &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    if (err != 0) {
        close(out[0]);
        snprintf(res->note, sizeof res->note, "spawn %.80s: %.60s", g_vb_path, strerror(err));
        return;
    }
    char buf[8192];
    size_t used = 0;
    ssize_t got;
    while ((got = read(out[0], buf + used, sizeof buf - 1 - used)) > 0 || (got < 0 && errno == EINTR))
        if (got > 0) used += (size_t)got;
    buf[used] = '\0';
    close(out[0]);
    int status = 0;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {}
    double srv1 = server_cpu_s();

    double rps[2] = {0, 0}, p50[2] = {0, 0}, p99[2] = {0, 0};
    bool found[2] = {false, false};
    for (char *line = strtok(buf, "\r\n"); line; line = strtok(NULL, "\r\n")) {
        if (parse_vb_line(line, "SET", &rps[0], &p50[0], &p99[0])) found[0] = true;
        if (parse_vb_line(line, "GET", &rps[1], &p50[1], &p99[1])) found[1] = true;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !found[0] || !found[1] ||
        rps[0] <= 0 || rps[1] <= 0) {
        snprintf(res->note, sizeof res->note, "%.64s failed (status %d)", tool, status);
        return;
    }
    long long ops = 2 * n;
    /* Both tests ran n requests; the mix's rate is total work over total time (as
     * valkey-benchmark measured it, without its start-up). */
    res->ops += ops;
    res->secs += (double)n / rps[0] + (double)n / rps[1];
    res->cli_cpu_s += rusage_s(&ru);
    if (srv0 >= 0 && srv1 >= 0) res->srv_cpu_s += srv1 - srv0;
    else res->srv_unknown = true;
    res->ext_p50_ms_x_ops += (p50[0] + p50[1]) / 2 * (double)ops;
    if (p99[0] > res->ext_p99_ms) res->ext_p99_ms = p99[0];
    if (p99[1] > res->ext_p99_ms) res->ext_p99_ms = p99[1];
    res->lat_unit = "op*";
    res->rounds++;
}

/* ---------------------------------------------------------------------------------
 * The report.
 * ------------------------------------------------------------------------------ */

typedef struct verdict {
    const result *subject;
    const result *baseline;
    double target; /* 0: informational */
} verdict;

static void print_row(const result *r, const verdict *v)
{
    if (!r->valid) {
        printf("  %-36s  (not measured%s%s)\n", r->name, r->note[0] ? ": " : "", r->note);
        return;
    }
    char srv[16];
    if (r->srv_cpu_us >= 0) snprintf(srv, sizeof srv, "%.2f", r->srv_cpu_us);
    else snprintf(srv, sizeof srv, "?");
    printf("  %-36s %10.0f %9.1f %9.1f %-6s %8.2f %8s", r->name, r->ops_s, r->p50_us,
           r->p99_us, r->lat_unit, r->cli_cpu_us, srv);
    if (v && v->baseline && v->baseline->valid) {
        double ratio = r->ops_s / v->baseline->ops_s;
        printf("  %5.2fx vs %s", ratio, v->baseline->name);
        if (v->target > 0)
            printf("  (target >= %.2fx: %s)", v->target, ratio >= v->target ? "ok" : "MISS");
    } else if (v && v->baseline) {
        printf("  (baseline %s not measured)", v->baseline->name);
    }
    if (r->errors > 0) printf("  [%lld errors%s%s]", r->errors, r->note[0] ? ", " : "", r->note);
    putchar('\n');
}

static void print_ratio_line(const result *a, const result *b, double target)
{
    if (!a->valid || !b->valid) return;
    double ratio = a->ops_s / b->ops_s;
    printf("  %-36s / %-32s %6.2fx", a->name, b->name, ratio);
    if (target > 0) printf("   target >= %.2fx  %s", target, ratio >= target ? "ok" : "MISS");
    putchar('\n');
}

static void print_header(void)
{
    printf("  %-36s %10s %9s %9s %-6s %8s %8s  %s\n", "workload", "ops/s", "p50 us", "p99 us",
           "lat/", "cli CPU", "srv CPU", "ratio to baseline");
    printf("  %-36s %10s %9s %9s %-6s %8s %8s\n", "", "", "", "", "", "us/op", "us/op");
}

static void print_notes(void)
{
    printf("\nlatency: per op (call to reply; async: submit to callback), per batch for "
           "pipelines (first append to last reply);\n"
           "  op* = valkey-benchmark's own per-request figure (p50: mean of SET and GET, p99: "
           "the larger; with -P from batch send).\n"
           "cli CPU: getrusage(RUSAGE_SELF) delta (all threads incl. rcm's I/O threads) per op; "
           "valkey-benchmark: wait4() rusage of the child.\n"
           "srv CPU: the server's INFO used_cpu_user+sys delta per op%s.\n",
           G->cluster ? " (all primaries together)" : "");
    if (sysconf(_SC_NPROCESSORS_ONLN) <= 2)
        printf("note: %ld CPUs: client threads and the server share them; figures are bounded "
               "by that contention.\n", sysconf(_SC_NPROCESSORS_ONLN));

}

static void print_server_info(void)
{
    if (g_nside == 0) return;
    redisReply *r = redisCommand(g_side[0], "INFO server");
    if (r && r->type == REDIS_REPLY_STRING) {
        const char *v = strstr(r->str, "valkey_version:");
        const char *name = "valkey";
        if (!v) { v = strstr(r->str, "redis_version:"); name = "redis"; }
        if (v) {
            v = strchr(v, ':') + 1;
            printf("server: %s %.*s at %s:%d", name, (int)strcspn(v, "\r\n"), v, G->srv.host, G->srv.port);
            if (G->cluster)
                printf(" (cluster: %d primaries, %d/%d slots covered)", g_map.nnodes,
                       g_map.covered, SLOTMAP_SLOTS);
        }
    }
    if (r) freeReplyObject(r);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    printf("; client machine: %ld CPUs online", ncpu);
    double load[1];
    if (getloadavg(load, 1) == 1) {
        printf(", load average %.2f before the run", load[0]);
        if (load[0] > 0.5 * (double)ncpu) printf(" (busy: other work competes; expect noise)");
    }
    putchar('\n');
}

/* What handing work from one thread to another costs on this machine: two threads
 * ping-pong through a futex (each round trip wakes each thread once). A sync call
 * through rcm makes one such round trip (caller -> I/O thread -> caller) besides its
 * network round trip; on a VM whose idle vCPUs halt this is far from free. */
static _Atomic int g_turn;
static const int kHandoffs = 20000;

static void turn_wait(int v)
{
    while (atomic_load(&g_turn) == v) syscall(SYS_futex, &g_turn, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0);
}

static void turn_set(int v)
{
    atomic_store(&g_turn, v);
    syscall(SYS_futex, &g_turn, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void *handoff_partner(void *arg)
{
    (void)arg;
    for (int i = 0; i < kHandoffs; i++) {
        turn_wait(0);
        turn_set(0);
    }
    return NULL;
}

static void print_handoff_cost(void)
{
    pthread_t t;
    atomic_store(&g_turn, 0);
    if (pthread_create(&t, NULL, handoff_partner, NULL) != 0) return;
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    uint64_t t0 = cli_now_ns();
    for (int i = 0; i < kHandoffs; i++) {
        turn_set(1);
        turn_wait(1);
    }
    uint64_t t1 = cli_now_ns();
    getrusage(RUSAGE_SELF, &r1);
    pthread_join(t, NULL);
    printf("machine: a thread hand-off round trip (futex ping-pong, %d times) takes %.1f us wall, "
           "%.1f us CPU\n", kHandoffs, (double)(t1 - t0) / 1e3 / kHandoffs,
           (rusage_s(&r1) - rusage_s(&r0)) * 1e6 / kHandoffs);
}

/* ---------------------------------------------------------------------------------
 * rcm bench
 * ------------------------------------------------------------------------------ */

static int parse_bench_args(bench_cfg *cfg, int argc, char **argv)
{
    bool duration_given = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long long n;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(BENCH_USAGE, stdout);
            return -1;
        } else if (strcmp(a, "--cluster") == 0) {
            cfg->cluster = true;
            continue;
        } else if (strcmp(a, "--no-external") == 0) {
            cfg->external = false;
            continue;
        } else if (v == NULL) {
            return cli_usage_error("bench: %s needs a value (or is unknown)", a);
        } else if (strcmp(a, "--threads") == 0) {
            if (!cli_parse_long(v, 1, 256, &n)) return cli_usage_error("bench: --threads must be 1..256");
            cfg->threads = (int)n;
        } else if (strcmp(a, "--depth") == 0) {
            if (!cli_parse_long(v, 1, 4096, &n)) return cli_usage_error("bench: --depth must be 1..4096");
            cfg->depth = (int)n;
        } else if (strcmp(a, "--requests") == 0) {
            if (!cli_parse_long(v, 1, 1000000000000LL, &n))
                return cli_usage_error("bench: --requests must be a positive integer");
            cfg->requests = n;
        } else if (strcmp(a, "--value-size") == 0) {
            if (!cli_parse_long(v, 1, 64 * 1024 * 1024, &n))
                return cli_usage_error("bench: --value-size must be 1..67108864");
            cfg->value_size = (int)n;
        } else if (strcmp(a, "--keyspace") == 0) {
            if (!cli_parse_long(v, 1, 100000000, &n)) return cli_usage_error("bench: --keyspace must be 1..100000000");
            cfg->keyspace = (int)n;
            cfg->keyspace_given = true;
        } else if (strcmp(a, "--only") == 0) {
            cfg->groups = 0;
            cfg->groups_given = true;
            char *list = strdup(v), *save = NULL;
            if (!list) return CLI_EXIT_FAIL;
            for (char *g = strtok_r(list, ",", &save); g; g = strtok_r(NULL, ",", &save)) {
                if (strcmp(g, "sync1") == 0) cfg->groups |= GROUP_SYNC1;
                else if (strcmp(g, "syncn") == 0) cfg->groups |= GROUP_SYNCN;
                else if (strcmp(g, "inflight") == 0) cfg->groups |= GROUP_INFLIGHT;
                else {
                    free(list);
                    return cli_usage_error("bench: --only takes sync1,syncn,inflight");
                }
            }
            free(list);
        } else if (strcmp(a, "--rounds") == 0) {
            if (!cli_parse_long(v, 1, 100, &n)) return cli_usage_error("bench: --rounds must be 1..100");
            cfg->rounds = (int)n;
        } else if (strcmp(a, "--duration-s") == 0) {
            char *end;
            double d = strtod(v, &end);
            if (*end != '\0' || !(d > 0 && d <= 3600))
                return cli_usage_error("bench: --duration-s must be a number of seconds in (0, 3600]");
            cfg->duration_s = d;
            duration_given = true;
        } else {
            return cli_usage_error("bench: unknown option '%s'", cli_option_name(a));
        }
        i++;
    }
    if (cfg->requests > 0 && !duration_given) cfg->duration_s = 30;
    return CLI_EXIT_OK;
}

/* The standalone bench: every group against one server, rcm and its baselines
 * interleaved. Returns the exit status. */
static int bench_standalone(rcm_client *client)
{
    enum { H_SYNC1, VB_SYNC1, R_SYNC1, H_SYNCT, VB_SYNCT, R_SYNCT, H_PIPE, VB_PIPE, VB_CONN,
           R_ASYNC, R_ASYNC_CB, R_PIPE, NRES };
    static result res[NRES];
    memset(res, 0, sizeof res);
    char hname[64], rname[64];
    snprintf(hname, sizeof hname, "hiredis sync %d threads x 1 ctx", G->threads);
    snprintf(rname, sizeof rname, "rcm sync %d threads, 1 client", G->threads);

    /* Every workload of a group runs in rounds, and the order rotates from round to
     * round, so that a change of the machine's state (other load; where the scheduler
     * puts the client threads relative to the server, a factor of ~3 for one thread on a
     * small VM) falls on all of them alike. valkey-benchmark gets -n sized from the
     * matching hiredis run so that it also takes about one round. */
    const bool ext = G->external;
    if (G->groups & GROUP_SYNC1) fprintf(stderr, "bench: sync 1 thread...\n");
    for (int r = 0; r < G->rounds && (G->groups & GROUP_SYNC1); r++) {
        for (int k = 0; k < 3; k++) {
            switch ((k + r) % 3) {
            case 0: run_sync(&res[H_SYNC1], "hiredis sync 1 thread", NULL, 1); break;
            case 1: run_sync(&res[R_SYNC1], "rcm sync 1 thread", client, 1); break;
            case 2:
                if (!ext) break;
                result_finish(&res[H_SYNC1]);
                run_valkey_benchmark(&res[VB_SYNC1], 1, 1, res[H_SYNC1].valid ? res[H_SYNC1].ops_s : 20000);
                break;
            }
        }
    }

    if (G->groups & GROUP_SYNCN) fprintf(stderr, "bench: sync %d threads...\n", G->threads);
    for (int r = 0; r < G->rounds && (G->groups & GROUP_SYNCN); r++) {
        for (int k = 0; k < 3; k++) {
            switch ((k + r) % 3) {
            case 0: run_sync(&res[H_SYNCT], hname, NULL, G->threads); break;
            case 1: run_sync(&res[R_SYNCT], rname, client, G->threads); break;
            case 2:
                if (!ext) break;
                result_finish(&res[H_SYNCT]);
                run_valkey_benchmark(&res[VB_SYNCT], 1, G->threads,
                                     res[H_SYNCT].valid ? res[H_SYNCT].ops_s : 50000);
                break;
            }
        }
    }

    if (G->groups & GROUP_INFLIGHT) fprintf(stderr, "bench: %d in flight...\n", G->depth);
    for (int r = 0; r < G->rounds && (G->groups & GROUP_INFLIGHT); r++) {
        for (int k = 0; k < 6; k++) {
            switch ((k + r) % 6) {
            case 0: run_pipeline_hiredis(&res[H_PIPE]); break;
            case 1: run_async_submitter(&res[R_ASYNC], client); break;
            case 2:
                if (!ext) break;
                result_finish(&res[H_PIPE]);
                run_valkey_benchmark(&res[VB_PIPE], G->depth, 1,
                                     res[H_PIPE].valid ? res[H_PIPE].ops_s : 500000);
                break;
            case 3: run_async_callback(&res[R_ASYNC_CB], client); break;
            case 4: run_pipeline_rcm(&res[R_PIPE], client); break;
            case 5:
                if (!ext) break;
                run_valkey_benchmark(&res[VB_CONN], 1, G->depth, 60000);
                break;
            }
        }
    }
    for (int k = 0; k < NRES; k++) result_finish(&res[k]);

    putchar('\n');
    print_header();
    if (G->groups & GROUP_SYNC1) {
        printf(" sync, 1 thread\n");
        print_row(&res[H_SYNC1], NULL);
        if (G->external) print_row(&res[VB_SYNC1], NULL);
        print_row(&res[R_SYNC1], &(verdict){&res[R_SYNC1], &res[H_SYNC1], 0.85});
    }
    if (G->groups & GROUP_SYNCN) {
        printf(" sync, %d threads\n", G->threads);
        print_row(&res[H_SYNCT], NULL);
        if (G->external) print_row(&res[VB_SYNCT], NULL);
        print_row(&res[R_SYNCT], &(verdict){&res[R_SYNCT], &res[H_SYNCT], 1.5});
    }
    if (G->groups & GROUP_INFLIGHT) {
        printf(" %d in flight\n", G->depth);
        print_row(&res[H_PIPE], NULL);
        if (G->external) {
            print_row(&res[VB_PIPE], NULL);
            print_row(&res[VB_CONN], NULL);
        }
        const result *async_base = G->external ? &res[VB_PIPE] : &res[H_PIPE];
        double async_target = G->external ? 0.8 : 0;
        print_row(&res[R_ASYNC], &(verdict){&res[R_ASYNC], async_base, async_target});
        print_row(&res[R_ASYNC_CB], &(verdict){&res[R_ASYNC_CB], async_base, 0});
        print_row(&res[R_PIPE], &(verdict){&res[R_PIPE], &res[H_PIPE], 0});
    }

    printf("\nratios (ops/s):\n");
    print_ratio_line(&res[R_SYNC1], &res[H_SYNC1], 0.85);
    print_ratio_line(&res[R_SYNCT], &res[H_SYNCT], 1.5);
    if (G->external) print_ratio_line(&res[R_ASYNC], &res[VB_PIPE], 0.8);
    print_ratio_line(&res[R_ASYNC], &res[H_PIPE], 0);
    if (G->external) print_ratio_line(&res[R_ASYNC_CB], &res[VB_PIPE], 0);
    print_ratio_line(&res[R_PIPE], &res[H_PIPE], 0);

    print_notes();
    int rc = CLI_EXIT_OK;
    for (int k = 0; k < NRES; k++) {
        bool ran = res[k].rounds > 0 || res[k].valid || res[k].note[0];
        if (ran && (!res[k].valid || res[k].errors > 0)) rc = CLI_EXIT_FAIL;
        free(res[k].h);
    }
    return rc;
}

/* The cluster bench: rcm (cluster mode, one client) against the raw routed hiredis
 * baseline (per thread one context per primary, slot computed here) and valkey-benchmark
 * --cluster, all against the same cluster in one run. Returns the exit status. */
static int bench_cluster(rcm_client *client)
{
    enum { H_SYNC1, R_SYNC1, H_SYNCT, VB_SYNCT, R_SYNCT, VB_PIPE, VB_PIPE_EQ, R_ASYNC,
           R_ASYNC_CB, H_PIPE, R_PIPE, NRES };
    static result res[NRES];
    memset(res, 0, sizeof res);
    const int n = g_map.nnodes;
    const bool ext = G->external;
    char hname1[64], hname[64], rname[64];
    snprintf(hname1, sizeof hname1, "hiredis routed 1 thread x %d ctx", n);
    snprintf(hname, sizeof hname, "hiredis routed %d thr x %d ctx", G->threads, n);
    snprintf(rname, sizeof rname, "rcm sync %d threads, 1 client", G->threads);
    /* valkey-benchmark --cluster binds each client to one primary (client i to primary
     * i mod n): -c n is one pipelined connection per primary. With -P depth that is n x
     * depth in flight; -P depth/n is the same in flight as rcm's async. */
    int eq_depth = G->depth / n > 0 ? G->depth / n : 1;

    if (G->groups & GROUP_SYNC1) fprintf(stderr, "bench: sync 1 thread...\n");
    for (int r = 0; r < G->rounds && (G->groups & GROUP_SYNC1); r++) {
        for (int k = 0; k < 2; k++) {
            switch ((k + r) % 2) {
            case 0: run_sync(&res[H_SYNC1], hname1, NULL, 1); break;
            case 1: run_sync(&res[R_SYNC1], "rcm sync 1 thread", client, 1); break;
            }
        }
    }
    if (G->groups & GROUP_SYNCN) fprintf(stderr, "bench: sync %d threads...\n", G->threads);
    for (int r = 0; r < G->rounds && (G->groups & GROUP_SYNCN); r++) {
        for (int k = 0; k < 3; k++) {
            switch ((k + r) % 3) {
            case 0: run_sync(&res[H_SYNCT], hname, NULL, G->threads); break;
            case 1: run_sync(&res[R_SYNCT], rname, client, G->threads); break;
            case 2:
                if (!ext) break;
                result_finish(&res[H_SYNCT]);
                run_valkey_benchmark(&res[VB_SYNCT], 1, G->threads,
                                     res[H_SYNCT].valid ? res[H_SYNCT].ops_s : 50000);
                break;
            }
        }
    }
    if (G->groups & GROUP_INFLIGHT) fprintf(stderr, "bench: %d in flight...\n", G->depth);
    for (int r = 0; r < G->rounds && (G->groups & GROUP_INFLIGHT); r++) {
        for (int k = 0; k < 6; k++) {
            switch ((k + r) % 6) {
            case 0:
                if (!ext) break;
                run_valkey_benchmark(&res[VB_PIPE], G->depth, n, 500000);
                break;
            case 1: run_async_submitter(&res[R_ASYNC], client); break;
            case 2:
                if (!ext) break;
                run_valkey_benchmark(&res[VB_PIPE_EQ], eq_depth, n, 300000);
                break;
            case 3: run_async_callback(&res[R_ASYNC_CB], client); break;
            case 4: run_pipeline_routed(&res[H_PIPE]); break;
            case 5: run_pipeline_rcm(&res[R_PIPE], client); break;
            }
        }
    }
    for (int k = 0; k < NRES; k++) result_finish(&res[k]);

    putchar('\n');
    print_header();
    if (G->groups & GROUP_SYNC1) {
        printf(" sync, 1 thread\n");
        print_row(&res[H_SYNC1], NULL);
        print_row(&res[R_SYNC1], &(verdict){&res[R_SYNC1], &res[H_SYNC1], 0.85});
    }
    if (G->groups & GROUP_SYNCN) {
        printf(" sync, %d threads\n", G->threads);
        print_row(&res[H_SYNCT], NULL);
        if (ext) print_row(&res[VB_SYNCT], NULL);
        print_row(&res[R_SYNCT], &(verdict){&res[R_SYNCT], &res[H_SYNCT], 1.5});
    }
    if (G->groups & GROUP_INFLIGHT) {
        printf(" %d in flight (valkey-benchmark: -c %d = one connection per primary, %d resp. "
               "%d in flight)\n", G->depth, n, G->depth * n, eq_depth * n);
        if (ext) {
            print_row(&res[VB_PIPE], NULL);
            print_row(&res[VB_PIPE_EQ], NULL);
        }
        print_row(&res[R_ASYNC], &(verdict){&res[R_ASYNC], ext ? &res[VB_PIPE] : NULL, ext ? 0.8 : 0});
        print_row(&res[R_ASYNC_CB], &(verdict){&res[R_ASYNC_CB], ext ? &res[VB_PIPE] : NULL, 0});
        printf(" pipeline %d over %d primaries (one exec at a time)\n", G->depth, n);
        print_row(&res[H_PIPE], NULL);
        print_row(&res[R_PIPE], &(verdict){&res[R_PIPE], &res[H_PIPE], 0});
    }

    printf("\nratios (ops/s):\n");
    print_ratio_line(&res[R_SYNC1], &res[H_SYNC1], 0.85);
    print_ratio_line(&res[R_SYNCT], &res[H_SYNCT], 1.5);
    if (ext) {
        print_ratio_line(&res[R_SYNCT], &res[VB_SYNCT], 0);
        print_ratio_line(&res[R_ASYNC], &res[VB_PIPE], 0.8);
        print_ratio_line(&res[R_ASYNC], &res[VB_PIPE_EQ], 0);
        print_ratio_line(&res[R_ASYNC_CB], &res[VB_PIPE], 0);
    }
    print_ratio_line(&res[R_PIPE], &res[H_PIPE], 0);
    printf("\nhiredis routed: per thread one blocking context per primary; the slot is CRC16 of "
           "the key (hash tags honoured) looked up\n"
           "  in the map read once with CLUSTER SLOTS; no redirects (none happen while the map "
           "holds).\n");
    print_notes();

    int rc = CLI_EXIT_OK;
    for (int k = 0; k < NRES; k++) {
        bool ran = res[k].rounds > 0 || res[k].valid || res[k].note[0];
        if (ran && (!res[k].valid || res[k].errors > 0)) rc = CLI_EXIT_FAIL;
        free(res[k].h);
    }
    return rc;
}

/* Connects the side contexts: the server, or every primary of the cluster (after
 * reading the slot map through the seed). */
static bool connect_servers(char *err, size_t errcap)
{
    redisContext *seed = hiredis_connect(err, errcap);
    if (!seed) return false;
    if (!G->cluster) {
        g_side[0] = seed;
        g_nside = 1;
        return true;
    }
    bool ok = slotmap_fetch(seed, G->srv.host, &g_map, err, errcap);
    redisFree(seed);
    for (int i = 0; ok && i < g_map.nnodes; i++) {
        g_side[i] = hiredis_connect_to(g_map.node[i].host, g_map.node[i].port, err, errcap);
        if (!g_side[i]) ok = false;
        else g_nside++;
    }
    return ok;
}

static void disconnect_servers(void)
{
    for (int i = 0; i < g_nside; i++) redisFree(g_side[i]);
    g_nside = 0;
}

int cli_bench(const cli_opts *opts, int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--workload") == 0) return cli_bench_readmostly(opts, argc, argv);
    static bench_cfg cfg;
    cfg = (bench_cfg){.threads = 8, .depth = 64, .duration_s = 2, .value_size = 16,
                      .keyspace = 10000, .rounds = 3, .groups = GROUP_ALL, .external = true};
    int rc = parse_bench_args(&cfg, argc, argv);
    if (rc != CLI_EXIT_OK) return rc < 0 ? CLI_EXIT_OK : rc;
    if (cfg.rounds > 1 && cfg.duration_s / cfg.rounds < 0.1) cfg.rounds = 1;
    bool cluster_flag = cfg.cluster;
    cli_target_from_opts(opts, &cfg.srv);
    if (strcmp(cfg.srv.mode, "cluster") == 0) cfg.cluster = true;
    if (cluster_flag && cfg.srv.mode[0] && strcmp(cfg.srv.mode, "cluster") != 0 && strcmp(cfg.srv.mode, "auto") != 0)
        return cli_usage_error("bench: --cluster with mode %s", cfg.srv.mode);
    if (!cfg.cluster && cfg.srv.mode[0] && strcmp(cfg.srv.mode, "standalone") != 0 && strcmp(cfg.srv.mode, "auto") != 0)
        return cli_usage_error("bench: a standalone server or a cluster (not mode %s)", cfg.srv.mode);
    if (cfg.srv.tls) return cli_usage_error("bench: the hiredis baselines do not do TLS; bench a plain server");
    if (cfg.cluster && cfg.srv.db != 0) return cli_usage_error("bench: a cluster has only db 0");
    if (cfg.cluster) {
        /* Random keys over (nearly) all 16384 slots; sync 1 thread only when asked. */
        if (!cfg.keyspace_given) cfg.keyspace = 100000;
        if (!cfg.groups_given) cfg.groups = GROUP_SYNCN | GROUP_INFLIGHT;
    }
    G = &cfg;

    /* The workload's data. */
    W.keyspace = cfg.keyspace;
    W.keys = malloc((size_t)cfg.keyspace * KEY_LEN + 1);
    W.value = malloc((size_t)cfg.value_size);
    W.value_len = (size_t)cfg.value_size;
    if (!W.keys || !W.value) {
        fprintf(stderr, "rcm: out of memory\n");
        free(W.keys);
        free(W.value);
        return CLI_EXIT_FAIL;
    }
    for (int k = 0; k < cfg.keyspace; k++) {
        char tmp[KEY_LEN + 1];
        snprintf(tmp, sizeof tmp, "key:%012d", k);
        memcpy(W.keys + (size_t)k * KEY_LEN, tmp, KEY_LEN);
    }
    for (int k = 0; k < cfg.value_size; k++) W.value[k] = (char)('a' + k % 26);

    char err[256] = "";
    rcm_client *client = NULL;
    if (!connect_servers(err, sizeof err)) {
        fprintf(stderr, "rcm: bench: %s\n", err);
        rc = CLI_EXIT_FAIL;
        goto out;
    }
    if (cfg.cluster) {
        /* The client must route: a redis:// URL with --cluster says so explicitly. */
        cli_opts copts = *opts;
        cli_setting *settings = calloc(opts->nsettings + 1, sizeof *settings);
        if (!settings) {
            rc = CLI_EXIT_FAIL;
            goto out;
        }
        memcpy(settings, opts->settings, opts->nsettings * sizeof *settings);
        settings[opts->nsettings] = (cli_setting){"mode", "cluster"};
        copts.settings = settings;
        copts.nsettings = opts->nsettings + 1;
        rc = cli_open(&copts, NULL, NULL, &client);
        free(settings);
    } else {
        rc = cli_open(opts, NULL, NULL, &client);
    }
    if (rc != CLI_EXIT_OK) goto out;
    if (!fill_keyspace(err, sizeof err)) {
        fprintf(stderr, "rcm: bench: %s\n", err);
        rc = CLI_EXIT_FAIL;
        goto out;
    }
    if (cfg.external && !find_in_path("valkey-benchmark", g_vb_path, sizeof g_vb_path) &&
        !find_in_path("redis-benchmark", g_vb_path, sizeof g_vb_path)) {
        fprintf(stderr, "rcm: bench: neither valkey-benchmark nor redis-benchmark on PATH; "
                        "skipping that baseline\n");
        cfg.external = false;
    }

    printf("rcm bench%s: GET/SET 50/50, %d-byte values, %d keys, ", cfg.cluster ? " --cluster" : "",
           cfg.value_size, cfg.keyspace);
    if (cfg.requests > 0) printf("%lld requests (cap %.1f s) per workload", cfg.requests, cfg.duration_s);
    else printf("%.1f s per workload", cfg.duration_s);
    printf(", %d threads, depth %d, %d rounds\n", cfg.threads, cfg.depth, cfg.rounds);
    print_server_info();
    print_handoff_cost();
    printf("librcm %s; baselines: hiredis %d.%d.%d (redisCommandArgv / redisAppendCommandArgv)%s%s\n",
           rcm_version(), HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH,
           cfg.external ? ", " : "", cfg.external ? g_vb_path : "");
    fflush(stdout);

    /* Warm up: connections established, server and caches warm. */
    {
        bench_cfg warm = cfg;
        warm.duration_s = 0.2;
        warm.requests = 0;
        warm.rounds = 1;
        G = &warm;
        result scratch = {0};
        run_sync(&scratch, "warm-up", client, cfg.threads);
        if (cfg.cluster) run_async_submitter(&scratch, client);
        else run_pipeline_rcm(&scratch, client);
        free(scratch.h);
        G = &cfg;
    }

    rc = cfg.cluster ? bench_cluster(client) : bench_standalone(client);

out:
    rcm_client_close(client);
    disconnect_servers();
    free(W.keys);
    free(W.value);
    W.keys = W.value = NULL;
    pthread_mutex_lock(&A.mu);
    for (int i = 0; i < A.ncb_hist; i++) free(A.cb_hist[i]);
    A.ncb_hist = 0;
    pthread_mutex_unlock(&A.mu);
    return rc;
}
