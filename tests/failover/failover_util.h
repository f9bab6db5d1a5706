/* Helpers of the failover tests (tests/failover): raft.* and sentinel.*, on top of
 * tests/capi/test_util.h.
 *
 * Topologies (tests/harness/rcm_harness.sh, ports relative to RCM_TEST_PORT_BASE):
 *   raft      +30, +31, +32: valkey-server loading $REDISRAFT_SO, raft ids 1, 2, 3, no
 *             password, each in <state>/raft/<port> with raftlog<id>.db
 *   sentinel  +20 primary (as started), +21, +22 replicas, password abc123;
 *             +25..+27 sentinels without password; master name mymaster
 * raft.scripted uses its own fake group (fake_raft.py) on +52..+55.
 *
 * Everything a test checks about the servers comes from valkey-cli or a raw socket,
 * never from rcm itself.
 *
 * Helpers named fo_*_ok() assert with cmocka and may only be called on a test's main
 * thread; the others return a value and are safe from any thread. */
#ifndef RCM_FAILOVER_UTIL_H
#define RCM_FAILOVER_UTIL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "test_util.h"

#define FO_PASSWORD "abc123"
#define FO_MASTER_NAME "mymaster"
#define FO_SKIP 77 /* CTest SKIP_RETURN_CODE */

enum {
    FO_SENTINEL_DATA = 20, /* +20..+22 */
    FO_SENTINEL_SENTINEL = 25, /* +25..+27 */
    FO_RAFT = 30,          /* +30..+32 */
    FO_FAKE_NODE = 52,     /* +52..+54: fake_raft.py nodes */
    FO_FAKE_CONTROL = 55,  /* fake_raft.py control port */
    FO_FAKE_SENTINEL = 56  /* fake_sentinel.py */
};

/* Call first in main: stdout unbuffered (cmocka's lines survive an abrupt end) and a
 * line on stderr naming any fatal signal (SIGPIPE, SIGSEGV, SIGABRT, SIGBUS) before the
 * default action runs. */
void fo_diagnose_signals(void);

/* "127.0.0.1:<port>" in a static per-thread buffer. */
const char *fo_addr(int port);

/* ---- valkey-cli ------------------------------------------------------------------- */

/* Runs `valkey-cli -h 127.0.0.1 -p <port> [-a password] <args>` (args: shell words, a
 * printf format) with a 5 s limit. Returns its output (malloc'd, '\r' removed; the
 * caller frees) or NULL when it could not run. password may be NULL. */
char *fo_cli(int port, const char *password, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The value of a "name:value" line of text (INFO output) copied into buf ("" when
 * absent); returns buf. */
char *fo_field(const char *text, const char *name, char *buf, size_t n);
/* As fo_field, as a number; -1 when absent. */
long long fo_field_ll(const char *text, const char *name);

/* PUBSUB NUMSUB channel plus PUBSUB NUMPAT on port (what a client subscribed to the
 * channel and one pattern holds there: 2), through valkey-cli; negative when it failed. */
int fo_pubsub_count(int port, const char *password, const char *channel);
/* Waits (up to 30 s) until fo_pubsub_count is want; asserts, naming what. */
void fo_wait_pubsub_count_ok(int port, const char *password, const char *channel, int want, const char *what);

/* ---- processes ---------------------------------------------------------------------- */

/* PID of the server on port recorded in <state>/<topology>/pids (the harness's own
 * record; the last live entry wins), checked against /proc; -1 when none is alive. */
int fo_topology_pid(const char *topology, int port);
/* 1 while pid exists and is not a zombie. */
int fo_alive(int pid);
/* SIGKILL pid and wait (up to 5 s) until it is gone. 0 when gone. */
int fo_kill9(int pid);
/* Starts a server of a harness topology again: `$RCM_HARNESS server <port>
 * <state>/<topology>/<port> <args>` (same dir, so same data and logs), with
 * RCM_SERVER_BIN=server_bin when not NULL, and records the PID in the topology's pids
 * file so that the fixture's cleanup stops it. Returns the PID or -1. */
int fo_restart(const char *topology, int port, const char *server_bin, const char *args);

/* ---- raw RESP (a connection that bypasses rcm) --------------------------------------- */

/* Sends one command (NUL-terminated strings, NULL-terminated) and reads one flat reply
 * into buf ("+OK", ":1", "$value", "$nil", "-ERR ..."). 0 on success, -1 when the
 * connection failed or no reply came within timeout_ms. */
int fo_raw_call(int port, int timeout_ms, char *buf, size_t n, ...);

/* ---- events ---------------------------------------------------------------------- */

#define FO_MAX_EVENTS 512
typedef struct fo_event {
    rcm_event_kind kind;
    char node[64];
    char detail[256];
    double at; /* tu_now() */
} fo_event;

typedef struct fo_events {
    pthread_mutex_t mu;
    fo_event ev[FO_MAX_EVENTS];
    int n;
} fo_events;

void fo_events_init(fo_events *e);
/* The rcm_event_callback; userdata is a fo_events. */
void fo_events_cb(rcm_event_kind kind, const char *node, const char *detail, void *userdata);
/* The first event of kind (from index from on) whose detail contains needle (NULL:
 * any); copied into *out when found. Returns its index or -1. */
int fo_events_find(fo_events *e, int from, rcm_event_kind kind, const char *needle, fo_event *out);
/* Prints every event recorded (for failure messages). */
void fo_events_print(fo_events *e);
/* Waits up to seconds for fo_events_find to succeed; returns its result. */
int fo_events_wait(fo_events *e, int from, rcm_event_kind kind, const char *needle, fo_event *out, double seconds);

/* ---- rcm --------------------------------------------------------------------------- */

/* Opens a client from url plus key/value config pairs (NULL-terminated), with the
 * event callback when events is not NULL. Asserts RCM_OK. */
rcm_client *fo_open_ok(const char *url, fo_events *events, ...);
/* The "primary" of rcm_client_topology_json (copied into buf, "" when absent). */
char *fo_topology_primary(rcm_client *c, char *buf, size_t n);
/* rcm_command_routed to node port (RCM_ROUTE_NODE) with NUL-terminated args. */
rcm_status fo_to_node(rcm_client *c, int port, rcm_reply **out, ...);
/* The first element of ROLE's reply sent through rcm to node port ("master",
 * "slave"...), or "" when the call failed. Copied into buf. */
char *fo_role_via_rcm(rcm_client *c, int port, char *buf, size_t n);

/* ---- load: threads that each keep calling rcm and record every call ---------------- */

typedef struct fo_call {
    double start, end;  /* tu_now() around the call */
    rcm_status status;
    int ok;             /* RCM_OK with the expected reply */
    char reply[96];     /* what came back when not ok */
    long seq;           /* writes: the key's sequence number */
} fo_call;

typedef enum fo_load_kind {
    FO_LOAD_WRITE = 1, /* SET <prefix>:<id>:<seq> to the same string; ok = +OK */
    FO_LOAD_READ = 2   /* GET read_key; ok = read_value */
} fo_load_kind;

typedef struct fo_load {
    /* in */
    rcm_client *client;
    fo_load_kind kind;
    int id;
    const char *prefix;
    const char *read_key, *read_value;
    atomic_int *stop;
    int pause_us; /* between calls */
    /* out (read after join) */
    fo_call *calls;
    size_t n, cap;
    pthread_t thread;
} fo_load;

/* Starts / joins a load thread. */
void fo_load_start(fo_load *l);
void fo_load_join(fo_load *l);
void fo_load_free(fo_load *l);
/* The key of a write: "<prefix>:<id>:<seq>" in buf. */
char *fo_load_key(const fo_load *l, long seq, char *buf, size_t n);

typedef struct fo_summary {
    long calls, ok, failed_status, bad_reply;
    long by_status[24];          /* index -status; RCM_ERR_INTERNAL at 23 */
    double max_duration;         /* seconds */
    const fo_call *longest;
    const fo_call *first_bad, *last_bad; /* by start time */
    double last_bad_end;
} fo_summary;

/* Summary of the calls of n loads that started in [from, to). */
fo_summary fo_summarize(fo_load *loads, int n, double from, double to);
/* How many calls of the n loads failed and ended after t (still waiting, or failing,
 * then); *first (may be NULL) is the earliest-ending of them. */
long fo_failures_ending_after(fo_load *loads, int n, double t, const fo_call **first);
/* Reads back (GET over a raw socket to port, no password) every key whose SET
 * returned OK in the n loads; returns how many are missing or hold another value
 * (-1 when the server could not be read), with the first few named in why. */
long fo_verify_writes(int port, fo_load *loads, int n, char *why, size_t wn);
/* Prints a summary line (what: a label). */
void fo_summary_print(const char *what, const fo_summary *s);

/* ---- RedisRaft (the harness's raft topology) ------------------------------------------ */

/* Port of raft node i (0..2): base + 30 + i. Raft id = i + 1. */
int fo_raft_port(int i);
/* Exits the process with FO_SKIP and a message when REDISRAFT_SO is unset. */
void fo_raft_require_module(const char *test);

typedef struct fo_raft_info {
    int answered;
    char role[24];   /* leader, follower, candidate, ... */
    char state[24];  /* up, loading, ... */
    int leader_id;   /* -1 when none */
    int node_id;
    int num_nodes;
    int peers_connected;
} fo_raft_info;

/* INFO raft of the node on port through valkey-cli. */
fo_raft_info fo_raft_info_of(int port);
/* Port of the node that says raft_role:leader and raft_state:up among nodes i where
 * mask has bit i set; -1 when none. */
int fo_raft_leader_among(unsigned mask);
/* 1 when every node is up, all three report the same leader (one of them, which says
 * raft_role:leader), 3 nodes, and the leader sees both peers connected. */
int fo_raft_healthy(char *why, size_t n);
int fo_raft_wait_healthy(double seconds, char *why, size_t n);
/* Restarts raft node i with the arguments and directory the harness gave it. PID or -1. */
int fo_raft_restart(int i);
/* A cmocka group setup / teardown: restarts a raft node that is down (fo_raft_restart)
 * and waits (60 s) for a healthy group; -1 (the reason on stderr) when it is not. */
int fo_raft_fixture(void **state);

/* ---- Sentinel (the harness's sentinel topology) -------------------------------------- */

int fo_sentinel_data_port(int i);     /* i 0..2 */
int fo_sentinel_port(int i);          /* i 0..2 */
/* The master port sentinel i names (SENTINEL get-master-addr-by-name); -1 when none. */
int fo_sentinel_master_of(int i);
/* The master port all three sentinels agree on, or -1. */
int fo_sentinel_master(void);
/* ROLE of a data node through valkey-cli ("master", "slave", "" when unreachable). */
char *fo_role_of(int port, char *buf, size_t n);
/* 1 when the three sentinels agree on a master that says ROLE master with 2 connected
 * replicas, both other data nodes are replicas of it with master_link_status:up, and
 * every sentinel sees the master (flags master), 2 replicas without s_down/o_down and 2
 * other sentinels. */
int fo_sentinel_healthy(char *why, size_t n);
int fo_sentinel_wait_healthy(double seconds, char *why, size_t n);
/* A cmocka group setup / teardown: waits (90 s) for a healthy Sentinel topology; -1 (the
 * reason on stderr) when it is not. */
int fo_sentinel_fixture(void **state);
/* The URL of the topology: redis+sentinel://127.0.0.1:<+25>,127.0.0.1:<+26>/mymaster. */
const char *fo_sentinel_url(void);
/* Restarts data node port (of +20..+22) as the harness started +20: same dir and
 * password, no replicaof (sentinel reconfigures it). PID or -1. */
int fo_sentinel_restart(int port);

/* ---- fake_raft.py ------------------------------------------------------------------- */

/* Starts tests/failover/fake_raft.py ($FO_FAKE_RAFT with $FO_PYTHON) on +52..+54
 * with control port +55, leader node 0, and waits for READY. Asserts. */
void fo_fake_start_ok(void);
/* Stops it (SIGTERM, then SIGKILL) if running. */
void fo_fake_stop(void);
int fo_fake_port(int i);
/* Sends a control command (NULL-terminated strings) and asserts the reply starts
 * with '+' or ':' or '$'; the flat reply is copied into buf when not NULL. */
void fo_fake_ctl_ok(char *buf, size_t n, ...);
/* COUNT i CMD. */
long long fo_fake_count(int i, const char *cmd);

/* ---- fake_sentinel.py --------------------------------------------------------------- */

/* Starts tests/failover/fake_sentinel.py ($FO_FAKE_SENTINEL) on +56, naming
 * 127.0.0.1:names_port as the master (a sentinel that is behind). Asserts. */
void fo_fake_sentinel_start_ok(int names_port);
void fo_fake_sentinel_stop(void);
int fo_fake_sentinel_port(void);

#endif
