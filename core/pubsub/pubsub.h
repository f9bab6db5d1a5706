// The client's Pub/Sub, as the threads of its callers see it: opens subscribers, hands
// their wishes to the PubSubManager on engine 0's I/O thread (a post, never a wait), runs
// callbacks on the DeliveryPool, and counts. Thread-safe.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "core/config/config.h"
#include "core/pubsub/subscriber.h"

namespace rcm::core {

class DeliveryPool;
class IoThread;
class PubSubManager;

// The "pubsub" object of the stats JSON.
struct PubSubStats {
  std::atomic<long long> subscribers{0};     // open subscriber handles
  std::atomic<long long> channels{0};        // names wanted, by kind
  std::atomic<long long> patterns{0};
  std::atomic<long long> shard_channels{0};
  std::atomic<long long> connections{0};     // subscriber connections ready
  std::atomic<long long> messages{0};        // messages queued for subscribers
  std::atomic<long long> dropped{0};         // of those, dropped (pubsub.max_pending)
  std::atomic<long long> gaps{0};            // interruptions reported (RCM_EVENT_SUBSCRIPTION_GAP)
  std::atomic<long long> resubscribes{0};    // names subscribed again after an interruption
};

class PubSub : public std::enable_shared_from_this<PubSub> {
 public:
  explicit PubSub(const Config &cfg);
  ~PubSub();
  PubSub(const PubSub &) = delete;
  PubSub &operator=(const PubSub &) = delete;

  // Once, before any open: where the manager lives.
  void attach(IoThread *io, PubSubManager *manager) {
    io_ = io;
    manager_ = manager;
  }
  // fn null: pull mode. Throws Error(closed) once the client closed.
  std::shared_ptr<Subscriber> open(Subscriber::DeliverFn fn, void *ctx);
  // Runs fn on the manager's thread with the manager; false when the client closed.
  bool post(std::function<void(PubSubManager &)> fn);
  // A callback subscriber has messages.
  void schedule(std::shared_ptr<Subscriber> s);
  // A subscriber closed by its owner.
  void forget(const Subscriber *s);
  // The client is closing (its manager's thread): every open subscriber is closed.
  void close_all();
  // After the I/O threads stopped: the delivery threads end (joined unless this is one).
  void stop_delivery();
  // In a child process after fork: the delivery threads are the parent's; leak them.
  void abandon_delivery();
  PubSubStats &stats() { return stats_; }
  const Config &config() const { return cfg_; }

 private:
  const Config &cfg_;
  IoThread *io_ = nullptr;
  PubSubManager *manager_ = nullptr;
  PubSubStats stats_;
  std::atomic<uint64_t> next_id_{1};
  std::mutex mu_;
  std::vector<std::weak_ptr<Subscriber>> open_;   // guarded by mu_
  std::unique_ptr<DeliveryPool> pool_;            // guarded by mu_ (made at the first callback subscriber)
  bool closed_ = false;                           // guarded by mu_
};

}  // namespace rcm::core
