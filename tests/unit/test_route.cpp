// unit.route: CRC16 hash slots and the built-in command table, without a server.
#include <string>

#include "core/route/command_table.h"
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

}  // namespace

TEST(test_slot__crc16_xmodem_reference) {
  CHECK_EQ(crc16("123456789", 9), static_cast<uint16_t>(0x31C3));  // the spec's check value
  CHECK_EQ(crc16("", 0), static_cast<uint16_t>(0));
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

CHECK_MAIN
