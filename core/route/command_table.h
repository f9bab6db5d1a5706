// What rcm needs to know about a command before sending it: whether it is read-only
// (safe to resend after a lost connection), whether it blocks or changes connection
// state (lease only), and where its keys are (for cluster routing).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>

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

struct CommandInfo {
  uint32_t flags = 0;
  int first_key = 0;  // 0: no keys
  int last_key = 0;   // negative: from the end
  int step = 0;
  KeyRule key_rule = KeyRule::spec;        // from the name, when the entry is made
  RouteRule route_rule = RouteRule::by_keys;
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

 private:
  std::unordered_map<std::string, CommandInfo> map_;
};

// Lower-cased copy of a command name (ASCII).
std::string lower_name(const char *name, size_t len);

}  // namespace rcm::core
