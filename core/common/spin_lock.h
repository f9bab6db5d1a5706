// SpinLock: a lock for critical sections of a few instructions (a push_back, a swap of
// two vectors), such as an I/O thread's task inbox. A pthread mutex's lock and unlock
// cost about 60 instructions per pair, twice per request (the poster's push, the loop's
// swap); this costs a few. A waiter that does not get it at once yields its CPU rather
// than spinning: the holder may have been preempted, and on a small machine the waiter
// may be what keeps it from running. Usable with std::lock_guard.
#pragma once

#include <sched.h>

#include <atomic>

namespace rcm::core {

class SpinLock {
 public:
  void lock() noexcept {
    while (locked_.exchange(true, std::memory_order_acquire))
      while (locked_.load(std::memory_order_relaxed)) sched_yield();
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

}  // namespace rcm::core
