#include "core/config/config.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <limits>

#include "core/common/status.h"

namespace rcm::core {

namespace {

[[noreturn]] void bad(const std::string &what, const std::string &why) {
  throw Error(Status::config, what + ": " + why);
}

long long parse_int(const std::string &key, const std::string &v, long long lo, long long hi) {
  if (v.empty()) bad(key, "empty value, expected an integer");
  errno = 0;
  char *end = nullptr;
  long long n = std::strtoll(v.c_str(), &end, 10);
  if (errno != 0 || end == v.c_str() || *end != '\0')
    bad(key, "'" + v + "' is not an integer");
  if (n < lo || n > hi)
    bad(key, "'" + v + "' is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return n;
}

bool parse_bool(const std::string &key, const std::string &v) {
  std::string s = v;
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  if (s == "true" || s == "1" || s == "yes" || s == "on") return true;
  if (s == "false" || s == "0" || s == "no" || s == "off") return false;
  bad(key, "'" + v + "' is not a boolean (true/false)");
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// "get, mget,HGET" -> {"GET", "MGET", "HGET"}; an empty list caches nothing.
std::vector<std::string> parse_cache_commands(const std::string &key, const std::string &v) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= v.size()) {
    size_t comma = v.find(',', start);
    if (comma == std::string::npos) comma = v.size();
    std::string name = v.substr(start, comma - start);
    name.erase(0, name.find_first_not_of(" \t"));
    name.erase(name.find_last_not_of(" \t") + 1);
    for (char &c : name) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') bad(key, "'" + name + "' is not a command name");
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    if (!name.empty()) out.push_back(name);
    start = comma + 1;
  }
  return out;
}

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(const std::string &s, const std::string &what) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size() || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0) bad(what, "bad %-escape");
      out.push_back(static_cast<char>(hexval(s[i + 1]) * 16 + hexval(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::vector<Endpoint> parse_seed_list(const std::string &text, const std::string &what) {
  std::vector<Endpoint> out;
  size_t start = 0;
  while (true) {
    size_t comma = text.find(',', start);
    std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (item.empty()) bad(what, "empty address in '" + text + "'");
    out.push_back(parse_endpoint(item, what));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace

bool valid_host(const std::string &host) {
  if (host.empty() || host.size() > 255) return false;
  for (char c : host) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' || c == ':' || c == '%'))
      return false;
  }
  return true;
}

bool try_parse_endpoint(const std::string &text, Endpoint *out) {
  try {
    *out = parse_endpoint(text, "address");
    return true;
  } catch (const Error &) {
    return false;
  }
}

std::string Endpoint::str() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

Endpoint parse_endpoint(const std::string &text, const std::string &what, uint16_t default_port) {
  Endpoint ep;
  std::string port_text;
  if (text.empty()) bad(what, "empty address");
  if (text[0] == '[') {
    size_t close = text.find(']');
    if (close == std::string::npos) bad(what, "'" + text + "' has '[' without ']'");
    ep.host = text.substr(1, close - 1);
    std::string rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') bad(what, "'" + text + "' is not [host]:port");
      port_text = rest.substr(1);
      if (port_text.empty()) bad(what, "'" + text + "' has an empty port");
    }
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string::npos) {
      ep.host = text;
    } else {
      ep.host = text.substr(0, colon);
      port_text = text.substr(colon + 1);
      if (port_text.empty()) bad(what, "'" + text + "' has an empty port");
    }
  }
  if (ep.host.empty()) bad(what, "'" + text + "' has an empty host");
  if (!valid_host(ep.host)) bad(what, "'" + text + "' is not host:port (bad character in host)");
  ep.port = default_port;
  if (!port_text.empty()) {
    for (char c : port_text)
      if (!std::isdigit(static_cast<unsigned char>(c))) bad(what, "'" + text + "' is not host:port (port '" + port_text + "')");
    long p = std::strtol(port_text.c_str(), nullptr, 10);
    if (port_text.size() > 5 || p < 1 || p > 65535) bad(what, "'" + text + "': port out of range 1-65535");
    ep.port = static_cast<uint16_t>(p);
  }
  return ep;
}

const char *mode_name(Mode m) {
  switch (m) {
    case Mode::auto_detect: return "auto";
    case Mode::standalone: return "standalone";
    case Mode::cluster: return "cluster";
    case Mode::raft: return "raft";
    case Mode::sentinel: return "sentinel";
  }
  return "?";
}

void Config::set(const std::string &key, const std::string &value) {
  const int kMax = std::numeric_limits<int>::max();
  if (key == "mode") {
    std::string v = lower(value);
    if (v == "auto") mode = Mode::auto_detect;
    else if (v == "standalone") mode = Mode::standalone;
    else if (v == "cluster") mode = Mode::cluster;
    else if (v == "raft") mode = Mode::raft;
    else if (v == "sentinel") mode = Mode::sentinel;
    else bad(key, "'" + value + "' is not one of standalone|cluster|raft|sentinel|auto");
  } else if (key == "seeds") {
    seeds = parse_seed_list(value, key);
  } else if (key == "username") {
    username = value;
  } else if (key == "password") {
    password = value;
  } else if (key == "db") {
    db = static_cast<int>(parse_int(key, value, 0, 1 << 20));
  } else if (key == "client_name") {
    for (char c : value)
      if (c == ' ' || c == '\n' || c == '\r') bad(key, "must not contain spaces or newlines");
    client_name = value;
  } else if (key == "io_threads") {
    io_threads = static_cast<int>(parse_int(key, value, 1, 64));
  } else if (key == "io_spin_us") {
    io_spin_us = static_cast<int>(parse_int(key, value, 0, 10000));
  } else if (key == "sync_spin_us") {
    sync_spin_us = static_cast<int>(parse_int(key, value, 0, 10000));
  } else if (key == "pool.size") {
    pool_size = static_cast<int>(parse_int(key, value, 1, 1024));
  } else if (key == "pool.max_leases") {
    pool_max_leases = static_cast<int>(parse_int(key, value, 0, 65536));
  } else if (key == "pool.lease_timeout_ms") {
    pool_lease_timeout_ms = static_cast<int>(parse_int(key, value, 0, kMax));
  } else if (key == "pool.max_pending") {
    pool_max_pending = static_cast<int>(parse_int(key, value, 1, kMax));
  } else if (key == "pool.health_check_ms") {
    pool_health_check_ms = static_cast<int>(parse_int(key, value, 0, kMax));
  } else if (key == "pool.stall_timeout_ms") {
    pool_stall_timeout_ms = static_cast<int>(parse_int(key, value, 0, kMax));
  } else if (key == "max_reply_bytes") {
    max_reply_bytes = parse_int(key, value, 0, std::numeric_limits<long long>::max());
  } else if (key == "connect_timeout_ms") {
    connect_timeout_ms = static_cast<int>(parse_int(key, value, 1, kMax));
  } else if (key == "command_timeout_ms") {
    command_timeout_ms = static_cast<int>(parse_int(key, value, 0, kMax));
  } else if (key == "retry.max_attempts") {
    retry_max_attempts = static_cast<int>(parse_int(key, value, 1, 1000));
  } else if (key == "retry.backoff_ms") {
    retry_backoff_ms = static_cast<int>(parse_int(key, value, 0, kMax));
  } else if (key == "retry.backoff_max_ms") {
    retry_backoff_max_ms = static_cast<int>(parse_int(key, value, 0, kMax));
  } else if (key == "retry.unsafe") {
    retry_unsafe = parse_bool(key, value);
  } else if (key == "read_from") {
    std::string v = lower(value);
    if (v == "primary") read_from = ReadFrom::primary;
    else if (v == "prefer_replica") read_from = ReadFrom::prefer_replica;
    else if (v == "replica") read_from = ReadFrom::replica;
    else if (v == "nearest") read_from = ReadFrom::nearest;
    else bad(key, "'" + value + "' is not one of primary|prefer_replica|replica|nearest");
  } else if (key == "topology.refresh_ms") {
    topology_refresh_ms = static_cast<int>(parse_int(key, value, 0, kMax));
  } else if (key == "cluster.max_redirects") {
    cluster_max_redirects = static_cast<int>(parse_int(key, value, 0, 100));
  } else if (key == "pubsub.max_pending") {
    pubsub_max_pending = static_cast<int>(parse_int(key, value, 1, kMax));
  } else if (key == "pubsub.node") {
    if (!value.empty()) parse_endpoint(value, key);
    pubsub_node = value;
  } else if (key == "pubsub.callback_threads") {
    pubsub_callback_threads = static_cast<int>(parse_int(key, value, 1, 64));
  } else if (key == "cache.max_bytes") {
    cache_max_bytes = parse_int(key, value, 0, std::numeric_limits<long long>::max());
  } else if (key == "cache.max_entries") {
    cache_max_entries = parse_int(key, value, 1, std::numeric_limits<long long>::max());
  } else if (key == "cache.ttl_ms") {
    cache_ttl_ms = parse_int(key, value, 1, std::numeric_limits<long long>::max());
  } else if (key == "cache.commands") {
    cache_commands = parse_cache_commands(key, value);
  } else if (key == "sentinel.master") {
    if (value.empty()) bad(key, "empty master name");
    sentinel_master = value;
  } else if (key == "sentinel.username") {
    sentinel_username = value;
  } else if (key == "sentinel.password") {
    sentinel_password = value;
  } else if (key == "tls") {
    tls = parse_bool(key, value);
  } else if (key == "tls.ca") {
    tls_ca = value;
  } else if (key == "tls.cert") {
    tls_cert = value;
  } else if (key == "tls.key") {
    tls_key = value;
  } else if (key == "tls.server_name") {
    tls_server_name = value;
  } else if (key == "tls.verify") {
    tls_verify = parse_bool(key, value);
  } else if (key == "tls.verify_hostname") {
    tls_verify_hostname = parse_bool(key, value);
  } else {
    throw Error(Status::config, "unknown config key '" + key + "'");
  }
}

std::string Config::get(const std::string &key) const {
  auto b = [](bool v) { return std::string(v ? "true" : "false"); };
  auto i = [](int v) { return std::to_string(v); };
  if (key == "mode") return mode_name(mode);
  if (key == "seeds") {
    std::string out;
    for (const Endpoint &ep : seeds) out += (out.empty() ? "" : ",") + ep.str();
    return out;
  }
  if (key == "username") return username;
  if (key == "password") return password;
  if (key == "db") return i(db);
  if (key == "client_name") return client_name;
  if (key == "io_threads") return i(io_threads);
  if (key == "io_spin_us") return i(io_spin_us);
  if (key == "sync_spin_us") return i(sync_spin_us);
  if (key == "pool.size") return i(pool_size);
  if (key == "pool.max_leases") return i(pool_max_leases);
  if (key == "pool.lease_timeout_ms") return i(pool_lease_timeout_ms);
  if (key == "pool.max_pending") return i(pool_max_pending);
  if (key == "pool.health_check_ms") return i(pool_health_check_ms);
  if (key == "pool.stall_timeout_ms") return i(pool_stall_timeout_ms);
  if (key == "max_reply_bytes") return std::to_string(max_reply_bytes);
  if (key == "connect_timeout_ms") return i(connect_timeout_ms);
  if (key == "command_timeout_ms") return i(command_timeout_ms);
  if (key == "retry.max_attempts") return i(retry_max_attempts);
  if (key == "retry.backoff_ms") return i(retry_backoff_ms);
  if (key == "retry.backoff_max_ms") return i(retry_backoff_max_ms);
  if (key == "retry.unsafe") return b(retry_unsafe);
  if (key == "read_from") {
    switch (read_from) {
      case ReadFrom::primary: return "primary";
      case ReadFrom::prefer_replica: return "prefer_replica";
      case ReadFrom::replica: return "replica";
      case ReadFrom::nearest: return "nearest";
    }
  }
  if (key == "topology.refresh_ms") return i(topology_refresh_ms);
  if (key == "cluster.max_redirects") return i(cluster_max_redirects);
  if (key == "pubsub.max_pending") return i(pubsub_max_pending);
  if (key == "pubsub.node") return pubsub_node;
  if (key == "pubsub.callback_threads") return i(pubsub_callback_threads);
  if (key == "cache.max_bytes") return std::to_string(cache_max_bytes);
  if (key == "cache.max_entries") return std::to_string(cache_max_entries);
  if (key == "cache.ttl_ms") return std::to_string(cache_ttl_ms);
  if (key == "cache.commands") {
    std::string out;
    for (const std::string &c : cache_commands) out += (out.empty() ? "" : ",") + c;
    return out;
  }
  if (key == "sentinel.master") return sentinel_master;
  if (key == "sentinel.username") return sentinel_username;
  if (key == "sentinel.password") return sentinel_password;
  if (key == "tls") return b(tls);
  if (key == "tls.ca") return tls_ca;
  if (key == "tls.cert") return tls_cert;
  if (key == "tls.key") return tls_key;
  if (key == "tls.server_name") return tls_server_name;
  if (key == "tls.verify") return b(tls_verify);
  if (key == "tls.verify_hostname") return b(tls_verify_hostname);
  throw Error(Status::config, "unknown config key '" + key + "'");
}

namespace {

constexpr size_t kMaxUrlAts = 64;

bool valid_scheme(const std::string &s) {
  if (s.empty() || !std::isalpha(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.')) return false;
  return true;
}

bool is_config_key(const std::string &k) {
  try {
    Config().get(k);
    return true;
  } catch (const Error &) {
    return false;
  }
}

// A query value that contains "password" (any case) may carry one: its errors are not
// quoted.
bool mentions_password(const std::string &v) {
  std::string lower(v);
  for (char &c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower.find("password") != std::string::npos;
}

// "url: 'x:y' is not host:port (port 'y')" -> "url: '...' is not host:port (port '...')".
// When the quoted text itself may hold quotes, all from the first to the last goes. A
// quote left open hides all that follows it: fail closed, not open. (A NUL in the quoted
// text cut what() short that way; apply_url now refuses a NUL before anything is quoted.)
std::string without_quotes(const std::string &msg, bool text_has_quotes) {
  if (text_has_quotes) {
    size_t first = msg.find('\''), last = msg.rfind('\'');
    if (first == std::string::npos) return msg;
    return msg.substr(0, first) + "'...'" + (last == first ? std::string() : msg.substr(last + 1));
  }
  std::string out;
  size_t i = 0;
  while (i < msg.size()) {
    size_t open = msg.find('\'', i);
    size_t close = open == std::string::npos ? std::string::npos : msg.find('\'', open + 1);
    if (close == std::string::npos) {
      out += open == std::string::npos ? msg.substr(i) : msg.substr(i, open - i) + "'...'";
      break;
    }
    // A config key's name or one character ('=', '/') is the message's own words.
    std::string quoted = msg.substr(open + 1, close - open - 1);
    bool own = quoted.size() == 1 || is_config_key(quoted);
    out += msg.substr(i, open - i) + "'" + (own ? quoted : "...") + "'";
    i = close + 1;
  }
  return out;
}

}  // namespace

// One reading of what follows "scheme://": `userinfo` (npos: none) ends at rest[at], the
// hosts follow it up to the first '/', '?' or '#', then [/path][?query][#fragment].
void Config::apply_url_parts(const std::string &scheme, Mode scheme_mode, const std::string &rest, size_t at) {
  const std::string what = "url";
  size_t host_start = 0;
  if (at != std::string::npos) {
    std::string userinfo = rest.substr(0, at);
    host_start = at + 1;
    size_t colon = userinfo.find(':');
    if (colon == std::string::npos) {
      // redis://password@host is a common shorthand (redis-py reads it as a username;
      // we follow the Redis URI spec: a lone userinfo is the password).
      password = percent_decode(userinfo, "url password");
      username.clear();
    } else {
      username = percent_decode(userinfo.substr(0, colon), "url username");
      password = percent_decode(userinfo.substr(colon + 1), "url password");
    }
  }
  size_t host_end = rest.find_first_of("/?#", host_start);
  std::string hosts = rest.substr(host_start, host_end == std::string::npos ? std::string::npos : host_end - host_start);
  std::string tail = host_end == std::string::npos ? std::string() : rest.substr(host_end);
  tail = tail.substr(0, tail.find('#'));  // the fragment means nothing to a client
  std::string path, query;
  size_t q = tail.find('?');
  if (q != std::string::npos) {
    query = tail.substr(q + 1);
    tail = tail.substr(0, q);
  }
  if (!tail.empty()) path = tail.substr(1);  // tail is "/path" here
  if (hosts.empty()) bad(what, "no host in URL");
  seeds = parse_seed_list(hosts, what);

  if (!path.empty()) {
    if (mode == Mode::sentinel) {
      sentinel_master = percent_decode(path, "url sentinel master");
      if (sentinel_master.find('/') != std::string::npos) bad(what, "sentinel master name contains '/'");
    } else {
      for (char c : path)
        if (!std::isdigit(static_cast<unsigned char>(c))) bad(what, "path '/" + path + "' is not a database number");
      db = static_cast<int>(parse_int("url db", path, 0, 1 << 20));
    }
  }
  if (query.empty()) return;
  bool after_password = false;
  size_t start = 0;
  while (start <= query.size()) {
    size_t amp = query.find('&', start);
    std::string kv = query.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
    if (kv.empty()) bad(what, "empty query parameter");
    size_t eq = kv.find('=');
    // Quoted only when it is a key name: otherwise it may be a piece of a password
    // that held an unencoded '&'.
    if (eq == std::string::npos)
      bad(what, is_config_key(kv) ? "query parameter '" + kv + "' has no '='" : "a query parameter has no '='");
    std::string k = percent_decode(kv.substr(0, eq), what);
    std::string v = percent_decode(kv.substr(eq + 1), what);
    if (k.empty()) bad(what, "a query parameter has no name");
    if (k == "seeds") bad(what, "'seeds' cannot be set in the query; the URL's hosts are the seeds");
    try {
      set(k, v);
    } catch (const Error &) {
      // After a password this may be a piece of it that held an unencoded '&'
      // ("password=a&b=c"): the key and the value are not quoted then.
      // So may a value that names a password ("db=1?password=secret": a '?' typed for
      // '&').
      // A piece of a password may be anywhere in the key or the value: say what is wrong
      // without quoting either.
      if (!after_password && !mentions_password(v)) throw;
      if (is_config_key(k))
        bad(what, "query parameter '" + k + "' has an invalid value (not shown: it may hold a piece of a password)");
      bad(what, "unknown config key in the query (not shown: it may be a piece of a password with an unencoded '&')");
    }
    after_password = after_password || k == "password" || k == "sentinel.password" || mentions_password(v);
    if (k == "mode" && scheme.find('+') != std::string::npos && mode != scheme_mode) {
      // redis://h?mode=auto|cluster|...: allowed where the scheme does not say; a
      // redis+cluster:// URL with another mode in its query contradicts itself.
      bad(what, "mode=" + v + " contradicts the " + scheme + ":// scheme (mode " + mode_name(scheme_mode) + ")");
    }
    if (amp == std::string::npos) break;
    start = amp + 1;
  }
}

void Config::apply_url(const std::string &url) {
  const std::string what = "url";
  if (url.empty()) bad(what, "empty URL");
  // No URL holds a raw NUL (a password's NUL is written %00). Refused before any part is
  // quoted: what() ends at a NUL, so a quote opened before it would never close and the
  // redaction could not tell a quoted piece of password from the message's own words.
  if (url.find('\0') != std::string::npos) bad(what, "the URL holds a NUL byte (write it as %00)");
  size_t scheme_end = url.find("://");
  std::string scheme = scheme_end == std::string::npos ? std::string() : lower(url.substr(0, scheme_end));
  if (!valid_scheme(scheme)) {
    // A bare "host:port[,host:port]" list. Anything else is not echoed: without a scheme
    // there is no telling a password ("user:S3cret@host") from the rest.
    if (url.find_first_of("/@?#") != std::string::npos || scheme_end != std::string::npos)
      bad(what, "not a URL with a scheme (redis://, rediss://, redis+cluster://, ...) nor a host:port list");
    seeds = parse_seed_list(url, what);
    return;
  }
  std::string rest = url.substr(scheme_end + 3);
  bool use_tls = false;
  Mode m = mode;
  if (scheme == "redis" || scheme == "valkey") m = mode;
  else if (scheme == "rediss" || scheme == "valkeys") use_tls = true;
  else if (scheme == "redis+cluster" || scheme == "valkey+cluster") m = Mode::cluster;
  else if (scheme == "rediss+cluster" || scheme == "valkeys+cluster") { m = Mode::cluster; use_tls = true; }
  else if (scheme == "redis+raft") m = Mode::raft;
  else if (scheme == "rediss+raft") { m = Mode::raft; use_tls = true; }
  else if (scheme == "redis+sentinel") m = Mode::sentinel;
  else if (scheme == "rediss+sentinel") { m = Mode::sentinel; use_tls = true; }
  else bad(what, "unknown scheme '" + scheme + "' (expected redis, rediss, redis+cluster, redis+raft, redis+sentinel)");

  // Passwords hold unencoded '/', '?', '#', ':' and '@' (base64 ones do), so the '@' that
  // ends the userinfo cannot be found by splitting at the first '/' or '?'. Each reading
  // is tried in turn: no userinfo (an '@' only in the path or query), then each '@' from
  // the first; the first reading that parses wins (with a password holding '@', the last
  // '@', as browsers and libpq read it).
  std::vector<size_t> readings{std::string::npos};
  for (size_t i = rest.find('@'); i != std::string::npos; i = rest.find('@', i + 1)) readings.push_back(i);
  // Each reading costs a pass over the URL: bound them (no password holds this many '@').
  if (readings.size() > kMaxUrlAts + 1) bad(what, "more than " + std::to_string(kMaxUrlAts) + " '@' in the URL");
  for (size_t n = 0; n < readings.size(); ++n) {
    // Work on a copy so a bad URL leaves the config untouched.
    Config next = *this;
    next.mode = m;
    if (use_tls) next.tls = true;
    try {
      next.apply_url_parts(scheme, m, rest, readings[n]);
    } catch (const Error &e) {
      if (n + 1 < readings.size()) continue;
      // With an '@' in it, no part of the URL is known not to be a password (a reading
      // can take a password's tail for the host or the query): say what is wrong, quote
      // nothing. Without one, there is no userinfo to leak.
      if (readings.size() > 1) throw Error(Status::config, without_quotes(e.what(), rest.find('\'') != std::string::npos));
      throw;
    }
    *this = next;
    return;
  }
}

void Config::validate() const {
  if (seeds.empty()) throw Error(Status::config, "seeds: no address given");
  if (tls_cert.empty() != tls_key.empty())
    throw Error(Status::config, "tls.cert and tls.key must be given together");
  if (retry_backoff_max_ms < retry_backoff_ms)
    throw Error(Status::config, "retry.backoff_max_ms must be >= retry.backoff_ms");
  if (mode == Mode::sentinel && sentinel_master.empty())
    throw Error(Status::config, "sentinel.master: mode=sentinel needs a master name");
}

}  // namespace rcm::core
