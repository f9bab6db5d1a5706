#include "core/topology/cluster_topology.h"

#include <algorithm>
#include <map>

#include "core/common/status.h"
#include "core/resp/reply.h"

namespace rcm::core {

namespace {

[[noreturn]] void malformed(const std::string &what) {
  throw Error(Status::protocol, "malformed cluster topology reply: " + what);
}

const Reply *field(const Reply &flat, const char *name) {
  for (size_t i = 0; i + 1 < flat.elements.size(); i += 2) {
    const Reply *k = flat.elements[i];
    if (k && (k->kind == ReplyKind::string || k->kind == ReplyKind::status) && k->str == name) return flat.elements[i + 1];
  }
  return nullptr;
}

std::string text(const Reply *r) {
  if (r == nullptr) return "";
  if (r->kind == ReplyKind::integer) return std::to_string(r->integer);
  return std::string(r->str);
}

long long number(const Reply *r, const char *what) {
  if (r == nullptr) malformed(std::string("missing ") + what);
  if (r->kind == ReplyKind::integer) return r->integer;
  if (r->kind == ReplyKind::string) {
    char *end = nullptr;
    long long v = std::strtoll(r->str.c_str(), &end, 10);
    if (end && *end == '\0' && !r->str.empty()) return v;
  }
  malformed(std::string("bad ") + what);
}

// At most this many problems are kept (and each host quoted this far) for the report.
constexpr size_t kMaxProblems = 4;
constexpr size_t kMaxQuoted = 64;

void note_problem(ClusterTopology &t, const std::string &what) {
  if (t.problems.size() < kMaxProblems) t.problems.push_back(what);
}

// A node's address, checked here once: every later use (pools, routes, str() parsed
// back on the I/O thread) may then rely on it. False for a host that is not a host
// name or IP address ("bad host", "a]b"): that node is left out, and noted.
bool make_endpoint(ClusterTopology &t, const std::string &host, long long port, const Endpoint &asked, Endpoint *out) {
  Endpoint ep;
  ep.host = (host.empty() || host == "?") ? asked.host : host;
  if (port <= 0 || port > 65535) malformed("port out of range");
  ep.port = static_cast<uint16_t>(port);
  if (!valid_host(ep.host)) {
    note_problem(t, "node '" + ep.host.substr(0, kMaxQuoted) + "' left out: not a host name or IP address");
    return false;
  }
  *out = ep;
  return true;
}

int slot_number(const Reply *r) {
  long long v = number(r, "slot");
  if (v < 0 || v >= kSlots) malformed("slot " + std::to_string(v) + " is not in 0..16383");
  return static_cast<int>(v);
}

std::pair<int, int> slot_range(const Reply *first, const Reply *last) {
  std::pair<int, int> range(slot_number(first), slot_number(last));
  if (range.first > range.second) malformed("slot range " + std::to_string(range.first) + "-" + std::to_string(range.second));
  return range;
}

void assign_slots(ClusterTopology &t) {
  // slot_shard holds int16_t indexes; a reply cannot name more owners than slots.
  if (t.shards.size() > static_cast<size_t>(kSlots)) malformed("more than 16384 shards");
  for (size_t s = 0; s < t.shards.size(); ++s) {
    for (auto &range : t.shards[s].ranges) {
      for (int slot = range.first; slot <= range.second; ++slot) t.slot_shard[slot] = static_cast<int16_t>(s);
    }
  }
}

}  // namespace

std::string ClusterTopology::signature() const {
  std::vector<std::string> parts;
  for (const Shard &s : shards) {
    if (s.ranges.empty()) continue;
    std::string p = s.primary.endpoint.str() + "=";
    auto ranges = s.ranges;
    std::sort(ranges.begin(), ranges.end());
    for (auto &r : ranges) p += std::to_string(r.first) + "-" + std::to_string(r.second) + ",";
    parts.push_back(p);
  }
  std::sort(parts.begin(), parts.end());
  std::string out;
  for (auto &p : parts) out += p + ";";
  return out;
}

namespace {

// The slots `node` serves according to `view`; none when the view lists it only as a
// replica (or not at all: then `known` is false).
std::vector<bool> slots_served_by(const ClusterTopology &view, const Endpoint &node, bool *known) {
  std::vector<bool> served(kSlots, false);
  *known = false;
  for (size_t i = 0; i < view.shards.size(); ++i) {
    const Shard &sh = view.shards[i];
    bool primary = sh.primary.endpoint == node;
    for (const ClusterNode &r : sh.replicas) *known = *known || r.endpoint == node;
    if (!primary) continue;
    *known = true;
    for (int slot = 0; slot < kSlots; ++slot) served[slot] = served[slot] || view.slot_shard[slot] == static_cast<int>(i);
  }
  return served;
}

bool contradicts(const ClusterTopology &view, const Endpoint &node, const std::vector<bool> &served) {
  for (int slot = 0; slot < kSlots; ++slot) {
    int owner = view.slot_shard[slot];
    if (owner < 0) continue;
    bool names_node = view.shards[owner].primary.endpoint == node;
    if (names_node != served[slot]) return true;
  }
  return false;
}

}  // namespace

std::vector<bool> views_agreeing_with_self_claims(const std::vector<std::shared_ptr<ClusterTopology>> &views,
                                                  const std::vector<Endpoint> &sources) {
  std::vector<bool> agree(views.size(), true);
  for (size_t i = 0; i < views.size() && i < sources.size(); ++i) {
    bool known = false;
    std::vector<bool> served = slots_served_by(*views[i], sources[i], &known);
    if (!known) continue;  // the node does not find itself in its own view (an address it does not announce)
    for (size_t j = 0; j < views.size(); ++j)
      if (j != i && agree[j] && contradicts(*views[j], sources[i], served)) agree[j] = false;
  }
  return agree;
}

size_t ClusterTopology::covered_slots() const {
  return static_cast<size_t>(std::count_if(slot_shard.begin(), slot_shard.end(), [](int16_t s) { return s >= 0; }));
}

std::shared_ptr<ClusterTopology> parse_cluster_shards(const Reply &reply, const Endpoint &asked, PortKind want) {
  const char *port_key = want == PortKind::tls ? "tls-port" : "port";
  const char *other_key = want == PortKind::tls ? "port" : "tls-port";
  if (reply.kind != ReplyKind::array) malformed("CLUSTER SHARDS is not an array");
  auto t = std::make_shared<ClusterTopology>();
  for (const Reply *shard : reply.elements) {
    if (shard == nullptr || shard->kind != ReplyKind::array) malformed("shard is not a map");
    const Reply *slots = field(*shard, "slots");
    const Reply *nodes = field(*shard, "nodes");
    if (slots == nullptr || nodes == nullptr || slots->kind != ReplyKind::array || nodes->kind != ReplyKind::array)
      malformed("shard without slots/nodes");
    Shard s;
    for (size_t i = 0; i + 1 < slots->elements.size(); i += 2)
      s.ranges.push_back(slot_range(slots->elements[i], slots->elements[i + 1]));
    bool have_primary = false;
    for (const Reply *n : nodes->elements) {
      if (n == nullptr || n->kind != ReplyKind::array) malformed("node is not a map");
      ClusterNode node;
      std::string host = text(field(*n, "endpoint"));
      if (host.empty() || host == "?") host = text(field(*n, "ip"));
      long long port = field(*n, port_key) ? number(field(*n, port_key), port_key) : number(field(*n, other_key), other_key);
      if (!make_endpoint(*t, host, port, asked, &node.endpoint)) continue;
      node.id = text(field(*n, "id"));
      std::string health = text(field(*n, "health"));
      // Valkey says "online", "loading" or "fail" ("failed" in some docs). "loading" is
      // also what a fresh replica with nothing replicated yet reports; it serves reads
      // (a real LOADING reply is retried).
      node.healthy = health.empty() || health == "online" || health == "loading";
      const Reply *offset = field(*n, "replication-offset");
      node.offset = offset && offset->kind == ReplyKind::integer ? offset->integer : 0;
      std::string role = text(field(*n, "role"));
      if (role == "master" || role == "primary") {
        // After a failover the shard lists the failed old master and the promoted one:
        // the healthy one wins, then the one further ahead in replication.
        bool better = !have_primary || (node.healthy && !s.primary.healthy) ||
                      (node.healthy == s.primary.healthy && node.offset > s.primary.offset);
        if (better) {
          if (have_primary) s.replicas.push_back(s.primary);
          s.primary = node;
          have_primary = true;
        } else {
          s.replicas.push_back(node);
        }
      } else {
        s.replicas.push_back(node);
      }
    }
    if (!have_primary) {
      if (!s.ranges.empty()) s.ranges.clear();  // slots without a primary are uncovered
      continue;
    }
    if (t->shards.size() >= static_cast<size_t>(kSlots)) malformed("more than 16384 shards");
    t->shards.push_back(std::move(s));
  }
  assign_slots(*t);
  return t;
}

std::shared_ptr<ClusterTopology> parse_cluster_slots(const Reply &reply, const Endpoint &asked) {
  if (reply.kind != ReplyKind::array) malformed("CLUSTER SLOTS is not an array");
  auto t = std::make_shared<ClusterTopology>();
  std::map<std::string, size_t> by_primary;
  for (const Reply *range : reply.elements) {
    if (range == nullptr || range->kind != ReplyKind::array || range->elements.size() < 3) malformed("slot range entry");
    std::pair<int, int> slots = slot_range(range->elements[0], range->elements[1]);
    std::vector<ClusterNode> nodes;
    bool primary_ok = true;
    for (size_t i = 2; i < range->elements.size(); ++i) {
      const Reply *n = range->elements[i];
      if (n == nullptr || n->kind != ReplyKind::array || n->elements.size() < 2) malformed("node entry");
      ClusterNode node;
      if (!make_endpoint(*t, text(n->elements[0]), number(n->elements[1], "port"), asked, &node.endpoint)) {
        if (i == 2) primary_ok = false;  // the range has no usable owner: uncovered
        continue;
      }
      if (n->elements.size() > 2) node.id = text(n->elements[2]);
      nodes.push_back(node);
    }
    if (!primary_ok) continue;
    std::string key = nodes[0].endpoint.str();
    auto it = by_primary.find(key);
    if (it == by_primary.end()) {
      Shard s;
      s.primary = nodes[0];
      s.replicas.assign(nodes.begin() + 1, nodes.end());
      if (t->shards.size() >= static_cast<size_t>(kSlots)) malformed("more than 16384 shards");
      it = by_primary.emplace(key, t->shards.size()).first;
      t->shards.push_back(std::move(s));
    }
    t->shards[it->second].ranges.push_back(slots);
  }
  assign_slots(*t);
  return t;
}

}  // namespace rcm::core
