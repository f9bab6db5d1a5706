#define _GNU_SOURCE
#include "test_util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/select.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- environment -------------------------------------------------------------------- */

static const char *env_or_fail(const char *name) {
    const char *v = getenv(name);
    if (!v || !*v) {
        fprintf(stderr, "test_util: environment variable %s is not set (run through ctest, "
                        "which starts the harness fixture)\n", name);
        exit(1);
    }
    return v;
}

int tu_port_base(void) { return atoi(env_or_fail("RCM_TEST_PORT_BASE")); }
int tu_port(int offset) { return tu_port_base() + offset; }
const char *tu_state_dir(void) { return env_or_fail("RCM_TEST_STATE_DIR"); }

const char *tu_tls_file(const char *file) {
    static __thread char buf[1024];
    snprintf(buf, sizeof buf, "%s/tls/%s", tu_state_dir(), file);
    return buf;
}

double tu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void tu_sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- clients and commands ---------------------------------------------------------- */

static rcm_config *config_va(const char *scheme, int port, va_list ap) {
    rcm_config *cfg = rcm_config_new();
    assert_non_null(cfg);
    char url[256];
    snprintf(url, sizeof url, "%s://127.0.0.1:%d", scheme, port);
    TU_ASSERT_RC(rcm_config_from_url(cfg, url), RCM_OK);
    const char *k;
    while ((k = va_arg(ap, const char *)) != NULL) {
        const char *v = va_arg(ap, const char *);
        rcm_status st = rcm_config_set(cfg, k, v);
        if (st != RCM_OK)
            fail_msg("rcm_config_set(%s, %s): %s '%s'", k, v, rcm_status_name(st), rcm_last_error());
    }
    return cfg;
}

rcm_config *tu_config_ok(const char *scheme, int port, ...) {
    va_list ap;
    va_start(ap, port);
    rcm_config *cfg = config_va(scheme, port, ap);
    va_end(ap);
    return cfg;
}

rcm_client *tu_open_ok(int port, ...) {
    va_list ap;
    va_start(ap, port);
    rcm_config *cfg = config_va("redis", port, ap);
    va_end(ap);
    rcm_client *c = NULL;
    rcm_status st = rcm_client_open(cfg, &c);
    rcm_config_free(cfg);
    if (st != RCM_OK)
        fail_msg("rcm_client_open(127.0.0.1:%d): %s '%s'", port, rcm_status_name(st), rcm_last_error());
    assert_non_null(c);
    return c;
}

rcm_status tu_open_status(rcm_client **out, const char *scheme, int port, ...) {
    va_list ap;
    va_start(ap, port);
    rcm_config *cfg = config_va(scheme, port, ap);
    va_end(ap);
    *out = (rcm_client *)(void *)&out; /* garbage: must become NULL on failure */
    rcm_status st = rcm_client_open(cfg, out);
    rcm_config_free(cfg);
    return st;
}

#define TU_MAX_ARGS 32

static int collect_args(va_list ap, const char **argv) {
    int argc = 0;
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && argc < TU_MAX_ARGS) argv[argc++] = a;
    return argc;
}

rcm_status tu_cmdv(rcm_client *c, rcm_reply **out, int argc, const char *const *argv) {
    return rcm_command(c, argc, argv, NULL, out);
}

rcm_status tu_cmd(rcm_client *c, rcm_reply **out, ...) {
    const char *argv[TU_MAX_ARGS];
    va_list ap;
    va_start(ap, out);
    int argc = collect_args(ap, argv);
    va_end(ap);
    return rcm_command(c, argc, argv, NULL, out);
}

rcm_status tu_lease_cmd(rcm_lease *l, rcm_reply **out, ...) {
    const char *argv[TU_MAX_ARGS];
    va_list ap;
    va_start(ap, out);
    int argc = collect_args(ap, argv);
    va_end(ap);
    return rcm_lease_command(l, argc, argv, NULL, out);
}

rcm_reply *tu_cmd_ok(rcm_client *c, ...) {
    const char *argv[TU_MAX_ARGS];
    va_list ap;
    va_start(ap, c);
    int argc = collect_args(ap, argv);
    va_end(ap);
    rcm_reply *r = NULL;
    rcm_status st = rcm_command(c, argc, argv, NULL, &r);
    if (st != RCM_OK)
        fail_msg("%s: %s '%s'", argv[0], rcm_status_name(st), rcm_last_error());
    assert_non_null(r);
    return r;
}

int tu_is_status(const rcm_reply *r, const char *text) {
    if (!r || rcm_reply_type(r) != RCM_REPLY_STATUS) return 0;
    size_t len = 0;
    const char *s = rcm_reply_string(r, &len);
    return s && len == strlen(text) && memcmp(s, text, len) == 0;
}

int tu_is_string(const rcm_reply *r, const char *bytes, size_t n) {
    if (!r || rcm_reply_type(r) != RCM_REPLY_STRING) return 0;
    size_t len = 0;
    const char *s = rcm_reply_string(r, &len);
    return s && len == n && memcmp(s, bytes, n) == 0;
}

int tu_is_cstring(const rcm_reply *r, const char *text) { return tu_is_string(r, text, strlen(text)); }

int tu_is_integer(const rcm_reply *r, long long v) {
    return r && rcm_reply_type(r) == RCM_REPLY_INTEGER && rcm_reply_integer(r) == v;
}

int tu_is_error_prefix(const rcm_reply *r, const char *prefix) {
    if (!r || rcm_reply_type(r) != RCM_REPLY_ERROR) return 0;
    size_t len = 0;
    const char *s = rcm_reply_string(r, &len);
    return s && len >= strlen(prefix) && memcmp(s, prefix, strlen(prefix)) == 0;
}

const char *tu_describe(const rcm_reply *r) {
    static __thread char buf[256];
    if (!r) return "(null reply)";
    size_t len = 0;
    const char *s;
    switch (rcm_reply_type(r)) {
    case RCM_REPLY_STRING:
    case RCM_REPLY_STATUS:
    case RCM_REPLY_ERROR:
        s = rcm_reply_string(r, &len);
        snprintf(buf, sizeof buf, "%s(len %zu) \"%.*s\"",
                 rcm_reply_type(r) == RCM_REPLY_STRING   ? "string"
                 : rcm_reply_type(r) == RCM_REPLY_STATUS ? "status"
                                                         : "error",
                 len, (int)(len > 100 ? 100 : len), s ? s : "");
        break;
    case RCM_REPLY_INTEGER: snprintf(buf, sizeof buf, "integer %lld", rcm_reply_integer(r)); break;
    case RCM_REPLY_NIL: snprintf(buf, sizeof buf, "nil"); break;
    case RCM_REPLY_ARRAY: snprintf(buf, sizeof buf, "array of %zu", rcm_reply_length(r)); break;
    default: snprintf(buf, sizeof buf, "reply kind %d", (int)rcm_reply_type(r)); break;
    }
    return buf;
}

/* ---- raw RESP socket ---------------------------------------------------------------- */

int tu_raw_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static int write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int tu_raw_send(int fd, ...) {
    const char *argv[TU_MAX_ARGS];
    va_list ap;
    va_start(ap, fd);
    int argc = collect_args(ap, argv);
    va_end(ap);
    char buf[4096];
    size_t off = (size_t)snprintf(buf, sizeof buf, "*%d\r\n", argc);
    for (int i = 0; i < argc; i++) {
        size_t len = strlen(argv[i]);
        if (off + len + 32 > sizeof buf) return -1;
        off += (size_t)snprintf(buf + off, sizeof buf - off, "$%zu\r\n", len);
        memcpy(buf + off, argv[i], len);
        off += len;
        memcpy(buf + off, "\r\n", 2);
        off += 2;
    }
    return write_all(fd, buf, off);
}

static int read_byte(int fd, char *c, double deadline) {
    for (;;) {
        int left = (int)((deadline - tu_now()) * 1000);
        if (left < 0) return -1;
        struct pollfd p = {fd, POLLIN, 0};
        int pr = poll(&p, 1, left);
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) return -1;
        ssize_t r = recv(fd, c, 1, 0);
        if (r == 1) return 0;
        if (r < 0 && errno == EINTR) continue;
        return -1;
    }
}

static int read_line(int fd, char *buf, size_t n, double deadline) {
    size_t off = 0;
    char c;
    for (;;) {
        if (read_byte(fd, &c, deadline) != 0) return -1;
        if (c == '\n') break;
        if (c != '\r' && off + 1 < n) buf[off++] = c;
    }
    buf[off] = 0;
    return 0;
}

int tu_raw_read(int fd, char *buf, size_t n, int timeout_ms) {
    double deadline = tu_now() + timeout_ms / 1000.0;
    char line[1024];
    if (read_line(fd, line, sizeof line, deadline) != 0) return -1;
    if (line[0] == '$') {
        long len = atol(line + 1);
        if (len < 0) {
            snprintf(buf, n, "$nil");
            return 0;
        }
        size_t off = 0;
        buf[off++] = '$';
        for (long i = 0; i < len + 2; i++) {
            char c;
            if (read_byte(fd, &c, deadline) != 0) return -1;
            if (i < len && off + 1 < n) buf[off++] = c;
        }
        buf[off] = 0;
        return 0;
    }
    snprintf(buf, n, "%s", line);
    return 0;
}

void tu_raw_close(int fd) {
    if (fd >= 0) close(fd);
}

/* ---- private servers ---------------------------------------------------------------- */

#define TU_MAX_SERVERS 32
static int started_pids[TU_MAX_SERVERS];
static pthread_mutex_t servers_mu = PTHREAD_MUTEX_INITIALIZER;

static void stop_all_servers(void) {
    for (int i = 0; i < TU_MAX_SERVERS; i++)
        if (started_pids[i] > 0) tu_server_stop(started_pids[i]);
}

char *tu_command_output(const char *cmd, int *exit_status) {
    FILE *p = popen(cmd, "r");
    if (!p) return NULL;
    size_t cap = 4096, len = 0;
    char *out = malloc(cap);
    int ch;
    while ((ch = fgetc(p)) != EOF) {
        if (ch == '\r') continue;
        if (len + 2 > cap) out = realloc(out, cap *= 2);
        out[len++] = (char)ch;
    }
    out[len] = 0;
    int rc = pclose(p);
    if (exit_status) *exit_status = rc;
    return out;
}

int tu_server_start_ok(int port, const char *extra) {
    static int atexit_done;
    const char *harness = env_or_fail("RCM_HARNESS");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/capi-private-%d", tu_state_dir(), port);
    mkdir(dir, 0755);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' server %d '%s' %s", harness, port, dir, extra ? extra : "");
    FILE *p = popen(cmd, "r");
    if (!p) fail_msg("popen(%s) failed", cmd);
    char line[128] = {0};
    int pid = 0;
    if (fgets(line, sizeof line, p)) pid = atoi(line);
    int rc = pclose(p);
    if (pid <= 0) fail_msg("'%s' printed '%s' (exit status %d), not a PID", cmd, line, rc);
    pthread_mutex_lock(&servers_mu);
    if (!atexit_done) {
        atexit(stop_all_servers);
        atexit_done = 1;
    }
    for (int i = 0; i < TU_MAX_SERVERS; i++)
        if (started_pids[i] == 0) {
            started_pids[i] = pid;
            break;
        }
    pthread_mutex_unlock(&servers_mu);
    return pid;
}

void tu_server_stop(int pid) {
    if (pid <= 0) return;
    pthread_mutex_lock(&servers_mu);
    int known = 0;
    for (int i = 0; i < TU_MAX_SERVERS; i++)
        if (started_pids[i] == pid) {
            started_pids[i] = 0;
            known = 1;
        }
    pthread_mutex_unlock(&servers_mu);
    if (!known) return;
    const char *harness = getenv("RCM_HARNESS");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' stop %d", harness ? harness : "false", pid);
    if (system(cmd) != 0) {
        /* The harness could not stop it: stop our own child by its PID. */
        kill((pid_t)pid, SIGKILL);
    }
}

void tu_server_kill_ok(int pid) {
    if (kill((pid_t)pid, SIGKILL) != 0) fail_msg("kill(%d, SIGKILL) failed", pid);
    pthread_mutex_lock(&servers_mu);
    for (int i = 0; i < TU_MAX_SERVERS; i++)
        if (started_pids[i] == pid) started_pids[i] = 0;
    pthread_mutex_unlock(&servers_mu);
    /* Gone, or a zombie (the harness's child): its sockets are closed either way. */
    for (double until = tu_now() + 5; tu_now() < until;) {
        char path[64], st[256] = {0};
        snprintf(path, sizeof path, "/proc/%d/stat", pid);
        FILE *f = fopen(path, "r");
        if (!f) return;
        size_t got = fread(st, 1, sizeof st - 1, f);
        fclose(f);
        const char *rp = strrchr(st, ')');
        if (got == 0 || (rp && rp[1] == ' ' && rp[2] == 'Z')) return;
        tu_sleep_ms(10);
    }
    fail_msg("server %d still running 5 s after SIGKILL", pid);
}

/* The kernel names where a sleeping thread waits (/proc/<pid>/wchan): a server inside
 * DEBUG SLEEP waits in nanosleep, an idle one in epoll; "0" while it runs, or always
 * where the kernel hides it. Reading that is the only way to know the sleep has begun:
 * a server that sleeps answers nobody. */
static int server_wchan(int pid, char *buf, size_t n) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/wchan", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t got = fread(buf, 1, n - 1, f);
    fclose(f);
    buf[got] = 0;
    return got > 0 ? 0 : -1;
}

int tu_raw_debug_sleep_ok(int pid, int port, const char *seconds) {
    char wchan[128] = "0";
    /* Idle, the server shows where it waits, unless the kernel hides it. */
    int told = 0;
    for (double until = tu_now() + 1; !told && tu_now() < until; tu_sleep_ms(1))
        told = server_wchan(pid, wchan, sizeof wchan) == 0 && strcmp(wchan, "0") != 0;
    int fd = tu_raw_connect(port);
    if (fd < 0) fail_msg("cannot connect to 127.0.0.1:%d for DEBUG SLEEP", port);
    if (tu_raw_send(fd, "DEBUG", "SLEEP", seconds, NULL) != 0) fail_msg("cannot send DEBUG SLEEP to %d", port);
    if (!told) {
        /* Only a pause is left; say so, a failure may follow. */
        printf("tu_raw_debug_sleep_ok: /proc/%d/wchan tells nothing; assuming DEBUG SLEEP began after 300 ms\n", pid);
        tu_sleep_ms(300);
        return fd;
    }
    for (double deadline = tu_now() + 10; tu_now() < deadline; tu_sleep_ms(1))
        if (server_wchan(pid, wchan, sizeof wchan) == 0 && strstr(wchan, "nanosleep")) return fd;
    fail_msg("server %d (pid %d) did not begin DEBUG SLEEP %s within 10 s (wchan %s)", port, pid, seconds, wchan);
    return -1;
}

/* ---- watchdog ----------------------------------------------------------------------- */

static atomic_int watchdog_generation;
struct watchdog_arg {
    int generation;
    int seconds;
    char what[200];
};

static void *watchdog_main(void *p) {
    struct watchdog_arg *a = p;
    double deadline = tu_now() + a->seconds;
    while (tu_now() < deadline) {
        if (atomic_load(&watchdog_generation) != a->generation) {
            free(a);
            return NULL;
        }
        tu_sleep_ms(50);
    }
    if (atomic_load(&watchdog_generation) == a->generation) {
        fprintf(stderr, "WATCHDOG: '%s' did not finish within %d s: hang\n", a->what, a->seconds);
        fflush(stderr);
        stop_all_servers();
        _exit(3);
    }
    free(a);
    return NULL;
}

void tu_watchdog_arm(int seconds, const char *what) {
    struct watchdog_arg *a = calloc(1, sizeof *a);
    a->generation = atomic_fetch_add(&watchdog_generation, 1) + 1;
    a->seconds = seconds;
    snprintf(a->what, sizeof a->what, "%s", what);
    pthread_t t;
    pthread_create(&t, NULL, watchdog_main, a);
    pthread_detach(t);
}

void tu_watchdog_disarm(void) { atomic_fetch_add(&watchdog_generation, 1); }

/* ---- JSON --------------------------------------------------------------------------- */

static const char *json_ws(const char *p) {
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    return p;
}

static const char *json_value(const char *p, int depth);

static const char *json_string(const char *p) {
    if (*p != '"') return NULL;
    p++;
    while (*p && *p != '"') {
        if ((unsigned char)*p < 0x20) return NULL;
        if (*p == '\\') {
            p++;
            if (*p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!isxdigit((unsigned char)p[i])) return NULL;
                p += 4;
            } else if (!strchr("\"\\/bfnrt", *p) || !*p) {
                return NULL;
            }
        }
        p++;
    }
    return *p == '"' ? p + 1 : NULL;
}

static const char *json_number(const char *p) {
    const char *s = p;
    if (*p == '-') p++;
    if (!isdigit((unsigned char)*p)) return NULL;
    while (isdigit((unsigned char)*p)) p++;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p)) return NULL;
        while (isdigit((unsigned char)*p)) p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') p++;
        if (!isdigit((unsigned char)*p)) return NULL;
        while (isdigit((unsigned char)*p)) p++;
    }
    return p > s ? p : NULL;
}

static const char *json_value(const char *p, int depth) {
    if (depth > 64) return NULL;
    p = json_ws(p);
    if (*p == '{') {
        p = json_ws(p + 1);
        if (*p == '}') return p + 1;
        for (;;) {
            p = json_string(json_ws(p));
            if (!p) return NULL;
            p = json_ws(p);
            if (*p != ':') return NULL;
            p = json_value(p + 1, depth + 1);
            if (!p) return NULL;
            p = json_ws(p);
            if (*p == ',') { p++; continue; }
            if (*p == '}') return p + 1;
            return NULL;
        }
    }
    if (*p == '[') {
        p = json_ws(p + 1);
        if (*p == ']') return p + 1;
        for (;;) {
            p = json_value(p, depth + 1);
            if (!p) return NULL;
            p = json_ws(p);
            if (*p == ',') { p++; continue; }
            if (*p == ']') return p + 1;
            return NULL;
        }
    }
    if (*p == '"') return json_string(p);
    if (!strncmp(p, "true", 4)) return p + 4;
    if (!strncmp(p, "false", 5)) return p + 5;
    if (!strncmp(p, "null", 4)) return p + 4;
    return json_number(p);
}

int tu_json_valid(const char *text) {
    if (!text) return 0;
    const char *end = json_value(text, 0);
    return end && *json_ws(end) == 0;
}

int tu_json_has_key(const char *text, const char *key) {
    char pat[256];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = text;
    while ((p = strstr(p, pat)) != NULL) {
        const char *q = json_ws(p + strlen(pat));
        if (*q == ':') return 1;
        p++;
    }
    return 0;
}

long long tu_json_number(const char *text, const char *key) {
    char pat[256];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = text;
    while ((p = strstr(p, pat)) != NULL) {
        const char *q = json_ws(p + strlen(pat));
        if (*q == ':') {
            q = json_ws(q + 1);
            if (isdigit((unsigned char)*q) || *q == '-') return atoll(q);
        }
        p++;
    }
    return -1;
}

/* ---- scripted stand-in servers --------------------------------------------------- */

void tu_script_stop(tu_script *sc) {
    if (sc->pid > 0) {
        kill(sc->pid, SIGTERM);
        for (int i = 0; i < 100; i++) {
            if (waitpid(sc->pid, NULL, WNOHANG) == sc->pid) {
                sc->pid = -1;
                break;
            }
            tu_sleep_ms(20);
        }
        if (sc->pid > 0) {
            kill(sc->pid, SIGKILL);
            waitpid(sc->pid, NULL, 0);
            sc->pid = -1;
        }
    }
    if (sc->stdin_fd >= 0) close(sc->stdin_fd);
    sc->stdin_fd = -1;
}

void tu_script_start_ok(tu_script *sc, const char *env_script, const char *python_env, const char *const *args) {
    const char *script = getenv(env_script);
    const char *python = getenv(python_env);
    if (!script || !*script) fail_msg("%s (a test script's path) is not set; run through ctest", env_script);
    if (!python || !*python) python = "/usr/bin/python3";
    const char *argv[16] = {python, script};
    int argc = 2;
    for (int i = 0; args[i]; i++) {
        if (argc == 15) fail_msg("%s: more arguments than tu_script_start_ok takes", script);
        argv[argc++] = args[i];
    }
    argv[argc] = NULL;
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) fail_msg("pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0) fail_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        execv(python, (char *const *)argv);
        fprintf(stderr, "exec %s %s: %s\n", python, script, strerror(errno));
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    sc->pid = pid;
    sc->stdin_fd = in[1];
    char line[128] = {0};
    size_t off = 0;
    double until = tu_now() + 15;
    while (off + 1 < sizeof line && !strchr(line, '\n')) {
        struct timeval tv = {0, 100000};
        fd_set rs;
        FD_ZERO(&rs);
        FD_SET(out[0], &rs);
        if (select(out[0] + 1, &rs, NULL, NULL, &tv) > 0) {
            ssize_t r = read(out[0], line + off, sizeof line - 1 - off);
            if (r <= 0) break;
            off += (size_t)r;
        }
        if (tu_now() > until) break;
    }
    close(out[0]);
    if (strncmp(line, "READY", 5) != 0) {
        tu_script_stop(sc);
        fail_msg("%s did not start (printed '%s')", script, line);
    }
}

int tu_wait_disconnected(rcm_client *c, double seconds) {
    double until = tu_now() + seconds;
    for (;;) {
        char *json = NULL;
        int none = 0;
        if (rcm_client_stats_json(c, &json) == RCM_OK && json) {
            /* Every node's "connected" count is 0 (and there is at least one node). */
            none = strstr(json, "\"connected\":") != NULL;
            for (const char *p = json; none && (p = strstr(p, "\"connected\":")) != NULL; p++)
                if (p[12] != '0') none = 0;
        }
        rcm_free(json);
        if (none) return 0;
        if (tu_now() > until) return -1;
        tu_sleep_ms(10);
    }
}
