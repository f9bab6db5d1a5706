/*
 * bench.h — what the pieces of `rcm bench` (GET/SET throughput against baselines) share:
 * the settings, the workload's keys and op mix, results and their measurement, and the
 * runners each file provides.
 *
 *   bench.c            options, usage, connecting, the keyspace fill, warm-up: the entry
 *   bench_run.c        measurement around a run; the sync runs (rcm and raw hiredis
 *                      threads) and rcm's pipeline
 *   bench_async.c      rcm async with `depth` in flight (submitter and callback drivers)
 *   bench_standalone.c the standalone bench: its raw hiredis baselines, its group order
 *                      and report
 *   bench_cluster.c    the cluster bench: the routed raw hiredis baselines, its group
 *                      order and report
 *   bench_external.c   valkey-benchmark (or redis-benchmark) as a child process
 *   bench_report.c     the report's rows, ratios, notes, machine and server lines
 *
 * `rcm bench --workload readmostly` is separate (bench_readmostly.c).
 */
#ifndef RCM_TOOLS_BENCH_H
#define RCM_TOOLS_BENCH_H

#include "cli.h"
#include "histogram.h"
#include "slotmap.h"
#include "target.h"

#include <hiredis/hiredis.h>

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>

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

/* The bench's settings, read-only during runs (bench.c sets them; its warm-up points
 * this at a shortened copy for a moment). */
extern const bench_cfg *bench_G;

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

extern workload bench_W; /* filled by bench.c before the runs, then read-only */

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
    const char *key = bench_W.keys + (rng_next(r) % (uint64_t)bench_W.keyspace) * KEY_LEN;
    argv[1] = key;
    lens[1] = KEY_LEN;
    if ((i & 1) == 0) {
        argv[0] = "SET";
        lens[0] = 3;
        argv[2] = bench_W.value;
        lens[2] = bench_W.value_len;
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
    /* derived by bench_result_finish (or set directly for valkey-benchmark) */
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
 * the bench's main thread (bench.c connects them). */
extern redisContext *bench_side[SLOTMAP_MAX_NODES];
extern int bench_nside;
extern slotmap bench_map; /* cluster mode: read once before the runs, then read-only */

/* The bounds of one run. */
typedef struct run_bounds {
    uint64_t deadline_ns;
    long long max_ops; /* for the whole run; LLONG_MAX when unbounded */
} run_bounds;

/* One thread of a sync run, or the contexts of a raw pipeline. */
typedef struct sync_job {
    rcm_client *client;   /* rcm runs */
    redisContext *ctx;    /* hiredis runs (one per thread) */
    redisContext **ctxs;  /* routed hiredis runs: one per primary (bench_map.node order) */
    run_bounds bounds;
    long long quota;      /* ops for this thread */
    long long ops, errors;
    hist h;
    uint64_t seed;
    pthread_barrier_t *start;
} sync_job;

/* A row's comparison in the report. */
typedef struct verdict {
    const result *subject;
    const result *baseline;
    double target; /* 0: informational */
} verdict;

/* ---------------------------------------------------------------------------------
 * Measurement (bench_run.c).
 * ------------------------------------------------------------------------------ */

/** The CPU seconds of every server (all primaries of a cluster) together; -1 unknown. */
double bench_server_cpu_s(void);

/** User + system seconds of an rusage. */
double bench_rusage_s(const struct rusage *ru);

/** Starts measuring one round (time, this process's CPU, the servers' CPU). */
void bench_meter_start(meter *m);

/** Adds one round's time, operations and CPU to the result. */
void bench_meter_stop(meter *m, result *res, long long ops, long long errors);

/** Adds one round's latencies to the result. */
void bench_result_latency(result *res, const hist *h, const char *unit);

/** Derives ops/s, percentiles and CPU per op from what the rounds accumulated. */
void bench_result_finish(result *res);

/** One round's share of the workload's duration and requests. */
run_bounds bench_bounds_now(void);

/* ---------------------------------------------------------------------------------
 * Runners: each adds one round to its result.
 * ------------------------------------------------------------------------------ */

/** Runs `threads` sync workers (rcm when client != NULL, else hiredis: one context per
 *  thread, or in cluster mode one per thread and primary, routed by slot). bench_run.c */
void bench_run_sync(result *res, const char *name, rcm_client *client, int threads);

/** The group "sync, T threads" of either bench (when --only selects it): the raw
 *  baseline into h (named hname), valkey-benchmark into vb (when external), rcm into r
 *  (named rname), alternating over the rounds. bench_run.c */
void bench_run_group_syncn(result *h, result *vb, result *r, const char *hname, const char *rname,
                           rcm_client *client);

/** rcm_pipeline_exec of `depth` at a time; latency per batch. bench_run.c */
void bench_run_pipeline_rcm(result *res, rcm_client *client);

/** Reads `count` pipelined replies from c into ops/errors; false when the context died
 *  (the unread ones count as errors, the note says why). bench_run.c */
bool bench_read_pipelined(redisContext *c, int count, long long *ops, long long *errors, result *res);

/** Counts a pipelined raw reply as an op or an error, then frees it. */
static inline void bench_count_reply(redisReply *reply, long long *ops, long long *errors)
{
    if (reply->type == REDIS_REPLY_ERROR) (*errors)++;
    else (*ops)++;
    freeReplyObject(reply);
}

/** Connects a job's hiredis context(s): one to the server, or one per primary. bench_run.c */
bool bench_sync_job_connect(sync_job *j, char *err, size_t errcap);
void bench_sync_job_disconnect(sync_job *j);

/** The raw sync workers (thread functions over a sync_job): one context
 *  (bench_standalone.c), or one per primary routed by slot (bench_cluster.c). */
void *bench_sync_hiredis_worker(void *arg);
void *bench_sync_routed_worker(void *arg);

/** rcm async, `depth` in flight: a submitter thread, or callbacks that resubmit.
 *  bench_async.c */
void bench_run_async_submitter(result *res, rcm_client *client);
void bench_run_async_callback(result *res, rcm_client *client);

/** Frees the callback threads' histograms of the last async run. bench_async.c */
void bench_async_free(void);

/** The path of valkey-benchmark (else redis-benchmark) on PATH, NULL when neither is
 *  there (searched on each call). bench_external.c */
const char *bench_vb_find(void);

/** One round of valkey-benchmark -P pipeline -c clients (SET and GET), its -n sized
 *  from est_ops_s to take about one round. bench_external.c */
void bench_run_valkey_benchmark(result *res, int pipeline, int clients, double est_ops_s);

/* ---------------------------------------------------------------------------------
 * The benches and the report.
 * ------------------------------------------------------------------------------ */

/** A context to host:port with the URL's credentials and db; a context to the server
 *  the URL names (its first seed). bench.c */
redisContext *bench_hiredis_connect_to(const char *host, int port, char *err, size_t errcap);
redisContext *bench_hiredis_connect(char *err, size_t errcap);

/** The standalone and the cluster bench: run, print, return the exit status. */
int bench_standalone(rcm_client *client);
int bench_cluster(rcm_client *client);

/** The report (bench_report.c). */
void bench_print_header(void);
void bench_print_row(const result *r, const verdict *v);
void bench_print_ratio_line(const result *a, const result *b, double target);
void bench_print_notes(void);
void bench_print_server_info(void);
void bench_print_handoff_cost(void);

/** The report's rows of the group "sync, T threads" (what bench_run_group_syncn ran),
 *  rcm's with its verdict against the raw baseline (target 1.5x). */
void bench_print_group_syncn(const result *h, const result *vb, const result *r);

/** The exit status of a bench's results (1 when one that ran failed or saw errors);
 *  frees their histograms. bench_report.c */
int bench_results_status(result *res, int n);

#endif /* RCM_TOOLS_BENCH_H */
