/* Helpers of the TLS tests (tests/tls), on top of tests/capi/test_util.h.
 *
 * The servers are those of tests/harness/tls_servers.sh (fixtures tls_standalone,
 * tls_cluster, tls_sentinel), with the certificates it makes in
 * <state dir>/tls-certs/. Everything a test checks about the servers comes from plain
 * valkey-cli over TLS (popen), never from rcm itself. */
#ifndef RCM_TLS_UTIL_H
#define RCM_TLS_UTIL_H

#include <stddef.h>

#include "test_util.h"

/* Port offsets from RCM_TEST_PORT_BASE (see tls_servers.sh). */
enum {
    TT_GOOD = 80,          /* server.crt, tls-auth-clients yes (client certificates of ca.crt) */
    TT_WRONG_NAME = 81,    /* a certificate for elsewhere.example only */
    TT_EXPIRED = 82,       /* a certificate that expired in 2020 */
    TT_CLUSTER_TLS = 83,   /* +83..+85: the TLS ports of the 3 primaries */
    TT_CLUSTER_PLAIN = 86, /* +86..+88: their plain ports */
    TT_SENTINEL_PRIMARY = 89,
    TT_SENTINEL_REPLICA = 90,
    TT_SENTINEL = 91
};
#define TT_CLUSTER_NODES 3
#define TT_MASTER_NAME "mymaster"

/* "<state dir>/tls-certs/<file>", copied into one of 16 rotating static buffers (per
 * thread) so that several can be arguments of one call. */
const char *tt_cert(const char *file);

/* Runs `valkey-cli --tls` (showing client.crt, verifying nothing: it checks what rcm
 * did, also on the server with the expired certificate) against 127.0.0.1:<port>
 * with args, a printf format giving shell words. Returns its output (malloc'd, '\r'
 * removed, caller frees) or NULL when it could not run or failed. */
char *tt_cli(int port, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The calls= count of INFO commandstats for a command on that node; -1 when the node
 * could not be asked (so that "nothing was sent" is never read from a failed query). */
long long tt_calls(int port, const char *command);

/* Opens a client from url plus key/value config pairs (NULL-terminated). Returns the
 * status; *out is the client or NULL. */
rcm_status tt_open(rcm_client **out, const char *url, ...);
/* tt_open that asserts RCM_OK. */
rcm_client *tt_open_ok(const char *url, ...);

/* A password the failing opens carry in their URL: no message may show it. */
#define TT_SECRET "tt-s3cret-marker"

/* Asserts that the last error says why the certificate was refused: it contains want
 * (case-insensitive), and not TT_SECRET. */
void tt_assert_error_names(const char *want);

/* SET key value then GET key through c; asserts both. */
void tt_set_get_ok(rcm_client *c, const char *key, const char *value);

#endif
