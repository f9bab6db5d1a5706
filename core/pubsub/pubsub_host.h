// What the PubSubManager needs from the one that runs it (engine 0), so that pubsub/
// knows nothing above itself. Called on that engine's I/O thread.
#pragma once

#include <memory>
#include <string>

#include "core/config/config.h"
#include "core/pool/node_pool.h"
#include "core/topology/cluster_topology.h"

namespace rcm::core {

class IoThread;

class PubSubHost {
 public:
  virtual const Config &config() const = 0;
  virtual IoThread &io() = 0;
  virtual Mode mode() const = 0;
  virtual NodePool &pool_for(const Endpoint &ep, NodePool::Kind kind) = 0;
  // Cluster: the slot map (null until known).
  virtual std::shared_ptr<const ClusterTopology> topology() const = 0;
  // Standalone, Raft, Sentinel: the writable node (null until known).
  virtual const NodePool *writable_node() const = 0;
  virtual void emit_event(int kind, const std::string &node, const std::string &detail) = 0;
  virtual void request_refresh(const std::string &reason) = 0;
  // An internal request (r->done is called on this thread) to one node.
  virtual void send_internal(Request *r, NodePool &pool) = 0;

 protected:
  ~PubSubHost() = default;
};

}  // namespace rcm::core
