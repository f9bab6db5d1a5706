// Engine: closing the pools of nodes that left the deployment (pools_ would otherwise
// only grow: every node that left, MOVED/ASK target, follower's MOVED and named route
// would keep its connections and reconnect forever). Runs on the engine's I/O thread.
#include <algorithm>

#include "core/client/engine.h"
#include "core/pubsub/pubsub_manager.h"

namespace rcm::core {

namespace {
// The items of a priority_queue (its container is a protected member).
template <class Q>
const typename Q::container_type &heap_items(const Q &q) {
  struct Peek : Q {
    static const typename Q::container_type &of(const Q &q) { return q.*&Peek::c; }
  };
  return Peek::of(q);
}
}  // namespace

// How long a pool of a node outside the topology stays open unused: two periodic
// refreshes (a node briefly missing from one view, or a MOVED target the next refresh
// will name, keeps its connections), at least 1 s and at most 60 s; 60 s when periodic
// refresh is off.
int Engine::pool_idle_ms() const {
  const int refresh = cfg_.topology_refresh_ms;
  if (refresh <= 0 || refresh > 30000) return 60000;
  return std::max(2 * refresh, 1000);
}

bool Engine::named_by_config_or_topology(const Endpoint &ep) const {
  // Seeds are where the refresher and the trackers look when everything else failed.
  for (const Endpoint &s : cfg_.seeds)
    if (s == ep) return true;
  if (!topo_) return false;
  for (const Shard &s : topo_->shards) {
    if (s.primary.endpoint == ep) return true;
    for (const ClusterNode &n : s.replicas)
      if (n.endpoint == ep) return true;
  }
  return false;
}

// Pools of nodes that left the topology (or were only a MOVED/ASK target, a follower's
// MOVED, a route to a named node) would otherwise keep their connections, reconnect
// forever and stay in the stats. One that nothing routes to, nothing uses and nothing
// refers to is closed and dropped; a later request for that node opens a new one.
void Engine::drop_unused_pools(Clock::time_point now) {
  if (now < next_pool_check_ || shut_) return;
  next_pool_check_ = now + std::chrono::seconds(1);
  const auto idle = std::chrono::milliseconds(pool_idle_ms());
  std::vector<NodePool *> doomed;
  for (auto &kv : pools_) {
    NodePool *p = kv.second.get();
    // Sentinel pools serve the tracker (its subscriber connection refers to them).
    if (p->unused_for(now, idle) && !p->is_sentinel() && !named_by_config_or_topology(p->endpoint()))
      doomed.push_back(p);
  }
  if (doomed.empty()) return;
  auto referenced = [&](NodePool *p) {
    if (p == primary_) return true;
    if (pubsub_ && pubsub_->uses(p->endpoint())) return true;  // its subscriber connection refers to it
    if (std::find(replicas_.begin(), replicas_.end(), p) != replicas_.end()) return true;
    if (std::find(slot_primary_.begin(), slot_primary_.end(), p) != slot_primary_.end()) return true;
    for (const auto &v : shard_replicas_)
      if (std::find(v.begin(), v.end(), p) != v.end()) return true;
    return false;
  };
  doomed.erase(std::remove_if(doomed.begin(), doomed.end(), referenced), doomed.end());
  if (doomed.empty()) return;
  // Requests outside every pool (waiting for a route, a retry or their deadline) may
  // still name one as where they were last sent; they must not reach a freed one.
  auto detach_one = [&doomed](Request *r) {
    if (r->sent_to == nullptr && r->stats == nullptr) return;
    for (NodePool *p : doomed) {
      if (r->sent_to == p || r->stats == &p->stats()) {
        r->sent_to = nullptr;
        r->stats = nullptr;
      }
    }
  };
  // A queued unit's head carries the rest of it (request.h).
  auto detach = [&detach_one](Request *r) {
    detach_one(r);
    if (r->unit_tail)
      for (Request *t : *r->unit_tail) detach_one(t);
  };
  for (Request *r : unrouted_) detach(r);
  for (const Deadline &d : deadline_fifo_) detach(d.second);
  for (const Deadline &d : heap_items(deadlines_)) detach(d.second);
  for (const Deadline &d : heap_items(delayed_)) detach(d.second);
  for (auto it = pools_.begin(); it != pools_.end();) {
    if (std::find(doomed.begin(), doomed.end(), it->second.get()) != doomed.end())
      it = pools_.erase(it);
    else
      ++it;
  }
}

}  // namespace rcm::core
