// A one-shot wake-up between two threads: post() once, wait() once. No mutex.
//
// wait(spin_us) first polls, yielding the CPU between looks (sched_yield), for up to
// the calling thread's window, then sleeps on a futex. Waking a sleeping thread costs
// more here than a loopback round trip (an IPI and, on a VM whose idle vCPUs halt, a
// VM exit: about 6 us of the waker's CPU per futex wake in perf on the 2-vCPU dev VM),
// while a thread that yields stays runnable on its CPU and gives way to any other
// runnable thread meanwhile (the I/O thread, other callers, the server). Measured with
// 8 threads sharing one client (bench/README.md): 0.8-1.0x hiredis without the poll,
// 1.1-1.45x with it, and less CPU per request. (A pause-only spin of ~3 us was tried
// before and lost: it never caught a reply and kept the CPU from the others.)
//
// The window adapts per thread, as the I/O loop's does: it doubles (up to spin_us) when
// the wait ended within spin_us, and halves when it lasted longer, so a thread that
// waits on slow commands (BLPOP, DEBUG SLEEP, a busy server) soon barely polls.
//
// post() may run after the waiter returned; a futex wake on memory nobody waits on is
// harmless.
#pragma once

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <ctime>

namespace rcm::core {

class Baton {
 public:
  void post() {
    if (state_.exchange(kPosted, std::memory_order_acq_rel) == kWaiting)
      syscall(SYS_futex, &state_, FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
  }

  // spin_us: the longest this thread polls before it sleeps (0: sleep at once).
  void wait(int spin_us = 0) {
    if (spin_us <= 0) {
      sleep_until_posted();
      return;
    }
    using Clock = std::chrono::steady_clock;
    thread_local int window_us = 0;  // 0: not set yet
    if (window_us <= 0 || window_us > spin_us) window_us = spin_us;
    const Clock::time_point start = Clock::now();
    const Clock::time_point until = start + std::chrono::microseconds(window_us);
    do {
      if (posted()) return;
      sched_yield();
    } while (Clock::now() < until);
    sleep_until_posted();
    if (Clock::now() - start <= std::chrono::microseconds(spin_us))
      window_us = std::min(spin_us, std::max(window_us * 2, kMinGrowUs));
    else
      window_us = std::max(1, window_us / 2);
  }

  // As wait(), for at most timeout_ms: true once posted, false when it was not posted by
  // then. A caller that must look at something else now and then (a signal, Python's
  // Ctrl-C) waits in slices: call again to go on waiting (only the first call polls).
  bool wait_for(int spin_us, int timeout_ms) {
    using Clock = std::chrono::steady_clock;
    if (spin_us > 0 && state_.load(std::memory_order_acquire) == kInit) {
      thread_local int window_us = 0;  // as wait()'s, for the waits that go through here
      if (window_us <= 0 || window_us > spin_us) window_us = spin_us;
      const Clock::time_point start = Clock::now();
      const Clock::time_point until = start + std::chrono::microseconds(window_us);
      do {
        if (posted()) return true;
        sched_yield();
      } while (Clock::now() < until);
      bool done = sleep_until(Clock::now() + std::chrono::milliseconds(timeout_ms));
      if (done && Clock::now() - start <= std::chrono::microseconds(spin_us))
        window_us = std::min(spin_us, std::max(window_us * 2, kMinGrowUs));
      else
        window_us = std::max(1, window_us / 2);
      return done;
    }
    return sleep_until(Clock::now() + std::chrono::milliseconds(timeout_ms));
  }

  bool posted() const { return state_.load(std::memory_order_acquire) == kPosted; }

 private:
  // Sleeps until posted (true) or until `until` (false); the state stays kWaiting then,
  // which a later call accepts.
  bool sleep_until(std::chrono::steady_clock::time_point until) {
    int expected = kInit;
    if (!state_.compare_exchange_strong(expected, kWaiting, std::memory_order_acq_rel) && expected == kPosted)
      return true;
    while (state_.load(std::memory_order_acquire) != kPosted) {
      auto left = until - std::chrono::steady_clock::now();
      if (left <= std::chrono::nanoseconds(0)) return false;
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
      timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
      syscall(SYS_futex, &state_, FUTEX_WAIT_PRIVATE, kWaiting, &ts, nullptr, 0);
    }
    return true;
  }

  // After a wait_for slice that gave up, the state is already kWaiting: wait on.
  void sleep_until_posted() {
    int expected = kInit;
    if (!state_.compare_exchange_strong(expected, kWaiting, std::memory_order_acq_rel) && expected == kPosted)
      return;
    while (state_.load(std::memory_order_acquire) != kPosted)
      syscall(SYS_futex, &state_, FUTEX_WAIT_PRIVATE, kWaiting, nullptr, nullptr, 0);
  }

  static constexpr int kInit = 0, kWaiting = 1, kPosted = 2;
  static constexpr int kMinGrowUs = 10;
  std::atomic<int> state_{kInit};
};

}  // namespace rcm::core
