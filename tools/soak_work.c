/*
 * soak_work.c — the workload of `rcm soak` (soak.c runs it): sync, async, pipelines,
 * transactions on leases, plain leases, multi-slot MSET/MGET/DEL, from several threads,
 * while soak_cluster.c applies a fault schedule drawn from the seed. It checks:
 *  - every request completes exactly once (each async callback is counted, and its
 *    record outlives the client, so a second call is caught even late);
 *  - every acknowledged write stays readable: each key has one writer thread and at most
 *    one write in flight, so its history is a sequence; a read must return the latest
 *    acknowledged write or a later one, or a write whose outcome was uncertain (which
 *    may land late: a stopped server reads its socket when continued). Writes
 *    acknowledged shortly before a primary was killed (or stopped long enough to be
 *    replaced) may be lost by asynchronous replication and are not relied on for the
 *    slots that primary served;
 *  - no reply reaches the wrong caller: a value is "<key>=<seq>", an ECHO carries its
 *    own token;
 *  - no call outlives its deadline (command_timeout_ms, or pool.lease_timeout_ms for a
 *    lease) by more than the slack (0.5 s).
 */
#include "soak.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

soak_stats soak_S;
const char *const soak_kind_names[K_KINDS] = {"sync", "async", "pipeline", "transaction",
                                              "lease", "multi-slot"};

/* ---------------------------------------------------------------------------------
 * Shared helpers (soak.h).
 * ------------------------------------------------------------------------------ */

uint64_t soak_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

int soak_key_slot(const char *key, size_t len)
{
    size_t s = 0, e = len;
    for (size_t i = 0; i < len; i++) {
        if (key[i] == '{') {
            for (size_t j = i + 1; j < len; j++)
                if (key[j] == '}') {
                    if (j > i + 1) s = i + 1, e = j;
                    break;
                }
            break;
        }
    }
    unsigned crc = 0;
    for (size_t i = s; i < e; i++) {
        crc ^= (unsigned)(unsigned char)key[i] << 8;
        for (int b = 0; b < 8; b++) crc = (crc & 0x8000) ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
    return (int)(crc % SOAK_SLOTS);
}

void soak_log(soak_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&ctx->mu);
    printf("soak +%7.3fs: ", (double)(cli_now_ns() - ctx->t0) / 1e9);
    vprintf(fmt, ap);
    putchar('\n');
    fflush(stdout);
    pthread_mutex_unlock(&ctx->mu);
    va_end(ap);
}

void soak_violation(soak_ctx *ctx, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (atomic_fetch_add(&ctx->violations, 1) == 0) {
        pthread_mutex_lock(&ctx->mu);
        snprintf(ctx->first_violation, sizeof ctx->first_violation, "%s", msg);
        pthread_mutex_unlock(&ctx->mu);
    }
    soak_log(ctx, "VIOLATION: %s", msg);
    atomic_store(&ctx->stop_workload, true);
}

/* ---------------------------------------------------------------------------------
 * The model of one key and the checks.
 * ------------------------------------------------------------------------------ */

static uint32_t begin_write(soak_key *k, bool del, int kind)
{
    if (k->n == k->cap) {
        uint32_t cap = k->cap ? k->cap * 2 : 64;
        soak_write *grown = realloc(k->w, cap * sizeof *grown);
        if (grown == NULL) abort();
        k->w = grown;
        k->cap = cap;
    }
    k->w[k->n] = (soak_write){0, SW_INFLIGHT, del, (unsigned char)kind, -1};
    return ++k->n;
}

/* Statuses that say the request was not carried out (never sent, or refused). */
static bool not_applied(rcm_status st)
{
    return st == RCM_ERR_CONNECTION || st == RCM_ERR_BACKPRESSURE || st == RCM_ERR_POOL_TIMEOUT ||
           st == RCM_ERR_ARG || st == RCM_ERR_CROSSSLOT || st == RCM_ERR_CLUSTERDOWN ||
           st == RCM_ERR_REDIRECT || st == RCM_ERR_CLOSED;
}

/* Counts one request of a kind by its outcome; returns the write state it implies. */
static int count(int kind, rcm_status st, bool server_error)
{
    atomic_fetch_add(&soak_S.req[kind], 1);
    if (st != RCM_OK) atomic_fetch_add(&soak_S.by_status[-st < SOAK_NSTATUS ? -st : SOAK_NSTATUS - 1], 1);
    if (st == RCM_OK && !server_error) {
        atomic_fetch_add(&soak_S.ok[kind], 1);
        return SW_OK;
    }
    if (st == RCM_OK || not_applied(st)) {
        atomic_fetch_add(&soak_S.err[kind], 1);
        return SW_NOTAPPLIED;
    }
    atomic_fetch_add(&soak_S.unc[kind], 1);
    return SW_UNCERTAIN;
}

/* done: when the outcome arrived (an async callback's time, not when it was looked at). */
static void end_write(soak_key *k, uint32_t seq, int state, uint64_t done)
{
    k->w[seq - 1].state = (unsigned char)state;
    k->w[seq - 1].done_ns = done;
}

static void check_deadline(soak_ctx *ctx, const char *what, uint64_t t_sent, uint64_t t_done,
                           uint64_t limit_ns)
{
    uint64_t took = t_done - t_sent;
    if (took > limit_ns) {
        long long late = (long long)(took - limit_ns);
        long long prev = atomic_load(&soak_S.late_max_ns);
        while (late > prev && !atomic_compare_exchange_weak(&soak_S.late_max_ns, &prev, late)) {}
    }
    if (took > limit_ns + soak_S.slack_ns)
        soak_violation(ctx, "%s took %.3f s, past its deadline of %.3f s by more than %.3f s",
                       what, (double)took / 1e9, (double)limit_ns / 1e9, (double)soak_S.slack_ns / 1e9);
}

/* True when a lossy fault on the key's slot may have undone this acknowledged write
 * before a read that completed at read_done. */
static bool weak(soak_ctx *ctx, int slot, uint64_t done_ns, uint64_t read_done)
{
    bool w = false;
    pthread_mutex_lock(&ctx->mu);
    for (int i = 0; i < ctx->nlosses && !w; i++) {
        const soak_loss *l = &ctx->losses[i];
        w = (l->slots[slot / 8] >> (slot % 8) & 1) && l->from_ns <= done_ns &&
            done_ns <= l->to_ns && l->start_ns <= read_done;
    }
    pthread_mutex_unlock(&ctx->mu);
    return w;
}

/* The oldest write a read may return: the latest acknowledged one no fault may have
 * undone (0: the key's initial absence). */
static uint32_t floor_seq(soak_ctx *ctx, const soak_key *k, uint64_t read_done)
{
    for (uint32_t s = k->n; s >= 1; s--)
        if (k->w[s - 1].state == SW_OK && !weak(ctx, k->slot, k->w[s - 1].done_ns, read_done))
            return s;
    return 0;
}

static bool possible(const soak_write *w, uint32_t s, uint32_t floor)
{
    return w->state == SW_UNCERTAIN || (s >= floor && w->state != SW_NOTAPPLIED);
}

static int value_of(const soak_key *k, uint32_t seq, char *buf, size_t n)
{
    return snprintf(buf, n, "%s=%u", k->name, seq);
}

/* The first few are described: which write was lost, acknowledged when, read when. */
static void note_lost(soak_ctx *ctx, const soak_key *k, const char *what, uint32_t got,
                      uint32_t latest, uint64_t read_done)
{
    if (atomic_fetch_add(&soak_S.lost_reads, 1) < 10)
        soak_log(ctx, "lost write (allowed): %s %s (slot %d) read seq %u at +%.3fs; seq %u was "
                      "acknowledged (%s, previous value seq %d) at +%.3fs", what, k->name, k->slot,
                 got, (double)(read_done - ctx->t0) / 1e9, latest,
                 soak_kind_names[k->w[latest - 1].kind], (int)k->w[latest - 1].prev,
                 (double)(k->w[latest - 1].done_ns - ctx->t0) / 1e9);
}

/* A read of k returned r (status RCM_OK). Checks that it is k's and a value k may have. */
void soak_check_read(soak_worker *wk, soak_key *k, const rcm_reply *r, uint64_t read_done, const char *what)
{
    soak_ctx *ctx = wk->ctx;
    atomic_fetch_add(&soak_S.reads_checked, 1);
    rcm_reply_kind t = rcm_reply_type(r);
    if (t == RCM_REPLY_ERROR) return; /* a server's refusal (-CLUSTERDOWN...), counted */
    uint32_t floor = floor_seq(ctx, k, read_done);
    /* Reads that only a lossy fault explains are counted: writes that were lost. */
    uint32_t latest = 0;
    for (uint32_t s = k->n; s >= 1 && latest == 0; s--)
        if (k->w[s - 1].state == SW_OK) latest = s;
    if (t == RCM_REPLY_NIL) {
        bool deleted = false; /* a DEL may explain it */
        for (uint32_t s = 1; s <= k->n && !deleted; s++)
            deleted = k->w[s - 1].del && possible(&k->w[s - 1], s, floor);
        if (floor != 0 && !deleted)
            soak_violation(ctx, "%s %s: nil, but write %u was acknowledged (seed %llu)", what,
                           k->name, floor, (unsigned long long)ctx->seed);
        else if (!deleted && latest > 0 && !k->w[latest - 1].del)
            note_lost(ctx, k, what, 0, latest, read_done);
        return;
    }
    size_t len = 0;
    const char *v = rcm_reply_string(r, &len);
    if (t != RCM_REPLY_STRING || len <= k->len || memcmp(v, k->name, k->len) != 0 || v[k->len] != '=') {
        soak_violation(ctx, "%s %s: got %s '%.*s', not this key's value: a reply of another request",
                       what, k->name, t == RCM_REPLY_STRING ? "string" : "a reply of type",
                       (int)(len > 80 ? 80 : len), v ? v : "?");
        return;
    }
    unsigned long s = strtoul(v + k->len + 1, NULL, 10);
    if (s == 0 || s > k->n || k->w[s - 1].del || !possible(&k->w[s - 1], (uint32_t)s, floor)) {
        const char *state = s == 0 || s > k->n ? "never written"
                          : k->w[s - 1].state == SW_NOTAPPLIED ? "a write reported as not carried out"
                          : "older than the acknowledged write";
        soak_violation(ctx, "%s %s: read seq %lu (%s); latest acknowledged seq %u of %u (seed %llu)",
                       what, k->name, s, state, floor, k->n, (unsigned long long)ctx->seed);
    } else if (s < latest && k->w[s - 1].state != SW_UNCERTAIN) {
        note_lost(ctx, k, what, (uint32_t)s, latest, read_done);
    }
}

/* ---------------------------------------------------------------------------------
 * The workload, one operation at a time per thread.
 * ------------------------------------------------------------------------------ */

static bool is_status(const rcm_reply *r, const char *s)
{
    size_t len = 0;
    const char *v = rcm_reply_string(r, &len);
    return rcm_reply_type(r) == RCM_REPLY_STATUS && len == strlen(s) && memcmp(v, s, len) == 0;
}

/* The reply of SET k v GET: k's previous value, which must be one k may have had (not
 * this very value: that would be the write carried out twice), a server's refusal (true),
 * or something that was never this SET's (a reply of another request). */
static bool set_reply_error(soak_worker *wk, soak_key *k, uint32_t seq, const rcm_reply *r,
                            uint64_t done, const char *what)
{
    rcm_reply_kind t = rcm_reply_type(r);
    if (t == RCM_REPLY_ERROR) return true;
    if (t != RCM_REPLY_STRING && t != RCM_REPLY_NIL) {
        soak_violation(wk->ctx, "%s SET %s GET: reply of type %d: a reply of another request",
                       what, k->name, (int)t);
        return true;
    }
    char own[96];
    size_t len = 0;
    const char *v = rcm_reply_string(r, &len);
    int n = value_of(k, seq, own, sizeof own);
    k->w[seq - 1].prev = t == RCM_REPLY_NIL ? 0
                       : len > k->len + 1 ? (int32_t)strtol(v + k->len + 1, NULL, 10) : -1;
    if (t == RCM_REPLY_STRING && len == (size_t)n && memcmp(v, own, len) == 0)
        soak_violation(wk->ctx, "%s SET %s GET: the previous value is this write's own: it was "
                                "carried out twice", what, k->name);
    else
        soak_check_read(wk, k, r, done, what);
    return false;
}

static void op_sync(soak_worker *wk, bool write)
{
    soak_key *k = &wk->keys[soak_rand(&wk->rng) % (uint64_t)wk->nkeys];
    char val[96];
    uint32_t seq = write ? begin_write(k, false, K_SYNC) : 0;
    if (write) value_of(k, seq, val, sizeof val);
    const char *argv[4] = {write ? "SET" : "GET", k->name, val, "GET"};
    size_t lens[4] = {3, k->len, write ? strlen(val) : 0, 3};
    rcm_reply *r = NULL;
    uint64_t t0 = cli_now_ns();
    rcm_status st = rcm_command(wk->client, write ? 4 : 2, argv, lens, &r);
    uint64_t t1 = cli_now_ns();
    check_deadline(wk->ctx, write ? "sync SET" : "sync GET", t0, t1, soak_S.cmd_ns);
    bool serr = st == RCM_OK && (write ? set_reply_error(wk, k, seq, r, t1, "sync")
                                       : rcm_reply_type(r) == RCM_REPLY_ERROR);
    int state = count(K_SYNC, st, serr);
    if (write) end_write(k, seq, state, t1);
    else if (st == RCM_OK) soak_check_read(wk, k, r, t1, "sync GET");
    rcm_reply_free(r);
}

static void on_async(rcm_status status, rcm_reply *reply, void *userdata)
{
    soak_areq *a = userdata;
    uint64_t now = cli_now_ns();
    if (atomic_fetch_add(&a->calls, 1) != 0) {
        soak_violation(a->ctx, "an async callback was called a second time (status %s)",
                       rcm_status_name(status));
        rcm_reply_free(reply);
        return;
    }
    a->st = status;
    a->reply = reply;
    atomic_store(&a->t_done, now); /* publishes st and reply */
}

static soak_areq *new_areq(soak_worker *wk)
{
    if (wk->nchunks == 0 || wk->used_in_chunk == SOAK_CHUNK) {
        soak_areq **grown = realloc(wk->chunks, (size_t)(wk->nchunks + 1) * sizeof *grown);
        soak_areq *chunk = calloc(SOAK_CHUNK, sizeof *chunk);
        if (grown == NULL || chunk == NULL) abort();
        wk->chunks = grown;
        wk->chunks[wk->nchunks++] = chunk;
        wk->used_in_chunk = 0;
    }
    return &wk->chunks[wk->nchunks - 1][wk->used_in_chunk++];
}

/* B requests on distinct keys (and one ECHO) in flight at once; waits for all. */
static void op_async(soak_worker *wk)
{
    soak_ctx *ctx = wk->ctx;
    int b = 2 + (int)(soak_rand(&wk->rng) % 7);
    int start = (int)(soak_rand(&wk->rng) % (uint64_t)wk->nkeys);
    soak_areq *reqs[10];
    char vals[10][96], token[64];
    int n = 0;
    for (int i = 0; i <= b; i++) {
        soak_areq *a = new_areq(wk);
        a->ctx = ctx;
        const char *argv[4] = {NULL, NULL, NULL, "GET"};
        size_t lens[4] = {0, 0, 0, 3};
        int argc;
        if (i == b) {
            a->key = -1;
            snprintf(token, sizeof token, "echo:%d:%lld", wk->id, ++wk->echo_seq);
            argv[0] = "ECHO", argv[1] = token, lens[0] = 4, lens[1] = strlen(token), argc = 2;
        } else {
            a->key = (start + i) % wk->nkeys;
            soak_key *k = &wk->keys[a->key];
            bool write = soak_rand(&wk->rng) & 1;
            a->seq = write ? begin_write(k, false, K_ASYNC) : 0;
            if (write) value_of(k, a->seq, vals[i], sizeof vals[i]);
            argv[0] = write ? "SET" : "GET", argv[1] = k->name, argv[2] = vals[i];
            lens[0] = 3, lens[1] = k->len, lens[2] = write ? strlen(vals[i]) : 0;
            argc = write ? 4 : 2;
        }
        a->t_sent = cli_now_ns();
        rcm_status st = rcm_command_async(wk->client, argc, argv, lens, on_async, a);
        if (st != RCM_OK) { /* refused before queuing: no callback will come */
            atomic_store(&a->calls, 1);
            a->st = st;
            atomic_store(&a->t_done, a->t_sent);
        }
        reqs[n++] = a;
    }
    uint64_t give_up = cli_now_ns() + soak_S.cmd_ns + soak_S.slack_ns + 5000000000ull;
    for (int i = 0; i < n; i++) {
        while (atomic_load(&reqs[i]->t_done) == 0) {
            if (cli_now_ns() > give_up) {
                soak_violation(ctx, "an async request was never completed (%.1f s after it was sent)",
                               (double)(cli_now_ns() - reqs[i]->t_sent) / 1e9);
                return;
            }
            struct timespec nap = {0, 200000};
            nanosleep(&nap, NULL);
        }
    }
    for (int i = 0; i < n; i++) {
        soak_areq *a = reqs[i];
        check_deadline(ctx, "async request", a->t_sent, atomic_load(&a->t_done), soak_S.cmd_ns);
        if (a->key < 0) {
            size_t len = 0;
            const char *s = rcm_reply_string(a->reply, &len);
            if (a->st == RCM_OK && !(rcm_reply_type(a->reply) == RCM_REPLY_STRING &&
                                     len == strlen(token) && memcmp(s, token, len) == 0) &&
                rcm_reply_type(a->reply) != RCM_REPLY_ERROR)
                soak_violation(ctx, "ECHO %s: got '%.*s': a reply of another request", token,
                               (int)(len > 80 ? 80 : len), s ? s : "?");
            count(K_ASYNC, a->st, a->st == RCM_OK && rcm_reply_type(a->reply) == RCM_REPLY_ERROR);
        } else {
            soak_key *k = &wk->keys[a->key];
            if (a->seq) {
                bool serr = a->st == RCM_OK && set_reply_error(wk, k, a->seq, a->reply,
                                                               atomic_load(&a->t_done), "async");
                end_write(k, a->seq, count(K_ASYNC, a->st, serr), atomic_load(&a->t_done));
            } else {
                count(K_ASYNC, a->st, a->st == RCM_OK && rcm_reply_type(a->reply) == RCM_REPLY_ERROR);
                if (a->st == RCM_OK) soak_check_read(wk, k, a->reply, atomic_load(&a->t_done), "async GET");
            }
        }
        rcm_reply_free(a->reply);
        a->reply = NULL;
    }
}

static void op_pipeline(soak_worker *wk)
{
    soak_ctx *ctx = wk->ctx;
    rcm_pipeline *p = NULL;
    if (rcm_pipeline_new(wk->client, &p) != RCM_OK) {
        soak_violation(ctx, "rcm_pipeline_new: %s", rcm_last_error());
        return;
    }
    int m = 2 + (int)(soak_rand(&wk->rng) % 9);
    int start = (int)(soak_rand(&wk->rng) % (uint64_t)wk->nkeys);
    uint32_t seqs[12];
    for (int i = 0; i < m; i++) {
        soak_key *k = &wk->keys[(start + i) % wk->nkeys];
        bool write = soak_rand(&wk->rng) & 1;
        char val[96];
        seqs[i] = write ? begin_write(k, false, K_PIPELINE) : 0;
        if (write) value_of(k, seqs[i], val, sizeof val);
        const char *argv[4] = {write ? "SET" : "GET", k->name, val, "GET"};
        size_t lens[4] = {3, k->len, write ? strlen(val) : 0, 3};
        rcm_pipeline_append(p, write ? 4 : 2, argv, lens);
    }
    rcm_reply **replies = NULL;
    size_t n = 0;
    uint64_t t0 = cli_now_ns();
    rcm_status st = rcm_pipeline_exec(p, &replies, &n);
    uint64_t t1 = cli_now_ns();
    check_deadline(ctx, "pipeline", t0, t1, soak_S.cmd_ns);
    if (st == RCM_OK && n != (size_t)m)
        soak_violation(ctx, "pipeline of %d commands returned %zu replies", m, n);
    for (int i = 0; i < m; i++) {
        soak_key *k = &wk->keys[(start + i) % wk->nkeys];
        const rcm_reply *r = st == RCM_OK && (size_t)i < n ? replies[i] : NULL;
        rcm_status rst = r == NULL ? (st != RCM_OK ? st : RCM_ERR_INTERNAL) : rcm_reply_status(r);
        if (seqs[i]) {
            bool serr = rst == RCM_OK && set_reply_error(wk, k, seqs[i], r, t1, "pipeline");
            end_write(k, seqs[i], count(K_PIPELINE, rst, serr), t1);
        } else {
            count(K_PIPELINE, rst, rst == RCM_OK && rcm_reply_type(r) == RCM_REPLY_ERROR);
            if (rst == RCM_OK) soak_check_read(wk, k, r, t1, "pipeline GET");
        }
    }
    for (size_t i = 0; i < n; i++) rcm_reply_free(replies[i]);
    rcm_free(replies);
    rcm_pipeline_free(p);
}

/* One command on a lease, timed. */
static rcm_status lease_cmd(soak_worker *wk, rcm_lease *l, int argc, const char **argv, rcm_reply **r,
                            const char *what)
{
    uint64_t t0 = cli_now_ns();
    rcm_status st = rcm_lease_command(l, argc, argv, NULL, r);
    check_deadline(wk->ctx, what, t0, cli_now_ns(), soak_S.cmd_ns);
    return st;
}

static rcm_lease *lease_on(soak_worker *wk, soak_key *k, int kind)
{
    rcm_lease *l = NULL;
    uint64_t t0 = cli_now_ns();
    rcm_status st = rcm_lease_acquire(wk->client, k->name, k->len, &l);
    check_deadline(wk->ctx, "rcm_lease_acquire", t0, cli_now_ns(), soak_S.lease_ns);
    if (st != RCM_OK) {
        count(kind, st, false);
        return NULL;
    }
    return l;
}

/* MULTI; SET a; SET b; GET a; EXEC on a lease (a and b share a slot). */
static void op_tx(soak_worker *wk)
{
    int pair = (int)(soak_rand(&wk->rng) % (uint64_t)(wk->nkeys / 2));
    soak_key *a = &wk->keys[2 * pair], *b = &wk->keys[2 * pair + 1];
    rcm_lease *l = lease_on(wk, a, K_TX);
    if (l == NULL) return;
    char va[96], vb[96];
    uint32_t sa = begin_write(a, false, K_TX), sb = begin_write(b, false, K_TX);
    value_of(a, sa, va, sizeof va);
    value_of(b, sb, vb, sizeof vb);
    const char *multi[] = {"MULTI"}, *seta[] = {"SET", a->name, va}, *setb[] = {"SET", b->name, vb},
               *geta[] = {"GET", a->name}, *exec[] = {"EXEC"};
    const char **cmds[] = {multi, seta, setb, geta};
    const int argcs[] = {1, 3, 3, 2};
    rcm_reply *r = NULL;
    rcm_status st = RCM_OK;
    bool queued = true;
    for (int i = 0; i < 4 && queued; i++) {
        st = lease_cmd(wk, l, argcs[i], cmds[i], &r, "lease command in a transaction");
        queued = st == RCM_OK && is_status(r, i == 0 ? "OK" : "QUEUED");
        if (st == RCM_OK && !queued && rcm_reply_type(r) != RCM_REPLY_ERROR)
            soak_violation(wk->ctx, "transaction on %s: step %d got a reply of type %d", a->name, i,
                           (int)rcm_reply_type(r));
        rcm_reply_free(r);
        r = NULL;
    }
    int state = SW_NOTAPPLIED; /* without EXEC, the release discards the transaction */
    if (queued) {
        st = lease_cmd(wk, l, 1, exec, &r, "EXEC on a lease");
        bool applied = st == RCM_OK && rcm_reply_type(r) == RCM_REPLY_ARRAY;
        state = count(K_TX, st, st == RCM_OK && !applied);
        if (applied) {
            const rcm_reply *g = rcm_reply_element(r, 2);
            size_t len = 0;
            const char *s = rcm_reply_string(g, &len);
            if (rcm_reply_length(r) != 3 || !is_status(rcm_reply_element(r, 0), "OK") ||
                !is_status(rcm_reply_element(r, 1), "OK") || s == NULL || len != strlen(va) ||
                memcmp(s, va, len) != 0)
                soak_violation(wk->ctx, "EXEC of the transaction on %s: not [OK, OK, '%s']", a->name, va);
        }
        rcm_reply_free(r);
    } else {
        count(K_TX, st, st == RCM_OK);
    }
    end_write(a, sa, state, cli_now_ns());
    end_write(b, sb, state, cli_now_ns());
    rcm_lease_release(l);
}

/* SET then GET of one key on a lease: the GET must read the SET's value. */
static void op_lease(soak_worker *wk)
{
    soak_key *k = &wk->keys[soak_rand(&wk->rng) % (uint64_t)wk->nkeys];
    rcm_lease *l = lease_on(wk, k, K_LEASE);
    if (l == NULL) return;
    char val[96];
    uint32_t seq = begin_write(k, false, K_LEASE);
    value_of(k, seq, val, sizeof val);
    const char *set[] = {"SET", k->name, val, "GET"}, *get[] = {"GET", k->name};
    rcm_reply *r = NULL;
    rcm_status st = lease_cmd(wk, l, 4, set, &r, "SET on a lease");
    bool serr = st == RCM_OK && set_reply_error(wk, k, seq, r, cli_now_ns(), "lease");
    end_write(k, seq, count(K_LEASE, st, serr), cli_now_ns());
    rcm_reply_free(r);
    r = NULL;
    if (st == RCM_OK && !serr) {
        st = lease_cmd(wk, l, 2, get, &r, "GET on a lease");
        count(K_LEASE, st, st == RCM_OK && rcm_reply_type(r) == RCM_REPLY_ERROR);
        size_t len = 0;
        const char *s = rcm_reply_string(r, &len);
        if (st == RCM_OK && rcm_reply_type(r) != RCM_REPLY_ERROR &&
            (s == NULL || len != strlen(val) || memcmp(s, val, len) != 0))
            soak_violation(wk->ctx, "GET %s on a lease right after its SET: got '%.*s', want '%s'",
                           k->name, (int)(len > 80 ? 80 : len), s ? s : "(not a string)", val);
        rcm_reply_free(r);
    }
    rcm_lease_release(l);
}

/* MSET, MGET or DEL of keys from different pairs (so different slots), split by rcm. */
static void op_multi(soak_worker *wk)
{
    soak_ctx *ctx = wk->ctx;
    int nk = 2 + (int)(soak_rand(&wk->rng) % 5);
    int which = (int)(soak_rand(&wk->rng) % 3); /* 0 MSET, 1 MGET, 2 DEL */
    int start = (int)(soak_rand(&wk->rng) % (uint64_t)(wk->nkeys / 2));
    const char *argv[1 + 2 * 8];
    size_t lens[1 + 2 * 8];
    char vals[8][96];
    uint32_t seqs[8];
    int idx[8], argc = 1;
    argv[0] = which == 0 ? "MSET" : which == 1 ? "MGET" : "DEL";
    lens[0] = strlen(argv[0]);
    for (int i = 0; i < nk; i++) {
        idx[i] = 2 * ((start + i) % (wk->nkeys / 2)) + (int)(soak_rand(&wk->rng) & 1);
        soak_key *k = &wk->keys[idx[i]];
        argv[argc] = k->name, lens[argc++] = k->len;
        seqs[i] = which == 1 ? 0 : begin_write(k, which == 2, K_MULTI);
        if (which == 0) {
            value_of(k, seqs[i], vals[i], sizeof vals[i]);
            argv[argc] = vals[i], lens[argc++] = strlen(vals[i]);
        }
    }
    rcm_reply *r = NULL;
    uint64_t t0 = cli_now_ns();
    rcm_status st = rcm_command(wk->client, argc, argv, lens, &r);
    uint64_t t1 = cli_now_ns();
    check_deadline(ctx, argv[0], t0, t1, soak_S.cmd_ns);
    rcm_reply_kind t = rcm_reply_type(r);
    bool serr = st == RCM_OK && t == RCM_REPLY_ERROR;
    if (st == RCM_OK && !serr) {
        bool shape = which == 0 ? is_status(r, "OK")
                   : which == 1 ? t == RCM_REPLY_ARRAY && rcm_reply_length(r) == (size_t)nk
                                : t == RCM_REPLY_INTEGER && rcm_reply_integer(r) >= 0 &&
                                  rcm_reply_integer(r) <= nk;
        if (!shape) soak_violation(ctx, "%s of %d keys: a reply of the wrong shape (type %d)", argv[0], nk, (int)t);
    }
    /* A split command is not atomic: a failure may have applied some parts. */
    int state = count(K_MULTI, st, serr);
    if (st != RCM_OK && state == SW_NOTAPPLIED) state = SW_UNCERTAIN;
    for (int i = 0; i < nk; i++) {
        soak_key *k = &wk->keys[idx[i]];
        if (which == 1) {
            if (st == RCM_OK && t == RCM_REPLY_ARRAY && (size_t)i < rcm_reply_length(r))
                soak_check_read(wk, k, rcm_reply_element(r, (size_t)i), t1, "MGET");
        } else if (seqs[i]) {
            end_write(k, seqs[i], serr ? SW_UNCERTAIN : state, t1);
        }
    }
    rcm_reply_free(r);
}

void *soak_worker_main(void *arg)
{
    soak_worker *wk = arg;
    while (!atomic_load(&wk->ctx->stop_workload) && cli_now_ns() < wk->ctx->end_ns) {
        int op = (int)(soak_rand(&wk->rng) % 100);
        if (op < 15) op_sync(wk, true);
        else if (op < 30) op_sync(wk, false);
        else if (op < 50) op_async(wk);
        else if (op < 65) op_pipeline(wk);
        else if (op < 75) op_tx(wk);
        else if (op < 82) op_lease(wk);
        else op_multi(wk);
        struct timespec nap = {0, 500000}; /* leave the servers some of two cores */
        nanosleep(&nap, NULL);
    }
    return NULL;
}

