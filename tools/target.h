/*
 * target.h — where the tool's raw-hiredis sides connect (the bench's baselines, the
 * pubsub-bench's publisher and baseline subscriber): the first seed of -u and -c as the
 * rcm client sees it, with the same handshake (AUTH, SELECT).
 */
#ifndef RCM_TOOLS_TARGET_H
#define RCM_TOOLS_TARGET_H

#include "cli.h"

#include <hiredis/hiredis.h>

#include <stdbool.h>
#include <stddef.h>

typedef struct cli_target {
    char host[256];
    int port;
    char username[256];
    char password[512];
    int db;
    char mode[32]; /* "" unless the URL's scheme or -c mode= says */
    bool tls;
} cli_target;

/** Fills *t from -u (else 127.0.0.1:6379) and then the -c keys, as the library applies
 *  them. Only extracts: the library validates the URL when the client opens. */
void cli_target_from_opts(const cli_opts *opts, cli_target *t);

/** A blocking hiredis context to host:port (connect timeout 2 s, I/O timeout 10 s) after
 *  AUTH and SELECT as t says. NULL with a message in err on failure. */
redisContext *cli_target_connect(const cli_target *t, const char *host, int port, char *err,
                                 size_t errcap);

/** Takes r (freeing it): false with "what: <error>" in err when it is NULL (the context's
 *  error) or an error reply. */
bool cli_hiredis_ok(redisContext *c, redisReply *r, char *err, size_t errcap, const char *what);

/** The server's CPU seconds so far (INFO cpu: used_cpu_user + used_cpu_sys); -1 when
 *  unknown. */
double cli_server_cpu_s(redisContext *c);

#endif /* RCM_TOOLS_TARGET_H */
