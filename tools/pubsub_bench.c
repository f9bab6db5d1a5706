/*
 * pubsub_bench.c — `rcm pubsub-bench`: messages per second delivered to an rcm subscriber
 * against a raw hiredis subscriber, the same publisher on the same server in one run, and
 * the client CPU each spends per message. `--failover` is pubsub_failover.c.
 *
 * One publisher thread (a raw hiredis context pipelining PUBLISH in batches) feeds one
 * receiver at a time; the receivers take turns on the same channels, in --rounds
 * alternating slices so that drift of the machine falls on all of them:
 *   hiredis      redisGetReply in a loop on a SUBSCRIBEd blocking redisContext
 *   rcm pull     rcm_subscriber_next(sub, timeout) in a loop (a NULL callback)
 *   rcm fd       poll() on rcm_subscriber_fd, then rcm_subscriber_next(sub, 0) until empty
 *                (what an event loop does)
 *   rcm callback the message callback on rcm's delivery thread
 * The publisher stays at most --window messages ahead of what the receiver has taken, so
 * neither the server's output buffer nor rcm's pubsub.max_pending overflows: the rate is
 * the receiver's (or the publisher's and server's, whichever is slower, the same for all).
 *
 * CPU per message: the process's CPU (getrusage RUSAGE_SELF, every thread: rcm's I/O and
 * delivery threads included) minus the publisher thread's own (RUSAGE_THREAD), over the
 * round; also the receiving thread's alone (RUSAGE_THREAD), which for rcm leaves out the
 * I/O thread's share.
 */
#include "pubsub_bench.h"

#include <hiredis/hiredis.h>

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static const char PSB_USAGE[] =
    "usage: rcm [-u URL] [-c key=value...] pubsub-bench [options]\n"
    "       rcm [-u URL] [-c key=value...] pubsub-bench --failover [options] (--failover --help)\n"
    "\n"
    "Messages per second delivered, and client CPU per message, of rcm subscribers\n"
    "(pull: rcm_subscriber_next; fd: poll on rcm_subscriber_fd then rcm_subscriber_next(0);\n"
    "callback) against a raw hiredis subscriber (redisGetReply on a SUBSCRIBEd context),\n"
    "one at a time on the same channels, fed by the same raw hiredis publisher (PUBLISH\n"
    "pipelined in batches) on the same standalone server.\n"
    "\n"
    "options:\n"
    "  --messages N      messages per receiver, all rounds together (default 200000)\n"
    "  --size B          payload bytes, >= 10 (default 16); the payload starts with its\n"
    "                    sequence number, so loss and reordering are counted\n"
    "  --channels K      channels rcm:psb:<pid>:0..K-1, published to in turn (default 1)\n"
    "  --pattern         subscribe to the pattern rcm:psb:<pid>:* instead of the channels\n"
    "  --rounds R        alternating slices (default 3)\n"
    "  --window W        most messages the publisher is ahead of the receiver (default 5000)\n"
    "  --batch B         PUBLISH commands per pipelined batch (default 128)\n"
    "  --only LIST       rcm receivers to run: pull,fd,callback (default all; hiredis always)\n"
    "\n"
    "Exit status: 0 when every receiver got every message in order (the targets are\n"
    "reported, not enforced), 1 otherwise or on a failure, 2 for bad usage.\n";

enum { RECV_HIREDIS, RECV_PULL, RECV_FD, RECV_CALLBACK, RECV_KINDS };
static const char *const RECV_NAME[RECV_KINDS] = {"hiredis subscriber", "rcm pull (next)",
                                                  "rcm fd (poll + next 0)", "rcm callback"};

typedef struct psb_cfg {
    long long messages;
    int size, channels, rounds, batch;
    long long window;
    bool pattern;
    unsigned only; /* bits of RECV_* (hiredis always) */
    cli_target srv;
    char names[64][64]; /* channels, or the pattern in [0] */
    size_t lens[64];
    int nnames;
} psb_cfg;

static psb_cfg C;

/* ---------------------------------------------------------------------------------
 * Shared helpers (pubsub_bench.h).
 * ------------------------------------------------------------------------------ */

void psb_put_seq(char *p, long long seq)
{
    for (int i = PSB_SEQ_DIGITS - 1; i >= 0; i--) {
        p[i] = (char)('0' + seq % 10);
        seq /= 10;
    }
}

long long psb_get_seq(const char *p, size_t len)
{
    if (p == NULL || len < PSB_SEQ_DIGITS) return -1;
    long long v = 0;
    for (int i = 0; i < PSB_SEQ_DIGITS; i++) {
        if (p[i] < '0' || p[i] > '9') return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

static double ru_s(const struct rusage *ru)
{
    return (double)ru->ru_utime.tv_sec + (double)ru->ru_utime.tv_usec / 1e6 +
           (double)ru->ru_stime.tv_sec + (double)ru->ru_stime.tv_usec / 1e6;
}

double psb_thread_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return ru_s(&ru);
}

double psb_process_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru_s(&ru);
}

/* ---------------------------------------------------------------------------------
 * One round: the receiver's progress, shared with the publisher.
 * ------------------------------------------------------------------------------ */

static struct round_state {
    long long n;                  /* messages this round: sequence 0..n-1 */
    _Atomic long long progress;   /* next sequence the receiver expects */
    _Atomic bool stop;            /* the receiver gave up: the publisher stops */
    /* the receiver's own, read once it is done */
    long long got, lost, disorder, dropped;
    uint64_t t_end;
    double recv_cpu0, recv_cpu1;  /* receiving thread, first and last message */
    bool recv_cpu_set;
    /* callback mode: the callback thread signals the waiting main thread */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    _Atomic int subscribed;       /* RCM_MSG_SUBSCRIBED seen (callback mode) */
} S = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void round_reset(long long n)
{
    S.n = n;
    atomic_store(&S.progress, 0);
    atomic_store(&S.stop, false);
    S.got = S.lost = S.disorder = S.dropped = 0;
    S.t_end = 0;
    S.recv_cpu_set = false;
    S.done = false;
    atomic_store(&S.subscribed, 0);
}

/* One payload received. Returns true once the round's last sequence has come. */
static inline bool on_payload(const char *p, size_t len)
{
    if (!S.recv_cpu_set) {
        S.recv_cpu0 = psb_thread_cpu_s();
        S.recv_cpu_set = true;
    }
    long long seq = psb_get_seq(p, len);
    long long want = atomic_load_explicit(&S.progress, memory_order_relaxed);
    S.got++;
    if (seq == want) {
        want++;
    } else if (seq > want) {
        S.lost += seq - want;
        want = seq + 1;
    } else {
        S.disorder++;
    }
    atomic_store_explicit(&S.progress, want, memory_order_release);
    if (want < S.n) return false;
    S.t_end = cli_now_ns();
    S.recv_cpu1 = psb_thread_cpu_s();
    return true;
}

/* ---------------------------------------------------------------------------------
 * The publisher thread.
 * ------------------------------------------------------------------------------ */

typedef struct pub_job {
    redisContext *c;
    double cpu_s;                  /* its own thread's CPU over the round */
    long long errors, not_one;     /* error replies; PUBLISH answers other than 1 receiver */
    char err[200];
} pub_job;

static void *publisher_main(void *arg)
{
    pub_job *j = arg;
    double cpu0 = psb_thread_cpu_s();
    const char *argv[3] = {"PUBLISH", NULL, NULL};
    size_t lens[3] = {7, 0, (size_t)C.size};
    char *payload = malloc((size_t)C.size);
    if (payload == NULL) {
        snprintf(j->err, sizeof j->err, "out of memory");
        atomic_store(&S.stop, true);
        return NULL;
    }
    memset(payload, 'x', (size_t)C.size);
    argv[2] = payload;
    /* With a pattern, names[0] is the pattern and names[1..] the channels it covers. */
    int first = C.pattern ? 1 : 0;
    int nch = C.pattern ? C.nnames - 1 : C.nnames;
    long long sent = 0;
    while (sent < S.n && !atomic_load(&S.stop)) {
        long long b = S.n - sent < C.batch ? S.n - sent : C.batch;
        /* Wait (briefly sleeping) until the receiver is within the window. */
        while (sent + b - atomic_load_explicit(&S.progress, memory_order_acquire) > C.window &&
               !atomic_load(&S.stop))
            nanosleep(&(struct timespec){0, 20000}, NULL);
        for (long long i = 0; i < b; i++) {
            long long seq = sent + i;
            int ch = first + (int)(seq % nch);
            argv[1] = C.names[ch];
            lens[1] = C.lens[ch];
            psb_put_seq(payload, seq);
            redisAppendCommandArgv(j->c, 3, argv, lens); /* formats (copies) at once */
        }
        for (long long i = 0; i < b; i++) {
            redisReply *r = NULL;
            if (redisGetReply(j->c, (void **)&r) != REDIS_OK || r == NULL) {
                snprintf(j->err, sizeof j->err, "publisher: %s", j->c->errstr);
                atomic_store(&S.stop, true);
                break;
            }
            if (r->type != REDIS_REPLY_INTEGER) j->errors++;
            else if (r->integer != 1) j->not_one++;
            freeReplyObject(r);
        }
        sent += b;
    }
    free(payload);
    j->cpu_s = psb_thread_cpu_s() - cpu0;
    return NULL;
}

/* ---------------------------------------------------------------------------------
 * Receivers. Each subscribes, waits until the server counts exactly one subscriber,
 * starts the publisher, takes messages until the last sequence or 3 s of silence.
 * ------------------------------------------------------------------------------ */

enum { IDLE_MS = 3000 };

/* PUBSUB NUMSUB of the first channel (or NUMPAT): how many subscribers the server has. */
static long long server_subscribers(redisContext *side)
{
    redisReply *r = C.pattern ? redisCommand(side, "PUBSUB NUMPAT")
                              : redisCommand(side, "PUBSUB NUMSUB %b", C.names[0], C.lens[0]);
    long long n = -1;
    if (r && r->type == REDIS_REPLY_INTEGER) n = r->integer;
    else if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
             r->element[1]->type == REDIS_REPLY_INTEGER)
        n = r->element[1]->integer;
    if (r) freeReplyObject(r);
    return n;
}

/* Polls until the server counts want subscribers (up to 5 s). */
static bool wait_subscribers(redisContext *side, long long want)
{
    for (int i = 0; i < 500; i++) {
        if (server_subscribers(side) == want) return true;
        nanosleep(&(struct timespec){0, 10000000}, NULL);
    }
    return false;
}

static int sub_kind(void) { return C.pattern ? RCM_SUB_PATTERN : RCM_SUB_CHANNEL; }

static void message_cb(const rcm_message *m, void *userdata)
{
    (void)userdata;
    if (m->type == RCM_MSG_SUBSCRIBED) {
        atomic_fetch_add(&S.subscribed, 1);
    } else if (m->type == RCM_MSG_DROPPED) {
        S.dropped += (long long)m->dropped;
    } else if (m->type == RCM_MSG_MESSAGE && !S.done) {
        if (on_payload(m->payload, m->payload_len)) {
            pthread_mutex_lock(&S.mu);
            S.done = true;
            pthread_cond_signal(&S.cv);
            pthread_mutex_unlock(&S.mu);
        }
    }
}

/* A pulled message: true when the round is complete. */
static bool take(rcm_message *m)
{
    bool done = false;
    if (m->type == RCM_MSG_MESSAGE) done = on_payload(m->payload, m->payload_len);
    else if (m->type == RCM_MSG_DROPPED) S.dropped += (long long)m->dropped;
    rcm_message_free(m);
    return done;
}

/* Pull mode: next with a timeout, or poll on the descriptor and drain with next(0). */
static void receive_pull(rcm_subscriber *sub, bool use_fd, char *err, size_t errcap)
{
    int fd = -1;
    if (use_fd) {
        rcm_status st = rcm_subscriber_fd(sub, &fd);
        if (st != RCM_OK) {
            snprintf(err, errcap, "rcm_subscriber_fd: %s: %s", rcm_status_name(st), rcm_last_error());
            return;
        }
    }
    for (;;) {
        rcm_message *m = NULL;
        rcm_status st;
        if (use_fd) {
            struct pollfd p = {.fd = fd, .events = POLLIN};
            if (poll(&p, 1, IDLE_MS) <= 0) {
                snprintf(err, errcap, "no message for %d ms", IDLE_MS);
                return;
            }
            while ((st = rcm_subscriber_next(sub, 0, &m)) == RCM_OK)
                if (take(m)) return;
            if (st != RCM_ERR_TIMEOUT) break;
            continue;
        }
        st = rcm_subscriber_next(sub, IDLE_MS, &m);
        if (st != RCM_OK) {
            snprintf(err, errcap, "rcm_subscriber_next: %s: %s", rcm_status_name(st), rcm_last_error());
            return;
        }
        if (take(m)) return;
    }
    snprintf(err, errcap, "rcm_subscriber_next: %s", rcm_last_error());
}

/* Waits until the callback has taken the last message, or IDLE_MS pass without progress. */
static void receive_callback(char *err, size_t errcap)
{
    pthread_mutex_lock(&S.mu);
    long long last = -1;
    while (!S.done) {
        long long now = atomic_load(&S.progress);
        if (now == last) {
            snprintf(err, errcap, "no message for %d ms", IDLE_MS);
            break;
        }
        last = now;
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += IDLE_MS / 1000;
        while (!S.done && pthread_cond_timedwait(&S.cv, &S.mu, &dl) == 0) {}
    }
    pthread_mutex_unlock(&S.mu);
}

/* Subscribes a hiredis context; the confirmations are read here. */
static redisContext *hiredis_subscriber(char *err, size_t errcap)
{
    redisContext *c = cli_target_connect(&C.srv, C.srv.host, C.srv.port, err, errcap);
    if (c == NULL) return NULL;
    int n = C.pattern ? 1 : C.nnames;
    const char *argv[65];
    size_t lens[65];
    argv[0] = C.pattern ? "PSUBSCRIBE" : "SUBSCRIBE";
    lens[0] = strlen(argv[0]);
    for (int i = 0; i < n; i++) {
        argv[i + 1] = C.names[i];
        lens[i + 1] = C.lens[i];
    }
    redisAppendCommandArgv(c, n + 1, argv, lens);
    for (int i = 0; i < n; i++) {
        redisReply *r = NULL;
        if (redisGetReply(c, (void **)&r) != REDIS_OK || r == NULL || r->type != REDIS_REPLY_ARRAY) {
            snprintf(err, errcap, "hiredis %s: %s", argv[0], r ? "unexpected reply" : c->errstr);
            if (r) freeReplyObject(r);
            redisFree(c);
            return NULL;
        }
        freeReplyObject(r);
    }
    redisSetTimeout(c, (struct timeval){IDLE_MS / 1000, 0});
    return c;
}

static void receive_hiredis(redisContext *c, char *err, size_t errcap)
{
    for (;;) {
        redisReply *r = NULL;
        if (redisGetReply(c, (void **)&r) != REDIS_OK || r == NULL) {
            snprintf(err, errcap, "hiredis subscriber: %s", c->errstr);
            return;
        }
        /* ["message", channel, payload] or ["pmessage", pattern, channel, payload] */
        bool done = false;
        if (r->type == REDIS_REPLY_ARRAY && r->elements >= 3) {
            const redisReply *p = r->element[r->elements - 1];
            done = on_payload(p->str, p->len);
        }
        freeReplyObject(r);
        if (done) return;
    }
}

/* ---------------------------------------------------------------------------------
 * Results.
 * ------------------------------------------------------------------------------ */

typedef struct psb_result {
    long long msgs, lost, disorder, dropped, pub_errors, not_one;
    double secs, cli_cpu_s, recv_cpu_s, srv_cpu_s;
    bool srv_unknown, failed;
    char note[240];
} psb_result;

/* One round of one receiver: n messages. */
static void run_round(int kind, rcm_client *client, redisContext *side, redisContext *pubctx,
                      long long n, psb_result *res)
{
    char err[240] = "";
    rcm_subscriber *sub = NULL;
    redisContext *hsub = NULL;
    round_reset(n);
    if (kind == RECV_HIREDIS) {
        hsub = hiredis_subscriber(err, sizeof err);
    } else {
        rcm_status st = rcm_subscriber_open(client, kind == RECV_CALLBACK ? message_cb : NULL, NULL, &sub);
        const char *names[64];
        for (int i = 0; i < C.nnames; i++) names[i] = C.names[i];
        if (st == RCM_OK) st = rcm_subscribe(sub, sub_kind(), C.pattern ? 1 : C.nnames, names, C.lens);
        if (st != RCM_OK)
            snprintf(err, sizeof err, "subscribe: %s: %s", rcm_status_name(st), rcm_last_error());
    }
    if (!err[0] && !wait_subscribers(side, 1))
        snprintf(err, sizeof err, "the server did not count one subscriber within 5 s (%lld)",
                 server_subscribers(side));
    if (!err[0]) {
        pub_job pj = {.c = pubctx};
        pthread_t pt;
        double srv0 = cli_server_cpu_s(side);
        double cpu0 = psb_process_cpu_s();
        uint64_t t0 = cli_now_ns();
        if (pthread_create(&pt, NULL, publisher_main, &pj) != 0) {
            snprintf(err, sizeof err, "cannot start the publisher thread");
        } else {
            pthread_setname_np(pt, "psb-publisher"); /* told apart in perf and top */
            if (kind == RECV_HIREDIS) receive_hiredis(hsub, err, sizeof err);
            else if (kind == RECV_CALLBACK) receive_callback(err, sizeof err);
            else receive_pull(sub, kind == RECV_FD, err, sizeof err);
            atomic_store(&S.stop, true);
            pthread_join(pt, NULL);
            double cpu1 = psb_process_cpu_s();
            double srv1 = cli_server_cpu_s(side);
            if (!err[0] && pj.err[0]) snprintf(err, sizeof err, "%s", pj.err);
            if (S.t_end > t0) {
                res->secs += (double)(S.t_end - t0) / 1e9;
                res->msgs += S.got;
                res->cli_cpu_s += cpu1 - cpu0 - pj.cpu_s;
                res->recv_cpu_s += S.recv_cpu1 - S.recv_cpu0;
                if (srv0 >= 0 && srv1 >= 0) res->srv_cpu_s += srv1 - srv0;
                else res->srv_unknown = true;
            }
            res->pub_errors += pj.errors;
            res->not_one += pj.not_one;
        }
    }
    /* In callback mode the delivery thread may still be inside the callback: closing
     * waits for it. Then the server must forget the subscriber before the next turn. */
    rcm_subscriber_close(sub);
    if (hsub) redisFree(hsub);
    res->lost += S.lost;
    res->disorder += S.disorder;
    res->dropped += S.dropped;
    if (!err[0] && !wait_subscribers(side, 0))
        snprintf(err, sizeof err, "the server still counts a subscriber 5 s after the receiver closed");
    if (err[0]) {
        res->failed = true;
        if (!res->note[0]) snprintf(res->note, sizeof res->note, "%s", err);
    }
}

static void print_result(const char *name, const psb_result *r, const psb_result *base)
{
    if (r->failed && r->msgs == 0) {
        printf("  %-24s  failed: %s\n", name, r->note);
        return;
    }
    double rate = r->secs > 0 ? (double)r->msgs / r->secs : 0;
    double cpu = r->msgs ? r->cli_cpu_s * 1e6 / (double)r->msgs : 0;
    printf("  %-24s %10.0f %9.2f %9.2f ", name, rate, cpu,
           r->msgs ? r->recv_cpu_s * 1e6 / (double)r->msgs : 0);
    if (r->srv_unknown || !r->msgs) printf("%9s", "?");
    else printf("%9.2f", r->srv_cpu_s * 1e6 / (double)r->msgs);
    printf(" %6lld %6lld %6lld", r->lost, r->disorder, r->dropped);
    if (base && base->msgs && base->secs > 0 && r->msgs) {
        double brate = (double)base->msgs / base->secs, bcpu = base->cli_cpu_s / (double)base->msgs;
        double rr = rate / brate, cr = (r->cli_cpu_s / (double)r->msgs) / bcpu;
        printf("   %5.2fx rate, %5.2fx CPU  (target >= 0.90x at <= 1.20x: %s)", rr, cr,
               rr >= 0.9 && cr <= 1.2 ? "ok" : "MISS");
    }
    if (r->pub_errors || r->not_one)
        printf("  [publisher: %lld errors, %lld PUBLISH not to exactly 1]", r->pub_errors, r->not_one);
    if (r->failed) printf("  [%s]", r->note);
    putchar('\n');
}

/* ---------------------------------------------------------------------------------
 * rcm pubsub-bench
 * ------------------------------------------------------------------------------ */

static int parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long long v;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(PSB_USAGE, stdout);
            return -1;
        }
        if (strcmp(a, "--pattern") == 0) {
            C.pattern = true;
            continue;
        }
        static const char *const with_value[] = {"--only", "--messages", "--window", "--size", "--channels",
                                                 "--rounds", "--batch"};
        bool known = false;
        for (size_t k = 0; k < sizeof with_value / sizeof *with_value; k++) known |= strcmp(a, with_value[k]) == 0;
        if (!known) return cli_usage_error("pubsub-bench: unknown option '%s'", cli_option_name(a));
        if (i + 1 >= argc) return cli_usage_error("pubsub-bench: %s needs a value", a);
        const char *val = argv[++i];
        if (strcmp(a, "--only") == 0) {
            C.only = 0;
            char buf[128];
            snprintf(buf, sizeof buf, "%s", val);
            char *save = NULL;
            for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                if (strcmp(t, "pull") == 0) C.only |= 1u << RECV_PULL;
                else if (strcmp(t, "fd") == 0) C.only |= 1u << RECV_FD;
                else if (strcmp(t, "callback") == 0) C.only |= 1u << RECV_CALLBACK;
                else return cli_usage_error("pubsub-bench: --only takes pull,fd,callback");
            }
            continue;
        }
        long long lo = 1, hi = 1000000000;
        long long *dst = NULL;
        int *idst = NULL;
        if (strcmp(a, "--messages") == 0) dst = &C.messages;
        else if (strcmp(a, "--window") == 0) dst = &C.window;
        else if (strcmp(a, "--size") == 0) { idst = &C.size; lo = PSB_SEQ_DIGITS; hi = 1 << 24; }
        else if (strcmp(a, "--channels") == 0) { idst = &C.channels; hi = 63; }
        else if (strcmp(a, "--rounds") == 0) { idst = &C.rounds; hi = 100; }
        else { idst = &C.batch; hi = 100000; } /* --batch */
        if (!cli_parse_long(val, lo, hi, &v))
            return cli_usage_error("pubsub-bench: %s must be an integer in %lld..%lld", a, lo, hi);
        if (dst) *dst = v;
        else *idst = (int)v;
    }
    if (C.window < C.batch) return cli_usage_error("pubsub-bench: --window must be at least --batch");
    return CLI_EXIT_OK;
}

int cli_pubsub_bench(const cli_opts *opts, int argc, char **argv)
{
    cli_target srv;
    cli_target_from_opts(opts, &srv);
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--failover") == 0) return psb_failover(opts, &srv, argc, argv);
    C = (psb_cfg){.messages = 200000, .size = 16, .channels = 1, .rounds = 3, .batch = 128,
                  .window = 5000, .only = (1u << RECV_PULL) | (1u << RECV_FD) | (1u << RECV_CALLBACK),
                  .srv = srv};
    int rc = parse_args(argc, argv);
    if (rc != CLI_EXIT_OK) return rc < 0 ? CLI_EXIT_OK : rc;
    if (C.srv.tls) return cli_usage_error("pubsub-bench: the hiredis side does not do TLS; use a plain server");
    if (C.srv.mode[0] && strcmp(C.srv.mode, "standalone") != 0 && strcmp(C.srv.mode, "auto") != 0)
        return cli_usage_error("pubsub-bench: a standalone server (not mode %s)", C.srv.mode);
    C.only |= 1u << RECV_HIREDIS;
    /* names[0] is the pattern (then names[1..] the channels it covers) or the first channel. */
    int pid = (int)getpid();
    C.nnames = C.channels + (C.pattern ? 1 : 0);
    for (int i = 0; i < C.nnames; i++) {
        if (C.pattern && i == 0) snprintf(C.names[0], sizeof C.names[0], "rcm:psb:%d:*", pid);
        else snprintf(C.names[i], sizeof C.names[i], "rcm:psb:%d:%d", pid, i - (C.pattern ? 1 : 0));
        C.lens[i] = strlen(C.names[i]);
    }

    char err[240] = "";
    rcm_client *client = NULL;
    redisContext *side = cli_target_connect(&C.srv, C.srv.host, C.srv.port, err, sizeof err);
    redisContext *pub = side ? cli_target_connect(&C.srv, C.srv.host, C.srv.port, err, sizeof err) : NULL;
    if (pub == NULL) {
        fprintf(stderr, "rcm: pubsub-bench: %s\n", err);
        if (side) redisFree(side);
        return CLI_EXIT_FAIL;
    }
    rc = cli_open(opts, NULL, NULL, &client);
    if (rc != CLI_EXIT_OK) goto out;

    printf("rcm pubsub-bench: %lld messages of %d bytes per receiver on %d %s%s, %d rounds, "
           "window %lld, PUBLISH batches of %d\n", C.messages, C.size, C.channels,
           C.channels == 1 ? "channel" : "channels", C.pattern ? " through one pattern" : "",
           C.rounds, C.window, C.batch);
    double load[1];
    printf("server %s:%d; librcm %s; hiredis %d.%d.%d; %ld CPUs", C.srv.host, C.srv.port, rcm_version(),
           HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH, sysconf(_SC_NPROCESSORS_ONLN));
    if (getloadavg(load, 1) == 1) printf(", load average %.2f before the run", load[0]);
    printf("\n");
    fflush(stdout);

    psb_result res[RECV_KINDS], warm;
    memset(res, 0, sizeof res);
    /* Warm-up: connections, allocator, the server's structures. */
    for (int k = 0; k < RECV_KINDS; k++) {
        if (!(C.only & (1u << k))) continue;
        memset(&warm, 0, sizeof warm);
        run_round(k, client, side, pub, C.messages / C.rounds < 5000 ? C.messages / C.rounds : 5000, &warm);
        if (warm.failed) {
            fprintf(stderr, "rcm: pubsub-bench: %s: %s\n", RECV_NAME[k], warm.note);
            rc = CLI_EXIT_FAIL;
            goto out;
        }
    }
    long long per_round = (C.messages + C.rounds - 1) / C.rounds;
    for (int round = 0; round < C.rounds; round++)
        for (int k = 0; k < RECV_KINDS; k++)
            if (C.only & (1u << k)) run_round(k, client, side, pub, per_round, &res[k]);

    printf("\n  %-24s %10s %9s %9s %9s %6s %6s %6s   %s\n", "receiver", "msgs/s", "cli CPU",
           "recv thr", "srv CPU", "lost", "order", "drops", "vs hiredis");
    printf("  %-24s %10s %9s %9s %9s\n", "", "", "us/msg", "us/msg", "us/msg");
    for (int k = 0; k < RECV_KINDS; k++) {
        if (!(C.only & (1u << k))) continue;
        print_result(RECV_NAME[k], &res[k], k == RECV_HIREDIS ? NULL : &res[RECV_HIREDIS]);
        if (res[k].failed || res[k].lost || res[k].disorder || res[k].dropped || res[k].msgs == 0)
            rc = CLI_EXIT_FAIL;
    }
    printf("\nratios (messages/s, client CPU per message) against the hiredis subscriber:\n");
    for (int k = RECV_PULL; k < RECV_KINDS; k++) {
        const psb_result *r = &res[k], *b = &res[RECV_HIREDIS];
        if (!(C.only & (1u << k)) || !r->msgs || !b->msgs || r->secs <= 0 || b->secs <= 0) continue;
        double rr = ((double)r->msgs / r->secs) / ((double)b->msgs / b->secs);
        double cr = (r->cli_cpu_s / (double)r->msgs) / (b->cli_cpu_s / (double)b->msgs);
        printf("  %-24s %6.2fx rate  %6.2fx CPU/msg   target >= 0.90x at <= 1.20x  %s\n", RECV_NAME[k],
               rr, cr, rr >= 0.9 && cr <= 1.2 ? "ok" : "MISS");
    }
    printf("\nmsgs/s: messages taken / (publisher start to the last message taken), over the rounds.\n"
           "cli CPU: getrusage(RUSAGE_SELF) delta minus the publisher thread's RUSAGE_THREAD delta\n"
           "  (rcm's I/O and delivery threads included); recv thr: the receiving thread's\n"
           "  RUSAGE_THREAD, first to last message; srv CPU: the server's INFO cpu delta.\n");
    if (sysconf(_SC_NPROCESSORS_ONLN) <= 2)
        printf("note: %ld CPUs: publisher, receiver and server share them.\n", sysconf(_SC_NPROCESSORS_ONLN));

out:
    rcm_client_close(client);
    redisFree(pub);
    redisFree(side);
    return rc;
}
