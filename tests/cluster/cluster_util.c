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

/* ---- ports and the cli ------------------------------------------------------------- */

int cu_port(int i) { return tu_port(10 + i); }

const char *cu_addr(int port) {
    static __thread char buf[64];
    snprintf(buf, sizeof buf, "127.0.0.1:%d", port);
    return buf;
}

static const char *cli_bin(void) {
    static char bin[1024];
    if (bin[0]) return bin;
    const char *env = getenv("RCM_CLI_BIN");
    if (env && *env) {
        snprintf(bin, sizeof bin, "%s", env);
        return bin;
    }
    const char *server = getenv("RCM_SERVER_BIN");
    if (server && *server && strchr(server, '/')) {
        char dir[900];
        snprintf(dir, sizeof dir, "%s", server);
        *strrchr(dir, '/') = 0;
        const char *names[] = {"valkey-cli", "redis-cli"};
        for (int i = 0; i < 2; i++) {
            char cand[1024];
            snprintf(cand, sizeof cand, "%s/%s", dir, names[i]);
            if (access(cand, X_OK) == 0) {
                snprintf(bin, sizeof bin, "%s", cand);
                return bin;
            }
        }
    }
    snprintf(bin, sizeof bin, "valkey-cli");
    return bin;
}

char *cu_cli(int port, const char *fmt, ...) {
    char args[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    size_t cmdlen = strlen(args) + 1200;
    char *cmd = malloc(cmdlen);
    snprintf(cmd, cmdlen, "timeout 10 '%s' -h 127.0.0.1 -p %d -a %s --no-auth-warning %s 2>&1 </dev/null",
             cli_bin(), port, CU_PASSWORD, args);
    int rc = 0;
    char *out = tu_command_output(cmd, &rc);
    free(cmd);
    if (out && rc != 0) {
        free(out);
        return NULL;
    }
    return out;
}

char *cu_info_str(int port, const char *section, const char *field, char *buf, size_t n) {
    buf[0] = 0;
    char *out = cu_cli(port, "INFO %s", section);
    if (!out) return buf;
    size_t fl = strlen(field);
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, field, fl) == 0 && line[fl] == ':') {
            snprintf(buf, n, "%s", line + fl + 1);
            break;
        }
    }
    free(out);
    return buf;
}

long long cu_info_ll(int port, const char *section, const char *field) {
    char buf[128];
    cu_info_str(port, section, field, buf, sizeof buf);
    if (!buf[0]) return -1;
    return atoll(buf);
}

/* A zero from here is a claim ("nothing was sent to this node"), so a cli that did not
 * answer fails the test instead of reading as zero. */
cu_cmdstat cu_cmdstat_of(int port, const char *command) {
    cu_cmdstat s = {0, 0, 0};
    char *out = cu_cli(port, "INFO commandstats");
    if (!out) fail_msg("'%s -p %d INFO commandstats' failed (exit status not 0): cannot count %s calls", cli_bin(), port,
                       command);
    if (!strstr(out, "# Commandstats")) {
        char head[120];
        snprintf(head, sizeof head, "%s", out);
        free(out);
        fail_msg("'%s -p %d INFO commandstats' answered '%s', not INFO: cannot count %s calls", cli_bin(), port, head,
                 command);
    }
    char field[128];
    int fl = snprintf(field, sizeof field, "cmdstat_%s:", command);
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, field, (size_t)fl) != 0) continue;
        const char *buf = line + fl, *p;
        if ((p = strstr(buf, "calls=")) && (p == buf || p[-1] == ',')) s.calls = atoll(p + 6);
        if ((p = strstr(buf, "rejected_calls="))) s.rejected = atoll(p + 15);
        if ((p = strstr(buf, "failed_calls="))) s.failed = atoll(p + 13);
        break;
    }
    free(out);
    return s;
}

int cu_reset_stats_all(void) {
    int rc = 0;
    for (int i = 0; i < CU_NODES; i++) {
        char *out = cu_cli(cu_port(i), "CONFIG RESETSTAT");
        if (!out || strncmp(out, "OK", 2) != 0) rc = -1;
        free(out);
    }
    return rc;
}

/* ---- CLUSTER NODES ----------------------------------------------------------------- */

int cu_cluster_read(int port, cu_cluster *cl) {
    memset(cl, 0, sizeof *cl);
    for (int s = 0; s < CU_SLOTS; s++) cl->owner[s] = -1;
    char *out = cu_cli(port, "CLUSTER NODES");
    if (!out) return -1;
    int rc = 0;
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (!*line) continue;
        if (cl->n >= 16) {
            rc = -1;
            break;
        }
        cu_node *nd = &cl->nodes[cl->n];
        char *save2 = NULL;
        char *f[8];
        int nf = 0;
        for (char *w = strtok_r(line, " ", &save2); w && nf < 8; w = nf < 8 ? strtok_r(NULL, " ", &save2) : NULL)
            f[nf++] = w;
        if (nf < 8) {
            rc = -1; /* not CLUSTER NODES output (an error?) */
            break;
        }
        snprintf(nd->id, sizeof nd->id, "%s", f[0]);
        char *at = strchr(f[1], '@');
        if (at) *at = 0;
        char *colon = strrchr(f[1], ':');
        nd->port = colon ? atoi(colon + 1) : 0;
        nd->primary = strstr(f[2], "master") != NULL;
        nd->failed = strstr(f[2], "fail") != NULL;
        if (strcmp(f[3], "-") != 0) snprintf(nd->primary_id, sizeof nd->primary_id, "%s", f[3]);
        nd->config_epoch = atoll(f[6]);
        /* f[7] is the link state; the slots follow. */
        for (char *w = strtok_r(NULL, " ", &save2); w; w = strtok_r(NULL, " ", &save2)) {
            if (w[0] == '[') {
                cl->open_slots++;
                continue;
            }
            int a = atoi(w), b = a;
            char *dash = strchr(w, '-');
            if (dash) b = atoi(dash + 1);
            for (int s = a; s <= b && s < CU_SLOTS; s++) {
                if (s >= 0) cl->owner[s] = (short)cl->n;
                nd->slots++;
            }
        }
        cl->n++;
    }
    free(out);
    return rc;
}

int cu_node_index(const cu_cluster *cl, int port) {
    for (int i = 0; i < cl->n; i++)
        if (cl->nodes[i].port == port) return i;
    return -1;
}

int cu_replica_index(const cu_cluster *cl, int p) {
    for (int i = 0; i < cl->n; i++)
        if (!cl->nodes[i].primary && !cl->nodes[i].failed && strcmp(cl->nodes[i].primary_id, cl->nodes[p].id) == 0)
            return i;
    return -1;
}

int cu_owner_port(const cu_cluster *cl, int slot) {
    if (slot < 0 || slot >= CU_SLOTS || cl->owner[slot] < 0) return -1;
    return cl->nodes[cl->owner[slot]].port;
}

int cu_primaries(const cu_cluster *cl, int *idx, int max) {
    int n = 0;
    for (int i = 0; i < cl->n; i++)
        if (cl->nodes[i].primary && !cl->nodes[i].failed && cl->nodes[i].slots > 0 && n < max) idx[n++] = i;
    for (int a = 0; a < n; a++)
        for (int b = a + 1; b < n; b++)
            if (cl->nodes[idx[b]].port < cl->nodes[idx[a]].port) {
                int t = idx[a];
                idx[a] = idx[b];
                idx[b] = t;
            }
    return n;
}

/* ---- health ------------------------------------------------------------------------ */

static int info_has(const char *text, const char *needle) { return text && strstr(text, needle) != NULL; }

int cu_cluster_healthy(char *why, size_t n) {
    static __thread cu_cluster views[CU_NODES];
    for (int i = 0; i < CU_NODES; i++) {
        int port = cu_port(i);
        char *info = cu_cli(port, "CLUSTER INFO");
        int ok = info_has(info, "cluster_state:ok") && info_has(info, "cluster_known_nodes:6") &&
                 info_has(info, "cluster_slots_assigned:16384");
        free(info);
        if (!ok) {
            snprintf(why, n, "node %d: not cluster_state:ok with 6 known nodes and 16384 slots", port);
            return 0;
        }
        if (cu_cluster_read(port, &views[i]) != 0) {
            snprintf(why, n, "node %d: CLUSTER NODES unreadable", port);
            return 0;
        }
        if (views[i].open_slots) {
            snprintf(why, n, "node %d: %d slot(s) importing/migrating", port, views[i].open_slots);
            return 0;
        }
        int me = cu_node_index(&views[i], port);
        if (me < 0) {
            snprintf(why, n, "node %d does not list itself", port);
            return 0;
        }
        if (!views[i].nodes[me].primary) {
            char link[64];
            cu_info_str(port, "replication", "master_link_status", link, sizeof link);
            if (strcmp(link, "up") != 0) {
                snprintf(why, n, "replica %d: master_link_status '%s'", port, link);
                return 0;
            }
        }
    }
    /* Every node agrees on every slot's owner (by id). */
    for (int i = 1; i < CU_NODES; i++) {
        for (int s = 0; s < CU_SLOTS; s++) {
            const char *a = views[0].owner[s] >= 0 ? views[0].nodes[views[0].owner[s]].id : "";
            const char *b = views[i].owner[s] >= 0 ? views[i].nodes[views[i].owner[s]].id : "";
            if (strcmp(a, b) != 0) {
                snprintf(why, n, "nodes %d and %d disagree about slot %d", cu_port(0), cu_port(i), s);
                return 0;
            }
        }
    }
    /* ...and on every node's role, primary and address: no view lags behind. */
    for (int i = 1; i < CU_NODES; i++) {
        if (views[i].n != views[0].n) {
            snprintf(why, n, "node %d lists %d nodes, node %d lists %d", cu_port(i), views[i].n, cu_port(0), views[0].n);
            return 0;
        }
        for (int k = 0; k < views[0].n; k++) {
            const cu_node *a = &views[0].nodes[k];
            const cu_node *b = NULL;
            for (int m = 0; m < views[i].n; m++)
                if (strcmp(views[i].nodes[m].id, a->id) == 0) b = &views[i].nodes[m];
            if (!b || b->port != a->port || b->primary != a->primary || strcmp(b->primary_id, a->primary_id) != 0) {
                snprintf(why, n, "nodes %d and %d disagree about node %d (%.8s)", cu_port(0), cu_port(i), a->port, a->id);
                return 0;
            }
        }
    }
    const cu_cluster *cl = &views[0];
    int prim[8];
    int np = cu_primaries(cl, prim, 8);
    int masters = 0, replicas = 0;
    for (int i = 0; i < cl->n; i++) {
        if (cl->nodes[i].failed) {
            snprintf(why, n, "node %d is flagged failed", cl->nodes[i].port);
            return 0;
        }
        if (cl->nodes[i].primary)
            masters++;
        else
            replicas++;
    }
    if (np != 3 || masters != 3 || replicas != 3) {
        snprintf(why, n, "%d primaries serving slots, %d masters, %d replicas (want 3/3/3)", np, masters, replicas);
        return 0;
    }
    for (int k = 0; k < np; k++) {
        int count = 0;
        for (int i = 0; i < cl->n; i++)
            if (!cl->nodes[i].primary && strcmp(cl->nodes[i].primary_id, cl->nodes[prim[k]].id) == 0) count++;
        if (count != 1) {
            snprintf(why, n, "primary %d has %d replicas", cl->nodes[prim[k]].port, count);
            return 0;
        }
    }
    return 1;
}

int cu_wait_healthy(double seconds, char *why, size_t n) {
    double deadline = tu_now() + seconds;
    for (;;) {
        if (cu_cluster_healthy(why, n)) return 1;
        if (tu_now() > deadline) return 0;
        tu_sleep_ms(200);
    }
}

void cu_assert_healthy_ok(double seconds) {
    char why[256];
    if (!cu_wait_healthy(seconds, why, sizeof why))
        fail_msg("the cluster is not healthy after %.0f s: %s", seconds, why);
}

double cu_wait_role_master(int port, double seconds) {
    double deadline = tu_now() + seconds;
    for (;;) {
        char *out = cu_cli(port, "ROLE");
        int master = out && strncmp(out, "master", 6) == 0;
        free(out);
        if (master) return tu_now();
        if (tu_now() > deadline) return -1;
        tu_sleep_ms(50);
    }
}

/* A node a crashed test left behind: stopped (SIGSTOP) gets SIGCONT, dead is restarted. */
static void revive_nodes(void) {
    for (int i = 0; i < CU_NODES; i++) {
        int port = cu_port(i);
        int pid = cu_node_pid(port);
        if (pid > 0) {
            char path[64], stat[512] = {0};
            snprintf(path, sizeof path, "/proc/%d/stat", pid);
            FILE *f = fopen(path, "r");
            if (f) {
                size_t got = fread(stat, 1, sizeof stat - 1, f);
                fclose(f);
                (void)got;
                const char *rp = strrchr(stat, ')');
                if (rp && (rp[2] == 'T' || rp[2] == 't')) {
                    fprintf(stderr, "cluster_util: node %d (pid %d) was stopped; sending SIGCONT\n", port, pid);
                    kill(pid, SIGCONT);
                }
            }
        } else {
            pid = cu_node_restart(port);
            fprintf(stderr, "cluster_util: node %d was not running; restarted it (pid %d)\n", port, pid);
        }
    }
}

static double wall_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "<state dir>/cluster/voted-<port>": when the other primaries last voted to replace the
 * primary on port. They refuse a second vote about one primary within 2 x
 * cluster-node-timeout (10 s), and a manual failover that gets no vote pauses the
 * primary's writers for 5 s before it gives up -- so wait instead of trying. */
static void voted_path(int primary_port, char *buf, size_t n) {
    snprintf(buf, n, "%s/cluster/voted-%d", tu_state_dir(), primary_port);
}

static void wait_until_votable(int primary_port) {
    char path[1024];
    voted_path(primary_port, path, sizeof path);
    FILE *f = fopen(path, "r");
    if (!f) return;
    double at = 0;
    if (fscanf(f, "%lf", &at) != 1) at = 0;
    fclose(f);
    double wait = at + 11.0 - wall_now();
    if (wait > 0 && wait <= 11.0) {
        printf("cluster_util: waiting %.1f s before another failover of %d's shard (vote interval)\n", wait, primary_port);
        fflush(stdout);
        tu_sleep_ms((int)(wait * 1000));
    }
}

void cu_note_vote(int primary_port) {
    char path[1024];
    voted_path(primary_port, path, sizeof path);
    FILE *f = fopen(path, "w");
    if (!f) return;
    fprintf(f, "%.3f\n", wall_now());
    fclose(f);
}

double cu_failover_to(int port, double seconds) {
    double deadline = tu_now() + seconds;
    cu_cluster cl;
    int primary_port = -1;
    if (cu_cluster_read(port, &cl) == 0) {
        int me = cu_node_index(&cl, port);
        for (int i = 0; me >= 0 && i < cl.n; i++)
            if (strcmp(cl.nodes[i].id, cl.nodes[me].primary_id) == 0) primary_port = cl.nodes[i].port;
    }
    if (primary_port > 0) wait_until_votable(primary_port);
    while (tu_now() < deadline) {
        char *out = cu_cli(port, "CLUSTER FAILOVER");
        free(out);
        /* A manual failover gives up after 5 s (e.g. when the other primaries refuse to
         * vote twice for one shard within 2 x cluster-node-timeout): ask again. */
        double t = cu_wait_role_master(port, 7);
        if (primary_port > 0) cu_note_vote(primary_port);
        if (t > 0) return t;
    }
    return -1;
}

int cu_setslot_node_everywhere(int slot, int from_port, int to_port, char *why, size_t n) {
    cu_cluster cl;
    if (cu_cluster_read(from_port, &cl) != 0) {
        snprintf(why, n, "CLUSTER NODES on %d failed", from_port);
        return -1;
    }
    int ti = cu_node_index(&cl, to_port);
    int fi = cu_node_index(&cl, from_port);
    if (ti < 0 || fi < 0) {
        snprintf(why, n, "node %d not found", ti < 0 ? to_port : from_port);
        return -1;
    }
    if (ti != fi) { /* already IMPORTING after cu_move_slot: setting it again is harmless */
        char *out = cu_cli(to_port, "CLUSTER SETSLOT %d IMPORTING %s", slot, cl.nodes[fi].id);
        /* "already the owner": to_port took the slot in a move that stopped half-way */
        if (!out || (strncmp(out, "OK", 2) != 0 && !strstr(out, "already the owner"))) {
            snprintf(why, n, "SETSLOT %d IMPORTING on %d: %s", slot, to_port, out ? out : "(cli failed)");
            free(out);
            return -1;
        }
        free(out);
    }
    int order[16], no = 0;
    order[no++] = to_port;
    order[no++] = from_port;
    for (int i = 0; i < cl.n && no < 16; i++)
        if (cl.nodes[i].primary && cl.nodes[i].port != to_port && cl.nodes[i].port != from_port) order[no++] = cl.nodes[i].port;
    for (int i = 0; i < no; i++) {
        char *out = cu_cli(order[i], "CLUSTER SETSLOT %d NODE %s", slot, cl.nodes[ti].id);
        if (!out || strncmp(out, "OK", 2) != 0) {
            snprintf(why, n, "SETSLOT %d NODE on %d: %s", slot, order[i], out ? out : "(cli failed)");
            free(out);
            return -1;
        }
        free(out);
    }
    return 0;
}

int cu_wait_owner_everywhere(int slot, int port, double seconds) {
    double deadline = tu_now() + seconds;
    while (tu_now() < deadline) {
        int all = 1;
        for (int i = 0; i < CU_NODES && all; i++) {
            cu_cluster cl;
            if (cu_cluster_read(cu_port(i), &cl) != 0 || cu_owner_port(&cl, slot) != port) all = 0;
        }
        if (all) return 1;
        tu_sleep_ms(100);
    }
    return 0;
}

int cu_restore_layout(char *why, size_t n) {
    revive_nodes();
    /* Wait for a settled cluster first: a failover needs the replica in sync. */
    if (!cu_wait_healthy(90, why, n)) return -1;
    for (int i = 0; i < CU_PRIMARIES; i++) {
        int port = cu_port(i);
        char *out = cu_cli(port, "ROLE");
        int replica = out && strncmp(out, "slave", 5) == 0;
        free(out);
        if (!replica) continue;
        cu_failover_to(port, 60);
        if (!cu_wait_healthy(90, why, n)) return -1;
    }
    for (int i = 0; i < CU_PRIMARIES; i++) {
        char *out = cu_cli(cu_port(i), "ROLE");
        int master = out && strncmp(out, "master", 6) == 0;
        free(out);
        if (!master) {
            snprintf(why, n, "node %d is not a primary again", cu_port(i));
            return -1;
        }
    }
    return cu_wait_healthy(90, why, n) ? 0 : -1;
}

/* ---- harness processes --------------------------------------------------------------- */

static int pid_serves_port(int pid, int port) {
    char path[64], buf[512] = {0};
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char stat[512] = {0};
    size_t got = fread(stat, 1, sizeof stat - 1, f);
    fclose(f);
    (void)got;
    const char *rp = strrchr(stat, ')');
    if (!rp || rp[1] != ' ' || rp[2] == 'Z') return 0;
    snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
    f = fopen(path, "r");
    if (!f) return 0;
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    for (size_t i = 0; i < len; i++)
        if (buf[i] == 0) buf[i] = ' ';
    char want[32];
    snprintf(want, sizeof want, ":%d", port);
    const char *p = strstr(buf, want);
    return p && (p[strlen(want)] == ' ' || p[strlen(want)] == 0);
}

int cu_node_pid(int port) {
    char path[1024];
    snprintf(path, sizeof path, "%s/cluster/pids", tu_state_dir());
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int pid, p, found = -1;
    while (fscanf(f, "%d %d", &pid, &p) == 2)
        if (p == port && pid_serves_port(pid, port)) found = pid;
    fclose(f);
    return found;
}

int cu_node_restart(int port) {
    const char *harness = getenv("RCM_HARNESS");
    if (!harness) return -1;
    char cmd[4096];
    /* The harness starts the node as `up cluster` did (through the image's entrypoint, or
     * its container) and records it in its pids file, so that `down` stops it. */
    snprintf(cmd, sizeof cmd, "'%s' cluster-node %d '%s'", harness, port, tu_state_dir());
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    char line[64] = {0};
    int pid = -1;
    if (fgets(line, sizeof line, p)) pid = atoi(line);
    pclose(p);
    return pid > 0 ? pid : -1;
}

/* ---- keys -------------------------------------------------------------------------- */

static unsigned crc16(const char *buf, size_t len) {
    unsigned crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (unsigned)(unsigned char)buf[i] << 8;
        for (int b = 0; b < 8; b++) crc = (crc & 0x8000) ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
    return crc;
}

int cu_key_slot(const char *key, size_t len) {
    size_t s, e;
    for (s = 0; s < len; s++)
        if (key[s] == '{') break;
    if (s < len) {
        for (e = s + 1; e < len; e++)
            if (key[e] == '}') break;
        if (e < len && e != s + 1) return (int)(crc16(key + s + 1, e - s - 1) & 16383);
    }
    return (int)(crc16(key, len) & 16383);
}

int cu_key_on(const cu_cluster *cl, int port, const char *prefix, int *n, char *buf, size_t len) {
    for (;; (*n)++) {
        snprintf(buf, len, "%s%d", prefix, *n);
        int slot = cu_key_slot(buf, strlen(buf));
        if (cu_owner_port(cl, slot) == port) {
            (*n)++;
            return slot;
        }
    }
}

int cu_tag_on(const cu_cluster *cl, int port, const char *prefix, char *buf, size_t len) {
    for (int i = 0;; i++) {
        snprintf(buf, len, "%s%d", prefix, i);
        int slot = cu_key_slot(buf, strlen(buf));
        if (cu_owner_port(cl, slot) == port) return slot;
    }
}

/* ---- rcm ------------------------------------------------------------------------------ */

rcm_client *cu_open_ok(const char *key, ...) {
    rcm_config *cfg = rcm_config_new();
    assert_non_null(cfg);
    char url[256];
    snprintf(url, sizeof url, "redis+cluster://:%s@127.0.0.1:%d,127.0.0.1:%d", CU_PASSWORD, cu_port(0), cu_port(1));
    TU_ASSERT_RC(rcm_config_from_url(cfg, url), RCM_OK);
    va_list ap;
    va_start(ap, key);
    for (const char *k = key; k; k = va_arg(ap, const char *)) {
        const char *v = va_arg(ap, const char *);
        rcm_status st = rcm_config_set(cfg, k, v);
        if (st != RCM_OK) fail_msg("rcm_config_set(%s, %s): %s '%s'", k, v, rcm_status_name(st), rcm_last_error());
    }
    va_end(ap);
    rcm_client *c = NULL;
    rcm_status st = rcm_client_open(cfg, &c);
    rcm_config_free(cfg);
    if (st != RCM_OK) fail_msg("rcm_client_open(%s): %s '%s'", url, rcm_status_name(st), rcm_last_error());
    assert_non_null(c);
    return c;
}

static rcm_status routed_va(rcm_client *c, const rcm_route *route, rcm_reply **out, va_list ap) {
    const char *argv[64];
    int argc = 0;
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && argc < 64) argv[argc++] = a;
    return rcm_command_routed(c, route, argc, argv, NULL, out);
}

rcm_status cu_routed(rcm_client *c, const rcm_route *route, rcm_reply **out, ...) {
    va_list ap;
    va_start(ap, out);
    rcm_status st = routed_va(c, route, out, ap);
    va_end(ap);
    return st;
}

rcm_status cu_to_node(rcm_client *c, int port, rcm_reply **out, ...) {
    char node[64];
    snprintf(node, sizeof node, "127.0.0.1:%d", port);
    rcm_route route = {RCM_ROUTE_NODE, 0, NULL, 0, node};
    va_list ap;
    va_start(ap, out);
    rcm_status st = routed_va(c, &route, out, ap);
    va_end(ap);
    return st;
}

const char *cu_str(const rcm_reply *r) {
    static __thread char buf[1024];
    if (!r || (rcm_reply_type(r) != RCM_REPLY_STRING && rcm_reply_type(r) != RCM_REPLY_STATUS)) return NULL;
    size_t len = 0;
    const char *s = rcm_reply_string(r, &len);
    if (len >= sizeof buf) len = sizeof buf - 1;
    memcpy(buf, s, len);
    buf[len] = 0;
    return buf;
}

/* ---- fake_cluster.py ----------------------------------------------------------------- */

static tu_script fake = TU_SCRIPT_INIT;

int cu_fake_port(int i) { return tu_port(CU_FAKE_NODE + i); }

int cu_fake_owner(int slot) {
    for (int i = CU_FAKE_NODES - 1; i > 0; i--)
        if (slot >= i * CU_SLOTS / CU_FAKE_NODES) return i;
    return 0;
}

void cu_fake_stop(void) { tu_script_stop(&fake); }

void cu_fake_start_ok(void) {
    static int registered;
    char ports[64], control[16];
    snprintf(ports, sizeof ports, "%d,%d,%d", cu_fake_port(0), cu_fake_port(1), cu_fake_port(2));
    snprintf(control, sizeof control, "%d", tu_port(CU_FAKE_CONTROL));
    const char *args[] = {"--ports", ports, "--control", control, NULL};
    tu_script_start_ok(&fake, "CU_FAKE_CLUSTER", "CU_PYTHON", args);
    if (!registered) {
        atexit(cu_fake_stop);
        registered = 1;
    }
}

void cu_fake_ctl_ok(char *buf, size_t n, ...) {
    const char *a[5] = {NULL, NULL, NULL, NULL, NULL};
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < 4 && (a[i] = va_arg(ap, const char *)) != NULL; i++) {
    }
    va_end(ap);
    char local[512];
    if (!buf) {
        buf = local;
        n = sizeof local;
    }
    int fd = tu_raw_connect(tu_port(CU_FAKE_CONTROL));
    int rc = fd < 0 ? -1 : tu_raw_send(fd, a[0], a[1], a[2], a[3], (const char *)NULL);
    if (rc == 0) rc = tu_raw_read(fd, buf, n, 3000);
    tu_raw_close(fd);
    if (rc != 0) fail_msg("fake_cluster.py control %s: no reply", a[0]);
    if (buf[0] != '+' && buf[0] != ':' && buf[0] != '$') fail_msg("fake_cluster.py control %s: %s", a[0], buf);
}

long long cu_fake_count(int i, const char *cmd) {
    char idx[8], buf[64];
    snprintf(idx, sizeof idx, "%d", i);
    cu_fake_ctl_ok(buf, sizeof buf, "COUNT", idx, cmd, NULL);
    return atoll(buf + 1);
}
