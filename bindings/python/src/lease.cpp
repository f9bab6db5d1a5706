// Client.lease() and rcm._native.Lease: an exclusive connection, for what needs one
// (WATCH/MULTI/EXEC, blocking commands, the pushes of MONITOR). A lease belongs to one
// thread at a time; its commands wait in slices like Client.execute() (sync_wait.h), and
// a command cut short by Ctrl-C costs the lease its connection, which still owes the reply.
#include <atomic>
#include <new>
#include <string>

#include "argv.h"
#include "client_internal.h"
#include "errors.h"
#include "sync_wait.h"

namespace rcm_py {

namespace {

PyTypeObject *g_lease_type = nullptr;

LeaseObject *lease_of(PyObject *o) { return reinterpret_cast<LeaseObject *>(o); }

// Gives l's connection back to the pool, the GIL released meanwhile; l is released from
// now on (cleared first, so no other thread can use it while the GIL is released).
void give_back(LeaseObject *l) {
  rcm_lease *lease = l->lease;
  l->lease = nullptr;
  ClientCore *c = l->owner->core;
  Py_BEGIN_ALLOW_THREADS
  c->release(lease);
  Py_END_ALLOW_THREADS
}

// Checks that the lease may be used now and marks it busy; nullptr-returning raise else.
bool lease_enter(LeaseObject *l) {
  if (l->lease == nullptr) {
    errors::raise(RCM_ERR_STATE, l->interrupted ? "the lease's connection was closed: a command on it was interrupted"
                                                : "the lease was released");
    return false;
  }
  if (forked(l->fork_gen)) {
    errors::raise(RCM_ERR_FORK, "this lease was acquired in another process (before fork); open a new client here");
    return false;
  }
  if (l->owner->core->gate.shut()) {
    errors::raise(RCM_ERR_CLOSED, kClosed);
    return false;
  }
  if (l->busy.exchange(true)) {
    errors::raise(RCM_ERR_STATE, "the lease is in use by another thread (a lease belongs to one thread at a time)");
    return false;
  }
  return true;
}

PyObject *lease_failure(LeaseObject *l, rcm_status st, const std::string &err) {
  // A command cut short by close() may report the broken connection; say what happened.
  if (st != RCM_ERR_CLOSED && l->owner->core->gate.shut()) return errors::raise(RCM_ERR_CLOSED, kClosed);
  return errors::raise(st, err);
}

// execute(*args) on a lease, bulk strings converted as dec says.
PyObject *lease_execute_as(PyObject *o, PyObject *const *args, Py_ssize_t nargs, const Decoding &dec) {
  LeaseObject *l = lease_of(o);
  if (!lease_enter(l)) return nullptr;
  ScopedArgv av(l->owner->core->dec);
  if (!av->add_all(args, nargs)) {
    l->busy.store(false);
    return nullptr;
  }
  rcm_reply *reply = nullptr;
  std::string err;
  auto *w = new SyncWait();
  ClientCore *c = l->owner->core;
  rcm_status st;
  bool done = false;
  Py_BEGIN_ALLOW_THREADS
  st = rcm_lease_command_async(l->lease, static_cast<int>(av->size()), av->argv(), av->lens(), &sync_done, w);
  if (st != RCM_OK)
    err = rcm_last_error();
  else
    done = w->baton.wait_for(c->sync_spin_us, kReadSliceMs);
  Py_END_ALLOW_THREADS
  if (st != RCM_OK) {
    delete w;
    l->busy.store(false);
    return lease_failure(l, st, err);
  }
  if (!done && !wait_more(w, [c] { return c->gate.shut(); })) {
    // Ctrl-C: the connection still owes this reply, so it cannot serve another command.
    // Released now, rcm closes it instead of reusing it; the reply is dropped when it comes.
    w->drop();
    l->interrupted = true;
    give_back(l);
    l->busy.store(false);
    return nullptr;
  }
  st = take_outcome(w, &reply, &err);
  l->busy.store(false);
  if (st != RCM_OK) return lease_failure(l, st, err);
  return reply_result(reply, dec);
}

PyObject *Lease_execute(PyObject *o, PyObject *const *args, Py_ssize_t nargs) {
  return lease_execute_as(o, args, nargs, lease_of(o)->owner->core->dec);
}

PyObject *Lease_execute_bytes(PyObject *o, PyObject *const *args, Py_ssize_t nargs) {
  return lease_execute_as(o, args, nargs, kBytes);
}

// read(timeout_ms) -> the next pushed message, or None when none came in time
// (timeout_ms < 0: wait without limit). Waits in slices so Ctrl-C and close() are seen.
PyObject *Lease_read(PyObject *o, PyObject *arg) {
  long timeout = PyLong_AsLong(arg);
  if (timeout == -1 && PyErr_Occurred()) return nullptr;
  LeaseObject *l = lease_of(o);
  if (!lease_enter(l)) return nullptr;
  long remaining = timeout < 0 ? -1 : timeout;
  rcm_reply *reply = nullptr;
  rcm_status st;
  std::string err;
  for (;;) {
    int slice = (remaining < 0 || remaining > kReadSliceMs) ? kReadSliceMs : static_cast<int>(remaining);
    Py_BEGIN_ALLOW_THREADS
    st = rcm_lease_read(l->lease, slice, &reply);
    if (st != RCM_OK && st != RCM_ERR_TIMEOUT) err = rcm_last_error();
    Py_END_ALLOW_THREADS
    if (st != RCM_ERR_TIMEOUT) break;
    if (remaining >= 0) {
      remaining -= slice;
      if (remaining <= 0) {
        l->busy.store(false);
        Py_RETURN_NONE;
      }
    }
    if (PyErr_CheckSignals() != 0 || l->owner->core->gate.shut()) {
      l->busy.store(false);
      if (PyErr_Occurred()) return nullptr;
      return errors::raise(RCM_ERR_CLOSED, kClosed);
    }
  }
  l->busy.store(false);
  if (st != RCM_OK) return lease_failure(l, st, err);
  return reply_result(reply, l->owner->core->dec);
}

PyObject *Lease_release(PyObject *o, PyObject *) {
  LeaseObject *l = lease_of(o);
  if (l->lease == nullptr) Py_RETURN_NONE;
  if (l->busy.load()) return errors::raise(RCM_ERR_STATE, "the lease is in use by another thread");
  give_back(l);
  Py_RETURN_NONE;
}

PyObject *Lease_get_released(PyObject *o, void *) { return PyBool_FromLong(lease_of(o)->lease == nullptr); }

void Lease_dealloc(PyObject *o) {
  LeaseObject *l = lease_of(o);
  if (l->lease != nullptr) give_back(l);
  Py_XDECREF(l->owner);
  PyTypeObject *tp = Py_TYPE(o);
  tp->tp_free(o);
  Py_DECREF(tp);
}

PyMethodDef lease_methods[] = {
    {"execute", FASTCALL(Lease_execute), "execute(*args): send one command on the lease and wait for its reply."},
    {"execute_bytes", FASTCALL(Lease_execute_bytes),
     "execute_bytes(*args): as execute(), bulk strings as bytes whatever decode_responses says."},
    {"read", Lease_read, METH_O, "read(timeout_ms): the next pushed message, or None after timeout_ms."},
    {"release", Lease_release, METH_NOARGS, "release(): give the connection back to the pool."},
    {nullptr, nullptr, 0, nullptr}};

PyGetSetDef lease_getset[] = {
    {"released", Lease_get_released, nullptr, "True once released.", nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr}};

PyType_Slot lease_slots[] = {
    {Py_tp_dealloc, reinterpret_cast<void *>(Lease_dealloc)},
    {Py_tp_methods, lease_methods},
    {Py_tp_getset, lease_getset},
    {Py_tp_doc, const_cast<char *>("An exclusive connection from Client.lease().")},
    {0, nullptr}};

#ifdef Py_TPFLAGS_DISALLOW_INSTANTIATION
constexpr unsigned kLeaseFlags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION;
#else
constexpr unsigned kLeaseFlags = Py_TPFLAGS_DEFAULT;  // a Lease() made by hand is only ever "released"
#endif
PyType_Spec lease_spec = {"rcm._native.Lease", sizeof(LeaseObject), 0, kLeaseFlags, lease_slots};

}  // namespace

// lease(key=None) -> Lease: an exclusive connection (to the node owning key).
PyObject *Client_lease(PyObject *o, PyObject *const *args, Py_ssize_t nargs) {
  if (nargs > 1) {
    PyErr_SetString(PyExc_TypeError, "lease(key=None) takes at most one argument");
    return nullptr;
  }
  ClientCore *c = core_of(o);
  ScopedArgv av(c->dec);
  if (nargs == 1 && args[0] != Py_None && !av->add(args[0])) return nullptr;
  const char *key = av->size() ? av->argv()[0] : nullptr;
  size_t keylen = av->size() ? av->lens()[0] : 0;
  rcm_lease *lease = nullptr;
  rcm_status st;
  std::string err;
  Py_BEGIN_ALLOW_THREADS
  st = c->acquire(key, keylen, &lease, &err);
  Py_END_ALLOW_THREADS
  if (st != RCM_OK) return errors::raise(st, err);
  auto *l = reinterpret_cast<LeaseObject *>(g_lease_type->tp_alloc(g_lease_type, 0));
  if (l == nullptr) {
    Py_BEGIN_ALLOW_THREADS
    c->release(lease);
    Py_END_ALLOW_THREADS
    return nullptr;
  }
  Py_INCREF(o);
  l->owner = reinterpret_cast<ClientObject *>(o);
  l->lease = lease;
  l->fork_gen = c->fork_gen;
  l->interrupted = false;
  new (&l->busy) std::atomic<bool>(false);
  return reinterpret_cast<PyObject *>(l);
}

PyTypeObject *make_lease_type() {
  g_lease_type = reinterpret_cast<PyTypeObject *>(PyType_FromSpec(&lease_spec));
  return g_lease_type;
}

}  // namespace rcm_py
