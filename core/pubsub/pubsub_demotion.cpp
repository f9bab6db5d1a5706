// A node that dropped our shard channels on its own (sunsubscribe) is asked its ROLE: a
// primary demoted by a failover answers "slave" and names its new primary, which now
// owns every slot the node had. Its names are placed there at once, without waiting for
// a slot map that says so: right after a failover most nodes still describe the old map
// for a few hundred milliseconds, and a refresh (which follows the majority of the nodes
// it asks) repeats it, sometimes again after a newer map was seen. The node's own word
// outranks the map: the hint holds until the new primary is lost or is itself demoted
// back (its ROLE names the node), or for kHintMs. The demoted node, a replica now, would
// still accept SSUBSCRIBE: it is not asked again meanwhile. Until a map catches up (no
// longer lists the node as a primary) new maps are asked for at every tick.
#include <algorithm>
#include <chrono>

#include "core/net/connection.h"
#include "core/pubsub/pubsub.h"
#include "core/pubsub/pubsub_manager.h"
#include "core/resp/encoder.h"

namespace rcm::core {

namespace {

constexpr int kHintMs = 30000;

struct RoleProbe {
  PubSubManager *mgr;
  std::weak_ptr<char> alive;  // the manager outlives no reply: checked first
  std::string node;
};

}  // namespace

void PubSubManager::probe_role(const std::string &node) {
  if (host_.mode() != Mode::cluster || shut_ || !probing_.insert(node).second) return;
  Endpoint ep;
  if (!try_parse_endpoint(node, &ep)) {
    probing_.erase(node);
    return;
  }
  auto *r = new Request();
  const char *argv[] = {"ROLE"};
  size_t lens[] = {4};
  encode_command(r->payload, 1, argv, lens);
  r->internal = true;
  r->created = Clock::now();
  r->deadline = r->created + std::chrono::milliseconds(std::max(cfg_.command_timeout_ms, 500));
  r->done = &PubSubManager::on_role;
  r->ctx = new RoleProbe{this, alive_, node};
  host_.send_internal(r, host_.pool_for(ep, NodePool::Kind::primary));
}

void PubSubManager::on_role(Request *r, Status status, Reply *reply) {
  std::unique_ptr<Reply> owned(reply);
  std::unique_ptr<RoleProbe> probe(static_cast<RoleProbe *>(r->ctx));
  if (probe->alive.expired()) return;
  PubSubManager &m = *probe->mgr;
  m.probing_.erase(probe->node);
  if (m.shut_ || status != Status::ok || reply == nullptr || reply->kind != ReplyKind::array) return;
  const auto &el = reply->elements;
  // ["slave", host, port, state, offset]; a primary ("master") lost a slot by migration:
  // the slot map is what says where it went.
  if (el.size() < 3 || el[0] == nullptr || el[1] == nullptr || el[2] == nullptr) return;
  if (el[0]->str != "slave" && el[0]->str != "replica") return;
  const std::string port = el[2]->kind == ReplyKind::integer ? std::to_string(el[2]->integer) : std::string(el[2]->str);
  Endpoint to;
  if (!try_parse_endpoint(el[1]->str + ":" + port, &to)) return;
  m.demoted_.erase(to.str());  // its own hint (an earlier failover the other way) is void now
  m.demoted_[probe->node] = Demotion{to.str(), Clock::now() + std::chrono::milliseconds(kHintMs), false};
  m.replace();
}

// A node's successor while the hint holds; the node itself otherwise.
const std::string &PubSubManager::successor(const std::string &node) const {
  auto it = demoted_.find(node);
  if (it == demoted_.end() || it->second.until < Clock::now()) return node;
  return it->second.to;
}

// True while a hint waits for a slot map to catch up (expired hints are dropped).
bool PubSubManager::has_demotions(Clock::time_point now) {
  bool waiting = false;
  for (auto it = demoted_.begin(); it != demoted_.end();) {
    if (it->second.until < now) {
      it = demoted_.erase(it);
    } else {
      waiting = waiting || !it->second.caught_up;
      ++it;
    }
  }
  return waiting;
}

void PubSubManager::note_map(const ClusterTopology &topo) {
  for (auto &kv : demoted_) {
    const std::string &node = kv.first;
    bool primary = std::any_of(topo.shards.begin(), topo.shards.end(),
                               [&](const Shard &s) { return s.primary.endpoint.str() == node; });
    kv.second.caught_up = kv.second.caught_up || !primary;
  }
}

// The successor is gone: whoever is promoted now, the map (or the next sunsubscribe)
// says so.
void PubSubManager::forget_successor(const std::string &node) {
  for (auto it = demoted_.begin(); it != demoted_.end();)
    if (it->second.to == node)
      it = demoted_.erase(it);
    else
      ++it;
}

}  // namespace rcm::core
