#define _GNU_SOURCE
#include "failover_util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define FO_MAX_ARGS 64

static void on_fatal_signal(int sig) {
    char b[96];
    int n = snprintf(b, sizeof b, "\nFATAL: signal %d (%s) in the test process\n", sig, strsignal(sig));
    if (write(2, b, (size_t)n) < 0) {
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

void fo_diagnose_signals(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int sigs[] = {SIGPIPE, SIGSEGV, SIGABRT, SIGBUS};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) signal(sigs[i], on_fatal_signal);
}

const char *fo_addr(int port) {
    static __thread char buf[32];
    snprintf(buf, sizeof buf, "127.0.0.1:%d", port);
    return buf;
}

static int collect(va_list ap, const char **argv) {
    int argc = 0;
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && argc < FO_MAX_ARGS) argv[argc++] = a;
    return argc;
}

/* ---- valkey-cli ------------------------------------------------------------------- */

static pthread_once_t cli_once = PTHREAD_ONCE_INIT;
static char cli_path[1024];

static void find_cli(void) {
    const char *env = getenv("RCM_CLI_BIN");
    if (env && *env)
        snprintf(cli_path, sizeof cli_path, "%s", env);
    else if (system("command -v valkey-cli >/dev/null 2>&1") == 0)
        snprintf(cli_path, sizeof cli_path, "valkey-cli");
    else
        snprintf(cli_path, sizeof cli_path, "redis-cli");
}

static const char *cli_bin(void) {
    pthread_once(&cli_once, find_cli);
    return cli_path;
}

char *fo_cli(int port, const char *password, const char *fmt, ...) {
    char args[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "timeout 5 %s -h 127.0.0.1 -p %d %s%s%s %s 2>&1", cli_bin(), port,
             password ? "-a '" : "", password ? password : "", password ? "' --no-auth-warning" : "", args);
    return tu_command_output(cmd, NULL);
}

char *fo_field(const char *text, const char *name, char *buf, size_t n) {
    buf[0] = 0;
    if (!text) return buf;
    size_t nl = strlen(name);
    const char *p = text;
    while ((p = strstr(p, name)) != NULL) {
        if ((p == text || p[-1] == '\n') && p[nl] == ':') {
            const char *v = p + nl + 1;
            size_t len = strcspn(v, "\r\n");
            if (len >= n) len = n - 1;
            memcpy(buf, v, len);
            buf[len] = 0;
            return buf;
        }
        p += nl;
    }
    return buf;
}

long long fo_field_ll(const char *text, const char *name) {
    char buf[64];
    fo_field(text, name, buf, sizeof buf);
    return buf[0] ? atoll(buf) : -1;
}

int fo_pubsub_count(int port, const char *password, const char *channel) {
    char *out = fo_cli(port, password, "PUBSUB NUMSUB '%s'", channel);
    const char *nl = out ? strchr(out, '\n') : NULL;
    int n = nl ? atoi(nl + 1) : -100;
    free(out);
    out = fo_cli(port, password, "PUBSUB NUMPAT");
    n += out ? atoi(out) : -100;
    free(out);
    return n;
}

void fo_wait_pubsub_count_ok(int port, const char *password, const char *channel, int want, const char *what) {
    double end = tu_now() + 30;
    while (fo_pubsub_count(port, password, channel) != want && tu_now() < end) tu_sleep_ms(50);
    int n = fo_pubsub_count(port, password, channel);
    if (n != want) fail_msg("%s: %d subscriptions on %d (NUMSUB '%s' + NUMPAT), expected %d", what, n, port, channel, want);
}

/* ---- processes ---------------------------------------------------------------------- */

int fo_alive(int pid) {
    char path[64], stat[512];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(stat, 1, sizeof stat - 1, f);
    fclose(f);
    stat[n] = 0;
    const char *p = strrchr(stat, ')');
    return p && p[1] == ' ' && p[2] != 'Z';
}

static int pid_serves(int pid, int port) {
    if (!fo_alive(pid)) return 0;
    char path[64], cmdline[2048];
    snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(cmdline, 1, sizeof cmdline - 1, f);
    fclose(f);
    for (size_t i = 0; i < n; i++)
        if (cmdline[i] == 0) cmdline[i] = ' ';
    cmdline[n] = 0;
    char needle[32];
    snprintf(needle, sizeof needle, ":%d", port);
    const char *p = strstr(cmdline, needle);
    return p && (p[strlen(needle)] == ' ' || p[strlen(needle)] == 0);
}

int fo_topology_pid(const char *topology, int port) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/pids", tu_state_dir(), topology);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int pid, p, found = -1;
    while (fscanf(f, "%d %d", &pid, &p) == 2)
        if (p == port && pid_serves(pid, port)) found = pid;
    fclose(f);
    return found;
}

int fo_kill9(int pid) {
    if (pid <= 0) return -1;
    kill(pid, SIGKILL);
    double until = tu_now() + 5;
    while (fo_alive(pid)) {
        if (tu_now() > until) return -1;
        tu_sleep_ms(5);
    }
    return 0;
}

int fo_restart(const char *topology, int port, const char *server_bin, const char *args) {
    const char *harness = getenv("RCM_HARNESS");
    if (!harness) return -1;
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s%s%s'%s' server %d '%s/%s/%d' %s", server_bin ? "RCM_SERVER_BIN='" : "",
             server_bin ? server_bin : "", server_bin ? "' " : "", harness, port, tu_state_dir(), topology, port,
             args ? args : "");
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    char line[128] = {0};
    int pid = -1;
    if (fgets(line, sizeof line, p)) pid = atoi(line);
    int rc = pclose(p);
    if (rc != 0 || pid <= 0) {
        fprintf(stderr, "fo_restart: '%s' failed (exit status %d, printed '%s')\n", cmd, rc, line);
        return -1;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/pids", tu_state_dir(), topology);
    FILE *f = fopen(path, "a");
    if (f) {
        fprintf(f, "%d %d\n", pid, port);
        fclose(f);
    }
    return pid;
}

/* ---- raw RESP ------------------------------------------------------------------------ */

static int raw_callv(int port, int timeout_ms, char *buf, size_t n, int argc, const char **argv) {
    int fd = tu_raw_connect(port);
    if (fd < 0) return -1;
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    size_t cap = 256, off = 0;
    for (int i = 0; i < argc; i++) cap += strlen(argv[i]) + 32;
    char *req = malloc(cap);
    off += (size_t)snprintf(req + off, cap - off, "*%d\r\n", argc);
    for (int i = 0; i < argc; i++) {
        size_t len = strlen(argv[i]);
        off += (size_t)snprintf(req + off, cap - off, "$%zu\r\n", len);
        memcpy(req + off, argv[i], len);
        off += len;
        memcpy(req + off, "\r\n", 2);
        off += 2;
    }
    int rc = -1;
    size_t sent = 0;
    while (sent < off) {
        ssize_t w = send(fd, req + sent, off - sent, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        sent += (size_t)w;
    }
    free(req);
    if (sent == off) rc = tu_raw_read(fd, buf, n, timeout_ms);
    tu_raw_close(fd);
    return rc;
}

int fo_raw_call(int port, int timeout_ms, char *buf, size_t n, ...) {
    const char *argv[FO_MAX_ARGS];
    va_list ap;
    va_start(ap, n);
    int argc = collect(ap, argv);
    va_end(ap);
    return raw_callv(port, timeout_ms, buf, n, argc, argv);
}

/* ---- events ---------------------------------------------------------------------- */

void fo_events_init(fo_events *e) {
    memset(e, 0, sizeof *e);
    pthread_mutex_init(&e->mu, NULL);
}

void fo_events_cb(rcm_event_kind kind, const char *node, const char *detail, void *userdata) {
    fo_events *e = userdata;
    pthread_mutex_lock(&e->mu);
    if (e->n < FO_MAX_EVENTS) {
        fo_event *ev = &e->ev[e->n++];
        ev->kind = kind;
        snprintf(ev->node, sizeof ev->node, "%s", node ? node : "(null)");
        snprintf(ev->detail, sizeof ev->detail, "%s", detail ? detail : "(null)");
        ev->at = tu_now();
    }
    pthread_mutex_unlock(&e->mu);
}

int fo_events_find(fo_events *e, int from, rcm_event_kind kind, const char *needle, fo_event *out) {
    int found = -1;
    pthread_mutex_lock(&e->mu);
    for (int i = from < 0 ? 0 : from; i < e->n; i++) {
        if (e->ev[i].kind != kind) continue;
        if (needle && !strstr(e->ev[i].detail, needle)) continue;
        found = i;
        if (out) *out = e->ev[i];
        break;
    }
    pthread_mutex_unlock(&e->mu);
    return found;
}

int fo_events_wait(fo_events *e, int from, rcm_event_kind kind, const char *needle, fo_event *out, double seconds) {
    double until = tu_now() + seconds;
    for (;;) {
        int i = fo_events_find(e, from, kind, needle, out);
        if (i >= 0 || tu_now() > until) return i;
        tu_sleep_ms(20);
    }
}

void fo_events_print(fo_events *e) {
    static const char *names[] = {"?", "NODE_UP", "NODE_DOWN", "TOPOLOGY_CHANGED", "PRIMARY_CHANGED"};
    pthread_mutex_lock(&e->mu);
    fprintf(stderr, "events (%d):\n", e->n);
    for (int i = 0; i < e->n; i++) {
        int k = e->ev[i].kind >= 1 && e->ev[i].kind <= 4 ? (int)e->ev[i].kind : 0;
        fprintf(stderr, "  %.3f %s node=%s detail='%s'\n", e->ev[i].at, names[k], e->ev[i].node, e->ev[i].detail);
    }
    pthread_mutex_unlock(&e->mu);
}

/* ---- rcm --------------------------------------------------------------------------- */

rcm_client *fo_open_ok(const char *url, fo_events *events, ...) {
    rcm_config *cfg = rcm_config_new();
    assert_non_null(cfg);
    TU_ASSERT_RC(rcm_config_from_url(cfg, url), RCM_OK);
    va_list ap;
    va_start(ap, events);
    const char *k;
    while ((k = va_arg(ap, const char *)) != NULL) {
        const char *v = va_arg(ap, const char *);
        rcm_status st = rcm_config_set(cfg, k, v);
        if (st != RCM_OK) fail_msg("rcm_config_set(%s, %s): %s (%s)", k, v, rcm_status_name(st), rcm_last_error());
    }
    va_end(ap);
    if (events) TU_ASSERT_RC(rcm_config_set_event_callback(cfg, fo_events_cb, events), RCM_OK);
    rcm_client *c = NULL;
    rcm_status st = rcm_client_open(cfg, &c);
    rcm_config_free(cfg);
    if (st != RCM_OK) fail_msg("rcm_client_open(%s): %s (%s)", url, rcm_status_name(st), rcm_last_error());
    return c;
}

char *fo_topology_primary(rcm_client *c, char *buf, size_t n) {
    buf[0] = 0;
    char *json = NULL;
    if (rcm_client_topology_json(c, &json) != RCM_OK || !json) return buf;
    const char *p = strstr(json, "\"primary\":");
    if (p) {
        p = strchr(p + 10, '"');
        if (p) {
            p++;
            size_t len = strcspn(p, "\"");
            if (len >= n) len = n - 1;
            memcpy(buf, p, len);
            buf[len] = 0;
        }
    }
    rcm_free(json);
    return buf;
}

rcm_status fo_to_node(rcm_client *c, int port, rcm_reply **out, ...) {
    const char *argv[FO_MAX_ARGS];
    va_list ap;
    va_start(ap, out);
    int argc = collect(ap, argv);
    va_end(ap);
    char node[32];
    snprintf(node, sizeof node, "127.0.0.1:%d", port);
    rcm_route route;
    memset(&route, 0, sizeof route);
    route.kind = RCM_ROUTE_NODE;
    route.node = node;
    return rcm_command_routed(c, &route, argc, argv, NULL, out);
}

char *fo_role_via_rcm(rcm_client *c, int port, char *buf, size_t n) {
    buf[0] = 0;
    rcm_reply *r = NULL;
    if (fo_to_node(c, port, &r, "ROLE", NULL) == RCM_OK && rcm_reply_type(r) == RCM_REPLY_ARRAY &&
        rcm_reply_length(r) > 0) {
        const char *s = rcm_reply_string(rcm_reply_element(r, 0), NULL);
        if (s) snprintf(buf, n, "%s", s);
    }
    rcm_reply_free(r);
    return buf;
}

/* ---- load ------------------------------------------------------------------------- */

char *fo_load_key(const fo_load *l, long seq, char *buf, size_t n) {
    snprintf(buf, n, "%s:%d:%ld", l->prefix, l->id, seq);
    return buf;
}

static void describe(const rcm_reply *r, char *buf, size_t n) { snprintf(buf, n, "%s", tu_describe(r)); }

static void *load_main(void *arg) {
    fo_load *l = arg;
    long seq = 0;
    while (!atomic_load(l->stop)) {
        if (l->n == l->cap) {
            l->cap = l->cap ? l->cap * 2 : 1024;
            l->calls = realloc(l->calls, l->cap * sizeof *l->calls);
        }
        fo_call *call = &l->calls[l->n];
        memset(call, 0, sizeof *call);
        char key[128];
        rcm_reply *r = NULL;
        call->seq = seq;
        call->start = tu_now();
        if (l->kind == FO_LOAD_WRITE) {
            fo_load_key(l, seq, key, sizeof key);
            const char *argv[] = {"SET", key, key};
            call->status = rcm_command(l->client, 3, argv, NULL, &r);
            call->end = tu_now();
            call->ok = call->status == RCM_OK && tu_is_status(r, "OK");
        } else {
            const char *argv[] = {"GET", l->read_key};
            call->status = rcm_command(l->client, 2, argv, NULL, &r);
            call->end = tu_now();
            call->ok = call->status == RCM_OK && tu_is_cstring(r, l->read_value);
        }
        if (!call->ok) {
            if (call->status == RCM_OK)
                describe(r, call->reply, sizeof call->reply);
            else
                snprintf(call->reply, sizeof call->reply, "%s: %.70s", rcm_status_name(call->status), rcm_last_error());
        }
        rcm_reply_free(r);
        l->n++;
        seq++;
        if (l->pause_us > 0) usleep((useconds_t)l->pause_us);
    }
    return NULL;
}

void fo_load_start(fo_load *l) {
    l->n = 0;
    if (pthread_create(&l->thread, NULL, load_main, l) != 0) fail_msg("pthread_create failed");
}

void fo_load_join(fo_load *l) { pthread_join(l->thread, NULL); }

void fo_load_free(fo_load *l) {
    free(l->calls);
    l->calls = NULL;
    l->n = l->cap = 0;
}

fo_summary fo_summarize(fo_load *loads, int n, double from, double to) {
    fo_summary s;
    memset(&s, 0, sizeof s);
    for (int i = 0; i < n; i++) {
        for (size_t j = 0; j < loads[i].n; j++) {
            const fo_call *c = &loads[i].calls[j];
            if (c->start < from || c->start >= to) continue;
            s.calls++;
            double d = c->end - c->start;
            if (d > s.max_duration) {
                s.max_duration = d;
                s.longest = c;
            }
            if (c->ok) {
                s.ok++;
                continue;
            }
            if (c->status != RCM_OK) {
                s.failed_status++;
                int slot = -(int)c->status;
                s.by_status[slot >= 0 && slot < 23 ? slot : 23]++;
            } else {
                s.bad_reply++;
            }
            if (!s.first_bad || c->start < s.first_bad->start) s.first_bad = c;
            if (!s.last_bad || c->start > s.last_bad->start) s.last_bad = c;
            if (c->end > s.last_bad_end) s.last_bad_end = c->end;
        }
    }
    return s;
}

long fo_failures_ending_after(fo_load *loads, int n, double t, const fo_call **first) {
    long count = 0;
    if (first) *first = NULL;
    for (int i = 0; i < n; i++) {
        for (size_t j = 0; j < loads[i].n; j++) {
            const fo_call *c = &loads[i].calls[j];
            if (c->ok || c->end <= t) continue;
            count++;
            if (first && (!*first || c->end < (*first)->end)) *first = c;
        }
    }
    return count;
}

long fo_verify_writes(int port, fo_load *loads, int n, char *why, size_t wn) {
    int fd = tu_raw_connect(port);
    if (fd < 0) {
        snprintf(why, wn, "cannot connect to %d", port);
        return -1;
    }
    long missing = 0, checked = 0;
    why[0] = 0;
    enum { BATCH = 200 };
    for (int i = 0; i < n; i++) {
        fo_load *l = &loads[i];
        size_t j = 0;
        while (j < l->n) {
            size_t idx[BATCH];
            int m = 0;
            char *req = malloc(BATCH * 160);
            size_t off = 0;
            for (; j < l->n && m < BATCH; j++) {
                if (!l->calls[j].ok) continue;
                char key[128];
                fo_load_key(l, l->calls[j].seq, key, sizeof key);
                off += (size_t)sprintf(req + off, "*2\r\n$3\r\nGET\r\n$%zu\r\n%s\r\n", strlen(key), key);
                idx[m++] = j;
            }
            size_t sent = 0;
            while (sent < off) {
                ssize_t w = send(fd, req + sent, off - sent, MSG_NOSIGNAL);
                if (w < 0 && errno == EINTR) continue;
                if (w <= 0) break;
                sent += (size_t)w;
            }
            free(req);
            if (sent != off) {
                snprintf(why, wn, "send to %d failed", port);
                tu_raw_close(fd);
                return -1;
            }
            for (int k = 0; k < m; k++) {
                char got[256], key[128], want[140];
                if (tu_raw_read(fd, got, sizeof got, 10000) != 0) {
                    snprintf(why, wn, "no reply from %d after %ld keys", port, checked);
                    tu_raw_close(fd);
                    return -1;
                }
                checked++;
                fo_load_key(l, l->calls[idx[k]].seq, key, sizeof key);
                snprintf(want, sizeof want, "$%s", key);
                if (strcmp(got, want) != 0) {
                    if (missing < 5) {
                        size_t used = strlen(why);
                        snprintf(why + used, wn - used, "%s%s = %s (SET returned OK at %.3f)", missing ? "; " : "",
                                 key, got, l->calls[idx[k]].end);
                    }
                    missing++;
                }
            }
        }
    }
    tu_raw_close(fd);
    fprintf(stderr, "verified %ld acknowledged writes on %d: %ld missing\n", checked, port, missing);
    return missing;
}

void fo_summary_print(const char *what, const fo_summary *s) {
    fprintf(stderr, "%s: %ld calls, %ld ok, %ld failed with a status, %ld unexpected replies, longest %.3f s\n",
            what, s->calls, s->ok, s->failed_status, s->bad_reply, s->max_duration);
    for (int i = 1; i < 24; i++)
        if (s->by_status[i])
            fprintf(stderr, "    %s: %ld\n", rcm_status_name(i == 23 ? RCM_ERR_INTERNAL : (rcm_status)-i),
                    s->by_status[i]);
    if (s->first_bad)
        fprintf(stderr, "    first bad call: started %.3f, took %.3f s: %s\n", s->first_bad->start,
                s->first_bad->end - s->first_bad->start, s->first_bad->reply);
    if (s->last_bad)
        fprintf(stderr, "    last bad call: started %.3f, took %.3f s: %s\n", s->last_bad->start,
                s->last_bad->end - s->last_bad->start, s->last_bad->reply);
}

/* ---- RedisRaft ----------------------------------------------------------------------- */

int fo_raft_port(int i) { return tu_port(FO_RAFT + i); }

void fo_raft_require_module(const char *test) {
    const char *so = getenv("REDISRAFT_SO");
    if (!so || !*so) {
        printf("SKIP %s: REDISRAFT_SO is not set; these tests need a real RedisRaft module "
               "(build one and run with REDISRAFT_SO=/path/to/redisraft.so). raft.scripted covers "
               "the client side against a scripted fake meanwhile.\n", test);
        fflush(stdout);
        exit(FO_SKIP);
    }
}

fo_raft_info fo_raft_info_of(int port) {
    fo_raft_info ri;
    memset(&ri, 0, sizeof ri);
    ri.leader_id = -1;
    char *out = fo_cli(port, NULL, "INFO raft");
    if (!out || !strstr(out, "raft_role:")) {
        free(out);
        return ri;
    }
    ri.answered = 1;
    fo_field(out, "raft_role", ri.role, sizeof ri.role);
    fo_field(out, "raft_state", ri.state, sizeof ri.state);
    ri.leader_id = (int)fo_field_ll(out, "raft_leader_id");
    ri.node_id = (int)fo_field_ll(out, "raft_node_id");
    ri.num_nodes = (int)fo_field_ll(out, "raft_num_nodes");
    for (const char *p = out; (p = strstr(p, "state=connected")) != NULL; p++) ri.peers_connected++;
    free(out);
    return ri;
}

int fo_raft_leader_among(unsigned mask) {
    for (int i = 0; i < 3; i++) {
        if (!(mask & (1u << i))) continue;
        fo_raft_info ri = fo_raft_info_of(fo_raft_port(i));
        if (ri.answered && strcmp(ri.role, "leader") == 0 && strcmp(ri.state, "up") == 0) return fo_raft_port(i);
    }
    return -1;
}

int fo_raft_healthy(char *why, size_t n) {
    fo_raft_info ri[3];
    int leaders = 0, leader_idx = -1;
    for (int i = 0; i < 3; i++) {
        ri[i] = fo_raft_info_of(fo_raft_port(i));
        if (!ri[i].answered) {
            snprintf(why, n, "raft node %d does not answer INFO raft", fo_raft_port(i));
            return 0;
        }
        if (strcmp(ri[i].state, "up") != 0 || ri[i].num_nodes != 3) {
            snprintf(why, n, "raft node %d: state %s, %d nodes", fo_raft_port(i), ri[i].state, ri[i].num_nodes);
            return 0;
        }
        if (strcmp(ri[i].role, "leader") == 0) {
            leaders++;
            leader_idx = i;
        }
    }
    if (leaders != 1) {
        snprintf(why, n, "%d nodes say raft_role:leader", leaders);
        return 0;
    }
    for (int i = 0; i < 3; i++) {
        if (ri[i].leader_id != ri[leader_idx].node_id) {
            snprintf(why, n, "raft node %d names leader %d, not %d", fo_raft_port(i), ri[i].leader_id,
                     ri[leader_idx].node_id);
            return 0;
        }
    }
    if (ri[leader_idx].peers_connected != 2) {
        snprintf(why, n, "the leader %d sees %d peers connected", fo_raft_port(leader_idx),
                 ri[leader_idx].peers_connected);
        return 0;
    }
    return 1;
}

int fo_raft_wait_healthy(double seconds, char *why, size_t n) {
    double until = tu_now() + seconds;
    for (;;) {
        if (fo_raft_healthy(why, n)) return 1;
        if (tu_now() > until) return 0;
        tu_sleep_ms(200);
    }
}

int fo_raft_restart(int i) {
    const char *so = getenv("REDISRAFT_SO");
    const char *bin = getenv("RCM_RAFT_SERVER_BIN");
    if (!bin || !*bin) bin = "valkey-server";
    char args[2048];
    snprintf(args, sizeof args,
             "--loadmodule '%s' --raft.addr 127.0.0.1:%d --raft.id %d --raft.log-filename raftlog%d.db "
             "--dbfilename raft%d.rdb",
             so ? so : "", fo_raft_port(i), i + 1, i + 1, i + 1);
    return fo_restart("raft", fo_raft_port(i), bin, args);
}

/* ---- Sentinel ---------------------------------------------------------------------- */

int fo_sentinel_data_port(int i) { return tu_port(FO_SENTINEL_DATA + i); }
int fo_sentinel_port(int i) { return tu_port(FO_SENTINEL_SENTINEL + i); }

int fo_sentinel_master_of(int i) {
    char *out = fo_cli(fo_sentinel_port(i), NULL, "SENTINEL get-master-addr-by-name %s", FO_MASTER_NAME);
    int port = -1;
    if (out) {
        char host[64];
        int p;
        if (sscanf(out, "%63s %d", host, &p) == 2 && strcmp(host, "127.0.0.1") == 0) port = p;
    }
    free(out);
    return port;
}

int fo_sentinel_master(void) {
    int m = fo_sentinel_master_of(0);
    for (int i = 1; i < 3; i++)
        if (fo_sentinel_master_of(i) != m) return -1;
    return m;
}

char *fo_role_of(int port, char *buf, size_t n) {
    buf[0] = 0;
    char *out = fo_cli(port, FO_PASSWORD, "ROLE");
    if (out) {
        size_t len = strcspn(out, "\n");
        if (len < n && (strncmp(out, "master", 6) == 0 || strncmp(out, "slave", 5) == 0)) {
            memcpy(buf, out, len);
            buf[len] = 0;
        }
    }
    free(out);
    return buf;
}

/* The value after key in valkey-cli's rendering of a flat key/value array. */
static int kv_field(const char *out, const char *key, char *buf, size_t n) {
    buf[0] = 0;
    const char *p = out;
    size_t kl = strlen(key);
    while (p && *p) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == kl && strncmp(p, key, kl) == 0 && e) {
            const char *v = e + 1;
            size_t vl = strcspn(v, "\n");
            if (vl >= n) vl = n - 1;
            memcpy(buf, v, vl);
            buf[vl] = 0;
            return 1;
        }
        p = e ? e + 1 : NULL;
    }
    return 0;
}

int fo_sentinel_healthy(char *why, size_t n) {
    int m = fo_sentinel_master();
    if (m < 0) {
        snprintf(why, n, "the sentinels do not agree on a master (%d, %d, %d)", fo_sentinel_master_of(0),
                 fo_sentinel_master_of(1), fo_sentinel_master_of(2));
        return 0;
    }
    char role[32];
    if (strcmp(fo_role_of(m, role, sizeof role), "master") != 0) {
        snprintf(why, n, "the sentinels' master %d says ROLE '%s'", m, role);
        return 0;
    }
    char *info = fo_cli(m, FO_PASSWORD, "INFO replication");
    long long replicas = fo_field_ll(info, "connected_slaves");
    free(info);
    if (replicas != 2) {
        snprintf(why, n, "master %d has %lld connected replicas", m, replicas);
        return 0;
    }
    for (int i = 0; i < 3; i++) {
        int p = fo_sentinel_data_port(i);
        if (p == m) continue;
        char *ri = fo_cli(p, FO_PASSWORD, "INFO replication");
        char r[32], link[32];
        fo_field(ri, "role", r, sizeof r);
        fo_field(ri, "master_link_status", link, sizeof link);
        long long mp = fo_field_ll(ri, "master_port");
        free(ri);
        if (strcmp(r, "slave") != 0 || mp != m || strcmp(link, "up") != 0) {
            snprintf(why, n, "data node %d: role '%s', master_port %lld, link '%s' (master is %d)", p, r, mp, link, m);
            return 0;
        }
    }
    for (int i = 0; i < 3; i++) {
        int s = fo_sentinel_port(i);
        char *out = fo_cli(s, NULL, "SENTINEL MASTER %s", FO_MASTER_NAME);
        char flags[128], slaves[16], others[16];
        kv_field(out, "flags", flags, sizeof flags);
        kv_field(out, "num-slaves", slaves, sizeof slaves);
        kv_field(out, "num-other-sentinels", others, sizeof others);
        free(out);
        if (strcmp(flags, "master") != 0 || atoi(slaves) != 2 || atoi(others) != 2) {
            snprintf(why, n, "sentinel %d: master flags '%s', %s replicas, %s other sentinels", s, flags, slaves,
                     others);
            return 0;
        }
        out = fo_cli(s, NULL, "SENTINEL REPLICAS %s", FO_MASTER_NAME);
        int bad = out == NULL || strstr(out, "s_down") || strstr(out, "o_down") || strstr(out, "disconnected");
        free(out);
        if (bad) {
            snprintf(why, n, "sentinel %d still sees a replica down or disconnected", s);
            return 0;
        }
    }
    return 1;
}

int fo_sentinel_wait_healthy(double seconds, char *why, size_t n) {
    double until = tu_now() + seconds;
    for (;;) {
        if (fo_sentinel_healthy(why, n)) return 1;
        if (tu_now() > until) return 0;
        tu_sleep_ms(250);
    }
}

const char *fo_sentinel_url(void) {
    static char url[128];
    snprintf(url, sizeof url, "redis+sentinel://127.0.0.1:%d,127.0.0.1:%d/%s", fo_sentinel_port(0),
             fo_sentinel_port(1), FO_MASTER_NAME);
    return url;
}

int fo_sentinel_restart(int port) {
    return fo_restart("sentinel", port, NULL, "--requirepass " FO_PASSWORD " --masterauth " FO_PASSWORD);
}

/* ---- scripted stand-ins (fake_raft.py, fake_sentinel.py) -------------------------- */

static tu_script fake_raft = TU_SCRIPT_INIT;
static tu_script fake_sentinel = TU_SCRIPT_INIT;

static void stop_scripts(void) {
    tu_script_stop(&fake_raft);
    tu_script_stop(&fake_sentinel);
}

static void stop_scripts_at_exit(void) {
    static int registered;
    if (!registered) {
        atexit(stop_scripts);
        registered = 1;
    }
}

int fo_fake_port(int i) { return tu_port(FO_FAKE_NODE + i); }

void fo_fake_stop(void) { tu_script_stop(&fake_raft); }

void fo_fake_start_ok(void) {
    char ports[64], control[16];
    snprintf(ports, sizeof ports, "%d,%d,%d", fo_fake_port(0), fo_fake_port(1), fo_fake_port(2));
    snprintf(control, sizeof control, "%d", tu_port(FO_FAKE_CONTROL));
    stop_scripts_at_exit();
    const char *args[] = {"--ports", ports, "--control", control, "--leader", "0", NULL};
    tu_script_start_ok(&fake_raft, "FO_FAKE_RAFT", "FO_PYTHON", args);
}

int fo_fake_sentinel_port(void) { return tu_port(FO_FAKE_SENTINEL); }

void fo_fake_sentinel_start_ok(int names_port) {
    char port[16], master[32];
    snprintf(port, sizeof port, "%d", fo_fake_sentinel_port());
    snprintf(master, sizeof master, "127.0.0.1:%d", names_port);
    stop_scripts_at_exit();
    const char *args[] = {"--port", port, "--master", master, NULL};
    tu_script_start_ok(&fake_sentinel, "FO_FAKE_SENTINEL", "FO_PYTHON", args);
}

void fo_fake_sentinel_stop(void) { tu_script_stop(&fake_sentinel); }

void fo_fake_ctl_ok(char *buf, size_t n, ...) {
    const char *argv[FO_MAX_ARGS];
    va_list ap;
    va_start(ap, n);
    int argc = collect(ap, argv);
    va_end(ap);
    char local[512];
    if (!buf) {
        buf = local;
        n = sizeof local;
    }
    if (raw_callv(tu_port(FO_FAKE_CONTROL), 3000, buf, n, argc, argv) != 0)
        fail_msg("fake_raft.py control %s: no reply", argv[0]);
    if (buf[0] != '+' && buf[0] != ':' && buf[0] != '$') fail_msg("fake_raft.py control %s: %s", argv[0], buf);
}

long long fo_fake_count(int i, const char *cmd) {
    char idx[8], buf[64];
    snprintf(idx, sizeof idx, "%d", i);
    fo_fake_ctl_ok(buf, sizeof buf, "COUNT", idx, cmd, NULL);
    return atoll(buf + 1);
}

int fo_raft_fixture(void **state) {
    (void)state;
    for (int i = 0; i < 3; i++)
        if (fo_topology_pid("raft", fo_raft_port(i)) < 0) {
            fprintf(stderr, "restoring raft node %d\n", fo_raft_port(i));
            if (fo_raft_restart(i) < 0) return -1;
        }
    char why[256];
    if (!fo_raft_wait_healthy(60, why, sizeof why)) {
        fprintf(stderr, "the raft group is not healthy: %s\n", why);
        return -1;
    }
    return 0;
}

int fo_sentinel_fixture(void **state) {
    (void)state;
    char why[256];
    if (!fo_sentinel_wait_healthy(90, why, sizeof why)) {
        fprintf(stderr, "the sentinel topology is not healthy: %s\n", why);
        return -1;
    }
    return 0;
}
