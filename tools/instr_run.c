/*
 * instr_run.c — `rcm instr-run`: exactly N GETs of one workload, then exit. It exists to
 * be counted: bench/instructions.sh runs it under `valgrind --tool=callgrind` at two
 * request counts and divides the difference of the instruction totals by the difference
 * of the counts, so everything a run does once (start-up, connecting, the fill, the
 * teardown) cancels out and only the per-request cost remains.
 *
 * Workloads (GET of a filled key, 16-byte values, keys over the whole keyspace):
 *   rcm-sync          rcm_command, one thread
 *   rcm-pipeline      rcm_pipeline_append x depth, rcm_pipeline_exec
 *   rcm-async         rcm_command_async, depth in flight (a batch of depth is submitted,
 *                     the caller waits until all of it completed, and repeats)
 *   hiredis-sync      redisCommandArgv on one blocking context
 *   hiredis-pipeline  redisAppendCommandArgv x depth, redisGetReply x depth
 * In cluster mode (a redis+cluster:// URL or -c mode=cluster) the hiredis workloads route
 * as bench_cluster.c's baselines do: one context per primary, the slot computed here
 * (CRC16) and looked up in the map read once with CLUSTER SLOTS.
 *
 * The fill writes keys rcm:instr:<n> before the measured part and deletes them after.
 */
#include "cli.h"
#include "slotmap.h"
#include "target.h"

#include <hiredis/hiredis.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char INSTR_USAGE[] =
    "usage: rcm [-u URL] [-c key=value...] instr-run --workload W --requests N [--depth D]\n"
    "\n"
    "Runs exactly N GETs of workload W and exits: rcm-sync, rcm-pipeline, rcm-async,\n"
    "hiredis-sync, hiredis-pipeline (routed by slot in cluster mode). Meant to be counted\n"
    "by callgrind at two values of N (bench/instructions.sh); prints nothing on success.\n"
    "  --depth D   pipeline depth / requests in flight (default 64)\n"
    "  --keyspace K  distinct keys, filled before and deleted after (default 1000)\n";

#define INSTR_KEY_LEN 16 /* "rcm:instr:" + 6 digits */

typedef struct instr_cfg {
    const char *workload;
    long long requests;
    int depth;
    int keyspace;
    bool cluster;
    cli_target srv;
    char *keys; /* keyspace * INSTR_KEY_LEN bytes */
    slotmap map; /* cluster mode */
    redisContext *ctx[SLOTMAP_MAX_NODES]; /* one per primary, or ctx[0] standalone */
    int nctx;
} instr_cfg;

static const char *key_at(const instr_cfg *c, long long i)
{
    /* A stride co-prime with any keyspace that is not a multiple of 7919 spreads
     * consecutive requests over the keys (and the slots) without a random generator. */
    return c->keys + (size_t)((i * 7919) % c->keyspace) * INSTR_KEY_LEN;
}

static int owner_of(const instr_cfg *c, const char *key)
{
    if (!c->cluster) return 0;
    unsigned o = c->map.owner[slot_of_key(key, INSTR_KEY_LEN)];
    return o < (unsigned)c->nctx ? (int)o : -1;
}

static bool connect_all(instr_cfg *c, char *err, size_t errcap)
{
    redisContext *seed = cli_target_connect(&c->srv, c->srv.host, c->srv.port, err, errcap);
    if (!seed) return false;
    if (!c->cluster) {
        c->ctx[0] = seed;
        c->nctx = 1;
        return true;
    }
    bool ok = slotmap_fetch(seed, c->srv.host, &c->map, err, errcap);
    redisFree(seed);
    for (int i = 0; ok && i < c->map.nnodes; i++) {
        c->ctx[i] = cli_target_connect(&c->srv, c->map.node[i].host, c->map.node[i].port, err, errcap);
        if (c->ctx[i]) c->nctx++;
        else ok = false;
    }
    return ok;
}

/* SET (fill) or DEL (cleanup) of every key on its owner, pipelined. */
static bool for_each_key(instr_cfg *c, bool fill, char *err, size_t errcap)
{
    static const char value[] = "vvvvvvvvvvvvvvvv"; /* 16 bytes */
    int count[SLOTMAP_MAX_NODES] = {0};
    for (int k = 0; k < c->keyspace; k++) {
        const char *key = c->keys + (size_t)k * INSTR_KEY_LEN;
        int o = owner_of(c, key);
        if (o < 0) {
            snprintf(err, errcap, "a key's slot has no owner");
            return false;
        }
        const char *argv[3] = {fill ? "SET" : "DEL", key, value};
        size_t lens[3] = {3, INSTR_KEY_LEN, 16};
        redisAppendCommandArgv(c->ctx[o], fill ? 3 : 2, argv, lens);
        count[o]++;
    }
    for (int o = 0; o < c->nctx; o++)
        for (int k = 0; k < count[o]; k++) {
            redisReply *r = NULL;
            if (redisGetReply(c->ctx[o], (void **)&r) != REDIS_OK) r = NULL;
            if (!cli_hiredis_ok(c->ctx[o], r, err, errcap, fill ? "fill" : "cleanup")) return false;
        }
    return true;
}

static bool ok_reply(rcm_status st, const rcm_reply *r)
{
    return st == RCM_OK && rcm_reply_type(r) == RCM_REPLY_STRING;
}

static long long run_rcm_sync(instr_cfg *c, rcm_client *client)
{
    long long bad = 0;
    for (long long i = 0; i < c->requests; i++) {
        const char *argv[2] = {"GET", key_at(c, i)};
        size_t lens[2] = {3, INSTR_KEY_LEN};
        rcm_reply *r = NULL;
        rcm_status st = rcm_command(client, 2, argv, lens, &r);
        if (!ok_reply(st, r) && bad++ == 0)
            fprintf(stderr, "rcm: instr-run: GET: %s %s (reply type %d)\n", rcm_status_name(st),
                    st == RCM_OK ? "" : rcm_last_error(), r ? (int)rcm_reply_type(r) : -1);
        rcm_reply_free(r);
    }
    return bad;
}

static long long run_rcm_pipeline(instr_cfg *c, rcm_client *client)
{
    rcm_pipeline *p = NULL;
    if (rcm_pipeline_new(client, &p) != RCM_OK) return c->requests;
    long long bad = 0;
    for (long long i = 0; i < c->requests;) {
        long long n = c->requests - i < c->depth ? c->requests - i : c->depth;
        for (long long k = 0; k < n; k++, i++) {
            const char *argv[2] = {"GET", key_at(c, i)};
            size_t lens[2] = {3, INSTR_KEY_LEN};
            if (rcm_pipeline_append(p, 2, argv, lens) != RCM_OK) bad++;
        }
        rcm_reply **replies = NULL;
        size_t got = 0;
        if (rcm_pipeline_exec(p, &replies, &got) != RCM_OK) {
            bad += n;
            continue;
        }
        for (size_t k = 0; k < got; k++) {
            if (!ok_reply(RCM_OK, replies[k])) bad++;
            rcm_reply_free(replies[k]);
        }
        rcm_free(replies);
    }
    rcm_pipeline_free(p);
    return bad;
}

/* rcm-async: the batch's completions count down; the last one wakes the caller. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_long left;
    atomic_llong bad;
} AS = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};

static void async_cb(rcm_status st, rcm_reply *reply, void *userdata)
{
    (void)userdata;
    if (!ok_reply(st, reply)) atomic_fetch_add(&AS.bad, 1);
    rcm_reply_free(reply);
    if (atomic_fetch_sub(&AS.left, 1) == 1) {
        pthread_mutex_lock(&AS.mu);
        pthread_cond_signal(&AS.cv);
        pthread_mutex_unlock(&AS.mu);
    }
}

static long long run_rcm_async(instr_cfg *c, rcm_client *client)
{
    for (long long i = 0; i < c->requests;) {
        long long n = c->requests - i < c->depth ? c->requests - i : c->depth;
        atomic_store(&AS.left, (long)n);
        for (long long k = 0; k < n; k++, i++) {
            const char *argv[2] = {"GET", key_at(c, i)};
            size_t lens[2] = {3, INSTR_KEY_LEN};
            if (rcm_command_async(client, 2, argv, lens, async_cb, NULL) != RCM_OK) {
                atomic_fetch_add(&AS.bad, 1);
                atomic_fetch_sub(&AS.left, 1);
            }
        }
        pthread_mutex_lock(&AS.mu);
        while (atomic_load(&AS.left) > 0) pthread_cond_wait(&AS.cv, &AS.mu);
        pthread_mutex_unlock(&AS.mu);
    }
    return atomic_load(&AS.bad);
}

static bool hiredis_ok(redisReply *r)
{
    return r && r->type == REDIS_REPLY_STRING;
}

static long long run_hiredis_sync(instr_cfg *c)
{
    long long bad = 0;
    for (long long i = 0; i < c->requests; i++) {
        const char *argv[2] = {"GET", key_at(c, i)};
        size_t lens[2] = {3, INSTR_KEY_LEN};
        int o = owner_of(c, argv[1]);
        redisReply *r = o < 0 ? NULL : redisCommandArgv(c->ctx[o], 2, argv, lens);
        if (!hiredis_ok(r)) bad++;
        if (r) freeReplyObject(r);
    }
    return bad;
}

/* Appends each command to its owner's context, writes every buffer, reads every reply. */
static long long run_hiredis_pipeline(instr_cfg *c)
{
    long long bad = 0;
    for (long long i = 0; i < c->requests;) {
        int count[SLOTMAP_MAX_NODES] = {0};
        long long n = c->requests - i < c->depth ? c->requests - i : c->depth;
        for (long long k = 0; k < n; k++, i++) {
            const char *argv[2] = {"GET", key_at(c, i)};
            size_t lens[2] = {3, INSTR_KEY_LEN};
            int o = owner_of(c, argv[1]);
            if (o < 0) {
                bad++;
                continue;
            }
            redisAppendCommandArgv(c->ctx[o], 2, argv, lens);
            count[o]++;
        }
        for (int o = 0; o < c->nctx; o++) {
            int done = count[o] == 0;
            while (!done)
                if (redisBufferWrite(c->ctx[o], &done) != REDIS_OK) return c->requests;
        }
        for (int o = 0; o < c->nctx; o++)
            for (int k = 0; k < count[o]; k++) {
                redisReply *r = NULL;
                if (redisGetReply(c->ctx[o], (void **)&r) != REDIS_OK) return c->requests;
                if (!hiredis_ok(r)) bad++;
                freeReplyObject(r);
            }
    }
    return bad;
}

static int parse_args(instr_cfg *c, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long long v = 0;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(INSTR_USAGE, stdout);
            return -1;
        }
        if (i + 1 >= argc) return cli_usage_error("instr-run: %s needs a value", cli_option_name(a));
        const char *val = argv[++i];
        if (strcmp(a, "--workload") == 0) {
            c->workload = val;
        } else if (strcmp(a, "--requests") == 0 && cli_parse_long(val, 1, 1000000000, &v)) {
            c->requests = v;
        } else if (strcmp(a, "--depth") == 0 && cli_parse_long(val, 1, 100000, &v)) {
            c->depth = (int)v;
        } else if (strcmp(a, "--keyspace") == 0 && cli_parse_long(val, 1, 999999, &v)) {
            c->keyspace = (int)v;
        } else {
            return cli_usage_error("instr-run: bad option or value: %s", cli_option_name(a));
        }
    }
    if (!c->workload || c->requests <= 0)
        return cli_usage_error("instr-run: --workload and --requests are required");
    return CLI_EXIT_OK;
}

static long long run_workload(instr_cfg *c, rcm_client *client)
{
    const char *w = c->workload;
    if (strcmp(w, "rcm-sync") == 0) return run_rcm_sync(c, client);
    if (strcmp(w, "rcm-pipeline") == 0) return run_rcm_pipeline(c, client);
    if (strcmp(w, "rcm-async") == 0) return run_rcm_async(c, client);
    if (strcmp(w, "hiredis-sync") == 0) return run_hiredis_sync(c);
    return run_hiredis_pipeline(c);
}

int cli_instr_run(const cli_opts *opts, int argc, char **argv)
{
    static instr_cfg c;
    c = (instr_cfg){.depth = 64, .keyspace = 1000};
    int rc = parse_args(&c, argc, argv);
    if (rc != CLI_EXIT_OK) return rc < 0 ? CLI_EXIT_OK : rc;
    static const char *const known[] = {"rcm-sync", "rcm-pipeline", "rcm-async", "hiredis-sync",
                                        "hiredis-pipeline"};
    bool is_rcm = strncmp(c.workload, "rcm-", 4) == 0, found = false;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) found |= strcmp(known[i], c.workload) == 0;
    if (!found) return cli_usage_error("instr-run: unknown workload %s", c.workload);
    cli_target_from_opts(opts, &c.srv);
    c.cluster = strcmp(c.srv.mode, "cluster") == 0;
    if (c.srv.tls) return cli_usage_error("instr-run: the hiredis side does not do TLS");

    c.keys = malloc((size_t)c.keyspace * INSTR_KEY_LEN + 1);
    if (!c.keys) return CLI_EXIT_FAIL;
    for (int k = 0; k < c.keyspace; k++) {
        char tmp[32]; /* k < 10^6 (--keyspace): exactly INSTR_KEY_LEN characters */
        snprintf(tmp, sizeof tmp, "rcm:instr:%06d", k);
        memcpy(c.keys + (size_t)k * INSTR_KEY_LEN, tmp, INSTR_KEY_LEN);
    }
    char err[256] = "";
    rcm_client *client = NULL;
    rc = CLI_EXIT_FAIL;
    if (!connect_all(&c, err, sizeof err) || !for_each_key(&c, true, err, sizeof err)) {
        fprintf(stderr, "rcm: instr-run: %s\n", err);
        goto out;
    }
    if (is_rcm && cli_open(opts, NULL, NULL, &client) != CLI_EXIT_OK) goto out;
    long long bad = run_workload(&c, client);
    rc = CLI_EXIT_OK;
    if (bad > 0) {
        fprintf(stderr, "rcm: instr-run: %lld of %lld requests failed\n", bad, c.requests);
        rc = CLI_EXIT_FAIL;
    }
    if (!for_each_key(&c, false, err, sizeof err)) {
        fprintf(stderr, "rcm: instr-run: %s\n", err);
        rc = CLI_EXIT_FAIL;
    }
out:
    rcm_client_close(client);
    for (int i = 0; i < c.nctx; i++) redisFree(c.ctx[i]);
    free(c.keys);
    return rc;
}
