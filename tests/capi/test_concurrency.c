/* capi.concurrency: many threads on one client, big pipelines; no reply lost or crossed. */
#define _GNU_SOURCE
#include "test_util.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define THREADS 16
#define COMMANDS_PER_THREAD 10000 /* SET + GET pairs: 5000 of each */
#define KEYS_PER_THREAD 64

struct worker {
    rcm_client *client;
    int id;
    int done;       /* commands completed with RCM_OK */
    int failed;     /* commands that did not return RCM_OK */
    int crossed;    /* replies that were not this command's */
    rcm_status first_failure;
    char first_crossed[200];
};

static void note_crossed(struct worker *w, const char *what, const rcm_reply *r) {
    if (w->crossed++ == 0)
        snprintf(w->first_crossed, sizeof w->first_crossed, "%s got %s", what, tu_describe(r));
}

static void *set_get_worker(void *p) {
    struct worker *w = p;
    char key[64], val[64];
    for (int i = 0; i < COMMANDS_PER_THREAD / 2; i++) {
        snprintf(key, sizeof key, "conc:{t%d}:%d", w->id, i % KEYS_PER_THREAD);
        snprintf(val, sizeof val, "t%d-i%d-%08x", w->id, i, (unsigned)(i * 2654435761u));
        const char *sa[] = {"SET", key, val};
        rcm_reply *r = NULL;
        rcm_status st = rcm_command(w->client, 3, sa, NULL, &r);
        if (st != RCM_OK) {
            if (w->failed++ == 0) w->first_failure = st;
        } else {
            w->done++;
            if (!tu_is_status(r, "OK")) note_crossed(w, "SET", r);
        }
        rcm_reply_free(r);
        r = NULL;
        const char *ga[] = {"GET", key};
        st = rcm_command(w->client, 2, ga, NULL, &r);
        if (st != RCM_OK) {
            if (w->failed++ == 0) w->first_failure = st;
        } else {
            w->done++;
            if (!tu_is_cstring(r, val)) note_crossed(w, "GET", r);
        }
        rcm_reply_free(r);
    }
    return NULL;
}

/* spin: io_spin_us and sync_spin_us, the I/O thread's and the callers' polling windows
 * (their defaults, and 0: sleep at once). */
static void sixteen_threads_share_one_client(const char *io_spin, const char *sync_spin) {
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), "command_timeout_ms", "10000", "io_spin_us", io_spin,
                               "sync_spin_us", sync_spin, NULL);
    struct worker w[THREADS];
    pthread_t t[THREADS];
    tu_watchdog_arm(300, "16 threads x 10000 commands");
    double t0 = tu_now();
    for (int i = 0; i < THREADS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].client = c;
        w[i].id = i;
        pthread_create(&t[i], NULL, set_get_worker, &w[i]);
    }
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    tu_watchdog_disarm();
    double dt = tu_now() - t0;
    int done = 0, failed = 0, crossed = 0;
    for (int i = 0; i < THREADS; i++) {
        done += w[i].done;
        failed += w[i].failed;
        crossed += w[i].crossed;
        if (w[i].failed)
            printf("thread %d: %d failed, first %s\n", i, w[i].failed, rcm_status_name(w[i].first_failure));
        if (w[i].crossed) printf("thread %d: %d crossed, first: %s\n", i, w[i].crossed, w[i].first_crossed);
    }
    printf("%d threads: %d commands OK, %d failed, %d crossed in %.2f s\n", THREADS, done, failed,
           crossed, dt);
    assert_int_equal(failed, 0);
    assert_int_equal(crossed, 0);
    assert_int_equal(done, THREADS * COMMANDS_PER_THREAD);

    /* every thread's last values are in place */
    for (int i = 0; i < THREADS; i++) {
        int last = COMMANDS_PER_THREAD / 2 - 1;
        char key[64], val[64];
        snprintf(key, sizeof key, "conc:{t%d}:%d", i, last % KEYS_PER_THREAD);
        snprintf(val, sizeof val, "t%d-i%d-%08x", i, last, (unsigned)(last * 2654435761u));
        rcm_reply *r = tu_cmd_ok(c, "GET", key, NULL);
        TU_ASSERT_CSTRING_REPLY(r, val);
        rcm_reply_free(r);
    }
    rcm_client_close(c);
}

static void test_concurrency__sixteen_threads_share_one_client(void **state) {
    (void)state;
    sixteen_threads_share_one_client("300", "200");
}

static void test_concurrency__sixteen_threads_share_one_client_no_spin(void **state) {
    (void)state;
    sixteen_threads_share_one_client("0", "0");
}

/* CPU seconds (user + system) the thread named `name` of this process has used; -1 when
 * there is no such thread. */
static double thread_cpu_seconds(const char *name) {
    DIR *d = opendir("/proc/self/task");
    if (d == NULL) return -1;
    double found = -1;
    struct dirent *e;
    while (found < 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char path[300], comm[64] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL) continue;
        if (fgets(comm, sizeof comm, f) == NULL) comm[0] = 0;
        fclose(f);
        comm[strcspn(comm, "\n")] = 0;
        if (strcmp(comm, name) != 0) continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
        f = fopen(path, "r");
        if (f == NULL) continue;
        char buf[1024];
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        const char *p = strrchr(buf, ')'); /* fields after the (comm) */
        unsigned long utime = 0, stime = 0;
        if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) == 2)
            found = (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
    }
    closedir(d);
    return found;
}

/* The I/O thread polls for a while after activity (io_spin_us) and then sleeps: once the
 * traffic stops, it must use next to no CPU. (A loop that never went back to sleep
 * would use about one CPU second per second here.) */
static void test_concurrency__idle_client_does_not_spin(void **state) {
    (void)state;
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), "io_spin_us", "10000", NULL);
    for (int i = 0; i < 2000; i++) {
        rcm_reply *r = tu_cmd_ok(c, "SET", "conc:idle", "x", NULL);
        rcm_reply_free(r);
    }
    tu_sleep_ms(200);
    double before = thread_cpu_seconds("rcm-io-0");
    assert_true(before >= 0); /* the I/O thread carries its name */
    tu_sleep_ms(2000);
    double used = thread_cpu_seconds("rcm-io-0") - before;
    printf("I/O thread CPU while idle for 2 s: %.3f s\n", used);
    assert_true(used < 0.5);
    rcm_reply *r = tu_cmd_ok(c, "GET", "conc:idle", NULL);
    TU_ASSERT_CSTRING_REPLY(r, "x");
    rcm_reply_free(r);
    rcm_client_close(c);
}

#define PIPE_N 10000

/* A caller waiting for a reply polls (yielding the CPU) for at most sync_spin_us, and
 * that window halves each time the wait runs longer: a thread that keeps waiting on slow
 * commands soon sleeps at once. Here 20 commands of 50 ms with a 10 ms window: polling
 * the whole window each time would use about 200 ms of the calling thread's CPU (a
 * yield returns at once when nothing else wants the CPU); halving, about 20 ms. */
struct slow_waiter {
    rcm_client *client;
    double cpu, wall;
};

static void *slow_waits(void *arg) {
    struct slow_waiter *w = arg;
    struct timespec a, b;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
    double t0 = tu_now();
    for (int i = 0; i < 20; i++) {
        rcm_reply *r = tu_cmd_ok(w->client, "DEBUG", "SLEEP", "0.05", NULL);
        rcm_reply_free(r);
    }
    w->wall = tu_now() - t0;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
    w->cpu = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    return NULL;
}

/* The window is per thread: a new thread starts at the full 10 ms. */
static void test_concurrency__slow_replies_shrink_the_callers_polling(void **state) {
    (void)state;
    struct slow_waiter w = {tu_open_ok(tu_port(TU_PLAIN), "sync_spin_us", "10000", NULL), 0, 0};
    pthread_t t;
    pthread_create(&t, NULL, slow_waits, &w);
    pthread_join(t, NULL);
    printf("caller CPU over 20 x 50 ms waits (%.2f s): %.3f s\n", w.wall, w.cpu);
    assert_true(w.wall >= 1.0);
    assert_true(w.cpu < 0.1);
    rcm_client_close(w.client);
}

static void test_concurrency__ten_thousand_command_pipeline_in_order(void **state) {
    (void)state;
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), "command_timeout_ms", "20000", NULL);
    rcm_reply *r = tu_cmd_ok(c, "DEL", "conc:pipe:counter", NULL);
    rcm_reply_free(r);
    rcm_pipeline *p = NULL;
    TU_ASSERT_RC(rcm_pipeline_new(c, &p), RCM_OK);
    char tok[32];
    for (int i = 0; i < PIPE_N; i++) {
        if (i % 2 == 0) {
            const char *a[] = {"INCR", "conc:pipe:counter"};
            TU_ASSERT_RC(rcm_pipeline_append(p, 2, a, NULL), RCM_OK);
        } else {
            snprintf(tok, sizeof tok, "pipe-%d", i); /* copied by append */
            const char *a[] = {"ECHO", tok};
            TU_ASSERT_RC(rcm_pipeline_append(p, 2, a, NULL), RCM_OK);
        }
    }
    assert_int_equal(rcm_pipeline_length(p), PIPE_N);
    rcm_reply **rs = NULL;
    size_t n = 0;
    tu_watchdog_arm(120, "10000-command pipeline");
    TU_ASSERT_RC(rcm_pipeline_exec(p, &rs, &n), RCM_OK);
    tu_watchdog_disarm();
    assert_int_equal(n, PIPE_N);
    int wrong = 0;
    for (int i = 0; i < PIPE_N; i++) {
        int ok;
        if (i % 2 == 0) {
            ok = tu_is_integer(rs[i], i / 2 + 1);
        } else {
            snprintf(tok, sizeof tok, "pipe-%d", i);
            ok = tu_is_cstring(rs[i], tok);
        }
        if (!ok && wrong++ < 5) printf("reply %d: %s\n", i, tu_describe(rs[i]));
        rcm_reply_free(rs[i]);
    }
    rcm_free(rs);
    assert_int_equal(wrong, 0);
    assert_int_equal(rcm_pipeline_length(p), 0);
    rcm_pipeline_free(p);

    r = tu_cmd_ok(c, "GET", "conc:pipe:counter", NULL);
    TU_ASSERT_CSTRING_REPLY(r, "5000");
    rcm_reply_free(r);
    rcm_client_close(c);
}

/* Pipelines of several threads on one client, interleaved with plain commands. */
#define PIPE_THREADS 4
#define PIPE_ROUNDS 20
#define PIPE_BATCH 500

struct pipe_worker {
    rcm_client *client;
    int id;
    int wrong;
    int failed;
};

static void *pipe_worker_main(void *p) {
    struct pipe_worker *w = p;
    char tok[64];
    for (int round = 0; round < PIPE_ROUNDS; round++) {
        rcm_pipeline *pl = NULL;
        if (rcm_pipeline_new(w->client, &pl) != RCM_OK) {
            w->failed++;
            continue;
        }
        for (int i = 0; i < PIPE_BATCH; i++) {
            snprintf(tok, sizeof tok, "w%d-r%d-i%d", w->id, round, i);
            const char *a[] = {"ECHO", tok};
            if (rcm_pipeline_append(pl, 2, a, NULL) != RCM_OK) w->failed++;
        }
        rcm_reply **rs = NULL;
        size_t n = 0;
        if (rcm_pipeline_exec(pl, &rs, &n) != RCM_OK || n != PIPE_BATCH) {
            w->failed++;
        } else {
            for (size_t i = 0; i < n; i++) {
                snprintf(tok, sizeof tok, "w%d-r%d-i%zu", w->id, round, i);
                if (!tu_is_cstring(rs[i], tok)) w->wrong++;
                rcm_reply_free(rs[i]);
            }
        }
        rcm_free(rs);
        rcm_pipeline_free(pl);
        /* a plain command between pipelines */
        snprintf(tok, sizeof tok, "plain-w%d-r%d", w->id, round);
        const char *a[] = {"ECHO", tok};
        rcm_reply *r = NULL;
        if (rcm_command(w->client, 2, a, NULL, &r) != RCM_OK) w->failed++;
        else if (!tu_is_cstring(r, tok)) w->wrong++;
        rcm_reply_free(r);
    }
    return NULL;
}

static void test_concurrency__pipelines_from_several_threads(void **state) {
    (void)state;
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), "command_timeout_ms", "10000", NULL);
    struct pipe_worker w[PIPE_THREADS];
    pthread_t t[PIPE_THREADS];
    tu_watchdog_arm(120, "pipelines from several threads");
    for (int i = 0; i < PIPE_THREADS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].client = c;
        w[i].id = i;
        pthread_create(&t[i], NULL, pipe_worker_main, &w[i]);
    }
    int wrong = 0, failed = 0;
    for (int i = 0; i < PIPE_THREADS; i++) {
        pthread_join(t[i], NULL);
        wrong += w[i].wrong;
        failed += w[i].failed;
    }
    tu_watchdog_disarm();
    if (wrong || failed) fail_msg("%d replies wrong, %d calls failed", wrong, failed);
    rcm_client_close(c);
}

/* Async from several threads at once, each callback exactly once with its own reply. */
#define ASYNC_THREADS 8
#define ASYNC_PER_THREAD 2000

struct async_req {
    char tok[40];
    atomic_int calls;
    atomic_int good;
};
static struct async_req async_reqs[ASYNC_THREADS * ASYNC_PER_THREAD];
static atomic_int async_done;
static rcm_client *async_client;

static void async_cb(rcm_status st, rcm_reply *r, void *ud) {
    struct async_req *q = ud;
    if (st == RCM_OK && tu_is_cstring(r, q->tok)) atomic_store(&q->good, 1);
    rcm_reply_free(r);
    atomic_fetch_add(&q->calls, 1);
    atomic_fetch_add(&async_done, 1);
}

static void *async_thread(void *p) {
    int id = (int)(size_t)p;
    for (int i = 0; i < ASYNC_PER_THREAD; i++) {
        struct async_req *q = &async_reqs[id * ASYNC_PER_THREAD + i];
        snprintf(q->tok, sizeof q->tok, "a%d-%d", id, i);
        const char *a[] = {"ECHO", q->tok};
        if (rcm_command_async(async_client, 2, a, NULL, async_cb, q) != RCM_OK) {
            atomic_fetch_add(&q->calls, 100); /* marks a refused request */
            atomic_fetch_add(&async_done, 1);
        }
    }
    return NULL;
}

static void test_concurrency__async_from_several_threads(void **state) {
    (void)state;
    async_client = tu_open_ok(tu_port(TU_PLAIN), "command_timeout_ms", "10000", NULL);
    atomic_store(&async_done, 0);
    pthread_t t[ASYNC_THREADS];
    for (int i = 0; i < ASYNC_THREADS; i++) pthread_create(&t[i], NULL, async_thread, (void *)(size_t)i);
    for (int i = 0; i < ASYNC_THREADS; i++) pthread_join(t[i], NULL);
    const int total = ASYNC_THREADS * ASYNC_PER_THREAD;
    double deadline = tu_now() + 30;
    while (atomic_load(&async_done) < total && tu_now() < deadline) tu_sleep_ms(5);
    tu_sleep_ms(100);
    int not_once = 0, bad = 0;
    for (int i = 0; i < total; i++) {
        if (atomic_load(&async_reqs[i].calls) != 1) not_once++;
        else if (!atomic_load(&async_reqs[i].good)) bad++;
    }
    if (not_once || bad)
        fail_msg("%d of %d callbacks not called exactly once, %d with a wrong reply", not_once,
                 total, bad);
    rcm_client_close(async_client);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrency__sixteen_threads_share_one_client),
        cmocka_unit_test(test_concurrency__sixteen_threads_share_one_client_no_spin),
        cmocka_unit_test(test_concurrency__ten_thousand_command_pipeline_in_order),
        cmocka_unit_test(test_concurrency__pipelines_from_several_threads),
        cmocka_unit_test(test_concurrency__async_from_several_threads),
        cmocka_unit_test(test_concurrency__idle_client_does_not_spin),
        cmocka_unit_test(test_concurrency__slow_replies_shrink_the_callers_polling),
    };
    return TU_RUN(tests, argc, argv);
}
