/* Shared helpers of the C API tests: environment (ports, state dir, harness), clients,
 * commands, a raw RESP socket that does not go through rcm, private servers, a watchdog
 * and a JSON syntax check.
 *
 * Helpers named tu_*_ok() assert with cmocka and may only be called on the test's main
 * thread; the others return a value and are safe from any thread. */
#ifndef RCM_TEST_UTIL_H
#define RCM_TEST_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <rcm/rcm.h>

/* Port offsets from RCM_TEST_PORT_BASE (tests/harness topology "standalone"). */
enum {
    TU_PLAIN = 0,       /* plain server */
    TU_REPLICA = 1,     /* its replica */
    TU_PASSWORD = 2,    /* requirepass abc123 */
    TU_TLS = 3,         /* TLS only */
    /* base+40..59: private servers, one port per test. */
    TU_PRIV_DEBUG_SLEEP = 40,
    TU_PRIV_CLIENT_KILL = 41,
    TU_PRIV_RESTART = 42,
    TU_PRIV_RETRY_READ = 43,
    TU_PRIV_RETRY_WRITE = 44,
    TU_PRIV_RETRY_UNSAFE = 45,
    TU_PRIV_LEASE_TIMEOUT = 46,
    TU_PRIV_RETRY_KILL = 47,
    TU_PRIV_CLOSE_PENDING = 48,
    TU_SILENT = 49,
    TU_PRIV_BACKPRESSURE_DOWN = 50,
    TU_PRIV_BACKPRESSURE_HUNG = 51,     /* a listening socket of the test itself that never answers */
    TU_PRIV_BACKOFF = 52,
    TU_PRIV_TLS_MUTUAL = 53,            /* TLS with tls-auth-clients yes */
    TU_PRIV_CLOSE_DEADLINE = 57,        /* a replica whose master never answers (MASTERDOWN) */
    TU_NEVER_STARTED = 58, /* nothing ever listens here */
    TU_PRIV_SHUTDOWN = 59, /* stopped (SIGSTOP) while calls wait on it */
    /* base+70..79: more private servers (60..69 are the Python tests'). */
    TU_PRIV_HOSTILE = 70,  /* capi.hostile's hostile_server.py */
    TU_PRIV_PUBSUB_RESTART = 71, /* capi.pubsub_restart: SIGKILLed and restarted under subscriptions */
    TU_PRIV_PUBSUB_STOPPED = 72  /* capi.pubsub_restart: stopped (SIGSTOP) under subscriptions */
};

#define TU_PASSWORD_TEXT "abc123"

int tu_port_base(void);
int tu_port(int offset);
const char *tu_state_dir(void);
/* "<state dir>/tls/<file>" in a static per-thread buffer. */
const char *tu_tls_file(const char *file);

double tu_now(void);
/* Waits (polling the stats) until the client has no connection up to any node: it has
 * seen its server go. 0, or -1 after `seconds`. */
int tu_wait_disconnected(rcm_client *c, double seconds); /* monotonic seconds */
void tu_sleep_ms(int ms);

/* A config for 127.0.0.1:<port> (scheme "redis" or "rediss") with key/value pairs after
 * it, NULL-terminated. Asserts every set succeeds. */
rcm_config *tu_config_ok(const char *scheme, int port, ...);
/* Opens a client with tu_config_ok's arguments; asserts RCM_OK. */
rcm_client *tu_open_ok(int port, ...);
/* As tu_open_ok but returns the status (and the client through out). */
rcm_status tu_open_status(rcm_client **out, const char *scheme, int port, ...);

/* Runs a command given as NUL-terminated strings (NULL-terminated list). Thread-safe. */
rcm_status tu_cmd(rcm_client *c, rcm_reply **out, ...);
rcm_status tu_cmdv(rcm_client *c, rcm_reply **out, int argc, const char *const *argv);
rcm_status tu_lease_cmd(rcm_lease *l, rcm_reply **out, ...);
/* tu_cmd that asserts RCM_OK and returns the reply. */
rcm_reply *tu_cmd_ok(rcm_client *c, ...);

/* Reply predicates (thread-safe, NULL-tolerant). */
int tu_is_status(const rcm_reply *r, const char *text);
int tu_is_string(const rcm_reply *r, const char *bytes, size_t len);
int tu_is_cstring(const rcm_reply *r, const char *text);
int tu_is_integer(const rcm_reply *r, long long v);
int tu_is_error_prefix(const rcm_reply *r, const char *prefix);
/* A short printable description of a reply for failure messages (static per thread). */
const char *tu_describe(const rcm_reply *r);

/* Asserts on the main thread, printing the reply on failure. */
#define TU_ASSERT_STATUS_REPLY(r, text)                                                     \
    do {                                                                                    \
        if (!tu_is_status((r), (text)))                                                     \
            fail_msg("expected +%s, got %s", (text), tu_describe(r));                      \
    } while (0)
#define TU_ASSERT_CSTRING_REPLY(r, text)                                                    \
    do {                                                                                    \
        if (!tu_is_cstring((r), (text)))                                                    \
            fail_msg("expected \"%s\", got %s", (text), tu_describe(r));                   \
    } while (0)
#define TU_ASSERT_INT_REPLY(r, v)                                                           \
    do {                                                                                    \
        if (!tu_is_integer((r), (v)))                                                       \
            fail_msg("expected :%lld, got %s", (long long)(v), tu_describe(r));            \
    } while (0)
#define TU_ASSERT_RC(got, want)                                                             \
    do {                                                                                    \
        rcm_status tu_got_ = (got), tu_want_ = (want);                                      \
        if (tu_got_ != tu_want_)                                                            \
            fail_msg("%s: expected %s, got %s (last error: '%s')", #got,                    \
                     rcm_status_name(tu_want_), rcm_status_name(tu_got_), rcm_last_error()); \
    } while (0)

/* A raw RESP connection that bypasses rcm (for DEBUG SLEEP, CLIENT KILL, ACL...). */
int tu_raw_connect(int port); /* -1 on failure */
/* Sends a command (NULL-terminated strings); 0 on success. */
int tu_raw_send(int fd, ...);
/* Reads one reply; writes a one-line rendering ("+OK", ":1", "$hello", "*2", "-ERR ...")
 * into buf. For arrays only the header is consumed... so use it for flat replies.
 * Returns 0, or -1 on EOF/error/timeout (timeout_ms). */
int tu_raw_read(int fd, char *buf, size_t n, int timeout_ms);
void tu_raw_close(int fd);

/* A scripted stand-in server (tests/failover/fake_raft.py, fake_sentinel.py,
 * tests/cluster/fake_cluster.py): its PID and the write end of its stdin (closing it
 * tells the script to exit). */
typedef struct tu_script {
    int pid;
    int stdin_fd;
} tu_script;
#define TU_SCRIPT_INIT {-1, -1}
/* Runs the script named by $env_script with the interpreter $python_env (default
 * /usr/bin/python3) and args (NULL-terminated, up to 13), and waits for it to print
 * READY. Asserts. */
void tu_script_start_ok(tu_script *sc, const char *env_script, const char *python_env, const char *const *args);
/* SIGTERM, then SIGKILL after 2 s; reaps it. Idempotent. */
void tu_script_stop(tu_script *sc);

/* Private servers (through $RCM_HARNESS). Returns the PID (asserts on failure); extra
 * is a space-separated list of server arguments or NULL. Servers still running at exit
 * are stopped. */
int tu_server_start_ok(int port, const char *extra);

/* Runs a shell command and returns what it printed (carriage returns dropped), malloc'd;
 * NULL if it could not be started. *exit_status (if not NULL) gets pclose's status. */
char *tu_command_output(const char *cmd, int *exit_status);
void tu_server_stop(int pid);
/* SIGKILL (no goodbye, no flush: the sockets just reset) and waits until it is gone or a
 * zombie (up to 5 s). Asserts; main thread only. */
void tu_server_kill_ok(int pid);

/* Sends DEBUG SLEEP <seconds> to the private server <pid> on <port> over a raw connection
 * and returns once the server is asleep (seen in /proc/<pid>/wchan), so that what the
 * test sends next waits for the sleep. Returns the connection (read its +OK, then close
 * it). Asserts; main thread only. */
int tu_raw_debug_sleep_ok(int pid, int port, const char *seconds);

/* Aborts the process with a message if not disarmed within seconds (a hang check). */
void tu_watchdog_arm(int seconds, const char *what);
void tu_watchdog_disarm(void);

/* 1 when text is one syntactically valid JSON value. */
int tu_json_valid(const char *text);
/* The first number after "\"key\":" in text; -1 when absent. */
long long tu_json_number(const char *text, const char *key);
/* 1 when text contains "\"key\"". */
int tu_json_has_key(const char *text, const char *key);

/* Runs the group, honouring an optional test-name filter in argv[1]. */
#define TU_RUN(tests, argc, argv)                                                           \
    (((argc) > 1 ? cmocka_set_test_filter((argv)[1]) : (void)0),                            \
     cmocka_run_group_tests((tests), NULL, NULL))

#endif
