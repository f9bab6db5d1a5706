#include "completion_queue.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <system_error>

namespace rcm_py {

CompletionQueue::CompletionQueue() : fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
}

CompletionQueue::~CompletionQueue() {
  for (Item &i : items_) rcm_reply_free(i.reply);
  close(fd_);
}

void CompletionQueue::push(void *slot, rcm_status status, rcm_reply *reply) {
  bool was_empty;
  {
    std::lock_guard<std::mutex> lk(mu_);
    was_empty = items_.empty();
    items_.push_back(Item{slot, status, reply});
  }
  if (was_empty) {
    uint64_t one = 1;
    // EAGAIN only when the counter is near 2^64: it is already signalled then.
    while (write(fd_, &one, sizeof one) < 0 && errno == EINTR) {
    }
  }
}

void CompletionQueue::take(std::vector<Item> &out) {
  uint64_t n;
  while (read(fd_, &n, sizeof n) < 0 && errno == EINTR) {
  }
  std::lock_guard<std::mutex> lk(mu_);
  out.swap(items_);
}

}  // namespace rcm_py
