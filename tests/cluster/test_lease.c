/* cluster.lease: rcm_lease_acquire with a key gives a connection to the primary that owns
 * the key's slot (CLUSTER MYID on the lease), where WATCH/MULTI/EXEC on that key runs as
 * on one server: it commits, and it aborts when another client changed the key. Nothing
 * on a lease is redirected: a key of another node gets the server's MOVED. */
#define _GNU_SOURCE
#include "cluster_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cu_cluster cl;
static int prim[3];

static void setup_cluster(void) {
    assert_int_equal(cu_cluster_read(cu_port(0), &cl), 0);
    assert_int_equal(cu_primaries(&cl, prim, 3), 3);
}

static rcm_reply *lease_ok(rcm_lease *l, ...) {
    const char *argv[16];
    int argc = 0;
    va_list ap;
    va_start(ap, l);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && argc < 16) argv[argc++] = a;
    va_end(ap);
    rcm_reply *r = NULL;
    rcm_status st = rcm_lease_command(l, argc, argv, NULL, &r);
    if (st != RCM_OK) fail_msg("lease %s: %s '%s'", argv[0], rcm_status_name(st), rcm_last_error());
    return r;
}

static void test_lease__key_lease_runs_watch_multi_exec_on_the_owner(void **state) {
    (void)state;
    setup_cluster();
    rcm_client *c = cu_open_ok(NULL);
    int n = 0;
    for (int p = 0; p < 3; p++) {
        int port = cl.nodes[prim[p]].port;
        char key[32];
        cu_key_on(&cl, port, "lease:", &n, key, sizeof key);
        rcm_reply *r = tu_cmd_ok(c, "SET", key, "10", NULL);
        rcm_reply_free(r);

        rcm_lease *l = NULL;
        TU_ASSERT_RC(rcm_lease_acquire(c, key, strlen(key), &l), RCM_OK);
        assert_non_null(l);
        r = lease_ok(l, "CLUSTER", "MYID", NULL);
        const char *id = cu_str(r);
        if (!id || strcmp(id, cl.nodes[prim[p]].id) != 0)
            fail_msg("lease for %s reached %s; the owner is %d (%s)", key, id ? id : tu_describe(r), port, cl.nodes[prim[p]].id);
        rcm_reply_free(r);

        r = lease_ok(l, "WATCH", key, NULL);
        TU_ASSERT_STATUS_REPLY(r, "OK");
        rcm_reply_free(r);
        r = lease_ok(l, "GET", key, NULL);
        TU_ASSERT_CSTRING_REPLY(r, "10");
        rcm_reply_free(r);
        r = lease_ok(l, "MULTI", NULL);
        TU_ASSERT_STATUS_REPLY(r, "OK");
        rcm_reply_free(r);
        r = lease_ok(l, "INCRBY", key, "5", NULL);
        TU_ASSERT_STATUS_REPLY(r, "QUEUED");
        rcm_reply_free(r);
        r = lease_ok(l, "EXEC", NULL);
        if (rcm_reply_type(r) != RCM_REPLY_ARRAY || rcm_reply_length(r) != 1 || !tu_is_integer(rcm_reply_element(r, 0), 15))
            fail_msg("EXEC on the lease for %s: %s", key, tu_describe(r));
        rcm_reply_free(r);

        /* Another client changes the key between WATCH and EXEC: the transaction aborts. */
        r = lease_ok(l, "WATCH", key, NULL);
        rcm_reply_free(r);
        r = tu_cmd_ok(c, "INCR", key, NULL);
        TU_ASSERT_INT_REPLY(r, 16);
        rcm_reply_free(r);
        r = lease_ok(l, "MULTI", NULL);
        rcm_reply_free(r);
        r = lease_ok(l, "INCRBY", key, "100", NULL);
        rcm_reply_free(r);
        r = lease_ok(l, "EXEC", NULL);
        if (rcm_reply_type(r) != RCM_REPLY_NIL) fail_msg("EXEC after a concurrent change: %s, expected nil (aborted)", tu_describe(r));
        rcm_reply_free(r);
        rcm_lease_release(l);

        char *out = cu_cli(port, "GET '%s'", key);
        assert_non_null(out);
        if (atoi(out) != 16) fail_msg("%s on its owner: '%s', expected 16", key, out);
        free(out);
    }
    rcm_client_close(c);
}

static void test_lease__commands_on_a_lease_are_not_redirected(void **state) {
    (void)state;
    setup_cluster();
    rcm_client *c = cu_open_ok(NULL);
    int n = 0;
    char mine[32], theirs[32];
    cu_key_on(&cl, cl.nodes[prim[0]].port, "leasemine:", &n, mine, sizeof mine);
    cu_key_on(&cl, cl.nodes[prim[1]].port, "leasetheirs:", &n, theirs, sizeof theirs);
    rcm_reply *r = tu_cmd_ok(c, "DEL", theirs, NULL);
    rcm_reply_free(r);
    rcm_lease *l = NULL;
    TU_ASSERT_RC(rcm_lease_acquire(c, mine, strlen(mine), &l), RCM_OK);
    r = lease_ok(l, "SET", theirs, "sneaked", NULL);
    if (!tu_is_error_prefix(r, "MOVED"))
        fail_msg("SET %s (owned by %d) on a lease to %d: %s, expected the server's MOVED error", theirs,
                 cl.nodes[prim[1]].port, cl.nodes[prim[0]].port, tu_describe(r));
    rcm_reply_free(r);
    rcm_lease_release(l);
    r = tu_cmd_ok(c, "EXISTS", theirs, NULL);
    TU_ASSERT_INT_REPLY(r, 0);
    rcm_reply_free(r);
    rcm_client_close(c);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lease__key_lease_runs_watch_multi_exec_on_the_owner),
        cmocka_unit_test(test_lease__commands_on_a_lease_are_not_redirected),
    };
    return TU_RUN(tests, argc, argv);
}
