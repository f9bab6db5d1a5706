/*
 * bench_report.c — what `rcm bench` prints besides the runs: the table's header and
 * rows with their verdicts against a baseline, the ratio lines, the notes on what the
 * figures mean, the server and machine lines (including what a thread hand-off costs
 * here), and the exit status of a set of results.
 */
#include "bench.h"

#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

void bench_print_row(const result *r, const verdict *v)
{
    if (!r->valid) {
        printf("  %-36s  (not measured%s%s)\n", r->name, r->note[0] ? ": " : "", r->note);
        return;
    }
    char srv[16];
    if (r->srv_cpu_us >= 0) snprintf(srv, sizeof srv, "%.2f", r->srv_cpu_us);
    else snprintf(srv, sizeof srv, "?");
    printf("  %-36s %10.0f %9.1f %9.1f %-6s %8.2f %8s", r->name, r->ops_s, r->p50_us,
           r->p99_us, r->lat_unit, r->cli_cpu_us, srv);
    if (v && v->baseline && v->baseline->valid) {
        double ratio = r->ops_s / v->baseline->ops_s;
        printf("  %5.2fx vs %s", ratio, v->baseline->name);
        if (v->target > 0)
            printf("  (target >= %.2fx: %s)", v->target, ratio >= v->target ? "ok" : "MISS");
    } else if (v && v->baseline) {
        printf("  (baseline %s not measured)", v->baseline->name);
    }
    if (r->errors > 0) printf("  [%lld errors%s%s]", r->errors, r->note[0] ? ", " : "", r->note);
    putchar('\n');
}

void bench_print_ratio_line(const result *a, const result *b, double target)
{
    if (!a->valid || !b->valid) return;
    double ratio = a->ops_s / b->ops_s;
    printf("  %-36s / %-32s %6.2fx", a->name, b->name, ratio);
    if (target > 0) printf("   target >= %.2fx  %s", target, ratio >= target ? "ok" : "MISS");
    putchar('\n');
}

void bench_print_header(void)
{
    printf("  %-36s %10s %9s %9s %-6s %8s %8s  %s\n", "workload", "ops/s", "p50 us", "p99 us",
           "lat/", "cli CPU", "srv CPU", "ratio to baseline");
    printf("  %-36s %10s %9s %9s %-6s %8s %8s\n", "", "", "", "", "", "us/op", "us/op");
}

void bench_print_notes(void)
{
    printf("\nlatency: per op (call to reply; async: submit to callback), per batch for "
           "pipelines (first append to last reply);\n"
           "  op* = valkey-benchmark's own per-request figure (p50: mean of SET and GET, p99: "
           "the larger; with -P from batch send).\n"
           "cli CPU: getrusage(RUSAGE_SELF) delta (all threads incl. rcm's I/O threads) per op; "
           "valkey-benchmark: wait4() rusage of the child.\n"
           "srv CPU: the server's INFO used_cpu_user+sys delta per op%s.\n",
           bench_G->cluster ? " (all primaries together)" : "");
    if (sysconf(_SC_NPROCESSORS_ONLN) <= 2)
        printf("note: %ld CPUs: client threads and the server share them; figures are bounded "
               "by that contention.\n", sysconf(_SC_NPROCESSORS_ONLN));

}

void bench_print_server_info(void)
{
    if (bench_nside == 0) return;
    redisReply *r = redisCommand(bench_side[0], "INFO server");
    if (r && r->type == REDIS_REPLY_STRING) {
        const char *v = strstr(r->str, "valkey_version:");
        const char *name = "valkey";
        if (!v) { v = strstr(r->str, "redis_version:"); name = "redis"; }
        if (v) {
            v = strchr(v, ':') + 1;
            printf("server: %s %.*s at %s:%d", name, (int)strcspn(v, "\r\n"), v, bench_G->srv.host,
                   bench_G->srv.port);
            if (bench_G->cluster)
                printf(" (cluster: %d primaries, %d/%d slots covered)", bench_map.nnodes,
                       bench_map.covered, SLOTMAP_SLOTS);
        }
    }
    if (r) freeReplyObject(r);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    printf("; client machine: %ld CPUs online", ncpu);
    double load[1];
    if (getloadavg(load, 1) == 1) {
        printf(", load average %.2f before the run", load[0]);
        if (load[0] > 0.5 * (double)ncpu) printf(" (busy: other work competes; expect noise)");
    }
    putchar('\n');
}

void bench_print_group_syncn(const result *h, const result *vb, const result *r)
{
    printf(" sync, %d threads\n", bench_G->threads);
    bench_print_row(h, NULL);
    if (bench_G->external) bench_print_row(vb, NULL);
    bench_print_row(r, &(verdict){r, h, 1.5});
}

int bench_results_status(result *res, int n)
{
    int rc = CLI_EXIT_OK;
    for (int k = 0; k < n; k++) {
        bool ran = res[k].rounds > 0 || res[k].valid || res[k].note[0];
        if (ran && (!res[k].valid || res[k].errors > 0)) rc = CLI_EXIT_FAIL;
        free(res[k].h);
    }
    return rc;
}

/* What handing work from one thread to another costs on this machine: two threads
 * ping-pong through a futex (each round trip wakes each thread once). A sync call
 * through rcm makes one such round trip (caller -> I/O thread -> caller) besides its
 * network round trip; on a VM whose idle vCPUs halt this is far from free. */
static _Atomic int g_turn;
static const int kHandoffs = 20000;

static void turn_wait(int v)
{
    while (atomic_load(&g_turn) == v) syscall(SYS_futex, &g_turn, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0);
}

static void turn_set(int v)
{
    atomic_store(&g_turn, v);
    syscall(SYS_futex, &g_turn, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void *handoff_partner(void *arg)
{
    (void)arg;
    for (int i = 0; i < kHandoffs; i++) {
        turn_wait(0);
        turn_set(0);
    }
    return NULL;
}

void bench_print_handoff_cost(void)
{
    pthread_t t;
    atomic_store(&g_turn, 0);
    if (pthread_create(&t, NULL, handoff_partner, NULL) != 0) return;
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    uint64_t t0 = cli_now_ns();
    for (int i = 0; i < kHandoffs; i++) {
        turn_set(1);
        turn_wait(1);
    }
    uint64_t t1 = cli_now_ns();
    getrusage(RUSAGE_SELF, &r1);
    pthread_join(t, NULL);
    printf("machine: a thread hand-off round trip (futex ping-pong, %d times) takes %.1f us wall, "
           "%.1f us CPU\n", kHandoffs, (double)(t1 - t0) / 1e3 / kHandoffs,
           (bench_rusage_s(&r1) - bench_rusage_s(&r0)) * 1e6 / kHandoffs);
}

