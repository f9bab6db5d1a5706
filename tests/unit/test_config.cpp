// unit.config: rcm::core::Config — keys, URLs and addresses, without a server.
#include "core/config/config.h"

#include <string>

#include "core/common/status.h"
#include "tests/unit/check.h"

using rcm::core::Config;
using rcm::core::Endpoint;
using rcm::core::Error;
using rcm::core::Mode;
using rcm::core::ReadFrom;
using rcm::core::Status;

namespace check {
inline std::string show(const Endpoint &e) { return e.str(); }
}  // namespace check

namespace {

// The error is a config error whose message names `what`.
auto config_error_naming(const std::string &what) {
  return [what](const Error &e) {
    return e.status() == Status::config && std::string(e.what()).find(what) != std::string::npos;
  };
}
auto config_error() {
  return [](const Error &e) { return e.status() == Status::config && std::string(e.what()).size() > 0; };
}

Endpoint ep(const std::string &host, uint16_t port) {
  Endpoint e;
  e.host = host;
  e.port = port;
  return e;
}

}  // namespace

// ---- parse_endpoint ---------------------------------------------------------------------

TEST(test_endpoint__host_and_port) {
  CHECK_EQ(rcm::core::parse_endpoint("127.0.0.1:7000", "seeds"), ep("127.0.0.1", 7000));
  CHECK_EQ(rcm::core::parse_endpoint("redis.example.com:6380", "seeds"), ep("redis.example.com", 6380));
  CHECK_EQ(rcm::core::parse_endpoint("localhost", "seeds"), ep("localhost", 6379));
  CHECK_EQ(rcm::core::parse_endpoint("localhost", "seeds", 26379), ep("localhost", 26379));
  CHECK_EQ(rcm::core::parse_endpoint("h:1", "seeds"), ep("h", 1));
  CHECK_EQ(rcm::core::parse_endpoint("h:65535", "seeds"), ep("h", 65535));
}

TEST(test_endpoint__ipv6_bracketed_and_bare) {
  CHECK_EQ(rcm::core::parse_endpoint("[::1]:6379", "seeds"), ep("::1", 6379));
  CHECK_EQ(rcm::core::parse_endpoint("[::1]:7001", "seeds"), ep("::1", 7001));
  CHECK_EQ(rcm::core::parse_endpoint("[::1]", "seeds"), ep("::1", 6379));
  CHECK_EQ(rcm::core::parse_endpoint("[2001:db8::7]:7002", "seeds"), ep("2001:db8::7", 7002));
  // the bare form of CLUSTER NODES / MOVED: the last colon separates the port
  CHECK_EQ(rcm::core::parse_endpoint("::1:6379", "seeds"), ep("::1", 6379));
  CHECK_EQ(rcm::core::parse_endpoint("2001:db8::7:7002", "seeds"), ep("2001:db8::7", 7002));
  CHECK_EQ(rcm::core::parse_endpoint("fe80::1:6380", "seeds"), ep("fe80::1", 6380));
}

TEST(test_endpoint__str_round_trips) {
  CHECK_EQ(ep("127.0.0.1", 7000).str(), std::string("127.0.0.1:7000"));
  CHECK_EQ(ep("::1", 6379).str(), std::string("[::1]:6379"));
  CHECK_EQ(rcm::core::parse_endpoint(ep("2001:db8::7", 1).str(), "x"), ep("2001:db8::7", 1));
  CHECK_EQ(rcm::core::parse_endpoint(ep("host", 42).str(), "x"), ep("host", 42));
}

TEST(test_endpoint__malformed_named) {
  const char *bad[] = {"",          "h:",        ":6379",     "h:x",      "h:0",
                       "h:65536",   "h:-1",      "h:99999999", "[::1",     "[::1]:",
                       "[::1]x",    "[]:6379",   "h:6379x",    "h o:6379", "h:6 379"};
  for (const char *b : bad) {
    CHECK_THROWS_IF(rcm::core::parse_endpoint(b, "seeds"), Error, config_error_naming("seeds"));
  }
}

// ---- Config::set --------------------------------------------------------------------------

TEST(test_config__defaults) {
  Config c;
  CHECK(c.mode == Mode::auto_detect);
  REQUIRE(c.seeds.size() == 1);
  CHECK_EQ(c.seeds[0], ep("127.0.0.1", 6379));
  CHECK_EQ(c.db, 0);
  CHECK_EQ(c.client_name, std::string("rcm"));
  CHECK_EQ(c.io_threads, 1);
  CHECK_EQ(c.io_spin_us, 300);
  CHECK_EQ(c.sync_spin_us, 200);
  CHECK_EQ(c.pool_size, 2);
  CHECK_EQ(c.pool_max_leases, 8);
  CHECK_EQ(c.pool_lease_timeout_ms, 1000);
  CHECK_EQ(c.pool_max_pending, 65536);
  CHECK_EQ(c.pool_health_check_ms, 5000);
  CHECK_EQ(c.pool_stall_timeout_ms, 60000);
  CHECK_EQ(c.max_reply_bytes, 536870912LL);
  CHECK_EQ(c.connect_timeout_ms, 1000);
  CHECK_EQ(c.command_timeout_ms, 1000);
  CHECK_EQ(c.retry_max_attempts, 3);
  CHECK_EQ(c.retry_backoff_ms, 10);
  CHECK_EQ(c.retry_backoff_max_ms, 1000);
  CHECK(!c.retry_unsafe);
  CHECK(c.read_from == ReadFrom::primary);
  CHECK_EQ(c.topology_refresh_ms, 30000);
  CHECK_EQ(c.cluster_max_redirects, 5);
  CHECK(!c.tls);
  CHECK(c.tls_verify);
}

TEST(test_config__set_keys) {
  Config c;
  c.set("mode", "cluster");
  CHECK(c.mode == Mode::cluster);
  c.set("mode", "raft");
  CHECK(c.mode == Mode::raft);
  c.set("mode", "sentinel");
  CHECK(c.mode == Mode::sentinel);
  c.set("mode", "standalone");
  CHECK(c.mode == Mode::standalone);
  c.set("mode", "auto");
  CHECK(c.mode == Mode::auto_detect);
  c.set("seeds", "10.0.0.1:7000,10.0.0.2:7001,[::1]:7002");
  REQUIRE(c.seeds.size() == 3);
  CHECK_EQ(c.seeds[0], ep("10.0.0.1", 7000));
  CHECK_EQ(c.seeds[1], ep("10.0.0.2", 7001));
  CHECK_EQ(c.seeds[2], ep("::1", 7002));
  c.set("username", "u");
  c.set("password", "p w");
  CHECK_EQ(c.username, std::string("u"));
  CHECK_EQ(c.password, std::string("p w"));
  c.set("db", "12");
  CHECK_EQ(c.db, 12);
  c.set("pool.size", "7");
  CHECK_EQ(c.pool_size, 7);
  c.set("pool.max_leases", "3");
  CHECK_EQ(c.pool_max_leases, 3);
  c.set("pool.lease_timeout_ms", "250");
  CHECK_EQ(c.pool_lease_timeout_ms, 250);
  c.set("connect_timeout_ms", "1500");
  CHECK_EQ(c.connect_timeout_ms, 1500);
  c.set("command_timeout_ms", "0");
  CHECK_EQ(c.command_timeout_ms, 0);
  c.set("retry.unsafe", "yes");
  CHECK(c.retry_unsafe);
  c.set("retry.unsafe", "0");
  CHECK(!c.retry_unsafe);
  c.set("read_from", "prefer_replica");
  CHECK(c.read_from == ReadFrom::prefer_replica);
  c.set("read_from", "replica");
  CHECK(c.read_from == ReadFrom::replica);
  c.set("tls", "true");
  CHECK(c.tls);
  c.set("tls.verify", "false");
  CHECK(!c.tls_verify);
  c.set("tls.ca", "/x/ca.crt");
  CHECK_EQ(c.tls_ca, std::string("/x/ca.crt"));
  c.set("sentinel.master", "mymaster");
  CHECK_EQ(c.sentinel_master, std::string("mymaster"));
}

TEST(test_config__cache_keys) {
  Config c;
  CHECK_EQ(c.cache_max_bytes, 0LL);  // off by default
  CHECK_EQ(c.get("cache.commands"),
           std::string("GET,MGET,HGET,HGETALL,HMGET,EXISTS,STRLEN,SMEMBERS,SISMEMBER,LRANGE,ZRANGE,ZSCORE,TYPE"));
  c.set("cache.max_bytes", "1048576");
  c.set("cache.max_entries", "10");
  c.set("cache.ttl_ms", "250");
  c.set("cache.commands", " get, hget ,,ZSCORE");
  CHECK_EQ(c.cache_max_bytes, 1048576LL);
  CHECK_EQ(c.cache_max_entries, 10LL);
  CHECK_EQ(c.cache_ttl_ms, 250LL);
  CHECK_EQ(c.get("cache.commands"), std::string("GET,HGET,ZSCORE"));
  c.set("cache.commands", "");
  CHECK(c.cache_commands.empty());
  Config u;
  u.apply_url("redis://h:1/0?cache.max_bytes=4096&cache.ttl_ms=5");
  CHECK_EQ(u.cache_max_bytes, 4096LL);
  CHECK_EQ(u.cache_ttl_ms, 5LL);
}

TEST(test_config__unknown_key_named) {
  Config c;
  CHECK_THROWS_IF(c.set("pool.sizee", "1"), Error, config_error_naming("pool.sizee"));
  CHECK_THROWS_IF(c.set("nonsense", "1"), Error, config_error_naming("nonsense"));
}

TEST(test_config__bad_values_named_and_not_applied) {
  const char *kv[][2] = {{"pool.size", "0"},          {"pool.size", "abc"},
                         {"pool.size", "-1"},         {"pool.size", ""},
                         {"pool.size", "3x"},         {"connect_timeout_ms", "-5"},
                         {"command_timeout_ms", "x"}, {"tls.verify", "maybe"},
                         {"retry.unsafe", "2"},       {"mode", "bogus"},
                         {"read_from", "x"},          {"db", "-1"},
                         {"seeds", ""},               {"seeds", "a:1,,b:2"},
                         {"seeds", "a:x"},            {"io_threads", "0"},
                         {"io_spin_us", "-1"},        {"io_spin_us", "10001"},
                         {"sync_spin_us", "-1"},      {"sync_spin_us", "10001"},
                         {"max_reply_bytes", "-1"},   {"max_reply_bytes", "1MiB"},
                         {"pool.stall_timeout_ms", "-1"}, {"cache.max_bytes", "-1"},
                         {"cache.max_entries", "0"},  {"cache.ttl_ms", "0"},
                         {"cache.commands", "GET,G ET"}};
  for (auto &p : kv) {
    Config c;
    CHECK_THROWS_IF(c.set(p[0], p[1]), Error, config_error_naming(p[0]));
    CHECK_EQ(c.pool_size, 2);  // untouched
    CHECK(c.mode == Mode::auto_detect);
  }
}

// ---- Config::apply_url ----------------------------------------------------------------------

TEST(test_url__host_port_db_query) {
  Config c;
  c.apply_url("redis://10.1.2.3:7000/5?pool.size=4&command_timeout_ms=250");
  REQUIRE(c.seeds.size() == 1);
  CHECK_EQ(c.seeds[0], ep("10.1.2.3", 7000));
  CHECK_EQ(c.db, 5);
  CHECK_EQ(c.pool_size, 4);
  CHECK_EQ(c.command_timeout_ms, 250);
  CHECK(!c.tls);
  CHECK(c.mode == Mode::auto_detect);
}

TEST(test_url__default_port_and_no_db) {
  Config c;
  c.apply_url("redis://example.com");
  REQUIRE(c.seeds.size() == 1);
  CHECK_EQ(c.seeds[0], ep("example.com", 6379));
  CHECK_EQ(c.db, 0);
  Config d;
  d.apply_url("redis://example.com/");
  CHECK_EQ(d.db, 0);
}

TEST(test_url__several_seeds) {
  Config c;
  c.apply_url("redis://a:1,b:2,[::1]:3,c");
  REQUIRE(c.seeds.size() == 4);
  CHECK_EQ(c.seeds[0], ep("a", 1));
  CHECK_EQ(c.seeds[1], ep("b", 2));
  CHECK_EQ(c.seeds[2], ep("::1", 3));
  CHECK_EQ(c.seeds[3], ep("c", 6379));
  Config bare;
  bare.apply_url("127.0.0.1:7000,127.0.0.1:7001");
  REQUIRE(bare.seeds.size() == 2);
  CHECK_EQ(bare.seeds[1], ep("127.0.0.1", 7001));
}

TEST(test_url__ipv6_seeds) {
  Config c;
  c.apply_url("redis://[::1]:6379");
  REQUIRE(c.seeds.size() == 1);
  CHECK_EQ(c.seeds[0], ep("::1", 6379));
  Config d;
  d.apply_url("redis://[2001:db8::1]:7000,[2001:db8::2]:7001/2");
  REQUIRE(d.seeds.size() == 2);
  CHECK_EQ(d.seeds[0], ep("2001:db8::1", 7000));
  CHECK_EQ(d.seeds[1], ep("2001:db8::2", 7001));
  CHECK_EQ(d.db, 2);
}

TEST(test_url__userinfo_user_and_password) {
  Config c;
  c.apply_url("redis://alice:s3cret@h:6379");
  CHECK_EQ(c.username, std::string("alice"));
  CHECK_EQ(c.password, std::string("s3cret"));
  CHECK_EQ(c.seeds[0], ep("h", 6379));
}

TEST(test_url__userinfo_password_only) {
  Config c;
  c.apply_url("redis://:s3cret@h:6379/1");
  CHECK_EQ(c.username, std::string(""));
  CHECK_EQ(c.password, std::string("s3cret"));
  CHECK_EQ(c.db, 1);
}

TEST(test_url__userinfo_percent_decoded) {
  Config c;
  c.apply_url("redis://us%40r:p%40ss%3Aw%2Frd@h:1");
  CHECK_EQ(c.username, std::string("us@r"));
  CHECK_EQ(c.password, std::string("p@ss:w/rd"));
}

TEST(test_url__rediss_sets_tls) {
  Config c;
  c.apply_url("rediss://h:6380");
  CHECK(c.tls);
  CHECK_EQ(c.seeds[0], ep("h", 6380));
  Config d;
  d.apply_url("redis://h:6380");
  CHECK(!d.tls);
}

TEST(test_url__schemes_set_mode) {
  Config a;
  a.apply_url("redis+cluster://h:7000,h:7001");
  CHECK(a.mode == Mode::cluster);
  CHECK_EQ(a.seeds.size(), static_cast<size_t>(2));
  Config b;
  b.apply_url("redis+raft://h:5001");
  CHECK(b.mode == Mode::raft);
  Config s;
  s.apply_url("redis+sentinel://h:26379,h:26380/mymaster");
  CHECK(s.mode == Mode::sentinel);
  CHECK_EQ(s.sentinel_master, std::string("mymaster"));
  CHECK_EQ(s.seeds.size(), static_cast<size_t>(2));
  CHECK_EQ(s.seeds[0], ep("h", 26379));
  CHECK_EQ(s.db, 0);
}

TEST(test_url__applies_on_top_of_current_values) {
  Config c;
  c.set("pool.size", "9");
  c.set("password", "keep");
  c.apply_url("redis://h:1");
  CHECK_EQ(c.pool_size, 9);
  CHECK_EQ(c.password, std::string("keep"));
}

TEST(test_url__malformed_is_config_error_and_leaves_config_untouched) {
  const char *bad[] = {"",
                       "http://h:1",
                       "redis+bogus://h:1",
                       "redis://",
                       "redis://h:notaport",
                       "redis://h:99999",
                       "redis://h:-1",
                       "redis://h:",
                       "redis://[::1",
                       "redis://[::1]junk:1",
                       "redis://[]:1",
                       "redis://h:1/notadb",
                       "redis://h:1/-1",
                       "redis://h:1/0/extra",
                       "redis://h:1,,h:2",
                       "redis://h:1?nosuchkey=1",
                       "redis://h:1?pool.size=abc",
                       "redis://h:1?pool.size",
                       "redis://h:1?connect_timeout_ms=-5",
                       "redis://h:1?tls.verify=maybe",
                       "redis://u:p@"};
  for (const char *u : bad) {
    Config c;
    c.set("pool.size", "5");
    CHECK_THROWS_IF(c.apply_url(u), Error, config_error());
    CHECK_EQ(c.pool_size, 5);
    REQUIRE(c.seeds.size() == 1);
    CHECK_EQ(c.seeds[0], ep("127.0.0.1", 6379));
  }
}

namespace {

// The URL is refused (a config error) with a message that says `says` and holds no `never`.
void check_refused(const std::string &url, const char *says, const char *never = nullptr) {
  Config cfg;
  try {
    cfg.apply_url(url);
    ::check::report(__FILE__, __LINE__, "'" + url + "' was accepted");
  } catch (const Error &e) {
    std::string msg = e.what();
    if (e.status() != Status::config || msg.find(says) == std::string::npos)
      ::check::report(__FILE__, __LINE__, "'" + url + "': '" + msg + "' does not say '" + says + "'");
    if (never != nullptr && msg.find(never) != std::string::npos)
      ::check::report(__FILE__, __LINE__, "'" + url + "': '" + msg + "' quotes '" + never + "'");
  }
}

}  // namespace

// Each malformed URL is refused with a message that says what is wrong with it.
TEST(test_url__malformed_messages_name_the_problem) {
  struct {
    const char *url, *says;
  } cases[] = {
      {"", "empty URL"},
      {"http://h:1", "unknown scheme 'http'"},
      {"redis://", "no host"},
      {"redis://h:notaport", "port 'notaport'"},
      {"redis://h:99999", "port out of range"},
      {"redis://127.0.0.1:", "empty port"},
      {"redis://h:1/0/extra", "'/0/extra' is not a database number"},
      {"redis://[::1", "'[' without ']'"},
      {"redis://h:1?pool.size", "'pool.size' has no '='"},
      {"redis://h:1?=1", "has no name"},
      {"redis://h:1,,h:2", "empty address"},
      {"redis://%zz@h:1", "bad %-escape"},
      {"redis://h:1?seeds=x", "the URL's hosts are the seeds"},
      {"redis+cluster://h:1?mode=standalone", "contradicts the redis+cluster:// scheme"},
  };
  for (const auto &c : cases) check_refused(c.url, c.says);
}

TEST(test_url__mode_in_the_query) {
  Config a;
  a.apply_url("redis://h:1?mode=cluster");
  CHECK(a.mode == Mode::cluster);
  Config b;
  b.set("mode", "standalone");
  b.apply_url("redis://h:1?mode=auto&pool.size=3");
  CHECK(b.mode == Mode::auto_detect);
  CHECK_EQ(b.pool_size, 3);
  Config c;
  c.apply_url("redis+cluster://h:1?mode=cluster");  // agrees with the scheme
  CHECK(c.mode == Mode::cluster);
  Config d;
  d.set("mode", "cluster");
  CHECK_THROWS_IF(d.apply_url("redis+cluster://h:1?mode=raft"), Error, config_error_naming("mode=raft"));
  CHECK_THROWS_IF(d.apply_url("redis://h:1?mode=nonsense"), Error, config_error_naming("mode"));
}

TEST(test_url__bad_query_value_names_the_key) {
  Config c;
  CHECK_THROWS_IF(c.apply_url("redis://h:1?pool.size=abc"), Error, config_error_naming("pool.size"));
  CHECK_THROWS_IF(c.apply_url("redis://h:1?no.such.key=1"), Error, config_error_naming("no.such.key"));
}

TEST(test_url__error_never_shows_password) {
  Config c;
  try {
    c.apply_url("redis://u:TopS3cretPw@h:badport");
    CHECK(false);
  } catch (const Error &e) {
    CHECK(std::string(e.what()).find("TopS3cretPw") == std::string::npos);
  }
  try {
    c.apply_url("redis://:TopS3cretPw@h:1/x");
    CHECK(false);
  } catch (const Error &e) {
    CHECK(std::string(e.what()).find("TopS3cretPw") == std::string::npos);
  }
}

// Found by fuzz_config: a password in the query holding '@' and a NUL after it. The
// message quotes the text after the '@' as a host, what() cuts it at the NUL, and the
// quote left open must still hide the password's tail ("Wv4").
TEST(test_url__errors_never_quote_the_password_cut_at_a_nul) {
  const std::string nul_tail = std::string("&pool") + '\0' + "x";
  check_refused("redis://h:1?password=Qz7&Kx9@Wv4" + nul_tail, "url: ", "Wv4");
  // A quote in the URL: the other redaction.
  check_refused("redis://h:1?password=Qz7'Kx9@Wv4" + nul_tail, "url: ", "Wv4");
  // A quote after the '@' (found by fuzz_config in CI): the "host" opens with it, so the
  // message's last quote is the password's own and its tail followed it.
  check_refused("redis://h1?password=Qz7@'Kx9Wv4&ool" + nul_tail, "NUL", "Kx9");
  check_refused("redis://h1?password=Qz7@'Kx9Wv4" + std::string(1, '\0'), "NUL", "Kx9");
}

// Found by fuzz_config: a password in the query holding an unencoded '&' followed by
// "name=value" makes a parameter of its tail; the message about that parameter must not
// quote it (it still names a real key). Before the password, values are quoted as ever.
TEST(test_url__query_password_tail_is_not_quoted) {
  check_refused("redis://h:1?password=Qz7&Kx9pool.size=x", "unknown config key", "Kx9");
  check_refused("redis://h:1?password=Qz7&pool.size=Kx9", "pool.size", "Kx9");
  check_refused("redis://h:1?db=1&sentinel.password=Qz7&Kx9=1", "unknown config key", "Kx9");
  check_refused("redis://h:1?pool.size=abc&password=p", "'abc'");
  // A '?' typed for '&' puts the password into the previous value (found by fuzz_config).
  check_refused("redis://h:1?db=1?password=Qz7", "db", "Qz7");
  check_refused("redis://h:1?pool.size=2?PASSWORD=Qz7&x=1", "pool.size", "Qz7");
  // ... and the parameters after such a value: they may be the rest of that password.
  check_refused("redis://h:1?client_name=a?password=Qz7&Kx9pool.size=x", "unknown config key", "Kx9");
  // ... also when the value holds a quote and a NUL cuts the message short.
  check_refused(std::string("redis://h:1?db=1?password='Qz7\0t", 32) + "Kx9", "NUL", "Qz7");
}

TEST(test_config__validate_cross_key_checks) {
  Config ok;
  ok.validate();
  Config cert_only;
  cert_only.set("tls.cert", "/c.crt");
  CHECK_THROWS_IF(cert_only.validate(), Error, config_error_naming("tls.key"));
  Config sentinel;
  sentinel.set("mode", "sentinel");
  CHECK_THROWS_IF(sentinel.validate(), Error, config_error_naming("sentinel.master"));
  sentinel.set("sentinel.master", "m");
  sentinel.validate();
}

namespace {

// A marker password with every character that splits a URL: each piece is distinctive,
// so a message quoting any part of it is caught.
const char *const kMarker = "Qz7/Kx9?Wv4#Jm2:Hy6@Tb5&Rn8";
const char *const kMarkerPieces[] = {"Qz7", "Kx9", "Wv4", "Jm2", "Hy6", "Tb5", "Rn8"};

std::string leaked_piece(const std::string &text) {
  for (const char *p : kMarkerPieces)
    if (text.find(p) != std::string::npos) return p;
  return "";
}

}  // namespace

// Item 7: the userinfo ends at the '@' after which the URL parses (the last one for a
// password with '@'), so unencoded '/', '?', '#', ':', '@' in a password work.
TEST(test_url__unencoded_specials_in_the_password) {
  const std::string m = kMarker;
  Config a;
  a.apply_url("redis://user:" + m + "@h:1/2");
  CHECK_EQ(a.username, std::string("user"));
  CHECK_EQ(a.password, m);
  REQUIRE(a.seeds.size() == 1);
  CHECK_EQ(a.seeds[0], ep("h", 1));
  CHECK_EQ(a.db, 2);
  Config b;
  b.apply_url("rediss+cluster://:" + m + "@h1:1,h2:2?pool.size=3#frag");
  CHECK_EQ(b.password, m);
  CHECK_EQ(b.seeds.size(), static_cast<size_t>(2));
  CHECK_EQ(b.pool_size, 3);
  CHECK(b.tls);
  Config c;
  c.apply_url("redis+sentinel://" + std::string("Ab/c?d@s1:26379/mymaster"));  // a lone userinfo is the password
  CHECK_EQ(c.password, std::string("Ab/c?d"));
  CHECK_EQ(c.sentinel_master, std::string("mymaster"));
  Config d;
  d.apply_url("redis://h:1?password=p@ss&sentinel.password=x/y@z");  // '@' only in the query
  CHECK_EQ(d.password, std::string("p@ss"));
  CHECK_EQ(d.sentinel_password, std::string("x/y@z"));
  REQUIRE(d.seeds.size() == 1);
  CHECK_EQ(d.seeds[0], ep("h", 1));
  Config e;
  e.apply_url("redis://h:1#fragment");
  CHECK_EQ(e.seeds[0], ep("h", 1));
}

// Item 7: no message of a refused URL quotes any part of its password, whatever the
// mistake and wherever the password is.
TEST(test_url__errors_never_quote_the_password) {
  const std::string m = kMarker;
  const std::string q = "Qz7/Kx9?Wv4:Hy6@Tb5&Rn8";
  const std::string urls[] = {
      "user:" + m + "@host:6379",            // no scheme
      m + "@host",                           // no scheme, lone password
      "user:" + m + "@host:6379/0",
      "redis:/user:" + m + "@host",          // one slash
      "user:a://" + m + "@host",             // "://" inside the password
      "redis://user:" + m + "@h:badport",
      "redis://user:" + m + "@h:99999",
      "redis://user:" + m + "@h:1/notadb",
      "redis://user:" + m + "@h:1/0/extra",
      "redis://user:" + m + "@h:1?pool.size=abc",
      "redis://user:" + m + "@h:1?pool.size",
      "redis://user:" + m + "@h:1?nosuchkey=1",
      "redis://user:" + m + "@",
      "redis://user:" + m + "@[::1",
      "redis://user:" + m + "@bad host:1",
      "redis://user:" + m + "%zz@h:1",
      "redis://" + m + "@h:1,,h:2",
      "redis+sentinel://user:" + m + "@s:1/a/b",
      "redis+cluster://user:" + m + "@h:1?mode=standalone",
      "redis://user:" + m + "'x'y@h:badport",  // quotes in the password
      // in the query ('#' would start a fragment there): an unencoded '&' and '@'
      "redis://h:1?password=" + q + "&x",
      "redis://h:1?pool.size=1&" + q,
      "redis://h:1?password=" + q + "&=1",
      "redis://h:1?password=" + q + "&pool.size=x",
      "redis://h:x?password=" + q,
  };
  for (const std::string &u : urls) {
    Config c;
    try {
      c.apply_url(u);
      ::check::report(__FILE__, __LINE__, "accepted: " + u);
    } catch (const Error &e) {
      std::string piece = leaked_piece(e.what());
      if (e.status() != Status::config) ::check::report(__FILE__, __LINE__, std::string("not a config error: ") + e.what());
      if (!piece.empty()) ::check::report(__FILE__, __LINE__, "'" + u + "' -> '" + e.what() + "' quotes " + piece);
    }
    CHECK(c.password.empty());  // and the config is untouched
  }
  // Each '@' is one reading of the URL: a URL of nothing but '@' is refused at once.
  Config c;
  CHECK_THROWS_IF(c.apply_url("redis://" + std::string(100000, '@') + "h:1"), Error, config_error());
}

CHECK_MAIN
