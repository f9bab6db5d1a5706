// The registry and placement half of the PubSubManager: what is wanted, by whom, and on
// which node. The connections' half is in pubsub_links.cpp.
#include "core/pubsub/pubsub_manager.h"

#include <algorithm>
#include <chrono>
#include <random>
#include <utility>

#include <event2/event.h>

#include "core/common/guard.h"
#include "core/net/connection.h"
#include "core/net/io_thread.h"
#include "core/pubsub/pubsub.h"
#include "core/pubsub/subscriber.h"
#include "core/route/slot.h"

namespace rcm::core {

namespace {

template <class V, class T>
bool contains(const V &v, const T &x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

}  // namespace

PubSubManager::PubSubManager(PubSubHost &host, std::shared_ptr<PubSub> pubsub)
    : host_(host), pubsub_(std::move(pubsub)), cfg_(host.config()) {}

PubSubManager::~PubSubManager() {
  shutdown();
  if (wake_ev_) event_free(wake_ev_);
}

void PubSubManager::deliver(const std::shared_ptr<Subscriber> &s, MessagePtr m) {
  bool wake = false;
  std::string node;
  if (s->push(std::move(m), &wake, &node)) report_overflow(*s, node);
  if (wake) {
    if (wake_ev_ == nullptr) wake_ev_ = event_new(host_.io().base(), -1, 0, RCM_GUARDED(PubSubManager::on_wake), this);
    if (to_wake_.empty()) event_active(wake_ev_, EV_TIMEOUT, 0);
    to_wake_.push_back(s);
  }
}

void PubSubManager::report_overflow(const Subscriber &s, const std::string &node) {
  host_.emit_event(6 /* pubsub dropped */, node,
                   "subscriber " + std::to_string(s.id()) +
                       " does not keep up: its oldest messages are dropped (pubsub.max_pending=" +
                       std::to_string(cfg_.pubsub_max_pending) + "; " +
                       std::to_string(pubsub_->stats().dropped.load()) + " dropped in all so far)");
}

// Once per loop iteration that pushed: readers and delivery threads learn of everything
// the reads of this iteration brought at once.
void PubSubManager::on_wake(int, short, void *arg) {
  auto *self = static_cast<PubSubManager *>(arg);
  // Counted once per iteration: an atomic add per message costs the I/O thread a stall
  // on the stores of the message just built.
  self->pubsub_->stats().messages.fetch_add(std::exchange(self->queued_, 0), std::memory_order_relaxed);
  std::vector<std::shared_ptr<Subscriber>> batch;
  batch.swap(self->to_wake_);
  std::string node;
  for (const auto &s : batch)
    if (s->wake(&node)) self->report_overflow(*s, node);
  batch.clear();
  if (self->to_wake_.empty()) self->to_wake_.swap(batch);  // its capacity, for the next iteration
}

long long PubSubManager::now_ms() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void PubSubManager::add(const std::shared_ptr<Subscriber> &s, SubKind kind, bool every,
                        const std::vector<std::string> &names) {
  if (shut_ || s->closed()) return;
  for (const std::string &name : names) {
    Key k{kind, every, name};
    auto ins = entries_.try_emplace(k);
    Entry &e = ins.first->second;
    if (contains(e.subs, s)) continue;  // already wanted: not twice
    e.subs.push_back(s);
    if (ins.second) {
      if (every) ++every_entries_;
      attach(k, e);
    }
    std::string live_on;
    for (const std::string &node : e.nodes) {
      auto l = links_.find(node);
      if (l == links_.end()) continue;
      auto st = l->second->names.find(ServerName{kind_index(kind), name});
      if (st != l->second->names.end() && st->second.live) live_on = node;
    }
    if (!live_on.empty())
      deliver(s, make_notice(MessageType::subscribed, kind, every, name, live_on));
    else
      e.awaiting.push_back(s);
  }
  count_names();
  sync_dirty();
}

void PubSubManager::remove(const std::shared_ptr<Subscriber> &s, SubKind kind, bool every,
                           const std::vector<std::string> &names, bool all) {
  if (shut_) return;
  std::vector<std::map<Key, Entry, KeyLess>::iterator> hits;
  if (all) {
    for (auto it = entries_.lower_bound(Key{kind, every, std::string()});
         it != entries_.end() && it->first.kind == kind && it->first.every == every; ++it)
      if (contains(it->second.subs, s)) hits.push_back(it);
  } else {
    for (const std::string &name : names) {
      auto it = entries_.find(Key{kind, every, name});
      if (it != entries_.end() && contains(it->second.subs, s) && !contains(hits, it)) hits.push_back(it);
    }
  }
  for (auto it : hits) {
    Entry &e = it->second;
    e.subs.erase(std::find(e.subs.begin(), e.subs.end(), s));
    e.awaiting.erase(std::remove(e.awaiting.begin(), e.awaiting.end(), s), e.awaiting.end());
    // Pushed here, on the thread that fans messages out: none of this name follows it.
    deliver(s, make_notice(MessageType::unsubscribed, kind, every, it->first.name,
                   e.nodes.empty() ? std::string() : e.nodes.front()));
    if (e.subs.empty()) release_entry(it);
  }
  count_names();
  sync_dirty();
}

void PubSubManager::drop(const std::shared_ptr<Subscriber> &s) {
  if (shut_) return;
  for (auto it = entries_.begin(); it != entries_.end();) {
    auto next = std::next(it);
    Entry &e = it->second;
    auto pos = std::find(e.subs.begin(), e.subs.end(), s);
    if (pos != e.subs.end()) {
      e.subs.erase(pos);
      e.awaiting.erase(std::remove(e.awaiting.begin(), e.awaiting.end(), s), e.awaiting.end());
      if (e.subs.empty()) release_entry(it);
    }
    it = next;
  }
  count_names();
  sync_dirty();
}

void PubSubManager::release_entry(std::map<Key, Entry, KeyLess>::iterator it) {
  detach(it->first, it->second, now_ms());
  if (it->first.every) --every_entries_;
  entries_.erase(it);
}

void PubSubManager::count_names() {
  long long n[3] = {0, 0, 0};
  for (const auto &kv : entries_) ++n[kind_index(kv.first.kind)];
  PubSubStats &st = pubsub_->stats();
  st.channels.store(n[0], std::memory_order_relaxed);
  st.patterns.store(n[1], std::memory_order_relaxed);
  st.shard_channels.store(n[2], std::memory_order_relaxed);
}

// Where a name lives: standalone, Raft, Sentinel: the writable node; cluster: shard
// channels on their slot's primary, RCM_SUB_EVERY_PRIMARY names on every primary, the
// rest on pubsub.node or one primary kept while it stays one. Empty: not known yet.
std::vector<std::string> PubSubManager::place(const Key &k) {
  if (host_.mode() != Mode::cluster) {
    const NodePool *w = host_.writable_node();
    if (w == nullptr) return {};
    return {w->endpoint().str()};
  }
  std::shared_ptr<const ClusterTopology> topo = host_.topology();
  if (!topo || topo->shards.empty()) return {};
  if (k.kind == SubKind::shard) {
    int shard = topo->slot_shard[key_slot(k.name.data(), k.name.size())];
    if (shard < 0) return {};
    return {successor(topo->shards[shard].primary.endpoint.str())};
  }
  std::vector<std::string> primaries;
  for (const Shard &s : topo->shards) primaries.push_back(s.primary.endpoint.str());
  if (k.every) return primaries;
  if (!cfg_.pubsub_node.empty()) {
    Endpoint ep;
    if (try_parse_endpoint(cfg_.pubsub_node, &ep)) return {ep.str()};
  }
  if (chosen_.empty() || !contains(primaries, chosen_)) {
    // Spread over the primaries: many clients do not all load one node.
    static thread_local std::minstd_rand rng{std::random_device{}()};
    chosen_ = primaries[rng() % primaries.size()];
  }
  return {chosen_};
}

void PubSubManager::want(ServerState &st) {
  if (st.wanted++ == 0 && !st.sent) st.order = ++orders_;
}

void PubSubManager::attach(const Key &k, Entry &e) {
  e.nodes = place(k);
  for (const std::string &node : e.nodes) {
    want(link(node).names[ServerName{kind_index(k.kind), k.name}]);
    dirty_.insert(node);
  }
}

void PubSubManager::detach(const Key &k, Entry &e, long long) {
  for (const std::string &node : e.nodes) {
    auto l = links_.find(node);
    if (l == links_.end()) continue;
    auto st = l->second->names.find(ServerName{kind_index(k.kind), k.name});
    if (st != l->second->names.end() && st->second.wanted > 0) st->second.wanted--;
    dirty_.insert(node);
  }
  e.nodes.clear();
}

// A new slot map or primary. A name a node dropped or refused that now belongs elsewhere
// starts afresh there at once; one that still belongs to the same node stays held (the
// view may predate the change: a demoted primary accepts SSUBSCRIBE as a replica, and
// its ROLE, asked meanwhile, places its names on its new primary: pubsub_demotion.cpp).
void PubSubManager::on_topology() {
  if (host_.mode() == Mode::cluster)
    if (std::shared_ptr<const ClusterTopology> topo = host_.topology()) note_map(*topo);
  replace();
}

// Every name whose node changed moves. What was live on a node it leaves (or was waiting
// to be live again there) is not live from now (or from that earlier loss) until the new
// node confirms it: the gap reported then.
void PubSubManager::replace() {
  if (shut_) return;
  const long long now = now_ms();
  for (auto &kv : entries_) {
    const Key &k = kv.first;
    Entry &e = kv.second;
    std::vector<std::string> nodes = place(k);
    if (nodes == e.nodes) continue;
    const ServerName sn{kind_index(k.kind), k.name};
    long long from = 0;
    for (const std::string &old : e.nodes) {
      if (contains(nodes, old)) continue;
      auto g = e.gap_from.find(old);
      if (g != e.gap_from.end()) {
        from = from == 0 ? g->second : std::min(from, g->second);
        e.gap_from.erase(g);
      }
      auto l = links_.find(old);
      if (l == links_.end()) continue;
      auto st = l->second->names.find(sn);
      if (st == l->second->names.end()) continue;
      if (st->second.live) from = from == 0 ? now : std::min(from, now);
      if (st->second.wanted > 0) st->second.wanted--;
      dirty_.insert(old);
    }
    for (const std::string &n : nodes) {
      if (contains(e.nodes, n)) continue;
      if (from != 0) e.gap_from[n] = from;
      want(link(n).names[sn]);
      dirty_.insert(n);
    }
    e.nodes = std::move(nodes);
  }
  sync_dirty();
}

void PubSubManager::sync_dirty() {
  std::set<std::string> dirty;
  dirty.swap(dirty_);
  for (const std::string &node : dirty) {
    auto l = links_.find(node);
    if (l != links_.end()) sync(*l->second);
  }
}

bool PubSubManager::uses(const Endpoint &ep) const {
  const std::string key = ep.str();
  if (links_.count(key)) return true;
  for (const auto &l : graveyard_)
    if (l->key == key) return true;
  return false;
}

void PubSubManager::shutdown() {
  if (shut_) return;
  shut_ = true;
  for (auto &kv : links_) {
    Link &l = *kv.second;
    l.dying = true;
    if (l.conn) {
      l.conn->set_push_handler(nullptr, nullptr, nullptr);
      l.conn->shutdown(Status::closed, "client closed");
    }
  }
  links_.clear();
  graveyard_.clear();
  entries_.clear();
  every_entries_ = 0;
  to_wake_.clear();
  if (wake_ev_) event_del(wake_ev_);
  pubsub_->close_all();
}

}  // namespace rcm::core
