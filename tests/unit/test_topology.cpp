// unit.topology: parsing CLUSTER SHARDS / CLUSTER SLOTS (IPv6, hostnames, unknown
// endpoints, failed primaries, malformed replies) and the discovery round scheduler
// (coalescing, minimum interval, jitter), without a server.
#include <event2/event.h>

#include <chrono>
#include <climits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/common/status.h"
#include "core/config/config.h"
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

// A node with a plain port and a TLS port announces both, to any connection (Valkey 8,
// tls-cluster yes): a TLS client connects to "tls-port", a plain one to "port", and a
// node that announces only one is reached there.
static Reply *dual_port_node(const char *id, const char *role, long long port, long long tls_port) {
  Reply *n = arr({str("id"), str(id), str("ip"), str("127.0.0.1"), str("endpoint"), str("127.0.0.1"), str("role"),
                  str(role), str("replication-offset"), num(1), str("health"), str("online")});
  if (port) n->elements.insert(n->elements.begin() + 2, {str("port"), num(port)});
  if (tls_port) n->elements.insert(n->elements.begin() + 2, {str("tls-port"), num(tls_port)});
  return n;
}

TEST(test_shards__tls_clients_connect_to_the_tls_port) {
  std::unique_ptr<Reply> reply(arr({
      shard({0, 8191}, {dual_port_node("a", "master", 7001, 8001), dual_port_node("b", "replica", 7004, 8004)}),
      shard({8192, 12287}, {dual_port_node("c", "master", 0, 8002)}),
      shard({12288, 16383}, {dual_port_node("d", "master", 7003, 0)}),
  }));
  auto tls = parse_cluster_shards(*reply, ep("127.0.0.1", 8001), PortKind::tls);
  REQUIRE(tls->shards.size() == 3);
  CHECK_EQ(tls->shards[0].primary.endpoint.port, 8001);
  REQUIRE(tls->shards[0].replicas.size() == 1);
  CHECK_EQ(tls->shards[0].replicas[0].endpoint.port, 8004);
  CHECK_EQ(tls->shards[1].primary.endpoint.port, 8002);
  CHECK_EQ(tls->shards[2].primary.endpoint.port, 7003);
  auto plain = parse_cluster_shards(*reply, ep("127.0.0.1", 7001), PortKind::plain);
  REQUIRE(plain->shards.size() == 3);
  CHECK_EQ(plain->shards[0].primary.endpoint.port, 7001);
  CHECK_EQ(plain->shards[0].replicas[0].endpoint.port, 7004);
  CHECK_EQ(plain->shards[1].primary.endpoint.port, 8002);
  CHECK_EQ(plain->shards[2].primary.endpoint.port, 7003);
  CHECK_EQ(tls->covered_slots(), static_cast<size_t>(16384));
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

TEST(test_views__a_nodes_claim_about_itself_outranks_stale_views) {
  // After CLUSTER FAILOVER: 7002 has not heard yet (7001 primary), 7001 itself knows it
  // is now a replica of 7004, and so does 7004. 7002's view must not win a vote.
  auto layout = [](long long primary, long long replica) {
    return arr({shard({0, 16383}, {shard_node({"p", "127.0.0.1", "127.0.0.1", "master", "online", primary, 9}),
                                   shard_node({"r", "127.0.0.1", "127.0.0.1", "replica", "online", replica, 9})})});
  };
  std::unique_ptr<Reply> stale(layout(7001, 7004)), demoted(layout(7004, 7001)), promoted(layout(7004, 7001));
  std::vector<std::shared_ptr<ClusterTopology>> views = {parse_cluster_shards(*stale, ep("127.0.0.1", 7002)),
                                                         parse_cluster_shards(*demoted, ep("127.0.0.1", 7001)),
                                                         parse_cluster_shards(*promoted, ep("127.0.0.1", 7004))};
  std::vector<Endpoint> sources = {ep("127.0.0.1", 7002), ep("127.0.0.1", 7001), ep("127.0.0.1", 7004)};
  std::vector<bool> agree = views_agreeing_with_self_claims(views, sources);
  CHECK(!agree[0]);
  CHECK(agree[1]);
  CHECK(agree[2]);
  // Two stale nodes and the demoted primary alone: its own word still wins.
  views[2] = parse_cluster_shards(*stale, ep("127.0.0.1", 7003));
  sources[2] = ep("127.0.0.1", 7003);
  agree = views_agreeing_with_self_claims(views, sources);
  CHECK(!agree[0]);
  CHECK(agree[1]);
  CHECK(!agree[2]);
  // A slot in the middle of a move: source and target both claim it, every view is
  // contradicted (the caller then votes among all of them).
  std::unique_ptr<Reply> src(arr({shard({0, 16383}, {shard_node({"a", "127.0.0.1", "127.0.0.1", "master", "online", 7001, 1})}),
                                  shard({}, {shard_node({"b", "127.0.0.1", "127.0.0.1", "master", "online", 7002, 1})})}));
  std::unique_ptr<Reply> dst(arr({shard({0, 99, 101, 16383}, {shard_node({"a", "127.0.0.1", "127.0.0.1", "master", "online", 7001, 1})}),
                                  shard({100, 100}, {shard_node({"b", "127.0.0.1", "127.0.0.1", "master", "online", 7002, 1})})}));
  views = {parse_cluster_shards(*src, ep("127.0.0.1", 7001)), parse_cluster_shards(*dst, ep("127.0.0.1", 7002))};
  sources = {ep("127.0.0.1", 7001), ep("127.0.0.1", 7002)};
  agree = views_agreeing_with_self_claims(views, sources);
  CHECK(!agree[0]);
  CHECK(!agree[1]);
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

// F3 / item 11: a host that is no host ("bad host", "a]b") was accepted here and made
// parse_endpoint throw later, on the I/O thread (a frozen map, or std::terminate). It is
// left out here, once: a bad replica is dropped, a bad primary leaves its slots uncovered;
// the rest of the view stands, every address in it parses back, and the problem is noted.
TEST(test_topology__bad_host_names_are_left_out_at_parse) {
  Endpoint asked = ep("h", 1);
  for (const char *bad : {"bad host", "a]b", "a[b", "x/y", "h\r\nINFO", "a@b"}) {
    // CLUSTER SHARDS: bad replica of shard 0, bad primary of shard 1
    std::unique_ptr<Reply> shards(arr({
        shard({0, 99}, {shard_node({"a", "good-a", "10.0.0.1", "master", "online", 7001, 1}),
                        shard_node({"b", bad, "", "replica", "online", 7004, 1})}),
        shard({100, 199}, {shard_node({"c", bad, "", "master", "online", 7002, 1}),
                           shard_node({"d", "good-d", "10.0.0.4", "replica", "online", 7005, 1})}),
    }));
    std::shared_ptr<ClusterTopology> t;
    try {
      t = parse_cluster_shards(*shards, asked);
    } catch (const Error &e) {
      ::check::report(__FILE__, __LINE__, std::string("SHARDS with '") + bad + "' threw: " + e.what());
      continue;
    }
    CHECK_EQ(t->covered_slots(), static_cast<size_t>(100));
    CHECK(!t->problems.empty());
    for (const Shard &s : t->shards) {
      Endpoint back;
      CHECK(try_parse_endpoint(s.primary.endpoint.str(), &back));
      for (const ClusterNode &n : s.replicas) CHECK(try_parse_endpoint(n.endpoint.str(), &back));
    }
    REQUIRE(!t->shards.empty());
    CHECK(t->shards[0].replicas.empty());
    // CLUSTER SLOTS: a bad replica only, then a bad primary
    std::unique_ptr<Reply> slots(arr({
        arr({num(0), num(99), arr({str("good-a"), num(7001)}), arr({str(bad), num(7004)})}),
        arr({num(100), num(199), arr({str(bad), num(7002)}), arr({str("good-d"), num(7005)})}),
    }));
    try {
      t = parse_cluster_slots(*slots, asked);
    } catch (const Error &e) {
      ::check::report(__FILE__, __LINE__, std::string("SLOTS with '") + bad + "' threw: " + e.what());
      continue;
    }
    CHECK_EQ(t->covered_slots(), static_cast<size_t>(100));
    REQUIRE(t->shards.size() == 1);
    CHECK(t->shards[0].replicas.empty());
    CHECK(!t->problems.empty());
  }
}

// F4: slot numbers were narrowed to int before the range check: 4294967296 became 0.
TEST(test_topology__slot_numbers_out_of_range_are_refused) {
  Endpoint asked = ep("h", 1);
  const long long wrap = 4294967296LL;
  std::vector<std::unique_ptr<Reply>> bad;
  bad.emplace_back(arr({shard({wrap, wrap + 16383}, {shard_node({"a", "h", "h", "master", "online", 1, 0})})}));
  bad.emplace_back(arr({shard({-wrap, 5}, {shard_node({"a", "h", "h", "master", "online", 1, 0})})}));
  bad.emplace_back(arr({shard({0, 16384}, {shard_node({"a", "h", "h", "master", "online", 1, 0})})}));
  for (auto &r : bad) CHECK_THROWS_IF(parse_cluster_shards(*r, asked), Error, protocol_error);
  std::vector<std::unique_ptr<Reply>> bad_slots;
  bad_slots.emplace_back(arr({arr({num(wrap), num(wrap + 16383), arr({str("h"), num(1)})})}));
  bad_slots.emplace_back(arr({arr({num(0), num(LLONG_MAX), arr({str("h"), num(1)})})}));
  bad_slots.emplace_back(arr({arr({num(9), num(3), arr({str("h"), num(1)})})}));
  for (auto &r : bad_slots) CHECK_THROWS_IF(parse_cluster_slots(*r, asked), Error, protocol_error);
}

// F4: the shard index is an int16_t: a reply naming more owners than there are slots is
// malformed (past 32767 the index wrapped to negative, read as "no owner" or out of bounds).
TEST(test_topology__shard_count_is_bounded) {
  Endpoint asked = ep("h", 1);
  std::unique_ptr<Reply> many(Reply::make_array());
  for (int i = 0; i < 40000; ++i)
    many->elements.push_back(arr({num(i % kSlots), num(i % kSlots), arr({str("n" + std::to_string(i)), num(1)})}));
  CHECK_THROWS_IF(parse_cluster_slots(*many, asked), Error, protocol_error);
  // one shard per slot still fits
  std::unique_ptr<Reply> full(Reply::make_array());
  for (int i = 0; i < kSlots; ++i) full->elements.push_back(arr({num(i), num(i), arr({str("n" + std::to_string(i)), num(1)})}));
  auto t = parse_cluster_slots(*full, asked);
  CHECK_EQ(t->shards.size(), static_cast<size_t>(kSlots));
  CHECK_EQ(t->slot_shard[kSlots - 1], kSlots - 1);
}

// Item 18: the periodic wait is period +-10% for any period; period * 9 overflowed an int
// above ~238 M ms (topology.refresh_ms accepts up to INT_MAX).
TEST(test_rounds__periodic_wait_for_any_period) {
  for (int period : {1, 10, 30000, 238609295, 300000000, INT_MAX}) {
    for (unsigned r : {0u, 1u, 12345u, 4000000000u, UINT_MAX}) {
      long long v = RoundScheduler::periodic(period, r);
      long long lo = static_cast<long long>(period) * 9 / 10, hi = static_cast<long long>(period) * 11 / 10 + 1;
      if (v < lo || v > hi || v < 0)
        ::check::report(__FILE__, __LINE__, "periodic(" + std::to_string(period) + ") = " + std::to_string(v));
    }
  }
}

CHECK_MAIN
