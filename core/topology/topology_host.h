// What the topology keepers (ClusterRefresher, PrimaryTracker) need from the one that
// runs them (engine 0), so that topology/ knows nothing above itself. Called on that
// engine's I/O thread, once per query or per round: never on a request's path.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/config/config.h"
#include "core/pool/node_pool.h"
#include "core/request/request.h"
#include "core/topology/cluster_topology.h"

namespace rcm::core {

class IoThread;

class TopologyHost {
 public:
  virtual const Config &config() const = 0;
  virtual IoThread &io() = 0;
  virtual bool shutting_down() const = 0;
  virtual NodePool &pool_for(const Endpoint &ep, NodePool::Kind kind) = 0;
  // Sends one of rcm's own requests (a topology query) to the node, with its deadline.
  virtual void send_internal(Request *r, NodePool &pool) = 0;

  // Cluster: the outcome of a refresh round.
  virtual void publish_topology(std::shared_ptr<const ClusterTopology> topo,
                                std::shared_ptr<const ClusterTopology> previous, bool changed) = 0;
  virtual void topology_failed(Status status, const std::string &message) = 0;
  // Raft / Sentinel: the outcome of a round.
  virtual void publish_primary(const Endpoint &ep, const std::vector<Endpoint> &replicas, const std::string &old,
                               const std::string &cause) = 0;
  virtual void primary_not_found(Status status, const std::string &message) = 0;
  // kind: 3 topology changed (rcm.h's event kinds).
  virtual void emit_event(int kind, const std::string &node, const std::string &detail) = 0;

 protected:
  ~TopologyHost() = default;
};

}  // namespace rcm::core
