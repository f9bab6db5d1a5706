/*
 * bench_external.c — valkey-benchmark (or redis-benchmark) as `rcm bench`'s external
 * baseline: found on PATH, run as a child process with -t set,get --csv, its own rate and
 * percentiles parsed from the output, its CPU from wait4()'s rusage.
 */
#include "bench.h"

#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static bool find_in_path(const char *name, char *out, size_t cap)
{
    const char *path = getenv("PATH");
    if (!path) path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        size_t len = strcspn(path, ":");
        if (len > 0 && (size_t)snprintf(out, cap, "%.*s/%s", (int)len, path, name) < cap &&
            access(out, X_OK) == 0)
            return true;
        path += len;
        if (*path == ':') path++;
    }
    return false;
}

static char g_vb_path[512];

const char *bench_vb_find(void)
{
    if (find_in_path("valkey-benchmark", g_vb_path, sizeof g_vb_path) ||
        find_in_path("redis-benchmark", g_vb_path, sizeof g_vb_path))
        return g_vb_path;
    return NULL;
}

/* Parses one CSV line "\"SET\",\"123.45\",avg,min,p50,p95,p99,max". */
static bool parse_vb_line(const char *line, const char *test, double *rps, double *p50_ms,
                          double *p99_ms)
{
    char prefix[16];
    snprintf(prefix, sizeof prefix, "\"%s\",", test);
    if (strncmp(line, prefix, strlen(prefix)) != 0) return false;
    double f[8];
    int n = 0;
    const char *p = line;
    while (n < 8 && (p = strchr(p, ',')) != NULL) {
        p++;
        if (*p == '"') p++;
        f[n++] = atof(p);
    }
    if (n < 6) return false;
    *rps = f[0];
    *p50_ms = f[3];
    *p99_ms = f[5];
    return true;
}

void bench_run_valkey_benchmark(result *res, int pipeline, int clients, double est_ops_s)
{
    const char *tool = strrchr(g_vb_path, '/') ? strrchr(g_vb_path, '/') + 1 : g_vb_path;
    snprintf(res->name, sizeof res->name, "%.16s%s -P %d -c %d", tool,
             bench_G->cluster ? " --cluster" : "", pipeline, clients);
    /* -n is per test (SET, then GET): size it so both together take about one round. */
    long long n;
    if (bench_G->requests > 0) n = bench_G->requests / 2 / bench_G->rounds;
    else n = (long long)(est_ops_s * bench_G->duration_s / bench_G->rounds / 2);
    long long unit = (long long)pipeline * clients;
    if (n < unit * 20) n = unit * 20;
    n = (n + unit - 1) / unit * unit;

    char nbuf[32], dbuf[16], rbuf[16], pbuf[16], cbuf[16], portbuf[16], dbnum[16];
    snprintf(nbuf, sizeof nbuf, "%lld", n);
    snprintf(dbuf, sizeof dbuf, "%d", bench_G->value_size);
    snprintf(rbuf, sizeof rbuf, "%d", bench_G->keyspace);
    snprintf(pbuf, sizeof pbuf, "%d", pipeline);
    snprintf(cbuf, sizeof cbuf, "%d", clients);
    snprintf(portbuf, sizeof portbuf, "%d", bench_G->srv.port);
    snprintf(dbnum, sizeof dbnum, "%d", bench_G->srv.db);
    const char *argv[40];
    int a = 0;
    argv[a++] = g_vb_path;
    argv[a++] = "-h"; argv[a++] = bench_G->srv.host;
    argv[a++] = "-p"; argv[a++] = portbuf;
    if (bench_G->srv.password[0]) { argv[a++] = "-a"; argv[a++] = bench_G->srv.password; }
    if (bench_G->srv.username[0]) { argv[a++] = "--user"; argv[a++] = bench_G->srv.username; }
    if (bench_G->srv.db) { argv[a++] = "--dbnum"; argv[a++] = dbnum; }
    if (bench_G->cluster) argv[a++] = "--cluster";
    argv[a++] = "-t"; argv[a++] = "set,get";
    argv[a++] = "-n"; argv[a++] = nbuf;
    argv[a++] = "-d"; argv[a++] = dbuf;
    argv[a++] = "-r"; argv[a++] = rbuf;
    argv[a++] = "-P"; argv[a++] = pbuf;
    argv[a++] = "-c"; argv[a++] = cbuf;
    argv[a++] = "--csv";
    argv[a] = NULL;

    int out[2];
    if (pipe(out) != 0) {
        snprintf(res->note, sizeof res->note, "pipe: %s", strerror(errno));
        return;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, out[1], 2); /* -a prints a warning there */
    posix_spawn_file_actions_addclose(&fa, out[0]);
    posix_spawn_file_actions_addclose(&fa, out[1]);
    pid_t pid;
    double srv0 = bench_server_cpu_s();
    int err = posix_spawn(&pid, g_vb_path, &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    if (err != 0) {
        close(out[0]);
        snprintf(res->note, sizeof res->note, "spawn %.80s: %.60s", g_vb_path, strerror(err));
        return;
    }
    char buf[8192];
    size_t used = 0;
    ssize_t got;
    while ((got = read(out[0], buf + used, sizeof buf - 1 - used)) > 0 || (got < 0 && errno == EINTR))
        if (got > 0) used += (size_t)got;
    buf[used] = '\0';
    close(out[0]);
    int status = 0;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {}
    double srv1 = bench_server_cpu_s();

    double rps[2] = {0, 0}, p50[2] = {0, 0}, p99[2] = {0, 0};
    bool found[2] = {false, false};
    for (char *line = strtok(buf, "\r\n"); line; line = strtok(NULL, "\r\n")) {
        if (parse_vb_line(line, "SET", &rps[0], &p50[0], &p99[0])) found[0] = true;
        if (parse_vb_line(line, "GET", &rps[1], &p50[1], &p99[1])) found[1] = true;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !found[0] || !found[1] ||
        rps[0] <= 0 || rps[1] <= 0) {
        snprintf(res->note, sizeof res->note, "%.64s failed (status %d)", tool, status);
        return;
    }
    long long ops = 2 * n;
    /* Both tests ran n requests; the mix's rate is total work over total time (as
     * valkey-benchmark measured it, without its start-up). */
    res->ops += ops;
    res->secs += (double)n / rps[0] + (double)n / rps[1];
    res->cli_cpu_s += bench_rusage_s(&ru);
    if (srv0 >= 0 && srv1 >= 0) res->srv_cpu_s += srv1 - srv0;
    else res->srv_unknown = true;
    res->ext_p50_ms_x_ops += (p50[0] + p50[1]) / 2 * (double)ops;
    if (p99[0] > res->ext_p99_ms) res->ext_p99_ms = p99[0];
    if (p99[1] > res->ext_p99_ms) res->ext_p99_ms = p99[1];
    res->lat_unit = "op*";
    res->rounds++;
}

