// Client.pipeline(): a batch of commands sent in order through one rcm_pipeline, every
// reply back in a list. The arguments are converted first, with the GIL; the batch is
// sent and waited for without it, inside the gate (close() ends the wait: gate.h).
#include <string>
#include <utility>
#include <vector>

#include "argv.h"
#include "client_internal.h"
#include "errors.h"

namespace rcm_py {

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
  if (enter_gate(c, &st, &err)) {
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

}  // namespace rcm_py
