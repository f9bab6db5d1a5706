// The client's introspection: the stats and topology JSON (rcm_client_stats_json,
// rcm_client_topology_json), gathered from every engine on its own I/O thread.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "core/client/client.h"
#include "core/client/engine.h"
#include "core/client/json.h"
#include "core/net/io_thread.h"

namespace rcm::core {

void Client::check_snapshot_allowed(const char *what) const {
  if (on_io_thread())
    throw Error(Status::state, std::string(what) +
                                   " called from an rcm_callback would wait for the client's I/O threads, one of "
                                   "which runs the callback: call it from another thread");
}

std::string Client::stats_json() {
  check_snapshot_allowed("rcm_client_stats_json");
  std::vector<NodeSnapshot> all;
  for (size_t i = 0; i < engines_.size(); ++i) {
    Engine *e = engines_[i].get();
    std::vector<NodeSnapshot> part;
    if (closed() || !io_[i]->run_sync([&] { part = e->snapshot(); })) throw Error(Status::closed, "client closed");
    for (auto &s : part) {
      auto it = std::find_if(all.begin(), all.end(),
                             [&](const NodeSnapshot &x) { return x.address == s.address && x.role == s.role; });
      if (it == all.end()) {
        all.push_back(std::move(s));
        continue;
      }
      it->connections += s.connections;
      it->connected += s.connected;
      it->in_flight += s.in_flight;
      it->queued += s.queued;
      it->leases_total += s.leases_total;
      it->leases_in_use += s.leases_in_use;
      it->lease_waiters += s.lease_waiters;
      it->up = it->up || s.up;
      it->stats.merge(s.stats);
    }
  }
  for (NodeSnapshot &s : all) s.role = role_of(s.address, s.role);
  JsonWriter j;
  j.begin_object();
  j.key("mode").value(mode_name(mode_));
  j.key("io_threads").value(static_cast<long long>(io_.size()));
  j.key("topology_refreshes").value(static_cast<long long>(refreshes_.load()));
  // Where command flags and key positions come from: the server's COMMAND reply once the
  // first node answered it, the built-in table until then.
  const CommandTable &table = commands();
  j.key("command_table").value(table.learned() ? "COMMAND" : "built-in");
  j.key("commands_known").value(static_cast<long long>(table.size()));
  j.key("servers").begin_array();
  for (const NodeSnapshot &s : all) {
    j.begin_object();
    j.key("address").value(s.address);
    j.key("role").value(s.role);
    j.key("up").value(s.up);
    j.key("connections").value(static_cast<long long>(s.connections));
    j.key("connected").value(static_cast<long long>(s.connected));
    j.key("in_flight").value(static_cast<long long>(s.in_flight));
    j.key("queued").value(static_cast<long long>(s.queued));
    j.key("leases_total").value(static_cast<long long>(s.leases_total));
    j.key("leases_in_use").value(static_cast<long long>(s.leases_in_use));
    j.key("lease_waiters").value(static_cast<long long>(s.lease_waiters));
    j.key("requests").value(static_cast<long long>(s.stats.requests));
    j.key("replies").value(static_cast<long long>(s.stats.replies));
    j.key("server_errors").value(static_cast<long long>(s.stats.server_errors));
    j.key("retries").value(static_cast<long long>(s.stats.retries));
    j.key("reconnects").value(static_cast<long long>(s.stats.reconnects));
    j.key("connect_failures").value(static_cast<long long>(s.stats.connect_failures));
    j.key("moved").value(static_cast<long long>(s.stats.moved));
    j.key("ask").value(static_cast<long long>(s.stats.ask));
    j.key("errors").begin_object();
    for (const auto &kv : s.stats.errors) j.key(status_name(kv.first)).value(static_cast<long long>(kv.second));
    j.end_object();
    j.key("latency_us").begin_object();
    j.key("count").value(static_cast<long long>(s.stats.latency.count()));
    j.key("p50").value(static_cast<long long>(s.stats.latency.percentile(50)));
    j.key("p99").value(static_cast<long long>(s.stats.latency.percentile(99)));
    j.end_object();
    j.end_object();
  }
  j.end_array();
  const PubSubStats &ps = pubsub_->stats();
  j.key("pubsub").begin_object();
  j.key("subscribers").value(ps.subscribers.load());
  j.key("channels").value(ps.channels.load());
  j.key("patterns").value(ps.patterns.load());
  j.key("shard_channels").value(ps.shard_channels.load());
  j.key("subscriber_connections").value(ps.connections.load());
  j.key("messages").value(ps.messages.load());
  j.key("dropped").value(ps.dropped.load());
  j.key("gaps").value(ps.gaps.load());
  j.key("resubscribes").value(ps.resubscribes.load());
  j.end_object();
  if (cache_) {
    const CacheStats cs = cache_->stats();
    auto n = [](uint64_t v) { return static_cast<long long>(v); };
    j.key("cache").begin_object();
    j.key("hits").value(n(cs.hits));
    j.key("misses").value(n(cs.misses));
    j.key("invalidations").value(n(cs.invalidations));
    j.key("evictions").value(n(cs.evictions));
    j.key("bytes").value(n(cs.bytes));
    j.key("entries").value(n(cs.entries));
    j.key("max_bytes").value(cache_->max_bytes());
    j.key("max_entries").value(cache_->max_entries());
    j.key("nodes").begin_object();
    for (const CacheStats::Node &node : cs.nodes) {
      j.key(node.addr).begin_object();
      j.key("hits").value(n(node.hits));
      j.key("misses").value(n(node.misses));
      j.key("invalidations").value(n(node.invalidations));
      j.key("resets").value(n(node.resets));
      j.key("tracking").value(node.subscribed);
      j.end_object();
    }
    j.end_object();
    j.end_object();
  }
  j.end_object();
  return j.str();
}

// A node's role as the deployment sees it (a pool's kind only says how it was opened).
std::string Client::role_of(const std::string &address, const std::string &fallback) {
  std::lock_guard<std::mutex> lk(topo_mu_);
  if (topo_) {
    for (const Shard &s : topo_->shards) {
      if (s.primary.endpoint.str() == address) return "primary";
      for (const ClusterNode &n : s.replicas)
        if (n.endpoint.str() == address) return "replica";
    }
  }
  if (fallback == "sentinel") return fallback;
  if (mode_ == Mode::raft) return address == primary_addr_ ? "leader" : "follower";
  if (mode_ == Mode::sentinel) return address == primary_addr_ ? "primary" : "replica";
  return fallback;
}

std::string Client::topology_json() {
  check_snapshot_allowed("rcm_client_topology_json");
  std::vector<NodeSnapshot> nodes;
  if (engines_.empty() || closed() || !io_[0]->run_sync([&] { nodes = engines_[0]->snapshot(); }))
    throw Error(Status::closed, "client closed");
  JsonWriter j;
  j.begin_object();
  j.key("mode").value(mode_name(mode_));
  j.key("server_version").value(server_version_);
  std::shared_ptr<const ClusterTopology> topo;
  {
    std::lock_guard<std::mutex> lk(topo_mu_);
    topo = topo_;
  }
  auto state_of = [&nodes](const std::string &addr) -> const char * {
    for (const NodeSnapshot &s : nodes)
      if (s.address == addr && s.connections > 0) return s.up ? "up" : "down";
    return "unknown";
  };
  j.key("nodes").begin_array();
  if (topo) {
    for (const Shard &s : topo->shards) {
      auto node = [&](const ClusterNode &n, const char *role) {
        j.begin_object();
        j.key("address").value(n.endpoint.str());
        j.key("id").value(n.id);
        j.key("role").value(role);
        j.key("state").value(state_of(n.endpoint.str()));
        j.key("healthy").value(n.healthy);
        j.end_object();
      };
      node(s.primary, "primary");
      for (const ClusterNode &n : s.replicas) node(n, "replica");
    }
  } else {
    for (const NodeSnapshot &s : nodes) {
      j.begin_object();
      j.key("address").value(s.address);
      j.key("role").value(role_of(s.address, s.role));
      j.key("state").value(s.up ? "up" : "down");
      j.end_object();
    }
  }
  j.end_array();
  {
    std::lock_guard<std::mutex> lk(topo_mu_);
    if (!primary_addr_.empty()) j.key("primary").value(primary_addr_);
  }
  if (topo) {
    j.key("covered_slots").value(static_cast<long long>(topo->covered_slots()));
    j.key("shards").begin_array();
    for (const Shard &s : topo->shards) {
      j.begin_object();
      j.key("primary").value(s.primary.endpoint.str());
      j.key("replicas").begin_array();
      for (const ClusterNode &n : s.replicas) j.value(n.endpoint.str());
      j.end_array();
      j.key("slots").begin_array();
      for (const auto &r : s.ranges) {
        j.begin_array();
        j.value(static_cast<long long>(r.first));
        j.value(static_cast<long long>(r.second));
        j.end_array();
      }
      j.end_array();
      j.end_object();
    }
    j.end_array();
  }
  j.end_object();
  return j.str();
}

}  // namespace rcm::core
