// fuzz_cluster_topology: the CLUSTER SHARDS and CLUSTER SLOTS parsers
// (core/topology/cluster_topology). The input is read as RESP by the reply reader, and the
// reply handed to both parsers. They may refuse it (a protocol error) but what they
// accept must be a topology the router can use: slots in range, each slot's owner a
// shard whose ranges hold that slot, every address a valid host and port that prints and
// parses back, each primary owning slots once.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "core/route/slot.h"
#include "core/topology/cluster_topology.h"
#include "fuzz/fuzz_util.h"

using rcm::core::ClusterNode;
using rcm::core::ClusterTopology;
using rcm::core::Endpoint;
using rcm::core::Error;
using rcm::core::kSlots;
using rcm::core::Shard;
using rcm::core::Status;

namespace {

void check_node(const ClusterNode &n) {
  const Endpoint &ep = n.endpoint;
  FUZZ_CHECK(rcm::core::valid_host(ep.host), "node host '%s' is not a host", ep.host.c_str());
  FUZZ_CHECK(ep.port >= 1, "node port 0");
  Endpoint back;
  FUZZ_CHECK(rcm::core::try_parse_endpoint(ep.str(), &back) && back == ep, "node '%s' does not parse back",
             ep.str().c_str());
}

void check_topology(const ClusterTopology &t, const char *what) {
  FUZZ_CHECK(t.slot_shard.size() == static_cast<size_t>(kSlots), "%s: %zu slots", what, t.slot_shard.size());
  FUZZ_CHECK(t.shards.size() <= static_cast<size_t>(kSlots), "%s: %zu shards", what, t.shards.size());
  FUZZ_CHECK(t.problems.size() <= 4, "%s: %zu problems kept", what, t.problems.size());
  std::map<std::string, size_t> owner_of;  // primary address -> the shard that owns slots
  for (size_t s = 0; s < t.shards.size(); ++s) {
    const Shard &shard = t.shards[s];
    check_node(shard.primary);
    for (const ClusterNode &r : shard.replicas) check_node(r);
    for (const auto &range : shard.ranges)
      FUZZ_CHECK(0 <= range.first && range.first <= range.second && range.second < kSlots, "%s: range %d-%d",
                 what, range.first, range.second);
    if (shard.ranges.empty()) continue;
    auto [it, fresh] = owner_of.emplace(shard.primary.endpoint.str(), s);
    FUZZ_CHECK(fresh || std::string(what).rfind("shards", 0) == 0, "%s: primary %s heads shards %zu and %zu", what,
               it->first.c_str(), it->second, s);
  }
  size_t covered = 0;
  for (int slot = 0; slot < kSlots; ++slot) {
    int16_t s = t.slot_shard[slot];
    if (s < 0) {
      FUZZ_CHECK(s == -1, "%s: slot %d has owner %d", what, slot, s);
      continue;
    }
    ++covered;
    FUZZ_CHECK(static_cast<size_t>(s) < t.shards.size(), "%s: slot %d owned by shard %d of %zu", what, slot, s,
               t.shards.size());
    bool held = false;
    for (const auto &range : t.shards[s].ranges) held = held || (range.first <= slot && slot <= range.second);
    FUZZ_CHECK(held, "%s: slot %d owned by shard %d, whose ranges do not hold it", what, slot, s);
  }
  FUZZ_CHECK(covered == t.covered_slots(), "%s: covered_slots %zu, counted %zu", what, t.covered_slots(), covered);
  (void)t.signature();
}

template <class Parse>
void run(Parse parse, const rcm::core::Reply &reply, const char *what) {
  std::shared_ptr<ClusterTopology> t;
  try {
    t = parse(reply, Endpoint{"127.0.0.1", 7000});
  } catch (const Error &e) {
    FUZZ_CHECK(e.status() == Status::protocol, "%s threw status %d: %s", what, static_cast<int>(e.status()),
               e.what());
    return;
  }
  FUZZ_CHECK(t != nullptr, "%s: no topology and no error", what);
  check_topology(*t, what);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  rcm::fuzz::ReplyPtr reply = rcm::fuzz::parse_first_reply(data, size);
  if (!reply) return 0;
  using rcm::core::PortKind;
  // A client over TLS prefers each node's tls-port, a plain one its port.
  run([](const rcm::core::Reply &r, const Endpoint &ep) { return rcm::core::parse_cluster_shards(r, ep, PortKind::plain); },
      *reply, "shards");
  run([](const rcm::core::Reply &r, const Endpoint &ep) { return rcm::core::parse_cluster_shards(r, ep, PortKind::tls); },
      *reply, "shards (tls)");
  run(rcm::core::parse_cluster_slots, *reply, "slots");
  return 0;
}
