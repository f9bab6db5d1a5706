// The extension types rcm._native.Client and rcm._native.Lease (Subscriber: subscriber.h), written against the
// CPython API directly (METH_FASTCALL, no pybind11 dispatch) because every command goes
// through them.
//
// Threads: a Client may be used from any number of Python threads. Arguments are
// converted with the GIL held, then the GIL is released for everything that can wait.
// rcm's I/O threads never take the GIL: sync waits are a futex baton, async completions
// go through a CompletionQueue. close() (also from dealloc, also from another thread)
// shuts a Gate so that rcm_client_close never overlaps another call on the handle.
#pragma once

#include <Python.h>

#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "completion_queue.h"
#include "gate.h"
#include "rcm/rcm.h"
#include "reply.h"

namespace rcm_py {

class Argv;
struct SyncWait;

// Incremented in the child after fork(): leases opened before it must not be used there.
unsigned fork_generation();

struct ClientCore {
  rcm_client *handle = nullptr;  // set at open; freed by close() (under close_mu)
  Gate gate;
  std::mutex close_mu;           // held for the whole of close()
  std::atomic<bool> closed{false};
  CompletionQueue queue;
  Decoding dec;
  unsigned fork_gen = fork_generation();
  int sync_spin_us = 200;        // the config's: how long a sync wait polls before it sleeps
  // cache.commands when the client-side cache is on (upper case; empty: off). A call of
  // one of these (sync or asyncio) first asks rcm_cache_get, which answers a hit at once
  // on the calling thread with the GIL held; rcm_command_async would complete a hit on an
  // I/O thread (a hand-off). A miss then goes the ordinary way.
  std::vector<std::string> cached_commands;

  // Whether av's command is one of cached_commands (cache.cpp).
  bool cacheable(const Argv &av) const;
  // The cache's entry for av (an owned reply), or NULL: a miss, or a closed client.
  // Does not block: called with the GIL held. (cache.cpp)
  rcm_reply *cache_get(const Argv &av);

  // All of these run without the GIL and return rcm's status with its message in *err.
  // Sends one command; *wait then completes (see SyncWait in sync_wait.h).
  // flags: RCM_CALL_* (0, or RCM_CALL_NO_CACHE: past the client-side cache).
  rcm_status start(const Argv &av, unsigned flags, SyncWait **wait, std::string *err);
  rcm_status submit(const Argv &av, unsigned flags, void *slot, std::string *err);
  rcm_status acquire(const char *key, size_t keylen, rcm_lease **out, std::string *err);
  void release(rcm_lease *lease);
  void close();
};

struct ClientObject {
  PyObject_HEAD
  ClientCore *core;
};

struct LeaseObject {
  PyObject_HEAD
  ClientObject *owner;            // strong reference: the client outlives its leases
  rcm_lease *lease;               // NULL once released
  unsigned fork_gen;
  std::atomic<bool> busy;         // one thread at a time, as rcm_lease requires
  bool interrupted;               // released because Ctrl-C cut a command short
};

// cache.commands, upper case, when cache.max_bytes turns the client-side cache on; else
// empty (cache.cpp).
std::vector<std::string> cached_commands_of(const rcm_config *cfg);

// Creates the types and adds them to the module. False with a Python error set.
bool add_types(PyObject *module);

// rcm._native.Client (set by add_types).
PyTypeObject *client_type();

// The extension type rcm._native.Subscriber (subscriber.cpp), added by add_types.
bool add_subscriber_type(PyObject *module);

}  // namespace rcm_py
