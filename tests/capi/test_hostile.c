/* capi.hostile: a server that answers with malformed RESP (tests/capi/hostile_server.py
 * on RCM_TEST_PORT_BASE+70) fails only the requests that met the broken frames. Driven
 * through rcm_command, rcm_command_async, pipelines and leases, each case must:
 *   - end within its deadline (command_timeout_ms) + 0.5 s, measured per call;
 *   - fail with the status the failure table gives (protocol error, timeout, connection),
 *     or, for a valid reply followed by garbage, return that reply;
 *   - leave the process's resident memory within a bound derived from max_reply_bytes;
 *   - leave the client working: a well-behaved request right after succeeds, with its
 *     own value (the fake answers GET k with k);
 * while a second client against the harness's real server (+0) keeps getting correct
 * replies. Meant to run under ASan too (scripts/test.sh runs every ctest test in both
 * builds): a crash or a use-after-free there fails it. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#define DEADLINE_MS 2000
#define LATE_MS 500 /* how much later than its deadline a call may end */
/* Small, so that reading up to it three times (a read is resent after a protocol
 * error) fits well within the deadline on a loaded machine, under ASan too. */
#define MAX_REPLY_BYTES (256 * 1024)

#if defined(__SANITIZE_ADDRESS__)
#define HOSTILE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HOSTILE_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define HOSTILE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define HOSTILE_TSAN 1
#endif
#endif
/* A reply costs more in memory than on the wire: ":1\r\n" (4 bytes) becomes a reply
 * object of about 100 bytes (more with ASan's redzones). The bound allows that, for the
 * few connections that may hold a partial reply at once, plus the allocator's slack
 * (ASan's allocator and quarantine hold more: measured +55 MiB there, +13 MiB without;
 * TSan's shadow more still, below);
 * a client without the bound read +83 MiB of hugearray before its deadline. */
#if defined(HOSTILE_ASAN)
#define RSS_SLACK (96LL * 1024 * 1024)
#elif defined(HOSTILE_TSAN)
/* TSan's shadow takes several bytes per byte the program touches: measured +51 MiB at
 * hugearray (a client without the bound would touch ~4 x 83 MiB). */
#define RSS_SLACK (128LL * 1024 * 1024)
#else
#define RSS_SLACK (32LL * 1024 * 1024)
#endif
#define RSS_GROWTH_BOUND ((long long)MAX_REPLY_BYTES * 64 + RSS_SLACK)

#if defined(HOSTILE_ASAN)
/* ASan keeps freed memory in quarantine (256 MiB by default), which would count as
 * resident here; ASAN_OPTIONS still overrides this. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "quarantine_size_mb=16"; }
#endif

enum expect {
    E_PROTOCOL = 1 << 0,
    E_TIMEOUT = 1 << 1,
    E_CONNECTION = 1 << 2, /* RCM_ERR_CONNECTION or, sent before the break, RCM_ERR_UNCERTAIN */
    E_VALUE = 1 << 3,      /* RCM_OK with "bar" (a valid reply came before the garbage) */
};

struct hcase {
    const char *name;
    int expect;
    /* Only meaningful with nothing behind it on its connection: a reply nobody asked for
     * is, to any RESP2 client, the reply of the next request written (a pipeline's). */
    int alone;
};

static const struct hcase CASES[] = {
    {"hugebulk", E_PROTOCOL, 0},   {"bulktrickle", E_TIMEOUT, 0}, {"hugearray", E_PROTOCOL, 0},
    {"endless", E_PROTOCOL, 0},    {"deep", E_PROTOCOL, 0},       {"negbulk", E_PROTOCOL, 0},
    {"negarray", E_PROTOCOL, 0},   {"badtype", E_PROTOCOL, 0},    {"badint", E_PROTOCOL, 0},
    {"badlen", E_PROTOCOL, 0},     {"half", E_CONNECTION, 0},     {"garbage", E_VALUE, 0},
    {"extra", E_VALUE, 1},         {"silent", E_TIMEOUT, 0},
};
#define NCASES (sizeof CASES / sizeof CASES[0])

static tu_script g_server = TU_SCRIPT_INIT;
static long long g_rss_base;

static int hostile_port(void) { return tu_port(TU_PRIV_HOSTILE); }

/* VmRSS of this process in bytes; -1 when unreadable. */
static long long rss_bytes(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long long kb = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) kb = atoll(line + 6);
    fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

static void check_rss(const char *after) {
    long long now = rss_bytes();
    if (now < 0) fail_msg("cannot read VmRSS from /proc/self/status");
    if (now - g_rss_base > RSS_GROWTH_BOUND)
        fail_msg("after %s resident memory grew by %lld KiB (bound %lld KiB, max_reply_bytes=%d)", after,
                 (now - g_rss_base) / 1024, RSS_GROWTH_BOUND / 1024, MAX_REPLY_BYTES);
}

static int matches(int expect, rcm_status st, const rcm_reply *r) {
    if (st == RCM_OK) return (expect & E_VALUE) && tu_is_cstring(r, "bar");
    if (st == RCM_ERR_PROTOCOL) return (expect & E_PROTOCOL) != 0;
    if (st == RCM_ERR_TIMEOUT) return (expect & E_TIMEOUT) != 0;
    if (st == RCM_ERR_CONNECTION || st == RCM_ERR_UNCERTAIN) return (expect & E_CONNECTION) != 0;
    return 0;
}

static double ms_since(double t0) { return (tu_now() - t0) * 1000.0; }

static void check_in_time(double ms, const char *what, const char *name) {
    if (ms > DEADLINE_MS + LATE_MS)
        fail_msg("%s hostile:%s took %.0f ms, more than its deadline (%d ms) + %d ms", what, name, ms, DEADLINE_MS,
                 LATE_MS);
}

static rcm_client *open_hostile(void) {
    char deadline[16], max_reply[16];
    snprintf(deadline, sizeof deadline, "%d", DEADLINE_MS);
    snprintf(max_reply, sizeof max_reply, "%d", MAX_REPLY_BYTES);
    return tu_open_ok(hostile_port(), "command_timeout_ms", deadline, "max_reply_bytes", max_reply,
                      "connect_timeout_ms", "2000", NULL);
}

/* GET <key> must answer <key> (the fake's well-behaved path). */
static void expect_good(rcm_client *c, const char *key, const char *after) {
    rcm_reply *r = NULL;
    rcm_status st = tu_cmd(c, &r, "GET", key, NULL);
    if (st != RCM_OK || !tu_is_cstring(r, key))
        fail_msg("GET %s after hostile:%s: %s %s (%s)", key, after, rcm_status_name(st), tu_describe(r),
                 rcm_last_error());
    rcm_reply_free(r);
}

/* ---- a bystander: a second client on the real server, busy the whole time ---------- */

struct bystander {
    pthread_t thread;
    atomic_int stop;
    atomic_long calls;
    atomic_long wrong; /* failed calls or replies that are not the caller's */
    char first_problem[256];
};

static void *bystander_run(void *arg) {
    struct bystander *b = arg;
    rcm_config *cfg = rcm_config_new();
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", tu_port(TU_PLAIN));
    rcm_client *c = NULL;
    if (!cfg || rcm_config_from_url(cfg, url) != RCM_OK || rcm_config_set(cfg, "command_timeout_ms", "10000") != RCM_OK ||
        rcm_client_open(cfg, &c) != RCM_OK) {
        snprintf(b->first_problem, sizeof b->first_problem, "open %s: %s", url, rcm_last_error());
        atomic_fetch_add(&b->wrong, 1);
        rcm_config_free(cfg);
        return NULL;
    }
    rcm_config_free(cfg);
    for (long i = 0; !atomic_load(&b->stop) && i < 1000000; i++) {
        char key[64], val[64];
        snprintf(key, sizeof key, "rcm:hostile:bystander:%ld", i % 16);
        snprintf(val, sizeof val, "v%ld", i);
        rcm_reply *r = NULL;
        rcm_status st = tu_cmd(c, &r, "SET", key, val, NULL);
        int ok = st == RCM_OK && tu_is_status(r, "OK");
        rcm_reply_free(r);
        r = NULL;
        if (ok) {
            st = tu_cmd(c, &r, "GET", key, NULL);
            ok = st == RCM_OK && tu_is_cstring(r, val);
        }
        if (!ok && atomic_fetch_add(&b->wrong, 1) == 0)
            snprintf(b->first_problem, sizeof b->first_problem, "%s on %s: %s %s", rcm_status_name(st), key,
                     tu_describe(r), rcm_last_error());
        rcm_reply_free(r);
        atomic_fetch_add(&b->calls, 1);
    }
    rcm_client_close(c);
    return NULL;
}

/* Starts the bystander and waits until it has its client and made a first call, so the
 * hostile traffic that follows runs beside it. */
static void bystander_start(struct bystander *b) {
    memset(b, 0, sizeof *b);
    assert_int_equal(pthread_create(&b->thread, NULL, bystander_run, b), 0);
    for (int i = 0; i < 3000 && atomic_load(&b->calls) == 0 && atomic_load(&b->wrong) == 0; i++) tu_sleep_ms(10);
}

/* Stops the bystander once it made at least a few calls (on a loaded machine the
 * hostile phase may end before it made many; no rate is asserted), and checks that
 * every call it made succeeded with its own value. */
static void bystander_stop_ok(struct bystander *b) {
    long during = atomic_load(&b->calls) - 1;
    for (int i = 0; i < 3000 && atomic_load(&b->calls) < 10 && atomic_load(&b->wrong) == 0; i++) tu_sleep_ms(10);
    atomic_store(&b->stop, 1);
    pthread_join(b->thread, NULL);
    print_message("the client on the real server: %ld calls during the hostile phase, %ld in all\n", during,
                  atomic_load(&b->calls));
    if (atomic_load(&b->wrong) > 0)
        fail_msg("the client on the real server saw %ld bad call(s) of %ld; first: %s", atomic_load(&b->wrong),
                 atomic_load(&b->calls), b->first_problem);
    if (atomic_load(&b->calls) < 10) fail_msg("the client on the real server made only %ld calls in 30 s", atomic_load(&b->calls));
}

/* The start of every test: a client of the hostile server that has made one good call,
 * the memory baseline, and the bystander running. */
static rcm_client *begin_ok(struct bystander *b) {
    rcm_client *c = open_hostile();
    expect_good(c, "good:first", "(none yet)");
    g_rss_base = rss_bytes();
    bystander_start(b);
    return c;
}

static void end_ok(rcm_client *c, struct bystander *b) {
    rcm_client_close(c);
    bystander_stop_ok(b);
}

/* ---- fixture ---------------------------------------------------------------------- */

static int group_setup(void **state) {
    (void)state;
    char port[16];
    snprintf(port, sizeof port, "%d", hostile_port());
    const char *args[] = {"--port", port, NULL};
    tu_script_start_ok(&g_server, "RCM_HOSTILE_SERVER", "RCM_HOSTILE_PYTHON", args);
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    tu_script_stop(&g_server);
    return 0;
}

/* ---- tests ------------------------------------------------------------------------ */

static void test_hostile__sync_calls_fail_alone_within_their_deadline(void **state) {
    (void)state;
    struct bystander b;
    rcm_client *c = begin_ok(&b);
    char key[64], good[64];
    for (size_t i = 0; i < NCASES; i++) {
        snprintf(key, sizeof key, "hostile:%s", CASES[i].name);
        rcm_reply *r = NULL;
        double t0 = tu_now();
        rcm_status st = tu_cmd(c, &r, "GET", key, NULL);
        double ms = ms_since(t0);
        if (!matches(CASES[i].expect, st, r))
            fail_msg("GET %s: %s %s (%s)", key, rcm_status_name(st), tu_describe(r), rcm_last_error());
        if ((st == RCM_ERR_PROTOCOL || st == RCM_ERR_CONNECTION) && strstr(rcm_last_error(), "127.0.0.1:") == NULL)
            fail_msg("GET %s: the message names no server: '%s'", key, rcm_last_error());
        print_message("%-20s %-20s %5.0f ms  RSS %+lld KiB\n", key, rcm_status_name(st), ms,
                      (rss_bytes() - g_rss_base) / 1024);
        rcm_reply_free(r);
        check_in_time(ms, "rcm_command", CASES[i].name);
        check_rss(key);
        snprintf(good, sizeof good, "good:%s", CASES[i].name);
        expect_good(c, good, CASES[i].name);
    }
    end_ok(c, &b);
}

struct async_call {
    atomic_int calls;
    rcm_status status;
    char value[64];
    double submitted, ended;
};

static void on_async(rcm_status st, rcm_reply *r, void *ud) {
    struct async_call *a = ud;
    a->status = st;
    size_t len = 0;
    const char *s = st == RCM_OK && rcm_reply_type(r) == RCM_REPLY_STRING ? rcm_reply_string(r, &len) : NULL;
    if (s && len < sizeof a->value) memcpy(a->value, s, len);
    rcm_reply_free(r);
    a->ended = tu_now();
    atomic_fetch_add(&a->calls, 1);
}

/* Every case at once (but `extra`), each with a well-behaved GET beside it, spread over
 * the pool's connections: every callback comes exactly once and in time; a request may
 * be caught behind another's broken frame and fail like it (after its resends), so
 * hostile ones end in a failure status or with their own value, and well-behaved ones
 * with their own value or a failure status, never with another request's reply. */
static void test_hostile__async_calls_complete_once_within_their_deadline(void **state) {
    (void)state;
    struct bystander b;
    rcm_client *c = begin_ok(&b);
    static struct async_call calls[2 * NCASES];
    memset(calls, 0, sizeof calls);
    char keys[2 * NCASES][64];
    for (size_t i = 0; i < 2 * NCASES; i++) {
        snprintf(keys[i], sizeof keys[i], "%s:%s", i % 2 ? "good" : "hostile", CASES[i / 2].name);
        if (CASES[i / 2].alone) {
            atomic_store(&calls[i].calls, 1);
            continue;
        }
        const char *argv[] = {"GET", keys[i]};
        calls[i].submitted = tu_now();
        TU_ASSERT_RC(rcm_command_async(c, 2, argv, NULL, on_async, &calls[i]), RCM_OK);
    }
    double until = tu_now() + (DEADLINE_MS + LATE_MS) / 1000.0 + 10;
    for (size_t i = 0; i < 2 * NCASES; i++)
        while (atomic_load(&calls[i].calls) == 0 && tu_now() < until) tu_sleep_ms(5);
    tu_sleep_ms(200); /* a second callback would come now */
    for (size_t i = 0; i < 2 * NCASES; i++) {
        struct async_call *a = &calls[i];
        if (CASES[i / 2].alone) continue;
        int n = atomic_load(&a->calls);
        if (n != 1) fail_msg("GET %s: callback called %d times", keys[i], n);
        check_in_time((a->ended - a->submitted) * 1000.0, "rcm_command_async", keys[i]);
        if (i % 2 == 0) {
            if (a->status == RCM_OK && strcmp(a->value, "bar") != 0) fail_msg("GET %s: OK with '%s'", keys[i], a->value);
            if (a->status != RCM_OK && !matches(E_PROTOCOL | E_TIMEOUT | E_CONNECTION, a->status, NULL))
                fail_msg("GET %s: %s", keys[i], rcm_status_name(a->status));
        } else if (a->status == RCM_OK && strcmp(a->value, keys[i]) != 0) {
            fail_msg("GET %s answered '%s' (another request's reply)", keys[i], a->value);
        } else if (a->status != RCM_OK && !matches(E_PROTOCOL | E_TIMEOUT | E_CONNECTION, a->status, NULL)) {
            fail_msg("GET %s: %s", keys[i], rcm_status_name(a->status));
        }
    }
    check_rss("every case at once");
    expect_good(c, "good:after", "every case at once");
    end_ok(c, &b);
}

/* A pipeline [GET good:a, GET hostile:<case>, GET good:b]: exec ends in time, the
 * request before the broken frame has its own reply, the hostile one an rcm error of its
 * case's status, the one behind it its own reply or an rcm error (never another's). */
static void test_hostile__pipelines_fail_the_broken_request_only(void **state) {
    (void)state;
    struct bystander b;
    rcm_client *c = begin_ok(&b);
    rcm_pipeline *p = NULL;
    TU_ASSERT_RC(rcm_pipeline_new(c, &p), RCM_OK);
    for (size_t i = 0; i < NCASES; i++) {
        if (CASES[i].alone) continue;
        char keys[3][64];
        snprintf(keys[0], sizeof keys[0], "good:before:%s", CASES[i].name);
        snprintf(keys[1], sizeof keys[1], "hostile:%s", CASES[i].name);
        snprintf(keys[2], sizeof keys[2], "good:after:%s", CASES[i].name);
        for (int k = 0; k < 3; k++) {
            const char *argv[] = {"GET", keys[k]};
            TU_ASSERT_RC(rcm_pipeline_append(p, 2, argv, NULL), RCM_OK);
        }
        rcm_reply **rs = NULL;
        size_t n = 0;
        double t0 = tu_now();
        rcm_status st = rcm_pipeline_exec(p, &rs, &n);
        double ms = ms_since(t0);
        if (st == RCM_OK && n == 3)
            print_message("pipeline %-12s %-18s %-18s %5.0f ms\n", CASES[i].name, rcm_status_name(rcm_reply_status(rs[1])),
                          rcm_status_name(rcm_reply_status(rs[2])), ms);
        check_in_time(ms, "rcm_pipeline_exec with", CASES[i].name);
        TU_ASSERT_RC(st, RCM_OK);
        assert_int_equal(n, 3);
        if (!tu_is_cstring(rs[0], keys[0])) fail_msg("%s in a pipeline: %s", keys[0], tu_describe(rs[0]));
        rcm_status hs = rcm_reply_type(rs[1]) == RCM_REPLY_ERROR ? rcm_reply_status(rs[1]) : RCM_OK;
        if (!matches(CASES[i].expect, hs, rs[1])) fail_msg("%s in a pipeline: %s", keys[1], tu_describe(rs[1]));
        if (!tu_is_cstring(rs[2], keys[2]) && rcm_reply_status(rs[2]) == RCM_OK)
            fail_msg("%s in a pipeline: %s", keys[2], tu_describe(rs[2]));
        for (size_t k = 0; k < n; k++) rcm_reply_free(rs[k]);
        rcm_free(rs);
        check_rss(keys[1]);
    }
    rcm_pipeline_free(p);
    expect_good(c, "good:after:pipelines", "pipelines");
    end_ok(c, &b);
}

/* On a lease nothing is retried: the command that met the broken frame fails, the lease
 * is then dead (its next command fails at once, in time), and a new lease works. */
static void test_hostile__lease_fails_and_the_next_lease_works(void **state) {
    (void)state;
    struct bystander b;
    rcm_client *c = begin_ok(&b);
    for (size_t i = 0; i < NCASES; i++) {
        char key[64];
        snprintf(key, sizeof key, "hostile:%s", CASES[i].name);
        rcm_lease *l = NULL;
        TU_ASSERT_RC(rcm_lease_acquire(c, NULL, 0, &l), RCM_OK);
        rcm_reply *r = NULL;
        double t0 = tu_now();
        rcm_status st = tu_lease_cmd(l, &r, "GET", key, NULL);
        double ms = ms_since(t0);
        print_message("lease    %-12s %-18s %5.0f ms\n", CASES[i].name, rcm_status_name(st), ms);
        check_in_time(ms, "rcm_lease_command", CASES[i].name);
        if (!matches(CASES[i].expect, st, r))
            fail_msg("GET %s on a lease: %s %s (%s)", key, rcm_status_name(st), tu_describe(r), rcm_last_error());
        rcm_reply_free(r);
        r = NULL;
        /* The same lease afterwards: whatever it answers, in time and never another's reply. */
        t0 = tu_now();
        st = tu_lease_cmd(l, &r, "GET", "good:lease", NULL);
        check_in_time(ms_since(t0), "rcm_lease_command after", CASES[i].name);
        if (st == RCM_OK && !tu_is_cstring(r, "good:lease"))
            fail_msg("GET good:lease after %s on the same lease: %s", key, tu_describe(r));
        rcm_reply_free(r);
        rcm_lease_release(l);
        check_rss(key);
        TU_ASSERT_RC(rcm_lease_acquire(c, NULL, 0, &l), RCM_OK);
        r = NULL;
        st = tu_lease_cmd(l, &r, "GET", "good:lease", NULL);
        if (st != RCM_OK || !tu_is_cstring(r, "good:lease"))
            fail_msg("GET good:lease on a new lease after %s: %s %s (%s)", key, rcm_status_name(st), tu_describe(r),
                     rcm_last_error());
        rcm_reply_free(r);
        rcm_lease_release(l);
    }
    end_ok(c, &b);
}

/* Under the default max_reply_bytes (512 MiB) a flood is not cut by the bound within
 * the deadline, so the deadline must cut it, on time: a line that never ends (hiredis
 * rescanned it from its start on every read: quadratic, 5 s for a 2 s deadline on a
 * loaded machine) and array elements as fast as they come (each slice costs an object
 * per element: 16 slices per wake-up held the deadline back by a second). */
static void test_hostile__floods_under_the_default_bound_end_at_their_deadline(void **state) {
    (void)state;
    char deadline[16];
    snprintf(deadline, sizeof deadline, "%d", DEADLINE_MS);
    rcm_client *c = tu_open_ok(hostile_port(), "command_timeout_ms", deadline, "connect_timeout_ms", "2000", NULL);
    const char *floods[] = {"endless", "longarray"};
    for (size_t i = 0; i < sizeof floods / sizeof floods[0]; i++) {
        char key[64], good[64];
        snprintf(key, sizeof key, "hostile:%s", floods[i]);
        rcm_reply *r = NULL;
        double t0 = tu_now();
        rcm_status st = tu_cmd(c, &r, "GET", key, NULL);
        double ms = ms_since(t0);
        print_message("default bound %-12s %-18s %5.0f ms\n", floods[i], rcm_status_name(st), ms);
        if (st != RCM_ERR_TIMEOUT && st != RCM_ERR_PROTOCOL)
            fail_msg("GET %s: %s %s (%s)", key, rcm_status_name(st), tu_describe(r), rcm_last_error());
        rcm_reply_free(r);
        check_in_time(ms, "rcm_command (default max_reply_bytes)", floods[i]);
        snprintf(good, sizeof good, "good:%s", floods[i]);
        expect_good(c, good, floods[i]);
    }
    rcm_client_close(c);
}

int main(int argc, char **argv) {
    tu_watchdog_arm(240, "capi.hostile");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostile__sync_calls_fail_alone_within_their_deadline),
        cmocka_unit_test(test_hostile__async_calls_complete_once_within_their_deadline),
        cmocka_unit_test(test_hostile__pipelines_fail_the_broken_request_only),
        cmocka_unit_test(test_hostile__lease_fails_and_the_next_lease_works),
        cmocka_unit_test(test_hostile__floods_under_the_default_bound_end_at_their_deadline),
    };
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
