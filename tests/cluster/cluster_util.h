/* Helpers of the cluster tests (tests/cluster), on top of tests/capi/test_util.h.
 *
 * The cluster is the harness's "cluster" topology: 6 valkey-server nodes at
 * RCM_TEST_PORT_BASE+10..+15, password abc123, 3 primaries (+10, +11, +12 as created)
 * with one replica each. Everything a test checks about the servers comes from plain
 * valkey-cli (popen), never from rcm itself.
 *
 * Helpers named cu_*_ok() assert with cmocka and may only be called on a test's main
 * thread; the others return a value and are safe from any thread. */
#ifndef RCM_CLUSTER_UTIL_H
#define RCM_CLUSTER_UTIL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "test_util.h"

#define CU_NODES 6
#define CU_PRIMARIES 3
#define CU_SLOTS 16384
#define CU_PASSWORD "abc123"

/* Port of node i (0..5): RCM_TEST_PORT_BASE + 10 + i. */
int cu_port(int i);
/* "127.0.0.1:<port>" in a static per-thread buffer. */
const char *cu_addr(int port);

/* Seconds since the first call (per process), and a line prefixed with it on stdout:
 * the load threads stamp their problems the same way, so the two line up. */
double cu_elapsed(void);
void cu_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- plain valkey-cli ------------------------------------------------------------- */

/* Runs `valkey-cli -h 127.0.0.1 -p <port> -a abc123 <args>` where args is a printf
 * format giving shell words (quote keys with single quotes). Returns its output
 * (malloc'd, '\r' removed, caller frees) or NULL when it could not run. */
char *cu_cli(int port, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* An INFO field as a string (copied into buf, "" when absent); returns buf. */
char *cu_info_str(int port, const char *section, const char *field, char *buf, size_t n);
/* An INFO field as a number; -1 when absent. */
long long cu_info_ll(int port, const char *section, const char *field);

typedef struct cu_cmdstat {
    long long calls, rejected, failed;
} cu_cmdstat;
/* INFO commandstats of one command on one node (all zero when it was never called).
 * Fails the test when valkey-cli does not answer with INFO: main thread only. */
cu_cmdstat cu_cmdstat_of(int port, const char *command);
/* CONFIG RESETSTAT on every node. Returns 0 on success. */
int cu_reset_stats_all(void);

/* ---- the cluster as the servers describe it ----------------------------------------- */

typedef struct cu_node {
    char id[48];
    int port;
    int primary;          /* 1: master */
    char primary_id[48];  /* for a replica: its primary's id */
    int failed;           /* fail or pfail flag */
    int slots;            /* slots served (primaries) */
    long long config_epoch;
} cu_node;

typedef struct cu_cluster {
    cu_node nodes[16];
    int n;
    short owner[CU_SLOTS]; /* index in nodes of the slot's primary, -1 if none */
    int open_slots;        /* slots in importing/migrating state, seen from the asked node */
} cu_cluster;

/* Reads CLUSTER NODES from port. 0 on success. */
int cu_cluster_read(int port, cu_cluster *out);
/* Index of the node with this port, or -1. */
int cu_node_index(const cu_cluster *cl, int port);
/* Index of a healthy replica of the primary at index p, or -1. */
int cu_replica_index(const cu_cluster *cl, int p);
/* Port of the primary that owns slot, or -1. */
int cu_owner_port(const cu_cluster *cl, int slot);
/* Indexes of the primaries, ordered by port; returns how many. */
int cu_primaries(const cu_cluster *cl, int *idx, int max);

/* 1 when every node says cluster_state:ok, knows 6 nodes and 16384 assigned slots,
 * every replica's link is up, the nodes agree on every slot's owner and on every node's
 * role and primary (no view lags behind), no slot is open (importing/migrating), and
 * there are 3 primaries with one replica each. On 0, why says what is missing. */
int cu_cluster_healthy(char *why, size_t n);
/* Polls cu_cluster_healthy for up to seconds. 1 when healthy. */
int cu_wait_healthy(double seconds, char *why, size_t n);
/* Asserts the cluster becomes healthy within seconds. */
void cu_assert_healthy_ok(double seconds);

/* CLUSTER FAILOVER on the replica on port, repeated while it is refused or times out,
 * until ROLE there says master (at most seconds). Returns that time (tu_now()) or -1.
 * First waits, if needed, until the other primaries may vote about its primary again
 * (they refuse within 2 x cluster-node-timeout of their last vote about it, and a refused
 * manual failover pauses the primary's writers for 5 s). */
double cu_failover_to(int port, double seconds);
/* Records that the other primaries just voted to replace the primary on port (a
 * failover of its shard), for cu_failover_to. */
void cu_note_vote(int primary_port);

/* The layout of the harness: primaries are nodes 0, 1, 2 (ports +10..+12). First sends
 * SIGCONT to a node left stopped and restarts (cu_node_restart) a node that is not
 * running -- what a test that crashed mid-way leaves behind --, then runs CLUSTER
 * FAILOVER on whichever of nodes 0..2 is a replica and waits until healthy. 0 when
 * restored, -1 (with why) otherwise. Safe from setup/teardown functions. */
int cu_restore_layout(char *why, size_t n);
/* cu_restore_layout as a cmocka setup or teardown: -1 (the reason on stderr) when the
 * layout could not be restored. */
int cu_layout_fixture(void **state);

/* CLUSTER SETSLOT slot NODE <to's id> on the new owner, the old one, then every other
 * primary (the end of a slot move; the slot must hold no keys on from_port by then).
 * The new owner is set IMPORTING first, so that taking the slot bumps its config epoch
 * above every other node's: its claim then wins the gossip everywhere. Without that,
 * an old owner with the higher epoch that hears the claim before its own SETSLOT sends
 * the new owner an UPDATE that takes the slot back, and the nodes disagree for good.
 * 0 on success; why says what failed. */
int cu_setslot_node_everywhere(int slot, int from_port, int to_port, char *why, size_t n);

/* Moves slot from the primary on from_port to the one on to_port: SETSLOT IMPORTING /
 * MIGRATING, MIGRATE ... KEYS batch keys at a time (pause_ms between batches), then
 * cu_setslot_node_everywhere. 0 on success; why says what failed. (cluster_move.c) */
int cu_move_slot(int slot, int from_port, int to_port, int batch, int pause_ms, char *why, size_t n);
/* What a test that moved slot does in its teardown: `--cluster fix` when a node still has
 * an open slot, then the slot back to home_port if another primary owns it. 0 when done. */
int cu_return_slot(int slot, int home_port, char *why, size_t n);

/* Waits until every node names the node on port as the slot's owner; 1 when they do. */
int cu_wait_owner_everywhere(int slot, int port, double seconds);

/* ---- processes of the harness ----------------------------------------------------- */

/* PID of the cluster node on port (from <state dir>/cluster/pids, the harness's own
 * record, checked against /proc), or -1. */
int cu_node_pid(int port);
/* Restarts a node that was killed, as the harness started it (same dir, port and
 * arguments), and records its PID in <state dir>/cluster/pids so that the harness's
 * teardown stops it. Returns the PID or -1. */
int cu_node_restart(int port);
/* Polls (up to seconds) until ROLE on port says "master". Returns the time it did
 * (tu_now()) or -1. */
double cu_wait_role_master(int port, double seconds);

/* ---- keys ------------------------------------------------------------------------- */

/* CRC16 (XMODEM) mod 16384 with the {hash tag} rule: the cluster's key slot, computed
 * here independently of rcm. */
int cu_key_slot(const char *key, size_t len);
/* Writes into buf the first key "<prefix><n>" (n = 0, 1, ...) whose slot the primary on
 * port owns (or, with port < 0, whose slot differs from avoid_slot). Returns its slot. */
int cu_key_on(const cu_cluster *cl, int port, const char *prefix, int *n, char *buf, size_t len);
/* A hash tag whose slot the primary on port owns, written into buf ("t<n>"). Returns its slot. */
int cu_tag_on(const cu_cluster *cl, int port, const char *prefix, char *buf, size_t len);

/* ---- rcm ----------------------------------------------------------------------------- */

/* Opens a cluster client from "redis+cluster://:abc123@127.0.0.1:<+10>,127.0.0.1:<+11>"
 * plus key/value config pairs (NULL-terminated). Asserts RCM_OK. */
rcm_client *cu_open_ok(const char *key, ...);
/* The sum over the servers of one counter of rcm_client_stats_json ("moved", "ask"...). */
long long cu_stats_sum(rcm_client *c, const char *counter);
/* rcm_command_routed with NUL-terminated args (NULL-terminated list). Thread-safe. */
rcm_status cu_routed(rcm_client *c, const rcm_route *route, rcm_reply **out, ...);
rcm_status cu_to_node(rcm_client *c, int port, rcm_reply **out, ...);
/* The string of a STRING/STATUS reply as a C string (copied, static per thread), or NULL. */
const char *cu_str(const rcm_reply *r);

/* ---- fake_cluster.py (cluster.scripted) --------------------------------------------- */

/* The scripted 3-primary cluster of cluster.scripted: nodes at RCM_TEST_PORT_BASE+33..+35
 * (node i owns slots [i*16384/3, (i+1)*16384/3 - 1]), its control port at +36. It needs
 * none of the harness's servers. */
enum { CU_FAKE_NODE = 33, CU_FAKE_CONTROL = 36, CU_FAKE_NODES = 3 };

/* Starts tests/cluster/fake_cluster.py ($CU_FAKE_CLUSTER run by $CU_PYTHON) and waits for
 * it to print READY. Asserts. It is stopped at exit, or by cu_fake_stop. */
void cu_fake_start_ok(void);
/* Stops it (SIGTERM, then SIGKILL) if running. */
void cu_fake_stop(void);
/* Port of fake node i (0..2). */
int cu_fake_port(int i);
/* Index of the fake node that owns slot. */
int cu_fake_owner(int slot);
/* Sends a control command (NUL-terminated strings, NULL-terminated, at most 4) and
 * asserts the reply starts with '+', ':' or '$'; the flat reply ("+OK", ":3", "$value",
 * "$nil") is copied into buf when not NULL. */
void cu_fake_ctl_ok(char *buf, size_t n, ...);
/* COUNT i CMD: how many CMD fake node i received ("CLUSTER SHARDS" for a subcommand). */
long long cu_fake_count(int i, const char *cmd);

/* ---- a small JSON reader (for topology/stats JSON) ------------------------------------ */

typedef enum { CJ_NULL, CJ_BOOL, CJ_NUM, CJ_STR, CJ_ARR, CJ_OBJ } cj_kind;
typedef struct cj {
    cj_kind kind;
    double num;
    int boolean;
    char *str;
    size_t n;
    struct cj **items; /* array elements or object values */
    char **keys;       /* object keys */
} cj;
cj *cj_parse(const char *text); /* NULL on a syntax error */
void cj_free(cj *v);
const cj *cj_get(const cj *obj, const char *key); /* NULL when absent or not an object */
const cj *cj_at(const cj *arr, size_t i);          /* NULL when out of range */
const char *cj_str(const cj *v);                   /* NULL unless a string */
double cj_num(const cj *v, double dflt);

/* ---- load: threads that SET then GET their own keys and check what they read -------- */

#define CU_STATUS_SLOTS 24
typedef struct cu_load {
    /* in */
    rcm_client *client;
    int id;
    char (*keys)[64];
    int nkeys;
    atomic_int *stop;
    int pause_us;           /* sleep between iterations */
    /* out (read after join) */
    long ok;                /* iterations where SET said OK and GET read it back (atomic: may be
                               read while running with __atomic_load_n) */
    long calls;
    long failed;            /* calls that returned a failure status */
    long error_replies;     /* RCM_OK with an error reply */
    long wrong;             /* GET returned something else than what this thread wrote */
    long status_count[CU_STATUS_SLOTS]; /* by -status (RCM_ERR_INTERNAL at 23) */
    double max_call_s;      /* the longest call */
    double first_failure_at, last_failure_at; /* tu_now(); 0 when none */
    double last_ok_at;
    char first_problem[300];
    char last_problem[300];
    char wrong_problem[600]; /* the first wrong value, with the history of the SET that wrote it */
} cu_load;

/* The thread body: loops until *stop. */
void *cu_load_main(void *arg);
/* Index in status_count for a status. */
int cu_status_slot(rcm_status st);
/* Prints a one-line summary of a load thread. */
void cu_load_print(const char *what, const cu_load *l);

/* Up to 8 load threads on one client, each with up to 64 keys of its own. */
#define CU_MAX_LOADS 8
#define CU_LOAD_KEYS 64
typedef struct cu_load_group {
    int n;
    atomic_int stop;
    cu_load loads[CU_MAX_LOADS];
    char keys[CU_MAX_LOADS][CU_LOAD_KEYS][64];
    pthread_t threads[CU_MAX_LOADS];
    int running;
} cu_load_group;
/* Prepares n loads on client c (keys are filled in by the caller afterwards: set
 * g->keys[i][j] and g->loads[i].nkeys). */
void cu_group_init(cu_load_group *g, rcm_client *c, int n);
/* Starts the threads (each loop iteration: SET one of its keys, GET it back, check). The
 * counters of the loads are reset first. */
void cu_group_start(cu_load_group *g);
/* Stops and joins the threads (safe to call twice). */
void cu_group_stop(cu_load_group *g);
/* Prints each thread's summary and returns the totals in *sum. */
void cu_group_sum(cu_load_group *g, const char *what, cu_load *sum);

#endif
