#include "core/pubsub/subscriber.h"

#include <linux/futex.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <ctime>
#include <utility>

#include "core/pubsub/pubsub.h"
#include "core/pubsub/pubsub_manager.h"

namespace rcm::core {

namespace {

// timeout: relative, nullptr for none. Returns on a wake, a change of *word from seen,
// a signal or the timeout: the caller looks again.
void futex_wait(std::atomic<uint32_t> *word, uint32_t seen, const timespec *timeout) {
  syscall(SYS_futex, reinterpret_cast<uint32_t *>(word), FUTEX_WAIT_PRIVATE, seen, timeout, nullptr, 0);
}

}  // namespace

Subscriber::Subscriber(std::shared_ptr<PubSub> pubsub, DeliverFn fn, void *ctx, size_t max_pending, uint64_t id)
    : pubsub_(std::move(pubsub)), fn_(fn), ctx_(ctx), max_pending_(max_pending), id_(id) {}

Subscriber::~Subscriber() {
  if (fd_read_ >= 0) ::close(fd_read_);
  if (fd_write_ >= 0) ::close(fd_write_);
}

bool Subscriber::closed() const {
  std::lock_guard<std::mutex> lk(mu_);
  return closed_;
}

Status Subscriber::subscribe(SubKind kind, bool every, std::vector<std::string> names) {
  if (closed()) return Status::closed;
  std::shared_ptr<Subscriber> self = shared_from_this();
  bool posted = pubsub_->post([self, kind, every, names = std::move(names)](PubSubManager &m) {
    m.add(self, kind, every, names);
  });
  return posted ? Status::ok : Status::closed;
}

Status Subscriber::unsubscribe(SubKind kind, bool every, std::vector<std::string> names, bool all) {
  if (closed()) return Status::closed;
  std::shared_ptr<Subscriber> self = shared_from_this();
  bool posted = pubsub_->post([self, kind, every, all, names = std::move(names)](PubSubManager &m) {
    m.remove(self, kind, every, names, all);
  });
  return posted ? Status::ok : Status::closed;
}

// Made at the first ask: a subscriber read with next() alone needs no descriptor. A pipe,
// not an eventfd: a pipe's wake-up of a thread in poll() is a "sync" one (wake_pipe.h).
int Subscriber::fd() {
  std::lock_guard<std::mutex> lk(mu_);
  if (fn_ != nullptr) return -1;
  if (!fd_wanted_) {
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0)
      throw Error(Status::internal, std::string("a pipe for rcm_subscriber_fd: ") + std::strerror(errno));
    fd_read_ = fds[0];
    fd_write_ = fds[1];
    fd_wanted_ = true;
    if (closed_ || dropped_ > 0 || !queue_.empty() || taken_left_.load(std::memory_order_relaxed)) signal_locked();
  }
  return fd_read_;
}

// The pipe holds a byte while messages wait: poll() reports it readable.
void Subscriber::signal_locked() {
  if (!fd_wanted_ || signalled_) return;
  const char one = 1;
  ssize_t n = ::write(fd_write_, &one, 1);
  (void)n;  // an empty pipe takes a byte
  signalled_ = true;
}

void Subscriber::unsignal_locked() {
  if (!fd_wanted_ || !signalled_) return;
  char byte;
  ssize_t n = ::read(fd_read_, &byte, 1);
  (void)n;
  signalled_ = false;
}

// Pushes are gathered on the I/O thread and handed to the queue once per loop iteration
// (wake), under one lock for all of them: a lock per message, taken while the reader
// takes its own, was a tenth of the I/O thread's time (bench/README.md, Pub/Sub).
bool Subscriber::push(MessagePtr m, bool *wake, std::string *node) {
  constexpr size_t kGatherMax = 256;  // a long read is handed over in parts
  if (closing_.load(std::memory_order_acquire)) return false;
  incoming_.push_back(std::move(m));
  if (!wake_pending_) {
    wake_pending_ = true;
    *wake = true;
  }
  if (incoming_.size() < kGatherMax) return false;
  std::lock_guard<std::mutex> lk(mu_);
  return hand_over_locked(node);
}

// Past pubsub.max_pending the oldest message goes (the queue's, then the gathered ones).
bool Subscriber::hand_over_locked(std::string *node) {
  bool episode = false;
  if (closed_) {
    incoming_.clear();
    return false;
  }
  for (MessagePtr &m : incoming_) {
    if (queue_.size() >= max_pending_) {
      queue_.pop_front();
      ++dropped_;
      pubsub_->stats().dropped.fetch_add(1, std::memory_order_relaxed);
      if (!overflowing_) {
        episode = overflowing_ = true;
        *node = std::string(m->node);
      }
    }
    queue_.push_back(std::move(m));
  }
  incoming_.clear();
  return episode;
}

bool Subscriber::wake(std::string *node) {
  bool schedule = false;
  bool notify = false;
  std::shared_ptr<WakePipe> pipe;
  bool episode = false;
  wake_pending_ = false;
  {
    std::lock_guard<std::mutex> lk(mu_);
    episode = hand_over_locked(node);
    if (closed_ || (queue_.empty() && dropped_ == 0)) return episode;
    if (fn_ == nullptr) {
      signal_locked();
      notify = reader_sleeps_;
      reader_sleeps_ = false;  // one wake-up per sleep, however many batches come meanwhile
      pipe = std::move(sleeper_);
    } else if (!scheduled_) {
      scheduled_ = schedule = true;
    }
  }
  // After the unlock: a reader woken while the lock is still held would wake only to
  // wait for it (a second sleep and wake-up per batch).
  if (notify) wake_reader(pipe);
  if (schedule) pubsub_->schedule(shared_from_this());
  return episode;
}

// The drop count goes first: the reader learns of the hole before what follows it.
MessagePtr Subscriber::pop_locked() {
  if (dropped_ > 0) {
    MessagePtr d = PubSubMessage::make(MessageType::dropped, SubKind::channel, {}, nullptr, nullptr, {});
    d.unshared()->dropped = dropped_;
    dropped_ = 0;
    return d;
  }
  if (queue_.empty()) return nullptr;
  MessagePtr m = std::move(queue_.front());
  queue_.pop_front();
  if (queue_.empty()) overflowing_ = false;
  return m;
}

size_t Subscriber::pending() const {
  std::lock_guard<std::mutex> lk(mu_);
  return queue_.size();
}

// Messages are taken from the queue up to kTakeBatch at a time, under one lock (the I/O
// thread pushes under it meanwhile), then handed out one per call.
Status Subscriber::next(int timeout_ms, MessagePtr *out) {
  *out = nullptr;
  std::lock_guard<std::mutex> rk(read_mu_);
  if (closing_.load(std::memory_order_acquire)) {
    taken_.clear();
    taken_at_ = 0;
    return Status::closed;
  }
  if (taken_at_ == taken_.size()) {
    taken_.clear();
    taken_at_ = 0;
    Status st = take(timeout_ms);
    if (st != Status::ok) return st;
  }
  *out = std::move(taken_[taken_at_++]);
  if (taken_at_ == taken_.size()) taken_left_.store(false, std::memory_order_relaxed);
  return Status::ok;
}

void Subscriber::wake_reader(const std::shared_ptr<WakePipe> &pipe) {
  if (pipe) {
    pipe->notify();
    return;
  }
  wake_word_.fetch_add(1, std::memory_order_release);
  syscall(SYS_futex, reinterpret_cast<uint32_t *>(&wake_word_), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}

// The reader sleeps on its thread's pipe (wake_pipe.h: a pipe's wake-up is a "sync" one,
// which a futex's is not), or, where none could be made, on a futex word of its own; not
// on cv_ (glibc's condition variable made two system calls per batch on the reader's side:
// bench/README.md, Pub/Sub). The I/O thread makes a system call only when the reader
// sleeps. reader_sleeps_, sleeper_ and the word's value are set under mu_, so a wake()
// that comes between the unlock and the sleep leaves a byte in the pipe (or changes the
// word) and the sleep returns at once. A byte left over from a wake-up that came after a
// timeout ends one later sleep of the thread early: the loop looks again.
void Subscriber::sleep_locked(std::unique_lock<std::mutex> &lk, int timeout_ms) {
  using Clock = std::chrono::steady_clock;
  auto ready = [this] { return closed_ || dropped_ > 0 || !queue_.empty(); };
  const Clock::time_point until = timeout_ms > 0 ? Clock::now() + std::chrono::milliseconds(timeout_ms) : Clock::time_point();
  while (!ready()) {
    timespec ts{};
    if (timeout_ms > 0) {
      const auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(until - Clock::now()).count();
      if (left <= 0) return;
      ts.tv_sec = static_cast<time_t>(left / 1000000000);
      ts.tv_nsec = static_cast<long>(left % 1000000000);
    }
    const uint32_t seen = wake_word_.load(std::memory_order_relaxed);
    std::shared_ptr<WakePipe> pipe = WakePipe::for_this_thread();
    reader_sleeps_ = true;
    sleeper_ = pipe;
    lk.unlock();
    if (pipe) {
      // Whole milliseconds, rounded up: the loop looks at the clock again after.
      const long long ms = timeout_ms > 0 ? (ts.tv_sec * 1000LL + (ts.tv_nsec + 999999) / 1000000) : -1;
      pipe->wait(static_cast<int>(ms));
    } else {
      futex_wait(&wake_word_, seen, timeout_ms > 0 ? &ts : nullptr);
    }
    lk.lock();
    reader_sleeps_ = false;
    sleeper_.reset();
  }
}

Status Subscriber::take(int timeout_ms) {
  constexpr size_t kTakeBatch = 64;
  std::unique_lock<std::mutex> lk(mu_);
  ++readers_;
  // Asked first: a wait reads the clock before it looks.
  if (!closed_ && dropped_ == 0 && queue_.empty()) {
    unsignal_locked();  // nothing waits, none taken: the descriptor says so
    if (timeout_ms != 0) sleep_locked(lk, timeout_ms);
  }
  Status st = Status::closed;
  if (!closed_) {
    while (taken_.size() < kTakeBatch) {
      MessagePtr m = pop_locked();
      if (!m) break;
      taken_.push_back(std::move(m));
    }
    st = taken_.empty() ? Status::timeout : Status::ok;
    taken_left_.store(!taken_.empty(), std::memory_order_relaxed);
  }
  // close() waits for readers to leave before its caller frees the handle.
  if (--readers_ == 0 && closed_) cv_.notify_all();
  return st;
}

// Takes up to `budget` messages under one lock, then runs the callbacks without it. A
// close from another thread waits for the batch (no callback runs once close returns);
// a close from inside a callback stops the batch at once.
bool Subscriber::deliver(int budget) {
  std::vector<MessagePtr> batch;
  {
    std::lock_guard<std::mutex> lk(mu_);
    while (!closed_ && static_cast<int>(batch.size()) < budget) {
      MessagePtr m = pop_locked();
      if (!m) break;
      batch.push_back(std::move(m));
    }
    if (batch.empty()) {
      scheduled_ = false;
      return false;
    }
    delivering_ = std::this_thread::get_id();
  }
  for (const MessagePtr &m : batch) {
    if (closing_.load(std::memory_order_acquire)) break;
    fn_(*m, ctx_);  // no lock held: the callback may subscribe, unsubscribe or close
  }
  std::lock_guard<std::mutex> lk(mu_);
  delivering_ = std::thread::id();
  cv_.notify_all();
  if (closed_ || (queue_.empty() && dropped_ == 0)) {
    scheduled_ = false;
    return false;
  }
  return true;
}

void Subscriber::mark_closed_locked() {
  closed_ = true;
  closing_.store(true, std::memory_order_release);
  queue_.clear();
  dropped_ = 0;
  // Readable for good: a loop waiting on the descriptor wakes and finds it closed.
  signal_locked();
}

void Subscriber::close() {
  {
    std::unique_lock<std::mutex> lk(mu_);
    const bool was_closed = closed_;
    mark_closed_locked();
    cv_.notify_all();
    wake_reader(std::exchange(sleeper_, nullptr));  // a reader asleep in next() wakes, sees closed_ and leaves
    // A callback running on another thread finishes first; from inside it, no waiting.
    const auto self = std::this_thread::get_id();
    cv_.wait(lk, [&] { return readers_ == 0 && (delivering_ == std::thread::id() || delivering_ == self); });
    if (was_closed) return;
  }
  pubsub_->forget(this);
  std::shared_ptr<Subscriber> me = shared_from_this();
  pubsub_->post([me](PubSubManager &m) { m.drop(me); });
}

void Subscriber::close_by_client() {
  std::lock_guard<std::mutex> lk(mu_);
  mark_closed_locked();
  cv_.notify_all();
  wake_reader(std::exchange(sleeper_, nullptr));
}

}  // namespace rcm::core
