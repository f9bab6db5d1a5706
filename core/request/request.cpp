#include "core/request/request.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <new>
#include <vector>

#include "core/request/stats.h"

namespace rcm::core {

namespace {

// The pool behind Request's operator new/delete. Each thread keeps a cache; a thread that
// frees more than it makes (an I/O thread) hands batches to a shared depot, and a thread
// that makes more than it frees (a caller) takes batches from it: one lock per kBatch
// requests instead of malloc's cross-thread path per request. Under AddressSanitizer the
// pool is off, so a use after free of a request is still caught.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kPooled = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kPooled = false;
#else
constexpr bool kPooled = true;
#endif
#else
constexpr bool kPooled = true;
#endif
constexpr size_t kBatch = 32;
constexpr size_t kDepotMax = 4096;  // requests kept for reuse across threads

struct Depot {
  std::mutex mu;
  std::vector<void *> items;  // guarded by mu
};
Depot &depot() {
  static Depot *d = new Depot();  // never destroyed: threads may free requests during exit
  return *d;
}

struct Cache {
  std::vector<void *> items;
  ~Cache();
};
thread_local bool t_cache_gone = false;  // trivial, so readable after ~Cache ran
thread_local Cache t_cache;

Cache::~Cache() {
  t_cache_gone = true;
  Depot &d = depot();
  std::lock_guard<std::mutex> lk(d.mu);
  for (void *p : items) {
    if (d.items.size() < kDepotMax) d.items.push_back(p);
    else ::operator delete(p);
  }
}

}  // namespace

void *Request::operator new(size_t size) {
  if (!kPooled || size != sizeof(Request) || t_cache_gone) return ::operator new(size);
  std::vector<void *> &mine = t_cache.items;
  if (mine.empty()) {
    Depot &d = depot();
    std::lock_guard<std::mutex> lk(d.mu);
    size_t take = std::min(kBatch, d.items.size());
    mine.insert(mine.end(), d.items.end() - static_cast<std::ptrdiff_t>(take), d.items.end());
    d.items.resize(d.items.size() - take);
  }
  if (mine.empty()) return ::operator new(size);
  void *p = mine.back();
  mine.pop_back();
  return p;
}

void Request::operator delete(void *p, size_t size) noexcept {
  if (p == nullptr) return;
  if (!kPooled || size != sizeof(Request) || t_cache_gone) return ::operator delete(p);
  std::vector<void *> &mine = t_cache.items;
  if (mine.size() >= 2 * kBatch) {
    // Keep kBatch here for this thread's own next requests; the rest go to the depot.
    Depot &d = depot();
    std::lock_guard<std::mutex> lk(d.mu);
    while (mine.size() > kBatch) {
      if (d.items.size() < kDepotMax) d.items.push_back(mine.back());
      else ::operator delete(mine.back());
      mine.pop_back();
    }
  }
  try {
    mine.push_back(p);
  } catch (...) {  // the cache could not grow: plain free
    ::operator delete(p);
  }
}

void request_complete(Request *r, Status status, Reply *reply) {
  if (r->completed) {
    delete reply;
    return;
  }
  r->completed = true;
  if (r->stats != nullptr && !r->internal) {
    Clock::time_point now = Clock::now();
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(now - r->created).count();
    r->stats->record(status, reply != nullptr && reply->is_error(), static_cast<uint64_t>(us), now);
  }
  // A queued unit's head fails for the unit: its members were not sent either, and
  // they must never leave without it (a block's EXEC without its MULTI).
  const bool unit_fails = r->unit_tail && status != Status::ok;
  std::string message = unit_fails ? (reply != nullptr ? reply->str : std::string(status_name(status))) : "";
  r->done(r, status, reply);
  if (unit_fails)
    for (Request *m : *r->unit_tail) request_fail(m, status, message);
}

void request_fail(Request *r, Status status, const std::string &message) {
  if (r->completed) return;
  request_complete(r, status, Reply::make_error(status, message));
}

void request_release(Request *r) {
  if (--r->refs > 0) return;
  if (r->unit_tail)
    for (Request *m : *r->unit_tail) request_release(m);
  delete r;
}

uint64_t unit_next_id() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

void unit_settle(const std::vector<Request *> &unit) {
  bool ended = false, tx_ended = false;
  for (const Request *r : unit) {
    if (!r->completed) continue;
    ended = true;
    if (r->pinned || r->internal) tx_ended = true;
  }
  if (!ended) return;
  // rcm's own helper (ASKING) goes only with the command it prefixes.
  for (Request *r : unit)
    if ((r->pinned && tx_ended) || r->internal)
      request_fail(r, Status::timeout, "not sent: another command of its transaction ended before it could be sent");
}

Request *unit_pack(const std::vector<Request *> &reqs) {
  unit_settle(reqs);
  Request *head = nullptr;
  for (Request *r : reqs) {
    if (r->completed) {
      request_release(r);
      continue;
    }
    if (head == nullptr) {
      head = r;
      continue;
    }
    if (!head->unit_tail) head->unit_tail = std::make_unique<std::vector<Request *>>();
    head->unit_tail->push_back(r);
  }
  return head;
}

void unit_unpack(Request *head, std::vector<Request *> &out) {
  out.push_back(head);
  if (!head->unit_tail) return;
  std::unique_ptr<std::vector<Request *>> tail = std::move(head->unit_tail);
  out.insert(out.end(), tail->begin(), tail->end());
}

}  // namespace rcm::core
