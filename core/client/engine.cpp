#include "core/client/engine.h"

#include <event2/event.h>

#include <algorithm>

#include "core/cache/invalidation_links.h"
#include "core/client/client.h"
#include "core/common/guard.h"
#include "core/common/strings.h"
#include "core/net/connection.h"
#include "core/net/io_thread.h"
#include "core/pubsub/pubsub_manager.h"
#include "core/resp/encoder.h"
#include "core/topology/cluster_refresher.h"
#include "core/topology/primary_tracker.h"

namespace rcm::core {

namespace {
constexpr int kTickMs = 50;

std::string pool_key(const Endpoint &ep, NodePool::Kind kind) {
  return kind == NodePool::Kind::replica ? ep.str() + "#replica" : ep.str();
}
}  // namespace

Engine::Engine(Client &client, IoThread &io, const Config &cfg, const TlsContext *tls, int index, Mode mode)
    : client_(client), io_(io), cfg_(cfg), tls_(tls), index_(index), mode_(mode) {
  if (index_ == 0) pubsub_ = std::make_unique<PubSubManager>(*this, client.pubsub());
  if (index_ == 0 && client.cache() != nullptr) cache_links_ = std::make_unique<InvalidationLinks>(*client.cache(), *this);
}

Engine::~Engine() {
  shutdown();
  pubsub_.reset();
  cache_links_.reset();
  refresher_.reset();
  tracker_.reset();
  pools_.clear();
  for (const Deadline &d : deadline_fifo_) request_release(d.second);
  deadline_fifo_.clear();
  for (auto *heap : {&deadlines_, &delayed_}) {
    while (!heap->empty()) {
      request_release(heap->top().second);
      heap->pop();
    }
  }
  if (deadline_timer_) event_free(deadline_timer_);
  if (tick_) event_free(tick_);
  if (flush_ev_) event_free(flush_ev_);
}

// pool.size split over the I/O threads (each needs one): max(pool.size, io_threads) in all.
int Engine::shared_connections_per_node() const {
  int n = cfg_.pool_size / cfg_.io_threads + (static_cast<int>(index_) < cfg_.pool_size % cfg_.io_threads ? 1 : 0);
  return n < 1 ? 1 : n;
}

void Engine::start() {
  deadline_timer_ = evtimer_new(io_.base(), RCM_GUARDED(Engine::on_deadline), this);
  tick_ = event_new(io_.base(), -1, EV_PERSIST, RCM_GUARDED(Engine::on_tick), this);
  flush_ev_ = event_new(io_.base(), -1, 0, RCM_GUARDED(Engine::on_flush), this);
  io_.set_after_tasks(&Engine::after_tasks, this);
  timeval tv{0, kTickMs * 1000};
  event_add(tick_, &tv);
  if (mode_ == Mode::cluster) {
    if (index_ == 0) {
      refresher_ = std::make_unique<ClusterRefresher>(*this);
      refresher_->start();
    }
    return;
  }
  if (mode_ == Mode::raft || mode_ == Mode::sentinel) {
    if (index_ == 0) {
      if (mode_ == Mode::raft)
        tracker_ = std::make_unique<RaftTracker>(*this);
      else
        tracker_ = std::make_unique<SentinelTracker>(*this);
      tracker_->start();
    }
    return;
  }
  primary_ = &pool_for(cfg_.seeds.front(), NodePool::Kind::primary);
}

NodePool &Engine::pool_for(const Endpoint &ep, NodePool::Kind kind) {
  std::string key = pool_key(ep, kind);
  auto it = pools_.find(key);
  if (it != pools_.end()) return *it->second;
  auto pool = std::make_unique<NodePool>(*this, ep, kind);
  if (client_.cache() != nullptr && kind != NodePool::Kind::sentinel)
    pool->set_tracking(&client_.cache()->node(ep.str())->tracking);
  NodePool &ref = *pool;
  pools_.emplace(key, std::move(pool));
  ref.start();
  return ref;
}

// ---- flushing ---------------------------------------------------------------------

// Inside a batch of posted tasks the I/O thread's after-tasks hook flushes (flush_dirty);
// elsewhere (a socket's callback, a timer) the flush event runs once the loop's current
// callbacks are done. Either way one write per connection per round of work, and for a
// lone request the hook saves activating and dispatching an event (about 250 instructions).
void Engine::want_flush(Connection *c) {
  dirty_.push_back(c);
  if (dirty_.size() == 1 && !io_.running_tasks()) event_active(flush_ev_, EV_TIMEOUT, 0);
}

void Engine::forget_flush(Connection *c) { dirty_.erase(std::remove(dirty_.begin(), dirty_.end(), c), dirty_.end()); }

void Engine::on_flush(int, short, void *arg) { static_cast<Engine *>(arg)->flush_dirty(); }

void Engine::after_tasks(void *arg) { static_cast<Engine *>(arg)->flush_dirty(); }

void Engine::flush_dirty() {
  reap_completed();
  // flush() may fail a connection, which resends elsewhere and dirties others: repeat.
  // The two vectors trade places and keep their capacity: a local one here cost a malloc
  // and a free per flush, that is per request when requests come one at a time.
  std::vector<Connection *> &batch = flushing_;
  while (!dirty_.empty()) {
    batch.clear();  // also what a flush that threw left behind
    batch.swap(dirty_);
    for (Connection *c : batch) c->flush();
  }
  batch.clear();
}

// ---- submission and routing ---------------------------------------------------------

void Engine::submit_task(void *arg) {
  auto *r = static_cast<Request *>(arg);
  r->engine->submit(r);
}

void Engine::submit_batch_task(void *arg) {
  std::unique_ptr<Batch> b(static_cast<Batch *>(arg));
  Engine *e = b->engine;
  for (Request *r : b->requests) e->watch_deadline(r);
  if (e->shut_) {
    for (Request *r : b->requests) {
      request_fail(r, Status::closed, "client closed");
      request_release(r);
    }
    return;
  }
  e->dispatch_unit(b->requests);
}

// Requests for the same node leave together, in order, on one connection of it: the
// pipeline's order holds per node (nodes run in parallel). Each group is a unit from here
// on (request.h): queued, resent and rerouted whole, so a MULTI ... EXEC block never
// straddles two connections. Requests with no known node yet wait as one unit too.
void Engine::dispatch_unit(std::vector<Request *> &reqs) {
  unit_settle(reqs);
  std::vector<std::pair<NodePool *, std::vector<Request *>>> groups;
  std::vector<Request *> unknown;
  for (Request *r : reqs) {
    if (r->completed) {
      request_release(r);
      continue;
    }
    if (r->internal && r->route != RouteKind::node) {
      // ASKING belongs to the node that asked; its command, routed afresh, is told again.
      request_fail(r, Status::closed, "ASKING dropped: its command was rerouted");
      request_release(r);
      continue;
    }
    bool wait = false;
    NodePool *p = (r->split || r->route == RouteKind::all_primaries || r->route == RouteKind::all_nodes)
                      ? nullptr
                      : route(r, &wait);
    if (p == nullptr) {
      if (wait && !r->split) {
        unknown.push_back(r);
      } else {
        dispatch(r);
      }
      continue;
    }
    clear_wait_reason(r);
    auto it = std::find_if(groups.begin(), groups.end(), [p](const auto &g) { return g.first == p; });
    if (it == groups.end()) {
      groups.emplace_back(p, std::vector<Request *>{});
      it = groups.end() - 1;
    }
    it->second.push_back(r);
  }
  for (auto &g : groups) {
    const uint64_t id = unit_next_id();
    for (Request *r : g.second) r->unit = id;
    g.first->dispatch_batch(g.second);
  }
  if (!unknown.empty()) {
    const uint64_t id = unit_next_id();
    for (Request *r : unknown) r->unit = id;
    std::string why = unknown.front()->last_error;
    if (Request *head = unit_pack(unknown)) queue_unrouted(head);
    request_refresh(why);
  }
}

// Requests whose node is unknown (no slot owner, no leader yet) wait here until a
// topology names one or their deadline ends them; pool.max_pending bounds them as it
// bounds a node's queue.
void Engine::queue_unrouted(Request *r) {
  const size_t n = unit_size(r);
  if (unrouted_count_ + n > static_cast<size_t>(cfg_.pool_max_pending)) {
    request_fail(r, Status::backpressure,
                 "queue for requests with no known node is full (pool.max_pending=" +
                     std::to_string(cfg_.pool_max_pending) + ")" + (r->last_error.empty() ? "" : ": " + r->last_error));
    request_release(r);
    return;
  }
  unrouted_count_ += n;
  unrouted_.push_back(r);
}

void Engine::submit_lease_task(void *arg) {
  auto *r = static_cast<Request *>(arg);
  Engine *e = r->engine;
  e->watch_deadline(r);
  Connection *c = r->lease;
  if (e->shut_) {
    request_fail(r, Status::closed, "client closed");
  } else if (!c->ready()) {
    request_fail(r, Status::connection, "the lease's connection to " + c->endpoint().str() + " is closed");
  } else {
    r->stats = &c->stats();
    ++r->stats->requests;
    c->send(r);
    return;
  }
  request_release(r);
}

void Engine::submit(Request *r) {
  watch_deadline(r);
  dispatch(r);
}

void Engine::dispatch(Request *r) {
  if (r->unit_tail) {
    std::vector<Request *> unit;
    unit_unpack(r, unit);
    dispatch_unit(unit);
    return;
  }
  if (r->completed) {
    request_release(r);
    return;
  }
  if (shut_) {
    request_fail(r, Status::closed, "client closed");
    request_release(r);
    return;
  }
  if (r->split || r->route == RouteKind::all_primaries || r->route == RouteKind::all_nodes) {
    if ((mode_ == Mode::cluster && !topo_) || (mode_ != Mode::cluster && primary_ == nullptr)) {
      queue_unrouted(r);
      return;
    }
    fan_out(r);
    return;
  }
  bool wait = false;
  NodePool *pool = route(r, &wait);
  if (pool == nullptr) {
    if (wait) {
      std::string why = r->last_error;
      queue_unrouted(r);
      request_refresh(why);
      return;
    }
    request_fail(r, Status::arg, "route: no node " + r->route_node + " in the topology");
    request_release(r);
    return;
  }
  clear_wait_reason(r);  // it has a node now
  if (!r->ask_node.empty()) {
    r->track = false;  // nothing may come between ASKING and its command
    // ASK: this node serves the slot for this one command, after ASKING.
    auto *asking = new Request();
    const char *argv[] = {"ASKING"};
    size_t lens[] = {6};
    encode_command(asking->payload, 1, argv, lens);
    asking->internal = true;
    asking->unit = r->unit = unit_next_id();
    asking->created = Clock::now();
    asking->done = [](Request *, Status, Reply *reply) { delete reply; };
    r->ask_node.clear();
    std::vector<Request *> pair{asking, r};
    pool->dispatch_batch(pair);
    return;
  }
  pool->dispatch(r);
}

NodePool *Engine::random_primary(bool random) {
  if (!topo_ || topo_->shards.empty()) return nullptr;
  size_t n = topo_->shards.size();
  size_t i;
  if (random) {
    i = static_cast<size_t>(next_random() % n);
  } else {
    i = rr_++ % n;
  }
  return &pool_for(topo_->shards[i].primary.endpoint, NodePool::Kind::primary);
}

NodePool *Engine::pick_replica(int shard, NodePool *primary) {
  if (shard < 0 || static_cast<size_t>(shard) >= shard_replicas_.size()) return nullptr;
  const auto &replicas = shard_replicas_[shard];
  if (cfg_.read_from == ReadFrom::nearest) {
    // A node whose estimate went stale gets one read to renew it (at most one a second
    // per node), so that the choice follows a node that got faster, not only slower.
    Clock::time_point now = Clock::now();
    if (primary->up() && primary->stats().latency_stale(now)) {
      primary->stats().probe_at = now;
      return primary;
    }
    NodePool *best = primary;
    for (NodePool *p : replicas) {
      if (!p->up()) continue;
      if (p->stats().latency_stale(now)) {
        p->stats().probe_at = now;
        return p;
      }
      if (p->latency_ewma_us() < best->latency_ewma_us()) best = p;
    }
    return best;
  }
  for (size_t i = 0; i < replicas.size(); ++i) {
    NodePool *p = replicas[(rr_ + i) % replicas.size()];
    if (p->up()) {
      ++rr_;
      return p;
    }
  }
  // None ready yet (just opened): one still connecting queues the read until it is.
  for (size_t i = 0; i < replicas.size(); ++i) {
    NodePool *p = replicas[(rr_ + i) % replicas.size()];
    if (!p->failing()) {
      ++rr_;
      return p;
    }
  }
  // All failing. read_from=replica may not fall back to the primary: the read waits on a
  // replica's pool, which reconnects with backoff and asks for a new map at every failed
  // try (a promotion or a replacement re-routes it), until its deadline.
  if (cfg_.read_from == ReadFrom::replica && !replicas.empty()) return replicas[rr_++ % replicas.size()];
  return nullptr;
}

// Why a request waits in unrouted_ (fail_at_deadline reports it when the deadline comes).
void Engine::set_wait_reason(Request *r, bool *wait, bool for_replica) {
  *wait = true;
  r->last_error = (for_replica ? kNoReplicaPrefix : kNoOwnerPrefix) + std::to_string(r->slot);
  if (for_replica) r->last_error += " is up";
}

void Engine::clear_wait_reason(Request *r) {
  if (!r->last_error.empty() && (starts_with(r->last_error, kNoOwnerPrefix) || starts_with(r->last_error, kNoReplicaPrefix)))
    r->last_error.clear();
}

NodePool *Engine::route(Request *r, bool *wait) {
  *wait = false;
  if (mode_ == Mode::standalone) {
    if (r->route == RouteKind::node) {
      Endpoint ep;
      if (!try_parse_endpoint(r->route_node, &ep) || ep != primary_->endpoint()) return nullptr;
    }
    return primary_;
  }
  if (mode_ == Mode::raft || mode_ == Mode::sentinel) {
    if (r->route == RouteKind::node) {
      // route_node was checked when the request was made; route() runs under libevent
      // callbacks, where an exception would end the process.
      Endpoint ep;
      if (!try_parse_endpoint(r->route_node, &ep)) return nullptr;
      return &pool_for(ep, primary_ && primary_->endpoint() == ep ? NodePool::Kind::primary : NodePool::Kind::replica);
    }
    // A transaction's commands (pinned) go where its MULTI goes: the primary.
    if ((r->cmd.flags & kCmdReadonly) && cfg_.read_from != ReadFrom::primary && !replicas_.empty() &&
        r->redirects == 0 && !r->pinned) {
      for (size_t i = 0; i < replicas_.size(); ++i) {
        NodePool *p = replicas_[(rr_ + i) % replicas_.size()];
        if (p->up()) {
          ++rr_;
          return p;
        }
      }
    }
    if (primary_ == nullptr) set_wait_reason(r, wait, false);
    return primary_;
  }
  if (!r->ask_node.empty()) {
    Endpoint ep;
    if (try_parse_endpoint(r->ask_node, &ep)) return &pool_for(ep, NodePool::Kind::primary);
    r->ask_node.clear();  // (checked when the ASK was read) route by slot instead
  }
  switch (r->route) {
    case RouteKind::node: {
      if (r->follows_shard) follow_shard(r);
      Endpoint ep;
      if (!try_parse_endpoint(r->route_node, &ep)) return nullptr;
      auto it = pools_.find(pool_key(ep, NodePool::Kind::primary));
      if (it != pools_.end()) return it->second.get();
      it = pools_.find(pool_key(ep, NodePool::Kind::replica));
      if (it != pools_.end()) return it->second.get();
      if (topo_) {
        for (const Shard &s : topo_->shards) {
          if (s.primary.endpoint == ep) return &pool_for(ep, NodePool::Kind::primary);
          for (const ClusterNode &n : s.replicas)
            if (n.endpoint == ep) return &pool_for(ep, NodePool::Kind::replica);
        }
      }
      return nullptr;
    }
    case RouteKind::any:
    case RouteKind::random: {
      // "any": the next primary in turn (spreads keyless commands); "random": a random one.
      NodePool *p = random_primary(r->route == RouteKind::random);
      if (p == nullptr) set_wait_reason(r, wait, false);
      return p;
    }
    default:
      break;
  }
  if (r->slot < 0 || !topo_) {
    set_wait_reason(r, wait, false);
    return nullptr;
  }
  NodePool *owner = slot_primary_[r->slot];
  if (owner == nullptr) {
    set_wait_reason(r, wait, false);
    return nullptr;
  }
  if ((r->cmd.flags & kCmdReadonly) && cfg_.read_from != ReadFrom::primary && r->redirects == 0 && !r->pinned) {
    NodePool *replica = pick_replica(topo_->slot_shard[r->slot], owner);
    if (replica != nullptr) return replica;
    if (cfg_.read_from == ReadFrom::replica) {
      // Strict: never a silent read from the primary. The shard has no replica in the
      // map (a fresh cluster's gossip may not have named one yet, or the only one failed):
      // the read waits, within its deadline, for a map that names one.
      set_wait_reason(r, wait, true);
      return nullptr;
    }
  }
  return owner;
}

void Engine::reroute_waiting() {
  std::vector<Request *> again(unrouted_.begin(), unrouted_.end());
  unrouted_.clear();
  unrouted_count_ = 0;
  for (auto &kv : pools_) kv.second->take_waiting(again);
  for (Request *r : again) dispatch(r);
}

// ---- leases, shutdown, snapshots -----------------------------------------------------------

void Engine::acquire_lease(LeaseWaiter *w, int slot) {
  if (shut_) {
    w->finish(Status::closed, "client closed", nullptr);
    return;
  }
  NodePool *pool = primary_;
  if (pool == nullptr && mode_ != Mode::cluster) {
    w->finish(Status::no_leader, "no primary known yet", nullptr);
    return;
  }
  if (mode_ == Mode::cluster) {
    pool = slot >= 0 && topo_ ? slot_primary_[slot] : random_primary();
    if (pool == nullptr) {
      w->finish(Status::clusterdown,
                slot >= 0 ? kNoOwnerPrefix + std::to_string(slot) : "no known primary", nullptr);
      return;
    }
  }
  pool->acquire_lease(w);
}

void Engine::release_lease(Connection *c) {
  if (shut_) return;
  NodePool::of(c).release_lease(c);
}

void Engine::shutdown() {
  if (shut_) return;
  shut_ = true;
  io_.set_after_tasks(nullptr, nullptr);
  // Its connections belong to pools closed next; its subscribers hear the client closed.
  if (pubsub_) pubsub_->shutdown();
  if (cache_links_) cache_links_->shutdown();
  for (auto &kv : pools_) kv.second->shutdown(Status::closed, "client closed");
  for (Request *r : unrouted_) {
    request_fail(r, Status::closed, "client closed");
    request_release(r);
  }
  unrouted_.clear();
  unrouted_count_ = 0;
  while (!delayed_.empty()) {
    Request *r = delayed_.top().second;
    delayed_.pop();
    request_fail(r, Status::closed, "client closed");
    request_release(r);
  }
  // What only the deadline heap still holds (a retry that would not come before its
  // deadline) ends now, as closed: its deadline did not pass.
  for (const Deadline &d : deadline_fifo_) close_watched(d.second);
  deadline_fifo_.clear();
  while (!deadlines_.empty()) {
    close_watched(deadlines_.top().second);
    deadlines_.pop();
  }
  if (deadline_timer_) event_del(deadline_timer_);
  if (tick_) event_del(tick_);
}

std::vector<NodeSnapshot> Engine::snapshot() const {
  std::vector<NodeSnapshot> out;
  for (const auto &kv : pools_) out.push_back(kv.second->snapshot());
  return out;
}

}  // namespace rcm::core
