// unit.topology: parsing CLUSTER SHARDS / CLUSTER SLOTS (IPv6, hostnames, unknown
// endpoints, failed primaries, malformed replies) and the discovery round scheduler
// (coalescing, minimum interval, jitter), without a server.
#include <event2/event.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/common/status.h"
#include "core/resp/reply.h"
#include "core/topology/cluster_topology.h"
#include "core/topology/round_scheduler.h"
#include "tests/unit/check.h"

using namespace rcm::core;

namespace {

Reply *str(const std::string &s) { return Reply::make_string(s); }
Reply *num(long long v) { return Reply::make_integer(v); }
Reply *arr(std::initializer_list<Reply *> items) {
  Reply *a = Reply::make_array();
  for (Reply *r : items) a->elements.push_back(r);
  return a;
}

struct NodeSpec {
  std::string id, endpoint, ip, role, health;
  long long port, offset;
};

// One node of a CLUSTER SHARDS reply (a RESP2 map).
Reply *shard_node(const NodeSpec &n) {
  return arr({str("id"), str(n.id), str("port"), num(n.port), str("ip"), str(n.ip), str("endpoint"), str(n.endpoint),
              str("role"), str(n.role), str("replication-offset"), num(n.offset), str("health"), str(n.health)});
}

Reply *shard(std::initializer_list<long long> slots, std::initializer_list<Reply *> nodes) {
  Reply *s = Reply::make_array();
  for (long long v : slots) s->elements.push_back(num(v));
  return arr({str("slots"), s, str("nodes"), arr(nodes)});
}

Endpoint ep(const std::string &host, uint16_t port) {
  Endpoint e;
  e.host = host;
  e.port = port;
  return e;
}

bool protocol_error(const Error &e) { return e.status() == Status::protocol; }

}  // namespace

TEST(test_shards__addresses_ipv6_hostnames_unknown) {
  std::unique_ptr<Reply> reply(arr({
      shard({0, 5460}, {shard_node({"a", "::1", "::1", "master", "online", 7001, 100}),
                        shard_node({"b", "::1", "::1", "replica", "online", 7004, 100})}),
      shard({5461, 10922}, {shard_node({"c", "node-c.example", "10.0.0.3", "master", "online", 7002, 50})}),
      // "?": the node does not know its endpoint; its ip is used, or the asked host.
      shard({10923, 16000, 16001, 16383}, {shard_node({"d", "?", "10.0.0.4", "master", "online", 7003, 9}),
                                           shard_node({"e", "?", "", "replica", "online", 7006, 9})}),
  }));
  auto t = parse_cluster_shards(*reply, ep("seed.example", 7000));
  REQUIRE(t->shards.size() == 3);
  CHECK_EQ(t->shards[0].primary.endpoint.str(), std::string("[::1]:7001"));
  CHECK_EQ(t->shards[0].replicas.size(), static_cast<size_t>(1));
  CHECK_EQ(t->shards[0].replicas[0].endpoint.port, 7004);
  CHECK_EQ(t->shards[1].primary.endpoint.host, std::string("node-c.example"));
  CHECK_EQ(t->shards[2].primary.endpoint.host, std::string("10.0.0.4"));
  CHECK_EQ(t->shards[2].replicas[0].endpoint.host, std::string("seed.example"));
  CHECK_EQ(t->covered_slots(), static_cast<size_t>(16384));
  CHECK_EQ(t->slot_shard[0], 0);
  CHECK_EQ(t->slot_shard[5461], 1);
  CHECK_EQ(t->slot_shard[16383], 2);
}

TEST(test_shards__failover_leftovers) {
  // After a failover a shard lists the failed old primary and the promoted one: the
  // healthy one is the primary. A shard with no primary leaves its slots uncovered.
  std::unique_ptr<Reply> reply(arr({
      shard({0, 8191}, {shard_node({"old", "127.0.0.1", "127.0.0.1", "master", "fail", 7001, 500}),
                        shard_node({"new", "127.0.0.1", "127.0.0.1", "master", "online", 7004, 400})}),
      shard({8192, 16383}, {shard_node({"r", "127.0.0.1", "127.0.0.1", "replica", "online", 7005, 1})}),
  }));
  auto t = parse_cluster_shards(*reply, ep("127.0.0.1", 7001));
  REQUIRE(t->shards.size() == 1);
  CHECK_EQ(t->shards[0].primary.id, std::string("new"));
  REQUIRE(t->shards[0].replicas.size() == 1);
  CHECK_EQ(t->shards[0].replicas[0].id, std::string("old"));
  CHECK(!t->shards[0].replicas[0].healthy);
  CHECK_EQ(t->covered_slots(), static_cast<size_t>(8192));
  CHECK_EQ(t->slot_shard[9000], -1);
}

TEST(test_slots__addresses_and_ranges) {
  std::unique_ptr<Reply> reply(arr({
      arr({num(0), num(100), arr({str("::1"), num(7001), str("a")}), arr({str("::1"), num(7004), str("b")})}),
      arr({num(101), num(16383), arr({str("node-c.example"), num(7002), str("c")})}),
      arr({num(200), num(300), arr({str("?"), num(7003), str("d")})}),
  }));
  auto t = parse_cluster_slots(*reply, ep("seed.example", 7000));
  REQUIRE(t->shards.size() == 3);
  CHECK_EQ(t->shards[0].primary.endpoint.str(), std::string("[::1]:7001"));
  CHECK_EQ(t->shards[0].replicas.size(), static_cast<size_t>(1));
  CHECK_EQ(t->shards[1].primary.endpoint.host, std::string("node-c.example"));
  CHECK_EQ(t->shards[2].primary.endpoint.host, std::string("seed.example"));
  CHECK_EQ(t->slot_shard[250], 2);  // listed later: its range wins
  CHECK_EQ(t->slot_shard[301], 1);
  // Two ranges of one primary are one shard.
  std::unique_ptr<Reply> two(arr({arr({num(0), num(10), arr({str("h"), num(1)})}),
                                  arr({num(20), num(30), arr({str("h"), num(1)})})}));
  auto t2 = parse_cluster_slots(*two, ep("h", 1));
  REQUIRE(t2->shards.size() == 1);
  CHECK_EQ(t2->shards[0].ranges.size(), static_cast<size_t>(2));
  CHECK_EQ(t2->covered_slots(), static_cast<size_t>(22));
}

TEST(test_topology__malformed_replies_are_protocol_errors) {
  Endpoint asked = ep("h", 1);
  std::vector<std::unique_ptr<Reply>> shards_bad;
  shards_bad.emplace_back(str("not an array"));
  shards_bad.emplace_back(arr({num(1)}));
  shards_bad.emplace_back(arr({arr({str("slots"), arr({})})}));  // no nodes
  shards_bad.emplace_back(arr({shard({0, 99999}, {shard_node({"a", "h", "h", "master", "online", 1, 0})})}));
  shards_bad.emplace_back(arr({shard({0, 10}, {shard_node({"a", "h", "h", "master", "online", 70000, 0})})}));
  shards_bad.emplace_back(arr({shard({10, 0}, {shard_node({"a", "h", "h", "master", "online", 1, 0})})}));
  for (auto &r : shards_bad) CHECK_THROWS_IF(parse_cluster_shards(*r, asked), Error, protocol_error);
  std::vector<std::unique_ptr<Reply>> slots_bad;
  slots_bad.emplace_back(num(3));
  slots_bad.emplace_back(arr({arr({num(0), num(1)})}));           // no node
  slots_bad.emplace_back(arr({arr({num(0), num(1), arr({str("h")})})}));  // node without port
  slots_bad.emplace_back(arr({arr({str("x"), num(1), arr({str("h"), num(1)})})}));
  slots_bad.emplace_back(arr({arr({num(0), num(1), arr({str("h"), num(0)})})}));
  for (auto &r : slots_bad) CHECK_THROWS_IF(parse_cluster_slots(*r, asked), Error, protocol_error);
}

TEST(test_topology__signature_compares_views) {
  // The majority vote compares views by signature: same owners, same text, whatever the
  // order of shards or ranges; a moved range changes it.
  std::unique_ptr<Reply> a(arr({arr({num(0), num(100), arr({str("h"), num(1)})}),
                                arr({num(101), num(200), arr({str("h"), num(2)})})}));
  std::unique_ptr<Reply> b(arr({arr({num(101), num(200), arr({str("h"), num(2)}), arr({str("h"), num(5)})}),
                                arr({num(0), num(100), arr({str("h"), num(1)})})}));
  std::unique_ptr<Reply> c(arr({arr({num(0), num(99), arr({str("h"), num(1)})}),
                                arr({num(100), num(200), arr({str("h"), num(2)})})}));
  Endpoint asked = ep("h", 1);
  auto ta = parse_cluster_slots(*a, asked), tb = parse_cluster_slots(*b, asked), tc = parse_cluster_slots(*c, asked);
  CHECK_EQ(ta->signature(), tb->signature());
  CHECK(ta->signature() != tc->signature());
}

TEST(test_rounds__coalesce_and_minimum_interval) {
  event_base *base = event_base_new();
  REQUIRE(base != nullptr);
  int begun = 0;
  RoundScheduler *sp = nullptr;
  RoundScheduler s(base, 100, [&] {
    ++begun;
    sp->started();
  });
  sp = &s;
  s.request();  // nothing ran yet: at once
  CHECK_EQ(begun, 1);
  CHECK(s.in_flight());
  s.request();  // during the round: coalesced into one more
  s.request();
  s.request();
  CHECK_EQ(begun, 1);
  CHECK(s.finished());   // triggers arrived meanwhile
  CHECK(!s.finished());  // and only once
  // Right after a round started: not before the minimum interval (100 ms, jittered up to
  // 150 ms), then exactly one round however many requests came.
  auto t0 = std::chrono::steady_clock::now();
  s.request();
  s.request();
  CHECK_EQ(begun, 1);
  while (begun == 1 && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2))
    event_base_loop(base, EVLOOP_ONCE);
  auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  CHECK_EQ(begun, 2);
  if (waited < 90) ::check::report(__FILE__, __LINE__, "a second round " + std::to_string(waited) + " ms after the first");
  CHECK(!s.finished());
  // A periodic schedule never pushes back a sooner timer.
  s.schedule(5000);
  s.schedule(50);
  s.schedule(3000);
  t0 = std::chrono::steady_clock::now();
  while (begun == 2 && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2))
    event_base_loop(base, EVLOOP_ONCE);
  CHECK_EQ(begun, 3);
  s.finished();
  event_base_free(base);
}

TEST(test_rounds__jitter_stays_within_one_and_a_half) {
  int lo = 1 << 30, hi = 0;
  for (int i = 0; i < 2000; ++i) {
    int v = RoundScheduler::jittered(1000);
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  CHECK(lo >= 1000);
  CHECK(hi <= 1500);
  CHECK(hi - lo > 200);  // it does vary: a fleet of clients spreads out
}

CHECK_MAIN
