#include "core/topology/cluster_refresher.h"

#include <event2/event.h>

#include <algorithm>
#include <map>
#include <random>

#include "core/net/io_thread.h"
#include "core/resp/encoder.h"
#include "core/topology/topology_host.h"

namespace rcm::core {

namespace {
constexpr int kMinIntervalMs = 200;
constexpr int kAskNodes = 3;

int jitter(int ms) { return RoundScheduler::jittered(ms); }
}  // namespace

struct ClusterRefresher::Round {
  ClusterRefresher *owner;
  int outstanding = 0;
  std::vector<std::shared_ptr<ClusterTopology>> views;
  std::vector<Endpoint> sources;  // who gave each view
  bool extended = false;          // the nodes a view promotes were asked too
  std::string errors;
  Status first_failure = Status::ok;
  bool abandoned = false;  // the refresher went away; replies only free memory
};

ClusterRefresher::ClusterRefresher(TopologyHost &host)
    : host_(host), rounds_sched_(host.io().base(), kMinIntervalMs, [this] { begin(); }) {}

ClusterRefresher::~ClusterRefresher() {
  if (round_) round_->abandoned = true;  // freed by its last reply
}

void ClusterRefresher::start() { begin(); }

void ClusterRefresher::request(const std::string &) { rounds_sched_.request(); }

std::vector<Endpoint> ClusterRefresher::candidates() {
  std::vector<Endpoint> primaries, others;
  if (current_) {
    for (const Shard &s : current_->shards) {
      primaries.push_back(s.primary.endpoint);
      for (const ClusterNode &n : s.replicas) others.push_back(n.endpoint);
    }
  }
  thread_local std::minstd_rand rng{std::random_device{}()};
  std::shuffle(primaries.begin(), primaries.end(), rng);
  std::shuffle(others.begin(), others.end(), rng);
  std::vector<Endpoint> all = primaries;
  all.insert(all.end(), others.begin(), others.end());
  for (const Endpoint &s : host_.config().seeds) all.push_back(s);
  // Nodes that are up first: a dead primary would only cost this round a timeout.
  std::stable_partition(all.begin(), all.end(), [this](const Endpoint &ep) {
    return host_.pool_for(ep, NodePool::Kind::primary).up();
  });
  std::vector<Endpoint> out;
  for (const Endpoint &ep : all) {
    if (std::find(out.begin(), out.end(), ep) == out.end()) out.push_back(ep);
    if (out.size() == static_cast<size_t>(kAskNodes)) break;
  }
  return out;
}

void ClusterRefresher::begin() {
  if (host_.shutting_down()) return;
  rounds_sched_.started();
  ++rounds_;
  round_ = new Round();
  round_->owner = this;
  std::vector<Endpoint> nodes = candidates();
  round_->outstanding = static_cast<int>(nodes.size());
  Round *round = round_;
  for (const Endpoint &ep : nodes) ask(round, ep, true);
}

void ClusterRefresher::ask(Round *round, const Endpoint &ep, bool shards) {
  auto *r = new Request();
  const char *argv[] = {"CLUSTER", shards ? "SHARDS" : "SLOTS"};
  size_t lens[] = {7, static_cast<size_t>(shards ? 6 : 5)};
  encode_command(r->payload, 2, argv, lens);
  r->cmd.flags = kCmdReadonly;
  r->internal = true;
  r->created = Clock::now();
  int timeout = std::max(host_.config().connect_timeout_ms, host_.config().command_timeout_ms);
  r->deadline = r->created + std::chrono::milliseconds(std::max(timeout, 500));
  r->done = &ClusterRefresher::on_reply;
  r->ctx = round;
  r->route_node = ep.str();
  r->index = shards ? 1 : 0;
  host_.send_internal(r, host_.pool_for(ep, NodePool::Kind::primary));
}

void ClusterRefresher::on_reply(Request *r, Status status, Reply *reply) {
  std::unique_ptr<Reply> owned(reply);
  auto *round = static_cast<Round *>(r->ctx);
  if (!round->abandoned) {
    ClusterRefresher *self = round->owner;
    // route_node is an Endpoint::str() of a checked address; try_ rather than throw
    // because an exception here would leave the round unfinished (the map frozen).
    Endpoint ep;
    if (!try_parse_endpoint(r->route_node, &ep)) ep.host = "?";
    if (status == Status::ok && reply && reply->is_error() && r->index == 1 &&
        reply->str.find("nknown") != std::string::npos) {
      self->ask(round, ep, false);  // no CLUSTER SHARDS (Redis < 7): ask CLUSTER SLOTS
      return;
    }
    if (status != Status::ok || reply == nullptr || reply->is_error()) {
      bool not_cluster = reply && reply->str.find("cluster support disabled") != std::string::npos;
      if (round->first_failure == Status::ok)
        round->first_failure = status != Status::ok ? status : not_cluster ? Status::config : Status::clusterdown;
      if (!round->errors.empty()) round->errors += "; ";
      round->errors += ep.str() + ": " + (reply ? std::string(reply->str) : status_name(status));
      if (not_cluster) round->errors += " (mode=cluster, but this server is not a cluster node)";
    } else {
      try {
        const PortKind port = self->host_.config().tls ? PortKind::tls : PortKind::plain;
        auto view = r->index == 1 ? parse_cluster_shards(*reply, ep, port) : parse_cluster_slots(*reply, ep);
        if (view->covered_slots() == 0 && !view->problems.empty()) {
          if (!round->errors.empty()) round->errors += "; ";
          round->errors += ep.str() + ": " + view->problems.front();
        }
        round->views.push_back(std::move(view));
        round->sources.push_back(ep);
      } catch (const std::exception &e) {
        if (round->first_failure == Status::ok) round->first_failure = Status::protocol;
        if (!round->errors.empty()) round->errors += "; ";
        round->errors += ep.str() + ": " + e.what();
      }
    }
  }
  if (--round->outstanding > 0) return;
  if (round->abandoned) {
    delete round;
    return;
  }
  round->owner->finish(round);
}

bool ClusterRefresher::regresses_to_dead_primary(const ClusterTopology &view) {
  for (int slot = 0; slot < kSlots; ++slot) {
    int a = current_->slot_shard[slot], b = view.slot_shard[slot];
    if (a < 0 || b < 0) continue;
    const Endpoint &was = current_->shards[a].primary.endpoint, &now = view.shards[b].primary.endpoint;
    if (was == now) continue;
    if (host_.pool_for(now, NodePool::Kind::primary).lost() && host_.pool_for(was, NodePool::Kind::primary).up())
      return true;
  }
  return false;
}

std::vector<Endpoint> ClusterRefresher::unconfirmed_promotions(const ClusterTopology &view,
                                                               const std::vector<Endpoint> &sources) const {
  std::vector<Endpoint> out;
  for (int slot = 0; slot < kSlots; ++slot) {
    int a = current_->slot_shard[slot], b = view.slot_shard[slot];
    if (a < 0 || b < 0) continue;
    const Endpoint &now = view.shards[b].primary.endpoint;
    if (current_->shards[a].primary.endpoint == now) continue;
    if (std::find(out.begin(), out.end(), now) != out.end()) continue;
    if (std::find(sources.begin(), sources.end(), now) != sources.end()) continue;  // it spoke for itself
    bool was_replica = false;
    for (const Shard &sh : current_->shards)
      for (const ClusterNode &r : sh.replicas) was_replica = was_replica || r.endpoint == now;
    if (was_replica) out.push_back(now);
  }
  return out;
}

namespace {

// The view most nodes agree on; on a tie, the one that covers more slots. Views that what
// a node says of itself contradicts (a failover it has not heard of yet) do not vote,
// unless all are contradicted.
std::shared_ptr<ClusterTopology> pick_view(const std::vector<std::shared_ptr<ClusterTopology>> &views,
                                           const std::vector<Endpoint> &sources) {
  std::vector<bool> agree = views_agreeing_with_self_claims(views, sources);
  const bool any_agree = std::find(agree.begin(), agree.end(), true) != agree.end();
  std::map<std::string, std::pair<int, std::shared_ptr<ClusterTopology>>> votes;
  for (size_t i = 0; i < views.size(); ++i) {
    const auto &v = views[i];
    if (v->covered_slots() == 0 || (any_agree && !agree[i])) continue;
    auto &entry = votes[v->signature()];
    ++entry.first;
    entry.second = v;
  }
  std::shared_ptr<ClusterTopology> best;
  int best_votes = 0;
  for (auto &kv : votes) {
    if (kv.second.first > best_votes ||
        (kv.second.first == best_votes && kv.second.second->covered_slots() > best->covered_slots())) {
      best = kv.second.second;
      best_votes = kv.second.first;
    }
  }
  return best;
}

}  // namespace

void ClusterRefresher::finish(Round *round) {
  std::unique_ptr<Round> owned(round);
  std::shared_ptr<ClusterTopology> best = pick_view(round->views, round->sources);
  if (best && current_ && !round->extended) {
    // A replica made primary by nodes other than itself: hear it too before the map
    // changes (the same round, no wait). A true promotion is confirmed by the node; a
    // stale view is contradicted by what the node says of itself.
    std::vector<Endpoint> ask_too = unconfirmed_promotions(*best, round->sources);
    if (!ask_too.empty()) {
      round->extended = true;
      round->outstanding = static_cast<int>(ask_too.size());
      owned.release();  // still round_
      for (const Endpoint &ep : ask_too) ask(round, ep, true);
      return;
    }
  }
  round_ = nullptr;
  bool again = rounds_sched_.finished();
  if (best && current_ && regresses_to_dead_primary(*best)) {
    // Some node still describes the cluster as it was before a failover: keep the
    // current map and ask again shortly rather than route slots to a dead node.
    best.reset();
    again = true;
    round->errors = "a view names a primary that is down while the current one is up";
  }
  if (best) {
    failures_ = 0;
    bool changed = !current_ || current_->signature() != best->signature();
    std::shared_ptr<const ClusterTopology> previous = current_;
    current_ = best;
    host_.publish_topology(best, previous, changed);
    if (changed)  // once per new map, not every round
      for (const std::string &p : best->problems) host_.emit_event(3 /* topology changed */, "", p);
    if (best->covered_slots() < static_cast<size_t>(kSlots)) again = true;  // keep looking for owners
  } else {
    ++failures_;
    host_.topology_failed(round->first_failure == Status::ok ? Status::clusterdown : round->first_failure,
                                     round->errors.empty() ? "no node answered CLUSTER SHARDS" : round->errors);
    again = true;
  }
  const int periodic = host_.config().topology_refresh_ms;
  if (again) {
    int backoff = kMinIntervalMs << std::min(failures_, 3);
    rounds_sched_.schedule(jitter(backoff));
  } else if (periodic > 0) {
    rounds_sched_.schedule(RoundScheduler::periodic(periodic));
  }
}

}  // namespace rcm::core
