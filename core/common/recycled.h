// Recycled<T>: class-level operator new/delete that reuse T's memory instead of going
// to malloc each time. Requests are made on a caller's thread and freed on an I/O thread,
// replies the other way round: the cross-thread case, which malloc serves only on its
// slow path (about 500 instructions per object).
//
// Each thread keeps a small cache. A thread that frees more than it makes hands batches
// to a shared depot and a thread that makes more than it frees takes batches from it: one
// lock per kBatch objects. Under AddressSanitizer the memory is not reused, so a use
// after free is still caught.
//
//   struct Request : Recycled<Request> { ... };   // new Request / delete r as before
#pragma once

#include <algorithm>
#include <cstddef>
#include <mutex>
#include <new>
#include <vector>

namespace rcm::core {

#if defined(__SANITIZE_ADDRESS__)
#define RCM_RECYCLE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RCM_RECYCLE 0
#endif
#endif
#ifndef RCM_RECYCLE
#define RCM_RECYCLE 1
#endif

template <class T>
struct Recycled {
  static void *operator new(size_t size) {
    if (!RCM_RECYCLE || size != sizeof(T)) return ::operator new(size);
    Cache &c = t_cache;
    if (c.n == 0) c.refill();
    if (c.n == 0) return ::operator new(size);
    return c.items[--c.n];
  }

  static void *operator new(size_t size, const std::nothrow_t &) noexcept {
    try {
      return operator new(size);
    } catch (...) {
      return nullptr;
    }
  }
  // Called only when a constructor after new(std::nothrow) throws.
  static void operator delete(void *p, const std::nothrow_t &) noexcept { operator delete(p, sizeof(T)); }

  static void operator delete(void *p, size_t size) noexcept {
    if (p == nullptr) return;
    if (!RCM_RECYCLE || size != sizeof(T)) return ::operator delete(p);
    Cache &c = t_cache;
    if (c.n == kCacheSize || !c.registered) c.spill(p);
    else c.items[c.n++] = p;
  }

 private:
  static constexpr size_t kBatch = 32;
  static constexpr size_t kCacheSize = 2 * kBatch;
  static constexpr size_t kDepotMax = 4096;  // objects kept for reuse across threads

  struct Depot {
    std::mutex mu;
    std::vector<void *> items;  // guarded by mu
  };
  static Depot &depot() {
    static Depot *d = new Depot();  // never destroyed: threads may free objects during exit
    return *d;
  }
  static void to_depot(Depot &d, void *p) {  // with d.mu held
    if (d.items.size() < kDepotMax) {
      try {
        d.items.push_back(p);
        return;
      } catch (...) {
      }
    }
    ::operator delete(p);
  }

  // Trivially destructible, so it stays readable while the thread exits: Flusher, whose
  // destructor empties it, marks it gone and later frees go straight to the depot.
  struct Cache {
    void *items[kCacheSize];
    size_t n;
    bool registered;  // Flusher armed (then items may be kept); false again once gone

    // The thread's Flusher is armed before the cache holds anything; false while the
    // thread exits (Flusher gone): nothing may be kept then.
    bool ready() {
      if (registered) return true;
      if (t_flusher_gone) return false;
      t_flusher.arm();
      registered = true;
      return true;
    }
    void refill() {
      if (!ready()) return;
      Depot &d = depot();
      std::lock_guard<std::mutex> lk(d.mu);
      size_t take = std::min(kBatch, d.items.size());
      for (size_t i = 0; i < take; ++i) items[n++] = d.items[d.items.size() - 1 - i];
      d.items.resize(d.items.size() - take);
    }
    // A full cache (keep kBatch, the rest to the depot), or the first free of the thread.
    void spill(void *p) {
      if (!ready()) {  // the thread is exiting
        Depot &d = depot();
        std::lock_guard<std::mutex> lk(d.mu);
        to_depot(d, p);
        return;
      }
      if (n == kCacheSize) {
        Depot &d = depot();
        std::lock_guard<std::mutex> lk(d.mu);
        while (n > kBatch) to_depot(d, items[--n]);
      }
      items[n++] = p;
    }
  };
  struct Flusher {
    void arm() {}
    ~Flusher() {
      t_flusher_gone = true;
      Cache &c = t_cache;
      c.registered = false;
      Depot &d = depot();
      std::lock_guard<std::mutex> lk(d.mu);
      while (c.n > 0) to_depot(d, c.items[--c.n]);
    }
  };
  static inline thread_local Cache t_cache{};
  static inline thread_local bool t_flusher_gone = false;
  static inline thread_local Flusher t_flusher;
};

}  // namespace rcm::core
