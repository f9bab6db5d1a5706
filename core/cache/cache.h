// Client-side caching: replies of read commands kept in process, shared by every thread
// of a client, and kept true by the server's invalidations (CLIENT TRACKING, see
// invalidation_links.h). Thread-safe: any caller thread looks up and any I/O thread
// stores and invalidates.
//
// Entries are keyed by (Redis key, variant: the command and its other arguments), so
// that one invalidation of a key drops every entry read from it. The map is split in
// shards by the key's hash, each with its own lock, LRU list and share of both bounds
// (cache.max_entries, cache.max_bytes), so the bounds hold at every moment.
//
// No stale entry survives (issue 15, item 3):
//  - Each key hashes to an invalidation epoch, bumped under the shard's lock by every
//    invalidation of a key with that hash. A read takes its keys' epochs before it is
//    sent; its reply is stored only if they did not move, so a reply that raced an
//    invalidation (or this client's own write) is dropped. A collision only costs a store.
//  - Each entry records its node and the node's tracking generation; a hit is served only
//    while that generation is current, so bumping it (invalidation connection lost, a
//    tracked connection lost, failover, slots moved, a flush) drops the node's entries at
//    once; a sweep frees their memory.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/config/config.h"
#include "core/net/connection_listener.h"
#include "core/request/request.h"
#include "core/resp/reply.h"
#include "core/route/command_table.h"

namespace rcm::core {

// A read of one entry on its way to the server, which other readers of that entry wait
// for instead of sending their own (Cache::fly). Its leader's done/ctx are kept here
// while the flight's own completion stands in for them.
struct CacheFlight {
  std::string id;
  size_t hash = 0;
  uint64_t epoch = 0;               // the key's epoch when the leader was planned
  std::vector<Request *> waiters;   // guarded by the shard's lock until landed
  Request::DoneFn done = nullptr;
  void *ctx = nullptr;
};

// One node's share: its tracking state (read by its connections) and its counters.
struct CacheNode {
  explicit CacheNode(std::string a, size_t i) : addr(std::move(a)), index(i) { tracking.owner = this; }
  const std::string addr;  // "host:port"
  const size_t index;      // in the cache's node table (per-shard counters)
  TrackingTarget tracking;
  std::atomic<bool> link_wanted{false};  // engine 0 was asked to open its invalidation connection
  std::atomic<bool> subscribed{false};   // its invalidation connection is subscribed
  std::atomic<uint64_t> misses{0};
};

struct CacheStats {
  struct Node {
    std::string addr;
    uint64_t hits = 0, misses = 0, invalidations = 0, resets = 0;
    bool subscribed = false;
  };
  uint64_t hits = 0, misses = 0, invalidations = 0, evictions = 0, bytes = 0, entries = 0;
  std::vector<Node> nodes;
};

// A deep copy (replies are owned by whoever receives them).
Reply *reply_copy(const Reply &r);

class Cache {
 public:
  explicit Cache(const Config &cfg);
  ~Cache();
  Cache(const Cache &) = delete;
  Cache &operator=(const Cache &) = delete;

  // The entries a command would read: its variant and its keys (MGET: one per key).
  // False when the command is not one cache.commands names or has no single-key form.
  bool plan(const CommandInfo &info, int argc, const char *const *argv, const size_t *argvlen,
            CacheTicket *t) const;
  bool empty_config() const { return commands_.empty(); }

  // The caller's fast path, straight from argv (no request is made): a copy of what the
  // cache holds for this command, or null (then the ordinary path looks again, counts
  // the miss and marks the read). Only commands whose key position the built-in table
  // knows (one key at argv[1], or MGET).
  Reply *get_argv(int argc, const char *const *argv, const size_t *argvlen);

  // A copy of the entry, or null (a miss, an expired entry, or one whose node's
  // generation moved). Counts a hit or nothing: misses are counted by miss().
  Reply *get(std::string_view key, std::string_view variant);
  void miss(size_t n) { misses_.fetch_add(n, std::memory_order_relaxed); }
  // The key's invalidation epoch now (taken before the read is sent).
  uint64_t epoch(const std::string &key) const;
  // Stores a copy of value if the key's epoch is still `epoch` and node's generation `gen`.
  void put(const std::string &key, const std::string &variant, const Reply &value, uint64_t epoch, CacheNode *node,
           uint64_t gen);
  // Single-flight. A miss of (key, variant) planned at `epoch` (the key's epoch when the
  // read began): if a read of that entry is in flight that began at the same epoch (no
  // invalidation of the key came between the two starts), r joins it (null: r is now the
  // flight's, answered by land's caller); otherwise r leads a new flight (returned). A
  // waiter so gets a reply as fresh as a hit at its start would have been, never one read
  // before an invalidation it had seen; the reply is stored only under put's rule.
  CacheFlight *fly(const std::string &key, const std::string &variant, uint64_t epoch, Request *r);
  // The leader completed: the flight is over (no one joins any more); its waiters, for
  // the caller to answer. Deletes f.
  std::vector<Request *> land(CacheFlight *f);
  // The server (or this client's write) says key changed.
  void invalidate(const std::string &key, CacheNode *from);
  // Everything node covered is gone (generation bump) and its memory is freed.
  void reset_node(CacheNode *node);
  // Every entry of every node (FLUSHALL by this client, its own FLUSHDB).
  void reset_all();

  // Find or create; the pointer stays valid as long as the cache.
  CacheNode *node(const std::string &addr);
  std::vector<CacheNode *> nodes() const;
  // What the "cache" object of rcm_client_stats_json shows.
  CacheStats stats() const;
  long long max_bytes() const { return max_bytes_; }
  long long max_entries() const { return max_entries_; }

 private:
  struct Entry;
  struct Shard;
  Shard &shard_of(size_t hash) const;
  std::atomic<uint64_t> &epoch_slot(size_t hash) const;
  void unlink(Shard &s, Entry *e, bool evicted);
  void sweep(CacheNode *node);

  int64_t now_ns() const;  // the clock of Entry::expires

  const long long max_bytes_, max_entries_;
  bool coarse_ = false;  // expiry by CLOCK_MONOTONIC_COARSE
  int64_t ttl_ns_ = 0;   // cache.ttl_ms less the clock's resolution
  std::unordered_set<std::string> commands_;  // upper case
  enum class Shape : uint8_t { single, mget };
  struct FastCommand {
    char name[16];
    size_t len = 0;
    Shape shape = Shape::single;
  };
  std::vector<FastCommand> fast_;  // the commands_ get_argv serves (a few: a scan is fastest)
  size_t nshards_ = 1;
  std::unique_ptr<Shard[]> shards_;
  std::unique_ptr<std::atomic<uint64_t>[]> epochs_;
  static constexpr size_t kEpochs = 1 << 14;
  std::atomic<uint64_t> misses_{0};
  mutable std::mutex nodes_mu_;
  std::vector<std::unique_ptr<CacheNode>> nodes_;  // guarded by nodes_mu_; never shrinks
};

}  // namespace rcm::core
