// One event-loop thread (libevent). Other threads never touch what it owns: they hand it
// tasks through a queue plus an eventfd wake-up.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "core/common/spin_lock.h"

struct event_base;
struct event;

namespace rcm::core {

class IoThread {
 public:
  using TaskFn = void (*)(void *arg);

  // spin_us: the longest the loop polls (non-blocking) after activity before it sleeps
  // (an adaptive window, see loop_spinning); 0 = sleep at once.
  IoThread(int index, int spin_us);
  ~IoThread();
  IoThread(const IoThread &) = delete;
  IoThread &operator=(const IoThread &) = delete;

  void start();
  // Runs fn(arg) on the loop thread. False when the loop has stopped (the task did not
  // and will not run). Thread-safe.
  bool post(TaskFn fn, void *arg);
  bool post(std::function<void()> fn);
  // Runs fn on the loop thread and waits for it (inline when already on it).
  bool run_sync(const std::function<void()> &fn);
  // Stops the loop after running `last` on it, then joins. Tasks still queued are run
  // with the loop stopped (they must complete their requests as closed).
  void stop(std::function<void()> last);

  bool on_loop_thread() const { return t_current == this; }
  event_base *base() const { return base_; }
  int index() const { return index_; }
  bool stopped() const { return stopped_.load(std::memory_order_acquire); }
  // Loop thread: fn(arg) runs after each batch of posted tasks (nullptr: none). What the
  // tasks queued can so be written at once, without another event (see Engine::want_flush).
  void set_after_tasks(TaskFn fn, void *arg) {
    after_tasks_ = fn;
    after_tasks_arg_ = arg;
  }
  // Loop thread: a batch of posted tasks is running; the after-tasks hook follows it.
  bool running_tasks() const { return running_tasks_; }
  // Loop thread: a socket or the task queue had something (resets the spin window).
  void note_activity() { ++activity_; }

 private:
  struct Task {
    TaskFn fn;
    void *arg;
  };
  static void on_wake(int fd, short what, void *arg);
  void drain(bool until_empty);
  void run();
  void loop_spinning();

  int index_;
  int spin_us_;
  uint64_t activity_ = 0;  // loop thread only
  bool quit_ = false;      // loop thread only: stop() ran
  bool running_tasks_ = false;       // loop thread only
  TaskFn after_tasks_ = nullptr;     // loop thread only
  void *after_tasks_arg_ = nullptr;  // loop thread only
  event_base *base_ = nullptr;
  event *wake_ev_ = nullptr;
  int wake_fd_ = -1;
  bool wake_edge_ = false;  // wake_ev_ is edge-triggered: its count is never read
  std::thread thread_;
  // The loop the calling thread runs, if any: every blocking call asks (a thread id
  // compare cost a pthread_self call and an atomic load per I/O thread).
  static inline thread_local IoThread *t_current = nullptr;
  SpinLock mu_;                  // held for a push or a swap only (common/spin_lock.h)
  std::vector<Task> inbox_;      // guarded by mu_
  std::vector<Task> draining_;   // loop thread only: swapped with inbox_, keeps its capacity
  bool wake_pending_ = false;    // guarded by mu_
  bool sleeping_ = true;         // guarded by mu_: the loop may block, post() must wake it
  std::atomic<bool> has_tasks_{false};  // inbox_ non-empty (a hint for the spinning loop)
  bool accepting_ = true;        // guarded by mu_
  std::atomic<bool> stopped_{false};
};

}  // namespace rcm::core
