#include "core/request/stats.h"

namespace rcm::core {

int LatencyHistogram::index(uint64_t v) {
  if (v < kSub) return static_cast<int>(v);
  int msb = 63 - __builtin_clzll(v);
  int shift = msb - 3;  // keep 3 bits below the top bit
  int sub = static_cast<int>((v >> shift) & (kSub - 1));
  int idx = (msb - 2) * kSub + sub;
  return idx < kBuckets ? idx : kBuckets - 1;
}

uint64_t LatencyHistogram::upper(int idx) {
  if (idx < kSub) return static_cast<uint64_t>(idx);
  int msb = idx / kSub + 2;
  int sub = idx % kSub;
  int shift = msb - 3;
  return ((static_cast<uint64_t>(kSub + sub) + 1) << shift) - 1;
}

void LatencyHistogram::record(uint64_t micros) {
  ++buckets_[index(micros)];
  ++count_;
}

uint64_t LatencyHistogram::percentile(double p) const {
  if (count_ == 0) return 0;
  uint64_t target = static_cast<uint64_t>(p / 100.0 * static_cast<double>(count_));
  if (target >= count_) target = count_ - 1;
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += buckets_[i];
    if (seen > target) return upper(i);
  }
  return upper(kBuckets - 1);
}

void LatencyHistogram::merge(const LatencyHistogram &o) {
  for (int i = 0; i < kBuckets; ++i) buckets_[i] += o.buckets_[i];
  count_ += o.count_;
}

void NodeStats::record(Status s, bool server_error, uint64_t micros, std::chrono::steady_clock::time_point now) {
  if (s == Status::ok) {
    ++replies;
    if (server_error) ++server_errors;
    latency.record(micros);
    // An estimate that went stale says nothing about now: a fresh sample restarts it.
    bool restart = ewma_us == 0 || now - ewma_at > kLatencyStale;
    ewma_us = restart ? static_cast<double>(micros) : ewma_us * 0.9 + static_cast<double>(micros) * 0.1;
    ewma_at = now;
  } else {
    ++errors[s];
  }
}

bool NodeStats::latency_stale(std::chrono::steady_clock::time_point now) const {
  return now - ewma_at > kLatencyStale && now - probe_at > kLatencyStale;
}

void NodeStats::merge(const NodeStats &o) {
  requests += o.requests;
  replies += o.replies;
  server_errors += o.server_errors;
  reconnects += o.reconnects;
  connect_failures += o.connect_failures;
  retries += o.retries;
  moved += o.moved;
  ask += o.ask;
  for (const auto &kv : o.errors) errors[kv.first] += kv.second;
  latency.merge(o.latency);
}

}  // namespace rcm::core
