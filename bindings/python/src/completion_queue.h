// Hands async completions from rcm's I/O threads to Python without the GIL: the
// callback appends to a mutex-protected vector and, when the vector was empty, writes an
// eventfd; Python (an asyncio reader on that fd, or an explicit drain) takes the whole
// vector at once with the GIL held. The I/O thread never waits for Python. (valkey-glide
// hands completions over the same way.)
#pragma once

#include <mutex>
#include <vector>

#include "rcm/rcm.h"

namespace rcm_py {

class CompletionQueue {
 public:
  struct Item {
    void *slot;           // what the submitter attached (an AsyncSlot)
    rcm_status status;
    rcm_reply *reply;     // owned; may be NULL, or carry rcm's message on failure
  };

  CompletionQueue();      // throws std::system_error when no eventfd can be made
  ~CompletionQueue();     // frees replies never taken (their slots are the owner's)
  CompletionQueue(const CompletionQueue &) = delete;
  CompletionQueue &operator=(const CompletionQueue &) = delete;

  int fd() const { return fd_; }

  // Any thread, callable from an rcm callback: never blocks for long, never on the GIL.
  void push(void *slot, rcm_status status, rcm_reply *reply);

  // Resets the eventfd, then takes everything queued (in this order, so a push racing
  // with take() is either taken now or signalled again).
  void take(std::vector<Item> &out);

 private:
  std::mutex mu_;
  std::vector<Item> items_;  // guarded by mu_
  int fd_;
};

}  // namespace rcm_py
