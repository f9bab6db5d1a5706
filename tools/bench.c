/*
 * bench.c — `rcm bench`: GET/SET throughput, latency and client CPU of rcm, measured in
 * one run against the same server as its baselines (raw hiredis, valkey-benchmark).
 *
 * Every workload is a 50/50 mix of SET key value / GET key over a keyspace that is
 * filled first, keys formatted as valkey-benchmark's ("key:%012d"), values of
 * --value-size bytes. Each runs for --duration-s (or --requests operations, whichever
 * comes first). Baseline and rcm runs of a group are interleaved so that drift of the
 * machine hits both.
 *
 * Measures: ops/s; latency percentiles from a per-thread histogram (per op, or per batch
 * for pipelines); client CPU per op from getrusage(RUSAGE_SELF) around the run (all
 * threads of this process, so rcm's I/O threads are counted), or wait4()'s rusage of the
 * valkey-benchmark child; server CPU per op from INFO cpu before and after.
 *
 * This file is the entry: options, connecting, the keyspace fill and the warm-up; the
 * runs, the two benches and the report are in the other bench_*.c files (bench.h lists
 * them).
 */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char BENCH_USAGE[] =
    "usage: rcm [-u URL] [-c key=value...] bench [--cluster] [options]\n"
    "\n"
    "Measures GET/SET (50/50) on the server the URL names, in one run:\n"
    "  rcm sync 1 thread, rcm sync T threads (one shared client), rcm async with D in\n"
    "  flight (a submitter thread, and resubmission from the callback), rcm pipeline D;\n"
    "  raw hiredis baselines (1 context; T threads x 1 context; pipeline of D with\n"
    "  redisAppendCommandArgv + redisGetReply) and valkey-benchmark (or redis-benchmark)\n"
    "  -P 1 -c 1, -P 1 -c T, -P D -c 1, -P 1 -c D as a child process.\n"
    "Writes keys key:000000000000.. key:<keyspace-1> (as valkey-benchmark does).\n"
    "\n"
    "Cluster (--cluster, or a redis+cluster:// URL / mode=cluster; the URL names one or\n"
    "more nodes): the client runs in cluster mode and the baselines route too:\n"
    "  rcm sync T threads against raw hiredis with, per thread, one blocking context per\n"
    "  primary, the slot computed by the tool (CRC16) from the map read once with CLUSTER\n"
    "  SLOTS, and valkey-benchmark --cluster -P 1 -c T; rcm async D in flight (submitter,\n"
    "  and callback resubmits) against valkey-benchmark --cluster -P D -c N and -P D/N\n"
    "  -c N (N primaries: one connection each); rcm pipeline D against raw hiredis with\n"
    "  one context per primary (each command appended to its owner's context, all\n"
    "  written, then all read). Keys are random over 100000 keys (nearly every slot);\n"
    "  sync 1 thread only with --only sync1.\n"
    "\n"
    "options:\n"
    "  --cluster         bench a cluster (see above)\n"
    "  --threads T       threads of the multi-threaded sync workloads (default 8)\n"
    "  --depth D         requests in flight / pipeline depth (default 64)\n"
    "  --duration-s S    seconds per workload, all rounds together (default 2;\n"
    "                    with --requests: a cap, 30)\n"
    "  --requests N      operations per workload (stops at N or the duration)\n"
    "  --value-size B    SET value size in bytes (default 16)\n"
    "  --keyspace K      distinct keys (default 10000; cluster 100000)\n"
    "  --rounds R        split each in-process workload into R slices that alternate with\n"
    "                    its baselines (default 3)\n"
    "  --only LIST       run only these groups: sync1,syncn,inflight (default all;\n"
    "                    cluster: syncn,inflight)\n"
    "  --no-external     skip valkey-benchmark (its ratio is then not printed)\n"
    "  --workload readmostly  instead: 98 % GET / 2 % SET, Zipf keys, through rcm with and\n"
    "                    without the client-side cache and raw hiredis (see\n"
    "                    `rcm bench --workload readmostly --help`)\n"
    "\n"
    "Exit status: 0 when every workload ran without errors (the targets are reported, not\n"
    "enforced), 1 when a workload failed or saw errors, 2 for bad usage.\n";

/* What bench.h declares for every piece: set up by cli_bench before the runs. */
const bench_cfg *bench_G;
workload bench_W;
redisContext *bench_side[SLOTMAP_MAX_NODES];
int bench_nside;
slotmap bench_map;

/* ---------------------------------------------------------------------------------
 * hiredis helpers and the keyspace fill.
 * ------------------------------------------------------------------------------ */

redisContext *bench_hiredis_connect_to(const char *host, int port, char *err, size_t errcap)
{
    return cli_target_connect(&bench_G->srv, host, port, err, errcap);
}

/* A context to the server the URL names (its first seed). */
redisContext *bench_hiredis_connect(char *err, size_t errcap)
{
    return bench_hiredis_connect_to(bench_G->srv.host, bench_G->srv.port, err, errcap);
}

/* SET of every key of the keyspace, pipelined in batches, each key on the server that
 * owns it (bench_side[i] is the primary bench_map.node[i] in cluster mode). */
static bool fill_keyspace(char *err, size_t errcap)
{
    const int batch = 1000;
    int *sent = calloc((size_t)bench_nside, sizeof *sent);
    if (!sent) {
        snprintf(err, errcap, "out of memory");
        return false;
    }
    bool ok = true;
    for (int k = 0; ok && k < bench_W.keyspace; k += batch) {
        int n = bench_W.keyspace - k < batch ? bench_W.keyspace - k : batch;
        memset(sent, 0, (size_t)bench_nside * sizeof *sent);
        for (int j = 0; j < n; j++) {
            const char *key = bench_W.keys + (size_t)(k + j) * KEY_LEN;
            int to = 0;
            if (bench_G->cluster) {
                unsigned owner = bench_map.owner[slot_of_key(key, KEY_LEN)];
                if (owner >= (unsigned)bench_nside) continue; /* uncovered slot */
                to = (int)owner;
            }
            const char *argv[3] = {"SET", key, bench_W.value};
            size_t lens[3] = {3, KEY_LEN, bench_W.value_len};
            redisAppendCommandArgv(bench_side[to], 3, argv, lens);
            sent[to]++;
        }
        for (int to = 0; ok && to < bench_nside; to++) {
            for (int j = 0; j < sent[to]; j++) {
                redisReply *r = NULL;
                if (redisGetReply(bench_side[to], (void **)&r) != REDIS_OK) {
                    snprintf(err, errcap, "fill: %s", bench_side[to]->errstr);
                    ok = false;
                    break;
                }
                if (r->type == REDIS_REPLY_ERROR) {
                    snprintf(err, errcap, "fill: %.200s", r->str);
                    ok = false;
                }
                freeReplyObject(r);
                if (!ok) break;
            }
        }
    }
    free(sent);
    return ok;
}

/* ---------------------------------------------------------------------------------
 * rcm bench
 * ------------------------------------------------------------------------------ */

static int parse_bench_args(bench_cfg *cfg, int argc, char **argv)
{
    bool duration_given = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long long n;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(BENCH_USAGE, stdout);
            return -1;
        } else if (strcmp(a, "--cluster") == 0) {
            cfg->cluster = true;
            continue;
        } else if (strcmp(a, "--no-external") == 0) {
            cfg->external = false;
            continue;
        } else if (v == NULL) {
            return cli_usage_error("bench: %s needs a value (or is unknown)", a);
        } else if (strcmp(a, "--threads") == 0) {
            if (!cli_parse_long(v, 1, 256, &n)) return cli_usage_error("bench: --threads must be 1..256");
            cfg->threads = (int)n;
        } else if (strcmp(a, "--depth") == 0) {
            if (!cli_parse_long(v, 1, 4096, &n)) return cli_usage_error("bench: --depth must be 1..4096");
            cfg->depth = (int)n;
        } else if (strcmp(a, "--requests") == 0) {
            if (!cli_parse_long(v, 1, 1000000000000LL, &n))
                return cli_usage_error("bench: --requests must be a positive integer");
            cfg->requests = n;
        } else if (strcmp(a, "--value-size") == 0) {
            if (!cli_parse_long(v, 1, 64 * 1024 * 1024, &n))
                return cli_usage_error("bench: --value-size must be 1..67108864");
            cfg->value_size = (int)n;
        } else if (strcmp(a, "--keyspace") == 0) {
            if (!cli_parse_long(v, 1, 100000000, &n)) return cli_usage_error("bench: --keyspace must be 1..100000000");
            cfg->keyspace = (int)n;
            cfg->keyspace_given = true;
        } else if (strcmp(a, "--only") == 0) {
            cfg->groups = 0;
            cfg->groups_given = true;
            char *list = strdup(v), *save = NULL;
            if (!list) return CLI_EXIT_FAIL;
            for (char *g = strtok_r(list, ",", &save); g; g = strtok_r(NULL, ",", &save)) {
                if (strcmp(g, "sync1") == 0) cfg->groups |= GROUP_SYNC1;
                else if (strcmp(g, "syncn") == 0) cfg->groups |= GROUP_SYNCN;
                else if (strcmp(g, "inflight") == 0) cfg->groups |= GROUP_INFLIGHT;
                else {
                    free(list);
                    return cli_usage_error("bench: --only takes sync1,syncn,inflight");
                }
            }
            free(list);
        } else if (strcmp(a, "--rounds") == 0) {
            if (!cli_parse_long(v, 1, 100, &n)) return cli_usage_error("bench: --rounds must be 1..100");
            cfg->rounds = (int)n;
        } else if (strcmp(a, "--duration-s") == 0) {
            char *end;
            double d = strtod(v, &end);
            if (*end != '\0' || !(d > 0 && d <= 3600))
                return cli_usage_error("bench: --duration-s must be a number of seconds in (0, 3600]");
            cfg->duration_s = d;
            duration_given = true;
        } else {
            return cli_usage_error("bench: unknown option '%s'", cli_option_name(a));
        }
        i++;
    }
    if (cfg->requests > 0 && !duration_given) cfg->duration_s = 30;
    return CLI_EXIT_OK;
}

/* Connects the side contexts: the server, or every primary of the cluster (after
 * reading the slot map through the seed). */
static bool connect_servers(char *err, size_t errcap)
{
    redisContext *seed = bench_hiredis_connect(err, errcap);
    if (!seed) return false;
    if (!bench_G->cluster) {
        bench_side[0] = seed;
        bench_nside = 1;
        return true;
    }
    bool ok = slotmap_fetch(seed, bench_G->srv.host, &bench_map, err, errcap);
    redisFree(seed);
    for (int i = 0; ok && i < bench_map.nnodes; i++) {
        bench_side[i] = bench_hiredis_connect_to(bench_map.node[i].host, bench_map.node[i].port, err, errcap);
        if (!bench_side[i]) ok = false;
        else bench_nside++;
    }
    return ok;
}

static void disconnect_servers(void)
{
    for (int i = 0; i < bench_nside; i++) redisFree(bench_side[i]);
    bench_nside = 0;
}

int cli_bench(const cli_opts *opts, int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--workload") == 0) return cli_bench_readmostly(opts, argc, argv);
    static bench_cfg cfg;
    cfg = (bench_cfg){.threads = 8, .depth = 64, .duration_s = 2, .value_size = 16,
                      .keyspace = 10000, .rounds = 3, .groups = GROUP_ALL, .external = true};
    int rc = parse_bench_args(&cfg, argc, argv);
    if (rc != CLI_EXIT_OK) return rc < 0 ? CLI_EXIT_OK : rc;
    if (cfg.rounds > 1 && cfg.duration_s / cfg.rounds < 0.1) cfg.rounds = 1;
    bool cluster_flag = cfg.cluster;
    cli_target_from_opts(opts, &cfg.srv);
    if (strcmp(cfg.srv.mode, "cluster") == 0) cfg.cluster = true;
    if (cluster_flag && cfg.srv.mode[0] && strcmp(cfg.srv.mode, "cluster") != 0 && strcmp(cfg.srv.mode, "auto") != 0)
        return cli_usage_error("bench: --cluster with mode %s", cfg.srv.mode);
    if (!cfg.cluster && cfg.srv.mode[0] && strcmp(cfg.srv.mode, "standalone") != 0 && strcmp(cfg.srv.mode, "auto") != 0)
        return cli_usage_error("bench: a standalone server or a cluster (not mode %s)", cfg.srv.mode);
    if (cfg.srv.tls) return cli_usage_error("bench: the hiredis baselines do not do TLS; bench a plain server");
    if (cfg.cluster && cfg.srv.db != 0) return cli_usage_error("bench: a cluster has only db 0");
    if (cfg.cluster) {
        /* Random keys over (nearly) all 16384 slots; sync 1 thread only when asked. */
        if (!cfg.keyspace_given) cfg.keyspace = 100000;
        if (!cfg.groups_given) cfg.groups = GROUP_SYNCN | GROUP_INFLIGHT;
    }
    bench_G = &cfg;

    /* The workload's data. */
    bench_W.keyspace = cfg.keyspace;
    bench_W.keys = malloc((size_t)cfg.keyspace * KEY_LEN + 1);
    bench_W.value = malloc((size_t)cfg.value_size);
    bench_W.value_len = (size_t)cfg.value_size;
    if (!bench_W.keys || !bench_W.value) {
        fprintf(stderr, "rcm: out of memory\n");
        free(bench_W.keys);
        free(bench_W.value);
        return CLI_EXIT_FAIL;
    }
    for (int k = 0; k < cfg.keyspace; k++) {
        char tmp[KEY_LEN + 1];
        snprintf(tmp, sizeof tmp, "key:%012d", k);
        memcpy(bench_W.keys + (size_t)k * KEY_LEN, tmp, KEY_LEN);
    }
    for (int k = 0; k < cfg.value_size; k++) bench_W.value[k] = (char)('a' + k % 26);

    char err[256] = "";
    rcm_client *client = NULL;
    const char *vb_path = NULL; /* valkey-benchmark's, when cfg.external */
    if (!connect_servers(err, sizeof err)) {
        fprintf(stderr, "rcm: bench: %s\n", err);
        rc = CLI_EXIT_FAIL;
        goto out;
    }
    if (cfg.cluster) {
        /* The client must route: a redis:// URL with --cluster says so explicitly. */
        cli_opts copts = *opts;
        cli_setting *settings = calloc(opts->nsettings + 1, sizeof *settings);
        if (!settings) {
            rc = CLI_EXIT_FAIL;
            goto out;
        }
        memcpy(settings, opts->settings, opts->nsettings * sizeof *settings);
        settings[opts->nsettings] = (cli_setting){"mode", "cluster"};
        copts.settings = settings;
        copts.nsettings = opts->nsettings + 1;
        rc = cli_open(&copts, NULL, NULL, &client);
        free(settings);
    } else {
        rc = cli_open(opts, NULL, NULL, &client);
    }
    if (rc != CLI_EXIT_OK) goto out;
    if (!fill_keyspace(err, sizeof err)) {
        fprintf(stderr, "rcm: bench: %s\n", err);
        rc = CLI_EXIT_FAIL;
        goto out;
    }
    if (cfg.external) vb_path = bench_vb_find();
    if (cfg.external && !vb_path) {
        fprintf(stderr, "rcm: bench: neither valkey-benchmark nor redis-benchmark on PATH; "
                        "skipping that baseline\n");
        cfg.external = false;
    }

    printf("rcm bench%s: GET/SET 50/50, %d-byte values, %d keys, ", cfg.cluster ? " --cluster" : "",
           cfg.value_size, cfg.keyspace);
    if (cfg.requests > 0) printf("%lld requests (cap %.1f s) per workload", cfg.requests, cfg.duration_s);
    else printf("%.1f s per workload", cfg.duration_s);
    printf(", %d threads, depth %d, %d rounds\n", cfg.threads, cfg.depth, cfg.rounds);
    bench_print_server_info();
    bench_print_handoff_cost();
    printf("librcm %s; baselines: hiredis %d.%d.%d (redisCommandArgv / redisAppendCommandArgv)%s%s\n",
           rcm_version(), HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH,
           cfg.external ? ", " : "", cfg.external ? vb_path : "");
    fflush(stdout);

    /* Warm up: connections established, server and caches warm. */
    {
        bench_cfg warm = cfg;
        warm.duration_s = 0.2;
        warm.requests = 0;
        warm.rounds = 1;
        bench_G = &warm;
        result scratch = {0};
        bench_run_sync(&scratch, "warm-up", client, cfg.threads);
        if (cfg.cluster) bench_run_async_submitter(&scratch, client);
        else bench_run_pipeline_rcm(&scratch, client);
        free(scratch.h);
        bench_G = &cfg;
    }

    rc = cfg.cluster ? bench_cluster(client) : bench_standalone(client);

out:
    rcm_client_close(client);
    disconnect_servers();
    free(bench_W.keys);
    free(bench_W.value);
    bench_W.keys = bench_W.value = NULL;
    bench_async_free();
    return rc;
}
