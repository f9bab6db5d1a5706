// Client-side caching as the client uses it: which requests read from or drop entries
// (make_request's cache_plan), hits answered on the caller's thread (cache_serve, and
// run_batch_cached for pipelines), replies stored and writes' keys dropped on the I/O
// thread (cache_reply), and what a topology change costs the cache. The cache itself,
// and why it cannot serve a stale entry, is core/cache/cache.h.
#include <cstring>
#include <set>

#include "core/cache/invalidation_links.h"
#include "core/client/client.h"
#include "core/client/engine.h"
#include "core/net/io_thread.h"
#include "core/route/router.h"

namespace rcm::core {

namespace {
bool named(const char *a, size_t alen, const char *b) {
  if (alen != std::strlen(b)) return false;
  for (size_t i = 0; i < alen; ++i)
    if ((a[i] & ~0x20) != b[i]) return false;
  return true;
}
}  // namespace

void Client::cache_plan(Request *r, int argc, const char *const *argv, const size_t *argvlen, bool for_lease) const {
  const CommandInfo &info = r->cmd;
  auto t = std::make_unique<CacheTicket>();
  if (info.flags & kCmdWrite) {
    // This client's own write: its keys' entries go now, before it is sent (a read
    // racing it is not stored: the epochs moved), and again at its acknowledgement.
    const size_t len0 = argvlen ? argvlen[0] : std::strlen(argv[0]);
    t->write = true;
    t->flush = named(argv[0], len0, "FLUSHALL") || named(argv[0], len0, "FLUSHDB");
    for (int pos : key_positions(info, argc, argv, argvlen))
      t->keys.emplace_back(argv[pos], argvlen ? argvlen[pos] : std::strlen(argv[pos]));
    if (t->keys.empty() && !t->flush) return;
    for (const std::string &k : t->keys) cache_->invalidate(k, nullptr);
    if (t->flush) cache_->reset_all();
    r->cache = std::move(t);
    return;
  }
  if (!for_lease && cache_->plan(info, argc, argv, argvlen, t.get())) r->cache = std::move(t);
}

Reply *Client::cache_serve(Request *r, bool fill_only) {
  CacheTicket *t = r->cache.get();
  if (t == nullptr || t->write) return nullptr;
  if (r->no_cache || r->pinned || r->route == RouteKind::node || forked()) {
    r->cache.reset();
    return nullptr;
  }
  if (fill_only) {
  } else if (t->variant == "MGET") {
    std::unique_ptr<Reply> arr(Reply::make_array());
    for (const std::string &k : t->keys) {
      Reply *hit = cache_->get(k, t->variant);
      if (hit == nullptr) {
        arr.reset();
        break;
      }
      arr->elements.push_back(hit);
    }
    if (arr) return arr.release();
  } else if (Reply *hit = cache_->get(t->keys.front(), t->variant)) {
    return hit;
  }
  cache_->miss(1);
  // A split MGET's parts come back from several nodes: served when every key hits, not stored.
  if (r->split) {
    r->cache.reset();
    return nullptr;
  }
  t->epochs.clear();
  for (const std::string &k : t->keys) t->epochs.push_back(cache_->epoch(k));
  r->track = true;
  return nullptr;
}

void Client::cache_reply(Request *r, const Reply *reply) {
  CacheTicket *t = r->cache.get();
  if (t->write) {
    for (const std::string &k : t->keys) cache_->invalidate(k, nullptr);
    if (t->flush) cache_->reset_all();
    return;
  }
  if (!r->track || r->sent_to == nullptr) return;
  TrackingTarget *tt = r->sent_to->tracking();
  if (tt == nullptr) return;
  auto *node = static_cast<CacheNode *>(tt->owner);
  node->misses.fetch_add(1, std::memory_order_relaxed);
  if (tt->redirect.load(std::memory_order_acquire) == 0 && !node->link_wanted.exchange(true)) cache_want_link(node);
  if (r->track_gen == 0 || reply->is_error()) return;
  if (t->variant != "MGET") {
    cache_->put(t->keys.front(), t->variant, *reply, t->epochs.front(), node, r->track_gen);
    return;
  }
  if (reply->kind != ReplyKind::array || reply->elements.size() != t->keys.size()) return;
  for (size_t i = 0; i < t->keys.size(); ++i)
    if (reply->elements[i] != nullptr) cache_->put(t->keys[i], t->variant, *reply->elements[i], t->epochs[i], node, r->track_gen);
}

namespace {
// A flight leader's completion: its waiters first, then its caller.
void flight_done(Request *r, Status status, Reply *reply) {
  r->engine->client().cache_land(r, status, reply);
  r->done(r, status, reply);
}
}  // namespace

bool Client::cache_fly(Request *r) {
  CacheTicket *t = r->cache.get();
  if (t->flight != nullptr || t->keys.size() != 1 || t->epochs.size() != 1 || t->variant == "MGET") return true;
  CacheFlight *f = cache_->fly(t->keys.front(), t->variant, t->epochs.front(), r);
  if (f == nullptr) return false;
  // The flight's completion stands in for the caller's until it lands (the I/O thread
  // reads these only once r is posted).
  f->done = r->done;
  f->ctx = r->ctx;
  r->done = &flight_done;
  r->ctx = f;
  t->flight = f;
  return true;
}

void Client::cache_land(Request *r, Status status, const Reply *reply) {
  auto *f = static_cast<CacheFlight *>(r->ctx);
  r->done = f->done;
  r->ctx = f->ctx;
  if (r->cache) r->cache->flight = nullptr;
  for (Request *w : cache_->land(f)) {
    if (status == Status::ok && reply != nullptr) {
      w->done(w, Status::ok, reply_copy(*reply));
      delete w;
    } else if (closed() || !w->engine->io().post(&Engine::submit_task, w)) {
      // The leader failed (a deadline, a broken connection): each waiter tries on its
      // own, within its own deadline, unless the client is closing.
      w->done(w, Status::closed, Reply::make_error(Status::closed, "client closed"));
      delete w;
    }
  }
}

void Client::cache_ground(Request *r) {
  if (r->cache && r->cache->flight != nullptr) cache_land(r, Status::closed, nullptr);
}

void Client::cache_want_link(CacheNode *node) {
  if (engines_.empty() || closed()) return;
  Engine *e0 = engines_.front().get();
  auto open = [e0, node] {
    if (InvalidationLinks *links = e0->cache_links()) links->want(node);
  };
  if (io_.front()->on_loop_thread())
    open();
  else if (!io_.front()->post(open))
    node->link_wanted.store(false);
}

// A slot that changed owner (failover, migration): its old shard's nodes lose their
// entries, and any that were read from them before the change are not served.
void Client::cache_topology_changed(const ClusterTopology *previous, const ClusterTopology &topo) {
  if (previous == nullptr) return;
  std::set<int> shards;
  for (int slot = 0; slot < kSlots; ++slot) {
    int a = previous->slot_shard[slot], b = topo.slot_shard[slot];
    if (a < 0) continue;
    if (b < 0 || previous->shards[a].primary.endpoint != topo.shards[b].primary.endpoint) shards.insert(a);
  }
  for (int a : shards) {
    const Shard &s = previous->shards[a];
    cache_->reset_node(cache_->node(s.primary.endpoint.str()));
    for (const ClusterNode &n : s.replicas) cache_->reset_node(cache_->node(n.endpoint.str()));
  }
}

Status Client::run_batch_cached(std::vector<Request *> &reqs, std::vector<Reply *> &out, std::string *err) {
  std::vector<Request *> sent;
  std::vector<size_t> where;
  // After a write in the pipeline, reads go to the server: they must see it, and the
  // write has not run yet.
  bool wrote = false;
  for (size_t i = 0; i < reqs.size(); ++i) {
    wrote = wrote || (reqs[i]->cmd.flags & kCmdWrite);
    Reply *hit = reqs[i]->cache ? cache_serve(reqs[i], wrote) : nullptr;
    if (hit != nullptr) {
      out[i] = hit;
      delete reqs[i];
    } else {
      sent.push_back(reqs[i]);
      where.push_back(i);
    }
  }
  reqs.clear();
  if (sent.empty()) return Status::ok;
  std::vector<Reply *> sub(sent.size(), nullptr);
  Status st = run_batch(sent, sub, err);
  if (st != Status::ok) {
    for (Reply *r : out) delete r;
    out.assign(out.size(), nullptr);
    return st;
  }
  for (size_t j = 0; j < where.size(); ++j) out[where[j]] = sub[j];
  return Status::ok;
}

}  // namespace rcm::core
