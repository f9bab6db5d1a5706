// The threads that run message callbacks (pubsub.callback_threads). A subscriber with
// messages is queued once; a thread takes it, runs a few of its callbacks and queues it
// again if more wait, so each subscriber is served by one thread at a time (its order
// holds) and a slow one holds one thread, not the others.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace rcm::core {

class Subscriber;

class DeliveryPool {
 public:
  explicit DeliveryPool(int threads);
  // Stops taking work and joins; on one of its own threads (a callback closed the client)
  // it cannot join: the threads are detached and end when their callbacks return.
  ~DeliveryPool();
  DeliveryPool(const DeliveryPool &) = delete;
  DeliveryPool &operator=(const DeliveryPool &) = delete;

  void enqueue(std::shared_ptr<Subscriber> s);

 private:
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::shared_ptr<Subscriber>> ready;  // guarded by mu
    bool stop = false;                              // guarded by mu
  };
  static void run(const std::shared_ptr<State> &state);
  std::shared_ptr<State> state_;
  std::vector<std::thread> threads_;
};

}  // namespace rcm::core
