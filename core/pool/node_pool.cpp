#include "core/pool/node_pool.h"

#include <algorithm>
#include <random>

#include "core/net/connection.h"

namespace rcm::core {

void LeaseWaiter::finish(Status s, const std::string &msg, Connection *c) {
  status = s;
  message = msg;
  conn = c;
  baton.post();  // the waiter may return and destroy *this from here on
}

Status LeaseWaiter::wait() {
  baton.wait();
  return status;
}

NodePool::NodePool(PoolOwner &owner, Endpoint ep, Kind kind)
    : owner_(owner), cfg_(owner.io_context().cfg), kind_(kind), target_{std::move(ep), &stats_} {
  target_.sentinel = kind_ == Kind::sentinel;
  target_.readonly = kind_ == Kind::replica && owner_.mode() == Mode::cluster;
}

NodePool &NodePool::of(Connection *c) { return static_cast<NodePool &>(c->listener()); }

std::unique_ptr<Connection> NodePool::make_subscriber() {
  return std::make_unique<Connection>(owner_.io_context(), target_, *this, Connection::Role::subscriber);
}

NodePool::~NodePool() { shutdown(Status::closed, "client closed"); }

void NodePool::start() {
  int n = kind_ == Kind::sentinel ? 1 : owner_.shared_connections_per_node();
  for (int i = 0; i < n; ++i) {
    shared_.push_back(std::make_unique<Connection>(owner_.io_context(), target_, *this, Connection::Role::shared));
    shared_.back()->connect();
  }
}

bool NodePool::up() const {
  for (const auto &c : shared_)
    if (c->ready()) return true;
  return false;
}

// Least pending, except that a connection already holding bytes for this loop
// iteration's write wins while it is within kBatchSlack of the least: requests that
// arrive together then leave in one write instead of a few bytes on every connection.
// A connection whose bytes are held until its written batch is answered never wins
// over an idle one: that batch may wait on a slow reply, and the idle one sends now.
Connection *NodePool::least_loaded(size_t *in_flight) const {
  constexpr size_t kBatchSlack = 32;
  Connection *best = nullptr;
  Connection *batching = nullptr;
  size_t best_n = 0, batching_n = 0;  // their in_flight(), read once (a deque's size)
  size_t total = 0;
  for (const auto &c : shared_) {
    const size_t n = c->in_flight();
    total += n;
    if (!c->ready()) continue;
    if (best == nullptr || n < best_n) {
      best = c.get();
      best_n = n;
    }
    if (c->flush_pending() && (batching == nullptr || n < batching_n)) {
      batching = c.get();
      batching_n = n;
    }
  }
  if (in_flight != nullptr) *in_flight = total;
  if (batching != nullptr && batching_n <= best_n + kBatchSlack && !(best_n == 0 && batching->writes_held()))
    return batching;
  return best;
}

void NodePool::dispatch(Request *r) {
  if (r->unit_tail) {
    std::vector<Request *> unit;
    unit_unpack(r, unit);
    dispatch_batch(unit);
    return;
  }
  if (r->completed) {
    request_release(r);
    return;
  }
  r->stats = &stats_;
  r->sent_to = this;
  ++uses_;
  if (!r->internal) ++stats_.requests;
  if (shut_) {
    request_fail(r, Status::closed, "client closed");
    request_release(r);
    return;
  }
  // Queued and in flight together are bounded: a hung server must not grow either forever.
  size_t in_flight = 0;
  Connection *c = least_loaded(&in_flight);
  const size_t pending = waiting_.size() + in_flight;
  if (!r->internal && pending >= static_cast<size_t>(cfg_.pool_max_pending)) {
    request_fail(r, Status::backpressure,
                 "queue for " + ep_.str() + " is full (pool.max_pending=" + std::to_string(cfg_.pool_max_pending) + ")");
    request_release(r);
    return;
  }
  if (c != nullptr) {
    c->send(r);
    return;
  }
  waiting_.push_back(r);
  connect_if_idle();
}

// Nothing is ready: make sure something is on its way.
void NodePool::connect_if_idle() {
  for (const auto &conn : shared_) {
    if (conn->state() != Connection::State::closed || conn->reconnect_scheduled()) return;
  }
  for (const auto &conn : shared_) conn->connect();
}

void NodePool::dispatch_batch(std::vector<Request *> &batch) {
  // The same bound as dispatch(): what does not fit fails with RCM_ERR_BACKPRESSURE. A
  // batch that must stay whole (a MULTI ... EXEC block; ASKING + its command) fits or is
  // refused whole: a cut one would leave the shared connection inside MULTI, or ASKING
  // applied to somebody else's next command.
  ++uses_;
  size_t pending = waiting_.size();
  for (const auto &conn : shared_) pending += conn->in_flight();
  const size_t limit = static_cast<size_t>(cfg_.pool_max_pending);
  bool whole = false;
  size_t counted = 0;
  for (Request *r : batch) {
    if (r->completed) continue;
    if (r->pinned || r->internal) whole = true;
    if (!r->internal) ++counted;
  }
  if (whole && pending + counted > limit && !shut_) {
    for (Request *r : batch) {
      if (!r->completed) {
        r->stats = &stats_;
        r->sent_to = this;
        if (!r->internal) ++stats_.requests;
        request_fail(r, Status::backpressure,
                     "queue for " + ep_.str() + " is full (pool.max_pending=" + std::to_string(cfg_.pool_max_pending) +
                         "): the transaction was not sent");
      }
      request_release(r);
    }
    return;
  }
  // Sent now on one connection, or queued as one unit that is sent later on one.
  std::vector<Request *> unit;
  for (Request *r : batch) {
    if (r->completed) {
      unit.push_back(r);  // a transaction's member that ended: send_unit() decides
      continue;
    }
    r->stats = &stats_;
    r->sent_to = this;
    if (!r->internal) ++stats_.requests;
    if (shut_) {
      request_fail(r, Status::closed, "client closed");
      request_release(r);
      continue;
    }
    if (!r->internal && pending >= limit) {
      request_fail(r, Status::backpressure,
                   "queue for " + ep_.str() + " is full (pool.max_pending=" + std::to_string(cfg_.pool_max_pending) + ")");
      request_release(r);
      continue;
    }
    if (!r->internal) ++pending;
    unit.push_back(r);
  }
  Connection *c = least_loaded();
  if (c != nullptr) {
    send_unit(c, unit);
    return;
  }
  Request *head = unit_pack(unit);
  if (head == nullptr) return;
  waiting_.push_back(head);
  connect_if_idle();
}

void NodePool::send_unit(Connection *c, std::vector<Request *> &unit) {
  unit_settle(unit);
  for (Request *r : unit) {
    if (r->completed)
      request_release(r);
    else
      c->send(r);
  }
}

void NodePool::drain_waiting() {
  while (!waiting_.empty()) {
    Connection *c = least_loaded();
    if (c == nullptr) return;
    Request *r = waiting_.front();
    waiting_.pop_front();
    // A unit leaves whole, on this one connection: a block's EXEC never lands on
    // another connection than its MULTI, and a pipeline keeps its order.
    std::vector<Request *> unit;
    unit_unpack(r, unit);
    send_unit(c, unit);
  }
}

bool NodePool::lease_connection(const Connection *c) const { return c->role() == Connection::Role::lease; }

void NodePool::on_connection_ready(Connection *c) {
  ever_up_ = true;
  connect_failed_ = false;
  if (!was_up_) {
    was_up_ = true;
    owner_.emit_event(1 /* node up */, ep_.str(), "connected");
  }
  if (c->role() == Connection::Role::subscriber) {
    owner_.on_subscriber(c, true);
    return;
  }
  if (lease_connection(c)) {
    lease_idle_.push_back(c);
    hand_out_leases();
    return;
  }
  owner_.on_node_ready(*this);
  drain_waiting();
}

int NodePool::backoff_ms(int failures) const {
  if (failures <= 0) return 0;
  // At least 1 ms, growing from there: retry.backoff_ms=0 made a dead node a busy loop
  // of zero-delay reconnects.
  const long long floor_ms = 1;
  const long long cap = std::max<long long>(cfg_.retry_backoff_max_ms, floor_ms);
  long long d = std::max<long long>(cfg_.retry_backoff_ms, floor_ms);
  for (int i = 1; i < failures && d < cap; ++i) d *= 2;
  if (d > cap) d = cap;
  // Full jitter in [d/2, d]: a fleet of clients does not reconnect in lockstep.
  thread_local std::minstd_rand rng{std::random_device{}()};
  long long half = d / 2;
  long long ms = half + (d - half > 0 ? static_cast<long long>(rng() % static_cast<unsigned>(d - half + 1)) : 0);
  return static_cast<int>(std::max(ms, floor_ms));
}

// A request that was never sent and waits for a node that does not answer. In cluster,
// Raft and Sentinel modes the node may be replaced (a failover) and the request, unsent,
// is safe to send to its successor: it is held, up to its deadline, while the engine
// asks for a new topology at every failed reconnect (with the reconnect's backoff) and
// re-routes the queue when one arrives. Standalone has no successor to wait for, nor
// has a request for a node the caller named (or rcm's own, about this very node); a
// request without a deadline has no bound to wait to: they fail as before, at once when
// the node never answered, else after retry.max_attempts.
bool NodePool::holds_for_successor(const Request *r, Status why) const {
  if (why == Status::auth || why == Status::tls || why == Status::config) return false;
  return owner_.mode() != Mode::standalone && kind_ != Kind::sentinel && !r->internal && r->has_deadline() &&
         r->route != RouteKind::node;
}

// Completing a request runs callbacks that may re-enter this pool (a refresher that
// finishes its round publishes a topology, which takes every queue): work on a detached
// queue, and put back only what is kept. True when requests are held for a successor.
bool NodePool::fail_waiting(Status why, const std::string &message, bool count_attempt) {
  bool held = false;
  std::deque<Request *> queue;
  queue.swap(waiting_);
  std::deque<Request *> keep;
  std::vector<Request *> fail;
  const bool permanent = why == Status::auth || why == Status::tls || why == Status::config || !ever_up_;
  for (Request *r : queue) {
    if (r->completed) {
      request_release(r);
      continue;
    }
    if (holds_for_successor(r, why)) {
      // Not counted as a try: it waits for the successor up to its deadline instead.
      r->last_error = kNoConnectionPrefix + ep_.str() + " (" + message + ")";
      keep.push_back(r);
      held = true;
      continue;
    }
    if (count_attempt) ++r->connect_failures;
    // Nothing to wait for on a node that never answered (a bad address at open, a dead
    // node a redirect named): fail now rather than after every retry.
    if (permanent || r->tries() >= cfg_.retry_max_attempts)
      fail.push_back(r);
    else
      keep.push_back(r);
  }
  for (auto it = keep.rbegin(); it != keep.rend(); ++it) waiting_.push_front(*it);
  for (Request *r : fail) {
    request_fail(r, why, message);
    request_release(r);
  }
  return held;
}

void NodePool::on_connection_down(Connection *c, Status why, const std::string &message,
                                  std::vector<Request *> &resend, bool was_ready) {
  // Requests that were never sent (or are safe to resend) go first, in their order.
  for (auto it = resend.rbegin(); it != resend.rend(); ++it) waiting_.push_front(*it);
  resend.clear();
  if (c->role() == Connection::Role::subscriber) {
    owner_.on_subscriber(c, false);
    return;
  }

  if (lease_connection(c)) {
    auto idle = std::find(lease_idle_.begin(), lease_idle_.end(), c);
    bool was_idle = idle != lease_idle_.end();
    if (was_idle) lease_idle_.erase(idle);
    if (!was_ready || was_idle) {
      // A lease connection that failed to connect or died while idle is dropped; the
      // caller waiting for it (if any) hears why.
      bury(c);
      if (!was_ready && !lease_waiters_.empty()) {
        LeaseWaiter *w = lease_waiters_.front();
        lease_waiters_.pop_front();
        w->finish(why, message, nullptr);
      }
    }
    // A lease in use stays with its holder, broken, until released.
    return;
  }
  if (!was_ready) connect_failed_ = true;

  if (!up()) {
    if (was_up_) {
      was_up_ = false;
      owner_.emit_event(2 /* node down */, ep_.str(), message);
    }
    owner_.on_node_down(*this, why, message);
  }
  drain_waiting();
  if (!up() && fail_waiting(why, message, !was_ready) && owner_.mode() != Mode::cluster)
    // Raft/Sentinel only ask again when the primary itself is down (Engine::on_node_down);
    // requests held here (reads on a replica) wait for a new view to route them elsewhere.
    owner_.request_refresh("node " + ep_.str() + " down: " + message);
  if (shut_) return;
  c->schedule_reconnect(was_ready ? 0 : backoff_ms(c->failures()));
}

void NodePool::bury(Connection *c) {
  for (auto it = leases_.begin(); it != leases_.end(); ++it) {
    if (it->get() == c) {
      graveyard_.push_back(std::move(*it));
      leases_.erase(it);
      return;
    }
  }
}

void NodePool::acquire_lease(LeaseWaiter *w) {
  if (shut_) {
    w->finish(Status::closed, "client closed", nullptr);
    return;
  }
  if (cfg_.pool_max_leases == 0) {
    w->finish(Status::pool_timeout, "pool.max_leases is 0: leases are disabled", nullptr);
    return;
  }
  ++uses_;
  w->deadline = Clock::now() + std::chrono::milliseconds(cfg_.pool_lease_timeout_ms);
  lease_waiters_.push_back(w);
  hand_out_leases();
}

void NodePool::hand_out_leases() {
  while (!lease_waiters_.empty()) {
    // Idle connections that broke meanwhile are dropped, not handed out.
    while (!lease_idle_.empty() && !lease_idle_.back()->ready()) {
      Connection *dead = lease_idle_.back();
      lease_idle_.pop_back();
      bury(dead);
    }
    if (!lease_idle_.empty()) {
      Connection *c = lease_idle_.back();
      lease_idle_.pop_back();
      LeaseWaiter *w = lease_waiters_.front();
      lease_waiters_.pop_front();
      ++leases_in_use_;
      w->finish(Status::ok, "", c);
      continue;
    }
    // Start as many connections as there are waiters, within pool.max_leases.
    size_t connecting = 0;
    for (const auto &c : leases_)
      if (c->state() == Connection::State::connecting || c->state() == Connection::State::handshaking) ++connecting;
    if (connecting >= lease_waiters_.size() || static_cast<int>(leases_.size()) >= cfg_.pool_max_leases) return;
    leases_.push_back(std::make_unique<Connection>(owner_.io_context(), target_, *this, Connection::Role::lease));
    leases_.back()->connect();
  }
}

void NodePool::release_lease(Connection *c) {
  --leases_in_use_;
  if (!shut_ && c->reusable()) {
    c->clean();
    lease_idle_.push_back(c);
  } else {
    // Subscribed, blocked, mid-reply, or broken: never hand it to the next caller.
    c->shutdown(Status::closed, "lease released while the connection was not clean");
    bury(c);
  }
  hand_out_leases();
}

void NodePool::take_waiting(std::vector<Request *> &out) {
  // rcm's own requests (topology and leader queries) are about this node: they stay.
  std::deque<Request *> keep;
  for (Request *r : waiting_) {
    if (r->internal)
      keep.push_back(r);
    else
      out.push_back(r);
  }
  waiting_.swap(keep);
}

void NodePool::tick(Clock::time_point now) {
  graveyard_.clear();
  while (!lease_waiters_.empty()) {
    auto it = std::find_if(lease_waiters_.begin(), lease_waiters_.end(),
                           [now](LeaseWaiter *w) { return w->deadline <= now; });
    if (it == lease_waiters_.end()) break;
    LeaseWaiter *w = *it;
    lease_waiters_.erase(it);
    w->finish(Status::pool_timeout,
              "no lease on " + ep_.str() + " became free within " + std::to_string(cfg_.pool_lease_timeout_ms) +
                  " ms (pool.max_leases=" + std::to_string(cfg_.pool_max_leases) + ", " +
                  std::to_string(leases_in_use_) + " in use)",
              nullptr);
  }
  // Waiting requests whose deadline passed are completed by the engine's deadline heap;
  // drop them here so the queue does not hold them.
  while (!waiting_.empty() && waiting_.front()->completed) {
    request_release(waiting_.front());
    waiting_.pop_front();
  }
  int timeout = std::max(cfg_.command_timeout_ms, 1000);
  for (const auto &c : shared_) c->health_check(now, cfg_.pool_health_check_ms, timeout);
  // A check that fails a connection takes it out of lease_idle_ (on_connection_down):
  // walk a copy. Buried connections live in graveyard_ until the next tick.
  std::vector<Connection *> idle(lease_idle_);
  for (Connection *c : idle) c->health_check(now, cfg_.pool_health_check_ms, timeout);
  // Leases in use are not health-checked (a PING would mix with the caller's replies),
  // but a stalled one is given up as well; collected first, as failing buries it.
  std::vector<Connection *> stalled;
  for (const auto &c : leases_)
    if (c->stalled(now)) stalled.push_back(c.get());
  for (Connection *c : stalled) c->fail_stalled();
}

bool NodePool::unused_for(Clock::time_point now, Clock::duration idle) {
  bool busy = !waiting_.empty() || leases_in_use_ > 0 || !lease_waiters_.empty() || uses_ != uses_seen_;
  for (const auto &c : shared_) busy = busy || c->in_flight() > 0;
  for (const auto &c : leases_) busy = busy || c->in_flight() > 0;
  uses_seen_ = uses_;
  if (busy) {
    unused_since_ = now;
    return false;
  }
  return now - unused_since_ >= idle;
}

void NodePool::shutdown(Status why, const std::string &message) {
  if (shut_) return;
  shut_ = true;
  for (auto &c : shared_) c->shutdown(why, message);
  for (auto &c : leases_) c->shutdown(why, message);
  std::deque<Request *> queue;
  queue.swap(waiting_);
  for (Request *r : queue) {
    request_fail(r, why, message);
    request_release(r);
  }
  std::deque<LeaseWaiter *> waiters;
  waiters.swap(lease_waiters_);
  for (LeaseWaiter *w : waiters) w->finish(why, message, nullptr);
}

NodeSnapshot NodePool::snapshot() const {
  NodeSnapshot s;
  s.address = ep_.str();
  s.role = kind_ == Kind::primary ? "primary" : kind_ == Kind::replica ? "replica" : "sentinel";
  for (const auto &c : shared_) {
    ++s.connections;
    if (c->ready()) ++s.connected;
    s.in_flight += c->in_flight();
  }
  for (const Request *r : waiting_)
    if (!r->completed) s.queued += unit_size(r);
  s.leases_total = static_cast<int>(leases_.size());
  s.leases_in_use = leases_in_use_;
  s.lease_waiters = lease_waiters_.size();
  s.up = up();
  s.stats = stats_;
  return s;
}

}  // namespace rcm::core
