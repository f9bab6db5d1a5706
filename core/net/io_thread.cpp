#include "core/net/io_thread.h"

#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <string>

#include "core/common/guard.h"
#include "core/common/status.h"
#include "core/net/raw_io.h"

namespace rcm::core {

namespace {
void run_function(void *arg) {
  auto *fn = static_cast<std::function<void()> *>(arg);
  (*fn)();
  delete fn;
}
}  // namespace

IoThread::IoThread(int index, int spin_us) : index_(index), spin_us_(spin_us) {
  static std::once_flag once;
  std::call_once(once, [] { evthread_use_pthreads(); });
  event_config *cfg = event_config_new();
  event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
  base_ = event_base_new_with_config(cfg);
  event_config_free(cfg);
  if (base_ == nullptr) throw Error(Status::internal, "event_base_new failed");
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) throw Error(Status::internal, "eventfd failed");
  // Edge-triggered where the backend can (epoll): every write to an eventfd is a new edge,
  // so the wake-up needs no read(2) of the count (a syscall per sleeping request; the
  // count, one per wake-up, cannot reach its 2^64 limit). Level-triggered elsewhere,
  // where on_wake must read it.
  wake_edge_ = (event_base_get_features(base_) & EV_FEATURE_ET) != 0;
  wake_ev_ = event_new(base_, wake_fd_, EV_READ | EV_PERSIST | (wake_edge_ ? EV_ET : 0), RCM_GUARDED(IoThread::on_wake),
                       this);
  event_add(wake_ev_, nullptr);
}

IoThread::~IoThread() {
  if (thread_.joinable()) stop(nullptr);
  if (wake_ev_) event_free(wake_ev_);
  if (wake_fd_ >= 0) close(wake_fd_);
  if (base_) event_base_free(base_);
}

void IoThread::start() {
  thread_ = std::thread([this] { run(); });
}

void IoThread::run() {
  t_current = this;
  std::string name = "rcm-io-" + std::to_string(index_);  // top -H, perf, gdb
  pthread_setname_np(pthread_self(), name.c_str());
  if (spin_us_ > 0)
    loop_spinning();
  else
    event_base_loop(base_, 0);
  // The loop is over: run whatever was queued meanwhile so every request completes.
  {
    std::lock_guard<SpinLock> lk(mu_);
    accepting_ = false;
  }
  drain(true);
  stopped_.store(true, std::memory_order_release);
}

// Polling threads compete with everything else for the CPUs (the callers they serve,
// and on small machines the server): at most half the CPUs, and at least one, poll at a
// time, across every client in the process. A thread that finds no slot sleeps at once.
namespace {
std::atomic<int> g_polling{0};

int polling_limit() {
  static const int limit = static_cast<int>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN) / 2));
  return limit;
}

bool claim_polling_slot() {
  int n = g_polling.load(std::memory_order_relaxed);
  while (n < polling_limit()) {
    if (g_polling.compare_exchange_weak(n, n + 1, std::memory_order_relaxed)) return true;
  }
  return false;
}
}  // namespace

// Waking a sleeping thread costs tens of microseconds on a virtual machine whose idle
// vCPUs halt (an IPI, a VM exit, a reschedule) and several microseconds on bare metal:
// more than a loopback round trip. So after any socket or task activity the loop polls
// without blocking for a while before it sleeps: the reply to what it just wrote, or
// the caller's next request, usually arrives within that window.
//
// The window adapts as the kernel's haltpoll does for idle vCPUs: it doubles (up to
// spin_us_) when the thread, having gone to sleep, was woken within spin_us_ (a longer
// spin would have caught that event), and halves when the sleep lasted longer (spinning
// was wasted). A client with sparse traffic so spins little; one with back-to-back
// requests spins the full window. An idle client never spins.
void IoThread::loop_spinning() {
  using std::chrono::steady_clock;
  using us = std::chrono::microseconds;
  const us max_window(spin_us_);
  const us min_grow(std::min(spin_us_, 10));
  us window = max_window;
  {
    std::lock_guard<SpinLock> lk(mu_);
    sleeping_ = false;
  }
  auto last = steady_clock::now();
  bool polling = false;  // holds one of the process's polling slots
  while (!quit_) {
    uint64_t before = activity_;
    if (has_tasks_.load(std::memory_order_acquire)) {  // posted without an eventfd write
      note_activity();
      drain(false);
    }
    event_base_loop(base_, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    auto now = steady_clock::now();
    if (activity_ != before) {
      last = now;
    } else if (now - last < window && (polling || (polling = claim_polling_slot()))) {
      sched_yield();  // a thread this one just woke may be queued on this CPU
    } else {
      if (polling) {
        g_polling.fetch_sub(1, std::memory_order_relaxed);
        polling = false;
      }
      {
        std::lock_guard<SpinLock> lk(mu_);
        if (!inbox_.empty()) continue;
        sleeping_ = true;  // from here on post() writes the eventfd
      }
      const uint64_t slept_at = activity_;
      event_base_loop(base_, EVLOOP_ONCE);
      {
        std::lock_guard<SpinLock> lk(mu_);
        sleeping_ = false;
      }
      const auto woke = steady_clock::now();
      if (woke - now <= max_window)
        window = std::min(max_window, std::max(window * 2, min_grow));
      else
        window /= 2;
      // Only activity opens the window: what woke the loop may be a push on a subscriber
      // connection (nobody waits for a reply there; see Connection::awaits_replies).
      last = activity_ != slept_at ? woke : woke - max_window;
    }
  }
  if (polling) g_polling.fetch_sub(1, std::memory_order_relaxed);
  std::lock_guard<SpinLock> lk(mu_);
  sleeping_ = true;
}

bool IoThread::post(TaskFn fn, void *arg) {
  bool wake = false;
  {
    std::lock_guard<SpinLock> lk(mu_);
    if (!accepting_) return false;
    inbox_.push_back(Task{fn, arg});
    has_tasks_.store(true, std::memory_order_release);
    if (sleeping_ && !wake_pending_) {
      wake_pending_ = true;
      wake = true;
    }
  }
  if (wake) {
    uint64_t one = 1;
    ssize_t n;
    do {
      n = raw_write(wake_fd_, &one, sizeof(one));
    } while (n < 0 && errno == EINTR);
  }
  return true;
}

bool IoThread::post(std::function<void()> fn) {
  auto *heap = new std::function<void()>(std::move(fn));
  if (!post(&run_function, heap)) {
    delete heap;
    return false;
  }
  return true;
}

bool IoThread::run_sync(const std::function<void()> &fn) {
  if (on_loop_thread()) {
    fn();
    return true;
  }
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  bool posted = post([&] {
    fn();
    std::lock_guard<std::mutex> lk(m);
    done = true;
    cv.notify_one();
  });
  if (!posted) return false;
  std::unique_lock<std::mutex> lk(m);
  cv.wait(lk, [&] { return done; });
  return true;
}

void IoThread::on_wake(int fd, short, void *arg) {
  auto *t = static_cast<IoThread *>(arg);
  if (!t->wake_edge_) {
    uint64_t v;
    ssize_t n = read(fd, &v, sizeof(v));  // an eventfd hands over its whole count at once
    (void)n;
  }
  t->note_activity();
  t->drain(false);
}

// One batch per wake-up, so a busy producer cannot starve the sockets: what arrives
// while the batch runs sets wake_pending_ again and wakes the loop once more.
// The two vectors trade places and both keep their capacity, so a post() does not
// allocate once the queue has seen its usual depth (a local vector here cost one
// allocation per wake-up, on the poster's side).
void IoThread::drain(bool until_empty) {
  std::vector<Task> &tasks = draining_;
  do {
    {
      std::lock_guard<SpinLock> lk(mu_);
      tasks.swap(inbox_);
      wake_pending_ = false;
      has_tasks_.store(false, std::memory_order_relaxed);
    }
    if (tasks.empty()) return;
    {
      struct Clear {  // a task that throws past run_guarded still leaves the vector empty
        std::vector<Task> &v;
        bool &running;
        ~Clear() {
          v.clear();
          running = false;
        }
      } clear{tasks, running_tasks_};
      running_tasks_ = true;
      for (const Task &t : tasks) run_guarded("a task on the I/O thread", [&t] { t.fn(t.arg); });
    }
    // Not after the loop stopped (until_empty): the tasks then only fail their requests.
    if (after_tasks_ != nullptr && !until_empty)
      run_guarded("after the tasks on the I/O thread", [this] { after_tasks_(after_tasks_arg_); });
  } while (until_empty);
}

void IoThread::stop(std::function<void()> last) {
  if (!thread_.joinable()) return;
  if (on_loop_thread()) throw Error(Status::state, "a client cannot be closed from its own callback");
  post([this, last] {
    if (last) last();
    quit_ = true;  // the spinning loop may run this outside event_base_loop (see drain)
    event_base_loopbreak(base_);
  });
  thread_.join();
}

}  // namespace rcm::core
