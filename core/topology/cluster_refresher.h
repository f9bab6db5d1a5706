// Keeps the cluster's slot map fresh. Lives on engine 0's I/O thread. One refresh at a
// time: triggers that arrive meanwhile (MOVED, a node down, an unknown slot) are
// coalesced into one more round, never sooner than a minimum interval (with jitter),
// so a fleet of clients cannot storm the cluster. Each round asks up to three nodes
// and takes the view most of them agree on.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/request/request.h"
#include "core/topology/cluster_topology.h"
#include "core/topology/round_scheduler.h"

struct event;

namespace rcm::core {

class TopologyHost;

class ClusterRefresher {
 public:
  explicit ClusterRefresher(TopologyHost &host);
  ~ClusterRefresher();
  void start();
  void request(const std::string &reason);
  uint64_t rounds() const { return rounds_; }

 private:
  struct Round;
  void begin();
  void ask(Round *round, const Endpoint &ep, bool shards);
  static void on_reply(Request *r, Status status, Reply *reply);
  void finish(Round *round);
  std::vector<Endpoint> candidates();
  bool regresses_to_dead_primary(const ClusterTopology &view);
  // Nodes the view makes primary of a slot although the current map has them as replicas
  // and they did not answer this round themselves (a node that has not heard of a
  // failover yet describes the layout from before it).
  std::vector<Endpoint> unconfirmed_promotions(const ClusterTopology &view, const std::vector<Endpoint> &sources) const;

  TopologyHost &host_;
  RoundScheduler rounds_sched_;
  uint64_t rounds_ = 0;
  int failures_ = 0;
  std::shared_ptr<const ClusterTopology> current_;
  Round *round_ = nullptr;  // the round in flight (owned; requests point at it)
};

}  // namespace rcm::core
