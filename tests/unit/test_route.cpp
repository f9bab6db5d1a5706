// unit.route: CRC16 hash slots and the built-in command table, without a server.
#include <string>

#include <memory>
#include <vector>

#include "core/common/status.h"
#include "core/resp/reply.h"
#include "core/route/command_table.h"
#include "core/route/router.h"
#include "core/route/slot.h"
#include "tests/unit/check.h"

using namespace rcm::core;

namespace {

int slot(const std::string &k) { return key_slot(k.data(), k.size()); }

CommandInfo classify(std::initializer_list<const char *> args) {
  std::vector<const char *> argv(args);
  return CommandTable::builtin().classify(static_cast<int>(argv.size()), argv.data(), nullptr);
}

bool has(const CommandInfo &ci, uint32_t flag) { return (ci.flags & flag) != 0; }

RoutePlan plan(const CommandTable &table, std::vector<const char *> argv) {
  int argc = static_cast<int>(argv.size());
  return plan_route(table.classify(argc, argv.data(), nullptr), argc, argv.data(), nullptr);
}
RoutePlan plan(std::initializer_list<const char *> args) { return plan(CommandTable::builtin(), args); }

std::vector<int> keys_of_argv(std::vector<const char *> argv) {
  int argc = static_cast<int>(argv.size());
  return key_positions(CommandTable::builtin().classify(argc, argv.data(), nullptr), argc, argv.data(), nullptr);
}

std::vector<int> keys_of(std::initializer_list<const char *> args) { return keys_of_argv(args); }

bool is_crossslot(const Error &e) { return e.status() == Status::crossslot; }
bool is_arg_error(const Error &e) { return e.status() == Status::arg; }

// One COMMAND entry: name, arity, flags, first key, last key, step.
Reply *command_entry(const char *name, std::initializer_list<const char *> flags, long long first, long long last, long long step) {
  Reply *e = Reply::make_array();
  e->elements.push_back(Reply::make_string(name));
  e->elements.push_back(Reply::make_integer(-2));
  Reply *f = Reply::make_array();
  for (const char *fl : flags) f->elements.push_back(Reply::make_status(fl));
  e->elements.push_back(f);
  e->elements.push_back(Reply::make_integer(first));
  e->elements.push_back(Reply::make_integer(last));
  e->elements.push_back(Reply::make_integer(step));
  return e;
}

// A RESP2 map (flat array): name, value, name, value... Values: Reply* taken over.
Reply *map_of(std::initializer_list<std::pair<const char *, Reply *>> fields) {
  Reply *m = Reply::make_array();
  for (const auto &f : fields) {
    m->elements.push_back(Reply::make_string(f.first));
    m->elements.push_back(f.second);
  }
  return m;
}
Reply *statuses(std::initializer_list<const char *> names) {
  Reply *a = Reply::make_array();
  for (const char *n : names) a->elements.push_back(Reply::make_status(n));
  return a;
}
Reply *num(long long v) { return Reply::make_integer(v); }
Reply *str(const char *v) { return Reply::make_string(v); }
Reply *by_index(int i) { return map_of({{"type", str("index")}, {"spec", map_of({{"index", num(i)}})}}); }
Reply *by_keyword(const char *kw, int startfrom) {
  return map_of({{"type", str("keyword")}, {"spec", map_of({{"keyword", str(kw)}, {"startfrom", num(startfrom)}})}});
}
Reply *range(int lastkey, int keystep, int limit) {
  return map_of({{"type", str("range")},
                 {"spec", map_of({{"lastkey", num(lastkey)}, {"keystep", num(keystep)}, {"limit", num(limit)}})}});
}
Reply *keynum(int keynumidx, int firstkey, int keystep) {
  return map_of({{"type", str("keynum")},
                 {"spec", map_of({{"keynumidx", num(keynumidx)}, {"firstkey", num(firstkey)}, {"keystep", num(keystep)}})}});
}
Reply *unknown() { return map_of({{"type", str("unknown")}, {"spec", Reply::make_array()}}); }
Reply *spec(std::initializer_list<const char *> flags, Reply *begin, Reply *find) {
  return map_of({{"flags", statuses(flags)}, {"begin_search", begin}, {"find_keys", find}});
}
// A Redis 7 entry: the six classic fields, ACL categories, tips, key specs, subcommands.
Reply *entry7(const char *name, int first, int last, int step, std::initializer_list<Reply *> specs,
              std::initializer_list<Reply *> subs = {}) {
  Reply *e = command_entry(name, {"write"}, first, last, step);
  e->elements.push_back(Reply::make_array());
  e->elements.push_back(Reply::make_array());
  Reply *ks = Reply::make_array();
  for (Reply *s : specs) ks->elements.push_back(s);
  e->elements.push_back(ks);
  Reply *sc = Reply::make_array();
  for (Reply *s : subs) sc->elements.push_back(s);
  e->elements.push_back(sc);
  return e;
}

std::vector<int> keys_in(const CommandTable &t, std::vector<const char *> argv) {
  int argc = static_cast<int>(argv.size());
  return key_positions(t.classify(argc, argv.data(), nullptr), argc, argv.data(), nullptr);
}

}  // namespace

TEST(test_slot__crc16_xmodem_reference) {
  CHECK_EQ(crc16("123456789", 9), static_cast<uint16_t>(0x31C3));  // the spec's check value
  CHECK_EQ(crc16("", 0), static_cast<uint16_t>(0));
}

// crc16 takes four bytes per step; the plain bit-by-bit definition must agree at every
// length (every remainder of four) and for every byte value.
TEST(test_slot__crc16_four_bytes_a_step_matches_the_bitwise_definition) {
  std::string buf;
  for (int i = 0; i < 300; ++i) buf.push_back(static_cast<char>((i * 167 + 13) & 0xff));
  for (size_t len = 0; len <= buf.size(); ++len) {
    uint16_t want = 0;
    for (size_t i = 0; i < len; ++i) {
      want = static_cast<uint16_t>(want ^ (static_cast<uint8_t>(buf[i]) << 8));
      for (int b = 0; b < 8; ++b) want = static_cast<uint16_t>((want & 0x8000) ? (want << 1) ^ 0x1021 : want << 1);
    }
    if (crc16(buf.data(), len) != want) {
      CHECK_EQ(len, size_t(0));  // names the first length that differs
      break;
    }
  }
}

TEST(test_slot__known_keys) {
  CHECK_EQ(slot("foo"), 12182);
  CHECK_EQ(slot("bar"), 5061);
  CHECK_EQ(slot("hello"), 866);
  CHECK_EQ(slot("123456789"), 12739);
  CHECK_EQ(slot(""), 0);
  CHECK_EQ(slot(std::string("a\0b", 3)), 8383);  // binary-safe
}

TEST(test_slot__hash_tags) {
  CHECK_EQ(slot("{user1000}.following"), slot("user1000"));
  CHECK_EQ(slot("{user1000}.followers"), slot("{user1000}.following"));
  CHECK_EQ(slot("{user1000}.following"), 3443);
  CHECK_EQ(slot("foo{bar}{zap}"), slot("bar"));      // the first tag counts
  CHECK_EQ(slot("foo{{bar}}zap"), slot("{bar"));     // tag is "{bar"
  CHECK_EQ(slot("foo{}{bar}"), 8363);                // empty tag: the whole key
  CHECK_EQ(slot("{}"), 15257);
  CHECK_EQ(slot("foo{bar"), static_cast<int>(crc16("foo{bar", 7) % kSlots));  // unclosed
}

TEST(test_slot__range) {
  for (int i = 0; i < 5000; ++i) {
    std::string k = "key:" + std::to_string(i);
    int s = slot(k);
    CHECK(s >= 0 && s < kSlots);
  }
}

TEST(test_commands__read_only_and_writes) {
  CHECK(has(classify({"GET", "k"}), kCmdReadonly));
  CHECK(has(classify({"get", "k"}), kCmdReadonly));  // case-insensitive
  CHECK(has(classify({"MGET", "a", "b"}), kCmdReadonly));
  CHECK(has(classify({"ECHO", "x"}), kCmdReadonly) || !has(classify({"ECHO", "x"}), kCmdWrite));
  for (const char *w : {"SET", "INCR", "DEL", "LPUSH", "EXPIRE", "HSET"}) {
    CommandInfo ci = classify({w, "k", "v"});
    if (has(ci, kCmdReadonly)) ::check::report(__FILE__, __LINE__, std::string(w) + " is marked read-only");
  }
  CHECK(has(classify({"INCR", "k"}), kCmdWrite));
}

TEST(test_commands__blocking_and_stateful) {
  for (const char *b : {"BLPOP", "BRPOP", "BLMOVE", "BZPOPMIN", "blpop"}) {
    if (!has(classify({b, "k", "0"}), kCmdBlocking))
      ::check::report(__FILE__, __LINE__, std::string(b) + " is not marked blocking");
  }
  CHECK(has(classify({"XREAD", "BLOCK", "0", "STREAMS", "s", "$"}), kCmdBlocking));
  CHECK(!has(classify({"XREAD", "COUNT", "1", "STREAMS", "s", "0"}), kCmdBlocking));
  CHECK(has(classify({"MULTI"}), kCmdStateful));
  CHECK(has(classify({"EXEC"}), kCmdStateful));
  CHECK(has(classify({"WATCH", "k"}), kCmdStateful));
  CHECK(has(classify({"SUBSCRIBE", "ch"}), kCmdStateful));
  CHECK(has(classify({"SUBSCRIBE", "ch"}), kCmdSubscribe));
  CHECK(has(classify({"SELECT", "1"}), kCmdStateful));
  CHECK(!has(classify({"GET", "k"}), kCmdStateful));
  CHECK(!has(classify({"GET", "k"}), kCmdBlocking));
}

TEST(test_commands__key_positions) {
  const CommandInfo *get = CommandTable::builtin().find("GET", 3);
  REQUIRE(get != nullptr);
  CHECK_EQ(get->first_key, 1);
  CHECK_EQ(get->last_key, 1);
  CHECK_EQ(get->step, 1);
  const CommandInfo *mset = CommandTable::builtin().find("mset", 4);
  REQUIRE(mset != nullptr);
  CHECK_EQ(mset->first_key, 1);
  CHECK_EQ(mset->last_key, -1);
  CHECK_EQ(mset->step, 2);
  const CommandInfo *ping = CommandTable::builtin().find("PING", 4);
  REQUIRE(ping != nullptr);
  CHECK_EQ(ping->first_key, 0);
  CHECK(CommandTable::builtin().find("NOSUCHCOMMAND", 13) == nullptr);
  CHECK_EQ(lower_name("GeT", 3), std::string("get"));
}

TEST(test_route__single_key_commands_go_to_their_slot) {
  RoutePlan p = plan({"SET", "foo", "v"});
  CHECK(p.kind == RouteKind::slot);
  CHECK_EQ(p.slot, 12182);
  CHECK_EQ(p.keys, static_cast<size_t>(1));
  p = plan({"get", "{bar}x"});
  CHECK_EQ(p.slot, 5061);
  // No key where the command has one: any node (the server will say what is wrong).
  p = plan({"GET"});
  CHECK(p.kind == RouteKind::any);
  CHECK_EQ(p.keys, static_cast<size_t>(0));
  p = plan({"PING"});
  CHECK(p.kind == RouteKind::any);
}

TEST(test_route__movable_keys) {
  CHECK(keys_of({"EVAL", "return 1", "2", "a", "b", "arg"}) == std::vector<int>({3, 4}));
  CHECK(keys_of({"evalsha_ro", "abc", "0", "arg"}).empty());
  CHECK(keys_of({"FCALL", "f", "1", "k"}) == std::vector<int>({3}));
  CHECK(keys_of({"ZUNION", "2", "a", "b", "WEIGHTS", "1", "2"}) == std::vector<int>({2, 3}));
  CHECK(keys_of({"LMPOP", "1", "l", "LEFT"}) == std::vector<int>({2}));
  CHECK(keys_of({"ZUNIONSTORE", "dst", "2", "a", "b"}) == std::vector<int>({1, 3, 4}));
  CHECK(keys_of({"BLMPOP", "0", "1", "l", "LEFT"}) == std::vector<int>({3}));
  CHECK(keys_of({"XREAD", "COUNT", "1", "streams", "s1", "s2", "0", "0"}) == std::vector<int>({4, 5}));
  CHECK(keys_of({"XINFO", "STREAM", "s"}) == std::vector<int>({2}));
  CHECK(keys_of({"XINFO", "HELP", "x"}).empty());
  CHECK(keys_of({"OBJECT", "ENCODING", "k"}) == std::vector<int>({2}));
  CHECK(keys_of({"MEMORY", "DOCTOR", "x"}).empty());
  CHECK(keys_of({"MSET", "a", "1", "b", "2"}) == std::vector<int>({1, 3}));
  CHECK(keys_of({"RENAME", "a", "b"}) == std::vector<int>({1, 2}));
  RoutePlan p = plan({"EVAL", "return 1", "2", "{t}a", "{t}b"});
  CHECK(p.kind == RouteKind::slot);
  CHECK_EQ(p.slot, slot("t"));
  CHECK_EQ(p.keys, static_cast<size_t>(2));
  CHECK_THROWS_IF(plan({"EVAL", "return 1", "2", "foo", "bar"}), Error, is_crossslot);
}

TEST(test_route__keyless_fan_out) {
  RoutePlan p = plan({"FLUSHALL"});
  CHECK(p.kind == RouteKind::all_primaries);
  CHECK(p.agg == Aggregate::first);
  p = plan({"flushdb", "ASYNC"});
  CHECK(p.kind == RouteKind::all_primaries);
  p = plan({"DBSIZE"});
  CHECK(p.kind == RouteKind::all_primaries);
  CHECK(p.agg == Aggregate::sum);
  p = plan({"KEYS", "*"});
  CHECK(p.kind == RouteKind::all_primaries);
  CHECK(p.agg == Aggregate::concat);
  for (auto args : {std::vector<const char *>{"SCRIPT", "LOAD", "return 1"}, {"script", "flush"},
                    {"FUNCTION", "DELETE", "lib"}, {"CONFIG", "SET", "maxmemory", "0"},
                    {"config", "resetstat"}}) {
    p = plan(CommandTable::builtin(), args);
    if (p.kind != RouteKind::all_primaries || p.agg != Aggregate::first)
      ::check::report(__FILE__, __LINE__, std::string(args[0]) + " " + args[1] + " does not go to every primary");
  }
  for (auto args : {std::vector<const char *>{"SCRIPT", "EXISTS", "abc"}, {"CONFIG", "GET", "maxmemory"},
                    {"FUNCTION", "LIST"}, {"SCRIPT"}}) {
    p = plan(CommandTable::builtin(), args);
    if (p.kind != RouteKind::any) ::check::report(__FILE__, __LINE__, std::string(args[0]) + " is not sent to one node");
  }
}

TEST(test_route__cross_slot_split_or_refused) {
  RoutePlan p = plan({"MGET", "foo", "bar", "{foo}2"});
  CHECK(p.kind == RouteKind::automatic);
  CHECK(p.agg == Aggregate::key_order);
  REQUIRE(p.split.size() == 2);
  CHECK_EQ(p.split[0].slot, 12182);
  CHECK(p.split[0].key_index == std::vector<uint32_t>({0, 2}));
  CHECK(p.split[1].key_index == std::vector<uint32_t>({1}));
  CHECK_EQ(p.split[0].payload, std::string("*3\r\n$4\r\nMGET\r\n$3\r\nfoo\r\n$6\r\n{foo}2\r\n"));
  p = plan({"MSET", "foo", "1", "bar", "2"});
  CHECK(p.agg == Aggregate::all_ok);
  REQUIRE(p.split.size() == 2);
  CHECK_EQ(p.split[1].payload, std::string("*3\r\n$4\r\nMSET\r\n$3\r\nbar\r\n$1\r\n2\r\n"));
  for (const char *c : {"DEL", "unlink", "EXISTS", "TOUCH"}) {
    p = plan(CommandTable::builtin(), {c, "foo", "bar"});
    if (p.agg != Aggregate::sum || p.split.size() != 2)
      ::check::report(__FILE__, __LINE__, std::string(c) + " is not split with a sum");
  }
  // Same slot: not split.
  p = plan({"MGET", "{u}a", "{u}b"});
  CHECK(p.kind == RouteKind::slot);
  CHECK(p.split.empty());
  // Atomic across keys: refused, naming the command.
  CHECK_THROWS_IF(plan({"MSETNX", "foo", "1", "bar", "2"}), Error,
                  [](const Error &e) { return is_crossslot(e) && std::string(e.what()).find("msetnx") != std::string::npos; });
  CHECK_THROWS_IF(plan({"RENAME", "foo", "bar"}), Error, is_crossslot);
}

TEST(test_route__learned_table_keeps_the_rules) {
  // A table made from a COMMAND reply routes as the built-in one, also for commands the
  // built-in table does not know (they have no special rule).
  std::unique_ptr<Reply> reply(Reply::make_array());
  reply->elements.push_back(command_entry("eval", {"noscript"}, 0, 0, 0));
  reply->elements.push_back(command_entry("mget", {"readonly"}, 1, -1, 1));
  reply->elements.push_back(command_entry("dbsize", {"readonly"}, 0, 0, 0));
  reply->elements.push_back(command_entry("newcmd", {"write"}, 1, 1, 1));
  std::unique_ptr<CommandTable> t(CommandTable::from_command_reply(*reply));
  RoutePlan p = plan(*t, {"EVAL", "s", "1", "foo"});
  CHECK(p.kind == RouteKind::slot);
  CHECK_EQ(p.slot, 12182);
  p = plan(*t, {"MGET", "foo", "bar"});
  CHECK(p.agg == Aggregate::key_order);
  CHECK_EQ(p.split.size(), static_cast<size_t>(2));
  p = plan(*t, {"DBSIZE"});
  CHECK(p.agg == Aggregate::sum);
  p = plan(*t, {"NEWCMD", "bar"});
  CHECK(p.kind == RouteKind::slot);
  CHECK_EQ(p.slot, 5061);
  CHECK(has(t->classify(2, std::vector<const char *>{"NEWCMD", "bar"}.data(), nullptr), kCmdWrite));
}

// find() memoizes names per thread; two tables that answer the same name differently
// (and a table allocated where a freed one was) must each keep their own answer.
TEST(test_commands__lookup_memo_tells_tables_apart) {
  std::unique_ptr<Reply> ro(Reply::make_array()), rw(Reply::make_array());
  ro->elements.push_back(command_entry("newcmd", {"readonly"}, 1, 1, 1));
  rw->elements.push_back(command_entry("newcmd", {"write"}, 1, 1, 1));
  std::vector<const char *> argv{"NEWCMD", "k"};
  for (int round = 0; round < 3; ++round) {
    std::unique_ptr<CommandTable> a(CommandTable::from_command_reply(*ro));
    CHECK(has(a->classify(2, argv.data(), nullptr), kCmdReadonly));
    a.reset(CommandTable::from_command_reply(*rw));  // often at the freed table's address
    CHECK(has(a->classify(2, argv.data(), nullptr), kCmdWrite));
    CHECK(!has(a->classify(2, argv.data(), nullptr), kCmdReadonly));
    CHECK(CommandTable::builtin().find("NEWCMD", 6) == nullptr);
    CommandTable copy(*a);  // a copy answers alike, from its own entries
    CHECK(copy.find("NEWCMD", 6) != nullptr && copy.find("NEWCMD", 6) != a->find("NEWCMD", 6));
  }
}

// Valkey lists PING, ECHO and TIME with neither "readonly" nor "write" (flags such as
// fast, loading, stale): once the table is learned they must stay read-only, or one in
// flight when its connection breaks ends UNCERTAIN instead of being resent.
TEST(test_route__learned_table_keeps_connection_commands_readonly) {
  std::unique_ptr<Reply> reply(Reply::make_array());
  reply->elements.push_back(command_entry("echo", {"fast"}, 0, 0, 0));
  reply->elements.push_back(command_entry("ping", {"fast", "sentinel"}, 0, 0, 0));
  reply->elements.push_back(command_entry("time", {"loading", "stale", "fast"}, 0, 0, 0));
  reply->elements.push_back(command_entry("get", {"readonly", "fast"}, 1, 1, 1));
  reply->elements.push_back(command_entry("set", {"write", "denyoom"}, 1, 1, 1));
  std::unique_ptr<CommandTable> t(CommandTable::from_command_reply(*reply));
  for (const char *n : {"ECHO", "PING", "TIME", "GET"}) {
    std::vector<const char *> argv{n, "x"};
    if (!has(t->classify(n[0] == 'E' || n[0] == 'G' ? 2 : 1, argv.data(), nullptr), kCmdReadonly))
      ::check::report(__FILE__, __LINE__, std::string(n) + " lost its read-only flag once learned");
  }
  std::vector<const char *> set{"SET", "k", "v"};
  CHECK(has(t->classify(3, set.data(), nullptr), kCmdWrite));
  CHECK(!has(t->classify(3, set.data(), nullptr), kCmdReadonly));
}

// Before COMMAND answers (or where it is denied) the built-in table must know where the
// keys of every keyed command are, or a command would go to "any" node and two keys in
// two slots would reach a server instead of being RCM_ERR_CROSSSLOT.
TEST(test_route__builtin_table_knows_the_keys) {
  struct {
    std::vector<const char *> argv;
    std::vector<int> keys;
  } cases[] = {
      {{"SMOVE", "a", "b", "m"}, {1, 2}},
      {{"SUNIONSTORE", "d", "a", "b"}, {1, 2, 3}},
      {{"SDIFF", "a", "b"}, {1, 2}},
      {{"HINCRBYFLOAT", "h", "f", "1.5"}, {1}},
      {{"LTRIM", "l", "0", "1"}, {1}},
      {{"LREM", "l", "0", "x"}, {1}},
      {{"SPOP", "s"}, {1}},
      {{"BITOP", "AND", "d", "a", "b"}, {2, 3, 4}},
      {{"PFMERGE", "d", "a", "b"}, {1, 2, 3}},
      {{"COPY", "a", "b"}, {1, 2}},
      {{"LCS", "a", "b"}, {1, 2}},
      {{"GEOSEARCHSTORE", "d", "s", "FROMMEMBER", "m", "BYRADIUS", "1", "km"}, {1, 2}},
      {{"ZRANGESTORE", "d", "s", "0", "-1"}, {1, 2}},
      {{"BZPOPMIN", "a", "b", "0"}, {1, 2}},
      {{"BLMOVE", "a", "b", "LEFT", "RIGHT", "0"}, {1, 2}},
      {{"SPUBLISH", "ch", "msg"}, {1}},
      {{"SSUBSCRIBE", "c1", "c2"}, {1, 2}},
      {{"XACK", "s", "g", "1-0"}, {1}},
      {{"ZREVRANGEBYSCORE", "z", "+inf", "-inf"}, {1}},
      {{"MIGRATE", "h", "6379", "k", "0", "1000"}, {3}},
      {{"MIGRATE", "h", "6379", "", "0", "1000", "COPY", "AUTH", "keys", "KEYS", "a", "b"}, {10, 11}},
      {{"MIGRATE", "h", "6379", "", "0", "1000", "AUTH2", "u", "p", "KEYS", "a"}, {10}},
  };
  for (auto &c : cases) {
    std::vector<int> got = keys_of_argv(c.argv);
    if (got != c.keys) ::check::report(__FILE__, __LINE__, std::string(c.argv[0]) + ": wrong key positions");
  }
  CHECK_THROWS_IF(plan({"SMOVE", "foo", "bar", "m"}), Error, is_crossslot);
  CHECK_THROWS_IF(plan({"SUNIONSTORE", "foo", "foo", "bar"}), Error, is_crossslot);
  RoutePlan p = plan({"HINCRBYFLOAT", "foo", "f", "1"});
  CHECK(p.kind == RouteKind::slot);
  CHECK_EQ(p.slot, 12182);
}

TEST(test_route__key_specs_from_command) {
  std::unique_ptr<Reply> reply(Reply::make_array());
  auto add = [&](Reply *e) { reply->elements.push_back(e); };
  add(entry7("mod.mget", 0, 0, 0, {spec({"RO"}, by_keyword("KEYS", 1), keynum(0, 1, 1))}));
  add(entry7("mod.pairs", 2, -2, 2, {spec({"RW"}, by_index(2), range(-2, 2, 0))}));
  add(entry7("mod.tail", 0, 0, 0, {spec({"RO"}, by_keyword("ON", -1), range(-1, 1, 2))}));
  add(entry7("mod.two", 1, 1, 1, {spec({"RO"}, by_index(1), range(0, 1, 0)), spec({"OW"}, by_keyword("TO", 2), range(0, 1, 0))}));
  add(entry7("mod.unknown", 1, 1, 1, {spec({"RO"}, by_index(1), range(0, 1, 0)), spec({"OW"}, unknown(), unknown())}));
  add(entry7("mod.incomplete", 1, 1, 1, {spec({"RW", "incomplete"}, by_keyword("KEYS", -2), range(-1, 1, 0))}));
  add(entry7("mod.get", 1, 1, 1, {spec({"RO"}, by_index(1), range(0, 1, 0))}));
  add(entry7("mod.chan", 1, 1, 1, {spec({"not_key"}, by_index(1), range(0, 1, 0))}));
  add(entry7("mod.sub", 0, 0, 0, {},
             {entry7("mod.sub|put", 2, 2, 1, {spec({"OW"}, by_index(2), range(0, 1, 0))}),
              entry7("mod.sub|help", 0, 0, 0, {})}));
  add(entry7("ping", 0, 0, 0, {}));
  std::unique_ptr<CommandTable> t(CommandTable::from_command_reply(*reply));
  CHECK(t->learned());
  CHECK(!CommandTable::builtin().learned());

  // keyword + count: MOD.MGET x KEYS 2 a b
  CHECK(keys_in(*t, {"MOD.MGET", "x", "keys", "2", "a", "b"}) == std::vector<int>({4, 5}));
  CHECK(keys_in(*t, {"MOD.MGET", "x", "KEYS", "0"}).empty());
  CHECK(keys_in(*t, {"MOD.MGET", "x", "y"}).empty());                    // no keyword: no keys
  // more keys announced than there are arguments: the server refuses it, so does rcm
  CHECK_THROWS_IF(keys_in(*t, {"MOD.MGET", "x", "KEYS", "3", "a"}), Error, is_arg_error);
  // range to the second-last argument, every other one
  CHECK(keys_in(*t, {"MOD.PAIRS", "x", "a", "1", "b", "2", "tail"}) == std::vector<int>({2, 4}));
  // keyword searched backwards from the end, then half of what follows (as XREAD STREAMS)
  CHECK(keys_in(*t, {"MOD.TAIL", "ON", "x", "ON", "a", "b", "1", "2"}) == std::vector<int>({4, 5}));
  // two specs: the key, and the one after TO (searched from argument 2 on)
  CHECK(keys_in(*t, {"MOD.TWO", "src", "TO", "dst"}) == std::vector<int>({1, 3}));
  CHECK(keys_in(*t, {"MOD.TWO", "src"}) == std::vector<int>({1}));
  // a spec rcm cannot follow: first/last/step
  CHECK(keys_in(*t, {"MOD.UNKNOWN", "a", "STORE", "b"}) == std::vector<int>({1}));
  CHECK(keys_in(*t, {"MOD.INCOMPLETE", "a", "KEYS", "b", "c"}) == std::vector<int>({1}));
  // one fixed key: no specs kept (the fast path)
  const CommandInfo *get = t->find("mod.get", 7);
  REQUIRE(get != nullptr);
  CHECK(get->specs == nullptr);
  CHECK_EQ(get->first_key, 1);
  CHECK(t->find("mod.mget", 8)->specs != nullptr);
  CHECK(t->find("mod.unknown", 11)->specs == nullptr);
  // a shard channel ("not_key") picks the node like a key
  RoutePlan p = plan(*t, {"MOD.CHAN", "foo"});
  CHECK(p.kind == RouteKind::slot);
  CHECK_EQ(p.slot, 12182);
  // subcommands: their own key positions, the command's flags
  CHECK(t->find("mod.sub", 7)->has_subcommands);
  CHECK(keys_in(*t, {"MOD.SUB", "PUT", "k"}) == std::vector<int>({2}));
  CHECK(keys_in(*t, {"mod.sub", "put", "k"}) == std::vector<int>({2}));
  CHECK(keys_in(*t, {"MOD.SUB", "HELP"}).empty());
  CHECK(keys_in(*t, {"MOD.SUB", "NOSUCH", "k"}).empty());
  p = plan(*t, {"MOD.SUB", "PUT", "bar"});
  CHECK(p.kind == RouteKind::slot);
  CHECK_EQ(p.slot, 5061);
  // keys in two slots found by specs: refused
  CHECK_THROWS_IF(plan(*t, {"MOD.TWO", "foo", "TO", "bar"}), Error, is_crossslot);
  p = plan(*t, {"MOD.TWO", "{x}a", "TO", "{x}b"});
  CHECK_EQ(p.keys, static_cast<size_t>(2));
  CHECK_EQ(p.slot, slot("x"));
  // built-in commands the reply did not mention keep their rules
  CHECK(keys_in(*t, {"SORT", "a", "BY", "store", "LIMIT", "0", "1", "STORE", "b"}) == std::vector<int>({1, 8}));
  CHECK(keys_in(*t, {"SORT", "a"}) == std::vector<int>({1}));
  CHECK(keys_in(*t, {"GEORADIUSBYMEMBER", "a", "store", "1", "km", "STOREDIST", "b"}) == std::vector<int>({1, 6}));
  CHECK(keys_in(*t, {"GEORADIUS", "a", "0", "0", "1", "km", "STORE", "b", "STOREDIST", "c"}) == std::vector<int>({1, 9}));
}

TEST(test_route__malformed_key_specs_fall_back) {
  std::unique_ptr<Reply> reply(Reply::make_array());
  // begin_search without an index, find_keys of a type nobody knows, a spec that is not
  // a map, a keyword that is not a string: each falls back to first/last/step.
  reply->elements.push_back(entry7("bad.a", 1, 1, 1, {map_of({{"flags", statuses({})}, {"begin_search", map_of({{"type", str("index")}})}, {"find_keys", range(0, 1, 0)}})}));
  reply->elements.push_back(entry7("bad.b", 1, 1, 1, {spec({}, by_index(1), map_of({{"type", str("spiral")}}))}));
  reply->elements.push_back(entry7("bad.c", 1, 1, 1, {num(7)}));
  reply->elements.push_back(entry7("bad.d", 1, 1, 1, {spec({}, map_of({{"type", str("keyword")}, {"spec", map_of({{"keyword", num(1)}, {"startfrom", num(1)}})}}), range(0, 1, 0))}));
  reply->elements.push_back(entry7("bad.e", 1, 1, 1, {spec({}, by_index(1), range(0, 0, 0))}));  // keystep 0
  std::unique_ptr<CommandTable> t(CommandTable::from_command_reply(*reply));
  for (const char *n : {"BAD.A", "BAD.B", "BAD.C", "BAD.D", "BAD.E"}) {
    if (keys_in(*t, {n, "k", "x", "y"}) != std::vector<int>({1}))
      ::check::report(__FILE__, __LINE__, std::string(n) + ": not the first/last/step fallback");
  }
}

// F1: a caller's key count is checked against the arguments before any arithmetic on
// it; near LLONG_MAX, `first + (n - 1) * keystep` overflowed (UB, shown by UBSan).
TEST(test_route__huge_key_count_is_an_argument_error) {
  std::unique_ptr<Reply> reply(Reply::make_array());
  // EVAL and FCALL as Valkey 8 describes them: keynum at argument 2, keys right after it.
  reply->elements.push_back(entry7("eval", 0, 0, 0, {spec({"RW"}, by_index(2), keynum(0, 1, 1))}));
  // A module command whose keys are every other argument after the count.
  reply->elements.push_back(entry7("mod.kv", 0, 0, 0, {spec({"RW"}, by_index(1), keynum(0, 1, 2))}));
  std::unique_ptr<CommandTable> t(CommandTable::from_command_reply(*reply));
  REQUIRE(t->find("eval", 4) != nullptr && t->find("eval", 4)->specs != nullptr);
  CHECK_THROWS_IF(plan(*t, {"EVAL", "return 1", "9223372036854775807", "k"}), Error, is_arg_error);
  CHECK_THROWS_IF(plan(*t, {"EVAL", "return 1", "99999999999999999999", "k"}), Error, is_arg_error);
  CHECK_THROWS_IF(plan(*t, {"EVAL", "return 1", "2", "k"}), Error, is_arg_error);
  CHECK_THROWS_IF(plan(*t, {"MOD.KV", "4611686018427387904", "k", "v"}), Error, is_arg_error);
  CHECK_THROWS_IF(plan(*t, {"MOD.KV", "2", "k", "v"}), Error, is_arg_error);
  // the built-in rule (before COMMAND answers) refuses the same
  CHECK_THROWS_IF(plan({"EVAL", "return 1", "9223372036854775807", "k"}), Error, is_arg_error);
  CHECK_THROWS_IF(plan({"ZUNIONSTORE", "d", "9223372036854775807", "k"}), Error, is_arg_error);
  // counts that fit still route
  RoutePlan p = plan(*t, {"EVAL", "return 1", "1", "foo"});
  CHECK(p.kind == RouteKind::slot);
  CHECK_EQ(p.slot, 12182);
  CHECK(keys_in(*t, {"MOD.KV", "2", "foo", "v", "{foo}x", "w"}) == std::vector<int>({2, 4}));
  CHECK(keys_in(*t, {"EVAL", "return 1", "0"}).empty());
  CHECK(keys_in(*t, {"EVAL", "return 1", "-1", "k"}).empty());  // the server answers that one
  p = plan({"EVAL", "return 1", "1", "foo"});
  CHECK_EQ(p.slot, 12182);
}

// F2: COMMAND's first/last/step are long longs; narrowed to int unchecked, 4294967297
// became 1 and a step of INT_MAX overflowed the key loop (UB). Absurd entries are not used.
TEST(test_route__absurd_learned_key_positions_are_not_used) {
  std::unique_ptr<Reply> reply(Reply::make_array());
  reply->elements.push_back(command_entry("mod.step", {"write"}, 1, -1, 2147483647));
  reply->elements.push_back(command_entry("mod.wrap", {"write"}, 4294967297LL, 4294967297LL, 1));
  reply->elements.push_back(command_entry("mod.neg", {"write"}, -3, -1, 1));
  reply->elements.push_back(command_entry("mod.ok", {"write"}, 1, -1, 2));
  // a known command keeps its built-in positions
  reply->elements.push_back(command_entry("get", {"readonly"}, 1, 1, -9223372036854775807LL));
  std::unique_ptr<CommandTable> t(CommandTable::from_command_reply(*reply));
  CHECK(keys_in(*t, {"MOD.STEP", "a", "b", "c"}).empty());
  CHECK(keys_in(*t, {"MOD.WRAP", "a", "b"}).empty());
  CHECK(keys_in(*t, {"MOD.NEG", "a", "b"}).empty());
  CHECK(keys_in(*t, {"MOD.OK", "a", "1", "b", "2"}) == std::vector<int>({1, 3}));
  CHECK(keys_in(*t, {"GET", "a"}) == std::vector<int>({1}));
  // and the key loop itself does not wrap, whatever the table says
  CommandInfo info;
  info.first_key = 1;
  info.last_key = -1;
  info.step = 2147483647;
  std::vector<const char *> argv{"X", "a", "b", "c"};
  CHECK(key_positions(info, 4, argv.data(), nullptr) == std::vector<int>({1}));
}

CHECK_MAIN
