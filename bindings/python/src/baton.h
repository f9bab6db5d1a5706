// A one-shot wake-up between an rcm I/O thread (post) and a waiting caller (wait),
// without a mutex and without the GIL: the waiter checks a few times, then sleeps on a
// futex. The spin is kept very short: the reply takes a round trip through rcm's I/O
// thread and the server, far longer than a useful spin, and on a small machine a
// spinning caller takes the CPU that the I/O thread and the server need.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <climits>

namespace rcm_py {

class Baton {
 public:
  // Called once, from any thread. The waiter may destroy the baton as soon as it sees the
  // state change, so nothing here touches *this after the exchange except the futex
  // wake, which on memory nobody waits on any more is harmless.
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

 private:
  static constexpr int kInit = 0, kWaiting = 1, kPosted = 2;
  static constexpr int kSpins = 8;  // measured: longer spins cost CPU and, on 2 cores, throughput
  std::atomic<int> state_{kInit};
};

}  // namespace rcm_py
