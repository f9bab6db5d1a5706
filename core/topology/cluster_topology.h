// One view of a Valkey/Redis Cluster: its shards and which shard owns each slot.
// Immutable once built; shared between I/O threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/config/config.h"
#include "core/route/slot.h"

namespace rcm::core {

struct Reply;

struct ClusterNode {
  Endpoint endpoint;
  std::string id;
  bool healthy = true;  // "online" (CLUSTER SHARDS health); CLUSTER SLOTS lists only serving nodes
  long long offset = 0; // replication offset (CLUSTER SHARDS)
};

struct Shard {
  ClusterNode primary;
  std::vector<ClusterNode> replicas;
  std::vector<std::pair<int, int>> ranges;  // inclusive slot ranges
};

struct ClusterTopology {
  std::vector<Shard> shards;
  std::vector<int16_t> slot_shard = std::vector<int16_t>(kSlots, -1);  // -1: no owner
  // What the parser left out (a node whose address is not one), for the report; bounded.
  std::vector<std::string> problems;

  // Canonical text of who owns what, for comparing the views of several nodes.
  std::string signature() const;
  size_t covered_slots() const;
};

// Parse CLUSTER SHARDS / CLUSTER SLOTS replies. `asked` fills in an empty or "?" address
// (a node that does not know its own IP). Throw Error(Status::protocol) when malformed
// (slots outside 0..16383, more shards than slots...). A node whose address is not a host
// name or IP is left out and noted in `problems` (a primary's slots are then uncovered).
//
// CLUSTER SHARDS lists a node's plain "port" and its "tls-port" both when it has both
// (tls-cluster yes with a plain port still open, as while a cluster moves to TLS), to
// any connection: `want` says which one this client connects to; a node that announces
// only the other is reached there. CLUSTER SLOTS and MOVED already name the port that
// fits the asking connection.
enum class PortKind { plain, tls };
std::shared_ptr<ClusterTopology> parse_cluster_shards(const Reply &reply, const Endpoint &asked,
                                                      PortKind want = PortKind::plain);
std::shared_ptr<ClusterTopology> parse_cluster_slots(const Reply &reply, const Endpoint &asked);

// Which of several nodes' views agree with what each answering node says about itself:
// views[i] came from sources[i]. A node knows its own role first: after a failover the
// promoted replica names itself primary, and the demoted primary names itself a replica,
// while nodes the news has not reached yet still describe the old layout. A view that
// names a node primary of a slot when that node's own view says it is not, or names
// another primary for a slot that node's own view says it serves, is out of date.
// (During a slot move source and target may both claim the slot: then every view is
// contradicted, and the caller falls back to a vote.)
std::vector<bool> views_agreeing_with_self_claims(const std::vector<std::shared_ptr<ClusterTopology>> &views,
                                                  const std::vector<Endpoint> &sources);

}  // namespace rcm::core
