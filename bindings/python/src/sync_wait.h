// Waiting for one command's reply without the GIL, interruptibly: the sync execute() of
// Client (client.cpp, through ClientCore::start) and of Lease (lease.cpp). Header only,
// like gate.h: the wait is the hot path of every sync command.
#pragma once

#include <Python.h>

#include <atomic>
#include <string>

#include "baton.h"
#include "rcm/rcm.h"
#include "reply.h"

namespace rcm_py {

constexpr int kReadSliceMs = 100;  // how often a long wait looks at signals and close()

// One request's outcome, shared by the waiting thread and the I/O thread's callback. The
// waiter wakes every kReadSliceMs to look at signals (Ctrl-C must interrupt a command
// without a deadline: command_timeout_ms=0, BLPOP k 0); when it gives up, the callback
// still comes later and the last of the two frees the wait and the reply nobody took.
struct SyncWait {
  Baton baton;
  std::atomic<int> refs{2};    // the waiter's and the callback's
  rcm_status status = RCM_OK;  // written before baton.post()
  rcm_reply *reply = nullptr;  // written before baton.post(); the waiter takes it or not

  void drop() {
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      rcm_reply_free(reply);
      delete this;
    }
  }
};

inline void sync_done(rcm_status status, rcm_reply *reply, void *userdata) {
  auto *w = static_cast<SyncWait *>(userdata);
  w->status = status;
  w->reply = reply;
  w->baton.post();
  w->drop();
}

// Goes on waiting for w after a first slice (waited by the caller without the GIL, with
// the submission: sending while holding the GIL would make every other thread wait for
// the syscall). GIL held on entry and exit, released meanwhile; checks signals (and, for
// a lease, whether the client was closed: stop() true) between slices. False with the
// Python error set when a signal handler raised: the caller then abandons w.
template <class Stop>
bool wait_more(SyncWait *w, Stop stop) {
  bool done = false;
  while (!done) {
    if (PyErr_CheckSignals() != 0) return false;
    if (stop()) {
      Py_BEGIN_ALLOW_THREADS
      w->baton.wait(0);  // close() completes what it ends at once
      Py_END_ALLOW_THREADS
      return true;
    }
    Py_BEGIN_ALLOW_THREADS
    done = w->baton.wait_for(0, kReadSliceMs);
    Py_END_ALLOW_THREADS
  }
  return true;
}

// The outcome of a completed wait: RCM_OK with *out, or the failure with its message.
inline rcm_status take_outcome(SyncWait *w, rcm_reply **out, std::string *err) {
  rcm_status st = w->status;
  if (st != RCM_OK) {
    *err = failure_message(st, w->reply);  // frees the reply
  } else {
    *out = w->reply;
  }
  w->reply = nullptr;
  w->drop();
  return st;
}

}  // namespace rcm_py
