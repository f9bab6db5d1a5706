// A subscriber handle's core: what its owner wants is kept by the PubSubManager (engine
// 0's I/O thread); this holds what waits for delivery. The I/O thread pushes, never
// blocking: past pubsub.max_pending the oldest message is dropped and counted. A pull
// mode subscriber is read with next() (its fd() is readable while messages wait); a
// callback subscriber is served by the DeliveryPool, one thread at a time.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/common/status.h"
#include "core/pubsub/message.h"
#include "core/pubsub/wake_pipe.h"

namespace rcm::core {

class PubSub;

class Subscriber : public std::enable_shared_from_this<Subscriber> {
 public:
  // Runs on a delivery thread, one message at a time, in order.
  using DeliverFn = void (*)(const PubSubMessage &msg, void *ctx);

  // fn null: pull mode.
  Subscriber(std::shared_ptr<PubSub> pubsub, DeliverFn fn, void *ctx, size_t max_pending, uint64_t id);
  ~Subscriber();
  Subscriber(const Subscriber &) = delete;
  Subscriber &operator=(const Subscriber &) = delete;

  uint64_t id() const { return id_; }
  bool pull_mode() const { return fn_ == nullptr; }
  // Pull mode: a descriptor readable while messages wait (a pipe, made at the first ask;
  // throws Error(internal) when it cannot be). Kept in step with the queue only once asked
  // for (two system calls per batch that a subscriber read with next() alone does not need).
  int fd();
  bool closed() const;

  // Caller threads: hand what sub wants to the manager (never waits for the I/O thread).
  // Status::closed once closed (by the owner or with the client).
  Status subscribe(SubKind kind, bool every, std::vector<std::string> names);
  // names empty: every name of kind.
  Status unsubscribe(SubKind kind, bool every, std::vector<std::string> names, bool all);

  // Pull mode: the next message (nullptr and Status::timeout when none came in time).
  // timeout_ms -1: no limit. The fd() stays readable while messages wait, taken
  // from the queue or not.
  Status next(int timeout_ms, MessagePtr *out);

  // Closes: no callback runs once this returns (except the one it is called from), a
  // thread in next() returns Status::closed, the manager drops what it wanted.
  void close();
  // The client closed: as close(), but never waits (I/O thread) and tells no manager.
  void close_by_client();

  // I/O thread: gathers m for the queue (wake() hands what was gathered over, under one
  // lock). True when this starts an overflow episode (the first drop since the queue was
  // last empty), which the caller reports once (*node: the node of the message that
  // overflowed). *wake is set when the caller must call wake() later (once per batch of
  // pushes: a reader or a delivery thread is woken once for everything one loop
  // iteration read, not once per message).
  bool push(MessagePtr m, bool *wake, std::string *node);
  // I/O thread: queues what push() gathered and makes it visible (fd(), a waiting
  // reader, delivery). True and *node as for push().
  bool wake(std::string *node);
  // Delivery thread: runs the callback for up to `budget` messages. True when more wait
  // (the caller queues it again: other subscribers get their turn in between).
  bool deliver(int budget);
  size_t pending() const;

 private:
  MessagePtr pop_locked();
  bool hand_over_locked(std::string *node);
  // next(): moves up to a batch of what waits into taken_, waiting up to timeout_ms.
  Status take(int timeout_ms);
  // next(): sleeps (mu_ released meanwhile) until something waits, the subscriber is
  // closed or timeout_ms (-1: no limit) passed.
  void sleep_locked(std::unique_lock<std::mutex> &lk, int timeout_ms);
  // Wakes a reader asleep in next(); `pipe`: its pipe, taken from sleeper_ under mu_.
  void wake_reader(const std::shared_ptr<WakePipe> &pipe);
  void signal_locked();
  void unsignal_locked();
  void mark_closed_locked();

  std::shared_ptr<PubSub> pubsub_;
  const DeliverFn fn_;
  void *const ctx_;
  const size_t max_pending_;
  const uint64_t id_;
  int fd_read_ = -1, fd_write_ = -1;   // guarded by mu_: fd()'s pipe, readable while messages wait
  mutable std::mutex mu_;
  std::condition_variable cv_;         // close() waits on it for readers and a callback to leave
  std::deque<MessagePtr> queue_;       // guarded by mu_
  unsigned long long dropped_ = 0;     // guarded by mu_: not yet reported by a DROPPED
  bool overflowing_ = false;           // guarded by mu_: dropped since the queue was empty
  bool closed_ = false;                // guarded by mu_
  bool scheduled_ = false;             // guarded by mu_: in the delivery queue or being served
  bool signalled_ = false;             // guarded by mu_: the pipe holds a byte
  bool fd_wanted_ = false;             // guarded by mu_: fd() was asked for
  bool reader_sleeps_ = false;         // guarded by mu_: next() sleeps (on sleeper_, or wake_word_)
  std::shared_ptr<WakePipe> sleeper_;  // guarded by mu_: the sleeping reader's pipe (wake_pipe.h)
  std::atomic<uint32_t> wake_word_{0}; // a futex, where no pipe could be made: changed (and woken) for a reader that sleeps
  bool wake_pending_ = false;          // I/O thread only: pushed since the last wake()
  std::vector<MessagePtr> incoming_;   // I/O thread only: pushed, not yet queued
  std::atomic<bool> closing_{false};   // closed_, readable without mu_ between callbacks
  std::thread::id delivering_;         // guarded by mu_: the thread inside the callback
  int readers_ = 0;                    // guarded by mu_: threads inside next()
  std::mutex read_mu_;                 // next(): one reader at a time
  std::vector<MessagePtr> taken_;      // guarded by read_mu_: taken from queue_, handed out in order
  size_t taken_at_ = 0;                // guarded by read_mu_: the next one to hand out
  std::atomic<bool> taken_left_{false}; // some of taken_ not handed out yet (for fd())
};

}  // namespace rcm::core
