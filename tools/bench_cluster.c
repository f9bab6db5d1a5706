/*
 * bench_cluster.c — `rcm bench --cluster`: the routed raw hiredis baselines (per thread
 * one blocking context per primary, the slot computed here from the map read once; a
 * pipeline spread over one context per primary) and the order in which the cluster
 * bench's workloads and baselines alternate, then its report.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

/* The raw cluster baseline: one blocking context per primary, the slot computed here
 * (CRC16) and looked up in the map read once; no redirects are followed (an error reply
 * counts as an error). */
void *bench_sync_routed_worker(void *arg)
{
    sync_job *job = arg;
    rng r = {job->seed};
    const char *argv[3];
    size_t lens[3];
    if (job->start) pthread_barrier_wait(job->start);
    for (uint64_t i = 0; (long long)i < job->quota; i++) {
        int argc = make_op(&r, i, argv, lens);
        uint64_t t0 = cli_now_ns();
        unsigned owner = bench_map.owner[slot_of_key(argv[1], lens[1])];
        redisReply *reply = owner < (unsigned)bench_map.nnodes
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

/* Reads `count[n]` replies from every context n in the order they arrive (epoll over
 * the contexts, made non-blocking), not context by context. False when a context died
 * (the unread replies count as errors, the note says why). */
static bool read_arrival_order(redisContext **ctxs, int nn, int epfd, int *count, long long *ops,
                               long long *errors, result *res)
{
    int left = 0;
    for (int n = 0; n < nn; n++) left += count[n];
    while (left > 0) {
        struct epoll_event evs[16];
        int m = epoll_wait(epfd, evs, 16, 5000);
        if (m < 0 && errno == EINTR) continue;
        if (m <= 0) {
            *errors += left;
            snprintf(res->note, sizeof res->note, "no reply within 5 s");
            return false;
        }
        for (int e = 0; e < m; e++) {
            int n = (int)evs[e].data.u32;
            if (redisBufferRead(ctxs[n]) != REDIS_OK) {
                *errors += left;
                snprintf(res->note, sizeof res->note, "hiredis: %s", ctxs[n]->errstr);
                return false;
            }
            redisReply *reply = NULL;
            while (count[n] > 0 && redisGetReplyFromReader(ctxs[n], (void **)&reply) == REDIS_OK && reply) {
                bench_count_reply(reply, ops, errors);
                reply = NULL;
                count[n]--;
                left--;
            }
        }
    }
    return true;
}

/* Makes the job's contexts non-blocking and watched by one epoll instance (returned;
 * -1 on failure, with the note saying why). */
static int watch_contexts(sync_job *j, int nn, result *res)
{
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) {
        snprintf(res->note, sizeof res->note, "epoll_create1: %s", strerror(errno));
        return -1;
    }
    for (int n = 0; n < nn; n++) {
        int fd = j->ctxs[n]->fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)n};
        if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            snprintf(res->note, sizeof res->note, "epoll on context %d: %s", n, strerror(errno));
            close(epfd);
            return -1;
        }
        j->ctxs[n]->flags &= ~REDIS_BLOCK;
    }
    return epfd;
}

/* The raw cluster pipeline: one context per primary; each command is appended to its
 * slot owner's context, every context's buffer is written, then the replies are read:
 * context by context (what a hand-written routed pipeline does), or, with
 * arrival_order, as they arrive on any context (the best one thread can do: a reply is
 * never left waiting behind a slower node's). */
static void run_pipeline_routed(result *res, bool arrival_order)
{
    const int nn = bench_map.nnodes;
    if (arrival_order) /* the report's name column holds 36 characters */
        snprintf(res->name, sizeof res->name, "hiredis routed pipeline %d, epoll", bench_G->depth);
    else
        snprintf(res->name, sizeof res->name, "hiredis routed pipeline %d, %d ctx", bench_G->depth, nn);
    sync_job j;
    memset(&j, 0, sizeof j);
    if (!bench_sync_job_connect(&j, res->note, sizeof res->note)) {
        bench_sync_job_disconnect(&j);
        return;
    }
    int epfd = arrival_order ? watch_contexts(&j, nn, res) : -1;
    hist *h = calloc(1, sizeof *h);
    int *count = calloc((size_t)nn, sizeof *count);
    if (!h || !count || (arrival_order && epfd < 0)) {
        free(h);
        free(count);
        if (epfd >= 0) close(epfd);
        bench_sync_job_disconnect(&j);
        return;
    }
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
        memset(count, 0, (size_t)nn * sizeof *count);
        for (int k = 0; k < bench_G->depth; k++, i++) {
            int argc = make_op(&r, i, argv, lens);
            unsigned owner = bench_map.owner[slot_of_key(argv[1], lens[1])];
            if (owner >= (unsigned)nn) {
                errors++;
                continue;
            }
            redisAppendCommandArgv(j.ctxs[owner], argc, argv, lens);
            count[owner]++;
        }
        for (int n = 0; n < nn && !dead; n++) {
            int done = count[n] == 0;
            while (!done) { /* in the epoll run the context is non-blocking: a full socket
                               * buffer would spin here (64 commands never fill one) */
                if (redisBufferWrite(j.ctxs[n], &done) != REDIS_OK) {
                    dead = true;
                    break;
                }
            }
        }
        if (arrival_order) {
            if (!dead) dead = !read_arrival_order(j.ctxs, nn, epfd, count, &ops, &errors, res);
        } else {
            for (int n = 0; n < nn && !dead; n++)
                dead = !bench_read_pipelined(j.ctxs[n], count[n], &ops, &errors, res);
        }
        uint64_t t1 = cli_now_ns();
        hist_add(h, t1 - t0);
        if (t1 >= b.deadline_ns) break;
    }
    bench_meter_stop(&m, res, ops, errors);
    bench_result_latency(res, h, "batch");
    free(h);
    free(count);
    if (epfd >= 0) close(epfd);
    bench_sync_job_disconnect(&j);
}

/* The cluster bench: rcm (cluster mode, one client) against the raw routed hiredis
 * baseline (per thread one context per primary, slot computed here) and valkey-benchmark
 * --cluster, all against the same cluster in one run. Returns the exit status. */
int bench_cluster(rcm_client *client)
{
    enum { H_SYNC1, R_SYNC1, H_SYNCT, VB_SYNCT, R_SYNCT, VB_PIPE, VB_PIPE_EQ, R_ASYNC,
           R_ASYNC_CB, H_PIPE, H_PIPE_EPOLL, R_PIPE, NRES };
    static result res[NRES];
    memset(res, 0, sizeof res);
    const int n = bench_map.nnodes;
    const bool ext = bench_G->external;
    char hname1[64], hname[64], rname[64];
    snprintf(hname1, sizeof hname1, "hiredis routed 1 thread x %d ctx", n);
    snprintf(hname, sizeof hname, "hiredis routed %d thr x %d ctx", bench_G->threads, n);
    snprintf(rname, sizeof rname, "rcm sync %d threads, 1 client", bench_G->threads);
    /* valkey-benchmark --cluster binds each client to one primary (client i to primary
     * i mod n): -c n is one pipelined connection per primary. With -P depth that is n x
     * depth in flight; -P depth/n is the same in flight as rcm's async. */
    int eq_depth = bench_G->depth / n > 0 ? bench_G->depth / n : 1;

    if (bench_G->groups & GROUP_SYNC1) fprintf(stderr, "bench: sync 1 thread...\n");
    for (int r = 0; r < bench_G->rounds && (bench_G->groups & GROUP_SYNC1); r++) {
        for (int k = 0; k < 2; k++) {
            switch ((k + r) % 2) {
            case 0: bench_run_sync(&res[H_SYNC1], hname1, NULL, 1); break;
            case 1: bench_run_sync(&res[R_SYNC1], "rcm sync 1 thread", client, 1); break;
            }
        }
    }
    bench_run_group_syncn(&res[H_SYNCT], &res[VB_SYNCT], &res[R_SYNCT], hname, rname, client);
    if (bench_G->groups & GROUP_INFLIGHT) fprintf(stderr, "bench: %d in flight...\n", bench_G->depth);
    for (int r = 0; r < bench_G->rounds && (bench_G->groups & GROUP_INFLIGHT); r++) {
        for (int k = 0; k < 7; k++) {
            switch ((k + r) % 7) {
            case 0:
                if (!ext) break;
                bench_run_valkey_benchmark(&res[VB_PIPE], bench_G->depth, n, 500000);
                break;
            case 1: bench_run_async_submitter(&res[R_ASYNC], client); break;
            case 2:
                if (!ext) break;
                bench_run_valkey_benchmark(&res[VB_PIPE_EQ], eq_depth, n, 300000);
                break;
            case 3: bench_run_async_callback(&res[R_ASYNC_CB], client); break;
            case 4: run_pipeline_routed(&res[H_PIPE], false); break;
            case 5: bench_run_pipeline_rcm(&res[R_PIPE], client); break;
            case 6: run_pipeline_routed(&res[H_PIPE_EPOLL], true); break;
            }
        }
    }
    for (int k = 0; k < NRES; k++) bench_result_finish(&res[k]);

    putchar('\n');
    bench_print_header();
    if (bench_G->groups & GROUP_SYNC1) {
        printf(" sync, 1 thread\n");
        bench_print_row(&res[H_SYNC1], NULL);
        bench_print_row(&res[R_SYNC1], &(verdict){&res[R_SYNC1], &res[H_SYNC1], 0.85});
    }
    if (bench_G->groups & GROUP_SYNCN) bench_print_group_syncn(&res[H_SYNCT], &res[VB_SYNCT], &res[R_SYNCT]);
    if (bench_G->groups & GROUP_INFLIGHT) {
        printf(" %d in flight (valkey-benchmark: -c %d = one connection per primary, %d resp. "
               "%d in flight)\n", bench_G->depth, n, bench_G->depth * n, eq_depth * n);
        if (ext) {
            bench_print_row(&res[VB_PIPE], NULL);
            bench_print_row(&res[VB_PIPE_EQ], NULL);
        }
        bench_print_row(&res[R_ASYNC], &(verdict){&res[R_ASYNC], ext ? &res[VB_PIPE] : NULL, ext ? 0.8 : 0});
        bench_print_row(&res[R_ASYNC_CB], &(verdict){&res[R_ASYNC_CB], ext ? &res[VB_PIPE] : NULL, 0});
        printf(" pipeline %d over %d primaries (one exec at a time)\n", bench_G->depth, n);
        bench_print_row(&res[H_PIPE], NULL);
        bench_print_row(&res[H_PIPE_EPOLL], NULL);
        bench_print_row(&res[R_PIPE], &(verdict){&res[R_PIPE], &res[H_PIPE], 0});
    }

    printf("\nratios (ops/s):\n");
    bench_print_ratio_line(&res[R_SYNC1], &res[H_SYNC1], 0.85);
    bench_print_ratio_line(&res[R_SYNCT], &res[H_SYNCT], 1.5);
    if (ext) {
        bench_print_ratio_line(&res[R_SYNCT], &res[VB_SYNCT], 0);
        bench_print_ratio_line(&res[R_ASYNC], &res[VB_PIPE], 0.8);
        bench_print_ratio_line(&res[R_ASYNC], &res[VB_PIPE_EQ], 0);
        bench_print_ratio_line(&res[R_ASYNC_CB], &res[VB_PIPE], 0);
    }
    bench_print_ratio_line(&res[R_PIPE], &res[H_PIPE], 0);
    bench_print_ratio_line(&res[R_PIPE], &res[H_PIPE_EPOLL], 0);
    bench_print_ratio_line(&res[H_PIPE_EPOLL], &res[H_PIPE], 0);
    printf("\nhiredis routed: per thread one blocking context per primary; the slot is CRC16 of "
           "the key (hash tags honoured) looked up\n"
           "  in the map read once with CLUSTER SLOTS; no redirects (none happen while the map "
           "holds).\n"
           "  Its pipeline reads the replies context by context; the \", epoll\" one reads them as they arrive\n"
           "  on any context (one thread, epoll), as rcm's I/O thread does, with no hand-over between threads.\n");
    bench_print_notes();

    return bench_results_status(res, NRES);
}

