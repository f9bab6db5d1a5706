/*
 * bench_run.c — `rcm bench`'s measurement around a run (time, CPU of this process and of
 * the servers, latency histograms) and the runners that share one shape: sync workers,
 * one op at a time per thread (rcm_command, or a raw hiredis context per thread), and
 * rcm's pipeline of `depth`. The async drivers are in bench_async.c.
 */
#include "bench.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* ---------------------------------------------------------------------------------
 * Results and measurement around a run.
 * ------------------------------------------------------------------------------ */

/* The CPU seconds of every server (all primaries of a cluster) together; -1 unknown. */
double bench_server_cpu_s(void)
{
    if (bench_nside == 0) return -1;
    double total = 0;
    for (int i = 0; i < bench_nside; i++) {
        double t = cli_server_cpu_s(bench_side[i]);
        if (t < 0) return -1;
        total += t;
    }
    return total;
}

double bench_rusage_s(const struct rusage *ru)
{
    return (double)ru->ru_utime.tv_sec + (double)ru->ru_utime.tv_usec / 1e6 +
           (double)ru->ru_stime.tv_sec + (double)ru->ru_stime.tv_usec / 1e6;
}

void bench_meter_start(meter *m)
{
    m->srv0 = bench_server_cpu_s();
    getrusage(RUSAGE_SELF, &m->ru0);
    m->t0 = cli_now_ns();
}

/* Adds one round's time, operations and CPU to the result. */
void bench_meter_stop(meter *m, result *res, long long ops, long long errors)
{
    uint64_t t1 = cli_now_ns();
    struct rusage ru1;
    getrusage(RUSAGE_SELF, &ru1);
    double srv1 = bench_server_cpu_s();
    res->ops += ops;
    res->errors += errors;
    res->secs += (double)(t1 - m->t0) / 1e9;
    res->cli_cpu_s += bench_rusage_s(&ru1) - bench_rusage_s(&m->ru0);
    if (m->srv0 >= 0 && srv1 >= 0) res->srv_cpu_s += srv1 - m->srv0;
    else res->srv_unknown = true;
    res->rounds++;
}

/* Adds one round's latencies to the result. */
void bench_result_latency(result *res, const hist *h, const char *unit)
{
    res->lat_unit = unit;
    if (res->h == NULL) res->h = calloc(1, sizeof *res->h);
    if (res->h) hist_merge(res->h, h);
}

void bench_result_finish(result *res)
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

/* One round's share of the workload's duration and requests. */
run_bounds bench_bounds_now(void)
{
    run_bounds b;
    b.deadline_ns = cli_now_ns() + (uint64_t)(bench_G->duration_s / bench_G->rounds * 1e9);
    b.max_ops = bench_G->requests > 0 ? (bench_G->requests + bench_G->rounds - 1) / bench_G->rounds
                                      : INT64_MAX;
    return b;
}

/* ---------------------------------------------------------------------------------
 * Synchronous workers: rcm_command or redisCommandArgv, one op at a time.
 * ------------------------------------------------------------------------------ */

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

/* Connects a job's hiredis context(s): one to the server, or one per primary. */
bool bench_sync_job_connect(sync_job *j, char *err, size_t errcap)
{
    if (!bench_G->cluster) {
        j->ctx = bench_hiredis_connect(err, errcap);
        return j->ctx != NULL;
    }
    j->ctxs = calloc((size_t)bench_map.nnodes, sizeof *j->ctxs);
    if (!j->ctxs) {
        snprintf(err, errcap, "out of memory");
        return false;
    }
    for (int n = 0; n < bench_map.nnodes; n++) {
        j->ctxs[n] = bench_hiredis_connect_to(bench_map.node[n].host, bench_map.node[n].port, err, errcap);
        if (!j->ctxs[n]) return false;
    }
    return true;
}

void bench_sync_job_disconnect(sync_job *j)
{
    if (j->ctx) redisFree(j->ctx);
    j->ctx = NULL;
    if (j->ctxs) {
        for (int n = 0; n < bench_map.nnodes; n++)
            if (j->ctxs[n]) redisFree(j->ctxs[n]);
        free(j->ctxs);
    }
    j->ctxs = NULL;
}

/* Runs `threads` sync workers (rcm when client != NULL, else hiredis: one context per
 * thread, or in cluster mode one per thread and primary, routed by slot). */
void bench_run_sync(result *res, const char *name, rcm_client *client, int threads)
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
        if (!client && !bench_sync_job_connect(j, res->note, sizeof res->note)) {
            bench_sync_job_disconnect(j);
            break;
        }
        made++;
    }
    if (made < threads) {
        for (int t = 0; t < made; t++) bench_sync_job_disconnect(&jobs[t]);
        pthread_barrier_destroy(&start);
        free(jobs);
        free(tids);
        return;
    }
    void *(*worker)(void *) = client ? sync_rcm_worker
                              : bench_G->cluster ? bench_sync_routed_worker : bench_sync_hiredis_worker;
    for (int t = 0; t < threads; t++) {
        pthread_create(&tids[t], NULL, worker, &jobs[t]);
        /* named so that a profile (perf --comm, top -H) tells rcm's callers from the
         * baseline's threads */
        pthread_setname_np(tids[t], client ? "bench-rcm" : "bench-raw");
    }
    meter m;
    bench_meter_start(&m);
    run_bounds b = bench_bounds_now();
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
    bench_meter_stop(&m, res, ops, errors);
    if (h) bench_result_latency(res, h, "op");
    free(h);
    for (int t = 0; t < threads; t++) bench_sync_job_disconnect(&jobs[t]);
    pthread_barrier_destroy(&start);
    free(jobs);
    free(tids);
}

/* The group "sync, T threads", alike in both benches: the raw baseline, rcm and
 * valkey-benchmark -P 1 -c T (its -n sized from the baseline's rate) alternate over the
 * rounds, their order rotating from round to round. */
void bench_run_group_syncn(result *h, result *vb, result *r, const char *hname, const char *rname,
                           rcm_client *client)
{
    const bool ext = bench_G->external;
    if (bench_G->groups & GROUP_SYNCN) fprintf(stderr, "bench: sync %d threads...\n", bench_G->threads);
    for (int round = 0; round < bench_G->rounds && (bench_G->groups & GROUP_SYNCN); round++) {
        for (int k = 0; k < 3; k++) {
            switch ((k + round) % 3) {
            case 0: bench_run_sync(h, hname, NULL, bench_G->threads); break;
            case 1: bench_run_sync(r, rname, client, bench_G->threads); break;
            case 2:
                if (!ext) break;
                bench_result_finish(h);
                bench_run_valkey_benchmark(vb, 1, bench_G->threads, h->valid ? h->ops_s : 50000);
                break;
            }
        }
    }
}

/* ---------------------------------------------------------------------------------
 * Pipelines of `depth`: rcm_pipeline_exec, or redisAppendCommandArgv + redisGetReply.
 * Latency is per batch, from the first append to the last reply.
 * ------------------------------------------------------------------------------ */

void bench_run_pipeline_rcm(result *res, rcm_client *client)
{
    snprintf(res->name, sizeof res->name, "rcm pipeline %d", bench_G->depth);
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
    bench_meter_start(&m);
    run_bounds b = bench_bounds_now();
    while (ops + errors < b.max_ops) {
        uint64_t t0 = cli_now_ns();
        for (int k = 0; k < bench_G->depth; k++, i++) {
            int argc = make_op(&r, i, argv, lens);
            if (rcm_pipeline_append(pipe, argc, argv, lens) != RCM_OK) errors++;
        }
        rcm_reply **replies = NULL;
        size_t n = 0;
        st = rcm_pipeline_exec(pipe, &replies, &n);
        uint64_t t1 = cli_now_ns();
        hist_add(h, t1 - t0);
        if (st != RCM_OK) {
            errors += bench_G->depth;
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
    bench_meter_stop(&m, res, ops, errors);
    bench_result_latency(res, h, "batch");
    free(h);
    rcm_pipeline_free(pipe);
}

/* Reads `count` pipelined replies from c into ops/errors; false when the context died
 * (the unread ones count as errors, the note says why). */
bool bench_read_pipelined(redisContext *c, int count, long long *ops, long long *errors, result *res)
{
    for (int k = 0; k < count; k++) {
        redisReply *reply = NULL;
        if (redisGetReply(c, (void **)&reply) != REDIS_OK || reply == NULL) {
            *errors += count - k;
            snprintf(res->note, sizeof res->note, "hiredis: %s", c->errstr);
            return false;
        }
        bench_count_reply(reply, ops, errors);
    }
    return true;
}
