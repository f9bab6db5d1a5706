// A one-shot wake-up between two threads: post() once, wait() once. No mutex: the
// waiter spins briefly (replies on loopback often arrive within microseconds), then
// sleeps on a futex. post() may run after the waiter returned; a futex wake on memory
// nobody waits on is harmless.
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
    for (int i = 0; i < kSpins; ++i) {
      if (state_.load(std::memory_order_acquire) == kPosted) return;
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    }
    int expected = kInit;
    if (!state_.compare_exchange_strong(expected, kWaiting, std::memory_order_acq_rel)) return;
    while (state_.load(std::memory_order_acquire) != kPosted)
      syscall(SYS_futex, &state_, FUTEX_WAIT_PRIVATE, kWaiting, nullptr, nullptr, 0);
  }

  bool posted() const { return state_.load(std::memory_order_acquire) == kPosted; }

 private:
  static constexpr int kInit = 0, kWaiting = 1, kPosted = 2;
  static constexpr int kSpins = 64;  // a few microseconds: longer spins steal the CPU the reply needs
  std::atomic<int> state_{kInit};
};

}  // namespace rcm::core
