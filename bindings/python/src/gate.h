// The gate in front of an rcm_client handle. rcm_client_close must not run while another
// thread is inside a call on the same client, so every call that touches the handle
// enters the gate first, and close shuts the gate and waits for the callers inside.
// A pipeline or routed command waits for its replies inside the gate, and acquiring a
// lease up to pool.lease_timeout_ms; close first shuts the client down
// (rcm_client_shutdown), which ends those waits with "closed", so it never waits for a
// slow or stopped server. Waiting for a single command's reply happens outside the gate.
// No method needs the GIL; none may be called with it held while others wait for it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace rcm_py {

class Gate {
 public:
  // True when the caller may use the handle; it must then call leave().
  bool enter() {
    uint64_t s = state_.fetch_add(kUser, std::memory_order_acq_rel);
    if (s & kShut) {
      leave();
      return false;
    }
    return true;
  }

  void leave() {
    uint64_t s = state_.fetch_sub(kUser, std::memory_order_acq_rel) - kUser;
    if (s == kShut) {
      std::lock_guard<std::mutex> lk(mu_);  // the closer is before its check or waiting
      cv_.notify_all();
    }
  }

  // Refuses new callers from now on; shut() is true.
  void refuse() { state_.fetch_or(kShut, std::memory_order_acq_rel); }

  // Refuses new callers, then waits until the callers inside have left.
  void shut_and_wait() {
    refuse();
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait(lk, [this] { return state_.load(std::memory_order_acquire) == kShut; });
  }

  bool shut() const { return state_.load(std::memory_order_acquire) & kShut; }

 private:
  static constexpr uint64_t kShut = 1, kUser = 2;
  std::atomic<uint64_t> state_{0};
  std::mutex mu_;
  std::condition_variable cv_;
};

}  // namespace rcm_py
