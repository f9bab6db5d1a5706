// What a node's pool needs from the one that owns it (the engine of its I/O thread), so
// that pool/ knows nothing above itself. Called on that I/O thread only: once per reply
// (on_reply), per loop iteration (want_flush) or per state change, never per byte.
#pragma once

#include <string>

#include "core/config/config.h"
#include "core/net/connection_listener.h"

namespace rcm::core {

class NodePool;

class PoolOwner {
 public:
  virtual const IoContext &io_context() const = 0;
  virtual Mode mode() const = 0;
  virtual int shared_connections_per_node() const = 0;

  // A reply to a caller's request sent through the pool.
  virtual void on_reply(Request *r, Reply *reply) = 0;
  // Connection::flush() of c before the loop polls again (see ConnectionListener).
  virtual void want_flush(Connection *c) = 0;
  virtual void forget_flush(Connection *c) = 0;

  virtual void on_node_ready(NodePool &pool) = 0;
  virtual void on_node_down(NodePool &pool, Status why, const std::string &message) = 0;
  // A subscriber connection came up (ready) or went down.
  virtual void on_subscriber(Connection *c, bool ready) = 0;
  // kind: 1 node up, 2 node down (rcm.h's event kinds).
  virtual void emit_event(int kind, const std::string &node, const std::string &detail) = 0;
  // Ask for a new view of the servers (coalesced by whoever keeps it).
  virtual void request_refresh(const std::string &reason) = 0;

 protected:
  ~PoolOwner() = default;
};

}  // namespace rcm::core
