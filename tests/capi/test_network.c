/* Bad input from the network: garbage, a half-written frame, lengths that never arrive.
 * No real server sends these on request, so a small scripted server in this test does
 * (beside the real-server suites, not instead of them). Each case must fail only the
 * affected request, with a status, by its deadline; the client must keep working.
 *
 * The fake server answers the handshake and probe (CLIENT, INFO, COMMAND, PING) like a
 * standalone server, and GET <key> by the key:
 *   ok        -> "$2\r\nok\r\n"
 *   garbage   -> "?garbage\r\n"            (not RESP)
 *   half      -> "$10\r\nabc", then close   (a frame cut short)
 *   huge      -> "$99999999999\r\n"        (a bulk beyond any max_reply_bytes)
 *   long      -> "$99999999\r\n"           (a bulk within the bound that never arrives)
 *   hugearray -> "*2147483647\r\n"         (an array count nobody should pre-allocate)
 *   elements  -> "*1000000\r\n" and 4 MiB of small elements, then nothing
 *   flood     -> a 128 MiB bulk: its first MiB, a 500 ms pause, then the rest as fast
 *                as the client takes it (bytes sent counted in flood_sent)
 *   held      -> "$2\r\nok\r\n", but it and every reply after it on its connection wait
 *                until the test releases that connection; commands are still read (and
 *                counted per connection) meanwhile
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "rcm/rcm.h"

#include <stdatomic.h>
#include <stdint.h>

static int listen_fd = -1;
#define FLOOD_BYTES (128LL * 1024 * 1024)
static atomic_llong flood_sent;  /* bytes of the flood bulk sent so far */
static atomic_int flood_over;    /* the flood ended: all sent, or the client closed */
static int fake_port = 0;

/* Connections are numbered as accepted; the replies of one behind a "held" GET wait in
 * its thread's queue until the test releases it (or all). */
#define HELD_CONNS 256
static atomic_int conn_count;
static atomic_int held_seen[HELD_CONNS];     /* held GETs read, per connection */
static atomic_int held_released[HELD_CONNS];
static atomic_int held_all_released;
static atomic_int garbage_conn = -1; /* the connection that read GET garbage first */
static atomic_int conn_closed[HELD_CONNS]; /* the client closed it (the server read EOF) */
static __thread int conn_id;
static __thread char held_out[65536];
static __thread size_t held_len;

static void send_all(int fd, const char *s, size_t n) {
    while (n > 0) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0) return;
        s += w;
        n -= (size_t)w;
    }
}

static void flood_stream(int fd) {
    static char chunk[65536];
    memset(chunk, 'x', sizeof chunk);
    char hdr[32];
    int h = snprintf(hdr, sizeof hdr, "$%lld\r\n", FLOOD_BYTES);
    send_all(fd, hdr, (size_t)h);
    long long sent = 0;
    while (sent < FLOOD_BYTES) {
        if (sent == 1024 * 1024) usleep(500 * 1000);  /* the request times out meanwhile */
        ssize_t w = send(fd, chunk, sizeof chunk, MSG_NOSIGNAL);
        if (w <= 0) break; /* the client closed the connection */
        sent += w;
        atomic_store(&flood_sent, sent);
    }
    atomic_store(&flood_over, 1);
}

static void reply(int fd, const char *s, size_t n) {
    if (held_len == 0) {
        send_all(fd, s, n);
        return;
    }
    if (held_len + n <= sizeof held_out) memcpy(held_out + held_len, s, n), held_len += n;
}

/* While replies are held: send them once released, reading on meanwhile. */
static void wait_readable(int fd) {
    while (held_len > 0) {
        int id = conn_id < HELD_CONNS ? conn_id : 0;
        if (atomic_load(&held_released[id]) || atomic_load(&held_all_released)) {
            send_all(fd, held_out, held_len);
            held_len = 0;
            return;
        }
        struct pollfd pf = {fd, POLLIN, 0};
        if (poll(&pf, 1, 2) > 0) return;
    }
}

/* Reads one RESP command (array of bulks) into argv; returns argc, 0 on EOF. */
static int read_command(int fd, char *buf, size_t cap, size_t *len, char argv[8][64]) {
    for (;;) {
        /* Try to parse what is buffered. */
        if (*len > 0 && buf[0] == '*') {
            char *p = buf, *end = buf + *len;
            char *nl = memchr(p, '\n', (size_t)(end - p));
            if (nl) {
                int argc = atoi(p + 1), i = 0;
                p = nl + 1;
                for (; i < argc && p < end; i++) {
                    if (*p != '$') break;
                    nl = memchr(p, '\n', (size_t)(end - p));
                    if (!nl) break;
                    int l = atoi(p + 1);
                    p = nl + 1;
                    if (end - p < l + 2) break;
                    if (i < 8) {
                        int c = l < 63 ? l : 63;
                        memcpy(argv[i], p, (size_t)c);
                        argv[i][c] = '\0';
                    }
                    p += l + 2;
                }
                if (i == argc) {
                    size_t used = (size_t)(p - buf);
                    memmove(buf, p, *len - used);
                    *len -= used;
                    return argc;
                }
            }
        }
        wait_readable(fd);
        ssize_t r = recv(fd, buf + *len, cap - *len, 0);
        if (r <= 0) return 0;
        *len += (size_t)r;
    }
}

static void *serve_connection(void *arg) {
    int fd = (int)((intptr_t)arg & 0xffffffff);
    conn_id = (int)((intptr_t)arg >> 32);
    char buf[65536];
    size_t len = 0;
    char argv[8][64];
    int argc;
    while ((argc = read_command(fd, buf, sizeof buf, &len, argv)) > 0) {
        const char *cmd = argv[0];
        if (!strcasecmp(cmd, "CLIENT") || !strcasecmp(cmd, "SELECT") || !strcasecmp(cmd, "AUTH")) {
            reply(fd, "+OK\r\n", 5);
        } else if (!strcasecmp(cmd, "PING")) {
            reply(fd, "+PONG\r\n", 7);
        } else if (!strcasecmp(cmd, "COMMAND")) {
            reply(fd, "*0\r\n", 4);
        } else if (!strcasecmp(cmd, "INFO")) {
            if (argc > 1 && !strcasecmp(argv[1], "server")) {
                const char *info = "# Server\r\nredis_version:7.0.0\r\nredis_mode:standalone\r\n";
                char hdr[32];
                int h = snprintf(hdr, sizeof hdr, "$%zu\r\n", strlen(info));
                reply(fd, hdr, (size_t)h);
                reply(fd, info, strlen(info));
                reply(fd, "\r\n", 2);
            } else {
                reply(fd, "$0\r\n\r\n", 6);
            }
        } else if (!strcasecmp(cmd, "GET") && argc > 1) {
            const char *k = argv[1];
            if (!strcmp(k, "ok")) {
                reply(fd, "$2\r\nok\r\n", 8);
            } else if (!strcmp(k, "held")) {
                if (conn_id < HELD_CONNS) atomic_fetch_add(&held_seen[conn_id], 1);
                if (held_len == 0) memcpy(held_out, "$2\r\nok\r\n", 8), held_len = 8;
                else reply(fd, "$2\r\nok\r\n", 8);
            } else if (!strcmp(k, "garbage")) {
                int none = -1;
                atomic_compare_exchange_strong(&garbage_conn, &none, conn_id);
                reply(fd, "?garbage\r\n", 10);
            } else if (!strcmp(k, "half")) {
                reply(fd, "$10\r\nabc", 8);
                break; /* close mid-frame */
            } else if (!strcmp(k, "huge")) {
                reply(fd, "$99999999999\r\n", 14);
            } else if (!strcmp(k, "long")) {
                reply(fd, "$99999999\r\n", 11);
            } else if (!strcmp(k, "elements")) {
                reply(fd, "*1000000\r\n", 10);
                for (int i = 0; i < 4 * 1024 * 1024 / 17; i++) reply(fd, "$10\r\n0123456789\r\n", 17);
            } else if (!strcmp(k, "flood")) {
                flood_stream(fd);
                break;
            } else if (!strcmp(k, "hugearray")) {
                reply(fd, "*2147483647\r\n", 13);
            } else {
                reply(fd, "$-1\r\n", 5);
            }
        } else {
            reply(fd, "-ERR unknown command\r\n", 22);
        }
    }
    if (conn_id < HELD_CONNS) atomic_store(&conn_closed[conn_id], 1);
    close(fd);
    return NULL;
}

static void *accept_loop(void *arg) {
    (void)arg;
    for (;;) {
        int fd = accept(listen_fd, NULL, NULL);
        if (fd < 0) return NULL;
        intptr_t id = atomic_fetch_add(&conn_count, 1);
        pthread_t t;
        pthread_create(&t, NULL, serve_connection, (void *)((id << 32) | (intptr_t)fd));
        pthread_detach(t);
    }
}

static int start_fake(void **state) {
    (void)state;
    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0; /* any free port */
    if (bind(listen_fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(listen_fd, 64) != 0) return -1;
    socklen_t l = sizeof a;
    getsockname(listen_fd, (struct sockaddr *)&a, &l);
    fake_port = ntohs(a.sin_port);
    pthread_t t;
    pthread_create(&t, NULL, accept_loop, NULL);
    pthread_detach(t);
    return 0;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static rcm_client *open_fake_with(int timeout_ms, const char *key, const char *value) {
    rcm_config *cfg = rcm_config_new();
    if (key) assert_int_equal(rcm_config_set(cfg, key, value), RCM_OK);
    char seeds[64], tmo[16];
    snprintf(seeds, sizeof seeds, "127.0.0.1:%d", fake_port);
    snprintf(tmo, sizeof tmo, "%d", timeout_ms);
    assert_int_equal(rcm_config_set(cfg, "seeds", seeds), RCM_OK);
    assert_int_equal(rcm_config_set(cfg, "mode", "standalone"), RCM_OK);
    assert_int_equal(rcm_config_set(cfg, "command_timeout_ms", tmo), RCM_OK);
    assert_int_equal(rcm_config_set(cfg, "pool.size", "2"), RCM_OK);
    rcm_client *c = NULL;
    rcm_status s = rcm_client_open(cfg, &c);
    rcm_config_free(cfg);
    if (s != RCM_OK) fail_msg("open against the fake server: %s %s", rcm_status_name(s), rcm_last_error());
    return c;
}

static rcm_client *open_fake(int timeout_ms) { return open_fake_with(timeout_ms, NULL, NULL); }

/* GET key; returns the status, the reply freed. */
static rcm_status get(rcm_client *c, const char *key, double *took) {
    const char *argv[] = {"GET", key};
    rcm_reply *r = NULL;
    double t0 = now_s();
    rcm_status s = rcm_command(c, 2, argv, NULL, &r);
    if (took) *took = now_s() - t0;
    if (s == RCM_OK) {
        size_t n = 0;
        const char *v = rcm_reply_string(r, &n);
        if (!(v && n == 2 && !memcmp(v, "ok", 2)) && rcm_reply_type(r) != RCM_REPLY_NIL)
            fail_msg("GET %s: unexpected reply type %d", key, (int)rcm_reply_type(r));
    } else {
        assert_true(rcm_last_error()[0] != '\0');
    }
    rcm_reply_free(r);
    return s;
}

/* The client is still fine: a good request succeeds (within a few tries, since the
 * broken connection is being replaced). */
static void assert_recovers(rcm_client *c) {
    for (int i = 0; i < 50; i++) {
        if (get(c, "ok", NULL) == RCM_OK) return;
        usleep(20000);
    }
    fail_msg("the client did not recover: GET ok keeps failing (%s)", rcm_last_error());
}

static void test_network__garbage_is_a_protocol_error(void **state) {
    (void)state;
    rcm_client *c = open_fake(1000);
    assert_int_equal(get(c, "ok", NULL), RCM_OK);
    rcm_status s = get(c, "garbage", NULL);
    if (s != RCM_ERR_PROTOCOL) fail_msg("garbage: %s (%s), expected RCM_ERR_PROTOCOL", rcm_status_name(s), rcm_last_error());
    assert_recovers(c);
    rcm_client_close(c);
}

static void test_network__half_frame_then_close_fails_that_request(void **state) {
    (void)state;
    rcm_client *c = open_fake(1000);
    double took = 0;
    rcm_status s = get(c, "half", &took);
    /* A read that lost its connection after being sent is resent up to
     * retry.max_attempts; every attempt is cut short, so it ends as a failure. */
    if (s != RCM_ERR_UNCERTAIN && s != RCM_ERR_CONNECTION)
        fail_msg("half frame: %s (%s), expected RCM_ERR_UNCERTAIN or RCM_ERR_CONNECTION", rcm_status_name(s),
                 rcm_last_error());
    if (took > 3.0) fail_msg("half frame took %.2f s (a hang bound of 3 s)", took);
    assert_recovers(c);
    rcm_client_close(c);
}

static void test_network__length_that_never_arrives_times_out(void **state) {
    (void)state;
    rcm_client *c = open_fake(300);
    const char *keys[] = {"long", "hugearray"};
    for (int k = 0; k < 2; k++) {
        double took = 0;
        rcm_status s = get(c, keys[k], &took);
        if (s != RCM_ERR_TIMEOUT)
            fail_msg("%s: %s (%s), expected RCM_ERR_TIMEOUT", keys[k], rcm_status_name(s), rcm_last_error());
        if (took > 2.0) fail_msg("%s took %.2f s with a 300 ms deadline", keys[k], took);
        /* The other connection of the pool keeps serving. */
        assert_recovers(c);
    }
    rcm_client_close(c);
}

/* A reply announced beyond max_reply_bytes (default 512 MiB) fails at once, long before
 * its deadline, instead of the client buffering whatever arrives of it. */
static void test_network__announced_reply_beyond_max_reply_bytes_is_a_protocol_error(void **state) {
    (void)state;
    rcm_client *c = open_fake(5000);
    double took = 0;
    rcm_status s = get(c, "huge", &took);
    if (s != RCM_ERR_PROTOCOL || !strstr(rcm_last_error(), "max_reply_bytes"))
        fail_msg("huge: %s (%s), expected RCM_ERR_PROTOCOL naming max_reply_bytes", rcm_status_name(s),
                 rcm_last_error());
    if (took > 2.5) fail_msg("huge took %.2f s (a hang bound; the deadline is 5 s)", took);
    assert_recovers(c);
    rcm_client_close(c);
}

/* A reply that grows beyond max_reply_bytes element by element (no one length says so)
 * fails too: the bound counts the bytes of the unfinished reply. */
static void test_network__reply_growing_beyond_max_reply_bytes_is_a_protocol_error(void **state) {
    (void)state;
    /* The fake server writes the elements one by one: on a loaded machine that alone took
     * up to 5 s, so the deadline is far away and the status, not the time, says that the
     * bound (not the deadline) ended the call. */
    rcm_client *c = open_fake_with(60000, "max_reply_bytes", "1048576");
    double took = 0;
    rcm_status s = get(c, "elements", &took);
    if (s != RCM_ERR_PROTOCOL || !strstr(rcm_last_error(), "max_reply_bytes"))
        fail_msg("elements: %s (%s), expected RCM_ERR_PROTOCOL naming max_reply_bytes", rcm_status_name(s),
                 rcm_last_error());
    if (took > 30) fail_msg("elements took %.2f s (a hang bound; the deadline is 60 s)", took);
    assert_recovers(c);
    rcm_client_close(c);
}

/* The reply to a request that timed out is 128 MiB: the client closes that connection
 * rather than read (and hold) it, and the pool's other connection keeps serving. */
static void test_network__timed_out_large_reply_closes_its_connection(void **state) {
    (void)state;
    rcm_client *c = open_fake(200);
    atomic_store(&flood_sent, 0);
    atomic_store(&flood_over, 0);
    rcm_status s = get(c, "flood", NULL);
    if (s != RCM_ERR_TIMEOUT) fail_msg("flood: %s (%s), expected RCM_ERR_TIMEOUT", rcm_status_name(s), rcm_last_error());
    for (int i = 0; i < 300 && !atomic_load(&flood_over); i++) usleep(100 * 1000);
    if (!atomic_load(&flood_over)) fail_msg("the flood still runs after 30 s");
    long long sent = atomic_load(&flood_sent);
    /* The first MiB, then what the socket buffers take before the client closes. */
    if (sent >= FLOOD_BYTES / 2)
        fail_msg("the client read %lld of %lld bytes of a reply nobody waited for", sent, FLOOD_BYTES);
    assert_recovers(c);
    rcm_client_close(c);
}

/* Async GETs wait on both connections of the pool (the server holds their replies); a
 * garbage reply breaks one of them. Only the garbage request fails: the others, on both
 * connections, are neither failed nor resent and complete with their own replies, each
 * exactly once. */
#define ASYNC_N 80
#define ASYNC_MAX (2 * ASYNC_N + 1)
static atomic_int async_calls[ASYNC_MAX];
static rcm_status async_status[ASYNC_MAX];
static int async_ok[ASYNC_MAX];
static int async_issued;
static int garbage_index;

static void async_cb(rcm_status st, rcm_reply *r, void *ud) {
    int i = (int)(intptr_t)ud;
    size_t n = 0;
    const char *v = rcm_reply_string(r, &n);
    async_ok[i] = v && n == 2 && !memcmp(v, "ok", 2);
    async_status[i] = st;
    rcm_reply_free(r);
    atomic_fetch_add(&async_calls[i], 1);
}

static int async_done(void) {
    int done = 0;
    for (int i = 0; i < async_issued; i++) done += atomic_load(&async_calls[i]) > 0;
    return done;
}

static int held_total(void) {
    int sum = 0;
    for (int id = 0; id < HELD_CONNS; id++) sum += atomic_load(&held_seen[id]);
    return sum;
}

static void issue(rcm_client *c, const char *key) {
    const char *argv[] = {"GET", key};
    int i = async_issued++;
    assert_int_equal(rcm_command_async(c, 2, argv, NULL, async_cb, (void *)(intptr_t)i), RCM_OK);
}

/* Waits (10 s at most) until cond holds; returns whether it does. */
static int wait_until(int (*cond)(void)) {
    double until = now_s() + 10;
    while (!cond() && now_s() < until) usleep(1000);
    return cond();
}

static int two_connections_hold(void) {
    int n = 0;
    for (int id = 0; id < HELD_CONNS; id++) n += atomic_load(&held_seen[id]) > 0;
    return n >= 2;
}
static int all_done(void) { return async_done() == async_issued; }
/* Connection a (released) answered every GET it read; the rest wait on b, read by its
 * server or still held in the client until b's written batch is answered. */
static int drained_on = -1;
static int a_answered_all(void) { return async_done() == atomic_load(&held_seen[drained_on]); }
static int garbage_on = -1;
static int garbage_conn_closed(void) { return garbage_on >= 0 && atomic_load(&conn_closed[garbage_on]); }

static void test_network__async_requests_on_other_connections_unaffected(void **state) {
    (void)state;
    rcm_client *c = open_fake(10000);
    assert_int_equal(get(c, "ok", NULL), RCM_OK);
    atomic_store(&held_all_released, 0);
    for (int id = 0; id < HELD_CONNS; id++)
        atomic_store(&held_seen[id], 0), atomic_store(&held_released[id], 0), atomic_store(&conn_closed[id], 0);
    garbage_on = -1;
    for (int i = 0; i < ASYNC_MAX; i++) atomic_store(&async_calls[i], 0), async_status[i] = (rcm_status)12345;
    async_issued = 0;

    /* More than the pool's batching slack (32): the pool spreads them over both
     * connections, and each writes its first at once. */
    for (int i = 0; i < ASYNC_N; i++) issue(c, "held");
    if (!wait_until(two_connections_hold))
        fail_msg("after 10 s the held GETs wait on one connection only: nothing waits on another");
    int a = -1, b = -1;
    for (int id = 0; id < HELD_CONNS; id++)
        if (atomic_load(&held_seen[id]) > 0) {
            if (a < 0) a = id;
            else if (b < 0) b = id;
        }
    printf("held GETs in flight: %d on connection %d, %d on connection %d\n", atomic_load(&held_seen[a]), a,
           atomic_load(&held_seen[b]), b);
    /* Connection a answers (and takes what the pool still queued); b keeps its GETs in
     * flight. The garbage then goes to a, the least loaded connection, and breaks it
     * while b's GETs wait for their replies. */
    atomic_store(&held_released[a], 1);
    drained_on = a;
    if (!wait_until(a_answered_all))
        fail_msg("after 10 s, %d of %d GETs completed; connection %d read %d", async_done(), async_issued, a,
                 atomic_load(&held_seen[a]));
    /* A GET now goes to the idle connection a, not behind b's unanswered batch, and its
     * reply comes after any of a's that were still to be written. */
    double took = 0;
    assert_int_equal(get(c, "ok", &took), RCM_OK);
    if (!a_answered_all())
        fail_msg("%d GETs completed after connection %d read %d", async_done(), a, atomic_load(&held_seen[a]));
    int stuck = async_issued - async_done();
    if (stuck < atomic_load(&held_seen[b]) || stuck == 0)
        fail_msg("%d GETs wait, fewer than the %d connection %d read", stuck, atomic_load(&held_seen[b]), b);
    garbage_index = async_issued;
    atomic_store(&garbage_conn, -1);
    issue(c, "garbage");
    garbage_on = a;
    if (!wait_until(garbage_conn_closed))
        fail_msg("10 s after the garbage GET, connection %d is still open (the garbage was read by %d)", a,
                 atomic_load(&garbage_conn));
    if (atomic_load(&garbage_conn) != a)
        fail_msg("the garbage went to connection %d, not to the idle connection %d", atomic_load(&garbage_conn), a);
    /* The garbage GET itself may be resent (a read) and wait behind b's held GETs. */
    int waiting = async_issued - async_done() - !atomic_load(&async_calls[garbage_index]);
    if (waiting != stuck)
        fail_msg("when the garbage broke connection %d, %d requests were waiting; expected the %d on "
                 "connection %d, still in flight", a, waiting, stuck, b);
    if (atomic_load(&conn_closed[b])) fail_msg("connection %d closed too", b);
    atomic_store(&held_all_released, 1);
    if (!wait_until(all_done)) fail_msg("%d of %d requests completed", async_done(), async_issued);
    int not_once = 0, failed = 0;
    for (int i = 0; i < async_issued; i++) {
        if (atomic_load(&async_calls[i]) != 1) not_once++;
        else if (i != garbage_index && (async_status[i] != RCM_OK || !async_ok[i])) failed++;
    }
    if (not_once) fail_msg("%d GETs did not complete exactly once", not_once);
    if (async_status[garbage_index] != RCM_ERR_PROTOCOL)
        fail_msg("the garbage GET: %s, expected RCM_ERR_PROTOCOL", rcm_status_name(async_status[garbage_index]));
    if (failed) fail_msg("%d GETs beside the garbage one failed or got another reply", failed);
    if (held_total() != async_issued - 1)
        fail_msg("the server read %d held GETs for %d requests: some were resent", held_total(), async_issued - 1);
    assert_recovers(c);
    rcm_client_close(c);
}

static int connected_two(rcm_client *c) {
    char *json = NULL;
    if (rcm_client_stats_json(c, &json) != RCM_OK) return 0;
    int yes = strstr(json, "\"connected\":2") != NULL;
    rcm_free(json);
    return yes;
}

struct held_pipe {
    rcm_pipeline *p;
    pthread_t t;
    atomic_int done;
};
static void *exec_held_pipeline(void *arg) {
    struct held_pipe *h = arg;
    rcm_reply **replies = NULL;
    size_t n = 0;
    if (rcm_pipeline_exec(h->p, &replies, &n) == RCM_OK) {
        for (size_t i = 0; i < n; i++) rcm_reply_free(replies[i]);
        rcm_free(replies);
    }
    atomic_store(&h->done, 1);
    return NULL;
}
/* n GETs held in one pipeline (one write, on one connection), run on a thread. */
static void start_held_pipeline(rcm_client *c, struct held_pipe *h, int n) {
    assert_int_equal(rcm_pipeline_new(c, &h->p), RCM_OK);
    const char *argv[] = {"GET", "held"};
    for (int i = 0; i < n; i++) assert_int_equal(rcm_pipeline_append(h->p, 2, argv, NULL), RCM_OK);
    atomic_store(&h->done, 0);
    assert_int_equal(pthread_create(&h->t, NULL, exec_held_pipeline, h), 0);
}
static int wait_held_total(int n) {
    double until = now_s() + 10;
    while (held_total() != n && now_s() < until) usleep(1000);
    return held_total() == n;
}

/* Connection X has a batch written and unanswered, and a later request held in the
 * client until that batch is answered; connection Y is idle. A new request goes to Y at
 * once: X's batch may wait on a slow reply, and X's held bytes with it. */
static void test_network__idle_connection_wins_over_held_writes(void **state) {
    (void)state;
    rcm_client *c = open_fake(10000);
    assert_int_equal(get(c, "ok", NULL), RCM_OK);
    double until = now_s() + 10;
    while (!connected_two(c) && now_s() < until) usleep(1000);
    if (!connected_two(c)) fail_msg("the pool of 2 has not connected both connections after 10 s");
    atomic_store(&held_all_released, 0);
    for (int id = 0; id < HELD_CONNS; id++)
        atomic_store(&held_seen[id], 0), atomic_store(&held_released[id], 0);
    for (int i = 0; i < ASYNC_MAX; i++) atomic_store(&async_calls[i], 0), async_status[i] = (rcm_status)12345;
    async_issued = 0;

    struct held_pipe px, py;
    start_held_pipeline(c, &px, 2); /* X: 2 in flight */
    if (!wait_held_total(2)) fail_msg("the server did not read the first pipeline's held GETs");
    int x = -1, y = -1;
    for (int id = 0; id < HELD_CONNS; id++)
        if (atomic_load(&held_seen[id]) > 0) x = id;
    if (atomic_load(&held_seen[x]) != 2) fail_msg("the first pipeline was split over connections");
    start_held_pipeline(c, &py, 3); /* Y, then the least loaded: 3 in flight */
    if (!wait_held_total(5)) fail_msg("the server did not read the second pipeline's held GETs");
    for (int id = 0; id < HELD_CONNS; id++)
        if (id != x && atomic_load(&held_seen[id]) > 0) y = id;
    if (y < 0 || atomic_load(&held_seen[y]) != 3)
        fail_msg("the second pipeline did not go whole to the idle connection (X=%d read %d)", x,
                 atomic_load(&held_seen[x]));
    /* X, now the least loaded, takes this GET and holds it until its batch is answered. */
    issue(c, "ok");
    usleep(100 * 1000);
    /* Y answers and is idle; X still waits. */
    atomic_store(&held_released[y], 1);
    until = now_s() + 10;
    while (!atomic_load(&py.done) && now_s() < until) usleep(1000);
    if (!atomic_load(&py.done)) fail_msg("the pipeline on the released connection %d did not complete", y);
    if (async_done() != 0) fail_msg("the GET behind connection %d's unanswered batch completed before it", x);
    issue(c, "ok");
    int fresh = async_issued - 1;
    until = now_s() + 5;
    while (!atomic_load(&async_calls[fresh]) && now_s() < until) usleep(1000);
    int went_idle = atomic_load(&async_calls[fresh]) == 1;
    atomic_store(&held_all_released, 1);
    if (!wait_until(all_done)) fail_msg("%d of %d requests completed", async_done(), async_issued);
    pthread_join(px.t, NULL);
    pthread_join(py.t, NULL);
    rcm_pipeline_free(px.p);
    rcm_pipeline_free(py.p);
    if (!went_idle) fail_msg("a GET waited behind connection %d's unanswered batch while %d was idle", x, y);
    for (int i = 0; i < async_issued; i++)
        if (async_status[i] != RCM_OK || !async_ok[i]) fail_msg("GET %d: %s", i, rcm_status_name(async_status[i]));
    rcm_client_close(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_network__garbage_is_a_protocol_error),
        cmocka_unit_test(test_network__half_frame_then_close_fails_that_request),
        cmocka_unit_test(test_network__length_that_never_arrives_times_out),
        cmocka_unit_test(test_network__async_requests_on_other_connections_unaffected),
        cmocka_unit_test(test_network__idle_connection_wins_over_held_writes),
        cmocka_unit_test(test_network__announced_reply_beyond_max_reply_bytes_is_a_protocol_error),
        cmocka_unit_test(test_network__reply_growing_beyond_max_reply_bytes_is_a_protocol_error),
        cmocka_unit_test(test_network__timed_out_large_reply_closes_its_connection),
    };
    return cmocka_run_group_tests(tests, start_fake, NULL);
}
