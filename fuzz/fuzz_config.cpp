// fuzz_config: URL and key/value parsing (core/config). A marker password made of
// distinctive tokens is placed where a password goes (the URL's userinfo, its query, or
// the password keys); no error message may quote any token of it. Values set() accepts
// must read back through get() in a form set() takes again, and every seed of a parsed
// URL must print as an address that parses back to itself.
//
// Input: lines. Line 0 picks the layout; S scheme, U user, T and R the text around the
// password, P the password, whose shape is line 3 with each '*' replaced by a token
// (the shape's other characters are the password's own: '/', '@', '?', '%'...):
//   u: S://U:P@T      p: S://P@T      n: U:P@T (no scheme)
//   q: S://T password=P R            s: S://T sentinel.password=P R
//      (T holds the '?' that starts the query and ends where a parameter starts, at '?'
//      or '&', and has no '#': elsewhere P would be a host, a path, a value or a fragment)
//   k: the config has password P; each line from 1 on is "key=value" for set(), or
//      "url <url>" for apply_url().
// Line 6 (u/p/n/q/s), when a valid mode, is set before the URL is applied.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/config/config.h"
#include "fuzz/fuzz_util.h"

using rcm::core::Config;
using rcm::core::Endpoint;
using rcm::core::Error;
using rcm::core::Status;

namespace {

const char *const kTokens[] = {"Qz7", "Kx9", "Wv4", "Jm2", "Hy6", "Tb5", "Rn8"};

std::string lower(std::string s) {
  for (char &c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Case-blind, so that a lower-cased echo is caught too.
const char *token_in(const std::string &text) {
  std::string l = lower(text);
  for (const char *t : kTokens)
    if (l.find(lower(t)) != std::string::npos) return t;
  return nullptr;
}

std::string password_of(const std::string &shape) {
  std::string out;
  size_t n = 0;
  if (shape.find('*') == std::string::npos) out = kTokens[n++];
  for (char c : shape) {
    if (c == '*') out += kTokens[n++ % (sizeof(kTokens) / sizeof(kTokens[0]))];
    else out += c;
  }
  return out;
}

bool query_param_starts(const std::string &t) {
  return t.find('?') != std::string::npos && t.find('#') == std::string::npos && (t.back() == '?' || t.back() == '&');
}

void check_message(const Error &e, const std::string &input) {
  FUZZ_CHECK(e.status() == Status::config, "status %d for '%s': %s", static_cast<int>(e.status()), input.c_str(),
             e.what());
  const char *t = token_in(e.what());
  FUZZ_CHECK(t == nullptr, "the message for '%s' quotes the password's '%s': %s", input.c_str(), t, e.what());
}

// What parsed is usable as it is printed: addresses and get() values parse back.
void check_seeds(const Config &c) {
  for (const Endpoint &ep : c.seeds) {
    Endpoint back;
    FUZZ_CHECK(rcm::core::try_parse_endpoint(ep.str(), &back) && back == ep, "seed '%s' does not parse back",
               ep.str().c_str());
  }
}

void check_get_round_trip(const Config &c, const std::string &key) {
  std::string value = c.get(key);
  Config d;
  try {
    d.set(key, value);
  } catch (const Error &e) {
    FUZZ_CHECK(false, "get('%s') gave '%s', which set() refuses: %s", key.c_str(), value.c_str(), e.what());
  }
  FUZZ_CHECK(d.get(key) == value, "%s: '%s' read back as '%s'", key.c_str(), value.c_str(), d.get(key).c_str());
}

void apply_url(Config &c, const std::string &url) {
  try {
    c.apply_url(url);
  } catch (const Error &e) {
    check_message(e, url);
    return;
  }
  check_seeds(c);
  try {
    c.validate();
  } catch (const Error &e) {
    check_message(e, url);
  }
}

void run_keys(const std::vector<std::string> &lines, const std::string &password) {
  Config c;
  c.set("password", password);
  c.set("sentinel.password", password);
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string &line = lines[i];
    if (line.compare(0, 4, "url ") == 0) {
      apply_url(c, line.substr(4));
      continue;
    }
    size_t eq = line.find('=');
    std::string key = line.substr(0, eq), value = eq == std::string::npos ? "" : line.substr(eq + 1);
    try {
      c.set(key, value);
    } catch (const Error &e) {
      check_message(e, line);
      continue;
    }
    check_get_round_trip(c, key);
  }
  try {
    c.validate();
  } catch (const Error &e) {
    check_message(e, "validate");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string input(reinterpret_cast<const char *>(data), size);
  // A token the input brings itself may be echoed for what it is (a host, a key).
  if (token_in(input) != nullptr) return 0;
  std::vector<std::string> lines;
  for (size_t start = 0;;) {
    size_t nl = input.find('\n', start);
    lines.push_back(input.substr(start, nl == std::string::npos ? std::string::npos : nl - start));
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  lines.resize(std::max<size_t>(lines.size(), 7));
  const std::string layout = lines[0], scheme = lines[1], user = lines[2], tail = lines[4], rest = lines[5];
  const std::string password = password_of(lines[3]);
  std::string url;
  if (layout == "u") url = scheme + "://" + user + ":" + password + "@" + tail;
  else if (layout == "p") url = scheme + "://" + password + "@" + tail;
  else if (layout == "n") url = user + ":" + password + "@" + tail;
  else if ((layout == "q" || layout == "s") && !query_param_starts(tail)) return 0;
  else if (layout == "q") url = scheme + "://" + tail + "password=" + password + rest;
  else if (layout == "s") url = scheme + "://" + tail + "sentinel.password=" + password + rest;
  else if (layout == "k") return run_keys(lines, password), 0;
  else return 0;

  Config c;
  if (!lines[6].empty()) {
    try {
      c.set("mode", lines[6]);
    } catch (const Error &) {
    }
  }
  apply_url(c, url);
  return 0;
}
