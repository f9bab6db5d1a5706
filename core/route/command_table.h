// What rcm needs to know about a command before sending it: whether it is read-only
// (safe to resend after a lost connection), whether it blocks or changes connection
// state (lease only), and where its keys are (for cluster routing).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace rcm::core {

struct Reply;

enum CommandFlag : uint32_t {
  kCmdReadonly = 1u << 0,
  kCmdWrite = 1u << 1,
  kCmdBlocking = 1u << 2,      // always blocks the connection (BLPOP, WAIT...)
  kCmdStateful = 1u << 3,      // changes the connection's state: lease only
  kCmdSubscribe = 1u << 4,     // enters/leaves pub/sub mode
  kCmdMulti = 1u << 5,
  kCmdExecEnd = 1u << 6,       // EXEC / DISCARD
  kCmdWatch = 1u << 7,
  kCmdUnwatch = 1u << 8,
  kCmdSelect = 1u << 9,
  kCmdUnclean = 1u << 10,      // leaves the connection in a state rcm cannot undo
  kCmdMaybeBlocking = 1u << 11 // blocks only with an option (XREAD BLOCK)
};

// Where the keys are when first/last/step cannot say (COMMAND calls these "movablekeys").
enum class KeyRule : uint8_t {
  spec,            // first_key, last_key, step
  numkeys_at_2,    // EVAL script numkeys key...; FCALL; BLMPOP/BZMPOP timeout numkeys key...
  numkeys_at_1,    // ZUNION numkeys key...; SINTERCARD; LMPOP; ZMPOP
  dest_numkeys_2,  // ZUNIONSTORE dest numkeys key...
  streams,         // XREAD ... STREAMS key... id...
  subcommand_key,  // XINFO/XGROUP/MEMORY/OBJECT sub key (not for HELP, DOCTOR...)
  sort_store,      // SORT key ... [STORE dest] (LIMIT takes 2 arguments, BY and GET 1)
  geo_store,       // GEORADIUS[BYMEMBER] key ... [STORE|STOREDIST dest]
  migrate,         // MIGRATE host port key|"" db timeout ... [KEYS key...]
};

// Cluster mode: how a command that does not go to one slot is sent and answered.
enum class RouteRule : uint8_t {
  by_keys,           // one slot; keyless: any one primary
  all_primaries,     // FLUSHALL, FLUSHDB: every primary, the first reply
  by_subcommand,     // SCRIPT LOAD|FLUSH, FUNCTION LOAD|..., CONFIG SET|RESETSTAT: every primary
  sum_all,           // DBSIZE: every primary, integers added
  concat_all,        // KEYS: every primary, arrays concatenated
  split_pairs,       // MSET: split per slot, +OK when all say OK
  split_key_order,   // MGET: split per slot, values back in key order
  split_sum,         // DEL, UNLINK, EXISTS, TOUCH: split per slot, integers added
};

// One key specification from COMMAND (Redis 7+, Valkey): where a group of keys begins
// (an argument index, or the argument after a keyword) and how far it goes (a range, or
// a count read from an argument).
struct KeySpec {
  bool by_keyword = false;  // begin_search: keyword, else index
  int index = 0;            // begin_search index
  std::string keyword;      // begin_search keyword, lower-case
  int startfrom = 0;        // where the keyword search starts (negative: from the end, backwards)
  bool keynum = false;      // find_keys: keynum, else range
  int lastkey = 0;          // range: last key relative to the first (negative: from the end)
  int keystep = 1;
  int limit = 0;            // range with lastkey -1: a 1/limit share of the remaining arguments
  int keynumidx = 0;        // keynum: where the count is, relative to the begin
  int firstkey = 1;         // keynum: the first key, relative to the begin
};
using KeySpecs = std::vector<KeySpec>;

struct CommandInfo {
  uint32_t flags = 0;
  int first_key = 0;  // 0: no keys
  int last_key = 0;   // negative: from the end
  int step = 0;
  KeyRule key_rule = KeyRule::spec;        // from the name, when the entry is made
  RouteRule route_rule = RouteRule::by_keys;
  bool has_subcommands = false;            // COMMAND listed subcommands ("object|encoding")
  // Complete key specs learned from COMMAND: they say where every key is, before the
  // rules above. Null when the server gave none, or gave one that needs the command's own
  // logic ("unknown", "incomplete": SORT ... STORE): then key_rule and first/last/step.
  // Owned by the table, which lives as long as the client.
  const KeySpecs *specs = nullptr;
};

class CommandTable {
 public:
  // The table built into rcm, used until (and where) COMMAND says otherwise.
  static const CommandTable &builtin();
  // A table from a COMMAND reply, layered on top of the built-in one.
  static CommandTable *from_command_reply(const Reply &reply);

  // Flags of argv[0] (case-insensitive), refined by subcommands and options that change
  // what the command does (CLIENT REPLY, XREAD BLOCK...).
  CommandInfo classify(int argc, const char *const *argv, const size_t *argvlen) const;
  const CommandInfo *find(const char *name, size_t len) const;
  size_t size() const { return map_.size(); }
  // Made from a COMMAND reply (not the built-in table).
  bool learned() const { return learned_; }

 private:
  void learn_entry(const Reply &entry, const std::string &prefix);

  // Tells tables apart for find()'s per-thread memo: every table, a copy too, gets its
  // own, never reused, so a memo entry of a freed table can never match another.
  struct Id {
    uint64_t value = next();
    Id() = default;
    Id(const Id &) : value(next()) {}
    Id &operator=(const Id &) {
      value = next();
      return *this;
    }
    static uint64_t next();
  };
  const CommandInfo *find_uncached(const char *name, size_t len) const;

  std::unordered_map<std::string, CommandInfo> map_;
  std::vector<std::shared_ptr<const KeySpecs>> specs_;  // what the entries' specs point to
  bool learned_ = false;
  Id id_;
};

// Lower-cased copy of a command name (ASCII).
std::string lower_name(const char *name, size_t len);

}  // namespace rcm::core
