/*
 * pubsub_failover.c — `rcm pubsub-bench --failover`: how long an rcm subscriber goes
 * without messages when its server goes away, measured from the moment a server can serve
 * it again to the first message it receives.
 *
 * One rcm subscriber (pull mode, its own thread) wants a channel and a shard channel;
 * raw hiredis publishers send one message to each every --interval-ms (10), each
 * reconnecting on its own when its server goes away, so the publishing side never waits
 * for rcm. Then, --trials times:
 *   standalone: kill -9 of the server (its INFO process_id; loopback only), --restart-cmd
 *     runs; a poller connects and PINGs every millisecond: the mark is the first PONG.
 *   cluster: CLUSTER FAILOVER on a replica of the shard channel's primary (the channel
 *     lives on that primary too: pubsub.node); the mark is the first time the replica's
 *     ROLE says master. Trials alternate the two nodes, so an even count ends as it began.
 * Recovery ("received again") = the first message received after the mark - the mark,
 * per channel kind; but when the longest silence of that kind from the fault to 1 s after
 * the mark is an interruption (INTERRUPTION_MS or more) that ends later, its end: a shard
 * channel may first go on through the demoted primary and stop later. A kind that was
 * never interrupted (a channel on a demoted primary keeps receiving) shows the wait for
 * the next publication. The RCM_MSG_GAP each kind reported is printed too.
 */
#include "pubsub_bench.h"
#include "slotmap.h"

#include <hiredis/hiredis.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char PSF_USAGE[] =
    "usage: rcm [-u URL] [-c key=value...] pubsub-bench --failover [options]\n"
    "\n"
    "A channel and a shard channel get one message each every --interval-ms from raw\n"
    "hiredis publishers; an rcm subscriber (pull mode) wants both. Each trial interrupts\n"
    "the subscriber's server and prints the time from the moment a server serves again\n"
    "until messages are received again (target <= 250 ms): the first message after it, or\n"
    "the end of a silence of 100 ms or more that ends later; and the gap rcm reported.\n"
    "  standalone: kill -9 of the server (found by INFO's process_id; loopback only), then\n"
    "    --restart-cmd; the moment is the restarted server's first PING answered.\n"
    "  cluster (a redis+cluster:// URL or mode=cluster): CLUSTER FAILOVER on a replica of\n"
    "    the shard channel's primary; the moment is the replica's ROLE turning master.\n"
    "\n"
    "options:\n"
    "  --restart-cmd CMD   standalone: a shell command that starts the server again on the\n"
    "                      same port, e.g. 'bash tests/harness/rcm_harness.sh server PORT DIR'\n"
    "  --trials T          interruptions (default 2)\n"
    "  --interval-ms I     publication interval per channel (default 10)\n"
    "  --settle-ms S       steady publishing before each trial (default 1000)\n"
    "  --verbose           print each RCM_MSG_GAP as it comes\n"
    "\n"
    "Exit status: 0 when every trial recovered both kinds within 30 s (the target is\n"
    "reported, not enforced), 1 otherwise, 2 for bad usage.\n";

enum { K_CHANNEL, K_SHARD, K_KINDS, RING = 8192 };
/* A silence this long (ten intervals at the default) is an interruption, not a hiccup of a
 * loaded machine (up to about 50 ms seen with the load average at 9). */
enum { INTERRUPTION_MS = 100 };
static const char *const KIND_NAME[K_KINDS] = {"channel", "shard channel"};

static struct psf {
    cli_target srv;
    bool cluster;
    const char *restart_cmd;
    int trials, interval_ms, settle_ms;
    char name[K_KINDS][64];
    _Atomic bool stop;
    _Atomic bool stop_pollers;        /* a trial gave up on its poller */
    bool verbose;                     /* print every gap message as it comes */
    uint64_t t0;                      /* start (CLOCK_MONOTONIC ns) */
    /* The receiver's record, under mu: the receive times of the last RING messages. */
    pthread_mutex_t mu;
    uint64_t rx[K_KINDS][RING];
    long long received[K_KINDS];
    long long gaps[K_KINDS];          /* RCM_MSG_GAP messages */
    long long last_gap_ms[K_KINDS];   /* gap_to - gap_from of the last one */
    uint64_t last_gap_rx[K_KINDS];    /* when it came (CLOCK_MONOTONIC ns) */
} F = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void sleep_ms(int ms) { nanosleep(&(struct timespec){ms / 1000, (long)(ms % 1000) * 1000000L}, NULL); }

/* ---------------------------------------------------------------------------------
 * Publishers: one thread per (node, command), reconnecting on any failure.
 * ------------------------------------------------------------------------------ */

typedef struct publisher {
    char host[256];
    int port;
    const char *cmd;  /* "PUBLISH" or "SPUBLISH" */
    int kind;
    pthread_t thread;
    long long accepted; /* integer replies (a MOVED from a demoted primary is not) */
} publisher;

static void *publisher_main(void *arg)
{
    publisher *p = arg;
    redisContext *c = NULL;
    char payload[PSB_SEQ_DIGITS];
    uint64_t t0 = cli_now_ns();
    long long seq = 0;
    char err[200];
    while (!atomic_load(&F.stop)) {
        if (c == NULL) {
            c = cli_target_connect(&F.srv, p->host, p->port, err, sizeof err);
            if (c) redisSetTimeout(c, (struct timeval){0, 200000}); /* a paused node: retry */
        }
        if (c) {
            psb_put_seq(payload, seq);
            redisReply *r = redisCommand(c, "%s %b %b", p->cmd, F.name[p->kind], strlen(F.name[p->kind]),
                                         payload, sizeof payload);
            if (r == NULL) {
                redisFree(c);
                c = NULL;
            } else {
                if (r->type == REDIS_REPLY_INTEGER) p->accepted++;
                freeReplyObject(r);
            }
        }
        seq++;
        /* The next tick on the fixed grid, whatever the call took. */
        uint64_t next = t0 + (uint64_t)seq * (uint64_t)F.interval_ms * 1000000ull, now = cli_now_ns();
        if (next > now) nanosleep(&(struct timespec){(time_t)((next - now) / 1000000000ull),
                                                      (long)((next - now) % 1000000000ull)}, NULL);
    }
    if (c) redisFree(c);
    return NULL;
}

/* ---------------------------------------------------------------------------------
 * The rcm subscriber's thread.
 * ------------------------------------------------------------------------------ */

static void *receiver_main(void *arg)
{
    rcm_subscriber *sub = arg;
    while (!atomic_load(&F.stop)) {
        rcm_message *m = NULL;
        rcm_status st = rcm_subscriber_next(sub, 50, &m);
        if (st == RCM_ERR_TIMEOUT) continue;
        if (st != RCM_OK) break;
        uint64_t now = cli_now_ns();
        int k = m->kind == RCM_SUB_SHARD ? K_SHARD : K_CHANNEL;
        pthread_mutex_lock(&F.mu);
        if (m->type == RCM_MSG_MESSAGE) {
            F.rx[k][F.received[k]++ % RING] = now;
        } else if (m->type == RCM_MSG_GAP) {
            if (F.verbose)
                printf("  [%.3f s] RCM_MSG_GAP %s %.*s on %s: %lld ms wide\n", (double)(now - F.t0) / 1e9,
                       KIND_NAME[k], (int)m->channel_len, m->channel, m->node ? m->node : "?",
                       m->gap_to_ms - m->gap_from_ms);
            F.gaps[k]++;
            F.last_gap_ms[k] = m->gap_to_ms - m->gap_from_ms;
            F.last_gap_rx[k] = now;
        }
        pthread_mutex_unlock(&F.mu);
        rcm_message_free(m);
    }
    return NULL;
}

/* ---------------------------------------------------------------------------------
 * Marks: a restarted server's first PONG; a replica's promotion.
 * ------------------------------------------------------------------------------ */

typedef struct poller {
    char host[256];
    int port;
    bool promotion;          /* ROLE == master, else PING answered */
    pthread_t thread;
    _Atomic uint64_t mark;   /* 0 until seen */
} poller;

static bool poll_once(poller *p, redisContext **c)
{
    char err[200];
    if (*c == NULL) {
        *c = cli_target_connect(&F.srv, p->host, p->port, err, sizeof err);
        if (*c == NULL) return false;
        redisSetTimeout(*c, (struct timeval){0, 200000});
    }
    redisReply *r = redisCommand(*c, p->promotion ? "ROLE" : "PING");
    bool ok = false;
    if (r == NULL) {
        redisFree(*c);
        *c = NULL;
    } else if (p->promotion) {
        ok = r->type == REDIS_REPLY_ARRAY && r->elements > 0 && r->element[0]->type == REDIS_REPLY_STRING &&
             strcmp(r->element[0]->str, "master") == 0;
    } else {
        ok = r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
    }
    if (r) freeReplyObject(r);
    return ok;
}

static void *poller_main(void *arg)
{
    poller *p = arg;
    redisContext *c = NULL;
    uint64_t deadline = cli_now_ns() + 60ull * 1000000000ull;
    while (!atomic_load(&F.stop) && !atomic_load(&F.stop_pollers) && cli_now_ns() < deadline) {
        if (poll_once(p, &c)) {
            atomic_store(&p->mark, cli_now_ns());
            break;
        }
        sleep_ms(1);
    }
    if (c) redisFree(c);
    return NULL;
}

/* ---------------------------------------------------------------------------------
 * The cluster: the shard channel's primary and one of its replicas.
 * ------------------------------------------------------------------------------ */

typedef struct node_addr {
    char host[256];
    int port;
} node_addr;

/* The replica of primary pri that CLUSTER NODES (asked of pri) lists first, connected. */
static bool find_replica(const node_addr *pri, node_addr *rep, char *err, size_t errcap)
{
    redisContext *c = cli_target_connect(&F.srv, pri->host, pri->port, err, errcap);
    if (c == NULL) return false;
    redisReply *id = redisCommand(c, "CLUSTER MYID");
    redisReply *nodes = redisCommand(c, "CLUSTER NODES");
    bool found = false;
    if (id && id->type == REDIS_REPLY_STRING && nodes && nodes->type == REDIS_REPLY_STRING) {
        /* <id> <ip:port@bus> <flags> <primary id> ... one line per node */
        char *save = NULL;
        for (char *line = strtok_r(nodes->str, "\n", &save); line && !found; line = strtok_r(NULL, "\n", &save)) {
            char nid[64], addr[300], flags[200], master[64];
            if (sscanf(line, "%63s %299s %199s %63s", nid, addr, flags, master) != 4) continue;
            if (strcmp(master, id->str) != 0 || strstr(flags, "fail") || !strstr(flags, "slave")) continue;
            char *at = strchr(addr, '@');
            if (at) *at = '\0';
            char *colon = strrchr(addr, ':');
            if (!colon) continue;
            *colon = '\0';
            snprintf(rep->host, sizeof rep->host, "%.255s", addr[0] ? addr : pri->host);
            rep->port = atoi(colon + 1);
            found = true;
        }
    }
    if (!found) snprintf(err, errcap, "no healthy replica of %.64s:%d in its CLUSTER NODES", pri->host, pri->port);
    if (id) freeReplyObject(id);
    if (nodes) freeReplyObject(nodes);
    redisFree(c);
    return found;
}

/* ---------------------------------------------------------------------------------
 * One trial.
 * ------------------------------------------------------------------------------ */

static long long server_pid(void)
{
    char err[200];
    redisContext *c = cli_target_connect(&F.srv, F.srv.host, F.srv.port, err, sizeof err);
    if (c == NULL) return -1;
    redisReply *r = redisCommand(c, "INFO server");
    long long pid = -1;
    if (r && r->type == REDIS_REPLY_STRING) {
        const char *p = strstr(r->str, "process_id:");
        if (p) pid = atoll(p + 11);
    }
    if (r) freeReplyObject(r);
    redisFree(c);
    return pid;
}

static double ms_since(uint64_t from, uint64_t to) { return ((double)to - (double)from) / 1e6; }

/* Interrupts the server, returns the mark (0: none came) and prints what happened. */
static uint64_t interrupt(int trial, node_addr *pri, node_addr *rep, uint64_t *fault)
{
    poller p = {.port = 0};
    uint64_t t_fault = cli_now_ns();
    *fault = t_fault;
    atomic_store(&F.stop_pollers, false);
    if (!F.cluster) {
        long long pid = server_pid();
        if (pid <= 0) {
            printf("trial %d: no process_id from INFO server\n", trial);
            return 0;
        }
        snprintf(p.host, sizeof p.host, "%s", F.srv.host);
        p.port = F.srv.port;
        kill((pid_t)pid, SIGKILL);
        *fault = t_fault = cli_now_ns();
        sleep_ms(20); /* a PING must not reach the dying server */
        if (pthread_create(&p.thread, NULL, poller_main, &p) != 0) return 0;
        int rc = system(F.restart_cmd);
        printf("trial %d: kill -9 %lld; --restart-cmd exited %d after %.0f ms\n", trial, pid,
               WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, ms_since(t_fault, cli_now_ns()));
    } else {
        snprintf(p.host, sizeof p.host, "%s", rep->host);
        p.port = rep->port;
        p.promotion = true;
        if (pthread_create(&p.thread, NULL, poller_main, &p) != 0) return 0;
        /* The primaries refuse a second vote for a shard within twice the node timeout:
         * asked again every 7 s (as rcm soak does) until the replica is promoted. */
        for (int attempt = 1; attempt <= 8 && !atomic_load(&p.mark); attempt++) {
            char err[200];
            redisContext *c = cli_target_connect(&F.srv, rep->host, rep->port, err, sizeof err);
            redisReply *r = c ? redisCommand(c, "CLUSTER FAILOVER") : NULL;
            *fault = t_fault = cli_now_ns();
            printf("trial %d: CLUSTER FAILOVER on %s:%d (replica of %s:%d)%s: %s\n", trial, rep->host, rep->port,
                   pri->host, pri->port, attempt > 1 ? ", again" : "",
                   r && r->type == REDIS_REPLY_STATUS ? "OK" : r && r->str ? r->str : c ? c->errstr : err);
            if (r) freeReplyObject(r);
            if (c) redisFree(c);
            for (int i = 0; i < 700 && !atomic_load(&p.mark); i++) sleep_ms(10);
        }
        atomic_store(&F.stop_pollers, true);
    }
    pthread_join(p.thread, NULL);
    uint64_t mark = atomic_load(&p.mark);
    if (mark) printf("  %s %.1f ms after the fault (at %.3f s)\n", F.cluster ? "promoted" : "first PING answered",
                     ms_since(t_fault, mark), (double)(mark - F.t0) / 1e9);
    if (F.cluster) { /* the next trial fails back */
        node_addr t = *pri;
        *pri = *rep;
        *rep = t;
    }
    return mark;
}

/* The first message of kind k received after t (under F.mu); 0 when none is yet. */
static uint64_t first_after(int k, uint64_t t)
{
    uint64_t first = 0;
    long long n = F.received[k], lo = n > RING ? n - RING : 0;
    for (long long i = n - 1; i >= lo && F.rx[k][i % RING] > t; i--) first = F.rx[k][i % RING];
    return first;
}

/* The longest stretch without a message of kind k that ends after t (under F.mu): the
 * interruption as the subscriber saw it, whichever link the messages came through. */
static uint64_t longest_silence(int k, uint64_t t, uint64_t now, uint64_t *from)
{
    uint64_t worst = 0, prev = 0;
    long long n = F.received[k], lo = n > RING ? n - RING : 0;
    *from = 0;
    for (long long i = lo; i <= n; i++) {
        uint64_t at = i < n ? F.rx[k][i % RING] : now; /* the silence up to now counts too */
        if (prev && at > t && at - prev > worst) {
            worst = at - prev;
            *from = prev;
        }
        prev = at;
    }
    return worst;
}

/* Waits for the first message of each kind after the mark; prints the recovery times. */
static bool recover(uint64_t fault, uint64_t mark, double ms[K_KINDS], double silence_ms[K_KINDS])
{
    uint64_t deadline = mark + 30ull * 1000000000ull;
    bool all = false;
    while (!all && cli_now_ns() < deadline) {
        sleep_ms(5);
        pthread_mutex_lock(&F.mu);
        all = first_after(K_CHANNEL, mark) && first_after(K_SHARD, mark);
        pthread_mutex_unlock(&F.mu);
    }
    /* A gap message, or a late interruption (a shard channel first still served by the
     * demoted primary), may follow the first message: watch one more second. */
    uint64_t until = mark + 1000000000ull;
    if (cli_now_ns() < until) sleep_ms((int)((until - cli_now_ns()) / 1000000ull));
    sleep_ms(200);
    pthread_mutex_lock(&F.mu);
    uint64_t now = cli_now_ns();
    for (int k = 0; k < K_KINDS; k++) {
        uint64_t first = first_after(k, mark);
        uint64_t from, silence = longest_silence(k, fault, now, &from);
        silence_ms[k] = (double)silence / 1e6;
        /* Received again: the first message after the mark, or, when a real interruption
         * (INTERRUPTION_MS or more without a message) ended after it, the end of that. */
        double first_ms = first ? ms_since(mark, first) : -1, end_ms = ms_since(mark, from + silence);
        ms[k] = first_ms >= 0 && silence_ms[k] >= INTERRUPTION_MS && end_ms > first_ms ? end_ms : first_ms;
        if (first)
            printf("  %-13s received again %7.1f ms after it", KIND_NAME[k], ms[k]);
        else
            printf("  %-13s no message within 30 s", KIND_NAME[k]);
        if (F.last_gap_rx[k] > fault)
            printf("; gap reported %.1f ms after it, %lld ms wide", ms_since(mark, F.last_gap_rx[k]),
                   F.last_gap_ms[k]);
        else
            printf("; no gap reported");
        printf(" (%s)\n", ms[k] >= 0 && ms[k] <= 250 ? "<= 250 ms: ok" : "target <= 250 ms: MISS");
        printf("  %-13s first message %.1f ms after it; longest silence %.1f ms (from %+.1f to %+.1f ms of "
               "it)\n", "", first_ms, silence_ms[k], ms_since(mark, from), end_ms);
    }
    pthread_mutex_unlock(&F.mu);
    return ms[K_CHANNEL] >= 0 && ms[K_SHARD] >= 0;
}

/* ---------------------------------------------------------------------------------
 * rcm pubsub-bench --failover
 * ------------------------------------------------------------------------------ */

static int parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long long v;
        if (strcmp(a, "--failover") == 0) continue;
        if (strcmp(a, "--verbose") == 0) {
            F.verbose = true;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(PSF_USAGE, stdout);
            return -1;
        }
        bool cmd = strcmp(a, "--restart-cmd") == 0, trials = strcmp(a, "--trials") == 0,
             interval = strcmp(a, "--interval-ms") == 0, settle = strcmp(a, "--settle-ms") == 0;
        if (!cmd && !trials && !interval && !settle)
            return cli_usage_error("pubsub-bench --failover: unknown option '%s'", cli_option_name(a));
        if (i + 1 >= argc) return cli_usage_error("pubsub-bench --failover: %s needs a value", a);
        const char *val = argv[++i];
        if (cmd) F.restart_cmd = val;
        else if (trials && cli_parse_long(val, 1, 100, &v)) F.trials = (int)v;
        else if (interval && cli_parse_long(val, 1, 10000, &v)) F.interval_ms = (int)v;
        else if (settle && cli_parse_long(val, 0, 600000, &v)) F.settle_ms = (int)v;
        else return cli_usage_error("pubsub-bench --failover: %s takes a number in range (see --help)", a);
    }
    return CLI_EXIT_OK;
}

static bool loopback(const char *host)
{
    return strcmp(host, "127.0.0.1") == 0 || strcmp(host, "localhost") == 0 || strcmp(host, "::1") == 0;
}

int psb_failover(const cli_opts *opts, const cli_target *target, int argc, char **argv)
{
    F.srv = *target;
    F.trials = 2;
    F.interval_ms = 10;
    F.settle_ms = 1000;
    F.t0 = cli_now_ns();
    int rc = parse_args(argc, argv);
    if (rc != CLI_EXIT_OK) return rc < 0 ? CLI_EXIT_OK : rc;
    F.cluster = strcmp(F.srv.mode, "cluster") == 0;
    if (F.srv.tls) return cli_usage_error("pubsub-bench --failover: the hiredis side does not do TLS");
    if (!F.cluster && !F.restart_cmd)
        return cli_usage_error("pubsub-bench --failover: a standalone server needs --restart-cmd");
    if (!F.cluster && !loopback(F.srv.host))
        return cli_usage_error("pubsub-bench --failover: it kills the server: loopback servers only");
    int pid = (int)getpid();
    snprintf(F.name[K_CHANNEL], sizeof F.name[0], "rcm:psf:%d:channel", pid);
    snprintf(F.name[K_SHARD], sizeof F.name[0], "rcm:psf:%d:shard", pid);

    /* Cluster: the shard channel's primary and a replica; the channel lives there too. */
    node_addr pri = {.port = F.srv.port}, rep = {.port = 0}, other = {.port = F.srv.port};
    snprintf(pri.host, sizeof pri.host, "%s", F.srv.host);
    snprintf(other.host, sizeof other.host, "%s", F.srv.host);
    char err[240] = "", pubsub_node[300] = "";
    cli_opts copts = *opts;
    cli_setting *settings = calloc(opts->nsettings + 1, sizeof *settings);
    if (settings == NULL) return CLI_EXIT_FAIL;
    memcpy(settings, opts->settings, opts->nsettings * sizeof *settings);
    copts.settings = settings;
    if (F.cluster) {
        static slotmap map;
        redisContext *seed = cli_target_connect(&F.srv, F.srv.host, F.srv.port, err, sizeof err);
        bool ok = seed && slotmap_fetch(seed, F.srv.host, &map, err, sizeof err);
        if (seed) redisFree(seed);
        unsigned owner = ok ? map.owner[slot_of_key(F.name[K_SHARD], strlen(F.name[K_SHARD]))] : 0xff;
        if (ok && owner == 0xff) {
            snprintf(err, sizeof err, "the shard channel's slot has no owner");
            ok = false;
        }
        if (ok) {
            snprintf(pri.host, sizeof pri.host, "%s", map.node[owner].host);
            pri.port = map.node[owner].port;
            const slotmap_node *o = &map.node[(owner + 1) % (unsigned)map.nnodes];
            snprintf(other.host, sizeof other.host, "%s", o->host);
            other.port = o->port;
            ok = find_replica(&pri, &rep, err, sizeof err);
        }
        if (!ok) {
            fprintf(stderr, "rcm: pubsub-bench --failover: %s\n", err);
            free(settings);
            return CLI_EXIT_FAIL;
        }
        snprintf(pubsub_node, sizeof pubsub_node, "%s:%d", pri.host, pri.port);
        settings[copts.nsettings++] = (cli_setting){"pubsub.node", pubsub_node};
    }
    rcm_client *client = NULL;
    rcm_subscriber *sub = NULL;
    rc = cli_open(&copts, NULL, NULL, &client);
    free(settings);
    if (rc != CLI_EXIT_OK) return rc;

    publisher pubs[3];
    int npubs = 0;
    pthread_t receiver;
    bool receiving = false;
    const char *names[K_KINDS] = {F.name[K_CHANNEL], F.name[K_SHARD]};
    rcm_status st = rcm_subscriber_open(client, NULL, NULL, &sub);
    if (st == RCM_OK) st = rcm_subscribe(sub, RCM_SUB_CHANNEL, 1, &names[K_CHANNEL], NULL);
    if (st == RCM_OK) st = rcm_subscribe(sub, RCM_SUB_SHARD, 1, &names[K_SHARD], NULL);
    if (st != RCM_OK) {
        rc = cli_fail("subscribe", st);
        goto out;
    }
    atomic_store(&F.stop, false);
    receiving = pthread_create(&receiver, NULL, receiver_main, sub) == 0;
    /* Channel messages from a node the trials leave alone (any node, cluster-wide);
     * shard messages to the primary and, once promoted, the replica. */
    pubs[npubs++] = (publisher){.port = other.port, .cmd = "PUBLISH", .kind = K_CHANNEL};
    snprintf(pubs[0].host, sizeof pubs[0].host, "%s", other.host);
    pubs[npubs++] = (publisher){.port = pri.port, .cmd = "SPUBLISH", .kind = K_SHARD};
    snprintf(pubs[1].host, sizeof pubs[1].host, "%s", pri.host);
    if (F.cluster) {
        pubs[npubs++] = (publisher){.port = rep.port, .cmd = "SPUBLISH", .kind = K_SHARD};
        snprintf(pubs[2].host, sizeof pubs[2].host, "%s", rep.host);
    }
    for (int i = 0; i < npubs; i++)
        if (pthread_create(&pubs[i].thread, NULL, publisher_main, &pubs[i]) != 0) {
            npubs = i;
            rc = CLI_EXIT_FAIL;
            goto out;
        }

    printf("rcm pubsub-bench --failover: %s; %s and %s, one message each every %d ms; %d trials\n",
           F.cluster ? "cluster" : "standalone", F.name[K_CHANNEL], F.name[K_SHARD], F.interval_ms, F.trials);
    if (F.cluster)
        printf("shard channel on %s:%d (replica %s:%d), channel subscribed there too (pubsub.node), "
               "published on %s:%d\n", pri.host, pri.port, rep.host, rep.port, other.host, other.port);
    double worst[K_KINDS] = {0, 0}, worst_silence[K_KINDS] = {0, 0};
    for (int t = 1; t <= F.trials; t++) {
        sleep_ms(F.settle_ms);
        pthread_mutex_lock(&F.mu);
        long long got[K_KINDS] = {F.received[K_CHANNEL], F.received[K_SHARD]};
        pthread_mutex_unlock(&F.mu);
        if (got[K_CHANNEL] == 0 || got[K_SHARD] == 0) {
            printf("trial %d: not receiving before the fault (channel %lld, shard %lld messages so far)\n", t,
                   got[K_CHANNEL], got[K_SHARD]);
            rc = CLI_EXIT_FAIL;
            break;
        }
        uint64_t fault = 0, mark = interrupt(t, &pri, &rep, &fault);
        if (mark == 0) {
            printf("  the server did not come back within 60 s\n");
            rc = CLI_EXIT_FAIL;
            break;
        }
        double ms[K_KINDS], silence[K_KINDS];
        if (!recover(fault, mark, ms, silence)) rc = CLI_EXIT_FAIL;
        for (int k = 0; k < K_KINDS; k++) {
            if (ms[k] > worst[k]) worst[k] = ms[k];
            if (silence[k] > worst_silence[k]) worst_silence[k] = silence[k];
        }
    }
    pthread_mutex_lock(&F.mu);
    printf("\nworst over the trials: channel %.1f ms, shard channel %.1f ms (target <= 250 ms: %s); "
           "longest silences %.1f and %.1f ms; received %lld + %lld messages, %lld + %lld gap reports\n",
           worst[K_CHANNEL], worst[K_SHARD], worst[K_CHANNEL] <= 250 && worst[K_SHARD] <= 250 ? "ok" : "MISS",
           worst_silence[K_CHANNEL], worst_silence[K_SHARD], F.received[K_CHANNEL], F.received[K_SHARD],
           F.gaps[K_CHANNEL], F.gaps[K_SHARD]);
    pthread_mutex_unlock(&F.mu);
    printf("recovery: first message received after the mark (%s) minus the mark; the publishers\n"
           "  reconnect on their own every %d ms, so up to one interval is the publishing side's.\n",
           F.cluster ? "the replica's ROLE turning master" : "the restarted server's first PONG", F.interval_ms);

out:
    atomic_store(&F.stop, true);
    for (int i = 0; i < npubs; i++) pthread_join(pubs[i].thread, NULL);
    if (receiving) pthread_join(receiver, NULL);
    rcm_subscriber_close(sub);
    rcm_client_close(client);
    return rc;
}
