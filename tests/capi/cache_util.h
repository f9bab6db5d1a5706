/* Helpers of the client-side caching tests (capi.cache, cluster.cache, sentinel.cache):
 * a cached client, its cache stats, waiting for a value, the race of writers and cached
 * readers, and the invalidation connection as the server lists it. Main thread only,
 * except where said. */
#ifndef RCM_CACHE_UTIL_H
#define RCM_CACHE_UTIL_H

#include <stdatomic.h>

#include "test_util.h"

enum { TU_PRIV_CACHE = 73 }; /* capi.cache's private server (FLUSHALL, CLIENT KILL) */

/* A client of url with cache.max_bytes=64 MB and the key/value pairs after it
 * (NULL-terminated). Asserts. */
rcm_client *cc_open_cached_url(const char *url, ...);
/* The same for redis://127.0.0.1:<port>. */
rcm_client *cc_open_cached(int port, ...);
/* A key unique to this process: "cache:<pid>:<what>:<i>". */
void cc_key(char *buf, size_t n, const char *what, int i);
/* A number of the "cache" stats object (-1 when absent). */
long long cc_stat(rcm_client *c, const char *name);
/* A number of one node's entry in the "cache" stats ("host:port"). */
long long cc_node_stat_addr(rcm_client *c, const char *addr, const char *name);
long long cc_node_stat(rcm_client *c, int port, const char *name);
/* The node's "tracking" (its invalidation connection is subscribed): 1, 0, or -1. */
int cc_node_tracking(rcm_client *c, int port);
/* SET key value through c, then GET until a read is a hit (bounded). Asserts. */
void cc_warm(rcm_client *c, const char *key, const char *value);
/* GET through c until it gives value (NULL: nil), up to seconds. Asserts. */
void cc_wait_value(rcm_client *c, const char *key, const char *value, int seconds);
/* SET key value through c (a client without cache), retried up to 30 s while the
 * server refuses it (a failover in progress). Asserts. */
void cc_write_ok(rcm_client *c, const char *key, const char *value);
/* cc_wait_value (20 s), then 50 reads that all give value: never the old one again. */
void cc_assert_sees(rcm_client *reader, const char *key, const char *value);
/* Starts the private server on port once per process; returns its PID. */
int cc_private_server(int port);
/* CLIENT KILL of the connection subscribed to __redis__:invalidate on the server at
 * port (found with CLIENT LIST). Asserts one was found. */
void cc_kill_invalidation_connection(int port);

typedef struct cc_async_result {
    atomic_int done;
    rcm_status status;
    char value[256];
} cc_async_result;
void cc_async_cb(rcm_status status, rcm_reply *reply, void *userdata);
/* GET key with rcm_command_async and waits for its callback. */
void cc_async_get(rcm_client *c, const char *key, cc_async_result *res);

/* Writers (a client without cache) and readers (one cached client shared by its
 * threads) on a few hot keys for `seconds`; then, once the writers stopped, every key's
 * cached value must come to equal the server's (a stale entry would stay until
 * cache.ttl_ms). url: where both connect. Prints what it did. Asserts. */
void cc_race_run_url(const char *url, const char *tag, double seconds);
void cc_race_run(int port, const char *tag, double seconds);

#endif
