/*
 * bench_standalone.c — `rcm bench` against one server: the raw hiredis baselines (a
 * context per thread; a pipeline of `depth` on one context) and the order in which the
 * groups' workloads and baselines alternate, then the standalone report.
 */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The raw sync baseline: one blocking context per thread, redisCommandArgv. */
void *bench_sync_hiredis_worker(void *arg)
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

/* The raw pipeline baseline: one context; `depth` redisAppendCommandArgv, then as many
 * redisGetReply. Latency is per batch, from the first append to the last reply. */
static void run_pipeline_hiredis(result *res)
{
    snprintf(res->name, sizeof res->name, "hiredis pipeline %d", bench_G->depth);
    redisContext *c = bench_hiredis_connect(res->note, sizeof res->note);
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
    bench_meter_start(&m);
    run_bounds b = bench_bounds_now();
    while (!dead && ops + errors < b.max_ops) {
        uint64_t t0 = cli_now_ns();
        for (int k = 0; k < bench_G->depth; k++, i++) {
            int argc = make_op(&r, i, argv, lens);
            redisAppendCommandArgv(c, argc, argv, lens);
        }
        dead = !bench_read_pipelined(c, bench_G->depth, &ops, &errors, res);
        uint64_t t1 = cli_now_ns();
        hist_add(h, t1 - t0);
        if (t1 >= b.deadline_ns) break;
    }
    bench_meter_stop(&m, res, ops, errors);
    bench_result_latency(res, h, "batch");
    free(h);
    redisFree(c);
}

/* The standalone bench: every group against one server, rcm and its baselines
 * interleaved. Returns the exit status. */
int bench_standalone(rcm_client *client)
{
    enum { H_SYNC1, VB_SYNC1, R_SYNC1, H_SYNCT, VB_SYNCT, R_SYNCT, H_PIPE, VB_PIPE, VB_CONN,
           R_ASYNC, R_ASYNC_CB, R_PIPE, NRES };
    static result res[NRES];
    memset(res, 0, sizeof res);
    char hname[64], rname[64];
    snprintf(hname, sizeof hname, "hiredis sync %d threads x 1 ctx", bench_G->threads);
    snprintf(rname, sizeof rname, "rcm sync %d threads, 1 client", bench_G->threads);

    /* Every workload of a group runs in rounds, and the order rotates from round to
     * round, so that a change of the machine's state (other load; where the scheduler
     * puts the client threads relative to the server, a factor of ~3 for one thread on a
     * small VM) falls on all of them alike. valkey-benchmark gets -n sized from the
     * matching hiredis run so that it also takes about one round. */
    const bool ext = bench_G->external;
    if (bench_G->groups & GROUP_SYNC1) fprintf(stderr, "bench: sync 1 thread...\n");
    for (int r = 0; r < bench_G->rounds && (bench_G->groups & GROUP_SYNC1); r++) {
        for (int k = 0; k < 3; k++) {
            switch ((k + r) % 3) {
            case 0: bench_run_sync(&res[H_SYNC1], "hiredis sync 1 thread", NULL, 1); break;
            case 1: bench_run_sync(&res[R_SYNC1], "rcm sync 1 thread", client, 1); break;
            case 2:
                if (!ext) break;
                bench_result_finish(&res[H_SYNC1]);
                bench_run_valkey_benchmark(&res[VB_SYNC1], 1, 1,
                                           res[H_SYNC1].valid ? res[H_SYNC1].ops_s : 20000);
                break;
            }
        }
    }

    bench_run_group_syncn(&res[H_SYNCT], &res[VB_SYNCT], &res[R_SYNCT], hname, rname, client);

    if (bench_G->groups & GROUP_INFLIGHT) fprintf(stderr, "bench: %d in flight...\n", bench_G->depth);
    for (int r = 0; r < bench_G->rounds && (bench_G->groups & GROUP_INFLIGHT); r++) {
        for (int k = 0; k < 6; k++) {
            switch ((k + r) % 6) {
            case 0: run_pipeline_hiredis(&res[H_PIPE]); break;
            case 1: bench_run_async_submitter(&res[R_ASYNC], client); break;
            case 2:
                if (!ext) break;
                bench_result_finish(&res[H_PIPE]);
                bench_run_valkey_benchmark(&res[VB_PIPE], bench_G->depth, 1,
                                           res[H_PIPE].valid ? res[H_PIPE].ops_s : 500000);
                break;
            case 3: bench_run_async_callback(&res[R_ASYNC_CB], client); break;
            case 4: bench_run_pipeline_rcm(&res[R_PIPE], client); break;
            case 5:
                if (!ext) break;
                bench_run_valkey_benchmark(&res[VB_CONN], 1, bench_G->depth, 60000);
                break;
            }
        }
    }
    for (int k = 0; k < NRES; k++) bench_result_finish(&res[k]);

    putchar('\n');
    bench_print_header();
    if (bench_G->groups & GROUP_SYNC1) {
        printf(" sync, 1 thread\n");
        bench_print_row(&res[H_SYNC1], NULL);
        if (bench_G->external) bench_print_row(&res[VB_SYNC1], NULL);
        bench_print_row(&res[R_SYNC1], &(verdict){&res[R_SYNC1], &res[H_SYNC1], 0.85});
    }
    if (bench_G->groups & GROUP_SYNCN) bench_print_group_syncn(&res[H_SYNCT], &res[VB_SYNCT], &res[R_SYNCT]);
    if (bench_G->groups & GROUP_INFLIGHT) {
        printf(" %d in flight\n", bench_G->depth);
        bench_print_row(&res[H_PIPE], NULL);
        if (bench_G->external) {
            bench_print_row(&res[VB_PIPE], NULL);
            bench_print_row(&res[VB_CONN], NULL);
        }
        const result *async_base = bench_G->external ? &res[VB_PIPE] : &res[H_PIPE];
        double async_target = bench_G->external ? 0.8 : 0;
        bench_print_row(&res[R_ASYNC], &(verdict){&res[R_ASYNC], async_base, async_target});
        bench_print_row(&res[R_ASYNC_CB], &(verdict){&res[R_ASYNC_CB], async_base, 0});
        bench_print_row(&res[R_PIPE], &(verdict){&res[R_PIPE], &res[H_PIPE], 0});
    }

    printf("\nratios (ops/s):\n");
    bench_print_ratio_line(&res[R_SYNC1], &res[H_SYNC1], 0.85);
    bench_print_ratio_line(&res[R_SYNCT], &res[H_SYNCT], 1.5);
    if (bench_G->external) bench_print_ratio_line(&res[R_ASYNC], &res[VB_PIPE], 0.8);
    bench_print_ratio_line(&res[R_ASYNC], &res[H_PIPE], 0);
    if (bench_G->external) bench_print_ratio_line(&res[R_ASYNC_CB], &res[VB_PIPE], 0);
    bench_print_ratio_line(&res[R_PIPE], &res[H_PIPE], 0);

    bench_print_notes();
    return bench_results_status(res, NRES);
}

