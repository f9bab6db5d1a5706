// A thread's wake-up channel for sleeping in rcm_subscriber_next: a pipe, one per reader
// thread (made at its first sleep), not a futex. A write to a pipe wakes its reader as a
// "sync" wake-up (WF_SYNC): the scheduler may run the reader on the writer's CPU once the
// writer sleeps, which the I/O thread does right after it hands a batch over. A futex wake
// is not one, so on the 2-vCPU VM it sent the reader to the other, idle vCPU (an IPI and a
// halt exit per batch): rcm pull's client CPU per message 0.96-1.07x the hiredis
// subscriber's with the futex, 0.70-0.93x with the pipe, six alternating pairs
// (bench/README.md, Pub/Sub).
//
// Shared ownership: a waker takes its reference under the subscriber's lock and writes
// after releasing it, by which time the reader may have timed out and its thread ended.
#pragma once

#include <memory>

namespace rcm::core {

class WakePipe {
 public:
  // The calling thread's pipe; nullptr when none can be made (out of descriptors): the
  // caller sleeps another way then.
  static std::shared_ptr<WakePipe> for_this_thread();

  ~WakePipe();
  WakePipe(const WakePipe &) = delete;
  WakePipe &operator=(const WakePipe &) = delete;

  // Any thread: makes the next (or current) wait() return.
  void notify();
  // Owner thread: until notified, or timeout_ms passed (-1: no limit); a notify that came
  // before the call ends it at once. May return early: the caller looks again.
  void wait(int timeout_ms);

 private:
  WakePipe(int rd, int wr) : rd_(rd), wr_(wr) {}
  int rd_, wr_;
};

}  // namespace rcm::core
