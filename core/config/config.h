// The client's configuration: one vocabulary for rcm_config_set keys and URLs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rcm::core {

struct Endpoint {
  std::string host;  // without brackets, also for IPv6
  uint16_t port = 6379;
  std::string str() const;  // "host:port", "[v6]:port"
  bool operator==(const Endpoint &o) const { return host == o.host && port == o.port; }
  bool operator!=(const Endpoint &o) const { return !(*this == o); }
};

// Parses "host:port", "[::1]:6379", "::1:6379" (last colon is the port), "host" (default
// port). Throws Error(Status::config) naming `what` and the text.
Endpoint parse_endpoint(const std::string &text, const std::string &what, uint16_t default_port = 6379);

// What parse_endpoint accepts as a host (a name, IPv4, or IPv6 without brackets): every
// address that comes from the network is checked with it once, where it is read, so that
// Endpoint::str() always parses back.
bool valid_host(const std::string &host);
// parse_endpoint without the exception, for code that must not throw (I/O-thread paths).
bool try_parse_endpoint(const std::string &text, Endpoint *out);

enum class Mode { auto_detect, standalone, cluster, raft, sentinel };
enum class ReadFrom { primary, prefer_replica, replica, nearest };

const char *mode_name(Mode m);

using EventCallback = void (*)(int kind, const char *node, const char *detail, void *userdata);

struct Config {
  Mode mode = Mode::auto_detect;
  std::vector<Endpoint> seeds{Endpoint{"127.0.0.1", 6379}};
  std::string username;
  std::string password;
  int db = 0;
  std::string client_name = "rcm";
  int io_threads = 1;
  int io_spin_us = 300;
  int sync_spin_us = 200;

  int pool_size = 2;
  int pool_max_leases = 8;
  int pool_lease_timeout_ms = 1000;
  int pool_max_pending = 65536;
  int pool_health_check_ms = 5000;
  // A connection with requests in flight that reads nothing for this long is dead (a
  // stopped server, a half-open TCP link), unless its oldest request blocks by design.
  int pool_stall_timeout_ms = 60000;

  int connect_timeout_ms = 1000;
  int command_timeout_ms = 1000;
  // One reply's size bound (Redis's proto-max-bulk-len default); 0 = unlimited.
  long long max_reply_bytes = 512LL * 1024 * 1024;

  int retry_max_attempts = 3;
  int retry_backoff_ms = 10;
  int retry_backoff_max_ms = 1000;
  bool retry_unsafe = false;

  ReadFrom read_from = ReadFrom::primary;
  int topology_refresh_ms = 30000;
  int cluster_max_redirects = 5;

  // Pub/Sub: messages waiting per subscriber before the oldest are dropped; the node for
  // channels and patterns in a cluster ("" = a primary rcm picks); callback threads.
  int pubsub_max_pending = 10000;
  std::string pubsub_node;
  int pubsub_callback_threads = 2;

  // Client-side caching (core/cache): off while cache_max_bytes is 0. Entries live at
  // most cache_ttl_ms whatever the server says; cache_commands are upper-case names.
  long long cache_max_bytes = 0;
  long long cache_max_entries = 100000;
  long long cache_ttl_ms = 60000;
  std::vector<std::string> cache_commands{"GET",     "MGET",     "HGET",      "HGETALL", "HMGET",
                                          "EXISTS",  "STRLEN",   "SMEMBERS",  "SISMEMBER", "LRANGE",
                                          "ZRANGE",  "ZSCORE",   "TYPE"};

  std::string sentinel_master;
  std::string sentinel_username;
  std::string sentinel_password;

  bool tls = false;
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_server_name;
  bool tls_verify = true;           // the chain (and, with tls_verify_hostname, the name)
  bool tls_verify_hostname = true;  // false: the chain only (redis-py's ssl_check_hostname=False)

  EventCallback event_cb = nullptr;
  void *event_userdata = nullptr;

  // Sets one key. Throws Error(Status::config) naming the key for an unknown key or bad value.
  void set(const std::string &key, const std::string &value);
  // The value of one key in the form set() takes (seeds joined by commas, booleans as
  // true/false). Throws Error(Status::config) for an unknown key.
  std::string get(const std::string &key) const;
  // Applies a URL on top of the current values. Throws Error(Status::config).
  void apply_url(const std::string &url);
  // One reading of a URL's "userinfo@hosts/path?query" (userinfo up to rest[at]).
  void apply_url_parts(const std::string &scheme, Mode scheme_mode, const std::string &rest, size_t at);
  // Cross-key checks done at open (e.g. tls.cert without tls.key). Throws Error(Status::config).
  void validate() const;
};

}  // namespace rcm::core
