// The threads that run message callbacks (pubsub.callback_threads). A subscriber with
// messages is queued once; a thread takes it, runs a few of its callbacks and queues it
// again if more wait, so each subscriber is served by one thread at a time (its order
// holds) and a slow one holds one thread, not the others.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/pubsub/wake_pipe.h"

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
  // The threads sleep on their own pipes (wake_pipe.h: woken as a "sync" wake-up, which
  // may run the thread on the I/O thread's CPU once it sleeps), or, where no pipe could be
  // made, on a futex word; not on a condition variable: after a wait on one, glibc marks
  // the mutex contended, so the unlock that follows makes a system call that wakes
  // nobody, one per batch (bench/README.md, Pub/Sub).
  struct State {
    std::mutex mu;
    std::deque<std::shared_ptr<Subscriber>> ready;  // guarded by mu
    bool stop = false;                              // guarded by mu
    std::vector<std::shared_ptr<WakePipe>> asleep;  // guarded by mu: pipes of sleeping threads
    int sleepers = 0;                               // guarded by mu: threads asleep on word
    std::atomic<uint32_t> word{0};                  // changed (and woken) when work or stop comes
  };
  static void wake(State &st, int threads);
  static void run(const std::shared_ptr<State> &state);
  std::shared_ptr<State> state_;
  std::vector<std::thread> threads_;
};

}  // namespace rcm::core
