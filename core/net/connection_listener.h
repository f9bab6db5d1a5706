// What a connection needs from the one that owns it (a node's pool), so that net/ knows
// nothing above itself. The facts are plain data read on every connect; the callbacks
// are virtual, called once per reply, state change or loop iteration, never per byte.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/common/status.h"
#include "core/config/config.h"

namespace rcm::core {

class Connection;
class IoThread;
class Resolver;
class TlsContext;
struct NodeStats;
struct Reply;
struct Request;

// Shared by every connection of one I/O thread; outlives them.
struct IoContext {
  const Config &cfg;
  IoThread &io;
  Resolver &resolver;
  const TlsContext *tls;   // null: plain TCP
  char *read_buffer;       // scratch for one read, reused by every connection of the thread
  size_t read_buffer_size;
};

// Client-side caching: one node's server-assisted tracking, shared by every connection to
// it on any I/O thread (owned by core/cache). A connection that carries a cacheable read
// first sends CLIENT TRACKING on REDIRECT <redirect> once per generation; gen moves on
// whenever what the server tracked for us may have been lost (the invalidation
// connection or a tracked connection broke), so replies read under an older generation
// are never stored and entries stored under it are never served.
struct TrackingTarget {
  std::atomic<uint64_t> gen{1};
  std::atomic<long long> redirect{0};  // CLIENT ID of the node's invalidation connection; 0 = none
  void *owner = nullptr;               // the cache's record of the node
  std::atomic<uint64_t> resets{0};     // generations ended (stats)
  void reset() {
    gen.fetch_add(1, std::memory_order_acq_rel);
    resets.fetch_add(1, std::memory_order_relaxed);
  }
};

// The server a connection talks to, and how to greet it.
struct ConnectionTarget {
  Endpoint endpoint;
  NodeStats *stats;        // the node's counters (reconnects, retries); I/O thread
  bool sentinel = false;   // a Sentinel: its own credentials, no SELECT
  bool readonly = false;   // a cluster replica: READONLY before reads
  TrackingTarget *tracking = nullptr;  // client-side caching is on for this node
};

class ConnectionListener {
 public:
  // The handshake finished; the connection takes requests.
  virtual void on_connection_ready(Connection *c) = 0;
  // The connection closed; resend holds the requests that surely did not run (each
  // with a reference) for the owner to send again or fail.
  virtual void on_connection_down(Connection *c, Status why, const std::string &message,
                                  std::vector<Request *> &resend, bool was_ready) = 0;
  // A reply to a caller's request (rcm's own and leased requests complete in net/).
  virtual void on_reply(Request *r, Reply *reply) = 0;
  // c has bytes to write: call c->flush() once before the loop polls again.
  virtual void want_flush(Connection *c) = 0;
  // c is going away: forget an earlier want_flush.
  virtual void forget_flush(Connection *c) = 0;

 protected:
  ~ConnectionListener() = default;
};

}  // namespace rcm::core
