// What the pieces of rcm._native.Client and Lease share, and no one else uses:
//   client.cpp       the Client type: open, execute (sync), routed commands, close, the
//                    type objects and add_types
//   client_core.cpp  ClientCore: every call that touches the handle, behind the gate
//   async.cpp        submit() and drain(): commands whose replies settle asyncio futures
//   pipeline.cpp     pipeline(): a batch sent in order, every reply back
//   lease.cpp        Client.lease() and the Lease type
// (sync_wait.h: the sliced wait for one reply; cache.cpp: the client-side cache's hits.)
#pragma once

#include <Python.h>

#include <string>

#include "client.h"
#include "completion_queue.h"
#include "rcm/rcm.h"
#include "reply.h"

namespace rcm_py {

constexpr char kClosed[] = "client closed";
constexpr unsigned kNoCache = RCM_CALL_NO_CACHE;

// NEVER_DECODE: a post that is the identity in Python; where the extension converts a
// reply for it (submit, pipeline) it also means "bulk strings as bytes whatever
// decode_responses says", as redis-py's NEVER_DECODE does for DUMP. (Made by add_types.)
extern PyObject *g_never_decode;
inline const Decoding kBytes;  // decode_responses off

inline ClientCore *core_of(PyObject *o) { return reinterpret_cast<ClientObject *>(o)->core; }

inline bool forked(unsigned gen) { return gen != fork_generation(); }

// Enters c's gate for a call on the handle (without the GIL; the caller leaves it).
// Once close() has shut the gate: false, with *st and *err saying the client is closed.
inline bool enter_gate(ClientCore *c, rcm_status *st, std::string *err) {
  if (c->gate.enter()) return true;
  *st = RCM_ERR_CLOSED;
  *err = kClosed;
  return false;
}

// ---- async.cpp --------------------------------------------------------------------------

// The rcm callback of a submit(): hands the completion to the client's queue.
void async_done(rcm_status status, rcm_reply *reply, void *userdata);
// Drops completions nobody will look at (the client is being destroyed).
void discard(CompletionQueue &q);
// Interns the future's method names; false with a Python error set.
bool intern_future_methods();

// ---- lease.cpp ----------------------------------------------------------------------------

// Creates rcm._native.Lease (a new reference); nullptr with a Python error set.
PyTypeObject *make_lease_type();

// ---- Client methods defined outside client.cpp, for its method table ----------------------

PyObject *Client_submit(PyObject *o, PyObject *const *args, Py_ssize_t nargs);
PyObject *Client_submit_uncached(PyObject *o, PyObject *const *args, Py_ssize_t nargs);
PyObject *Client_drain(PyObject *o, PyObject *);
PyObject *Client_fileno(PyObject *o, PyObject *);
PyObject *Client_pipeline(PyObject *o, PyObject *const *args, Py_ssize_t nargs);
PyObject *Client_lease(PyObject *o, PyObject *const *args, Py_ssize_t nargs);

#define FASTCALL(f) reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(f)), METH_FASTCALL

}  // namespace rcm_py
