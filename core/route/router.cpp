#include "core/route/router.h"

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <map>

#include "core/common/status.h"
#include "core/resp/encoder.h"
#include "core/route/slot.h"

namespace rcm::core {

namespace {

size_t len_of(const char *const *argv, const size_t *argvlen, int i) {
  return argvlen ? argvlen[i] : std::strlen(argv[i]);
}

bool is(const std::string &name, std::initializer_list<const char *> names) {
  for (const char *n : names)
    if (name == n) return true;
  return false;
}

long long int_arg(const char *const *argv, const size_t *argvlen, int i) {
  std::string s(argv[i], len_of(argv, argvlen, i));
  char *end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (end == s.c_str() || *end != '\0') return -1;
  return v;
}

// A key count larger than the arguments that can hold the keys: the server refuses the
// command ("Number of keys can't be greater than number of args"), and a count near
// LLONG_MAX would overflow any arithmetic on it, so it is refused before any.
[[noreturn]] void too_many_keys(const char *const *argv, const size_t *argvlen, long long n, long long room) {
  throw Error(Status::arg, lower_name(argv[0], len_of(argv, argvlen, 0)) + ": the key count " + std::to_string(n) +
                               " is more than the " + std::to_string(room) + " arguments that can hold keys");
}

void push_numkeys(std::vector<int> &out, int argc, const char *const *argv, const size_t *argvlen, int numkeys_at) {
  if (numkeys_at >= argc) return;
  long long n = int_arg(argv, argvlen, numkeys_at);
  const long long room = argc - numkeys_at - 1;
  if (n > room) too_many_keys(argv, argvlen, n, room);
  for (long long k = 0; k < n; ++k) out.push_back(static_cast<int>(numkeys_at + 1 + k));
}

}  // namespace

namespace {

bool arg_is(const char *const *argv, const size_t *argvlen, int i, const char *lower) {
  size_t n = len_of(argv, argvlen, i);
  if (n != std::strlen(lower)) return false;
  for (size_t k = 0; k < n; ++k)
    if (std::tolower(static_cast<unsigned char>(argv[i][k])) != lower[k]) return false;
  return true;
}

// The keys a COMMAND key spec names (the algorithm of the server's getKeysUsingKeySpecs).
void push_spec_keys(std::vector<int> &out, const KeySpec &s, int argc, const char *const *argv, const size_t *argvlen) {
  int first = 0;
  if (!s.by_keyword) {
    first = s.index;
  } else {
    int start = s.startfrom > 0 ? s.startfrom : argc + s.startfrom;
    int end = s.startfrom > 0 ? argc - 1 : 0;
    for (int i = start; i != end; i = start <= end ? i + 1 : i - 1) {
      if (i >= argc || i < 1) break;
      if (arg_is(argv, argvlen, i, s.keyword.c_str())) {
        first = i + 1;
        break;
      }
    }
    if (first == 0) return;  // the keyword is not there: no keys from this spec
  }
  long long last;
  if (!s.keynum) {
    if (s.lastkey >= 0) last = first + s.lastkey;
    else if (s.limit == 0) last = argc + s.lastkey;
    else last = first + ((argc - first) / s.limit + s.lastkey);
  } else {
    if (first + s.keynumidx >= argc) return;
    long long n = int_arg(argv, argvlen, first + s.keynumidx);
    if (n <= 0) return;
    first += s.firstkey;
    // How many keys fit from `first` on, every keystep-th argument (keystep >= 1, checked
    // when the spec was learned).
    const long long room = first < argc ? (argc - 1 - first) / s.keystep + 1 : 0;
    if (n > room) too_many_keys(argv, argvlen, n, room);
    last = first + (n - 1) * s.keystep;
  }
  // Arguments missing (a syntax error the server will report): the keys that are there.
  for (long long i = first; i <= last && i < argc; i += s.keystep) out.push_back(static_cast<int>(i));
}

// SORT key [BY p] [LIMIT o c] [GET p ...] [ASC|DESC] [ALPHA] [STORE dest]: the server's
// sortGetKeys (the last STORE counts).
void push_sort_keys(std::vector<int> &out, int argc, const char *const *argv, const size_t *argvlen) {
  if (argc < 2) return;
  out.push_back(1);
  int store = 0;
  for (int i = 2; i < argc; ++i) {
    if (arg_is(argv, argvlen, i, "limit")) i += 2;
    else if (arg_is(argv, argvlen, i, "get") || arg_is(argv, argvlen, i, "by")) i += 1;
    else if (arg_is(argv, argvlen, i, "store") && i + 1 < argc) store = i + 1;
  }
  if (store) out.push_back(store);
}

// GEORADIUS key lon lat r unit ... / GEORADIUSBYMEMBER key member r unit ...: the key,
// and the one after the last STORE or STOREDIST (the server's georadiusGetKeys).
void push_geo_keys(std::vector<int> &out, int argc, const char *const *argv, const size_t *argvlen) {
  if (argc < 2) return;
  out.push_back(1);
  int store = 0;
  for (int i = 5; i + 1 < argc; ++i) {
    if (arg_is(argv, argvlen, i, "store") || arg_is(argv, argvlen, i, "storedist")) {
      store = i + 1;
      ++i;
    }
  }
  if (store) out.push_back(store);
}

// MIGRATE host port key|"" db timeout [COPY] [REPLACE] [AUTH pw | AUTH2 user pw]
// [KEYS key...]: the key, or with an empty key the ones after KEYS (the server's
// migrateGetKeys).
void push_migrate_keys(std::vector<int> &out, int argc, const char *const *argv, const size_t *argvlen) {
  if (argc < 6) return;
  if (len_of(argv, argvlen, 3) > 0) {
    out.push_back(3);
    return;
  }
  for (int i = 6; i < argc; ++i) {
    if (arg_is(argv, argvlen, i, "auth")) {
      i += 1;
    } else if (arg_is(argv, argvlen, i, "auth2")) {
      i += 2;
    } else if (arg_is(argv, argvlen, i, "keys")) {
      for (int k = i + 1; k < argc; ++k) out.push_back(k);
      return;
    }
  }
}

}  // namespace

std::vector<int> key_positions(const CommandInfo &info, int argc, const char *const *argv, const size_t *argvlen) {
  std::vector<int> out;
  if (info.specs != nullptr) {
    for (const KeySpec &s : *info.specs) push_spec_keys(out, s, argc, argv, argvlen);
    return out;
  }
  switch (info.key_rule) {
    case KeyRule::numkeys_at_2:
      push_numkeys(out, argc, argv, argvlen, 2);
      return out;
    case KeyRule::numkeys_at_1:
      push_numkeys(out, argc, argv, argvlen, 1);
      return out;
    case KeyRule::dest_numkeys_2:
      if (argc > 1) out.push_back(1);
      push_numkeys(out, argc, argv, argvlen, 2);
      return out;
    case KeyRule::streams:
      for (int i = 1; i < argc; ++i) {
        if (lower_name(argv[i], len_of(argv, argvlen, i)) == "streams") {
          int rest = argc - i - 1;
          for (int k = 0; k < rest / 2; ++k) out.push_back(i + 1 + k);
          break;
        }
      }
      return out;
    case KeyRule::subcommand_key:
      if (argc > 2 && !is(lower_name(argv[1], len_of(argv, argvlen, 1)), {"help", "doctor", "stats", "malloc-stats", "purge"}))
        out.push_back(2);
      return out;
    case KeyRule::sort_store:
      push_sort_keys(out, argc, argv, argvlen);
      return out;
    case KeyRule::geo_store:
      push_geo_keys(out, argc, argv, argvlen);
      return out;
    case KeyRule::migrate:
      push_migrate_keys(out, argc, argv, argvlen);
      return out;
    case KeyRule::spec:
      break;
  }
  if (info.first_key <= 0) return out;
  // 64-bit: a step near INT_MAX must end the loop, not wrap it.
  long long last = info.last_key >= 0 ? info.last_key : static_cast<long long>(argc) + info.last_key;
  long long step = info.step > 0 ? info.step : 1;
  for (long long i = info.first_key; i <= last && i < argc; i += step) out.push_back(static_cast<int>(i));
  return out;
}

namespace {

// SCRIPT LOAD|FLUSH, FUNCTION LOAD|FLUSH|DELETE|RESTORE, CONFIG SET|RESETSTAT change every
// primary; their other subcommands (SCRIPT EXISTS, CONFIG GET...) ask any one.
bool changes_every_primary(int argc, const char *const *argv, const size_t *argvlen) {
  if (argc < 2) return false;
  std::string name = lower_name(argv[0], len_of(argv, argvlen, 0));
  std::string sub = lower_name(argv[1], len_of(argv, argvlen, 1));
  return (name == "script" && is(sub, {"load", "flush"})) ||
         (name == "function" && is(sub, {"load", "flush", "delete", "restore"})) ||
         (name == "config" && is(sub, {"set", "resetstat"}));
}

}  // namespace

RoutePlan plan_route(const CommandInfo &info, int argc, const char *const *argv, const size_t *argvlen) {
  RoutePlan plan;
  // The common case (GET, SET, HSET...): one key at a fixed position, no vector, no names;
  // from the built-in table (first/last key) or from COMMAND's key specs (one spec: an
  // index and a range of one, as push_spec_keys reads it).
  int single = 0;
  if (info.key_rule == KeyRule::spec && info.specs == nullptr && info.first_key > 0 && info.first_key < argc) {
    int last = info.last_key >= 0 ? info.last_key : argc + info.last_key;
    if (last == info.first_key) single = last;
  } else if (info.specs != nullptr && info.specs->size() == 1) {
    const KeySpec &k = info.specs->front();
    if (!k.by_keyword && !k.keynum && k.lastkey == 0 && k.index > 0 && k.index < argc) single = k.index;
  }
  if (single > 0) {
    plan.keys = 1;
    plan.kind = RouteKind::slot;
    plan.slot = key_slot(argv[single], len_of(argv, argvlen, single));
    return plan;
  }
  std::vector<int> keys = key_positions(info, argc, argv, argvlen);
  plan.keys = keys.size();
  if (keys.empty()) {
    // The aggregation rule of each keyless command that is not "any one node".
    switch (info.route_rule) {
      case RouteRule::all_primaries:
        plan.kind = RouteKind::all_primaries;
        plan.agg = Aggregate::first;
        break;
      case RouteRule::by_subcommand:
        if (changes_every_primary(argc, argv, argvlen)) {
          plan.kind = RouteKind::all_primaries;
          plan.agg = Aggregate::first;
        } else {
          plan.kind = RouteKind::any;
        }
        break;
      case RouteRule::sum_all:
        plan.kind = RouteKind::all_primaries;
        plan.agg = Aggregate::sum;
        break;
      case RouteRule::concat_all:
        plan.kind = RouteKind::all_primaries;
        plan.agg = Aggregate::concat;
        break;
      default:
        plan.kind = RouteKind::any;
        break;
    }
    return plan;
  }
  int first_slot = key_slot(argv[keys[0]], len_of(argv, argvlen, keys[0]));
  bool same = true;
  for (size_t k = 1; k < keys.size() && same; ++k)
    same = key_slot(argv[keys[k]], len_of(argv, argvlen, keys[k])) == first_slot;
  plan.kind = RouteKind::slot;
  plan.slot = first_slot;
  if (same) return plan;

  // Keys in several slots: split what can be split, refuse the rest.
  const bool pairs = info.route_rule == RouteRule::split_pairs;
  const bool splittable = pairs || info.route_rule == RouteRule::split_key_order || info.route_rule == RouteRule::split_sum;
  if (!splittable || (pairs && info.step != 2 && info.step != 0))
    throw Error(Status::crossslot, lower_name(argv[0], len_of(argv, argvlen, 0)) +
                                       ": keys hash to different slots (use {hash tags} to keep them together)");
  std::map<int, size_t> by_slot;  // slot -> index in plan.split, in first-seen order
  int span = pairs ? 2 : 1;
  for (size_t k = 0; k < keys.size(); ++k) {
    int pos = keys[k];
    int slot = key_slot(argv[pos], len_of(argv, argvlen, pos));
    auto it = by_slot.find(slot);
    if (it == by_slot.end()) {
      it = by_slot.emplace(slot, plan.split.size()).first;
      plan.split.emplace_back();
      plan.split.back().slot = slot;
    }
    plan.split[it->second].key_index.push_back(static_cast<uint32_t>(k));
  }
  for (SubCommand &sc : plan.split) {
    std::vector<const char *> a{argv[0]};
    std::vector<size_t> l{len_of(argv, argvlen, 0)};
    for (uint32_t k : sc.key_index) {
      for (int j = 0; j < span && keys[k] + j < argc; ++j) {
        a.push_back(argv[keys[k] + j]);
        l.push_back(len_of(argv, argvlen, keys[k] + j));
      }
    }
    encode_command(sc.payload, static_cast<int>(a.size()), a.data(), l.data());
  }
  plan.kind = RouteKind::automatic;
  plan.slot = -1;
  plan.agg = info.route_rule == RouteRule::split_key_order ? Aggregate::key_order
             : pairs                                          ? Aggregate::all_ok
                                                              : Aggregate::sum;
  return plan;
}

}  // namespace rcm::core
