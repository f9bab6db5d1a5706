// Per-node counters, owned by the I/O thread of the node's pool.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include "core/common/status.h"

namespace rcm::core {

// Latency histogram: 8 sub-buckets per power of two of microseconds (~9% precision).
class LatencyHistogram {
 public:
  void record(uint64_t micros);
  uint64_t percentile(double p) const;
  uint64_t count() const { return count_; }
  void merge(const LatencyHistogram &o);

 private:
  static constexpr int kSub = 8;
  static constexpr int kBuckets = 40 * kSub;
  static int index(uint64_t v);
  static uint64_t upper(int idx);
  std::array<uint64_t, kBuckets> buckets_{};
  uint64_t count_ = 0;
};

struct NodeStats {
  uint64_t requests = 0;
  uint64_t replies = 0;
  uint64_t server_errors = 0;
  uint64_t reconnects = 0;
  uint64_t connect_failures = 0;
  uint64_t retries = 0;
  uint64_t moved = 0;
  uint64_t ask = 0;
  std::map<Status, uint64_t> errors;
  LatencyHistogram latency;
  double ewma_us = 0;  // recent latency, for read_from=nearest
  std::chrono::steady_clock::time_point ewma_at{};  // when ewma_us last took a sample
  std::chrono::steady_clock::time_point probe_at{};  // when a read was last sent to refresh it

  void record(Status s, bool server_error, uint64_t micros, std::chrono::steady_clock::time_point now);
  // read_from=nearest: the estimate is older than kLatencyStale and no read is on its way
  // to renew it. A node that is not chosen takes no samples, so without renewal one slow
  // sample would keep its reads away for good, however fast it has become since.
  bool latency_stale(std::chrono::steady_clock::time_point now) const;
  static constexpr std::chrono::milliseconds kLatencyStale{1000};
  void merge(const NodeStats &o);
};

}  // namespace rcm::core
