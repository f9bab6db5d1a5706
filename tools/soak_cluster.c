/*
 * soak_cluster.c — the cluster side of `rcm soak`: the fault schedule drawn from the
 * seed (kill -9 and restart, SIGSTOP/SIGCONT, CLUSTER FAILOVER, slot migration), each
 * fault healed and the cluster healthy again before the next, and at the end the layout
 * the soak found (primaries, slot owners) restored.
 *
 * It talks to the nodes with plain hiredis, so what it sees does not depend on the
 * client under test, and it touches only the processes the harness recorded in
 * <state dir>/cluster/pids (checked against /proc: a recycled PID is never signalled).
 */
#include "soak.h"

#include <hiredis/hiredis.h>

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Replication lag allowed around a lossy fault (see soak_loss). */
#define LOSS_LAG_NS (3ull * 1000000000ull)
/* The primaries refuse to vote twice about one shard within 2 x cluster-node-timeout
 * (the harness runs 5000 ms), and a refused manual failover pauses the writers for 5 s. */
#define VOTE_INTERVAL_NS (11ull * 1000000000ull)
#define HEAL_SECONDS 90.0

typedef struct node {
    char id[48];
    char host[64];
    int port;
    bool primary;
    bool failed;           /* fail or pfail flag */
    char primary_id[48];
    int open_slots;        /* [slot->-id] / [slot-<-id] entries */
} node;

typedef struct view {
    node nodes[SOAK_MAX_NODES];
    int n;
    short owner[SOAK_SLOTS]; /* index in nodes, -1 when unassigned */
} view;

/* The layout found at the start (soak_cluster_snapshot), restored at the end. */
static view g_orig;
/* When the shard of each original node last had a failover (index as in g_orig). */
static uint64_t g_voted[SOAK_MAX_NODES];

/* ---------------------------------------------------------------------------------
 * Talking to one node.
 * ------------------------------------------------------------------------------ */

static redisContext *adm_connect(const soak_ctx *ctx, const char *host, int port)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout(host, port, tv);
    if (c == NULL || c->err) {
        redisFree(c);
        return NULL;
    }
    struct timeval cmd_tv = {10, 0}; /* MIGRATE waits up to 5 s on its own */
    redisSetTimeout(c, cmd_tv);
    if (ctx->password != NULL && *ctx->password != '\0') {
        redisReply *r = redisCommand(c, "AUTH %s", ctx->password);
        bool ok = r != NULL && r->type == REDIS_REPLY_STATUS;
        freeReplyObject(r);
        if (!ok) {
            redisFree(c);
            return NULL;
        }
    }
    return c;
}

/* One command (argv strings) on host:port; the reply (caller frees) or NULL. */
static redisReply *adm_argv(const soak_ctx *ctx, const char *host, int port, int argc,
                            const char **argv)
{
    redisContext *c = adm_connect(ctx, host, port);
    if (c == NULL) return NULL;
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);
    redisFree(c);
    return r;
}

/* A printf-formatted command whose words contain no spaces. */
static redisReply *adm(const soak_ctx *ctx, const node *nd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static redisReply *adm(const soak_ctx *ctx, const node *nd, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    const char *argv[16];
    int argc = 0;
    for (char *save = NULL, *w = strtok_r(line, " ", &save); w && argc < 16;
         w = strtok_r(NULL, " ", &save))
        argv[argc++] = w;
    return adm_argv(ctx, nd->host, nd->port, argc, argv);
}

static bool reply_ok(redisReply *r)
{
    bool ok = r != NULL && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0;
    freeReplyObject(r);
    return ok;
}

/* The text of a bulk reply, copied; NULL otherwise. */
static char *reply_text(redisReply *r)
{
    char *s = NULL;
    if (r != NULL && r->type == REDIS_REPLY_STRING)
        s = strdup(r->str);
    freeReplyObject(r);
    return s;
}

/* ---------------------------------------------------------------------------------
 * The cluster as one node describes it (CLUSTER NODES).
 * ------------------------------------------------------------------------------ */

static int parse_nodes(const char *text, view *v)
{
    memset(v, 0, sizeof *v);
    for (int s = 0; s < SOAK_SLOTS; s++) v->owner[s] = -1;
    const char *p = text;
    while (*p && v->n < SOAK_MAX_NODES) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        char line[4096];
        if (len >= sizeof line) len = sizeof line - 1;
        memcpy(line, p, len);
        line[len] = '\0';
        p = eol ? eol + 1 : p + len;
        char *save = NULL, *f[9 + 1];
        int nf = 0;
        char *w;
        for (w = strtok_r(line, " ", &save); w && nf < 8; w = strtok_r(NULL, " ", &save))
            f[nf++] = w;
        if (nf < 8) continue;
        node *nd = &v->nodes[v->n];
        snprintf(nd->id, sizeof nd->id, "%s", f[0]);
        char *colon = strrchr(f[1], ':');
        if (colon == NULL) continue;
        *colon = '\0';
        snprintf(nd->host, sizeof nd->host, "%s", f[1]);
        nd->port = atoi(colon + 1);
        nd->primary = strstr(f[2], "master") != NULL;
        nd->failed = strstr(f[2], "fail") != NULL;
        snprintf(nd->primary_id, sizeof nd->primary_id, "%s", strcmp(f[3], "-") ? f[3] : "");
        /* Slots follow field 8: "a-b", "a", or "[a->-id]" / "[a-<-id]" when open. */
        for (; w; w = strtok_r(NULL, " ", &save)) {
            if (w[0] == '[') {
                nd->open_slots++;
                continue;
            }
            int a = atoi(w), b = a;
            const char *dash = strchr(w, '-');
            if (dash) b = atoi(dash + 1);
            for (int s = a; s <= b && s >= 0 && s < SOAK_SLOTS; s++) v->owner[s] = (short)v->n;
        }
        v->n++;
    }
    return v->n > 0 ? 0 : -1;
}

static int read_view(const soak_ctx *ctx, const char *host, int port, view *v)
{
    const char *argv[] = {"CLUSTER", "NODES"};
    char *text = reply_text(adm_argv(ctx, host, port, 2, argv));
    if (text == NULL) return -1;
    int rc = parse_nodes(text, v);
    free(text);
    return rc;
}

static int find_id(const view *v, const char *id)
{
    for (int i = 0; i < v->n; i++)
        if (strcmp(v->nodes[i].id, id) == 0) return i;
    return -1;
}

/* 1 when every node of the original layout says cluster_state:ok with every slot
 * assigned, flags no node failed, has no open slot, agrees with the others on every
 * slot's owner and every node's role, and every replica's link is up. */
static int healthy(const soak_ctx *ctx, char *why, size_t n)
{
    static view views[SOAK_MAX_NODES];
    for (int i = 0; i < g_orig.n; i++) {
        const node *nd = &g_orig.nodes[i];
        char *info = reply_text(adm(ctx, nd, "CLUSTER INFO"));
        char want[64];
        snprintf(want, sizeof want, "cluster_known_nodes:%d", g_orig.n);
        bool ok = info && strstr(info, "cluster_state:ok") &&
                  strstr(info, "cluster_slots_assigned:16384") && strstr(info, want);
        free(info);
        if (!ok) {
            snprintf(why, n, "node %d: not cluster_state:ok with all slots and nodes", nd->port);
            return 0;
        }
        if (read_view(ctx, nd->host, nd->port, &views[i]) != 0) {
            snprintf(why, n, "node %d: CLUSTER NODES unreadable", nd->port);
            return 0;
        }
        for (int k = 0; k < views[i].n; k++) {
            const node *m = &views[i].nodes[k];
            if (m->failed || m->open_slots) {
                snprintf(why, n, "node %d sees node %d %s", nd->port, m->port,
                         m->failed ? "failed" : "with open slots");
                return 0;
            }
            int o = find_id(&views[0], m->id);
            if (i > 0 && (o < 0 || views[0].nodes[o].primary != m->primary ||
                          strcmp(views[0].nodes[o].primary_id, m->primary_id) != 0)) {
                snprintf(why, n, "nodes %d and %d disagree about node %d", g_orig.nodes[0].port,
                         nd->port, m->port);
                return 0;
            }
        }
        if (i > 0) {
            for (int s = 0; s < SOAK_SLOTS; s++) {
                const char *a = views[0].owner[s] >= 0 ? views[0].nodes[views[0].owner[s]].id : "";
                const char *b = views[i].owner[s] >= 0 ? views[i].nodes[views[i].owner[s]].id : "";
                if (strcmp(a, b) != 0) {
                    snprintf(why, n, "nodes %d and %d disagree about slot %d", g_orig.nodes[0].port,
                             nd->port, s);
                    return 0;
                }
            }
        }
        int me = find_id(&views[i], nd->id);
        if (me >= 0 && !views[i].nodes[me].primary) {
            char *rep = NULL;
            redisReply *r = adm(ctx, nd, "INFO replication");
            rep = reply_text(r);
            bool up = rep && strstr(rep, "master_link_status:up");
            free(rep);
            if (!up) {
                snprintf(why, n, "replica %d: master link not up", nd->port);
                return 0;
            }
        }
    }
    return 1;
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int wait_healthy(const soak_ctx *ctx, double seconds, char *why, size_t n)
{
    uint64_t deadline = cli_now_ns() + (uint64_t)(seconds * 1e9);
    for (;;) {
        if (healthy(ctx, why, n)) return 1;
        if (cli_now_ns() > deadline) return 0;
        nap_ms(200);
    }
}

int soak_cluster_snapshot(soak_ctx *ctx)
{
    /* The first seed that answers describes the cluster. */
    char seeds[512];
    snprintf(seeds, sizeof seeds, "%s", ctx->seeds);
    for (char *save = NULL, *s = strtok_r(seeds, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
        char *colon = strrchr(s, ':');
        if (colon == NULL) continue;
        *colon = '\0';
        const char *host = s[0] == '[' ? s + 1 : s;
        if (host != s && host[strlen(host) - 1] == ']') s[strlen(s) - 1] = '\0';
        if (read_view(ctx, host, atoi(colon + 1), &g_orig) == 0) break;
    }
    if (g_orig.n == 0) {
        fprintf(stderr, "rcm: soak: no seed of '%s' answered CLUSTER NODES\n", ctx->seeds);
        return -1;
    }
    char why[256];
    if (!wait_healthy(ctx, 60, why, sizeof why)) {
        fprintf(stderr, "rcm: soak: the cluster is not healthy to begin with: %s\n", why);
        return -1;
    }
    return read_view(ctx, g_orig.nodes[0].host, g_orig.nodes[0].port, &g_orig);
}

/* ---------------------------------------------------------------------------------
 * Processes of the harness.
 * ------------------------------------------------------------------------------ */

/* True while pid is a live (not zombie) server whose title names port: the server sets
 * it to "valkey-server 127.0.0.1:<port> [cluster]". */
static bool pid_serves(int pid, int port)
{
    char path[64], buf[512] = {0};
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) return false;
    size_t got = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[got] = '\0';
    const char *rp = strrchr(buf, ')');
    if (rp == NULL || rp[1] != ' ' || rp[2] == 'Z') return false;
    snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
    if ((f = fopen(path, "r")) == NULL) return false;
    got = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    for (size_t i = 0; i < got; i++)
        if (buf[i] == '\0') buf[i] = ' ';
    buf[got] = '\0';
    char want[32];
    snprintf(want, sizeof want, ":%d", port);
    const char *p = strstr(buf, want);
    return p != NULL && (p[strlen(want)] == ' ' || p[strlen(want)] == '\0');
}

static bool port_open(const char *host, int port)
{
    struct timeval tv = {0, 200000};
    redisContext *c = redisConnectWithTimeout(host, port, tv);
    bool open = c != NULL && !c->err;
    redisFree(c);
    return open;
}

static int node_pid(const soak_ctx *ctx, int port)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/cluster/pids", ctx->state_dir);
    FILE *f = fopen(path, "r");
    if (f == NULL) return -1;
    int pid, p, found = -1;
    while (fscanf(f, "%d %d", &pid, &p) == 2)
        if (p == port && pid_serves(pid, port)) found = pid;
    fclose(f);
    return found;
}

/* Starts the node again as the harness did (`rcm_harness.sh cluster-node`: same directory and
 * arguments, so the same nodes.conf and node id); the harness records its PID where its
 * teardown finds it. */
static int node_restart(const soak_ctx *ctx, int port)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "bash '%s' cluster-node %d '%s'", ctx->harness, port, ctx->state_dir);
    FILE *p = popen(cmd, "r");
    if (p == NULL) return -1;
    char line[64] = {0};
    int pid = -1;
    if (fgets(line, sizeof line, p)) pid = atoi(line);
    pclose(p);
    return pid > 0 ? pid : -1;
}

/* ---------------------------------------------------------------------------------
 * Faults.
 * ------------------------------------------------------------------------------ */

static void loss_open(soak_ctx *ctx, const view *v, int primary, int *handle)
{
    soak_loss l = {0};
    l.start_ns = cli_now_ns();
    l.from_ns = l.start_ns > LOSS_LAG_NS ? l.start_ns - LOSS_LAG_NS : 0;
    l.to_ns = UINT64_MAX;
    for (int s = 0; s < SOAK_SLOTS; s++)
        if (v->owner[s] == primary) l.slots[s / 8] |= (unsigned char)(1u << (s % 8));
    pthread_mutex_lock(&ctx->mu);
    if (ctx->nlosses == ctx->cap_losses) {
        int cap = ctx->cap_losses ? ctx->cap_losses * 2 : 16;
        soak_loss *grown = realloc(ctx->losses, (size_t)cap * sizeof *grown);
        if (grown) {
            ctx->losses = grown;
            ctx->cap_losses = cap;
        }
    }
    *handle = -1;
    if (ctx->nlosses < ctx->cap_losses) {
        *handle = ctx->nlosses;
        ctx->losses[ctx->nlosses++] = l;
    }
    pthread_mutex_unlock(&ctx->mu);
}

static void loss_close(soak_ctx *ctx, int handle)
{
    if (handle < 0) return;
    pthread_mutex_lock(&ctx->mu);
    ctx->losses[handle].to_ns = cli_now_ns() + LOSS_LAG_NS;
    pthread_mutex_unlock(&ctx->mu);
}

/* Index in g_orig of the node with this id (the shard bookkeeping is kept there). */
static int orig_index(const char *id) { return find_id(&g_orig, id); }

static bool votable(const view *v, int replica)
{
    int o = orig_index(v->nodes[replica].id);
    int po = orig_index(v->nodes[replica].primary_id);
    uint64_t now = cli_now_ns();
    return o >= 0 && po >= 0 && now - g_voted[o] > VOTE_INTERVAL_NS &&
           now - g_voted[po] > VOTE_INTERVAL_NS;
}

static void note_vote(const view *v, int replica)
{
    int o = orig_index(v->nodes[replica].id), po = orig_index(v->nodes[replica].primary_id);
    uint64_t now = cli_now_ns();
    if (o >= 0) g_voted[o] = now;
    if (po >= 0) g_voted[po] = now;
}

static int replica_of(const view *v, int primary)
{
    for (int i = 0; i < v->n; i++)
        if (!v->nodes[i].primary && strcmp(v->nodes[i].primary_id, v->nodes[primary].id) == 0)
            return i;
    return -1;
}

static bool wait_role_master(const soak_ctx *ctx, const node *nd, double seconds)
{
    uint64_t deadline = cli_now_ns() + (uint64_t)(seconds * 1e9);
    while (cli_now_ns() < deadline) {
        redisReply *r = adm(ctx, nd, "ROLE");
        bool master = r && r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
                      r->element[0]->type == REDIS_REPLY_STRING &&
                      strcmp(r->element[0]->str, "master") == 0;
        freeReplyObject(r);
        if (master) return true;
        nap_ms(100);
    }
    return false;
}

/* CLUSTER FAILOVER on the replica, asked again while the primaries' vote interval
 * refuses it, until it is a primary (at most seconds). */
static bool failover_to(soak_ctx *ctx, const view *v, int replica, double seconds)
{
    uint64_t deadline = cli_now_ns() + (uint64_t)(seconds * 1e9);
    while (cli_now_ns() < deadline) {
        while (!votable(v, replica) && cli_now_ns() < deadline) nap_ms(200);
        freeReplyObject(adm(ctx, &v->nodes[replica], "CLUSTER FAILOVER"));
        bool done = wait_role_master(ctx, &v->nodes[replica], 7);
        note_vote(v, replica);
        if (done) return true;
    }
    return false;
}

static bool fault_kill(soak_ctx *ctx, const view *v, int victim)
{
    const node *nd = &v->nodes[victim];
    int pid = node_pid(ctx, nd->port);
    if (pid <= 0) {
        soak_violation(ctx, "fault: no live harness process for node %d in %s/cluster/pids",
                       nd->port, ctx->state_dir);
        return false;
    }
    int replica = nd->primary ? replica_of(v, victim) : -1;
    int loss = -1;
    if (nd->primary) loss_open(ctx, v, victim, &loss);
    soak_log(ctx, "fault: kill -9 %s %d (pid %d)", nd->primary ? "primary" : "replica",
             nd->port, pid);
    kill(pid, SIGKILL);
    atomic_fetch_add(&ctx->kills, 1);
    bool ok = true;
    if (replica >= 0) {
        /* A primary comes back empty (no persistence): it may rejoin only once its
         * replica has taken over, or it would serve its slots without their keys. */
        if (!wait_role_master(ctx, &v->nodes[replica], 30)) {
            soak_violation(ctx, "fault: replica %d did not take over from killed primary %d "
                                "within 30 s", v->nodes[replica].port, nd->port);
            ok = false;
        }
        note_vote(v, replica);
    }
    /* The process is a zombie before its last thread has closed the sockets: wait until
     * nothing answers on its port and its cluster bus port (the default, +10000). */
    for (int i = 0; i < 500 && (pid_serves(pid, nd->port) || port_open(nd->host, nd->port) ||
                                port_open(nd->host, nd->port + 10000)); i++)
        nap_ms(10);
    int npid = node_restart(ctx, nd->port);
    if (npid <= 0) {
        soak_violation(ctx, "fault: could not restart node %d with %s", nd->port, ctx->harness);
        ok = false;
    } else {
        soak_log(ctx, "heal: node %d restarted (pid %d)", nd->port, npid);
    }
    char why[256];
    if (ok && !wait_healthy(ctx, HEAL_SECONDS, why, sizeof why)) {
        soak_violation(ctx, "fault: the cluster did not heal after killing %d: %s", nd->port, why);
        ok = false;
    }
    loss_close(ctx, loss);
    return ok;
}

static bool fault_stop(soak_ctx *ctx, const view *v, int victim, long ms)
{
    const node *nd = &v->nodes[victim];
    int pid = node_pid(ctx, nd->port);
    if (pid <= 0) {
        soak_violation(ctx, "fault: no live harness process for node %d", nd->port);
        return false;
    }
    /* Stopped past cluster-node-timeout, a primary may be replaced: a lossy fault. */
    int loss = -1, replica = nd->primary && ms >= 4000 ? replica_of(v, victim) : -1;
    if (replica >= 0) loss_open(ctx, v, victim, &loss);
    soak_log(ctx, "fault: SIGSTOP %s %d (pid %d) for %ld ms", nd->primary ? "primary" : "replica",
             nd->port, pid, ms);
    kill(pid, SIGSTOP);
    atomic_fetch_add(&ctx->stops, 1);
    nap_ms(ms);
    kill(pid, SIGCONT);
    if (replica >= 0) note_vote(v, replica);
    soak_log(ctx, "heal: SIGCONT %d", nd->port);
    char why[256];
    bool ok = wait_healthy(ctx, HEAL_SECONDS, why, sizeof why);
    if (!ok) soak_violation(ctx, "fault: the cluster did not heal after stopping %d: %s", nd->port, why);
    loss_close(ctx, loss);
    return ok;
}

static bool fault_failover(soak_ctx *ctx, const view *v, int replica)
{
    soak_log(ctx, "fault: CLUSTER FAILOVER on replica %d", v->nodes[replica].port);
    atomic_fetch_add(&ctx->failovers, 1);
    if (!failover_to(ctx, v, replica, 30)) soak_log(ctx, "fault: failover to %d did not happen", v->nodes[replica].port);
    char why[256];
    bool ok = wait_healthy(ctx, HEAL_SECONDS, why, sizeof why);
    if (!ok) soak_violation(ctx, "fault: the cluster did not heal after a failover: %s", why);
    return ok;
}

/* Moves slot from primary `from` to primary `to`: IMPORTING, MIGRATING, MIGRATE in small
 * batches with pauses (so that requests meet ASK redirects), SETSLOT NODE on the new
 * owner, the old one, then the others. */
static bool move_slot(soak_ctx *ctx, const view *v, int slot, int from, int to, long pause_ms)
{
    const node *src = &v->nodes[from], *dst = &v->nodes[to];
    if (!reply_ok(adm(ctx, dst, "CLUSTER SETSLOT %d IMPORTING %s", slot, src->id)) ||
        !reply_ok(adm(ctx, src, "CLUSTER SETSLOT %d MIGRATING %s", slot, dst->id))) {
        soak_violation(ctx, "fault: could not open slot %d for migration %d -> %d", slot, src->port, dst->port);
        return false;
    }
    uint64_t deadline = cli_now_ns() + 30ull * 1000000000ull;
    for (;;) {
        nap_ms(pause_ms);
        redisReply *keys = adm(ctx, src, "CLUSTER GETKEYSINSLOT %d 4", slot);
        if (keys == NULL || keys->type != REDIS_REPLY_ARRAY) {
            freeReplyObject(keys);
            if (cli_now_ns() > deadline) break;
            continue;
        }
        if (keys->elements == 0) {
            freeReplyObject(keys);
            break;
        }
        char portbuf[16];
        snprintf(portbuf, sizeof portbuf, "%d", dst->port);
        const char *argv[16] = {"MIGRATE", dst->host, portbuf, "", "0", "5000"};
        int argc = 6;
        if (ctx->password && *ctx->password) {
            argv[argc++] = "AUTH";
            argv[argc++] = ctx->password;
        }
        argv[argc++] = "KEYS";
        for (size_t i = 0; i < keys->elements && argc < 16; i++) argv[argc++] = keys->element[i]->str;
        redisReply *r = adm_argv(ctx, src->host, src->port, argc, argv);
        if (ctx->verbose && (r == NULL || r->type == REDIS_REPLY_ERROR))
            soak_log(ctx, "migrate: %s", r ? r->str : "no reply");
        freeReplyObject(r);
        freeReplyObject(keys);
        if (cli_now_ns() > deadline) {
            soak_violation(ctx, "fault: slot %d never emptied on %d", slot, src->port);
            return false;
        }
    }
    bool ok = reply_ok(adm(ctx, dst, "CLUSTER SETSLOT %d NODE %s", slot, dst->id)) &&
              reply_ok(adm(ctx, src, "CLUSTER SETSLOT %d NODE %s", slot, dst->id));
    for (int i = 0; i < v->n && ok; i++)
        if (v->nodes[i].primary && i != from && i != to)
            ok = reply_ok(adm(ctx, &v->nodes[i], "CLUSTER SETSLOT %d NODE %s", slot, dst->id));
    if (!ok) soak_violation(ctx, "fault: SETSLOT %d NODE %d failed", slot, dst->port);
    return ok;
}

static bool fault_migrate(soak_ctx *ctx, const view *v, int slot, int to_pick, long pause_ms)
{
    int from = v->owner[slot];
    int prim[SOAK_MAX_NODES], np = 0;
    for (int i = 0; i < v->n; i++)
        if (v->nodes[i].primary && i != from) prim[np++] = i;
    if (from < 0 || np == 0) return true;
    int to = prim[to_pick % np];
    soak_log(ctx, "fault: migrate slot %d from %d to %d", slot, v->nodes[from].port, v->nodes[to].port);
    atomic_fetch_add(&ctx->migrations, 1);
    bool ok = move_slot(ctx, v, slot, from, to, pause_ms);
    char why[256];
    if (ok && !(ok = wait_healthy(ctx, HEAL_SECONDS, why, sizeof why)))
        soak_violation(ctx, "fault: the cluster did not settle after migrating slot %d: %s", slot, why);
    return ok;
}

enum { F_KILL_REPLICA, F_KILL_PRIMARY, F_STOP, F_STOP_LONG, F_FAILOVER, F_MIGRATE, F_KINDS };

void *soak_fault_main(void *arg)
{
    soak_fault_args *fa = arg;
    soak_ctx *ctx = fa->ctx;
    uint64_t rng = ctx->seed ^ 0x5eedfa17ull;
    bool procs = ctx->state_dir != NULL, restart = procs && ctx->harness != NULL;
    while (!atomic_load(&ctx->stop_workload)) {
        /* Every draw is made whatever is eligible, so a seed gives one schedule. */
        long gap_ms = 500 + (long)(soak_rand(&rng) % 2500);
        int kind = (int)(soak_rand(&rng) % 100);
        uint64_t pick = soak_rand(&rng), pick2 = soak_rand(&rng);
        long stop_ms = 200 + (long)(soak_rand(&rng) % 2300);
        nap_ms(gap_ms);
        /* The last seconds of the run are the workload's, on a settled cluster. */
        if (atomic_load(&ctx->stop_workload) || cli_now_ns() + 3000000000ull > ctx->end_ns) break;
        view v;
        if (read_view(ctx, g_orig.nodes[0].host, g_orig.nodes[0].port, &v) != 0) {
            soak_violation(ctx, "fault: CLUSTER NODES on %d failed", g_orig.nodes[0].port);
            break;
        }
        int f = kind < 15 ? F_KILL_REPLICA : kind < 30 ? F_KILL_PRIMARY : kind < 50 ? F_STOP
              : kind < 58 ? F_STOP_LONG : kind < 75 ? F_FAILOVER : F_MIGRATE;
        int prim[SOAK_MAX_NODES], rep[SOAK_MAX_NODES], np = 0, nr = 0;
        for (int i = 0; i < v.n; i++) {
            if (v.nodes[i].primary) prim[np++] = i;
            else rep[nr++] = i;
        }
        if (np == 0 || nr == 0) break;
        int p = prim[pick % (uint64_t)np], r = rep[pick % (uint64_t)nr];
        int pr = replica_of(&v, p);
        /* What the vote interval or a missing harness rules out falls back to a
         * migration, which needs neither. */
        if ((f == F_KILL_REPLICA || f == F_KILL_PRIMARY) && !restart) f = F_MIGRATE;
        if ((f == F_STOP || f == F_STOP_LONG) && !procs) f = F_MIGRATE;
        if ((f == F_KILL_PRIMARY || f == F_STOP_LONG) && (pr < 0 || !votable(&v, pr))) f = F_MIGRATE;
        if (f == F_FAILOVER && !votable(&v, r)) f = F_MIGRATE;
        if (f == F_MIGRATE && fa->nslots == 0) continue;
        bool ok = true;
        switch (f) {
        case F_KILL_REPLICA: ok = fault_kill(ctx, &v, r); break;
        case F_KILL_PRIMARY: ok = fault_kill(ctx, &v, p); break;
        case F_STOP: ok = fault_stop(ctx, &v, pick2 % 2 ? p : r, stop_ms); break;
        case F_STOP_LONG: ok = fault_stop(ctx, &v, p, 8000); break;
        case F_FAILOVER: ok = fault_failover(ctx, &v, r); break;
        default:
            ok = fault_migrate(ctx, &v, fa->slots[pick2 % (uint64_t)fa->nslots], (int)(pick % 7),
                               stop_ms / 10);
        }
        if (!ok) break;
    }
    return NULL;
}

int soak_cluster_restore(soak_ctx *ctx, double seconds)
{
    char why[256];
    if (!wait_healthy(ctx, seconds, why, sizeof why)) {
        fprintf(stderr, "rcm: soak: the cluster is not healthy at the end: %s\n", why);
        return -1;
    }
    view v;
    /* Roles first: the original primaries become primaries again. */
    for (int i = 0; i < g_orig.n; i++) {
        if (!g_orig.nodes[i].primary) continue;
        if (read_view(ctx, g_orig.nodes[0].host, g_orig.nodes[0].port, &v) != 0) return -1;
        int me = find_id(&v, g_orig.nodes[i].id);
        if (me < 0 || v.nodes[me].primary) continue;
        soak_log(ctx, "restore: node %d becomes a primary again", v.nodes[me].port);
        if (!failover_to(ctx, &v, me, 60) || !wait_healthy(ctx, seconds, why, sizeof why)) {
            fprintf(stderr, "rcm: soak: could not fail back to %d: %s\n", v.nodes[me].port, why);
            return -1;
        }
    }
    /* Then every slot to its original owner. */
    if (read_view(ctx, g_orig.nodes[0].host, g_orig.nodes[0].port, &v) != 0) return -1;
    for (int s = 0; s < SOAK_SLOTS; s++) {
        const char *want = g_orig.owner[s] >= 0 ? g_orig.nodes[g_orig.owner[s]].id : NULL;
        if (want == NULL || v.owner[s] < 0 || strcmp(v.nodes[v.owner[s]].id, want) == 0) continue;
        soak_log(ctx, "restore: slot %d back to %d", s, g_orig.nodes[g_orig.owner[s]].port);
        if (!move_slot(ctx, &v, s, v.owner[s], find_id(&v, want), 0)) return -1;
        if (!wait_healthy(ctx, seconds, why, sizeof why)) {
            fprintf(stderr, "rcm: soak: after moving slot %d back: %s\n", s, why);
            return -1;
        }
        if (read_view(ctx, g_orig.nodes[0].host, g_orig.nodes[0].port, &v) != 0) return -1;
    }
    return wait_healthy(ctx, seconds, why, sizeof why) ? 0 : -1;
}
