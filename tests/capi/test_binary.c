/* capi.binary: keys and values are bytes (NUL included), and large values round-trip. */
#define _GNU_SOURCE
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static rcm_status set_bytes(rcm_client *c, const char *k, size_t klen, const char *v, size_t vlen,
                            rcm_reply **out) {
    const char *argv[] = {"SET", k, v};
    const size_t lens[] = {3, klen, vlen};
    return rcm_command(c, 3, argv, lens, out);
}

static rcm_status get_bytes(rcm_client *c, const char *k, size_t klen, rcm_reply **out) {
    const char *argv[] = {"GET", k};
    const size_t lens[] = {3, klen};
    return rcm_command(c, 2, argv, lens, out);
}

static void fill_pattern(char *buf, size_t n, unsigned seed) {
    /* every byte value appears, NUL, CR and LF included */
    unsigned x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (char)(i % 7 == 0 ? 0 : (x >> 16) & 0xff);
    }
}

static void roundtrip(rcm_client *c, const char *key, size_t klen, size_t vlen, unsigned seed) {
    char *v = malloc(vlen ? vlen : 1);
    assert_non_null(v);
    fill_pattern(v, vlen, seed);
    rcm_reply *r = NULL;
    rcm_status st = set_bytes(c, key, klen, v, vlen, &r);
    if (st != RCM_OK)
        fail_msg("SET of %zu bytes: %s '%s'", vlen, rcm_status_name(st), rcm_last_error());
    TU_ASSERT_STATUS_REPLY(r, "OK");
    rcm_reply_free(r);
    r = NULL;
    st = get_bytes(c, key, klen, &r);
    if (st != RCM_OK)
        fail_msg("GET of %zu bytes: %s '%s'", vlen, rcm_status_name(st), rcm_last_error());
    assert_int_equal(rcm_reply_type(r), RCM_REPLY_STRING);
    size_t len = 0;
    const char *got = rcm_reply_string(r, &len);
    assert_int_equal(len, vlen);
    if (vlen && memcmp(got, v, vlen) != 0) {
        size_t i = 0;
        while (got[i] == v[i]) i++;
        fail_msg("GET of %zu bytes differs at byte %zu", vlen, i);
    }
    assert_int_equal(got[len], 0); /* NUL after the bytes */
    rcm_reply_free(r);
    free(v);
}

static void test_binary__nul_bytes_in_keys_and_values(void **state) {
    (void)state;
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), NULL);
    const char k1[] = "bin:\0key\0one";
    const char k2[] = "bin:\0key\0two";
    const size_t klen = sizeof k1 - 1;
    const char v1[] = "\0\r\n$5\r\nhello\r\n\0";
    const char v2[] = "\0";
    rcm_reply *r = NULL;
    TU_ASSERT_RC(set_bytes(c, k1, klen, v1, sizeof v1 - 1, &r), RCM_OK);
    TU_ASSERT_STATUS_REPLY(r, "OK");
    rcm_reply_free(r);
    TU_ASSERT_RC(set_bytes(c, k2, klen, v2, 1, &r), RCM_OK);
    rcm_reply_free(r);
    /* keys that differ only after a NUL are distinct keys */
    TU_ASSERT_RC(get_bytes(c, k1, klen, &r), RCM_OK);
    if (!tu_is_string(r, v1, sizeof v1 - 1)) fail_msg("k1: got %s", tu_describe(r));
    rcm_reply_free(r);
    TU_ASSERT_RC(get_bytes(c, k2, klen, &r), RCM_OK);
    if (!tu_is_string(r, v2, 1)) fail_msg("k2: got %s", tu_describe(r));
    rcm_reply_free(r);
    /* the prefix before the NUL is not the key */
    TU_ASSERT_RC(get_bytes(c, "bin:", 4, &r), RCM_OK);
    assert_int_equal(rcm_reply_type(r), RCM_REPLY_NIL);
    rcm_reply_free(r);
    /* empty value */
    TU_ASSERT_RC(set_bytes(c, "bin:empty", 9, "", 0, &r), RCM_OK);
    rcm_reply_free(r);
    TU_ASSERT_RC(get_bytes(c, "bin:empty", 9, &r), RCM_OK);
    assert_int_equal(rcm_reply_type(r), RCM_REPLY_STRING);
    size_t len = 99;
    assert_non_null(rcm_reply_string(r, &len));
    assert_int_equal(len, 0);
    rcm_reply_free(r);

    /* binary through a pipeline, a lease and async too */
    rcm_pipeline *p = NULL;
    TU_ASSERT_RC(rcm_pipeline_new(c, &p), RCM_OK);
    const char *ga[] = {"GET", k1};
    const size_t gl[] = {3, klen};
    TU_ASSERT_RC(rcm_pipeline_append(p, 2, ga, gl), RCM_OK);
    rcm_reply **rs = NULL;
    size_t n = 0;
    TU_ASSERT_RC(rcm_pipeline_exec(p, &rs, &n), RCM_OK);
    assert_int_equal(n, 1);
    assert_true(tu_is_string(rs[0], v1, sizeof v1 - 1));
    rcm_reply_free(rs[0]);
    rcm_free(rs);
    rcm_pipeline_free(p);

    rcm_lease *l = NULL;
    TU_ASSERT_RC(rcm_lease_acquire(c, k1, klen, &l), RCM_OK);
    TU_ASSERT_RC(rcm_lease_command(l, 2, ga, gl, &r), RCM_OK);
    assert_true(tu_is_string(r, v1, sizeof v1 - 1));
    rcm_reply_free(r);
    rcm_lease_release(l);

    /* the reply string of a value with NULs keeps its full length */
    roundtrip(c, k1, klen, 4096, 3);
    rcm_client_close(c);
}

static void test_binary__one_mebibyte_value(void **state) {
    (void)state;
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), "command_timeout_ms", "10000", NULL);
    roundtrip(c, "bin:1mib", 8, 1u << 20, 11);
    roundtrip(c, "bin:1mib+1", 10, (1u << 20) + 1, 12);
    rcm_client_close(c);
}

static void test_binary__sixty_four_mebibyte_value(void **state) {
    (void)state;
    rcm_client *c = tu_open_ok(tu_port(TU_PLAIN), "command_timeout_ms", "20000", NULL);
    tu_watchdog_arm(120, "64 MiB SET/GET");
    roundtrip(c, "bin:64mib", 9, (size_t)64 << 20, 21);
    tu_watchdog_disarm();
    /* the client is fine for small requests afterwards */
    rcm_reply *r = tu_cmd_ok(c, "DEL", "bin:64mib", NULL);
    TU_ASSERT_INT_REPLY(r, 1);
    rcm_reply_free(r);
    rcm_client_close(c);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binary__nul_bytes_in_keys_and_values),
        cmocka_unit_test(test_binary__one_mebibyte_value),
        cmocka_unit_test(test_binary__sixty_four_mebibyte_value),
    };
    return TU_RUN(tests, argc, argv);
}
