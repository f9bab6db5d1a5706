// Client.submit() and Client.drain(): the ground of rcm.asyncio. submit() sends a command
// without waiting; rcm's I/O thread hands the completion to the client's CompletionQueue
// (no GIL there), and drain(), run by the event loop when fileno() is readable, settles
// each future with the GIL held. A cache hit settles its future at once, in submit().
#include <string>
#include <utility>
#include <vector>

#include "argv.h"
#include "client_internal.h"
#include "errors.h"

namespace rcm_py {

namespace {

struct AsyncSlot {
  CompletionQueue *queue;
  PyObject *future;  // owned; touched only with the GIL
  PyObject *post;    // owned or NULL: applied to the value before it is set
  bool bytes;        // NEVER_DECODE: bulk strings as bytes
};

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

}  // namespace

void async_done(rcm_status status, rcm_reply *reply, void *userdata) {
  auto *slot = static_cast<AsyncSlot *>(userdata);
  slot->queue->push(slot, status, reply);  // no GIL here: rcm's I/O thread
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

bool intern_future_methods() {
  s_done = PyUnicode_InternFromString("done");
  s_set_result = PyUnicode_InternFromString("set_result");
  s_set_exception = PyUnicode_InternFromString("set_exception");
  return s_done && s_set_result && s_set_exception;
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

}  // namespace rcm_py
