#include "core/net/io_thread.h"

#include <event2/event.h>
#include <event2/thread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <string>

#include "core/common/status.h"

namespace rcm::core {

namespace {
void run_function(void *arg) {
  auto *fn = static_cast<std::function<void()> *>(arg);
  (*fn)();
  delete fn;
}
}  // namespace

IoThread::IoThread(int index) : index_(index) {
  static std::once_flag once;
  std::call_once(once, [] { evthread_use_pthreads(); });
  event_config *cfg = event_config_new();
  event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
  base_ = event_base_new_with_config(cfg);
  event_config_free(cfg);
  if (base_ == nullptr) throw Error(Status::internal, "event_base_new failed");
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) throw Error(Status::internal, "eventfd failed");
  wake_ev_ = event_new(base_, wake_fd_, EV_READ | EV_PERSIST, &IoThread::on_wake, this);
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
  thread_id_.store(std::this_thread::get_id());
  event_base_loop(base_, 0);
  // The loop is over: run whatever was queued meanwhile so every request completes.
  {
    std::lock_guard<std::mutex> lk(mu_);
    accepting_ = false;
  }
  drain(true);
  stopped_.store(true, std::memory_order_release);
}

bool IoThread::post(TaskFn fn, void *arg) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (!accepting_) return false;
    inbox_.push_back(Task{fn, arg});
    if (!wake_pending_) {
      wake_pending_ = true;
      wake = true;
    }
  }
  if (wake) {
    uint64_t one = 1;
    ssize_t n;
    do {
      n = write(wake_fd_, &one, sizeof(one));
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
  uint64_t v;
  ssize_t n = read(fd, &v, sizeof(v));  // an eventfd hands over its whole count at once
  (void)n;
  static_cast<IoThread *>(arg)->drain(false);
}

// One batch per wake-up, so a busy producer cannot starve the sockets: what arrives
// while the batch runs sets wake_pending_ again and wakes the loop once more.
void IoThread::drain(bool until_empty) {
  std::vector<Task> tasks;
  do {
    {
      std::lock_guard<std::mutex> lk(mu_);
      tasks.swap(inbox_);
      wake_pending_ = false;
    }
    for (const Task &t : tasks) t.fn(t.arg);
    if (tasks.empty()) return;
    tasks.clear();
  } while (until_empty);
}

void IoThread::stop(std::function<void()> last) {
  if (!thread_.joinable()) return;
  if (on_loop_thread()) throw Error(Status::state, "a client cannot be closed from its own callback");
  post([this, last] {
    if (last) last();
    event_base_loopbreak(base_);
  });
  thread_.join();
}

}  // namespace rcm::core
