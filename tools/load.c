/*
 * load.c — `rcm load`: a steady GET/SET load on one shared client for a bounded time,
 * printing what the caller sees while the deployment changes under it (failover, a
 * killed primary or leader): requests and errors by status every interval and at the
 * end, and the client's events as they arrive.
 *
 * N threads share one client; each writes its own keys (SET, then GET of the same key,
 * checked when the SET was acknowledged). SIGUSR1 marks the moment a
 * fault was injected (the demo sends it right after killing a node): the report then
 * says how long after the mark the first PRIMARY_CHANGED event came and the first
 * request sent after the mark succeeded, i.e. was served by the new primary.
 */
#include "cli.h"

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char LOAD_USAGE[] =
    "usage: rcm [-u URL] [-c key=value...] load [options]\n"
    "\n"
    "Runs SET/GET pairs from T threads on one shared client for S seconds; prints every\n"
    "interval the requests, successes and failures by status (and the slowest request),\n"
    "events (node up/down, topology and primary changes) as they arrive, and a summary.\n"
    "Keys: rcm:load:<thread>:<n> (n < --keys); each GET reads the key the thread has just\n"
    "SET and, when that SET was acknowledged, is checked against its value.\n"
    "SIGUSR1 marks a fault injected from outside (e.g. right after killing the primary):\n"
    "the summary gives the time from the mark to the first PRIMARY_CHANGED event and to\n"
    "the first success of a request sent after the mark.\n"
    "\n"
    "options:\n"
    "  --seconds S       how long to run (default 10; the run ends at most one\n"
    "                    command_timeout_ms later)\n"
    "  --threads T       threads sharing the client (default 4)\n"
    "  --keys K          keys per thread (default 100)\n"
    "  --interval-ms I   report interval (default 1000)\n"
    "  --value-size B    SET value size (default 16)\n"
    "  --topology        print the client's topology JSON at the end\n"
    "  --stats           print the client's stats JSON at the end\n"
    "\n"
    "Exit status: 0 when no request failed, 1 when some did (they are reported), 2 usage.\n";

/* ---------------------------------------------------------------------------------
 * Counters, shared by the load threads, the event thread and the reporter.
 * ------------------------------------------------------------------------------ */

#define NSTATUS 100 /* index -status; RCM_ERR_INTERNAL (-99) is the last */
#define MAX_ERR_NAMES 16

static struct load_state {
    uint64_t t0;                          /* start, CLOCK_MONOTONIC ns */
    uint64_t end;                         /* no request is started after this */
    long long keys;
    size_t value_size;
    rcm_client *client;
    _Atomic long long requests, ok, mismatches;
    _Atomic long long by_status[NSTATUS]; /* failed calls, by -status */
    _Atomic long long err_replies;        /* server error replies (see err_names) */
    _Atomic uint64_t interval_max_ns;     /* slowest request of the interval */
    _Atomic uint64_t last_ok_ns;
    _Atomic uint64_t mark_ns;             /* SIGUSR1; 0: none */
    _Atomic uint64_t first_ok_after_mark_ns;
    _Atomic uint64_t first_primary_change_after_mark_ns;
    _Atomic long long failed_after_mark;
    pthread_mutex_t mu;                   /* guards what follows, and stdout */
    char err_names[MAX_ERR_NAMES][32];
    long long err_counts[MAX_ERR_NAMES];
    int nerr_names;
    uint64_t max_gap_ns, max_gap_from_ns; /* longest stretch without a success */
    char primary_change[512];             /* the first PRIMARY_CHANGED after the mark */
} L = {.mu = PTHREAD_MUTEX_INITIALIZER};

static double since_start_s(uint64_t ns)
{
    return ns > L.t0 ? (double)(ns - L.t0) / 1e9 : 0.0;
}

static void on_mark(int sig)
{
    (void)sig;
    uint64_t zero = 0;
    /* Only the first mark counts; clock_gettime and lock-free atomics are
     * async-signal-safe. */
    atomic_compare_exchange_strong(&L.mark_ns, &zero, cli_now_ns());
}

static void count_error_reply(const rcm_reply *r)
{
    size_t len = 0;
    const char *s = rcm_reply_string(r, &len);
    size_t word = 0;
    while (s && word < len && word < 31 && s[word] != ' ') word++;
    atomic_fetch_add(&L.err_replies, 1);
    pthread_mutex_lock(&L.mu);
    int i = 0;
    for (; i < L.nerr_names; i++)
        if (strlen(L.err_names[i]) == word && memcmp(L.err_names[i], s, word) == 0) break;
    if (i == L.nerr_names && i < MAX_ERR_NAMES) {
        memcpy(L.err_names[i], s ? s : "", word);
        L.err_names[i][word] = '\0';
        L.nerr_names++;
    }
    if (i < MAX_ERR_NAMES) L.err_counts[i]++;
    pthread_mutex_unlock(&L.mu);
}

/* A successful request that was sent at t_sent and completed at now. */
static void count_ok(uint64_t t_sent, uint64_t now)
{
    atomic_fetch_add_explicit(&L.ok, 1, memory_order_relaxed);
    uint64_t prev = atomic_exchange(&L.last_ok_ns, now);
    if (now > prev && now - prev > 1000000) { /* a gap of more than 1 ms: check */
        pthread_mutex_lock(&L.mu);
        if (now - prev > L.max_gap_ns) {
            L.max_gap_ns = now - prev;
            L.max_gap_from_ns = prev;
        }
        pthread_mutex_unlock(&L.mu);
    }
    uint64_t mark = atomic_load(&L.mark_ns);
    if (mark != 0 && t_sent >= mark) {
        uint64_t zero = 0;
        atomic_compare_exchange_strong(&L.first_ok_after_mark_ns, &zero, now);
    }
}

/* A failed call (st != RCM_OK) or a server error reply (st == RCM_OK, counted by name
 * in count_error_reply) of a request sent at t_sent. */
static void count_failure(rcm_status st, uint64_t t_sent)
{
    if (st != RCM_OK) {
        int idx = -(int)st;
        if (idx <= 0 || idx >= NSTATUS) idx = NSTATUS - 1;
        atomic_fetch_add(&L.by_status[idx], 1);
    }
    uint64_t mark = atomic_load(&L.mark_ns);
    if (mark != 0 && t_sent >= mark) atomic_fetch_add(&L.failed_after_mark, 1);
}

static void note_latency(uint64_t ns)
{
    uint64_t cur = atomic_load_explicit(&L.interval_max_ns, memory_order_relaxed);
    while (ns > cur && !atomic_compare_exchange_weak(&L.interval_max_ns, &cur, ns)) {}
}

/* ---------------------------------------------------------------------------------
 * The load threads.
 * ------------------------------------------------------------------------------ */

typedef struct load_job {
    int id;
} load_job;

/* One call: counts it and returns the reply (NULL on a failed call). */
static rcm_reply *load_call(int argc, const char **argv, const size_t *lens)
{
    rcm_reply *r = NULL;
    uint64_t t0 = cli_now_ns();
    rcm_status st = rcm_command(L.client, argc, argv, lens, &r);
    uint64_t t1 = cli_now_ns();
    atomic_fetch_add_explicit(&L.requests, 1, memory_order_relaxed);
    note_latency(t1 - t0);
    if (st != RCM_OK) {
        count_failure(st, t0);
        return NULL;
    }
    if (rcm_reply_type(r) == RCM_REPLY_ERROR) {
        count_error_reply(r);
        count_failure(RCM_OK, t0);
        rcm_reply_free(r);
        return NULL;
    }
    count_ok(t0, t1);
    return r;
}

static void *load_worker(void *arg)
{
    load_job *job = arg;
    char key[64];
    char *val = malloc(L.value_size + 32);
    if (!val) return NULL;
    uint64_t seq = 0;
    while (cli_now_ns() < L.end) {
        long long k = (long long)(seq % (uint64_t)L.keys);
        seq++;
        int klen = snprintf(key, sizeof key, "rcm:load:%d:%lld", job->id, k);
        int vlen = snprintf(val, L.value_size + 32, "%d:%llu:", job->id, (unsigned long long)seq);
        while ((size_t)vlen < L.value_size) val[vlen++] = 'x';
        const char *set[] = {"SET", key, val};
        size_t setl[] = {3, (size_t)klen, (size_t)vlen};
        rcm_reply *r = load_call(3, set, setl);
        bool acked = r != NULL; /* a failed SET may or may not have been applied */
        rcm_reply_free(r);
        if (cli_now_ns() >= L.end) break;

        const char *get[] = {"GET", key};
        size_t getl[] = {3, (size_t)klen};
        r = load_call(2, get, getl);
        if (r && acked) {
            size_t len = 0;
            const char *s = rcm_reply_string(r, &len);
            if (rcm_reply_type(r) != RCM_REPLY_STRING || len != (size_t)vlen ||
                memcmp(s, val, len) != 0)
                atomic_fetch_add(&L.mismatches, 1);
        }
        rcm_reply_free(r);
    }
    free(val);
    return NULL;
}

/* ---------------------------------------------------------------------------------
 * Reporting.
 * ------------------------------------------------------------------------------ */

static void on_load_event(rcm_event_kind kind, const char *node, const char *detail, void *ud)
{
    (void)ud;
    uint64_t now = cli_now_ns();
    uint64_t mark = atomic_load(&L.mark_ns);
    pthread_mutex_lock(&L.mu);
    printf("[%6.2f s] event %-16s %s%s%s", since_start_s(now), cli_event_name(kind),
           node ? node : "-", (detail && *detail) ? "  " : "", detail ? detail : "");
    if (mark != 0 && now >= mark) printf("  (mark +%.0f ms)", (double)(now - mark) / 1e6);
    putchar('\n');
    if (kind == RCM_EVENT_PRIMARY_CHANGED && mark != 0 && now >= mark &&
        atomic_load(&L.first_primary_change_after_mark_ns) == 0) {
        atomic_store(&L.first_primary_change_after_mark_ns, now);
        snprintf(L.primary_change, sizeof L.primary_change, "%s", detail ? detail : "");
    }
    fflush(stdout);
    pthread_mutex_unlock(&L.mu);
}

typedef struct snapshot {
    long long requests, ok, by_status[NSTATUS], err_replies;
} snapshot;

/* Outcomes first, requests last: a request is counted before its outcome, so requests
 * >= ok + errors in every snapshot (the difference was in flight). */
static void take(snapshot *s)
{
    s->ok = atomic_load(&L.ok);
    s->err_replies = atomic_load(&L.err_replies);
    for (int i = 0; i < NSTATUS; i++) s->by_status[i] = atomic_load(&L.by_status[i]);
    s->requests = atomic_load(&L.requests);
}

/* "RCM_ERR_TIMEOUT 3, error reply 2" for the failures between a and b; "" for none.
 * Returns the number of failures. */
static long long failures_text(const snapshot *a, const snapshot *b, char *out, size_t cap)
{
    long long total = 0;
    size_t used = 0;
    out[0] = '\0';
    for (int i = 1; i < NSTATUS; i++) {
        long long d = b->by_status[i] - (a ? a->by_status[i] : 0);
        if (d == 0) continue;
        total += d;
        if (used < cap)
            used += (size_t)snprintf(out + used, cap - used, "%s%s %lld", used ? ", " : "",
                                     rcm_status_name((rcm_status)-i), d);
    }
    long long d = b->err_replies - (a ? a->err_replies : 0);
    if (d > 0) {
        total += d;
        if (used < cap)
            snprintf(out + used, cap - used, "%serror reply %lld", used ? ", " : "", d);
    }
    return total;
}

static void print_interval(const snapshot *prev, const snapshot *cur, uint64_t now,
                           double secs)
{
    char fails[512];
    long long nfail = failures_text(prev, cur, fails, sizeof fails);
    uint64_t max_ns = atomic_exchange(&L.interval_max_ns, 0);
    long long req = cur->requests - prev->requests;
    pthread_mutex_lock(&L.mu);
    printf("[%6.2f s] requests %6lld  ok %6lld  errors %4lld  %7.0f req/s  slowest %7.1f ms%s%s%s\n",
           since_start_s(now), req, cur->ok - prev->ok, nfail, secs > 0 ? (double)req / secs : 0.0,
           (double)max_ns / 1e6, nfail ? "  (" : "", fails, nfail ? ")" : "");
    fflush(stdout);
    pthread_mutex_unlock(&L.mu);
}

static void print_summary(int threads, double secs)
{
    snapshot s;
    take(&s);
    char fails[512];
    long long nfail = failures_text(NULL, &s, fails, sizeof fails);
    pthread_mutex_lock(&L.mu);
    printf("\nsummary: %d threads, %.1f s: %lld requests, %lld ok, %lld errors (%.0f req/s)\n",
           threads, secs, s.requests, s.ok, nfail, secs > 0 ? (double)s.requests / secs : 0.0);
    printf("  errors by status: %s\n", nfail ? fails : "none");
    if (L.nerr_names > 0) {
        printf("  server error replies:");
        for (int i = 0; i < L.nerr_names; i++)
            printf("%s %s %lld", i ? "," : "", L.err_names[i], L.err_counts[i]);
        putchar('\n');
    }
    printf("  GET != last acknowledged SET: %lld\n", atomic_load(&L.mismatches));
    uint64_t now = cli_now_ns(), last = atomic_load(&L.last_ok_ns);
    if (now > last && now - last > L.max_gap_ns) { /* the run ended in a stall */
        L.max_gap_ns = now - last;
        L.max_gap_from_ns = last;
    }
    printf("  longest stretch without a success: %.1f ms (from t=%.2f s)\n",
           (double)L.max_gap_ns / 1e6, since_start_s(L.max_gap_from_ns));
    uint64_t mark = atomic_load(&L.mark_ns);
    if (mark != 0) {
        uint64_t pc = atomic_load(&L.first_primary_change_after_mark_ns);
        uint64_t ok = atomic_load(&L.first_ok_after_mark_ns);
        printf("  mark (SIGUSR1) at t=%.2f s:\n", since_start_s(mark));
        if (pc) printf("    first PRIMARY_CHANGED event  +%.0f ms  (%s)\n", (double)(pc - mark) / 1e6, L.primary_change);
        else printf("    no PRIMARY_CHANGED event after the mark\n");
        if (ok) printf("    first success of a request sent after the mark  +%.0f ms\n", (double)(ok - mark) / 1e6);
        else printf("    no request sent after the mark succeeded\n");
        printf("    requests sent after the mark that failed: %lld\n", atomic_load(&L.failed_after_mark));
    }
    fflush(stdout);
    pthread_mutex_unlock(&L.mu);
}

/* ---------------------------------------------------------------------------------
 * rcm load
 * ------------------------------------------------------------------------------ */

int cli_load(const cli_opts *opts, int argc, char **argv)
{
    long long seconds = 10, threads = 4, keys = 100, interval_ms = 1000, value_size = 16;
    bool show_topology = false, show_stats = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long long *dst = NULL, min = 1, max = 0;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(LOAD_USAGE, stdout);
            return CLI_EXIT_OK;
        }
        if (strcmp(a, "--topology") == 0 || strcmp(a, "--stats") == 0) {
            if (a[2] == 't') show_topology = true;
            else show_stats = true;
            continue;
        }
        if (strcmp(a, "--seconds") == 0) { dst = &seconds; max = 86400; }
        else if (strcmp(a, "--threads") == 0) { dst = &threads; max = 256; }
        else if (strcmp(a, "--keys") == 0) { dst = &keys; max = 10000000; }
        else if (strcmp(a, "--interval-ms") == 0) { dst = &interval_ms; min = 10; max = 600000; }
        else if (strcmp(a, "--value-size") == 0) { dst = &value_size; max = 1 << 20; }
        else return cli_usage_error("load: unknown option '%s' (rcm load --help)", cli_option_name(a));
        if (i + 1 >= argc || !cli_parse_long(argv[i + 1], min, max, dst))
            return cli_usage_error("load: %s needs a number in %lld..%lld", a, min, max);
        i++;
    }

    struct sigaction sa = {0};
    sa.sa_handler = on_mark;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);

    L.t0 = cli_now_ns();
    rcm_client *client;
    int rc = cli_open(opts, on_load_event, NULL, &client);
    if (rc != CLI_EXIT_OK) return rc;
    L.client = client;
    L.keys = keys;
    L.value_size = (size_t)value_size;
    load_job *jobs = calloc((size_t)threads, sizeof *jobs);
    pthread_t *tids = calloc((size_t)threads, sizeof *tids);
    if (!jobs || !tids) {
        fprintf(stderr, "rcm: out of memory\n");
        rcm_client_close(client);
        free(jobs);
        free(tids);
        return CLI_EXIT_FAIL;
    }
    pthread_mutex_lock(&L.mu);
    printf("[%6.2f s] load: %lld threads x SET/GET on %lld keys each, %lld s, report every %lld ms\n",
           since_start_s(cli_now_ns()), threads, keys, seconds, interval_ms);
    fflush(stdout);
    pthread_mutex_unlock(&L.mu);

    uint64_t start = cli_now_ns();
    L.end = start + (uint64_t)seconds * 1000000000ull;
    atomic_store(&L.last_ok_ns, start);
    int started = 0;
    for (int t = 0; t < threads; t++) {
        jobs[t].id = t;
        if (pthread_create(&tids[t], NULL, load_worker, &jobs[t]) != 0) {
            fprintf(stderr, "rcm: load: could not start thread %d\n", t);
            break;
        }
        started++;
    }

    snapshot prev = {0}, cur;
    uint64_t last = start;
    for (;;) {
        uint64_t next = last + (uint64_t)interval_ms * 1000000ull;
        if (next > L.end) next = L.end;
        uint64_t now = cli_now_ns();
        while (now < next) {
            uint64_t left = next - now;
            struct timespec nap = {(time_t)(left / 1000000000ull), (long)(left % 1000000000ull)};
            nanosleep(&nap, NULL); /* a mark interrupts it: go on sleeping */
            now = cli_now_ns();
        }
        take(&cur);
        print_interval(&prev, &cur, now, (double)(now - last) / 1e9);
        prev = cur;
        last = now;
        if (now >= L.end) break;
    }
    for (int t = 0; t < started; t++) pthread_join(tids[t], NULL);
    uint64_t stop = cli_now_ns();
    take(&cur);
    char scratch[8];
    /* The requests that were still running at the end: a line of their own when they
     * took a while or failed. */
    if (cur.requests != prev.requests &&
        (stop - last > 50000000ull || failures_text(&prev, &cur, scratch, sizeof scratch) > 0))
        print_interval(&prev, &cur, stop, (double)(stop - last) / 1e9);
    print_summary(started, (double)(stop - start) / 1e9);
    for (int k = 0; k < 2; k++) {
        if (!(k == 0 ? show_topology : show_stats)) continue;
        char *json = NULL;
        rcm_status st = k == 0 ? rcm_client_topology_json(client, &json)
                               : rcm_client_stats_json(client, &json);
        pthread_mutex_lock(&L.mu);
        if (st == RCM_OK) printf("%s at the end: %s\n", k == 0 ? "topology" : "stats", json);
        else cli_fail(k == 0 ? "topology" : "stats", st);
        fflush(stdout);
        pthread_mutex_unlock(&L.mu);
        rcm_free(json);
    }

    rcm_client_close(client);
    free(jobs);
    free(tids);
    snapshot fin;
    take(&fin);
    long long nfail = failures_text(NULL, &fin, scratch, sizeof scratch);
    if (started < threads) return CLI_EXIT_FAIL;
    return nfail == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}
