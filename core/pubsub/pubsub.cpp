#include "core/pubsub/pubsub.h"

#include <algorithm>

#include "core/net/io_thread.h"
#include "core/pubsub/delivery_pool.h"
#include "core/pubsub/pubsub_manager.h"

namespace rcm::core {

PubSub::PubSub(const Config &cfg) : cfg_(cfg) {}

PubSub::~PubSub() { stop_delivery(); }

std::shared_ptr<Subscriber> PubSub::open(Subscriber::DeliverFn fn, void *ctx) {
  const uint64_t id = next_id_.fetch_add(1);
  auto s = std::make_shared<Subscriber>(shared_from_this(), fn, ctx, static_cast<size_t>(cfg_.pubsub_max_pending), id);
  std::lock_guard<std::mutex> lk(mu_);
  if (closed_) throw Error(Status::closed, "client closed");
  if (fn != nullptr && !pool_) pool_ = std::make_unique<DeliveryPool>(cfg_.pubsub_callback_threads);
  open_.erase(std::remove_if(open_.begin(), open_.end(), [](const std::weak_ptr<Subscriber> &w) { return w.expired(); }),
              open_.end());
  open_.push_back(s);
  stats_.subscribers.fetch_add(1);
  return s;
}

bool PubSub::post(std::function<void(PubSubManager &)> fn) {
  if (io_ == nullptr || manager_ == nullptr) return false;
  PubSubManager *m = manager_;
  return io_->post([m, fn = std::move(fn)] { fn(*m); });
}

void PubSub::schedule(std::shared_ptr<Subscriber> s) {
  std::lock_guard<std::mutex> lk(mu_);
  if (pool_) pool_->enqueue(std::move(s));
}

void PubSub::forget(const Subscriber *s) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = std::find_if(open_.begin(), open_.end(), [s](const std::weak_ptr<Subscriber> &w) {
    auto p = w.lock();
    return p.get() == s;
  });
  if (it == open_.end()) return;
  open_.erase(it);
  stats_.subscribers.fetch_sub(1);
}

void PubSub::close_all() {
  std::vector<std::shared_ptr<Subscriber>> all;
  {
    std::lock_guard<std::mutex> lk(mu_);
    closed_ = true;
    for (auto &w : open_)
      if (auto p = w.lock()) all.push_back(std::move(p));
    open_.clear();
    stats_.subscribers.store(0);
  }
  for (auto &s : all) s->close_by_client();
}

void PubSub::stop_delivery() {
  std::unique_ptr<DeliveryPool> pool;
  {
    std::lock_guard<std::mutex> lk(mu_);
    closed_ = true;
    pool.swap(pool_);
  }
  pool.reset();  // joins (outside mu_: a callback may be opening a subscriber)
}

}  // namespace rcm::core

namespace rcm::core {

void PubSub::abandon_delivery() {
  std::lock_guard<std::mutex> lk(mu_);
  closed_ = true;
  (void)pool_.release();
}

}  // namespace rcm::core
