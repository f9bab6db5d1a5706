#include "core/pubsub/wake_pipe.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <mutex>

namespace rcm::core {

namespace {
// A forked child inherits the thread's pipe, shared with the parent: a wake-up meant for
// one process could be read by the other. The child makes its own.
std::atomic<unsigned> g_forks{0};
void on_fork_child() { g_forks.fetch_add(1, std::memory_order_relaxed); }
}  // namespace

std::shared_ptr<WakePipe> WakePipe::for_this_thread() {
  static std::once_flag once;
  std::call_once(once, [] { pthread_atfork(nullptr, nullptr, on_fork_child); });
  thread_local std::shared_ptr<WakePipe> mine;
  thread_local unsigned made_after = 0;
  const unsigned forks = g_forks.load(std::memory_order_relaxed);
  if (!mine || made_after != forks) {
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return nullptr;
    mine.reset(new WakePipe(fds[0], fds[1]));  // the inherited one (if any) is closed here only
    made_after = forks;
  }
  return mine;
}

WakePipe::~WakePipe() {
  ::close(rd_);
  ::close(wr_);
}

void WakePipe::notify() {
  const char one = 1;
  ssize_t n = ::write(wr_, &one, 1);  // EAGAIN: the pipe is full of wake-ups already
  (void)n;
}

void WakePipe::wait(int timeout_ms) {
  pollfd p{rd_, POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) <= 0) return;
  char drain[64];
  while (::read(rd_, drain, sizeof drain) == static_cast<ssize_t>(sizeof drain)) {
  }
}

}  // namespace rcm::core
