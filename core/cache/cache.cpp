#include "core/cache/cache.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <ctime>
#include <functional>
#include <string_view>

#include "core/cache/entry_index.h"
#include "core/route/router.h"

namespace rcm::core {

namespace {

// What an entry costs beyond its strings: the entry, its map node and key index slot.
constexpr size_t kEntryOverhead = 160;

size_t reply_bytes(const Reply &r) {
  size_t n = sizeof(Reply) + r.str.size();
  for (const Reply *e : r.elements) n += e ? reply_bytes(*e) : 0;
  return n;
}

size_t hash_of(std::string_view key) { return std::hash<std::string_view>{}(key); }

// An entry's hash: its key's and its variant's, mixed (splitmix64's finalizer) so that
// the index's low bits depend on both.
uint64_t id_hash(size_t key_hash, std::string_view variant) {
  uint64_t x = static_cast<uint64_t>(key_hash) ^ (static_cast<uint64_t>(hash_of(variant)) * 0x9E3779B97F4A7C15ull);
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

int64_t clock_ns(clockid_t id) {
  timespec ts;
  clock_gettime(id, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

char ascii_upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - ('a' - 'A')) : c; }

void append_arg(std::string &out, const char *p, size_t n) {
  uint32_t len = static_cast<uint32_t>(n);
  out.append(reinterpret_cast<const char *>(&len), sizeof len);
  out.append(p, n);
}

}  // namespace

Reply *reply_copy(const Reply &r) {
  auto *c = new Reply(r.kind);
  c->integer = r.integer;
  c->str = r.str;
  c->origin = r.origin;
  c->elements.reserve(r.elements.size());
  for (const Reply *e : r.elements) c->elements.push_back(e ? reply_copy(*e) : nullptr);
  return c;
}

struct Cache::Entry {
  std::string key;
  std::string variant;
  uint64_t hid = 0;  // id_hash(key, variant): the index's key
  // Shared with the hits being copied: a hit takes a reference under the shard's lock and
  // copies outside it, so the lock is held for the probe and the LRU step only (a thread
  // preempted while holding it stalls every reader of the shard).
  std::shared_ptr<const Reply> value;
  CacheNode *node = nullptr;
  uint64_t gen = 0;
  int64_t expires = 0;  // Cache::now_ns()
  size_t bytes = 0;
  Entry *prev = nullptr, *next = nullptr;  // LRU: head is the most recent
};

struct Cache::Shard {
  std::mutex mu;
  EntryIndex<Entry> index;                                        // by (key, variant)
  std::unordered_map<std::string, std::vector<Entry *>> by_key;  // the entries of one key
  Entry *head = nullptr, *tail = nullptr;
  long long bytes = 0, count = 0;
  long long max_bytes = 0, max_count = 0;
  uint64_t hits = 0, invalidations = 0, evictions = 0;
  std::vector<uint64_t> node_hits, node_invalidations;  // by CacheNode::index
  std::unordered_map<std::string, CacheFlight *> flights;  // by id: reads in flight

  void push_front(Entry *e) {
    e->prev = nullptr;
    e->next = head;
    if (head) head->prev = e;
    head = e;
    if (!tail) tail = e;
  }
  void remove(Entry *e) {
    (e->prev ? e->prev->next : head) = e->next;
    (e->next ? e->next->prev : tail) = e->prev;
    e->prev = e->next = nullptr;
  }
  void count_node(std::vector<uint64_t> &v, const CacheNode *n) {
    if (v.size() <= n->index) v.resize(n->index + 1);
    ++v[n->index];
  }
};

Cache::Cache(const Config &cfg)
    : max_bytes_(cfg.cache_max_bytes), max_entries_(cfg.cache_max_entries) {
  // Expiry by CLOCK_MONOTONIC_COARSE (a memory read: reading the TSC for every hit was
  // 5 % of its time) with its resolution taken off the TTL, so that no entry outlives
  // cache.ttl_ms; a TTL within a few ticks of that resolution uses the precise clock.
  timespec res{};
  clock_getres(CLOCK_MONOTONIC_COARSE, &res);
  const int64_t res_ns = static_cast<int64_t>(res.tv_sec) * 1000000000 + res.tv_nsec;
  const int64_t ttl_ns = static_cast<int64_t>(cfg.cache_ttl_ms) * 1000000;
  coarse_ = res_ns > 0 && ttl_ns >= 8 * res_ns;
  ttl_ns_ = coarse_ ? ttl_ns - res_ns : ttl_ns;
  for (const std::string &c : cfg.cache_commands) {
    commands_.insert(c);
    const CommandInfo *info = CommandTable::builtin().find(c.data(), c.size());
    if (info == nullptr || !(info->flags & kCmdReadonly) || (info->flags & (kCmdWrite | kCmdBlocking | kCmdStateful)) ||
        info->key_rule != KeyRule::spec || info->has_subcommands)
      continue;
    if (c.size() >= sizeof(FastCommand::name)) continue;
    FastCommand f;
    std::memcpy(f.name, c.data(), c.size());
    f.len = c.size();
    if (c == "MGET")
      f.shape = Shape::mget;
    else if (info->first_key == 1 && info->last_key == 1)
      f.shape = Shape::single;
    else
      continue;
    fast_.push_back(f);
  }
  // Shards spread the lock; each holds its share of both bounds, so a share must still
  // hold a useful number of entries (at least 64) and bytes (at least 64 KiB).
  while (nshards_ < 16 && max_entries_ / static_cast<long long>(nshards_ * 2) >= 64 &&
         max_bytes_ / static_cast<long long>(nshards_ * 2) >= 64 * 1024)
    nshards_ *= 2;
  shards_.reset(new Shard[nshards_]);
  for (size_t i = 0; i < nshards_; ++i) {
    shards_[i].max_bytes = max_bytes_ / static_cast<long long>(nshards_);
    shards_[i].max_count = std::max<long long>(1, max_entries_ / static_cast<long long>(nshards_));
  }
  epochs_.reset(new std::atomic<uint64_t>[kEpochs]);
  for (size_t i = 0; i < kEpochs; ++i) epochs_[i].store(0, std::memory_order_relaxed);
}

Cache::~Cache() {
  for (size_t i = 0; i < nshards_; ++i)
    for (Entry *e = shards_[i].head; e != nullptr;) {
      Entry *next = e->next;
      delete e;
      e = next;
    }
}

int64_t Cache::now_ns() const { return clock_ns(coarse_ ? CLOCK_MONOTONIC_COARSE : CLOCK_MONOTONIC); }

Cache::Shard &Cache::shard_of(size_t hash) const { return shards_[hash & (nshards_ - 1)]; }
std::atomic<uint64_t> &Cache::epoch_slot(size_t hash) const { return epochs_[(hash >> 4) & (kEpochs - 1)]; }

bool Cache::plan(const CommandInfo &info, int argc, const char *const *argv, const size_t *argvlen,
                 CacheTicket *t) const {
  if (argc < 2 || commands_.empty()) return false;
  auto len = [&](int i) { return argvlen ? argvlen[i] : std::strlen(argv[i]); };
  const size_t n0 = len(0);
  if (n0 > 32) return false;
  char name[33];
  for (size_t i = 0; i < n0; ++i) name[i] = static_cast<char>(std::toupper(static_cast<unsigned char>(argv[0][i])));
  name[n0] = '\0';
  if (commands_.find(std::string(name, n0)) == commands_.end()) return false;
  if (!(info.flags & kCmdReadonly) || (info.flags & (kCmdWrite | kCmdBlocking | kCmdStateful | kCmdMaybeBlocking)))
    return false;
  t->variant.assign(name, n0);
  t->keys.clear();
  if (n0 == 4 && std::memcmp(name, "MGET", 4) == 0) {
    // One entry per key: an element of MGET's reply is what "MGET key" answers.
    for (int i = 1; i < argc; ++i) t->keys.emplace_back(argv[i] ? argv[i] : "", len(i));
    return true;
  }
  // Others: exactly one key, at argv[1] (an entry is dropped by its one key's invalidation).
  std::vector<int> pos = key_positions(info, argc, argv, argvlen);
  if (pos.size() != 1 || pos[0] != 1) return false;
  t->keys.emplace_back(argv[1] ? argv[1] : "", len(1));
  for (int i = 2; i < argc; ++i) append_arg(t->variant, argv[i] ? argv[i] : "", len(i));
  return true;
}

Reply *Cache::get_argv(int argc, const char *const *argv, const size_t *argvlen) {
  if (argc < 2 || argv[0] == nullptr) return nullptr;
  auto len = [&](int i) { return argvlen ? argvlen[i] : std::strlen(argv[i]); };
  const size_t n0 = len(0);
  char name[sizeof(FastCommand::name)];
  if (n0 >= sizeof name) return nullptr;
  for (size_t i = 0; i < n0; ++i) name[i] = ascii_upper(argv[0][i]);
  const FastCommand *fc = nullptr;
  for (const FastCommand &f : fast_)
    if (f.len == n0 && std::memcmp(f.name, name, n0) == 0) fc = &f;
  if (fc == nullptr) return nullptr;
  for (int i = 1; i < argc; ++i)
    if (argv[i] == nullptr) return nullptr;
  const std::string_view command(name, n0);
  if (fc->shape == Shape::mget) {
    std::unique_ptr<Reply> arr(Reply::make_array());
    for (int i = 1; i < argc; ++i) {
      Reply *hit = get(std::string_view(argv[i], len(i)), command);
      if (hit == nullptr) return nullptr;
      arr->elements.push_back(hit);
    }
    return arr.release();
  }
  // Only what plan() accepted was ever stored under this (key, variant): "GET k x" finds nothing.
  if (argc == 2) return get(std::string_view(argv[1], len(1)), command);
  thread_local std::string variant;
  variant.assign(name, n0);
  for (int i = 2; i < argc; ++i) append_arg(variant, argv[i], len(i));
  return get(std::string_view(argv[1], len(1)), variant);
}

Reply *Cache::get(std::string_view key, std::string_view variant) {
  const size_t h = hash_of(key);
  const uint64_t hid = id_hash(h, variant);
  Shard &s = shard_of(h);
  std::unique_lock<std::mutex> lock(s.mu);
  Entry *e = s.index.find(hid, [&](const Entry *x) { return x->key == key && x->variant == variant; });
  if (e == nullptr) return nullptr;
  if (e->gen != e->node->tracking.gen.load(std::memory_order_acquire) || now_ns() >= e->expires) {
    unlink(s, e, true);
    return nullptr;
  }
  if (s.head != e) {
    s.remove(e);
    s.push_front(e);
  }
  ++s.hits;
  s.count_node(s.node_hits, e->node);
  std::shared_ptr<const Reply> value = e->value;
  lock.unlock();
  return reply_copy(*value);
}

uint64_t Cache::epoch(const std::string &key) const {
  return epoch_slot(hash_of(key)).load(std::memory_order_acquire);
}

void Cache::put(const std::string &key, const std::string &variant, const Reply &value, uint64_t epoch,
                CacheNode *node, uint64_t gen) {
  if (value.is_error() || gen == 0) return;
  const size_t h = hash_of(key);
  const uint64_t hid = id_hash(h, variant);
  Shard &s = shard_of(h);
  const size_t bytes = kEntryOverhead + 2 * (key.size() + variant.size()) + reply_bytes(value);
  if (static_cast<long long>(bytes) > s.max_bytes) return;
  std::shared_ptr<const Reply> copy(reply_copy(value));  // outside the lock
  std::lock_guard<std::mutex> lock(s.mu);
  // An invalidation of this key (or a generation change) since the read was sent: the
  // reply may predate it, so it is not kept.
  if (epoch_slot(h).load(std::memory_order_acquire) != epoch ||
      node->tracking.gen.load(std::memory_order_acquire) != gen)
    return;
  if (Entry *old = s.index.find(hid, [&](const Entry *x) { return x->key == key && x->variant == variant; }))
    unlink(s, old, false);
  while (s.tail && (s.count + 1 > s.max_count || s.bytes + static_cast<long long>(bytes) > s.max_bytes))
    unlink(s, s.tail, true);
  auto *e = new Entry();
  e->key = key;
  e->variant = variant;
  e->hid = hid;
  e->value = std::move(copy);
  e->node = node;
  e->gen = gen;
  e->expires = now_ns() + ttl_ns_;
  e->bytes = bytes;
  s.index.insert(e);
  s.by_key[key].push_back(e);
  s.push_front(e);
  s.bytes += static_cast<long long>(bytes);
  ++s.count;
}

CacheFlight *Cache::fly(const std::string &key, const std::string &variant, uint64_t epoch, Request *r) {
  auto f = std::make_unique<CacheFlight>();
  append_arg(f->id, key.data(), key.size());
  f->id += variant;
  f->hash = hash_of(key);
  f->epoch = epoch;
  Shard &s = shard_of(f->hash);
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.flights.find(f->id);
  if (it != s.flights.end()) {
    if (it->second->epoch == epoch) {
      it->second->waiters.push_back(r);
      return nullptr;
    }
    it->second = f.get();  // the older flight may predate an invalidation: this one leads now
  } else {
    s.flights.emplace(f->id, f.get());
  }
  return f.release();
}

std::vector<Request *> Cache::land(CacheFlight *f) {
  std::unique_ptr<CacheFlight> owned(f);
  Shard &s = shard_of(f->hash);
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.flights.find(f->id);
  if (it != s.flights.end() && it->second == f) s.flights.erase(it);
  return std::move(f->waiters);
}

// Under s.mu.
void Cache::unlink(Shard &s, Entry *e, bool evicted) {
  s.remove(e);
  s.index.erase(e);
  auto k = s.by_key.find(e->key);
  if (k != s.by_key.end()) {
    auto &v = k->second;
    v.erase(std::remove(v.begin(), v.end(), e), v.end());
    if (v.empty()) s.by_key.erase(k);
  }
  s.bytes -= static_cast<long long>(e->bytes);
  --s.count;
  if (evicted) ++s.evictions;
  delete e;
}

void Cache::invalidate(const std::string &key, CacheNode *from) {
  const size_t h = hash_of(key);
  Shard &s = shard_of(h);
  std::lock_guard<std::mutex> lock(s.mu);
  epoch_slot(h).fetch_add(1, std::memory_order_acq_rel);
  auto k = s.by_key.find(key);
  if (k == s.by_key.end()) return;
  std::vector<Entry *> doomed = k->second;
  for (Entry *e : doomed) {
    ++s.invalidations;
    s.count_node(s.node_invalidations, from ? from : e->node);
    unlink(s, e, false);
  }
}

void Cache::reset_node(CacheNode *node) {
  node->tracking.reset();
  sweep(node);
}

void Cache::reset_all() {
  for (CacheNode *n : nodes()) reset_node(n);
}

// Frees what a generation change made unreachable (node null: every stale entry).
void Cache::sweep(CacheNode *node) {
  for (size_t i = 0; i < nshards_; ++i) {
    Shard &s = shards_[i];
    std::lock_guard<std::mutex> lock(s.mu);
    for (Entry *e = s.head; e != nullptr;) {
      Entry *next = e->next;
      if ((node == nullptr || e->node == node) && e->gen != e->node->tracking.gen.load(std::memory_order_acquire)) {
        ++s.invalidations;
        s.count_node(s.node_invalidations, e->node);
        unlink(s, e, false);
      }
      e = next;
    }
  }
}

CacheNode *Cache::node(const std::string &addr) {
  std::lock_guard<std::mutex> lock(nodes_mu_);
  for (auto &n : nodes_)
    if (n->addr == addr) return n.get();
  nodes_.push_back(std::make_unique<CacheNode>(addr, nodes_.size()));
  return nodes_.back().get();
}

std::vector<CacheNode *> Cache::nodes() const {
  std::lock_guard<std::mutex> lock(nodes_mu_);
  std::vector<CacheNode *> out;
  for (auto &n : nodes_) out.push_back(n.get());
  return out;
}

CacheStats Cache::stats() const {
  CacheStats st;
  std::vector<CacheNode *> ns = nodes();
  st.nodes.resize(ns.size());
  for (size_t i = 0; i < ns.size(); ++i) {
    st.nodes[i].addr = ns[i]->addr;
    st.nodes[i].misses = ns[i]->misses.load(std::memory_order_relaxed);
    st.nodes[i].resets = ns[i]->tracking.resets.load(std::memory_order_relaxed);
    st.nodes[i].subscribed = ns[i]->subscribed.load(std::memory_order_relaxed);
  }
  for (size_t i = 0; i < nshards_; ++i) {
    Shard &s = shards_[i];
    std::lock_guard<std::mutex> lock(s.mu);
    st.hits += s.hits;
    st.invalidations += s.invalidations;
    st.evictions += s.evictions;
    st.bytes += static_cast<uint64_t>(s.bytes);
    st.entries += static_cast<uint64_t>(s.count);
    for (size_t j = 0; j < s.node_hits.size() && j < st.nodes.size(); ++j) st.nodes[j].hits += s.node_hits[j];
    for (size_t j = 0; j < s.node_invalidations.size() && j < st.nodes.size(); ++j)
      st.nodes[j].invalidations += s.node_invalidations[j];
  }
  st.misses = misses_.load(std::memory_order_relaxed);
  return st;
}

}  // namespace rcm::core
