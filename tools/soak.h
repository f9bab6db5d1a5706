/*
 * soak.h — what the two halves of `rcm soak` share: the workload and its checks
 * (soak.c) and the cluster side (soak_cluster.c: the fault schedule drawn from the seed,
 * healing, and restoring the layout it found). The cluster side talks to the nodes with
 * plain hiredis, never through the client under test.
 */
#ifndef RCM_TOOLS_SOAK_H
#define RCM_TOOLS_SOAK_H

#include "cli.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define SOAK_SLOTS 16384
#define SOAK_MAX_NODES 16

/* A stretch in which a primary may have lost acknowledged writes that had not reached
 * its replica yet (killed, or stopped long enough for its replica to take over):
 * replication is asynchronous, so a write acknowledged from `from` on may be missing
 * afterwards on the slots of that primary. */
typedef struct soak_loss {
    uint64_t start_ns;     /* the fault; reads completed before it are not concerned */
    uint64_t from_ns;      /* start minus the replication lag allowed */
    uint64_t to_ns;        /* healed plus that lag; UINT64_MAX while open */
    unsigned char slots[SOAK_SLOTS / 8];
} soak_loss;

/* Shared between the workload threads, the fault thread and main. */
typedef struct soak_ctx {
    uint64_t seed;
    const char *password;  /* for the nodes (AUTH, MIGRATE ... AUTH); may be NULL */
    char seeds[512];       /* "host:port,..." as rcm_config_get gives it */
    const char *state_dir; /* the harness's state dir: <dir>/cluster/pids; NULL: no kill/stop */
    const char *harness;   /* rcm_harness.sh, to restart a killed node; NULL: no kill */
    uint64_t t0, end_ns;   /* CLOCK_MONOTONIC; faults stop being started at end_ns */
    bool faults;           /* false: --no-faults */
    bool verbose;
    _Atomic bool stop_workload;
    /* Fault counters. */
    _Atomic long long kills, stops, failovers, migrations;
    pthread_mutex_t mu;    /* guards losses and the violation text */
    soak_loss *losses;
    int nlosses, cap_losses;
    _Atomic long long violations;
    char first_violation[1024];
} soak_ctx;

/** Records a broken check (the first is kept for the summary), prints it. Thread-safe. */
void soak_violation(soak_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Prints "soak +12.345s: ..." (stdout, flushed). Thread-safe. */
void soak_log(soak_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** The cluster key slot of a key (CRC16 with the {hash tag} rule). */
int soak_key_slot(const char *key, size_t len);

/** splitmix64: the fault schedule and the workload draw from it. */
uint64_t soak_rand(uint64_t *state);

/** Reads the layout the cluster has now (the one to restore at the end). 0 on success,
 *  else prints why. */
int soak_cluster_snapshot(soak_ctx *ctx);

/** The fault thread: until ctx->end_ns, one fault at a time drawn from the seed, each
 *  healed (and the cluster healthy again) before the next. `slots` lists the slots the
 *  workload's keys live in (migrations pick among them). */
typedef struct soak_fault_args {
    soak_ctx *ctx;
    const int *slots;
    int nslots;
} soak_fault_args;
void *soak_fault_main(void *arg);

/** Waits (at most seconds) for a healthy cluster, then moves slots back and fails over
 *  back so that the layout is the one soak_cluster_snapshot saw. 0 when it is, else
 *  prints why. */
int soak_cluster_restore(soak_ctx *ctx, double seconds);

/* ---------------------------------------------------------------------------------
 * The workload (soak_work.c).
 * ------------------------------------------------------------------------------ */

enum { K_SYNC, K_ASYNC, K_PIPELINE, K_TX, K_LEASE, K_MULTI, K_KINDS };
enum { SW_INFLIGHT, SW_OK, SW_UNCERTAIN, SW_NOTAPPLIED };
#define SOAK_NSTATUS 100 /* index -status; RCM_ERR_INTERNAL (-99) is the last */
#define SOAK_CHUNK 4096

/* One write of a key: key=seq, or a DEL. */
typedef struct soak_write {
    uint64_t done_ns;
    unsigned char state; /* SW_* */
    bool del;
    unsigned char kind;  /* K_*: which operation wrote it */
    int32_t prev;        /* SET ... GET: the previous value's seq (0: nil); -1: not known */
} soak_write;

/* A key has one writer thread and at most one write in flight, so its writes form a
 * sequence: w[seq - 1]; seq 0 is the key's initial absence. */
typedef struct soak_key {
    char name[64];
    size_t len;
    int slot;
    soak_write *w;
    uint32_t n, cap;
} soak_key;

/* One async request; kept until the client is closed, so that a callback called twice,
 * even late, is caught. */
typedef struct soak_areq {
    _Atomic int calls;
    rcm_status st;
    rcm_reply *reply;
    uint64_t t_sent;
    _Atomic uint64_t t_done; /* set last by the callback: publishes st and reply */
    soak_ctx *ctx;
    int key;      /* -1: an ECHO */
    uint32_t seq; /* a SET's seq, 0 for a read */
} soak_areq;

typedef struct soak_worker {
    soak_ctx *ctx;
    rcm_client *client;
    int id;
    uint64_t rng;
    soak_key *keys;   /* pairs: keys 2i and 2i+1 share a hash tag */
    int nkeys;
    long long echo_seq;
    soak_areq **chunks;
    int nchunks, used_in_chunk;
} soak_worker;

/* Counters of the whole run. */
typedef struct soak_stats {
    uint64_t cmd_ns, lease_ns, slack_ns; /* deadlines and the slack, set before the run */
    _Atomic long long req[K_KINDS], ok[K_KINDS], err[K_KINDS], unc[K_KINDS];
    _Atomic long long by_status[SOAK_NSTATUS];
    _Atomic long long reads_checked, late_max_ns;
    _Atomic long long lost_reads; /* reads of a write older than the latest acknowledged one
                                     that a lossy fault explains */
} soak_stats;
extern soak_stats soak_S;
extern const char *const soak_kind_names[K_KINDS];

/** The workload thread (arg: soak_worker), until ctx->end_ns or a violation. */
void *soak_worker_main(void *arg);

/** Checks a read of k (status RCM_OK) that completed at read_done against k's history. */
void soak_check_read(soak_worker *wk, soak_key *k, const rcm_reply *r, uint64_t read_done,
                     const char *what);

#endif /* RCM_TOOLS_SOAK_H */
