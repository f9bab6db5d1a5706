// Everything one I/O thread owns: the node pools, its copy of the slot map, the deadline
// timers, the periodic tick. Every method runs on that thread unless it says otherwise.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <queue>
#include <string>
#include <utility>
#include <vector>

#include "core/config/config.h"
#include "core/net/connection_listener.h"
#include "core/net/resolver.h"
#include "core/pool/node_pool.h"
#include "core/pool/pool_owner.h"
#include "core/pubsub/pubsub_host.h"
#include "core/request/request.h"
#include "core/topology/cluster_topology.h"
#include "core/topology/topology_host.h"

struct event;

namespace rcm::core {

class Client;
class ClusterRefresher;
class PrimaryTracker;
class PubSubManager;
class InvalidationLinks;
class IoThread;
class TlsContext;

// What a request waiting in the unrouted queue waits for (its last_error until then).
inline constexpr const char *kNoOwnerPrefix = "no known owner for slot ";
inline constexpr const char *kNoReplicaPrefix = "read_from=replica: no replica of slot ";

// The layers below reach it only through PoolOwner (its pools), TopologyHost (its
// refresher or tracker) and PubSubHost (engine 0's Pub/Sub). final: its own calls to
// those methods stay direct.
class Engine final : public PoolOwner, public TopologyHost, public PubSubHost {
 public:
  Engine(Client &client, IoThread &io, const Config &cfg, const TlsContext *tls, int index, Mode mode);
  ~Engine();
  Engine(const Engine &) = delete;
  Engine &operator=(const Engine &) = delete;

  // Loop thread: starts connecting (standalone: to the server; cluster: engine 0 asks
  // the seeds for the topology).
  void start();

  const Config &config() const override { return cfg_; }
  IoThread &io() override { return io_; }
  const TlsContext *tls() const { return tls_; }
  // Resolves host names for this thread's connections (its thread starts on first use).
  Resolver &resolver() { return resolver_; }
  const IoContext &io_context() const override { return io_ctx_; }
  Client &client() { return client_; }
  int index() const { return index_; }
  Mode mode() const override { return mode_; }
  int shared_connections_per_node() const override;

  // Task entry points (posted from caller threads; arg is a Request* / Batch*).
  static void submit_task(void *arg);
  static void submit_batch_task(void *arg);
  static void submit_lease_task(void *arg);

  void submit(Request *r);
  void on_reply(Request *r, Reply *reply) override;
  void on_node_ready(NodePool &pool) override;
  void on_node_down(NodePool &pool, Status why, const std::string &message) override;
  void emit_event(int kind, const std::string &node, const std::string &detail) override;

  // Cluster: a new view of the cluster (from the refresher, via the client).
  void apply_topology(std::shared_ptr<const ClusterTopology> topo);
  // Any engine: ask engine 0's refresher / tracker to look again (coalesced there).
  void request_refresh(const std::string &reason) override;
  // Raft / Sentinel: the writable node (and replicas for reads) is now ep.
  void apply_primary(const Endpoint &ep, const std::vector<Endpoint> &replicas);
  // Engine 0: someone named the primary (a follower's MOVED).
  void primary_hint(const Endpoint &ep, const std::string &cause);
  void on_subscriber(Connection *c, bool ready) override;
  bool has_topology() const { return topo_ != nullptr; }
  std::shared_ptr<const ClusterTopology> topology() const override { return topo_; }
  const NodePool *writable_node() const override { return primary_; }
  // Engine 0, client-side caching on: the invalidation connections (null otherwise).
  InvalidationLinks *cache_links() { return cache_links_.get(); }
  // Engine 0: the client's Pub/Sub (null on the others).
  PubSubManager *pubsub() { return pubsub_.get(); }
  NodePool &pool_for(const Endpoint &ep, NodePool::Kind kind) override;
  ClusterRefresher *refresher() { return refresher_.get(); }
  // Sends one of rcm's own requests (topology queries) to a node, with its deadline.
  void send_internal(Request *r, NodePool &pool) override;
  bool shutting_down() const override { return shut_; }
  // TopologyHost: a round's outcome goes to the client, which tells every engine.
  void publish_topology(std::shared_ptr<const ClusterTopology> topo, std::shared_ptr<const ClusterTopology> previous,
                        bool changed) override;
  void topology_failed(Status status, const std::string &message) override;
  void publish_primary(const Endpoint &ep, const std::vector<Endpoint> &replicas, const std::string &old,
                       const std::string &cause) override;
  void primary_not_found(Status status, const std::string &message) override;

  // Connections with bytes to write; flushed once per loop iteration, before the loop
  // polls again, so everything queued meanwhile leaves in one write.
  void want_flush(Connection *c) override;
  void forget_flush(Connection *c) override;
  static constexpr size_t kReadBufferSize = 64 * 1024;
  char *read_buffer() { return read_buf_.get(); }

  // Leases: key NULL means any primary.
  void acquire_lease(LeaseWaiter *w, int slot);
  void release_lease(Connection *c);
  void shutdown();
  std::vector<NodeSnapshot> snapshot() const;

 private:
  struct FanOut;
  void dispatch(Request *r);
  void dispatch_unit(std::vector<Request *> &reqs);
  void queue_unrouted(Request *r);
  NodePool *route(Request *r, bool *wait);
  static void set_wait_reason(Request *r, bool *wait, bool for_replica);
  static void clear_wait_reason(Request *r);
  NodePool *pick_replica(int shard, NodePool *primary);
  NodePool *random_primary(bool random = false);
  void fan_out(Request *r);
  static void on_fanout_part(Request *part, Status status, Reply *reply);
  void follow_shard(Request *part);
  static void finish_fanout(FanOut *f);
  bool handle_redirect(Request *r, Reply *reply);
  void retry_later(Request *r, int delay_ms);
  void reroute_waiting();
  void drop_unused_pools(Clock::time_point now);
  bool named_by_config_or_topology(const Endpoint &ep) const;
  int pool_idle_ms() const;
  void watch_deadline(Request *r);
  void arm_deadline_timer();
  void reap_completed();
  void fail_at_deadline(Request *r);
  void expire(Clock::time_point now);
  // Shutdown: ends a request the deadline heap holds as closed and drops the heap's reference.
  void close_watched(Request *r);
  static void on_deadline(int, short, void *arg);
  static void on_tick(int, short, void *arg);
  static void on_command_table(Request *r, Status status, Reply *reply);
  static void on_flush(int, short, void *arg);
  static void after_tasks(void *arg);  // the I/O thread's hook after a batch of tasks
  void flush_dirty();

  Client &client_;
  IoThread &io_;
  const Config &cfg_;
  const TlsContext *tls_;
  int index_;
  Mode mode_;
  std::map<std::string, std::unique_ptr<NodePool>> pools_;  // by "host:port"
  NodePool *primary_ = nullptr;                             // standalone
  std::shared_ptr<const ClusterTopology> topo_;
  std::vector<NodePool *> slot_primary_;                     // cluster: owner of each slot
  std::vector<std::vector<NodePool *>> shard_replicas_;      // cluster: by shard index
  std::deque<Request *> unrouted_;                           // slot owner unknown yet (units: their heads)
  size_t unrouted_count_ = 0;                                // requests in unrouted_, units counted whole
  std::unique_ptr<ClusterRefresher> refresher_;              // engine 0 in cluster mode
  std::unique_ptr<PrimaryTracker> tracker_;                  // engine 0 in raft / sentinel mode
  std::unique_ptr<PubSubManager> pubsub_;                    // engine 0
  std::unique_ptr<InvalidationLinks> cache_links_;           // engine 0, cache on
  std::vector<NodePool *> replicas_;                         // sentinel: replicas for reads
  using Deadline = std::pair<Clock::time_point, Request *>;
  // Requests with one command_timeout_ms arrive in deadline order: a FIFO takes them in
  // O(1); the heap holds the rest (leases' longer deadlines, fan-out parts).
  std::deque<Deadline> deadline_fifo_;
  std::priority_queue<Deadline, std::vector<Deadline>, std::greater<Deadline>> deadlines_;
  std::priority_queue<Deadline, std::vector<Deadline>, std::greater<Deadline>> delayed_;  // retries
  event *deadline_timer_ = nullptr;
  Clock::time_point armed_for_ = Clock::time_point::max();
  event *tick_ = nullptr;
  event *flush_ev_ = nullptr;
  std::vector<Connection *> dirty_;
  std::vector<Connection *> flushing_;  // on_flush's batch (swapped with dirty_)
  std::unique_ptr<char[]> read_buf_{new char[kReadBufferSize]};
  Resolver resolver_{io_};
  unsigned rr_ = 0;  // round-robin cursor for replicas and "any" node
  uint64_t rng_ = static_cast<uint64_t>(Clock::now().time_since_epoch().count()) | 1;
  // xorshift64: RCM_ROUTE_RANDOM and the jitter of transient retries.
  uint64_t next_random() {
    rng_ ^= rng_ << 13;
    rng_ ^= rng_ >> 7;
    rng_ ^= rng_ << 17;
    return rng_;
  }
  Clock::time_point next_pool_check_ = Clock::now();
  bool asked_commands_ = false;
  bool shut_ = false;
  const IoContext io_ctx_{cfg_, io_, resolver_, tls_, read_buf_.get(), kReadBufferSize};  // after what it names
};

// A pipeline on its way to an I/O thread.
struct Batch {
  Engine *engine = nullptr;
  std::vector<Request *> requests;
};

}  // namespace rcm::core
