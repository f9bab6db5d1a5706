/* The load threads of the cluster tests (cu_load*, cu_group*, cluster_util.h): SET/GET
 * loops that record every outcome and check every read. Split from cluster_util.c. */
#define _GNU_SOURCE
#include "cluster_util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- load ------------------------------------------------------------------------------ */

int cu_status_slot(rcm_status st) {
    int i = -(int)st;
    if (i < 0 || i >= CU_STATUS_SLOTS - 1) return CU_STATUS_SLOTS - 1;
    return i;
}

/* Seconds since the first call: timestamps that line up with cu_log(). */
double cu_elapsed(void) {
    static _Atomic double t0;
    double now = tu_now();
    double zero = 0;
    atomic_compare_exchange_strong(&t0, &zero, now);
    return now - atomic_load(&t0);
}

void cu_log(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("[%7.3f] ", cu_elapsed());
    vprintf(fmt, ap);
    printf("\n");
    fflush(stdout);
    va_end(ap);
}

static void note_problem(cu_load *l, const char *fmt, ...) {
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    int off = snprintf(msg, sizeof msg, "[%.3f] ", cu_elapsed());
    vsnprintf(msg + off, sizeof msg - (size_t)off, fmt, ap);
    va_end(ap);
    double now = tu_now();
    if (l->first_failure_at == 0) {
        l->first_failure_at = now;
        snprintf(l->first_problem, sizeof l->first_problem, "%s", msg);
    }
    l->last_failure_at = now;
    snprintf(l->last_problem, sizeof l->last_problem, "%s", msg);
}

static rcm_status timed(cu_load *l, int argc, const char **argv, rcm_reply **out) {
    double t0 = tu_now();
    rcm_status st = rcm_command(l->client, argc, argv, NULL, out);
    double dt = tu_now() - t0;
    if (dt > l->max_call_s) l->max_call_s = dt;
    l->calls++;
    l->status_count[cu_status_slot(st)]++;
    return st;
}

/* What became of each SET of a load thread, for explaining a wrong value. */
#define CU_HISTORY 4096
typedef struct {
    long it;
    rcm_status status;
    int error_reply;
    double t0, t1;
    char detail[120];
} set_record;

static void explain_wrong(cu_load *l, const set_record *hist, const char *key, const char *want, const rcm_reply *got,
                          double get_t0) {
    char text[600];
    int off = snprintf(text, sizeof text, "GET %s: expected \"%s\", got %s", key, want, tu_describe(got));
    const char *s = cu_str(got);
    int id = -1;
    long it = -1;
    if (s && sscanf(s, "w%d:%ld", &id, &it) == 2 && id == l->id && it >= 0) {
        const set_record *h = &hist[it % CU_HISTORY];
        if (h->it == it)
            snprintf(text + off, sizeof text - (size_t)off,
                     "; that value's SET (iteration %ld) returned %s%s%s after %.3f s, and ended %.3f s before this GET",
                     it, rcm_status_name(h->status), h->error_reply ? " with an error reply " : " ",
                     h->detail, h->t1 - h->t0, get_t0 - h->t1);
    }
    l->wrong++;
    if (!l->wrong_problem[0]) snprintf(l->wrong_problem, sizeof l->wrong_problem, "%s", text);
    note_problem(l, "%.290s", text);
}

void *cu_load_main(void *arg) {
    cu_load *l = arg;
    set_record *hist = calloc(CU_HISTORY, sizeof *hist);
    char value[96];
    for (long it = 0; !atomic_load(l->stop); it++) {
        const char *key = l->keys[it % l->nkeys];
        snprintf(value, sizeof value, "w%d:%ld", l->id, it);
        const char *set[] = {"SET", key, value};
        rcm_reply *r = NULL;
        set_record *h = &hist[it % CU_HISTORY];
        h->it = it;
        h->t0 = tu_now();
        rcm_status st = timed(l, 3, set, &r);
        h->t1 = tu_now();
        h->status = st;
        h->error_reply = st == RCM_OK && !tu_is_status(r, "OK");
        snprintf(h->detail, sizeof h->detail, "%s", st != RCM_OK ? rcm_last_error() : h->error_reply ? tu_describe(r) : "");
        if (st != RCM_OK) {
            l->failed++;
            note_problem(l, "SET %s: %s '%s'", key, rcm_status_name(st), rcm_last_error());
        } else if (!tu_is_status(r, "OK")) {
            l->error_replies++;
            note_problem(l, "SET %s: %s", key, tu_describe(r));
        }
        int written = st == RCM_OK && !h->error_reply;
        rcm_reply_free(r);
        if (written) {
            const char *get[] = {"GET", key};
            r = NULL;
            double g0 = tu_now();
            rcm_status g = timed(l, 2, get, &r);
            if (g != RCM_OK) {
                l->failed++;
                note_problem(l, "GET %s: %s '%s'", key, rcm_status_name(g), rcm_last_error());
            } else if (rcm_reply_type(r) == RCM_REPLY_ERROR) {
                l->error_replies++;
                note_problem(l, "GET %s: %s", key, tu_describe(r));
            } else if (!tu_is_cstring(r, value)) {
                explain_wrong(l, hist, key, value, r, g0);
            } else {
                __atomic_add_fetch(&l->ok, 1, __ATOMIC_RELAXED);
                l->last_ok_at = tu_now();
            }
            rcm_reply_free(r);
        }
        if (l->pause_us > 0) usleep((useconds_t)l->pause_us);
    }
    free(hist);
    return NULL;
}

void cu_load_print(const char *what, const cu_load *l) {
    printf("%s #%d: %ld ok, %ld calls, %ld failed, %ld error replies, %ld wrong, longest call %.3f s",
           what, l->id, l->ok, l->calls, l->failed, l->error_replies, l->wrong, l->max_call_s);
    for (int i = 1; i < CU_STATUS_SLOTS; i++)
        if (l->status_count[i])
            printf(", %s x%ld", rcm_status_name(i == CU_STATUS_SLOTS - 1 ? RCM_ERR_INTERNAL : (rcm_status)-i),
                   l->status_count[i]);
    printf("\n");
    if (l->first_problem[0]) printf("    first problem: %s\n    last problem:  %s\n", l->first_problem, l->last_problem);
    if (l->wrong_problem[0]) printf("    wrong value:   %s\n", l->wrong_problem);
    fflush(stdout);
}

void cu_group_init(cu_load_group *g, rcm_client *c, int n) {
    memset(g, 0, sizeof *g);
    g->n = n;
    atomic_store(&g->stop, 0);
    for (int i = 0; i < n; i++) {
        g->loads[i].client = c;
        g->loads[i].id = i;
        g->loads[i].keys = g->keys[i];
        g->loads[i].stop = &g->stop;
    }
}

void cu_group_start(cu_load_group *g) {
    atomic_store(&g->stop, 0);
    for (int i = 0; i < g->n; i++) {
        cu_load *l = &g->loads[i];
        rcm_client *c = l->client;
        int id = l->id, nkeys = l->nkeys;
        char (*keys)[64] = l->keys;
        memset(l, 0, sizeof *l);
        l->client = c;
        l->id = id;
        l->keys = keys;
        l->nkeys = nkeys;
        l->stop = &g->stop;
        pthread_create(&g->threads[i], NULL, cu_load_main, l);
    }
    g->running = 1;
}

void cu_group_stop(cu_load_group *g) {
    if (!g->running) return;
    atomic_store(&g->stop, 1);
    for (int i = 0; i < g->n; i++) pthread_join(g->threads[i], NULL);
    g->running = 0;
}

void cu_group_sum(cu_load_group *g, const char *what, cu_load *sum) {
    memset(sum, 0, sizeof *sum);
    for (int i = 0; i < g->n; i++) {
        const cu_load *l = &g->loads[i];
        cu_load_print(what, l);
        sum->ok += l->ok;
        sum->calls += l->calls;
        sum->failed += l->failed;
        sum->error_replies += l->error_replies;
        sum->wrong += l->wrong;
        for (int k = 0; k < CU_STATUS_SLOTS; k++) sum->status_count[k] += l->status_count[k];
        if (l->max_call_s > sum->max_call_s) sum->max_call_s = l->max_call_s;
        if (l->last_failure_at > sum->last_failure_at) {
            sum->last_failure_at = l->last_failure_at;
            snprintf(sum->last_problem, sizeof sum->last_problem, "%s", l->last_problem);
        }
        if (l->wrong_problem[0] && !sum->wrong_problem[0])
            snprintf(sum->wrong_problem, sizeof sum->wrong_problem, "%s", l->wrong_problem);
        if (l->first_failure_at && (!sum->first_failure_at || l->first_failure_at < sum->first_failure_at)) {
            sum->first_failure_at = l->first_failure_at;
            snprintf(sum->first_problem, sizeof sum->first_problem, "%s", l->first_problem);
        }
    }
}

long long cu_stats_sum(rcm_client *c, const char *counter) {
    char *json = NULL;
    TU_ASSERT_RC(rcm_client_stats_json(c, &json), RCM_OK);
    cj *s = cj_parse(json);
    if (!s) fail_msg("stats JSON does not parse: %s", json);
    rcm_free(json);
    const cj *servers = cj_get(s, "servers");
    long long sum = 0;
    for (size_t i = 0; servers && i < servers->n; i++) sum += (long long)cj_num(cj_get(cj_at(servers, i), counter), 0);
    cj_free(s);
    return sum;
}

int cu_layout_fixture(void **state) {
    (void)state;
    char why[256];
    if (cu_restore_layout(why, sizeof why) != 0) {
        fprintf(stderr, "the cluster is not in the harness's layout and could not be restored: %s\n", why);
        return -1;
    }
    return 0;
}
