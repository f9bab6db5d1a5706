// ClientCore: everything that touches an rcm_client handle, called without the GIL. Each
// call enters the gate first, so close() (from another thread, or from dealloc) never
// frees the handle under it (gate.h); close() ends what waits inside the gate first.
#include <mutex>
#include <string>

#include "argv.h"
#include "client_internal.h"
#include "sync_wait.h"

namespace rcm_py {

namespace {

// rcm_command_async, with flags only when there are any: the plain call stays the path
// of every ordinary command.
rcm_status command_async(rcm_client *handle, unsigned flags, const Argv &av, rcm_callback cb, void *userdata) {
  int argc = static_cast<int>(av.size());
  if (flags == 0) return rcm_command_async(handle, argc, av.argv(), av.lens(), cb, userdata);
  return rcm_command_async_flags(handle, flags, argc, av.argv(), av.lens(), cb, userdata);
}

}  // namespace

rcm_status ClientCore::start(const Argv &av, unsigned flags, SyncWait **wait, std::string *err) {
  *wait = nullptr;
  if (!gate.enter()) {
    *err = kClosed;
    return RCM_ERR_CLOSED;
  }
  // Async + a wait of our own rather than rcm_command: the handle is used only while
  // submitting, so close() from another thread never waits for this reply (it completes
  // it instead), and the wait can stop for Ctrl-C.
  auto *w = new SyncWait();
  rcm_status st = command_async(handle, flags, av, &sync_done, w);
  if (st != RCM_OK) {
    *err = rcm_last_error();
    delete w;
  } else {
    *wait = w;
  }
  gate.leave();
  return st;
}

rcm_status ClientCore::submit(const Argv &av, unsigned flags, void *slot, std::string *err) {
  if (!gate.enter()) {
    *err = kClosed;
    return RCM_ERR_CLOSED;
  }
  rcm_status st = command_async(handle, flags, av, &async_done, slot);
  if (st != RCM_OK) *err = rcm_last_error();
  gate.leave();
  return st;
}

rcm_status ClientCore::acquire(const char *key, size_t keylen, rcm_lease **out, std::string *err) {
  *out = nullptr;
  if (!gate.enter()) {
    *err = kClosed;
    return RCM_ERR_CLOSED;
  }
  rcm_status st = rcm_lease_acquire(handle, key, keylen, out);
  if (st != RCM_OK) *err = rcm_last_error();
  gate.leave();
  return st;
}

void ClientCore::release(rcm_lease *lease) {
  if (forked(fork_gen)) return;  // the lease's connection and threads are the parent's
  if (gate.enter()) {
    rcm_lease_release(lease);
    gate.leave();
    return;
  }
  // close() is under way (it holds close_mu) or done: after it the release only frees.
  std::lock_guard<std::mutex> lk(close_mu);
  rcm_lease_release(lease);
}

void ClientCore::close() {
  std::lock_guard<std::mutex> lk(close_mu);
  if (forked(fork_gen)) {
    // Threads that were inside the gate at fork() do not exist here; rcm leaks its copy.
    if (handle != nullptr) rcm_client_close(handle);
    handle = nullptr;
    closed.store(true);
    return;
  }
  // Shut the client down before waiting: it ends what the callers inside the gate wait
  // for (a pipeline, a routed command) with "closed", so they leave at once, whatever
  // their deadline. The gate is shut first so that a call cut short (a lease's read
  // sees its connection go) knows the cause was close().
  gate.refuse();
  if (handle != nullptr) rcm_client_shutdown(handle);
  gate.shut_and_wait();
  if (handle != nullptr) rcm_client_close(handle);
  handle = nullptr;
  closed.store(true);
}

}  // namespace rcm_py
