#include "core/pubsub/message.h"

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <utility>

namespace rcm::core {

namespace {

// Messages are made on the I/O thread and mostly freed on a subscriber's thread. Given
// back to malloc there, each block would go to that thread's cache (then, once it is
// full, to the I/O thread's arena, under its lock), and every allocation on the I/O
// thread would take malloc's slow path: malloc and free were a fifth of rcm's CPU per
// message (bench/README.md, Pub/Sub). So blocks of up to kPooledBytes are kept: each
// thread gathers the blocks it frees in a batch, and full batches go back, one lock per
// batch, to the threads that allocate. At most kSharedBatches wait in the pool; beyond
// that blocks go back to malloc.
constexpr size_t kPooledBytes = 384;  // the block (with its embed area) and ~200 bytes of strings
constexpr size_t kBatch = 32;
constexpr size_t kSharedBatches = 64;

struct Batch {
  Batch *next = nullptr;
  size_t n = 0;
  void *blocks[kBatch];
};

void free_blocks(Batch *b) {
  for (size_t i = 0; i < b->n; ++i) std::free(b->blocks[i]);
  b->n = 0;
}

class BlockPool {
 public:
  // A full batch for `empty` (kept for later); `empty` back when none waits.
  Batch *take_full(Batch *empty) {
    std::lock_guard<std::mutex> lk(mu_);
    if (full_ == nullptr) return empty;
    Batch *b = full_;
    full_ = b->next;
    --full_count_;
    if (empty != nullptr) {
      empty->next = empty_;
      empty_ = empty;
    }
    return b;
  }
  // An empty batch for `full`: its blocks wait for an allocating thread, or go back to
  // malloc when enough already wait.
  Batch *give_full(Batch *full) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (full_count_ < kSharedBatches) {
        full->next = full_;
        full_ = full;
        ++full_count_;
        if (empty_ == nullptr) return new (std::nothrow) Batch();
        Batch *e = empty_;
        empty_ = e->next;
        return e;
      }
    }
    free_blocks(full);
    return full;
  }

 private:
  std::mutex mu_;
  Batch *full_ = nullptr;  // guarded by mu_
  size_t full_count_ = 0;  // guarded by mu_
  Batch *empty_ = nullptr; // guarded by mu_
};

// Never destroyed: a thread may end (and return its blocks) during the process's exit.
BlockPool &pool() {
  static BlockPool *p = new BlockPool();
  return *p;
}

struct ThreadBlocks {
  Batch *fresh = nullptr;  // blocks to allocate from
  Batch *freed = nullptr;  // blocks freed here, until the batch is full
  ~ThreadBlocks() {
    for (Batch *b : {fresh, freed})
      if (b != nullptr) {
        free_blocks(b);
        delete b;
      }
  }
};

thread_local ThreadBlocks t_blocks;

void *alloc_pooled() {
  ThreadBlocks &t = t_blocks;
  if (t.fresh == nullptr || t.fresh->n == 0) {
    if (t.freed != nullptr && t.freed->n > 0)
      std::swap(t.fresh, t.freed);  // this thread frees what it allocates
    else
      t.fresh = pool().take_full(t.fresh);
  }
  if (t.fresh != nullptr && t.fresh->n > 0) return t.fresh->blocks[--t.fresh->n];
  return std::malloc(kPooledBytes);
}

void free_pooled(void *block) {
  ThreadBlocks &t = t_blocks;
  if (t.freed == nullptr) t.freed = new (std::nothrow) Batch();
  if (t.freed == nullptr) {
    std::free(block);
    return;
  }
  t.freed->blocks[t.freed->n++] = block;
  if (t.freed->n == kBatch) t.freed = pool().give_full(t.freed);
}

}  // namespace

MessagePtr PubSubMessage::make(MessageType type, SubKind kind, std::string_view channel, const std::string_view *pattern,
                               const std::string_view *payload, std::string_view node) {
  const size_t size = sizeof(PubSubMessage) + channel.size() + 1 + (pattern ? pattern->size() + 1 : 0) +
                      (payload ? payload->size() + 1 : 0) + node.size() + 1;
  const bool pooled = size <= kPooledBytes;
  void *block = pooled ? alloc_pooled() : std::malloc(size);
  if (block == nullptr) throw std::bad_alloc();
  auto *m = new (block) PubSubMessage();
  m->pooled_ = pooled;
  char *at = reinterpret_cast<char *>(m + 1);
  auto put = [&at](std::string_view s) {
    if (!s.empty()) std::memcpy(at, s.data(), s.size());
    at[s.size()] = '\0';
    std::string_view stored(at, s.size());
    at += s.size() + 1;
    return stored;
  };
  m->type = type;
  m->kind = kind;
  m->channel = put(channel);
  if (pattern != nullptr) {
    m->pattern = put(*pattern);
    m->has_pattern = true;
  }
  if (payload != nullptr) {
    m->payload = put(*payload);
    m->has_payload = true;
  }
  m->node = put(node);
  return MessagePtr(m);
}

MessagePtr PubSubMessage::copy(const PubSubMessage &m) {
  MessagePtr c = make(m.type, m.kind, m.channel, m.has_pattern ? &m.pattern : nullptr,
                      m.has_payload ? &m.payload : nullptr, m.node);
  PubSubMessage *d = c.unshared();
  d->every_primary = m.every_primary;
  d->gap_from_ms = m.gap_from_ms;
  d->gap_to_ms = m.gap_to_ms;
  d->dropped = m.dropped;
  return c;
}

void MessagePtr::release() {
  if (p_ == nullptr || p_->refs_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  const bool pooled = p_->pooled_;
  p_->~PubSubMessage();
  if (pooled)
    free_pooled(p_);
  else
    std::free(p_);
  p_ = nullptr;
}

}  // namespace rcm::core
