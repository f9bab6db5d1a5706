/*
 * rcm.h — the C API of rcm, a Redis/Valkey connection manager.
 *
 * This header is the manual. It compiles as C99 on its own and is the only public
 * header of librcm.
 *
 * Conventions (they hold for every function below):
 *  - Every public symbol is rcm_<object>_<verb>; every macro is RCM_*.
 *  - Handles are opaque. Each has one constructor (_new/_open/_acquire) and one
 *    destructor (_free/_close/_release) that accepts NULL.
 *  - Functions that can fail return rcm_status: RCM_OK (0) or a negative code whose
 *    value never changes meaning. Results come back through an `out` pointer; on
 *    failure *out is set to NULL (or 0). rcm_last_error() then describes the failure
 *    of this thread in words (it never contains a password).
 *  - A server's error reply (-ERR ...) is not a failure of the call: the call returns
 *    RCM_OK and the reply is of type RCM_REPLY_ERROR.
 *  - What comes back through `out` belongs to the caller and has exactly one free
 *    function. What is returned directly is borrowed, with the lifetime stated.
 *  - Arguments are binary safe: pointer + length, never NUL-terminated unless stated.
 *  - Thread safety is stated per function: "thread-safe", "one thread per handle", or
 *    "callable from a callback".
 */
#ifndef RCM_RCM_H
#define RCM_RCM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RCM_VERSION_MAJOR 0
#define RCM_VERSION_MINOR 1
#define RCM_VERSION_PATCH 0

#if defined(RCM_BUILDING_LIBRARY)
#define RCM_API __attribute__((visibility("default")))
#else
#define RCM_API
#endif

/* ---------------------------------------------------------------------------------
 * Status codes. The values are pinned: they never change meaning.
 * ------------------------------------------------------------------------------ */
typedef enum rcm_status {
    RCM_OK = 0,
    RCM_ERR_ARG = -1,          /* a bad argument from the caller (NULL, argc <= 0, ...) */
    RCM_ERR_CONFIG = -2,       /* unknown config key, bad value, malformed URL */
    RCM_ERR_NOMEM = -3,        /* out of memory */
    RCM_ERR_CONNECTION = -4,   /* could not connect, or the connection broke before sending */
    RCM_ERR_TIMEOUT = -5,      /* the request's deadline passed (connect or command) */
    RCM_ERR_AUTH = -6,         /* the server refused the credentials */
    RCM_ERR_PROTOCOL = -7,     /* the server sent something that is not valid RESP */
    RCM_ERR_UNCERTAIN = -8,    /* sent, outcome unknown: the connection broke before the reply */
    RCM_ERR_POOL_TIMEOUT = -9, /* no lease became free within pool.lease_timeout_ms */
    RCM_ERR_BACKPRESSURE = -10,/* a node's queue is full (pool.max_pending) */
    RCM_ERR_CLOSED = -11,      /* the client is closing or closed */
    RCM_ERR_UNSUPPORTED = -12, /* a feature or mode this build does not provide yet */
    RCM_ERR_CROSSSLOT = -13,   /* keys of one command hash to different cluster slots */
    RCM_ERR_CLUSTERDOWN = -14, /* the cluster (or Raft group) has no usable owner */
    RCM_ERR_TLS = -15,         /* TLS setup or handshake failed (certificate, CA, key) */
    RCM_ERR_REDIRECT = -16,    /* too many MOVED/ASK redirects */
    RCM_ERR_STATE = -17,       /* the handle is not in a state for this call */
    RCM_ERR_FORK = -18,        /* the client was created in another process (fork) */
    RCM_ERR_NO_LEADER = -19,   /* no Raft leader / Sentinel master could be found */
    RCM_ERR_INTERNAL = -99     /* a bug in rcm; the message says where */
} rcm_status;

/** The status's symbolic name ("RCM_ERR_TIMEOUT"); "RCM_ERR_UNKNOWN" for any other value.
 *  Returns a static string. Thread-safe, callable from a callback. */
RCM_API const char *rcm_status_name(rcm_status status);

/** This thread's last failure in words. Never NULL ("" when there was none). The string
 *  is valid until this thread's next rcm call. Thread-safe (per thread). */
RCM_API const char *rcm_last_error(void);

/** The library's version as "MAJOR.MINOR.PATCH" (static string). Thread-safe. */
RCM_API const char *rcm_version(void);

/** Frees a string or array the library allocated and handed to the caller (the JSON of
 *  rcm_client_stats_json, the reply array of rcm_pipeline_exec). NULL is a no-op.
 *  Thread-safe. */
RCM_API void rcm_free(void *ptr);

/* ---------------------------------------------------------------------------------
 * Configuration.
 *
 * Keys (rcm_config_set) and URLs share one vocabulary:
 *   mode                 standalone | cluster | raft | sentinel | auto   (default auto)
 *   seeds                "host:port[,host:port...]" ([v6]:port accepted; default 127.0.0.1:6379)
 *   username, password   credentials for AUTH (password alone: AUTH password)
 *   db                   SELECT index (default 0)
 *   client_name          CLIENT SETNAME value (default "rcm")
 *   io_threads           event-loop threads (default 1)
 *   io_spin_us           after activity an event-loop thread polls up to this long before
 *                        it sleeps: lower latency for some CPU. The window adapts: it
 *                        shrinks while traffic is sparse, so an idle or slow client
 *                        barely spins; at most half the CPUs (at least one) poll at
 *                        a time across the process (default 300; 0 = never spin)
 *   sync_spin_us         a thread waiting in a blocking call (rcm_command,
 *                        rcm_pipeline_exec, rcm_lease_command) polls for the reply,
 *                        yielding the CPU between looks, up to this long before it
 *                        sleeps: a wake-up from sleep costs more than a loopback round
 *                        trip. Per thread, the window halves while waits run longer,
 *                        so a caller of slow commands soon sleeps at once
 *                        (default 200; 0 = sleep at once, which real-time
 *                        SCHED_FIFO/SCHED_RR callers want: their yields let no
 *                        ordinary thread run, the I/O thread included)
 *   pool.size            multiplexed connections per server (default 2), split over
 *                        the I/O threads; each I/O thread has at least one, so a server
 *                        gets max(pool.size, io_threads)
 *   pool.max_leases      exclusive connections per server for rcm_lease_* (default 8;
 *                        they all live on the first I/O thread)
 *   pool.lease_timeout_ms  wait for a free lease, then RCM_ERR_POOL_TIMEOUT (default 1000)
 *   pool.max_pending     requests queued per server before RCM_ERR_BACKPRESSURE (default 65536);
 *                        also bounds those waiting for a slot owner, leader or master
 *   pool.health_check_ms PING idle connections after this long (default 5000; 0 = off)
 *   pool.stall_timeout_ms  a connection with requests in flight that reads no byte for
 *                        this long is declared dead (a stopped server, a half-open
 *                        link) and its requests are resent or fail as for a broken
 *                        connection; a connection whose oldest request is a blocking
 *                        command (BLPOP, WAIT, XREAD BLOCK...) is exempt. Catches a
 *                        silent server also with command_timeout_ms=0. Keep it above
 *                        the slowest command you run (default 60000; 0 = off)
 *   connect_timeout_ms   TCP + TLS + handshake (default 1000), over every address a host
 *                        name resolves to, tried in order (one that does not answer
 *                        gets its share of the time left; names are resolved off the
 *                        I/O thread)
 *   command_timeout_ms   a request's deadline, from submission (default 1000; 0 = none)
 *   max_reply_bytes      the largest single reply accepted: a reply that grows beyond
 *                        it fails the connection's requests with RCM_ERR_PROTOCOL
 *                        (default 536870912 = 512 MiB, as the server's
 *                        proto-max-bulk-len; 0 = unlimited)
 *   retry.max_attempts   how many times one request may be sent or reconnected for (default 3);
 *                        in cluster, Raft and Sentinel modes a request with a deadline that
 *                        was not sent waits for a dead node's successor until its deadline
 *   retry.backoff_ms     first reconnect delay (default 10; reconnects wait at least
 *                        1 ms, so 0 means 1 ms, growing from there)
 *   retry.backoff_max_ms reconnect delay cap (default 1000); delays grow x2 with jitter
 *   retry.unsafe         true: also resend writes whose outcome is unknown (default false)
 *   read_from            primary | prefer_replica | replica | nearest (default primary)
 *   topology.refresh_ms  periodic topology refresh (default 30000); connections to a node
 *                        that left the topology close after 2x this unused (1 s..60 s)
 *   cluster.max_redirects  MOVED/ASK hops per request (default 5)
 *   pubsub.max_pending   messages waiting per subscriber (a slow callback or a pull-mode
 *                        reader that does not keep up); past it the oldest are dropped,
 *                        counted in stats and reported (RCM_MSG_DROPPED,
 *                        RCM_EVENT_PUBSUB_DROPPED) (default 10000)
 *   pubsub.node          cluster: "host:port" of the node for channels and patterns
 *                        (default "": a primary rcm picks, another when it goes away)
 *   pubsub.callback_threads  threads that run message callbacks (default 2)
 *   cache.max_bytes      client-side caching (see "Client-side caching" below): the
 *                        cache's bound in bytes of cached replies and keys; 0 = off
 *                        (default 0)
 *   cache.max_entries    the most entries cached at once (default 100000)
 *   cache.ttl_ms         the longest any entry lives, whatever the server says
 *                        (default 60000)
 *   cache.commands       comma-separated read commands whose replies are cached
 *                        (default GET,MGET,HGET,HGETALL,HMGET,EXISTS,STRLEN,SMEMBERS,
 *                        SISMEMBER,LRANGE,ZRANGE,ZSCORE,TYPE; MGET is cached per key)
 *   sentinel.master      master name for mode=sentinel
 *   sentinel.username, sentinel.password   credentials for the sentinels themselves
 *   tls                  true | false (rediss:// sets it); cluster nodes that announce a
 *                        plain and a TLS port are reached at the TLS one
 *   tls.ca               CA bundle file (PEM) used to verify the server
 *   tls.cert, tls.key    client certificate and key (PEM) for mutual TLS
 *   tls.server_name      name to verify and send as SNI (default: the host of the address)
 *   tls.verify           true | false (default true): verify the server's certificate
 *                        chain and name; false verifies nothing
 *   tls.verify_hostname  true | false (default true): with tls.verify, also check that
 *                        the certificate names the server (tls.server_name or the host);
 *                        false verifies the chain only
 * Booleans accept true/false/1/0/yes/no. An unknown key or a bad value is RCM_ERR_CONFIG
 * naming the key.
 *
 * URLs: redis://[[user]:password@]host[:port][,host:port...][/db][?key=value&...]
 *       rediss://... (TLS), redis+cluster://, redis+raft://, redis+sentinel://.../mastername
 *       or a bare "host:port[,host:port...]". Query parameters are config keys (not
 *       seeds: the URL's hosts are; mode only where the scheme does not set it).
 * ------------------------------------------------------------------------------ */
typedef struct rcm_config rcm_config;

/** A new configuration with every key at its default. NULL only when out of memory.
 *  Free with rcm_config_free. One thread per handle. */
RCM_API rcm_config *rcm_config_new(void);

/** Frees a configuration; NULL is a no-op. Does not block. One thread per handle (clients
 *  opened from it keep their own copy). */
RCM_API void rcm_config_free(rcm_config *config);

/** Sets one key (see the list above). key and value are NUL-terminated strings and are
 *  copied. RCM_ERR_ARG for NULL, RCM_ERR_CONFIG for an unknown key or a bad value; the
 *  message names the key. Does not block. One thread per handle. */
RCM_API rcm_status rcm_config_set(rcm_config *config, const char *key, const char *value);

/** Applies a URL (see above) on top of the current values. RCM_ERR_CONFIG names what is
 *  wrong with the URL. Does not block. One thread per handle. */
RCM_API rcm_status rcm_config_from_url(rcm_config *config, const char *url);

/** The current value of one key, as rcm_config_set takes it (seeds joined by commas,
 *  booleans as "true"/"false"): *value is a caller-owned string (rcm_free). RCM_ERR_ARG
 *  for NULL, RCM_ERR_CONFIG for an unknown key (*value is then NULL). Does not block.
 *  One thread per handle. */
RCM_API rcm_status rcm_config_get(const rcm_config *config, const char *key, char **value);

/* ---------------------------------------------------------------------------------
 * Events. Topology and health changes, delivered on a dedicated thread of the client
 * (never on an I/O thread, never while rcm holds a lock): the callback may block
 * briefly and may call rcm functions, rcm_client_close on its own client included (see
 * there).
 * ------------------------------------------------------------------------------ */
typedef enum rcm_event_kind {
    RCM_EVENT_NODE_UP = 1,          /* a connection to a node was established */
    RCM_EVENT_NODE_DOWN = 2,        /* a node stopped answering (connect failed or broke) */
    RCM_EVENT_TOPOLOGY_CHANGED = 3, /* the slot map / membership changed */
    RCM_EVENT_PRIMARY_CHANGED = 4,  /* the writable node (primary, leader, master) moved */
    RCM_EVENT_SUBSCRIPTION_GAP = 5, /* subscriptions were interrupted and are live again:
                                       detail names them and the interval (see Pub/Sub) */
    RCM_EVENT_PUBSUB_DROPPED = 6    /* a slow subscriber's oldest messages were dropped
                                       (pubsub.max_pending); detail says how many */
} rcm_event_kind;

/** kind; node: "host:port" concerned (for PRIMARY_CHANGED the new one); detail: words on
 *  the cause (for PRIMARY_CHANGED "old -> new: cause"). Both strings are borrowed for
 *  the duration of the call. */
typedef void (*rcm_event_callback)(rcm_event_kind kind, const char *node, const char *detail,
                                   void *userdata);

/** Registers the event callback copied into clients opened from this config (NULL
 *  clears it). Does not block. One thread per handle. */
RCM_API rcm_status rcm_config_set_event_callback(rcm_config *config, rcm_event_callback cb,
                                                 void *userdata);

/* ---------------------------------------------------------------------------------
 * Client.
 * ------------------------------------------------------------------------------ */
typedef struct rcm_client rcm_client;

/** Opens a client: starts the I/O thread(s), connects to the seed(s) and performs the
 *  handshake (AUTH, SELECT, CLIENT SETNAME), recognising the deployment when
 *  mode=auto. Blocks for at most connect_timeout_ms per seed. The config is copied: the
 *  caller may free it right away. Failure statuses: RCM_ERR_ARG, RCM_ERR_CONFIG,
 *  RCM_ERR_CONNECTION, RCM_ERR_TIMEOUT, RCM_ERR_AUTH, RCM_ERR_TLS, RCM_ERR_UNSUPPORTED.
 *  Thread-safe. */
RCM_API rcm_status rcm_client_open(const rcm_config *config, rcm_client **out);

/** Closes a client: every request still outstanding completes with RCM_ERR_CLOSED (async
 *  callbacks are called, also for requests whose deadline had not yet passed), leases
 *  and pipelines become invalid (their calls return RCM_ERR_CLOSED; they are still freed
 *  with rcm_lease_release and rcm_pipeline_free), threads are joined. NULL is a no-op.
 *  Blocks until done. Must not be called while another thread is still using this
 *  client: call rcm_client_shutdown first to make such calls return, then this once
 *  they have.
 *  From the client's event callback it closes as usual, except that the event thread
 *  (the caller) is not joined: it ends when the callback returns, and no further event
 *  is delivered. From an rcm_callback (an I/O thread, which cannot join itself) it does
 *  nothing: the client stays open and usable, rcm_last_error() says why,
 *  and it must be closed later from another thread.
 *  In a child process forked after rcm_client_open it frees nothing the parent's threads
 *  use and joins no thread (they do not exist in the child): it returns at once. */
RCM_API void rcm_client_close(rcm_client *client);

/** Shuts a client down without freeing it: every request still outstanding, of every
 *  thread, completes with RCM_ERR_CLOSED (rcm_command, rcm_command_routed and
 *  rcm_pipeline_exec waiting in other threads return it, async callbacks are called),
 *  leases and pipelines become invalid as after rcm_client_close, threads are joined,
 *  and every later call on the client returns RCM_ERR_CLOSED. The handle stays valid
 *  and is still the caller's to free with rcm_client_close (which then only frees it).
 *  Unlike rcm_client_close it may run while other threads are inside calls on this
 *  client: it is how one thread makes the others' calls return before it frees the
 *  handle (once they have returned). Calling it again does nothing.
 *  Blocks until the I/O threads have stopped. Thread-safe. Returns RCM_OK; RCM_ERR_ARG
 *  for a NULL client; RCM_ERR_STATE, doing nothing, from an rcm_callback (an I/O thread
 *  cannot join itself). From the event callback and in a forked child it behaves as
 *  rcm_client_close does there. */
RCM_API rcm_status rcm_client_shutdown(rcm_client *client);

/* ---------------------------------------------------------------------------------
 * Replies.
 * ------------------------------------------------------------------------------ */
typedef struct rcm_reply rcm_reply;

typedef enum rcm_reply_kind {
    RCM_REPLY_STRING = 1,
    RCM_REPLY_ARRAY = 2,
    RCM_REPLY_INTEGER = 3,
    RCM_REPLY_NIL = 4,
    RCM_REPLY_STATUS = 5,
    RCM_REPLY_ERROR = 6,
    RCM_REPLY_DOUBLE = 7, /* reserved for RESP3 */
    RCM_REPLY_BOOL = 8,   /* reserved for RESP3 */
    RCM_REPLY_MAP = 9,    /* reserved for RESP3 */
    RCM_REPLY_SET = 10,   /* reserved for RESP3 */
    RCM_REPLY_PUSH = 11   /* reserved for RESP3 */
} rcm_reply_kind;

/** Reading a reply (this function and the five below) does not block and is thread-safe:
 *  a reply is immutable until freed, so several threads may read one at once.
 *  The reply's kind; NULL gives RCM_REPLY_NIL. */
RCM_API rcm_reply_kind rcm_reply_type(const rcm_reply *reply);

/** The value of an INTEGER reply; 0 for any other kind. */
RCM_API long long rcm_reply_integer(const rcm_reply *reply);

/** The bytes of a STRING, STATUS or ERROR reply, with their length in *len (len may be
 *  NULL). The bytes are NUL-terminated for convenience but may contain NUL. Borrowed:
 *  valid until the reply is freed. NULL (and *len = 0) for other kinds. */
RCM_API const char *rcm_reply_string(const rcm_reply *reply, size_t *len);

/** The number of elements of an ARRAY reply; 0 for other kinds. */
RCM_API size_t rcm_reply_length(const rcm_reply *reply);

/** Element i of an ARRAY reply, borrowed (valid until the top reply is freed); NULL when
 *  out of range or not an array. Do not free elements. */
RCM_API const rcm_reply *rcm_reply_element(const rcm_reply *reply, size_t i);

/** For an ERROR reply that rcm made itself (a request of a pipeline that timed out, lost
 *  its connection, ...) the status that failed it; RCM_OK for every reply the server sent,
 *  including server errors. */
RCM_API rcm_status rcm_reply_status(const rcm_reply *reply);

/** Frees a reply the caller owns (a top-level reply). NULL is a no-op. Does not block;
 *  call it from one thread, once no other thread reads the reply. */
RCM_API void rcm_reply_free(rcm_reply *reply);

/* ---------------------------------------------------------------------------------
 * Commands.
 *
 * argv/argvlen: argc binary-safe arguments (argv[0] is the command name). argvlen may be
 * NULL, then every argv[i] is NUL-terminated. The library copies the arguments before
 * returning. Commands are routed by mode; in standalone mode everything goes to the one
 * server. Blocking and stateful commands (BLPOP, WATCH, MULTI, SUBSCRIBE...) belong on a
 * lease: on a shared client they are refused with RCM_ERR_ARG where they would hold or
 * change the state of a shared connection. Also RCM_ERR_ARG, before anything is sent:
 * arguments longer than 4 GiB together (a bogus argvlen), and in cluster mode a key count
 * (EVAL's numkeys, ZUNIONSTORE's...) larger than the arguments that follow it.
 * ------------------------------------------------------------------------------ */

/** Sends one command and waits for its reply (at most command_timeout_ms). On RCM_OK
 *  *out is the caller's reply (free with rcm_reply_free), which may be of type
 *  RCM_REPLY_ERROR. Thread-safe; blocks. */
RCM_API rcm_status rcm_command(rcm_client *client, int argc, const char *const *argv,
                               const size_t *argvlen, rcm_reply **out);

/** status: RCM_OK with the server's reply (which may be RCM_REPLY_ERROR), or a failure
 *  status with an RCM_REPLY_ERROR reply made by rcm whose text says why
 *  (rcm_reply_status(reply) == status; NULL only when out of memory). The reply belongs
 *  to the callback's receiver (rcm_reply_free). Called exactly once, on an I/O thread: it must
 *  not block; it may call rcm_command_async. The calls that wait for a reply would wait
 *  for the very thread they block: rcm_command, rcm_command_routed, rcm_pipeline_exec,
 *  rcm_lease_acquire, rcm_lease_command and rcm_lease_read (with a timeout other than 0)
 *  on this callback's client return RCM_ERR_STATE there, as do rcm_client_stats_json,
 *  rcm_client_topology_json and rcm_client_shutdown, and rcm_client_close does nothing
 *  (see there). */
typedef void (*rcm_callback)(rcm_status status, rcm_reply *reply, void *userdata);

/** Queues one command; cb is called exactly once with the outcome (also when the client
 *  closes). Returns RCM_OK once queued; a failure status (and no callback) when the
 *  arguments are bad or the client is closed. Commands issued without waiting may be
 *  spread over the pool's connections, so their order is not guaranteed: use a
 *  pipeline when order matters. Thread-safe; does not block. Callable from a callback. */
RCM_API rcm_status rcm_command_async(rcm_client *client, int argc, const char *const *argv,
                                     const size_t *argvlen, rcm_callback cb, void *userdata);

/* ---------------------------------------------------------------------------------
 * Client-side caching (cache.max_bytes > 0). Replies of the read commands named by
 * cache.commands are kept in process, shared by every thread of the client, and served
 * from there by rcm_command, rcm_command_async and pipelines without a round trip; a
 * hit returns an owned copy identical to the server's reply. The server keeps them
 * true: rcm turns CLIENT TRACKING on (RESP2, REDIRECT to one invalidation connection
 * per node subscribed to __redis__:invalidate) for the connections whose reads it
 * stores, and drops an entry when the server says its key changed. Guarantees:
 *   - a write made through this client drops its keys' entries before it is sent and
 *     again when it is acknowledged: a read that follows the write's reply sees it;
 *   - a read whose reply races an invalidation of its key (a write by anyone) is not
 *     stored;
 *   - a node's entries are dropped before any further hit when its invalidation
 *     connection breaks (CLIENT KILL, a restart), when a connection whose reads were
 *     tracked breaks, when the topology changes (failover, slots moved, a new Sentinel
 *     or Raft primary), and on FLUSHALL / FLUSHDB by anyone (the server's null
 *     invalidation empties the cache);
 *   - no entry lives longer than cache.ttl_ms;
 *   - a server that stops answering without closing is given up by the health check of
 *     its invalidation connection (pool.health_check_ms, then max(command_timeout_ms,
 *     1 s) for the PING), and its entries with it.
 * Not guaranteed: a write by another client is seen only once its invalidation has
 * arrived, which takes a loopback round trip or so after that client's acknowledgement
 * (see README: "Client-side caching" for the measured window). Eviction is LRU per
 * shard within both bounds (cache.max_entries, cache.max_bytes), which hold at every
 * moment. Routed commands, leases and transactions (MULTI ... EXEC) never use the
 * cache; cluster MGETs whose keys span slots are served but not stored.
 * Stats: "cache" in rcm_client_stats_json.
 * ------------------------------------------------------------------------------ */

/** Flags of rcm_command_flags and rcm_command_async_flags. */
#define RCM_CALL_NO_CACHE 0x1u /* neither read nor fill the client-side cache */

/** Like rcm_command, with flags (RCM_CALL_*; unknown bits: RCM_ERR_ARG, nothing sent).
 *  Thread-safe; blocks. */
RCM_API rcm_status rcm_command_flags(rcm_client *client, unsigned flags, int argc, const char *const *argv,
                                     const size_t *argvlen, rcm_reply **out);

/** Like rcm_command_async, with flags (RCM_CALL_*; unknown bits: RCM_ERR_ARG, no
 *  callback). Thread-safe; does not block. Callable from a callback. */
RCM_API rcm_status rcm_command_async_flags(rcm_client *client, unsigned flags, int argc,
                                           const char *const *argv, const size_t *argvlen, rcm_callback cb,
                                           void *userdata);

/** The client-side cache's answer to a read, without sending anything: on a hit RCM_OK
 *  and *out an owned copy of the entry (rcm_reply_free), as rcm_command would return it;
 *  otherwise RCM_OK and *out NULL (a miss, the cache off, a command the cache does not
 *  answer from argv alone: GET-like single-key reads and MGET of cache.commands, a
 *  closed or forked client). Then send the command as usual (rcm_command_async), which
 *  counts the miss and fills the cache. For callers that must not block and want no
 *  thread hand-off on a hit (an event loop). RCM_ERR_ARG for NULL arguments or argc <= 0.
 *  Thread-safe; does not block (a shard lock only). Callable from a callback. */
RCM_API rcm_status rcm_cache_get(rcm_client *client, int argc, const char *const *argv, const size_t *argvlen,
                                 rcm_reply **out);

/* ---------------------------------------------------------------------------------
 * Explicit routes. Without one, a command goes where its keys say (cluster mode: the
 * primary of its slot, or a replica for reads when read_from allows; MGET, MSET, DEL,
 * UNLINK, EXISTS and TOUCH across slots are split per slot, sent in parallel and put
 * back together in the caller's order -- not atomic; other multi-slot commands are
 * RCM_ERR_CROSSSLOT before anything is sent). Keyless commands follow one table:
 * FLUSHALL, FLUSHDB, SCRIPT LOAD|FLUSH, FUNCTION LOAD|FLUSH|DELETE|RESTORE, CONFIG
 * SET|RESETSTAT go to every primary (one reply; an error if any node failed), DBSIZE
 * is summed, KEYS merged; everything else goes to one primary.
 * ------------------------------------------------------------------------------ */
typedef enum rcm_route_kind {
    RCM_ROUTE_SLOT = 1,          /* the owner of route.slot */
    RCM_ROUTE_KEY = 2,           /* the owner of route.key's slot */
    RCM_ROUTE_NODE = 3,          /* route.node, "host:port" */
    RCM_ROUTE_ALL_PRIMARIES = 4, /* every primary */
    RCM_ROUTE_ALL_NODES = 5,     /* every primary and replica */
    RCM_ROUTE_RANDOM = 6         /* any one primary */
} rcm_route_kind;

typedef struct rcm_route {
    rcm_route_kind kind;
    int slot;          /* RCM_ROUTE_SLOT: 0..16383 */
    const char *key;   /* RCM_ROUTE_KEY: binary-safe key */
    size_t keylen;
    const char *node;  /* RCM_ROUTE_NODE: NUL-terminated "host:port" */
} rcm_route;

/** Like rcm_command, to the node(s) the route names. For RCM_ROUTE_ALL_PRIMARIES and
 *  RCM_ROUTE_ALL_NODES the reply is an ARRAY with one element per node, each an ARRAY
 *  [address (STRING), that node's reply]. In standalone mode every route names the one
 *  server (a different RCM_ROUTE_NODE is RCM_ERR_ARG). Thread-safe; blocks. */
RCM_API rcm_status rcm_command_routed(rcm_client *client, const rcm_route *route, int argc,
                                      const char *const *argv, const size_t *argvlen,
                                      rcm_reply **out);

/* ---------------------------------------------------------------------------------
 * Pipelines: a batch of commands written together and executed in order on one
 * connection (per node), replies returned in the order appended. In cluster mode the
 * batch is split per node and sent in parallel; redirects are followed per command.
 * MULTI ... EXEC in a pipeline is allowed when all its keys are in one slot.
 * ------------------------------------------------------------------------------ */
typedef struct rcm_pipeline rcm_pipeline;

/** A new, empty pipeline bound to client. Does not block. The client is thread-safe; the
 *  pipeline is used by one thread at a time. */
RCM_API rcm_status rcm_pipeline_new(rcm_client *client, rcm_pipeline **out);

/** Appends one command (copied). Does not block; nothing is sent until exec. One thread
 *  per pipeline. */
RCM_API rcm_status rcm_pipeline_append(rcm_pipeline *pipeline, int argc,
                                       const char *const *argv, const size_t *argvlen);

/** Sends every appended command and waits for all replies. On RCM_OK, *replies is an
 *  array of *n caller-owned replies in append order (rcm_reply_free each, then rcm_free
 *  the array). A command that failed (server error, timeout, lost connection) is a reply
 *  of type RCM_REPLY_ERROR whose rcm_reply_status tells rcm's own failures apart. The
 *  pipeline is emptied and may be reused. Blocks. One thread per pipeline. */
RCM_API rcm_status rcm_pipeline_exec(rcm_pipeline *pipeline, rcm_reply ***replies, size_t *n);

/** The number of commands appended and not yet executed (0 for NULL). Does not block.
 *  One thread per pipeline. */
RCM_API size_t rcm_pipeline_length(const rcm_pipeline *pipeline);

/** Frees a pipeline and what was appended and not executed; NULL is a no-op. Does not
 *  block. One thread per pipeline. */
RCM_API void rcm_pipeline_free(rcm_pipeline *pipeline);

/* ---------------------------------------------------------------------------------
 * Leases: one exclusive connection for blocking and stateful commands (BLPOP, WATCH /
 * MULTI / EXEC, SUBSCRIBE...). A lease is returned clean: on release a transaction is
 * discarded, watches are dropped, the db is re-selected; a connection left subscribed,
 * blocked, or with a request still unanswered is closed instead of reused.
 * ------------------------------------------------------------------------------ */
typedef struct rcm_lease rcm_lease;

/** Takes an exclusive connection to the node that owns key (NULL: any node; in
 *  standalone mode the server). Waits at most pool.lease_timeout_ms for one of the
 *  pool.max_leases connections, then RCM_ERR_POOL_TIMEOUT. Blocks. Thread-safe. */
RCM_API rcm_status rcm_lease_acquire(rcm_client *client, const char *key, size_t keylen,
                                     rcm_lease **out);

/** Sends one command on the lease and waits for its reply. The deadline is
 *  command_timeout_ms, extended by the command's own blocking timeout (BLPOP k 5 may
 *  wait 5 s more; a blocking timeout of 0 waits without a deadline). Nothing is retried on
 *  a lease. Blocks. One thread per lease. */
RCM_API rcm_status rcm_lease_command(rcm_lease *lease, int argc, const char *const *argv,
                                     const size_t *argvlen, rcm_reply **out);

/** Queues one command on the lease without waiting: cb is called exactly once, on an I/O
 *  thread, with its outcome (as for rcm_command_async; also when the client closes), with
 *  rcm_lease_command's deadline. For a caller that waits in its own way, e.g. in slices
 *  to notice a signal: a lease released before cb ran has its connection closed instead
 *  of reused, and cb still comes (RCM_ERR_CLOSED). Returns RCM_OK once queued; a failure
 *  status (and no callback) when the lease was released, the client closed or the
 *  arguments are bad. One command at a time: call nothing else on the lease until cb
 *  ran, except rcm_lease_release. Does not block. One thread per lease. */
RCM_API rcm_status rcm_lease_command_async(rcm_lease *lease, int argc, const char *const *argv,
                                           const size_t *argvlen, rcm_callback cb, void *userdata);

/** Waits up to timeout_ms (0: do not wait, -1: no limit) for a message the server pushed
 *  on a lease without a request (pub/sub messages after SUBSCRIBE), in the order it came.
 *  A (P|S)SUBSCRIBE or (P|S)UNSUBSCRIBE is confirmed once per channel (without arguments,
 *  UNSUBSCRIBE: once per channel subscribed): the first confirmation is the command's
 *  reply, the others come here, never as the reply of a later command. Once the last
 *  subscription is gone the connection is back to normal (and reused after release).
 *  RCM_ERR_TIMEOUT when none came. Blocks. One thread per lease. */
RCM_API rcm_status rcm_lease_read(rcm_lease *lease, int timeout_ms, rcm_reply **out);

/** Returns the connection to the pool (cleaned, or closed if it cannot be cleaned).
 *  NULL is a no-op. May block briefly while the connection is cleaned. One thread per
 *  lease (any thread, not necessarily the one that acquired it); not while another
 *  thread is inside rcm_lease_command or rcm_lease_read on it. */
RCM_API void rcm_lease_release(rcm_lease *lease);

/* ---------------------------------------------------------------------------------
 * Pub/Sub. Subscriptions are desired state that rcm keeps true: after a lost
 * connection, a failover, a Sentinel switch, a Raft leader change or a slot move, rcm
 * subscribes again where each name now belongs (with backoff) and reports the interval
 * during which messages may have been lost (RCM_MSG_GAP to each subscriber concerned,
 * RCM_EVENT_SUBSCRIPTION_GAP to the client's event callback). Every subscriber of a
 * client shares one subscriber connection per node; a server message is fanned out to
 * every local subscriber of its channel or pattern. Messages of one node arrive in the
 * order that node sent them. PUBLISH and SPUBLISH are ordinary commands (rcm_command).
 *
 * Routing: channels and patterns go to one node (standalone: the server; Sentinel and
 * Raft: the primary / leader; cluster: the node pubsub.node names, else one primary rcm
 * picks); shard channels go to the primary that owns the channel's slot. With
 * RCM_SUB_EVERY_PRIMARY a channel or pattern is subscribed on every primary (keyspace
 * notifications in a cluster: each node notifies only its own keys).
 *
 * Interruptions: a name that was live and is live again gives each of its subscribers one
 * RCM_MSG_GAP; each node on which names came back gives one RCM_EVENT_SUBSCRIPTION_GAP,
 * once all it was asked to subscribe again is confirmed, whose detail lists them (the
 * first 20, then "and N more") and the interval: "from <ms> to <ms> (<d> ms)".
 * ------------------------------------------------------------------------------ */
typedef struct rcm_subscriber rcm_subscriber;

typedef enum rcm_sub_kind {
    RCM_SUB_CHANNEL = 1, /* SUBSCRIBE */
    RCM_SUB_PATTERN = 2, /* PSUBSCRIBE */
    RCM_SUB_SHARD = 3    /* SSUBSCRIBE (Redis / Valkey 7+) */
} rcm_sub_kind;

/** Or'ed into the kind of rcm_subscribe / rcm_unsubscribe (channels and patterns only):
 *  subscribe on every primary of a cluster instead of one node. Elsewhere it changes
 *  nothing. A name subscribed with and without it is two subscriptions. */
#define RCM_SUB_EVERY_PRIMARY 0x100

typedef enum rcm_message_type {
    RCM_MSG_MESSAGE = 1,      /* a published message: channel, payload (and pattern) */
    RCM_MSG_SUBSCRIBED = 2,   /* the server confirmed this subscriber's name: it is live */
    RCM_MSG_UNSUBSCRIBED = 3, /* rcm_unsubscribe took effect for this name */
    RCM_MSG_GAP = 4,          /* the name was not live from gap_from_ms to gap_to_ms (Unix
                                 time in ms): messages published then may be lost. It is
                                 live again. node: where it is live now */
    RCM_MSG_DROPPED = 5       /* `dropped` messages were discarded for this subscriber
                                 since the last RCM_MSG_DROPPED (pubsub.max_pending) */
} rcm_message_type;

/** One message. Strings are binary-safe (use the lengths) and also NUL-terminated. */
typedef struct rcm_message {
    rcm_message_type type;
    rcm_sub_kind kind;        /* what the name is: channel, pattern or shard channel */
    int every_primary;        /* 1 when the name was subscribed with RCM_SUB_EVERY_PRIMARY */
    const char *channel;      /* MESSAGE: the channel published to; SUBSCRIBED, UNSUBSCRIBED,
                                 GAP: the name subscribed (channel or pattern) */
    size_t channel_len;
    const char *pattern;      /* MESSAGE from a pattern subscription: the pattern; else NULL */
    size_t pattern_len;
    const char *payload;      /* MESSAGE: the payload; else NULL */
    size_t payload_len;
    const char *node;         /* "host:port" the message came from, or where the name is live */
    long long gap_from_ms;    /* GAP: last moment the subscription was known live */
    long long gap_to_ms;      /* GAP: the moment it was confirmed again */
    unsigned long long dropped; /* DROPPED: how many */
} rcm_message;

/** Called for each message of a subscriber opened with a callback, on a delivery thread
 *  of the client (never an I/O thread, never while rcm holds a lock), one message at a
 *  time per subscriber, in order. The message is borrowed for the call. The callback may
 *  call rcm_subscribe, rcm_unsubscribe, rcm_command and rcm_subscriber_close (on its own
 *  subscriber too: no message follows once it returns). A slow callback delays only its
 *  own subscriber, as long as fewer subscribers than pubsub.callback_threads are slow. */
typedef void (*rcm_message_callback)(const rcm_message *msg, void *userdata);

/** Opens a subscriber with no subscriptions. callback NULL selects pull mode
 *  (rcm_subscriber_next, rcm_subscriber_fd). Does not block. Thread-safe.
 *  RCM_ERR_ARG for NULL client or out, RCM_ERR_CLOSED, RCM_ERR_FORK. */
RCM_API rcm_status rcm_subscriber_open(rcm_client *client, rcm_message_callback callback,
                                       void *userdata, rcm_subscriber **out);

/** Adds n names of kind (optionally | RCM_SUB_EVERY_PRIMARY) to what sub wants (lens may
 *  be NULL for NUL-terminated names). Returns once the names are recorded; each is
 *  confirmed by an RCM_MSG_SUBSCRIBED message when live (at once if another subscriber of
 *  the client already has it live). A name already wanted is not added twice.
 *  RCM_ERR_ARG for a bad kind, n <= 0, a NULL or empty name; RCM_ERR_UNSUPPORTED for
 *  RCM_SUB_SHARD on a server without SSUBSCRIBE; RCM_ERR_CLOSED. Does not block.
 *  Thread-safe; callable from a message or event callback. */
RCM_API rcm_status rcm_subscribe(rcm_subscriber *sub, int kind, int n, const char *const *names,
                                 const size_t *lens);

/** Removes n names of kind from what sub wants; n == 0 removes every name of that kind
 *  (names and lens ignored). Each name removed is confirmed by RCM_MSG_UNSUBSCRIBED; no
 *  message of it is delivered to sub after that one. A name not wanted is ignored. The
 *  server is unsubscribed once no subscriber of the client wants the name. Does not
 *  block. Thread-safe; callable from a message or event callback. */
RCM_API rcm_status rcm_unsubscribe(rcm_subscriber *sub, int kind, int n, const char *const *names,
                                   const size_t *lens);

/** Pull mode: waits up to timeout_ms (0: do not wait, -1: no limit) for the next message.
 *  *msg belongs to the caller alone (its fields and strings too) until rcm_message_free,
 *  which may come on any thread, also after sub and its client are closed. RCM_ERR_TIMEOUT when none came,
 *  RCM_ERR_CLOSED once the subscriber or its client is closed, RCM_ERR_STATE for a
 *  subscriber opened with a callback. Blocks. One thread at a time per subscriber. */
RCM_API rcm_status rcm_subscriber_next(rcm_subscriber *sub, int timeout_ms, rcm_message **msg);

/** Pull mode: a descriptor that is readable while messages wait (or the subscriber is
 *  closed), for poll/epoll/libevent/asyncio; read messages with rcm_subscriber_next(sub, 0,
 *  ...) until RCM_ERR_TIMEOUT. Do not read, write or close it; it lives as long as sub.
 *  RCM_ERR_STATE for a subscriber opened with a callback. */
RCM_API rcm_status rcm_subscriber_fd(rcm_subscriber *sub, int *fd);

/** Frees a message from rcm_subscriber_next. NULL is a no-op. */
RCM_API void rcm_message_free(rcm_message *msg);

/** Drops every subscription of sub and frees it; a thread in rcm_subscriber_next returns
 *  RCM_ERR_CLOSED first. No callback runs once it returns, except the one it is called
 *  from. Subscribers still open when their client closes are closed with it (their
 *  handles must still be passed here). NULL is a no-op. Thread-safe. */
RCM_API void rcm_subscriber_close(rcm_subscriber *sub);

/* ---------------------------------------------------------------------------------
 * Introspection.
 * ------------------------------------------------------------------------------ */

/** A JSON object describing every server: connections, in-flight and queued requests,
 *  leases in use and waiters, requests, errors by status, reconnects, latency p50/p99
 *  (microseconds); and where command flags and key positions come from
 *  ("command_table": "COMMAND" once a node answered COMMAND, "built-in" until then, with
 *  "commands_known"); and "pubsub": {"subscribers" (open handles), "channels",
 *  "patterns", "shard_channels" (names wanted), "subscriber_connections" (ready),
 *  "messages" (queued for subscribers), "dropped" (pubsub.max_pending), "gaps"
 *  (RCM_EVENT_SUBSCRIPTION_GAP events), "resubscribes" (names live again after an
 *  interruption)}; and "cache" (client-side caching; present when it is on):
 *  {"hits", "misses", "invalidations" (entries dropped by the server's or this client's
 *  invalidations, flushes included), "evictions" (LRU and cache.ttl_ms), "bytes",
 *  "entries", "max_bytes", "max_entries", "nodes": {"host:port": {"hits", "misses",
 *  "invalidations", "resets" (times all of the node's entries were dropped: its
 *  invalidation connection lost or (re)subscribed, a tracked connection lost, a
 *  topology change, a flush),
 *  "tracking" (its invalidation connection is subscribed)}}}. *json belongs to the caller (rcm_free). Blocks briefly: every I/O
 *  thread makes its part. Thread-safe, but not from an rcm_callback: there it would wait
 *  for the other I/O threads, which may be waiting for this one, so it returns
 *  RCM_ERR_STATE (whatever io_threads is). */
RCM_API rcm_status rcm_client_stats_json(rcm_client *client, char **json);

/** A JSON object describing the topology: mode, nodes with role and state (and, in
 *  cluster mode, slot ranges). *json belongs to the caller (rcm_free). Blocks briefly
 *  (the I/O threads make the snapshot). Thread-safe; from an rcm_callback RCM_ERR_STATE,
 *  as rcm_client_stats_json. */
RCM_API rcm_status rcm_client_topology_json(rcm_client *client, char **json);

#ifdef __cplusplus
}
#endif

#endif /* RCM_RCM_H */
