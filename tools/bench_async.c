/*
 * bench_async.c — `rcm bench`'s async workloads: rcm_command_async with `depth` requests
 * in flight.
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
 */
#include "bench.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

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

void bench_async_free(void)
{
    pthread_mutex_lock(&A.mu);
    for (int i = 0; i < A.ncb_hist; i++) free(A.cb_hist[i]);
    A.ncb_hist = 0;
    pthread_mutex_unlock(&A.mu);
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
    bench_async_free();
    atomic_fetch_add(&A.generation, 1);
}

/* completed: requests whose callback ran (errors among them counted by the callbacks). */
static void async_collect(result *res, meter *m, long long completed)
{
    long long errors = atomic_load(&A.errors);
    long long refused = atomic_load(&A.refused);
    bench_meter_stop(m, res, completed - errors, errors + refused);
    hist *h = calloc(1, sizeof *h);
    if (h) {
        pthread_mutex_lock(&A.mu);
        for (int i = 0; i < A.ncb_hist; i++) hist_merge(h, A.cb_hist[i]);
        pthread_mutex_unlock(&A.mu);
        bench_result_latency(res, h, "op");
        free(h);
    }
    rcm_status last = atomic_load(&A.last_status);
    if (last != RCM_OK)
        snprintf(res->note, sizeof res->note, "last failure %s", rcm_status_name(last));
}

void bench_run_async_submitter(result *res, rcm_client *client)
{
    snprintf(res->name, sizeof res->name, "rcm async %d in flight", bench_G->depth);
    async_reset(client);
    const long depth = bench_G->depth;
    const long low = depth - (depth / 4 > 0 ? depth / 4 : 1);
    rng r = {0xC0FFEEull};
    const char *argv[3];
    size_t lens[3];
    long long submitted = 0, refused = 0;
    uint64_t i = 0;
    meter m;
    bench_meter_start(&m);
    run_bounds b = bench_bounds_now();
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

void bench_run_async_callback(result *res, rcm_client *client)
{
    snprintf(res->name, sizeof res->name, "rcm async %d, callback resubmits", bench_G->depth);
    async_reset(client);
    meter m;
    bench_meter_start(&m);
    A.bounds = bench_bounds_now();
    atomic_store(&A.inflight, bench_G->depth);
    /* Seed the loop from this thread; callbacks keep it going on the I/O thread(s). */
    for (int k = 0; k < bench_G->depth; k++) {
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

