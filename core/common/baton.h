// A one-shot wake-up between two threads: post() once, wait() once. No mutex: the
// waiter sleeps on a futex at once. (A caller-side spin of a few microseconds never
// caught a loopback reply, which takes tens, and with 8 callers on 2 CPUs it took the
// CPU the others needed: sync 8 threads went from 1.0x to 1.1x hiredis without it.)
// post() may run after the waiter returned; a futex wake on memory nobody waits on is
// harmless.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <ctime>

namespace rcm::core {

class Baton {
 public:
  void post() {
    if (state_.exchange(kPosted, std::memory_order_acq_rel) == kWaiting)
      syscall(SYS_futex, &state_, FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
  }

  void wait() {
    int expected = kInit;
    if (!state_.compare_exchange_strong(expected, kWaiting, std::memory_order_acq_rel)) return;
    while (state_.load(std::memory_order_acquire) != kPosted)
      syscall(SYS_futex, &state_, FUTEX_WAIT_PRIVATE, kWaiting, nullptr, nullptr, 0);
  }

  bool posted() const { return state_.load(std::memory_order_acquire) == kPosted; }

 private:
  static constexpr int kInit = 0, kWaiting = 1, kPosted = 2;
  std::atomic<int> state_{kInit};
};

}  // namespace rcm::core
