// steady_clock's time from CLOCK_MONOTONIC_COARSE: the same clock, read without the TSC
// (the kernel's last tick, at most a few milliseconds behind), about half the cost of
// steady_clock::now(). For marks compared against millisecond timeouts only (the health
// check's "quiet since"), never for latencies or deadlines.
#pragma once

#include <time.h>

#include <chrono>

namespace rcm::core {

inline std::chrono::steady_clock::time_point coarse_now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return std::chrono::steady_clock::time_point(std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec));
}

}  // namespace rcm::core
