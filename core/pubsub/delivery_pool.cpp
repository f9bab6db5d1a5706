#include "core/pubsub/delivery_pool.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <climits>

#include "core/pubsub/subscriber.h"

namespace rcm::core {

namespace {
// Callbacks per turn: enough to amortise the hand-off, few enough that other subscribers
// queued behind get their turn soon.
constexpr int kBudget = 64;
}  // namespace

DeliveryPool::DeliveryPool(int threads) : state_(std::make_shared<State>()) {
  for (int i = 0; i < threads; ++i) {
    std::shared_ptr<State> st = state_;
    threads_.emplace_back([st] { run(st); });
  }
}

void DeliveryPool::wake(State &st, int threads) {
  st.word.fetch_add(1, std::memory_order_release);
  syscall(SYS_futex, reinterpret_cast<uint32_t *>(&st.word), FUTEX_WAKE_PRIVATE, threads, nullptr, nullptr, 0);
}

DeliveryPool::~DeliveryPool() {
  std::vector<std::shared_ptr<WakePipe>> asleep;
  {
    std::lock_guard<std::mutex> lk(state_->mu);
    state_->stop = true;
    state_->ready.clear();
    asleep.swap(state_->asleep);
  }
  for (const auto &p : asleep) p->notify();
  wake(*state_, INT_MAX);
  const auto self = std::this_thread::get_id();
  const bool inside = std::any_of(threads_.begin(), threads_.end(), [self](const std::thread &t) { return t.get_id() == self; });
  for (std::thread &t : threads_) {
    if (inside)
      t.detach();
    else
      t.join();
  }
}

void DeliveryPool::enqueue(std::shared_ptr<Subscriber> s) {
  bool sleeper = false;
  std::shared_ptr<WakePipe> pipe;
  {
    std::lock_guard<std::mutex> lk(state_->mu);
    if (state_->stop) return;
    state_->ready.push_back(std::move(s));
    if (!state_->asleep.empty()) {
      pipe = std::move(state_->asleep.back());  // the thread that slept last: its cache is warmest
      state_->asleep.pop_back();
    } else {
      sleeper = state_->sleepers > 0;
    }
  }
  if (pipe) pipe->notify();
  if (sleeper) wake(*state_, 1);
}

void DeliveryPool::run(const std::shared_ptr<State> &state) {
  std::unique_lock<std::mutex> lk(state->mu);
  for (;;) {
    // The word's value is read under mu: an enqueue after the unlock changes it, and the
    // sleep returns at once.
    while (!state->stop && state->ready.empty()) {
      if (std::shared_ptr<WakePipe> pipe = WakePipe::for_this_thread()) {
        state->asleep.push_back(pipe);
        lk.unlock();
        pipe->wait(-1);
        lk.lock();
        // Still listed when the wake-up was a byte left over from an earlier one.
        auto it = std::find(state->asleep.begin(), state->asleep.end(), pipe);
        if (it != state->asleep.end()) state->asleep.erase(it);
        continue;
      }
      const uint32_t seen = state->word.load(std::memory_order_relaxed);
      ++state->sleepers;
      lk.unlock();
      syscall(SYS_futex, reinterpret_cast<uint32_t *>(&state->word), FUTEX_WAIT_PRIVATE, seen, nullptr, nullptr, 0);
      lk.lock();
      --state->sleepers;
    }
    if (state->stop) return;
    std::shared_ptr<Subscriber> s = std::move(state->ready.front());
    state->ready.pop_front();
    lk.unlock();
    const bool more = s->deliver(kBudget);
    lk.lock();
    if (more && !state->stop) state->ready.push_back(std::move(s));
    if (!more) {
      // Dropped outside the lock: the last reference may free the subscriber.
      lk.unlock();
      s.reset();
      lk.lock();
    }
  }
}

}  // namespace rcm::core
