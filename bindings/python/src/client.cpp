#include "client.h"

#include <pthread.h>

#include <cctype>
#include <cstdlib>
#include <new>
#include <system_error>
#include <utility>
#include <vector>

#include "argv.h"
#include "baton.h"
#include "errors.h"

namespace rcm_py {

namespace {

std::atomic<unsigned> g_fork_gen{0};
void on_fork_child() { g_fork_gen.fetch_add(1, std::memory_order_relaxed); }

const char kClosed[] = "client closed";
constexpr int kReadSliceMs = 100;  // how often a long wait looks at signals and close()

PyTypeObject *g_client_type = nullptr;
PyTypeObject *g_lease_type = nullptr;

// NEVER_DECODE: a post that is the identity in Python; where the extension converts a
// reply for it (submit, pipeline) it also means "bulk strings as bytes whatever
// decode_responses says", as redis-py's NEVER_DECODE does for DUMP.
PyObject *g_never_decode = nullptr;
const Decoding kBytes;  // decode_responses off

PyObject *never_decode(PyObject *, PyObject *arg) {
  Py_INCREF(arg);
  return arg;
}

PyMethodDef never_decode_def = {"NEVER_DECODE", never_decode, METH_O,
                                "NEVER_DECODE(value) -> value; as a post, replies stay bytes."};

// ---- waiting for one reply without the GIL ------------------------------------------

}  // namespace

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

namespace {

void sync_done(rcm_status status, rcm_reply *reply, void *userdata) {
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
rcm_status take_outcome(SyncWait *w, rcm_reply **out, std::string *err) {
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

// ---- async: completions through the queue -----------------------------------------

struct AsyncSlot {
  CompletionQueue *queue;
  PyObject *future;  // owned; touched only with the GIL
  PyObject *post;    // owned or NULL: applied to the value before it is set
  bool bytes;        // NEVER_DECODE: bulk strings as bytes
};

void async_done(rcm_status status, rcm_reply *reply, void *userdata) {
  auto *slot = static_cast<AsyncSlot *>(userdata);
  slot->queue->push(slot, status, reply);  // no GIL here: rcm's I/O thread
}

PyObject *s_done, *s_set_result, *s_set_exception;  // interned method names

// The current Python error as an exception instance (new reference), error cleared.
PyObject *take_exception() {
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  PyErr_NormalizeException(&type, &value, &tb);
  if (tb != nullptr && value != nullptr) PyException_SetTraceback(value, tb);
  Py_XDECREF(type);
  Py_XDECREF(tb);
  return value;
}

// Sets the future's result or exception. A future already done was cancelled: the
// request still completed inside rcm, and its reply is dropped here. (Trying first and
// asking done() only on failure saves a call per completion.) Steals value/exc.
void settle(PyObject *future, PyObject *value, PyObject *exc) {
  PyObject *r = value != nullptr ? PyObject_CallMethodOneArg(future, s_set_result, value)
                                 : PyObject_CallMethodOneArg(future, s_set_exception, exc);
  if (r != nullptr) {
    Py_DECREF(r);
  } else {
    PyObject *type, *val, *tb;
    PyErr_Fetch(&type, &val, &tb);
    PyObject *done = PyObject_CallMethodNoArgs(future, s_done);
    if (done == Py_True) {  // cancelled meanwhile: nobody wants it
      Py_XDECREF(type);
      Py_XDECREF(val);
      Py_XDECREF(tb);
    } else {
      PyErr_Restore(type, val, tb);
      PyErr_WriteUnraisable(future);
    }
    if (done == nullptr) PyErr_Clear();
    Py_XDECREF(done);
  }
  Py_XDECREF(value);
  Py_XDECREF(exc);
}

void complete(const Decoding &dec, CompletionQueue::Item &item) {
  auto *slot = static_cast<AsyncSlot *>(item.slot);
  PyObject *value = nullptr, *exc = nullptr;
  if (item.status == RCM_OK) {
    bool is_error = rcm_reply_type(item.reply) == RCM_REPLY_ERROR;
    value = reply_value(item.reply, slot->bytes ? kBytes : dec);
    rcm_reply_free(item.reply);
    if (value == nullptr) {
      exc = take_exception();
    } else if (is_error) {
      std::swap(value, exc);
    } else if (slot->post != nullptr) {
      PyObject *v = PyObject_CallOneArg(slot->post, value);
      Py_DECREF(value);
      value = v;
      if (v == nullptr) exc = take_exception();
    }
  } else {
    std::string m = failure_message(item.status, item.reply);
    exc = errors::for_status(item.status, m.data(), m.size());
    if (exc == nullptr) exc = take_exception();
  }
  item.reply = nullptr;
  settle(slot->future, value, exc);
  Py_DECREF(slot->future);
  Py_XDECREF(slot->post);
  delete slot;
}

// Drops completions nobody will look at (the client is being destroyed).
void discard(CompletionQueue &q) {
  std::vector<CompletionQueue::Item> items;
  q.take(items);
  for (auto &item : items) {
    auto *slot = static_cast<AsyncSlot *>(item.slot);
    rcm_reply_free(item.reply);
    Py_DECREF(slot->future);
    Py_XDECREF(slot->post);
    delete slot;
  }
}

ClientCore *core_of(PyObject *o) { return reinterpret_cast<ClientObject *>(o)->core; }

bool forked(unsigned gen) { return gen != fork_generation(); }

}  // namespace

unsigned fork_generation() { return g_fork_gen.load(std::memory_order_relaxed); }

PyTypeObject *client_type() { return g_client_type; }

// ---- ClientCore: everything that touches the handle, without the GIL ----------------

namespace {

constexpr unsigned kNoCache = RCM_CALL_NO_CACHE;

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

// ---- Client: Python methods -----------------------------------------------------------

namespace {

bool decoding_from(const char *encoding, const char *errors_, Decoding *d) {
  PyObject *codec = PyCodec_Encoder(encoding);  // LookupError for an unknown encoding
  if (codec == nullptr) return false;
  Py_DECREF(codec);
  d->encoding = encoding;
  d->errors = errors_;
  std::string e;
  for (const char *p = encoding; *p; ++p) e += static_cast<char>(*p == '_' ? '-' : std::tolower(*p));
  d->utf8_strict = (e == "utf-8" || e == "utf8") && d->errors == "strict";
  return true;
}

// url and items (key, value) pairs -> a config; nullptr with ConfigError set.
rcm_config *build_config(PyObject *url, PyObject *items) {
  rcm_config *cfg = rcm_config_new();
  if (cfg == nullptr) {
    errors::raise(RCM_ERR_NOMEM, "out of memory");
    return nullptr;
  }
  auto fail = [cfg](rcm_status st) {
    std::string m = rcm_last_error();
    rcm_config_free(cfg);
    errors::raise(st, m);
    return nullptr;
  };
  if (url != Py_None) {
    const char *u = PyUnicode_AsUTF8(url);
    if (u == nullptr) {
      rcm_config_free(cfg);
      return nullptr;
    }
    if (rcm_status st = rcm_config_from_url(cfg, u)) return fail(st);
  }
  if (items != Py_None) {
    PyObject *seq = PySequence_Fast(items, "config must be a sequence of (key, value) pairs");
    if (seq == nullptr) {
      rcm_config_free(cfg);
      return nullptr;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    for (Py_ssize_t i = 0; i < n; ++i) {
      PyObject *pair = PySequence_Fast_GET_ITEM(seq, i);
      const char *k = nullptr, *v = nullptr;
      if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2 ||
          (k = PyUnicode_AsUTF8(PyTuple_GET_ITEM(pair, 0))) == nullptr ||
          (v = PyUnicode_AsUTF8(PyTuple_GET_ITEM(pair, 1))) == nullptr) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "config items must be (str, str) tuples");
        Py_DECREF(seq);
        rcm_config_free(cfg);
        return nullptr;
      }
      if (rcm_status st = rcm_config_set(cfg, k, v)) {
        Py_DECREF(seq);
        return fail(st);
      }
    }
    Py_DECREF(seq);
  }
  return cfg;
}

PyObject *Client_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
  static const char *kwlist[] = {"url", "config", "decode_responses", "encoding", "encoding_errors", nullptr};
  PyObject *url = Py_None, *items = Py_None;
  int decode = 0;
  const char *encoding = "utf-8", *encoding_errors = "strict";
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "|OOpss", const_cast<char **>(kwlist), &url, &items, &decode,
                                   &encoding, &encoding_errors))
    return nullptr;
  if (url != Py_None && !PyUnicode_Check(url)) {
    PyErr_SetString(PyExc_TypeError, "url must be a str or None");
    return nullptr;
  }
  Decoding dec;
  dec.on = decode != 0;
  if (!decoding_from(encoding, encoding_errors, &dec)) return nullptr;
  rcm_config *cfg = build_config(url, items);
  if (cfg == nullptr) return nullptr;

  auto *self = reinterpret_cast<ClientObject *>(type->tp_alloc(type, 0));
  if (self == nullptr) {
    rcm_config_free(cfg);
    return nullptr;
  }
  try {
    self->core = new ClientCore();
  } catch (const std::system_error &e) {
    rcm_config_free(cfg);
    Py_DECREF(self);
    errno = e.code().value();
    return PyErr_SetFromErrno(PyExc_OSError);
  } catch (const std::bad_alloc &) {
    rcm_config_free(cfg);
    Py_DECREF(self);
    return PyErr_NoMemory();
  }
  self->core->dec = dec;
  char *spin = nullptr;  // the client's sync_spin_us, for the waits in command()
  if (rcm_config_get(cfg, "sync_spin_us", &spin) == RCM_OK) {
    self->core->sync_spin_us = std::atoi(spin);
    rcm_free(spin);
  }
  self->core->cached_commands = cached_commands_of(cfg);
  rcm_client *handle = nullptr;
  rcm_status st;
  std::string err;
  Py_BEGIN_ALLOW_THREADS
  st = rcm_client_open(cfg, &handle);
  if (st != RCM_OK) err = rcm_last_error();
  rcm_config_free(cfg);
  Py_END_ALLOW_THREADS
  if (st != RCM_OK) {
    Py_DECREF(self);
    return errors::raise(st, err);
  }
  self->core->handle = handle;
  return reinterpret_cast<PyObject *>(self);
}

void Client_dealloc(PyObject *o) {
  ClientCore *c = core_of(o);
  if (c != nullptr) {
    Py_BEGIN_ALLOW_THREADS
    c->close();
    Py_END_ALLOW_THREADS
    discard(c->queue);
    delete c;
  }
  PyTypeObject *tp = Py_TYPE(o);
  tp->tp_free(o);
  Py_DECREF(tp);
}

// execute(*args) -> the reply, its bulk strings converted as d says; a server error
// reply is raised.
PyObject *execute_as(PyObject *o, PyObject *const *args, Py_ssize_t nargs, const Decoding &d, unsigned flags = 0) {
  ClientCore *c = core_of(o);
  ScopedArgv av(c->dec);
  if (!av->add_all(args, nargs)) return nullptr;
  // A hit comes back here, the GIL held: releasing and taking it again costs more than
  // the hit (and, with several threads, is a GIL hand-off per read). A miss goes the
  // ordinary way, which fills the cache (and waits in slices: Ctrl-C interrupts it).
  if (flags == 0 && c->cacheable(*av))
    if (rcm_reply *hit = c->cache_get(*av)) return reply_result(hit, d);
  rcm_reply *reply = nullptr;
  SyncWait *w = nullptr;
  std::string err;
  rcm_status st;
  bool done = false;
  Py_BEGIN_ALLOW_THREADS
  st = c->start(*av, flags, &w, &err);
  if (st == RCM_OK) done = w->baton.wait_for(c->sync_spin_us, kReadSliceMs);
  Py_END_ALLOW_THREADS
  if (st != RCM_OK) return errors::raise(st, err);
  if (!done && !wait_more(w, [] { return false; })) {
    w->drop();  // Ctrl-C: the request completes later, unseen
    return nullptr;
  }
  st = take_outcome(w, &reply, &err);
  if (st != RCM_OK) return errors::raise(st, err);
  return reply_result(reply, d);
}

PyObject *Client_execute(PyObject *o, PyObject *const *args, Py_ssize_t nargs) {
  return execute_as(o, args, nargs, core_of(o)->dec);
}

PyObject *Client_execute_bytes(PyObject *o, PyObject *const *args, Py_ssize_t nargs) {
  return execute_as(o, args, nargs, kBytes);
}

// execute_uncached(*args): as execute(), past the client-side cache (RCM_CALL_NO_CACHE).
PyObject *Client_execute_uncached(PyObject *o, PyObject *const *args, Py_ssize_t nargs) {
  return execute_as(o, args, nargs, core_of(o)->dec, kNoCache);
}

// execute_uncached_bytes(*args): execute_bytes() past the client-side cache.
PyObject *Client_execute_uncached_bytes(PyObject *o, PyObject *const *args, Py_ssize_t nargs) {
  return execute_as(o, args, nargs, kBytes, kNoCache);
}

// execute_routed(kind, target, *args) -> the reply of rcm_command_routed: kind is an
// RCM_ROUTE_* value, target the slot (int), key, or "host:port" it needs (else None).
PyObject *Client_execute_routed(PyObject *o, PyObject *const *args, Py_ssize_t nargs) {
  if (nargs < 2) {
    PyErr_SetString(PyExc_TypeError, "execute_routed(kind, target, *command)");
    return nullptr;
  }
  long kind = PyLong_AsLong(args[0]);
  if (kind == -1 && PyErr_Occurred()) return nullptr;
  ClientCore *c = core_of(o);
  ScopedArgv av(c->dec);
  rcm_route route{};
  route.kind = static_cast<rcm_route_kind>(kind);
  PyObject *target = args[1];
  if (kind == RCM_ROUTE_SLOT) {
    // Checked here, as a long long: a cast to int would send 2**32+5 to slot 5.
    int overflow = 0;
    long long slot = PyLong_AsLongLongAndOverflow(target, &overflow);
    if (slot == -1 && PyErr_Occurred()) return nullptr;
    if (overflow != 0 || slot < 0 || slot > 16383) {
      PyObject *r = PyObject_Repr(target);
      const char *text = r != nullptr ? PyUnicode_AsUTF8(r) : nullptr;
      std::string m = std::string("slot must be 0..16383, not ") + (text != nullptr ? text : "?");
      Py_XDECREF(r);
      PyErr_Clear();
      return errors::raise(RCM_ERR_ARG, m);
    }
    route.slot = static_cast<int>(slot);
  } else if (kind == RCM_ROUTE_KEY) {
    if (!av->add(target)) return nullptr;
  } else if (kind == RCM_ROUTE_NODE) {
    route.node = PyUnicode_Check(target) ? PyUnicode_AsUTF8(target) : nullptr;
    if (route.node == nullptr) {
      if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "a node route needs \"host:port\" as a str");
      return nullptr;
    }
  }
  size_t first = av->size();  // the key, if any, is av[0]; the command follows
  if (!av->add_all(args + 2, nargs - 2)) return nullptr;
  if (first == 1) {
    route.key = av->argv()[0];
    route.keylen = av->lens()[0];
  }
  rcm_reply *reply = nullptr;
  rcm_status st;
  std::string err;
  Py_BEGIN_ALLOW_THREADS
  if (!c->gate.enter()) {  // rcm_command_routed blocks: the gate stays entered until its deadline at most
    st = RCM_ERR_CLOSED;
    err = kClosed;
  } else {
    st = rcm_command_routed(c->handle, &route, static_cast<int>(av->size() - first), av->argv(first),
                            av->lens(first), &reply);
    if (st != RCM_OK) err = rcm_last_error();
    c->gate.leave();
  }
  Py_END_ALLOW_THREADS
  if (st != RCM_OK) return errors::raise(st, err);
  return reply_result(reply, c->dec);
}

// submit(future, post, *args): queues the command; drain() settles the future later.
PyObject *submit_as(PyObject *o, PyObject *const *args, Py_ssize_t nargs, unsigned flags) {
  if (nargs < 3) {
    PyErr_SetString(PyExc_TypeError, "submit(future, post, *command) needs a command");
    return nullptr;
  }
  ClientCore *c = core_of(o);
  ScopedArgv av(c->dec);
  if (!av->add_all(args + 2, nargs - 2)) return nullptr;
  PyObject *post = args[1] == Py_None ? nullptr : args[1];
  bool bytes = post == g_never_decode;
  if (bytes) post = nullptr;
  auto *slot = new AsyncSlot{&c->queue, args[0], post, bytes};
  Py_INCREF(slot->future);
  Py_XINCREF(post);
  // A cache hit settles the future now, on this thread: no I/O thread hand-off, no
  // eventfd wake-up of the loop (the await then returns without suspending).
  if (flags == 0 && c->cacheable(*av)) {
    if (rcm_reply *hit = c->cache_get(*av)) {
      CompletionQueue::Item item{slot, RCM_OK, hit};
      complete(c->dec, item);
      Py_RETURN_NONE;
    }
  }
  std::string err;
  rcm_status st = c->submit(*av, flags, slot, &err);  // does not wait: the GIL stays held
  if (st != RCM_OK) {
    Py_DECREF(slot->future);
    Py_XDECREF(post);
    delete slot;
    return errors::raise(st, err);
  }
  Py_RETURN_NONE;
}

PyObject *Client_submit(PyObject *o, PyObject *const *args, Py_ssize_t nargs) {
  return submit_as(o, args, nargs, 0);
}

// submit_uncached(future, post, *args): submit() past the client-side cache.
PyObject *Client_submit_uncached(PyObject *o, PyObject *const *args, Py_ssize_t nargs) {
  return submit_as(o, args, nargs, kNoCache);
}

// drain() -> number of completions settled.
PyObject *Client_drain(PyObject *o, PyObject *) {
  ClientCore *c = core_of(o);
  if (forked(c->fork_gen)) return PyLong_FromLong(0);  // the eventfd is shared with the parent
  std::vector<CompletionQueue::Item> items;
  c->queue.take(items);
  for (auto &item : items) complete(c->dec, item);
  return PyLong_FromSize_t(items.size());
}

PyObject *Client_fileno(PyObject *o, PyObject *) { return PyLong_FromLong(core_of(o)->queue.fd()); }

// pipeline(commands, posts=None) -> list of replies in order; error replies are exception
// instances; posts[i], when not None, is applied to reply i (unless it is an error).
PyObject *Client_pipeline(PyObject *o, PyObject *const *args, Py_ssize_t nargs) {
  if (nargs < 1 || nargs > 2) {
    PyErr_SetString(PyExc_TypeError, "pipeline(commands, posts=None)");
    return nullptr;
  }
  PyObject *commands = args[0];
  PyObject *posts = nargs == 2 && args[1] != Py_None ? args[1] : nullptr;
  if (posts != nullptr && !PyList_Check(posts)) {
    PyErr_SetString(PyExc_TypeError, "posts must be a list or None");
    return nullptr;
  }
  ClientCore *c = core_of(o);
  PyObject *seq = PySequence_Fast(commands, "commands must be a sequence of argument tuples");
  if (seq == nullptr) return nullptr;
  Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
  if (n == 0) {
    Py_DECREF(seq);
    return PyList_New(0);
  }
  ScopedArgv av(c->dec);
  std::vector<std::pair<size_t, size_t>> spans;
  std::vector<PyObject *> keep;  // argument sequences whose items av points into
  spans.reserve(static_cast<size_t>(n));
  auto cleanup = [&] {
    for (PyObject *k : keep) Py_DECREF(k);
    Py_DECREF(seq);
  };
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject *cmd = PySequence_Fast(PySequence_Fast_GET_ITEM(seq, i), "each command must be a sequence of arguments");
    if (cmd == nullptr) {
      cleanup();
      return nullptr;
    }
    keep.push_back(cmd);
    size_t from = av->size();
    Py_ssize_t argc = PySequence_Fast_GET_SIZE(cmd);
    if (!av->add_all(PySequence_Fast_ITEMS(cmd), argc)) {
      cleanup();
      return nullptr;
    }
    spans.emplace_back(from, static_cast<size_t>(argc));
  }
  rcm_reply **replies = nullptr;
  size_t count = 0;
  rcm_status st = RCM_OK;
  std::string err;
  Py_BEGIN_ALLOW_THREADS
  if (!c->gate.enter()) {
    st = RCM_ERR_CLOSED;
    err = kClosed;
  } else {
    rcm_pipeline *p = nullptr;
    st = rcm_pipeline_new(c->handle, &p);
    for (size_t i = 0; st == RCM_OK && i < spans.size(); ++i)
      st = rcm_pipeline_append(p, static_cast<int>(spans[i].second), av->argv(spans[i].first),
                               av->lens(spans[i].first));
    if (st == RCM_OK) st = rcm_pipeline_exec(p, &replies, &count);
    if (st != RCM_OK) err = rcm_last_error();
    rcm_pipeline_free(p);
    c->gate.leave();
  }
  Py_END_ALLOW_THREADS
  cleanup();
  if (st != RCM_OK) return errors::raise(st, err);
  PyObject *list = PyList_New(static_cast<Py_ssize_t>(count));
  for (size_t i = 0; i < count; ++i) {
    PyObject *v = nullptr;
    if (list != nullptr) {
      PyObject *post = posts != nullptr && static_cast<Py_ssize_t>(i) < PyList_GET_SIZE(posts)
                           ? PyList_GET_ITEM(posts, static_cast<Py_ssize_t>(i))
                           : Py_None;
      bool bytes = post == g_never_decode;
      v = reply_value(replies[i], bytes ? kBytes : c->dec);
      if (v != nullptr && post != Py_None && !bytes && rcm_reply_type(replies[i]) != RCM_REPLY_ERROR) {
        Py_INCREF(post);  // the post may run Python code that changes the list
        PyObject *w = PyObject_CallOneArg(post, v);
        Py_DECREF(post);
        Py_DECREF(v);
        v = w;
      }
    }
    rcm_reply_free(replies[i]);
    if (v == nullptr && list != nullptr) Py_CLEAR(list);
    if (list != nullptr) PyList_SET_ITEM(list, static_cast<Py_ssize_t>(i), v);
  }
  rcm_free(replies);
  return list;
}

PyObject *json_call(PyObject *o, rcm_status (*fn)(rcm_client *, char **)) {
  ClientCore *c = core_of(o);
  char *json = nullptr;
  rcm_status st;
  std::string err;
  Py_BEGIN_ALLOW_THREADS
  if (!c->gate.enter()) {
    st = RCM_ERR_CLOSED;
    err = kClosed;
  } else {
    st = fn(c->handle, &json);
    if (st != RCM_OK) err = rcm_last_error();
    c->gate.leave();
  }
  Py_END_ALLOW_THREADS
  if (st != RCM_OK) return errors::raise(st, err);
  PyObject *s = PyUnicode_FromString(json);
  rcm_free(json);
  return s;
}

PyObject *Client_stats_json(PyObject *o, PyObject *) { return json_call(o, &rcm_client_stats_json); }
PyObject *Client_topology_json(PyObject *o, PyObject *) { return json_call(o, &rcm_client_topology_json); }

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

PyObject *Client_close(PyObject *o, PyObject *) {
  ClientCore *c = core_of(o);
  Py_BEGIN_ALLOW_THREADS
  c->close();
  Py_END_ALLOW_THREADS
  Py_RETURN_NONE;
}

PyObject *Client_get_closed(PyObject *o, void *) {
  ClientCore *c = core_of(o);
  return PyBool_FromLong(c->closed.load() || c->gate.shut());
}

PyObject *Client_get_decode(PyObject *o, void *) { return PyBool_FromLong(core_of(o)->dec.on); }

// ---- Lease ------------------------------------------------------------------------------

LeaseObject *lease_of(PyObject *o) { return reinterpret_cast<LeaseObject *>(o); }

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
    rcm_lease *lease = l->lease;
    l->lease = nullptr;
    l->interrupted = true;
    Py_BEGIN_ALLOW_THREADS
    c->release(lease);
    Py_END_ALLOW_THREADS
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
  rcm_lease *lease = l->lease;
  l->lease = nullptr;
  ClientCore *c = l->owner->core;
  Py_BEGIN_ALLOW_THREADS
  c->release(lease);
  Py_END_ALLOW_THREADS
  Py_RETURN_NONE;
}

PyObject *Lease_get_released(PyObject *o, void *) { return PyBool_FromLong(lease_of(o)->lease == nullptr); }

void Lease_dealloc(PyObject *o) {
  LeaseObject *l = lease_of(o);
  if (l->lease != nullptr) {
    rcm_lease *lease = l->lease;
    l->lease = nullptr;
    ClientCore *c = l->owner->core;
    Py_BEGIN_ALLOW_THREADS
    c->release(lease);
    Py_END_ALLOW_THREADS
  }
  Py_XDECREF(l->owner);
  PyTypeObject *tp = Py_TYPE(o);
  tp->tp_free(o);
  Py_DECREF(tp);
}

// ---- type objects -------------------------------------------------------------------------

#define FASTCALL(f) reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(f)), METH_FASTCALL

PyMethodDef client_methods[] = {
    {"execute", FASTCALL(Client_execute), "execute(*args): send one command, wait, return its reply."},
    {"execute_bytes", FASTCALL(Client_execute_bytes),
     "execute_bytes(*args): as execute(), bulk strings as bytes whatever decode_responses says."},
    {"execute_routed", FASTCALL(Client_execute_routed),
     "execute_routed(kind, target, *args): send one command where an RCM_ROUTE_* route says."},
    {"submit", FASTCALL(Client_submit),
     "submit(future, post, *args): send one command without waiting; drain() settles future."},
    {"execute_uncached", FASTCALL(Client_execute_uncached),
     "execute_uncached(*args): as execute(), past the client-side cache (RCM_CALL_NO_CACHE)."},
    {"execute_uncached_bytes", FASTCALL(Client_execute_uncached_bytes),
     "execute_uncached_bytes(*args): as execute_bytes(), past the client-side cache."},
    {"submit_uncached", FASTCALL(Client_submit_uncached),
     "submit_uncached(future, post, *args): as submit(), past the client-side cache."},
    {"drain", Client_drain, METH_NOARGS, "drain(): settle the futures of every completed submit()."},
    {"fileno", Client_fileno, METH_NOARGS, "fileno(): the eventfd that becomes readable when drain() has work."},
    {"pipeline", FASTCALL(Client_pipeline),
     "pipeline(commands, posts=None): send a batch in order, return every reply (posts applied)."},
    {"lease", FASTCALL(Client_lease), "lease(key=None): take an exclusive connection."},
    {"stats_json", Client_stats_json, METH_NOARGS, "stats_json(): the client's statistics as JSON text."},
    {"topology_json", Client_topology_json, METH_NOARGS, "topology_json(): the topology as JSON text."},
    {"close", Client_close, METH_NOARGS, "close(): complete everything pending with ClosedError and stop."},
    {nullptr, nullptr, 0, nullptr}};

PyGetSetDef client_getset[] = {
    {"closed", Client_get_closed, nullptr, "True once close() began.", nullptr},
    {"decode_responses", Client_get_decode, nullptr, "Whether bulk strings come back as str.", nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr}};

PyType_Slot client_slots[] = {
    {Py_tp_new, reinterpret_cast<void *>(Client_new)},
    {Py_tp_dealloc, reinterpret_cast<void *>(Client_dealloc)},
    {Py_tp_methods, client_methods},
    {Py_tp_getset, client_getset},
    {Py_tp_doc, const_cast<char *>("Client(url=None, config=(), decode_responses=False, encoding='utf-8', "
                                   "encoding_errors='strict'): an open rcm_client.")},
    {0, nullptr}};

PyType_Spec client_spec = {"rcm._native.Client", sizeof(ClientObject), 0, Py_TPFLAGS_DEFAULT, client_slots};

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

bool add_types(PyObject *module) {
  static bool atfork = false;
  if (!atfork) {
    pthread_atfork(nullptr, nullptr, &on_fork_child);
    atfork = true;
  }
  s_done = PyUnicode_InternFromString("done");
  s_set_result = PyUnicode_InternFromString("set_result");
  s_set_exception = PyUnicode_InternFromString("set_exception");
  if (!s_done || !s_set_result || !s_set_exception) return false;
  g_client_type = reinterpret_cast<PyTypeObject *>(PyType_FromSpec(&client_spec));
  if (g_client_type == nullptr) return false;
  g_lease_type = reinterpret_cast<PyTypeObject *>(PyType_FromSpec(&lease_spec));
  if (g_lease_type == nullptr) return false;
  // The module keeps its own references; these two stay for the life of the process.
  Py_INCREF(g_client_type);
  Py_INCREF(g_lease_type);
  if (PyModule_AddObject(module, "Client", reinterpret_cast<PyObject *>(g_client_type)) < 0) return false;
  if (PyModule_AddObject(module, "Lease", reinterpret_cast<PyObject *>(g_lease_type)) < 0) return false;
  g_never_decode = PyCFunction_New(&never_decode_def, nullptr);
  if (g_never_decode == nullptr) return false;
  Py_INCREF(g_never_decode);  // kept for the identity comparisons above
  if (PyModule_AddObject(module, "NEVER_DECODE", g_never_decode) < 0) return false;
  return add_subscriber_type(module);
}

}  // namespace rcm_py
