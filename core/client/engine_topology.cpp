// The engine's view of the servers: a cluster's slot map or a Raft/Sentinel primary
// applied to its pools, nodes coming and going, and what the refresher or tracker of
// engine 0 is told and tells (TopologyHost). Split from engine.cpp; see engine.h.
#include <memory>
#include <utility>

#include "core/client/client.h"
#include "core/client/engine.h"
#include "core/pubsub/pubsub_manager.h"
#include "core/resp/encoder.h"
#include "core/topology/cluster_refresher.h"
#include "core/topology/primary_tracker.h"

namespace rcm::core {

void Engine::apply_topology(std::shared_ptr<const ClusterTopology> topo) {
  if (shut_) return;
  topo_ = std::move(topo);
  slot_primary_.assign(kSlots, nullptr);
  shard_replicas_.assign(topo_->shards.size(), {});
  std::vector<NodePool *> primaries;
  for (size_t s = 0; s < topo_->shards.size(); ++s) {
    const Shard &shard = topo_->shards[s];
    primaries.push_back(&pool_for(shard.primary.endpoint, NodePool::Kind::primary));
    if (cfg_.read_from != ReadFrom::primary) {
      for (const ClusterNode &n : shard.replicas)
        if (n.healthy) shard_replicas_[s].push_back(&pool_for(n.endpoint, NodePool::Kind::replica));
    }
  }
  for (int slot = 0; slot < kSlots; ++slot) {
    int s = topo_->slot_shard[slot];
    if (s >= 0) slot_primary_[slot] = primaries[s];
  }
  reroute_waiting();
  if (pubsub_) pubsub_->on_topology();
}

void Engine::request_refresh(const std::string &reason) {
  if (mode_ == Mode::standalone || shut_) return;
  if (refresher_) {
    refresher_->request(reason);
    return;
  }
  if (tracker_) {
    tracker_->request(reason);
    return;
  }
  client_.request_refresh(reason);
}

void Engine::on_node_ready(NodePool &pool) {
  // COMMAND once per client, on the first engine: it refines the built-in command table.
  if (asked_commands_ || index_ != 0 || client_.learned_commands() || pool.is_replica()) return;
  asked_commands_ = true;
  auto *r = new Request();
  const char *argv[] = {"COMMAND"};
  size_t lens[] = {7};
  encode_command(r->payload, 1, argv, lens);
  r->cmd.flags = kCmdReadonly;
  r->created = Clock::now();
  r->deadline = r->created + std::chrono::seconds(10);
  r->done = &Engine::on_command_table;
  r->ctx = this;
  r->engine = this;
  r->internal = true;
  watch_deadline(r);
  pool.dispatch(r);
}

void Engine::on_command_table(Request *r, Status status, Reply *reply) {
  std::unique_ptr<Reply> owned(reply);
  auto *e = static_cast<Engine *>(r->ctx);
  if (status == Status::ok && reply && reply->kind == ReplyKind::array) e->client_.learn_commands(*reply);
}

void Engine::send_internal(Request *r, NodePool &pool) {
  r->engine = this;
  // Pinned to its node: if the pool's queue is re-routed, it must not wander.
  r->route = RouteKind::node;
  r->route_node = pool.endpoint().str();
  watch_deadline(r);
  pool.dispatch(r);
}

void Engine::on_node_down(NodePool &pool, Status, const std::string &message) {
  if (mode_ == Mode::cluster) request_refresh("node " + pool.endpoint().str() + " down: " + message);
  if ((mode_ == Mode::raft || mode_ == Mode::sentinel) && &pool == primary_ && !shut_) {
    // The writable node is gone: what waits for it waits for its successor instead (up
    // to each request's deadline) while the tracker looks for it.
    std::vector<Request *> moved;
    pool.take_waiting(moved);
    for (Request *r : moved) queue_unrouted(r);
    primary_ = nullptr;
    request_refresh("primary " + pool.endpoint().str() + " down: " + message);
  }
}

void Engine::apply_primary(const Endpoint &ep, const std::vector<Endpoint> &replicas) {
  if (shut_) return;
  primary_ = &pool_for(ep, NodePool::Kind::primary);
  replicas_.clear();
  if (cfg_.read_from != ReadFrom::primary)
    for (const Endpoint &r : replicas) replicas_.push_back(&pool_for(r, NodePool::Kind::replica));
  reroute_waiting();
  if (pubsub_) pubsub_->on_topology();
}

void Engine::primary_hint(const Endpoint &ep, const std::string &cause) {
  if (tracker_) tracker_->hint(ep, cause);
}

void Engine::on_subscriber(Connection *c, bool ready) {
  if (pubsub_ && pubsub_->on_subscriber(c, ready)) return;
  if (tracker_) tracker_->on_subscriber(c, ready);
}

void Engine::emit_event(int kind, const std::string &node, const std::string &detail) {
  client_.emit_event(kind, node, detail);
}

void Engine::publish_topology(std::shared_ptr<const ClusterTopology> topo, std::shared_ptr<const ClusterTopology> previous,
                              bool changed) {
  client_.publish_topology(std::move(topo), std::move(previous), changed);
}

void Engine::topology_failed(Status status, const std::string &message) { client_.topology_failed(status, message); }

void Engine::publish_primary(const Endpoint &ep, const std::vector<Endpoint> &replicas, const std::string &old,
                             const std::string &cause) {
  client_.publish_primary(ep, replicas, old, cause);
}

void Engine::primary_not_found(Status status, const std::string &message) { client_.primary_not_found(status, message); }

}  // namespace rcm::core
