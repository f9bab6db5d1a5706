/* Host names: every address a name resolves to is tried, and a slow lookup does not stall
 * the I/O thread. What a name resolves to depends on the machine's /etc/hosts and DNS, so
 * these tests substitute the resolver (a seam in core, hence rcm_static) with names
 * whose addresses they choose. The harness's server listens on 127.0.0.1 only: the same
 * port on ::1 or 127.0.0.2 refuses. */
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <vector>

extern "C" {
#include "test_util.h"
}

#include "core/net/resolver.h"

using rcm::core::SockAddr;

namespace {

std::atomic<bool> g_slow_armed{false};
std::atomic<bool> g_slow_entered{false};
std::atomic<int> g_lookups{0};

SockAddr addr(const char *host, uint16_t port) {
    SockAddr a;
    if (!rcm::core::resolve_numeric(host, port, a)) fail_msg("bad literal %s", host);
    return a;
}

bool hook(const std::string &host, uint16_t port, std::vector<SockAddr> &out, std::string &error) {
    ++g_lookups;
    if (host == "rcm-fallback.test") {
        /* Neither of the first two answers on this port; the third does. */
        out = {addr("::1", port), addr("127.0.0.2", port), addr("127.0.0.1", port)};
        return true;
    }
    if (host == "rcm-slow.test") {
        if (g_slow_armed.load()) {
            g_slow_entered = true;
            usleep(2500 * 1000);
        }
        out = {addr("127.0.0.1", port)};
        return true;
    }
    error = "unknown test name";
    return false;
}

rcm_client *open_name(const char *name, const char *k1, const char *v1) {
    char seeds[128];
    snprintf(seeds, sizeof seeds, "%s:%d", name, tu_port(TU_PLAIN));
    rcm_config *cfg = rcm_config_new();
    TU_ASSERT_RC(rcm_config_set(cfg, "seeds", seeds), RCM_OK);
    TU_ASSERT_RC(rcm_config_set(cfg, "mode", "standalone"), RCM_OK);
    TU_ASSERT_RC(rcm_config_set(cfg, "connect_timeout_ms", "6000"), RCM_OK);
    if (k1) TU_ASSERT_RC(rcm_config_set(cfg, k1, v1), RCM_OK);
    rcm_client *c = nullptr;
    rcm_status st = rcm_client_open(cfg, &c);
    rcm_config_free(cfg);
    if (st != RCM_OK) fail_msg("open %s: %s '%s'", seeds, rcm_status_name(st), rcm_last_error());
    return c;
}

}  // namespace

/* A name whose first addresses refuse connects through the one that answers, and serves. */
static void test_resolve__every_address_of_a_name_is_tried(void **state) {
    (void)state;
    rcm::core::set_resolve_hook(&hook);
    rcm_client *c = open_name("rcm-fallback.test", nullptr, nullptr);
    rcm_reply_free(tu_cmd_ok(c, "SET", "rcm:resolve:k", "v", NULL));
    rcm_reply *r = tu_cmd_ok(c, "GET", "rcm:resolve:k", NULL);
    TU_ASSERT_CSTRING_REPLY(r, "v");
    rcm_reply_free(r);
    rcm_client_close(c);
    if (g_lookups.load() == 0) fail_msg("the name was not resolved through the test's resolver");
}

/* A name that resolves to nothing: a connection error naming it. */
static void test_resolve__unknown_name_is_a_connection_error_naming_it(void **state) {
    (void)state;
    rcm::core::set_resolve_hook(&hook);
    char seeds[128];
    snprintf(seeds, sizeof seeds, "rcm-nowhere.test:%d", tu_port(TU_PLAIN));
    rcm_config *cfg = rcm_config_new();
    TU_ASSERT_RC(rcm_config_set(cfg, "seeds", seeds), RCM_OK);
    TU_ASSERT_RC(rcm_config_set(cfg, "mode", "standalone"), RCM_OK);
    rcm_client *c = nullptr;
    rcm_status st = rcm_client_open(cfg, &c);
    rcm_config_free(cfg);
    if (st == RCM_OK) rcm_client_close(c);
    if (st != RCM_ERR_CONNECTION || !strstr(rcm_last_error(), "rcm-nowhere.test"))
        fail_msg("open: %s '%s', expected RCM_ERR_CONNECTION naming the host", rcm_status_name(st), rcm_last_error());
}

static void *acquire_lease(void *arg) {
    rcm_lease *l = nullptr;
    rcm_status st = rcm_lease_acquire(static_cast<rcm_client *>(arg), nullptr, 0, &l);
    if (st == RCM_OK) rcm_lease_release(l);
    return reinterpret_cast<void *>(static_cast<intptr_t>(st));
}

/* While one connection's name takes 2.5 s to resolve (a new lease's), the requests on the
 * connections already up on the same I/O thread are served as usual. */
static void test_resolve__slow_lookup_does_not_delay_other_requests(void **state) {
    (void)state;
    rcm::core::set_resolve_hook(&hook);
    rcm_client *c = open_name("rcm-slow.test", "pool.lease_timeout_ms", "10000");
    rcm_reply_free(tu_cmd_ok(c, "SET", "rcm:resolve:slow", "v", NULL));
    g_slow_entered = false;
    g_slow_armed = true;
    pthread_t t;
    assert_int_equal(pthread_create(&t, nullptr, acquire_lease, c), 0);
    for (int i = 0; i < 500 && !g_slow_entered.load(); i++) tu_sleep_ms(10);
    if (!g_slow_entered.load()) fail_msg("the lease's connection never looked its name up");
    double worst = 0;
    double until = tu_now() + 1.0;
    while (tu_now() < until) {
        double t0 = tu_now();
        rcm_reply *r = tu_cmd_ok(c, "GET", "rcm:resolve:slow", NULL);
        double dt = tu_now() - t0;
        if (dt > worst) worst = dt;
        TU_ASSERT_CSTRING_REPLY(r, "v");
        rcm_reply_free(r);
        tu_sleep_ms(20);
    }
    void *res = nullptr;
    pthread_join(t, &res);
    g_slow_armed = false;
    rcm_client_close(c);
    /* A 2.5 s lookup on the I/O thread would hold a GET for seconds. */
    if (worst > 1.5) fail_msg("a GET took %.2f s while another connection's name was being resolved", worst);
    rcm_status st = static_cast<rcm_status>(reinterpret_cast<intptr_t>(res));
    if (st != RCM_OK) fail_msg("the lease behind the slow lookup: %s", rcm_status_name(st));
}

/* Kills the server-side connections of clients named `name` (from a raw connection). */
static int kill_clients_named(const char *name) {
    int fd = tu_raw_connect(tu_port(TU_PLAIN));
    if (fd < 0) fail_msg("raw connection to the server");
    static char list[256 * 1024];
    if (tu_raw_send(fd, "CLIENT", "LIST", NULL) != 0 || tu_raw_read(fd, list, sizeof list, 2000) != 0)
        fail_msg("CLIENT LIST");
    std::string want = std::string(" name=") + name + " ";
    int killed = 0;
    for (char *line = strtok(list, "\n"); line != nullptr; line = strtok(nullptr, "\n")) {
        if (strstr(line, want.c_str()) == nullptr) continue;
        const char *id = strstr(line, "id=");
        if (id == nullptr) continue;
        std::string ids(id + 3, strcspn(id + 3, " "));
        char reply[256];
        if (tu_raw_send(fd, "CLIENT", "KILL", "ID", ids.c_str(), NULL) == 0 && tu_raw_read(fd, reply, sizeof reply, 2000) == 0)
            ++killed;
    }
    tu_raw_close(fd);
    return killed;
}

/* Closing while a reconnect's lookup is under way neither waits for the lookup nor
 * crashes when it ends (its result has nobody to go to). */
static void test_resolve__close_during_a_lookup(void **state) {
    (void)state;
    rcm::core::set_resolve_hook(&hook);
    char name[64];
    snprintf(name, sizeof name, "rcm-resolve-%d", (int)getpid());
    rcm_client *c = open_name("rcm-slow.test", "client_name", name);
    rcm_reply_free(tu_cmd_ok(c, "PING", NULL));
    g_slow_entered = false;
    g_slow_armed = true;
    if (kill_clients_named(name) == 0) fail_msg("no connection named %s to kill", name);
    for (int i = 0; i < 500 && !g_slow_entered.load(); i++) tu_sleep_ms(10);
    if (!g_slow_entered.load()) fail_msg("the reconnect never looked the name up");
    double t0 = tu_now();
    rcm_client_close(c);
    double dt = tu_now() - t0;
    g_slow_armed = false;
    if (dt > 2.0) fail_msg("close took %.2f s waiting for a lookup", dt);
    tu_sleep_ms(3000); /* the lookup ends now, its result dropped */
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resolve__every_address_of_a_name_is_tried),
        cmocka_unit_test(test_resolve__unknown_name_is_a_connection_error_naming_it),
        cmocka_unit_test(test_resolve__slow_lookup_does_not_delay_other_requests),
        cmocka_unit_test(test_resolve__close_during_a_lookup),
    };
    return TU_RUN(tests, argc, argv);
}
