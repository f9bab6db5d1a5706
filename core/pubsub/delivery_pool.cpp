#include "core/pubsub/delivery_pool.h"

#include <algorithm>

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

DeliveryPool::~DeliveryPool() {
  {
    std::lock_guard<std::mutex> lk(state_->mu);
    state_->stop = true;
    state_->ready.clear();
  }
  state_->cv.notify_all();
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
  {
    std::lock_guard<std::mutex> lk(state_->mu);
    if (state_->stop) return;
    state_->ready.push_back(std::move(s));
  }
  state_->cv.notify_one();
}

void DeliveryPool::run(const std::shared_ptr<State> &state) {
  std::unique_lock<std::mutex> lk(state->mu);
  for (;;) {
    state->cv.wait(lk, [&] { return state->stop || !state->ready.empty(); });
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
