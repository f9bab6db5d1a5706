// The connections half of the PubSubManager: one subscriber connection per node (a
// Link), subscribing what is placed there in chunks, reading its messages and
// confirmations, and what happens when it is lost (gaps, reconnect with backoff).
#include <algorithm>
#include <chrono>
#include <random>

#include "core/net/connection.h"
#include "core/net/pubsub_frames.h"
#include "core/pubsub/pubsub.h"
#include "core/pubsub/pubsub_manager.h"
#include "core/pubsub/subscriber.h"
#include "core/route/slot.h"

namespace rcm::core {

namespace {

// Names per (P|S)SUBSCRIBE: a thousand channels go in a few commands, none of which
// makes a reply the server must build in one piece too large.
constexpr size_t kChunk = 256;
// Names listed in a gap event before "and N more".
constexpr size_t kListed = 20;
// Times a name a node dropped or refused is held back (new views of the topology asked
// for meanwhile) before it is asked for there again.
constexpr int kHolds = 8;

const char *const kSubscribe[] = {"SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE"};
const char *const kUnsubscribe[] = {"UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE"};
const char *const kKindWord[] = {"channel", "pattern", "shard channel"};

enum : size_t { kTagUnsubscribe = 0, kTagSubscribe = 1 };

// retry.backoff_ms doubling per failure up to retry.backoff_max_ms, full jitter in
// [d/2, d], at least 1 ms (as the pools reconnect).
int backoff_ms(const Config &cfg, int failures) {
  const long long cap = std::max<long long>(cfg.retry_backoff_max_ms, 1);
  long long d = std::max<long long>(cfg.retry_backoff_ms, 1);
  for (int i = 1; i < failures && d < cap; ++i) d *= 2;
  d = std::min(d, cap);
  static thread_local std::minstd_rand rng{std::random_device{}()};
  long long half = d / 2;
  long long ms = half + static_cast<long long>(rng() % static_cast<unsigned>(d - half + 1));
  return static_cast<int>(std::max<long long>(ms, 1));
}

}  // namespace

PubSubManager::Link &PubSubManager::link(const std::string &node) {
  auto it = links_.find(node);
  if (it != links_.end()) return *it->second;
  auto l = std::make_unique<Link>();
  l->mgr = this;
  l->key = node;
  try_parse_endpoint(node, &l->ep);
  Link &ref = *l;
  links_.emplace(node, std::move(l));
  return ref;
}

long long PubSubManager::last_live_ms(const Link &l) const {
  if (!l.conn) return now_ms();
  auto quiet = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - l.conn->last_activity()).count();
  return now_ms() - std::max<long long>(quiet, 0);
}

// Brings the node's server state to what is placed there: SUBSCRIBE what is wanted and
// not asked for, UNSUBSCRIBE what is asked for and no longer wanted. A node nothing is
// placed on loses its connection (the server forgets its subscriptions with it).
void PubSubManager::sync(Link &l) {
  if (l.dying || shut_) return;
  bool wanted = false;
  for (const auto &kv : l.names) wanted = wanted || kv.second.wanted > 0;
  if (!wanted) {
    close_link(l);
    return;
  }
  if (!l.conn) {
    l.conn = host_.pool_for(l.ep, NodePool::Kind::primary).make_subscriber();
    l.conn->set_push_handler(&PubSubManager::on_push, &PubSubManager::on_push_frame, &l);
    l.conn->connect();
    return;
  }
  if (!l.ready) return;
  const Clock::time_point now = Clock::now();
  std::vector<std::string> subs[3], unsubs[3];
  std::vector<std::pair<uint64_t, std::string>> asked[3];  // to subscribe, by when first wanted
  for (auto it = l.names.begin(); it != l.names.end();) {
    ServerState &st = it->second;
    const int k = it->first.first;
    if (st.wanted > 0 && !st.sent && st.held_until != Clock::time_point() && st.holds < kHolds) {
      if (st.held_until <= now) hold(st, std::string(kKindWord[k]) + " '" + it->first.second + "' still placed on " + l.key);
      resync_at_ = std::min(resync_at_, st.held_until);
    } else if (st.wanted > 0 && !st.sent) {
      asked[k].emplace_back(st.order, it->first.second);
      st.sent = true;
    } else if (st.wanted == 0 && st.sent) {
      unsubs[k].push_back(it->first.second);
      st.sent = false;
      st.unsubs++;
    }
    if (st.wanted == 0 && !st.sent && !st.live && st.unsubs == 0)
      it = l.names.erase(it);
    else
      ++it;
  }
  for (int k = 0; k < 3; ++k) {
    std::sort(asked[k].begin(), asked[k].end());
    for (auto &a : asked[k]) subs[k].push_back(std::move(a.second));
  }
  auto send = [&](const char *cmd, std::vector<std::string> &names, size_t tag, bool by_slot) {
    // SSUBSCRIBE takes channels of one slot: grouped, then chunked within each group.
    if (by_slot)
      std::stable_sort(names.begin(), names.end(), [](const std::string &a, const std::string &b) {
        return key_slot(a.data(), a.size()) < key_slot(b.data(), b.size());
      });
    for (size_t i = 0; i < names.size();) {
      size_t j = i + 1;
      const int slot = by_slot ? key_slot(names[i].data(), names[i].size()) : 0;
      while (j < names.size() && j - i < kChunk && (!by_slot || key_slot(names[j].data(), names[j].size()) == slot)) ++j;
      std::vector<std::string> chunk(names.begin() + static_cast<std::ptrdiff_t>(i),
                                     names.begin() + static_cast<std::ptrdiff_t>(j));
      if (tag == kTagSubscribe) l.sub_cmds++;
      l.conn->send_subscription(cmd, chunk, &PubSubManager::on_command_done, &l, tag);
      i = j;
    }
  };
  for (int k = 0; k < 3; ++k) {
    send(kUnsubscribe[k], unsubs[k], kTagUnsubscribe, k == 2);
    send(kSubscribe[k], subs[k], kTagSubscribe, k == 2);
  }
}

// Closed from inside its own connection's callbacks too: the Link (and its connection)
// wait in the graveyard until the next tick.
void PubSubManager::close_link(Link &l) {
  if (l.dying) return;
  l.dying = true;
  if (l.ready) pubsub_->stats().connections.fetch_sub(1, std::memory_order_relaxed);
  l.ready = false;
  if (l.conn) {
    l.conn->set_push_handler(nullptr, nullptr, nullptr);
    l.conn->shutdown(Status::closed, "no subscription left on " + l.key);
  }
  auto it = links_.find(l.key);
  if (it != links_.end() && it->second.get() == &l) {
    graveyard_.push_back(std::move(it->second));
    links_.erase(it);
  }
}

bool PubSubManager::on_subscriber(Connection *c, bool ready) {
  Link *l = nullptr;
  for (auto &kv : links_)
    if (kv.second->conn.get() == c) l = kv.second.get();
  if (l == nullptr) {
    for (auto &g : graveyard_)
      if (g->conn.get() == c) return true;
    return false;
  }
  if (l->dying || shut_) return true;
  if (ready) {
    l->ready = true;
    l->failures = 0;
    pubsub_->stats().connections.fetch_add(1, std::memory_order_relaxed);
    sync(*l);
  } else {
    on_lost(*l);
  }
  return true;
}

// Everything live on the connection was live until its last bytes were read; it is
// subscribed again on the next connection (with backoff), or wherever a new topology
// places it.
void PubSubManager::on_lost(Link &l) {
  const long long from = last_live_ms(l);
  if (l.ready) pubsub_->stats().connections.fetch_sub(1, std::memory_order_relaxed);
  l.ready = false;
  for (auto it = l.names.begin(); it != l.names.end();) {
    ServerState &st = it->second;
    if (st.live) {
      for (bool every : {false, true}) {
        auto e = entries_.find(Key{kind_of_index(it->first.first), every, it->first.second});
        if (e != entries_.end() && std::find(e->second.nodes.begin(), e->second.nodes.end(), l.key) != e->second.nodes.end())
          e->second.gap_from.emplace(l.key, from);  // an earlier loss not yet repaired stays
      }
    }
    st.live = st.sent = false;
    st.unsubs = 0;
    if (st.wanted == 0)
      it = l.names.erase(it);
    else
      ++it;
  }
  l.sub_cmds = 0;
  finish_round(l);
  bool wanted = !l.names.empty();
  if (!wanted) {
    close_link(l);
    return;
  }
  l.failures++;
  forget_successor(l.key);
  if (host_.mode() != Mode::standalone) host_.request_refresh("subscriber connection to " + l.key + " lost");
  l.conn->schedule_reconnect(backoff_ms(cfg_, l.failures));
}

void PubSubManager::on_push(void *ctx, Reply *reply) {
  std::unique_ptr<Reply> owned(reply);
  Link &l = *static_cast<Link *>(ctx);
  if (l.dying) return;
  PubSubManager &m = *l.mgr;
  const int kind = confirmation_kind(reply);
  if (kind >= 0) {
    const Reply *name = reply->elements[1];
    if (name != nullptr && name->kind != ReplyKind::nil) m.on_confirmation(l, kind, std::string(name->str));
    return;
  }
  // A message the connection left to its reply reader (a connection without a frame
  // handler does): the same as one read straight from the bytes.
  const auto &el = reply->elements;
  for (const Reply *r : el)
    if (r == nullptr || r->kind != ReplyKind::string) return;
  std::string_view type = el[0]->str;
  if ((type == "message" || type == "smessage") && el.size() == 3)
    m.on_message(l, PushFrame{type[0] == 's' ? 2 : 0, {}, el[1]->str, el[2]->str});
  else if (type == "pmessage" && el.size() == 4)
    m.on_message(l, PushFrame{1, el[1]->str, el[2]->str, el[3]->str});
}

void PubSubManager::on_push_frame(void *ctx, const PushFrame &frame) {
  Link &l = *static_cast<Link *>(ctx);
  if (!l.dying) l.mgr->on_message(l, frame);
}

// One block per message, shared by every subscriber of its name (a second block only
// when the name is also wanted on every primary, whose messages say so).
void PubSubManager::on_message(Link &l, const PushFrame &f) {
  const SubKind kind = kind_of_index(f.kind);
  // Looked up as a plain and as an every-primary subscription, by a view of the name.
  KeyView key{kind, false, kind == SubKind::pattern ? f.pattern : f.channel};
  for (bool every : {false, true}) {
    if (every && every_entries_ == 0) break;
    key.every = every;
    auto it = entries_.find(key);
    if (it == entries_.end()) continue;
    Entry &e = it->second;
    if (e.subs.empty() || std::find(e.nodes.begin(), e.nodes.end(), l.key) == e.nodes.end()) continue;
    MessagePtr m = PubSubMessage::make(MessageType::message, kind, f.channel,
                                       kind == SubKind::pattern ? &f.pattern : nullptr, &f.payload, l.key);
    m.unshared()->every_primary = every;
    queued_ += static_cast<long long>(e.subs.size());  // into the stats at on_wake
    // The last subscriber takes this thread's reference: no count to give back after.
    for (size_t i = 0; i < e.subs.size(); ++i) deliver(e.subs[i], i + 1 == e.subs.size() ? std::move(m) : m);
  }
}

void PubSubManager::on_confirmation(Link &l, int kind, const std::string &name) {
  const ServerName sn{kind / 2, name};
  auto it = l.names.find(sn);
  if (it == l.names.end()) return;  // a late answer about a name long gone
  ServerState &st = it->second;
  if (kind % 2 == 0) {
    st.live = true;
    st.holds = 0;
    st.held_until = Clock::time_point();
    confirmed(l, sn, now_ms());
    return;
  }
  st.live = false;
  if (st.unsubs > 0) {  // ours
    st.unsubs--;
    if (st.wanted == 0 && !st.sent && st.unsubs == 0) l.names.erase(it);
    return;
  }
  if (!st.sent) return;
  // Not asked for: the server dropped it (a slot migrated away, or the node became a
  // replica: sunsubscribe). Not live from now; placed again once the topology is looked
  // at again (asking the same node at once would find it willing, as a replica is).
  st.sent = false;
  hold(st, std::string(kKindWord[sn.first]) + " '" + name + "' unsubscribed by " + l.key);
  const long long now = now_ms();
  for (bool every : {false, true}) {
    auto e = entries_.find(Key{kind_of_index(sn.first), every, name});
    if (e != entries_.end() && std::find(e->second.nodes.begin(), e->second.nodes.end(), l.key) != e->second.nodes.end())
      e->second.gap_from.emplace(l.key, now);
  }
  retry_later(std::string(kKindWord[sn.first]) + " '" + name + "' unsubscribed by " + l.key);
  if (kind_of_index(sn.first) == SubKind::shard) probe_role(l.key);  // demoted by a failover?
}

// sn is live on l: subscribers that waited for it hear SUBSCRIBED; those that had it
// before an interruption hear GAP, and the round's event lists it.
void PubSubManager::confirmed(Link &l, const ServerName &sn, long long now) {
  for (bool every : {false, true}) {
    const SubKind kind = kind_of_index(sn.first);
    auto it = entries_.find(Key{kind, every, sn.second});
    if (it == entries_.end()) continue;
    Entry &e = it->second;
    if (std::find(e.nodes.begin(), e.nodes.end(), l.key) == e.nodes.end()) continue;
    auto g = e.gap_from.find(l.key);
    if (g != e.gap_from.end()) {
      MessagePtr shared = make_notice(MessageType::gap, kind, every, sn.second, l.key);
      shared.unshared()->gap_from_ms = g->second;
      shared.unshared()->gap_to_ms = now;
      for (const auto &s : e.subs)
        if (std::find(e.awaiting.begin(), e.awaiting.end(), s) == e.awaiting.end()) deliver(s, shared);
      l.report.push_back(GapNote{std::string(kKindWord[sn.first]) + " '" + sn.second + "'", g->second});
      l.report_to = now;
      pubsub_->stats().resubscribes.fetch_add(1, std::memory_order_relaxed);
      e.gap_from.erase(g);
    }
    if (!e.awaiting.empty()) {
      MessagePtr shared = make_notice(MessageType::subscribed, kind, every, sn.second, l.key);
      for (const auto &s : e.awaiting) deliver(s, shared);
      e.awaiting.clear();
    }
  }
}

void PubSubManager::on_command_done(Request *r, Status status, Reply *reply) {
  std::unique_ptr<Reply> owned(reply);
  Link &l = *static_cast<Link *>(r->ctx);
  if (l.dying) return;
  PubSubManager &m = *l.mgr;
  const bool subscribe = r->index == kTagSubscribe;
  if (status != Status::ok) return;  // the connection failed: on_lost sorts it out
  if (subscribe && l.sub_cmds > 0) l.sub_cmds--;
  if (reply == nullptr || !reply->is_error()) {
    m.resync_failures_ = 0;
    if (subscribe && l.sub_cmds == 0) m.finish_round(l);
    return;
  }
  // Refused (MOVED after a slot move, CROSSSLOT, NOPERM...): the names not confirmed
  // are not subscribed there; placed and tried again with backoff.
  if (r->sub_due) {
    for (const std::string &due : *r->sub_due) {
      const int kind = due[0] - '0';
      auto it = l.names.find(ServerName{kind / 2, due.substr(1)});
      if (it == l.names.end()) continue;
      if (kind % 2 == 0) {
        it->second.sent = false;
        m.hold(it->second, "subscribe on " + l.key + " refused: " + reply->str);
      }
      else if (it->second.unsubs > 0)
        it->second.unsubs--;
    }
  }
  m.retry_later(std::string(subscribe ? "subscribe" : "unsubscribe") + " on " + l.key + " refused: " + reply->str);
  if (subscribe && l.sub_cmds == 0) m.finish_round(l);
}

// One event per interruption of a node's subscriptions, once all it carried is live again.
void PubSubManager::finish_round(Link &l) {
  if (l.report.empty()) return;
  long long from = l.report.front().from;
  for (const GapNote &g : l.report) from = std::min(from, g.from);
  std::string detail = std::to_string(l.report.size()) + " subscription(s) live again on " + l.key + ": ";
  for (size_t i = 0; i < l.report.size() && i < kListed; ++i) detail += (i ? ", " : "") + l.report[i].what;
  if (l.report.size() > kListed) detail += " and " + std::to_string(l.report.size() - kListed) + " more";
  detail += "; not live from " + std::to_string(from) + " to " + std::to_string(l.report_to) + " (" +
            std::to_string(l.report_to - from) + " ms): messages published then may be lost";
  l.report.clear();
  pubsub_->stats().gaps.fetch_add(1, std::memory_order_relaxed);
  host_.emit_event(5 /* subscription gap */, l.key, detail);
}

void PubSubManager::retry_later(const std::string &why) {
  ++resync_failures_;
  Clock::time_point at = Clock::now() + std::chrono::milliseconds(backoff_ms(cfg_, resync_failures_));
  resync_at_ = std::min(resync_at_, at);
  if (host_.mode() != Mode::standalone) host_.request_refresh(why);
}

void PubSubManager::hold(ServerState &st, const std::string &why) {
  ++st.holds;
  st.held_until = Clock::now() + std::chrono::milliseconds(backoff_ms(cfg_, 1 + st.holds));
  if (host_.mode() != Mode::standalone) host_.request_refresh(why);
}

void PubSubManager::tick(Clock::time_point now) {
  graveyard_.clear();
  if (shut_) return;
  const int timeout = std::max(cfg_.command_timeout_ms, 1000);
  std::vector<Link *> links;
  for (auto &kv : links_) links.push_back(kv.second.get());
  // A check may fail a connection, which may close its link (moved to the graveyard,
  // still allocated until the next tick).
  for (Link *l : links)
    if (l->conn && l->ready && !l->dying) l->conn->health_check(now, cfg_.pool_health_check_ms, timeout);
  // A demoted primary's names went to its successor before the slot map said so: the map
  // is asked again until it catches up (everything else in the client still uses it).
  if (has_demotions(now)) host_.request_refresh("a demoted primary is still a primary in the slot map");
  if (now < resync_at_) return;
  resync_at_ = Clock::time_point::max();
  replace();
  for (auto &kv : links_) dirty_.insert(kv.first);
  sync_dirty();
}

}  // namespace rcm::core
