#include "core/route/command_table.h"

#include <atomic>
#include <cctype>
#include <cstring>
#include <initializer_list>

#include "core/resp/reply.h"

namespace rcm::core {

namespace {

const char *const kReadonly[] = {
    "get", "mget", "strlen", "getrange", "substr", "exists", "type", "ttl", "pttl", "expiretime",
    "pexpiretime", "keys", "scan", "randomkey", "dbsize", "hget", "hmget", "hgetall", "hkeys",
    "hvals", "hlen", "hexists", "hstrlen", "hscan", "hrandfield", "lrange", "llen", "lindex",
    "lpos", "scard", "smembers", "sismember", "smismember", "srandmember", "sscan", "sinter",
    "sunion", "sdiff", "sintercard", "zcard", "zcount", "zrange", "zrangebyscore", "zrevrange",
    "zrevrangebyscore", "zrangebylex", "zrevrangebylex", "zlexcount", "zrank", "zrevrank",
    "zscore", "zmscore", "zscan", "zrandmember", "zinter", "zunion", "zdiff", "zintercard",
    "getbit", "bitcount", "bitpos", "bitfield_ro", "pfcount", "xrange", "xrevrange", "xlen",
    "xread", "xinfo", "xpending", "geodist", "geohash", "geopos", "georadius_ro",
    "georadiusbymember_ro", "geosearch", "dump", "object", "memory", "ping", "echo", "time",
    "info", "lastsave", "role", "command", "lolwut", "eval_ro", "evalsha_ro", "fcall_ro",
    "sort_ro", "touch", "lcs", "hello", "pubsub", "cluster"};

const char *const kWrite[] = {
    "set", "setnx", "setex", "psetex", "mset", "msetnx", "append", "incr", "decr", "incrby",
    "decrby", "incrbyfloat", "getset", "getdel", "getex", "del", "unlink", "expire", "pexpire",
    "expireat", "pexpireat", "persist", "rename", "renamenx", "hset", "hsetnx", "hmset", "hdel",
    "hincrby", "hincrbyfloat", "lpush", "rpush", "lpushx", "rpushx", "lpop", "rpop", "lset",
    "lrem", "ltrim", "linsert", "lmove", "rpoplpush", "lmpop", "sadd", "srem", "spop", "smove",
    "sinterstore", "sunionstore", "sdiffstore", "zadd", "zincrby", "zrem", "zpopmin", "zpopmax",
    "zremrangebyscore", "zremrangebyrank", "zremrangebylex", "zunionstore", "zinterstore",
    "zdiffstore", "zrangestore", "zmpop", "setbit", "setrange", "bitop", "bitfield", "pfadd",
    "pfmerge", "xadd", "xdel", "xtrim", "xack", "xclaim", "xautoclaim", "xgroup", "xsetid",
    "geoadd", "georadius", "georadiusbymember", "geosearchstore", "restore", "copy", "move",
    "sort", "eval", "evalsha", "fcall", "flushall", "flushdb", "publish", "spublish", "script",
    "function", "config", "debug", "client", "swapdb", "migrate", "xreadgroup", "restore-asking",
    "pfdebug"};

// Hold the connection until something happens elsewhere: a shared connection would stall
// everything queued behind them.
const char *const kBlocking[] = {"blpop", "brpop", "brpoplpush", "blmove", "blmpop", "bzpopmin",
                                 "bzpopmax", "bzmpop", "wait", "waitaof"};

struct Key {
  const char *name;
  int first, last, step;
};
// Key positions for the common commands; COMMAND replaces these when it answers.
const Key kKeys[] = {
    {"get", 1, 1, 1}, {"set", 1, 1, 1}, {"setnx", 1, 1, 1}, {"setex", 1, 1, 1},
    {"psetex", 1, 1, 1}, {"getset", 1, 1, 1}, {"getdel", 1, 1, 1}, {"getex", 1, 1, 1},
    {"append", 1, 1, 1}, {"strlen", 1, 1, 1}, {"incr", 1, 1, 1}, {"decr", 1, 1, 1},
    {"incrby", 1, 1, 1}, {"decrby", 1, 1, 1}, {"incrbyfloat", 1, 1, 1}, {"getrange", 1, 1, 1},
    {"setrange", 1, 1, 1}, {"mget", 1, -1, 1}, {"mset", 1, -1, 2}, {"msetnx", 1, -1, 2},
    {"del", 1, -1, 1}, {"unlink", 1, -1, 1}, {"exists", 1, -1, 1}, {"touch", 1, -1, 1},
    {"expire", 1, 1, 1}, {"pexpire", 1, 1, 1}, {"expireat", 1, 1, 1}, {"pexpireat", 1, 1, 1},
    {"ttl", 1, 1, 1}, {"pttl", 1, 1, 1}, {"persist", 1, 1, 1}, {"type", 1, 1, 1},
    {"rename", 1, 2, 1}, {"renamenx", 1, 2, 1}, {"hset", 1, 1, 1}, {"hget", 1, 1, 1},
    {"hmset", 1, 1, 1}, {"hmget", 1, 1, 1}, {"hgetall", 1, 1, 1}, {"hdel", 1, 1, 1},
    {"hincrby", 1, 1, 1}, {"hkeys", 1, 1, 1}, {"hvals", 1, 1, 1}, {"hlen", 1, 1, 1},
    {"hexists", 1, 1, 1}, {"lpush", 1, 1, 1}, {"rpush", 1, 1, 1}, {"lpop", 1, 1, 1},
    {"rpop", 1, 1, 1}, {"lrange", 1, 1, 1}, {"llen", 1, 1, 1}, {"lindex", 1, 1, 1},
    {"blpop", 1, -2, 1}, {"brpop", 1, -2, 1}, {"sadd", 1, 1, 1}, {"srem", 1, 1, 1},
    {"smembers", 1, 1, 1}, {"sismember", 1, 1, 1}, {"scard", 1, 1, 1}, {"zadd", 1, 1, 1},
    {"zrem", 1, 1, 1}, {"zrange", 1, 1, 1}, {"zscore", 1, 1, 1}, {"zcard", 1, 1, 1},
    {"zincrby", 1, 1, 1}, {"zrank", 1, 1, 1}, {"watch", 1, -1, 1}, {"pfadd", 1, 1, 1},
    {"pfcount", 1, -1, 1}, {"xadd", 1, 1, 1}, {"xlen", 1, 1, 1}, {"xrange", 1, 1, 1},
    {"setbit", 1, 1, 1}, {"getbit", 1, 1, 1}, {"bitcount", 1, 1, 1}, {"dump", 1, 1, 1},
    {"restore", 1, 1, 1}, {"object", 2, 2, 1}, {"lmove", 1, 2, 1}, {"rpoplpush", 1, 2, 1},
    // The other commands with keys at fixed positions (first/last/step of a Valkey 8
    // COMMAND reply; SORT and GEORADIUS[BYMEMBER] add their STORE keys by rule).
    {"bitfield", 1, 1, 1}, {"bitfield_ro", 1, 1, 1}, {"bitop", 2, -1, 1}, {"bitpos", 1, 1, 1},
    {"blmove", 1, 2, 1}, {"brpoplpush", 1, 2, 1}, {"bzpopmax", 1, -2, 1}, {"bzpopmin", 1, -2, 1},
    {"copy", 1, 2, 1}, {"expiretime", 1, 1, 1}, {"geoadd", 1, 1, 1}, {"geodist", 1, 1, 1},
    {"geohash", 1, 1, 1}, {"geopos", 1, 1, 1}, {"georadius", 1, 1, 1}, {"georadius_ro", 1, 1, 1},
    {"georadiusbymember", 1, 1, 1}, {"georadiusbymember_ro", 1, 1, 1}, {"geosearch", 1, 1, 1},
    {"geosearchstore", 1, 2, 1}, {"hincrbyfloat", 1, 1, 1}, {"hrandfield", 1, 1, 1},
    {"hscan", 1, 1, 1}, {"hsetnx", 1, 1, 1}, {"hstrlen", 1, 1, 1}, {"lcs", 1, 2, 1},
    {"linsert", 1, 1, 1}, {"lpos", 1, 1, 1}, {"lpushx", 1, 1, 1}, {"lrem", 1, 1, 1},
    {"lset", 1, 1, 1}, {"ltrim", 1, 1, 1}, {"migrate", 3, 3, 1}, {"move", 1, 1, 1},
    {"pexpiretime", 1, 1, 1}, {"pfdebug", 2, 2, 1}, {"pfmerge", 1, -1, 1},
    {"restore-asking", 1, 1, 1}, {"rpushx", 1, 1, 1}, {"sdiff", 1, -1, 1},
    {"sdiffstore", 1, -1, 1}, {"sinter", 1, -1, 1}, {"sinterstore", 1, -1, 1},
    {"smismember", 1, 1, 1}, {"smove", 1, 2, 1}, {"sort", 1, 1, 1}, {"sort_ro", 1, 1, 1},
    {"spop", 1, 1, 1}, {"spublish", 1, 1, 1}, {"srandmember", 1, 1, 1}, {"sscan", 1, 1, 1},
    {"ssubscribe", 1, -1, 1}, {"substr", 1, 1, 1}, {"sunion", 1, -1, 1}, {"sunionstore", 1, -1, 1},
    {"sunsubscribe", 1, -1, 1}, {"xack", 1, 1, 1}, {"xautoclaim", 1, 1, 1}, {"xclaim", 1, 1, 1},
    {"xdel", 1, 1, 1}, {"xpending", 1, 1, 1}, {"xrevrange", 1, 1, 1}, {"xsetid", 1, 1, 1},
    {"xtrim", 1, 1, 1}, {"zcount", 1, 1, 1}, {"zdiffstore", 1, 1, 1}, {"zinterstore", 1, 1, 1},
    {"zlexcount", 1, 1, 1}, {"zmscore", 1, 1, 1}, {"zpopmax", 1, 1, 1}, {"zpopmin", 1, 1, 1},
    {"zrandmember", 1, 1, 1}, {"zrangebylex", 1, 1, 1}, {"zrangebyscore", 1, 1, 1},
    {"zrangestore", 1, 2, 1}, {"zremrangebylex", 1, 1, 1}, {"zremrangebyrank", 1, 1, 1},
    {"zremrangebyscore", 1, 1, 1}, {"zrevrange", 1, 1, 1}, {"zrevrangebylex", 1, 1, 1},
    {"zrevrangebyscore", 1, 1, 1}, {"zrevrank", 1, 1, 1}, {"zscan", 1, 1, 1},
    {"zunionstore", 1, 1, 1}};


bool ieq(const char *a, size_t alen, const char *b) {
  size_t blen = std::strlen(b);
  if (alen != blen) return false;
  for (size_t i = 0; i < alen; ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != b[i]) return false;
  return true;
}

bool one_of(const std::string &name, std::initializer_list<const char *> names) {
  for (const char *n : names)
    if (name == n) return true;
  return false;
}

// The rules that depend on the name alone, decided once per table entry rather than by
// comparing names on every request.
void set_rules(const std::string &name, CommandInfo &ci) {
  if (one_of(name, {"eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro", "blmpop", "bzmpop"}))
    ci.key_rule = KeyRule::numkeys_at_2;
  else if (one_of(name, {"zunion", "zinter", "zdiff", "sintercard", "zintercard", "lmpop", "zmpop"}))
    ci.key_rule = KeyRule::numkeys_at_1;
  else if (one_of(name, {"zunionstore", "zinterstore", "zdiffstore"}))
    ci.key_rule = KeyRule::dest_numkeys_2;
  else if (one_of(name, {"xread", "xreadgroup"}))
    ci.key_rule = KeyRule::streams;
  else if (one_of(name, {"xinfo", "xgroup", "memory", "object"}))
    ci.key_rule = KeyRule::subcommand_key;
  else if (name == "sort")
    ci.key_rule = KeyRule::sort_store;
  else if (one_of(name, {"georadius", "georadiusbymember"}))
    ci.key_rule = KeyRule::geo_store;
  else if (name == "migrate")
    ci.key_rule = KeyRule::migrate;
  else
    ci.key_rule = KeyRule::spec;

  if (one_of(name, {"flushall", "flushdb"})) ci.route_rule = RouteRule::all_primaries;
  else if (one_of(name, {"script", "function", "config"})) ci.route_rule = RouteRule::by_subcommand;
  else if (name == "dbsize") ci.route_rule = RouteRule::sum_all;
  else if (name == "keys") ci.route_rule = RouteRule::concat_all;
  else if (name == "mset") ci.route_rule = RouteRule::split_pairs;
  else if (name == "mget") ci.route_rule = RouteRule::split_key_order;
  else if (one_of(name, {"del", "unlink", "exists", "touch"})) ci.route_rule = RouteRule::split_sum;
  else ci.route_rule = RouteRule::by_keys;
}

size_t arglen(const char *const *argv, const size_t *argvlen, int i) {
  return argvlen ? argvlen[i] : std::strlen(argv[i]);
}

}  // namespace

std::string lower_name(const char *name, size_t len) {
  std::string s(name, len);
  for (char &c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

const CommandTable &CommandTable::builtin() {
  static const CommandTable table = [] {
    CommandTable t;
    for (const char *n : kReadonly) t.map_[n].flags |= kCmdReadonly;
    for (const char *n : kWrite) t.map_[n].flags |= kCmdWrite;
    for (const char *n : kBlocking) t.map_[n].flags |= kCmdBlocking | kCmdWrite;
    for (const Key &k : kKeys) {
      CommandInfo &ci = t.map_[k.name];
      ci.first_key = k.first;
      ci.last_key = k.last;
      ci.step = k.step;
    }
    auto add = [&t](std::initializer_list<const char *> names, uint32_t flags) {
      for (const char *n : names) t.map_[n].flags |= flags;
    };
    add({"subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe", "sunsubscribe"},
        kCmdStateful | kCmdSubscribe);
    add({"multi"}, kCmdStateful | kCmdMulti);
    add({"exec", "discard"}, kCmdStateful | kCmdExecEnd);
    add({"watch"}, kCmdStateful | kCmdWatch);
    add({"unwatch"}, kCmdStateful | kCmdUnwatch);
    add({"select"}, kCmdStateful | kCmdSelect);
    add({"monitor", "reset", "quit", "auth", "hello", "sync", "psync"}, kCmdStateful | kCmdUnclean);
    t.map_["hello"].flags &= ~kCmdReadonly;
    add({"xread", "xreadgroup"}, kCmdMaybeBlocking);
    for (auto &entry : t.map_) set_rules(entry.first, entry.second);
    return t;
  }();
  return table;
}

uint64_t CommandTable::Id::next() {
  static std::atomic<uint64_t> n{1};
  return n.fetch_add(1, std::memory_order_relaxed);
}

namespace {

// find()'s per-thread memo: a client sends a handful of distinct command names, and
// lower-casing, building a std::string and hashing it cost more than the rest of
// classify. Keyed by the name's exact bytes (so "get" and "GET" are two entries) and the
// table's id; a table is not changed once it is in use. Direct-mapped, 8 entries.
// No member initializers: thread storage starts zeroed (table 0: empty), and a type with
// them is initialized through a guard, a second __tls_get_addr per lookup.
struct NameMemo {
  uint64_t table;  // 0: empty
  const CommandInfo *info;
  uint8_t len;
  char name[23];
};
thread_local NameMemo t_memo[8];

}  // namespace

const CommandInfo *CommandTable::find(const char *name, size_t len) const {
  if (len == 0 || len > sizeof(NameMemo::name)) return find_uncached(name, len);
  NameMemo &m = t_memo[(len * 7 + (static_cast<unsigned char>(name[0]) | 0x20) +
                        (static_cast<unsigned char>(name[len - 1]) | 0x20)) & 7];
  if (m.table == id_.value && m.len == len && std::memcmp(m.name, name, len) == 0) return m.info;
  const CommandInfo *info = find_uncached(name, len);
  m.table = id_.value;
  m.len = static_cast<uint8_t>(len);
  std::memcpy(m.name, name, len);
  m.info = info;
  return info;
}

const CommandInfo *CommandTable::find_uncached(const char *name, size_t len) const {
  char buf[64];
  if (len >= sizeof(buf)) return nullptr;
  for (size_t i = 0; i < len; ++i) buf[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(name[i])));
  auto it = map_.find(std::string(buf, len));
  return it == map_.end() ? nullptr : &it->second;
}

CommandInfo CommandTable::classify(int argc, const char *const *argv, const size_t *argvlen) const {
  size_t len0 = arglen(argv, argvlen, 0);
  const CommandInfo *ci = find(argv[0], len0);
  // Most commands (GET, SET...): nothing below can apply. A name as long as "client"
  // takes the full path.
  if (ci != nullptr && !ci->has_subcommands && !(ci->flags & kCmdMaybeBlocking) && len0 != sizeof("client") - 1)
    return *ci;
  CommandInfo info;
  if (ci != nullptr) info = *ci;
  // OBJECT ENCODING key, XGROUP CREATE key...: the keys are where COMMAND says for the
  // subcommand ("object|encoding"); the flags stay the command's.
  if (info.has_subcommands && argc >= 2) {
    size_t sl = arglen(argv, argvlen, 1);
    char buf[64];
    if (len0 + 1 + sl < sizeof(buf)) {
      std::memcpy(buf, argv[0], len0);
      buf[len0] = '|';
      std::memcpy(buf + len0 + 1, argv[1], sl);
      if (const CommandInfo *sub = find(buf, len0 + 1 + sl)) {
        info.first_key = sub->first_key;
        info.last_key = sub->last_key;
        info.step = sub->step;
        info.specs = sub->specs;
        info.key_rule = KeyRule::spec;
      }
    }
  }
  // Refinements that depend on arguments, not on the name alone.
  if (info.flags & kCmdMaybeBlocking) {
    for (int i = 1; i < argc; ++i)
      if (ieq(argv[i], arglen(argv, argvlen, i), "block")) info.flags |= kCmdBlocking;
  }
  if (argc >= 2 && ieq(argv[0], len0, "client")) {
    const char *sub = argv[1];
    size_t sl = arglen(argv, argvlen, 1);
    if (ieq(sub, sl, "reply") || ieq(sub, sl, "tracking") || ieq(sub, sl, "setname") ||
        ieq(sub, sl, "no-evict") || ieq(sub, sl, "no-touch"))
      info.flags |= kCmdStateful | kCmdUnclean;
    info.flags &= ~kCmdReadonly;
  }
  return info;
}

namespace {

bool is_name(const Reply *r, const char *name) {
  return r != nullptr && (r->kind == ReplyKind::string || r->kind == ReplyKind::status) && r->str == name;
}

// The value after `name` in a RESP2 map (a flat array of names and values).
const Reply *field(const Reply *map, const char *name) {
  if (map == nullptr || map->kind != ReplyKind::array) return nullptr;
  for (size_t i = 0; i + 1 < map->elements.size(); i += 2)
    if (is_name(map->elements[i], name)) return map->elements[i + 1];
  return nullptr;
}

constexpr long long kMaxKeyPosition = 100000;

bool int_field(const Reply *map, const char *name, int *out) {
  const Reply *v = field(map, name);
  if (v == nullptr || v->kind != ReplyKind::integer || v->integer < -kMaxKeyPosition || v->integer > kMaxKeyPosition)
    return false;
  *out = static_cast<int>(v->integer);
  return true;
}

// One entry of COMMAND's key specifications; false when rcm cannot follow it (the
// command then falls back to its rule or first/last/step). Specs flagged "not_key" count:
// they are the shard channels of SPUBLISH/SSUBSCRIBE, which go to their slot's owner.
bool parse_spec(const Reply *m, KeySpec *out) {
  if (m == nullptr || m->kind != ReplyKind::array) return false;
  if (const Reply *flags = field(m, "flags")) {
    if (flags->kind == ReplyKind::array) {
      for (const Reply *f : flags->elements)
        if (is_name(f, "incomplete")) return false;
    }
  }
  const Reply *bs = field(m, "begin_search");
  const Reply *bs_type = field(bs, "type");
  const Reply *bs_spec = field(bs, "spec");
  if (is_name(bs_type, "index")) {
    if (!int_field(bs_spec, "index", &out->index) || out->index < 1) return false;
  } else if (is_name(bs_type, "keyword")) {
    const Reply *kw = field(bs_spec, "keyword");
    if (kw == nullptr || (kw->kind != ReplyKind::string && kw->kind != ReplyKind::status) || kw->str.empty() ||
        !int_field(bs_spec, "startfrom", &out->startfrom) || out->startfrom == 0)
      return false;
    out->by_keyword = true;
    out->keyword = lower_name(kw->str.data(), kw->str.size());
  } else {
    return false;  // "unknown": only the command's own code knows
  }
  const Reply *fk = field(m, "find_keys");
  const Reply *fk_type = field(fk, "type");
  const Reply *fk_spec = field(fk, "spec");
  if (is_name(fk_type, "range")) {
    if (!int_field(fk_spec, "lastkey", &out->lastkey) || !int_field(fk_spec, "keystep", &out->keystep) ||
        !int_field(fk_spec, "limit", &out->limit) || out->keystep < 1 || out->limit < 0)
      return false;
  } else if (is_name(fk_type, "keynum")) {
    out->keynum = true;
    if (!int_field(fk_spec, "keynumidx", &out->keynumidx) || !int_field(fk_spec, "firstkey", &out->firstkey) ||
        !int_field(fk_spec, "keystep", &out->keystep) || out->keystep < 1 || out->keynumidx < 0 || out->firstkey < 0)
      return false;
  } else {
    return false;
  }
  return true;
}

}  // namespace

// One COMMAND entry: [name, arity, flags, first, last, step, acl categories, tips,
// key specs, subcommands] (the last four from Redis 7 / Valkey 7.2 on).
void CommandTable::learn_entry(const Reply &e, const std::string &prefix) {
  if (e.kind != ReplyKind::array || e.elements.size() < 6) return;
  const Reply *name = e.elements[0];
  const Reply *flags = e.elements[2];
  if (name == nullptr || name->kind != ReplyKind::string || flags == nullptr) return;
  std::string n = lower_name(name->str.data(), name->str.size());
  if (!prefix.empty() && n.compare(0, prefix.size(), prefix) != 0) n = prefix + n;  // "object|encoding"
  CommandInfo &ci = map_[n];
  set_rules(n, ci);
  uint32_t keep = ci.flags & ~(kCmdReadonly | kCmdWrite);
  uint32_t f = 0;
  if (flags->kind == ReplyKind::array) {
    for (const Reply *fl : flags->elements) {
      if (fl == nullptr || fl->kind != ReplyKind::status) continue;
      if (fl->str == "readonly") f |= kCmdReadonly;
      else if (fl->str == "write") f |= kCmdWrite;
      else if (fl->str == "blocking" && !(keep & kCmdMaybeBlocking)) f |= kCmdBlocking;
    }
  }
  if (f & kCmdWrite) f &= ~kCmdReadonly;
  // A command the server calls neither readonly nor write (PING, ECHO, TIME: connection
  // and admin commands) keeps the built-in view: losing "readonly" would make an ECHO in
  // flight at a connection loss UNCERTAIN instead of resent.
  if (!(f & (kCmdReadonly | kCmdWrite))) f |= ci.flags & (kCmdReadonly | kCmdWrite);
  ci.flags = keep | f | (ci.flags & kCmdBlocking);
  if ((keep & kCmdMaybeBlocking)) ci.flags &= ~kCmdBlocking;
  const Reply *fk = e.elements[3], *lk = e.elements[4], *st = e.elements[5];
  // Positions beyond kMaxKeyPosition (no command has that many fixed keys) or a negative
  // first key or step are not a table rcm can follow: narrowed to int they would wrap, and
  // a step near INT_MAX overflows the key loop. Such an entry keeps what rcm knew before.
  auto sane = [](const Reply *r, long long lo) {
    return r && r->kind == ReplyKind::integer && r->integer >= lo && r->integer <= kMaxKeyPosition;
  };
  if (sane(fk, 0) && sane(lk, -kMaxKeyPosition) && sane(st, 0)) {
    ci.first_key = static_cast<int>(fk->integer);
    ci.last_key = static_cast<int>(lk->integer);
    ci.step = static_cast<int>(st->integer);
  }
  ci.specs = nullptr;
  if (e.elements.size() > 8 && e.elements[8] != nullptr && e.elements[8]->kind == ReplyKind::array) {
    auto specs = std::make_shared<KeySpecs>();
    bool usable = true;
    for (const Reply *m : e.elements[8]->elements) {
      KeySpec spec;
      if (!parse_spec(m, &spec)) {
        usable = false;
        break;
      }
      specs->push_back(std::move(spec));
    }
    const bool one_fixed_key = specs->size() == 1 && !(*specs)[0].by_keyword && !(*specs)[0].keynum &&
                               (*specs)[0].lastkey == 0;
    if (usable && one_fixed_key) {
      // GET, SET, HSET...: the same as first = last = index; keep the fast path.
      ci.first_key = ci.last_key = (*specs)[0].index;
      ci.step = 1;
    } else if (usable && !specs->empty()) {
      ci.specs = specs.get();
      specs_.push_back(std::move(specs));
    }
  }
  if (prefix.empty() && e.elements.size() > 9 && e.elements[9] != nullptr &&
      e.elements[9]->kind == ReplyKind::array && !e.elements[9]->elements.empty()) {
    ci.has_subcommands = true;
    std::string sub_prefix = n + "|";
    for (const Reply *sub : e.elements[9]->elements)
      if (sub != nullptr) learn_entry(*sub, sub_prefix);
  }
}

CommandTable *CommandTable::from_command_reply(const Reply &reply) {
  auto *t = new CommandTable(builtin());
  t->learned_ = true;
  if (reply.kind != ReplyKind::array) return t;
  for (const Reply *e : reply.elements)
    if (e != nullptr) t->learn_entry(*e, "");
  return t;
}

}  // namespace rcm::core
