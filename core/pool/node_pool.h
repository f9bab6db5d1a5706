// The connections of one server on one I/O thread: pool.size multiplexed connections
// shared by every caller (requests go to the least loaded), and up to pool.max_leases
// exclusive connections handed out as leases. Owned and touched by that I/O thread only.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/common/baton.h"
#include "core/config/config.h"
#include "core/net/connection_listener.h"
#include "core/pool/pool_owner.h"
#include "core/request/request.h"
#include "core/request/stats.h"

namespace rcm::core {

class Connection;

// A caller waiting for a lease. Lives on the caller's stack; completed by the I/O thread.
struct LeaseWaiter {
  Baton baton;
  Status status = Status::ok;   // written before baton.post()
  std::string message;          // likewise
  Connection *conn = nullptr;   // likewise
  Clock::time_point deadline;   // I/O thread
  void finish(Status s, const std::string &msg, Connection *c);
  // Waits until finished; returns the status.
  Status wait();
};

struct NodeSnapshot {
  std::string address;
  std::string role;
  int connections = 0;
  int connected = 0;
  size_t in_flight = 0;
  size_t queued = 0;
  int leases_total = 0;
  int leases_in_use = 0;
  size_t lease_waiters = 0;
  bool up = false;
  NodeStats stats;
};

// Request::last_error of a request held because its node does not answer (see
// NodePool::holds_for_successor); the deadline names it.
inline constexpr const char *kNoConnectionPrefix = "no connection to ";

class NodePool final : public ConnectionListener {
 public:
  enum class Kind { primary, replica, sentinel };

  NodePool(PoolOwner &owner, Endpoint ep, Kind kind);
  ~NodePool();
  NodePool(const NodePool &) = delete;
  NodePool &operator=(const NodePool &) = delete;

  void start();

  // The pool of a connection it made (every connection's listener is its pool).
  static NodePool &of(Connection *c);
  const Endpoint &endpoint() const { return ep_; }
  NodeStats &stats() { return stats_; }
  bool is_replica() const { return kind_ == Kind::replica; }
  bool is_sentinel() const { return kind_ == Kind::sentinel; }
  // Client-side caching: the node's tracking state (before start()); null when off.
  void set_tracking(TrackingTarget *t) { target_.tracking = t; }
  TrackingTarget *tracking() const { return target_.tracking; }
  bool up() const;
  // Was up once and is not now: its connections are reconnecting with backoff.
  bool lost() const { return ever_up_ && !up(); }
  // Not up, and known not to be coming up at once: lost, or its last connect or handshake
  // failed (a replica that never answered is passed over, as a lost one is).
  bool failing() const { return !up() && (ever_up_ || connect_failed_); }

  // Sends r on the least loaded ready connection, or queues it until one is ready.
  void dispatch(Request *r);
  // Sends a batch in order on one connection (a pipeline), or queues it as one unit
  // (request.h) that is sent later in order on one connection.
  void dispatch_batch(std::vector<Request *> &batch);

  // ConnectionListener: from its connections.
  void on_connection_ready(Connection *c) override;
  void on_connection_down(Connection *c, Status why, const std::string &message,
                          std::vector<Request *> &resend, bool was_ready) override;
  void on_reply(Request *r, Reply *reply) override { owner_.on_reply(r, reply); }
  void want_flush(Connection *c) override { owner_.want_flush(c); }
  void forget_flush(Connection *c) override { owner_.forget_flush(c); }

  // A subscriber connection to this node that the caller keeps (it outlives no pool);
  // its ups and downs reach PoolOwner::on_subscriber.
  std::unique_ptr<Connection> make_subscriber();

  void acquire_lease(LeaseWaiter *w);
  void release_lease(Connection *c);

  // Hands every queued request back (topology changed: they may belong elsewhere now).
  void take_waiting(std::vector<Request *> &out);
  double latency_ewma_us() const { return stats_.ewma_us; }
  // Nothing queued, in flight, leased or waiting for a lease, and no request or lease
  // asked of it for at least `idle`: dropping the pool loses nothing. Called once per
  // engine pass over the pools (it notes when the pool was last seen in use).
  bool unused_for(Clock::time_point now, Clock::duration idle);

  void tick(Clock::time_point now);
  void shutdown(Status why, const std::string &message);
  NodeSnapshot snapshot() const;

 private:
  // *in_flight (if given): the requests in flight on every shared connection, counted in
  // the same pass.
  Connection *least_loaded(size_t *in_flight = nullptr) const;
  void drain_waiting();
  void send_unit(Connection *c, std::vector<Request *> &unit);
  void connect_if_idle();
  bool lease_connection(const Connection *c) const;
  void hand_out_leases();
  void bury(Connection *c);
  bool holds_for_successor(const Request *r, Status why) const;
  bool fail_waiting(Status why, const std::string &message, bool count_attempt);
  int backoff_ms(int failures) const;

  PoolOwner &owner_;
  const Config &cfg_;
  Kind kind_;
  NodeStats stats_;
  ConnectionTarget target_;  // what its connections read; outlives them
  const Endpoint &ep_ = target_.endpoint;
  std::vector<std::unique_ptr<Connection>> shared_;
  std::deque<Request *> waiting_;  // no ready connection yet; each holds a reference (units: their heads)
  std::vector<std::unique_ptr<Connection>> leases_;   // every lease connection
  std::vector<Connection *> lease_idle_;              // ready, not handed out
  int leases_in_use_ = 0;
  std::deque<LeaseWaiter *> lease_waiters_;
  std::vector<std::unique_ptr<Connection>> graveyard_;  // closed, freed at the next tick
  bool was_up_ = false;
  bool ever_up_ = false;  // a connection of this pool was ready at least once
  bool connect_failed_ = false;  // the last connect or handshake of a shared connection failed
  bool shut_ = false;
  uint64_t uses_ = 0;       // requests and lease requests handed to the pool
  uint64_t uses_seen_ = 0;  // uses_ at the last unused_for()
  Clock::time_point unused_since_ = Clock::now();
};

}  // namespace rcm::core
