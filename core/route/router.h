// Route decisions for cluster mode: which slot a command belongs to, whether it must be
// split per slot (MGET, MSET, DEL, UNLINK, EXISTS, TOUCH), and where keyless commands go.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/route/command_table.h"

namespace rcm::core {

enum class RouteKind : uint8_t {
  automatic,      // by the command's keys; keyless: by the keyless policy
  slot,           // the primary (or replica, for reads) of a slot
  any,            // any one primary
  all_primaries,
  all_nodes,
  node,           // a node named by the caller
  random,
};

// How the replies of a fanned-out command become one.
enum class Aggregate : uint8_t {
  none,
  first,      // all must succeed; the first reply (an error if any)
  sum,        // integers added
  concat,     // arrays concatenated (KEYS)
  key_order,  // arrays placed back at their keys' positions (MGET)
  all_ok,     // +OK when every part said OK (MSET)
  per_node,   // [[address, reply], ...] for explicit fan-out routes
};

struct SubCommand {
  int slot = -1;
  std::string payload;
  std::vector<uint32_t> key_index;  // positions among the original command's keys
};

struct RoutePlan {
  RouteKind kind = RouteKind::automatic;
  int slot = -1;
  Aggregate agg = Aggregate::none;
  size_t keys = 0;                 // number of keys of the original command
  std::vector<SubCommand> split;   // non-empty: send these, one per slot, instead
};

// argv indexes of the command's keys.
std::vector<int> key_positions(const CommandInfo &info, int argc, const char *const *argv, const size_t *argvlen);

// The plan for a command in cluster mode. Throws Error(Status::crossslot) when keys span
// slots and the command cannot be split.
RoutePlan plan_route(const CommandInfo &info, int argc, const char *const *argv, const size_t *argvlen);

}  // namespace rcm::core
