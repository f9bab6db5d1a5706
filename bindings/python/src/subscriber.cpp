// rcm._native.Subscriber: one rcm_subscriber in pull mode (no callback), the ground of
// rcm.PubSub and rcm.asyncio.PubSub. rcm keeps its subscriptions true across reconnects
// and failovers; this type only moves names in and messages out.
//
// Threads: subscribe/unsubscribe may come from any thread while another waits in next().
// Every call that touches the handle enters two gates: the subscriber's own (close() shuts
// it and waits, so rcm_subscriber_close never overlaps a call on the handle) and the
// client's (Client.close() waits for it, so rcm_client_close never overlaps one either).
// next() waits in slices of kSliceMs inside the gates, so a close from another thread
// waits at most one slice, and Ctrl-C is seen between slices. The GIL is released around
// every call into rcm; rcm never calls back into Python here (pull mode).
#include <Python.h>

#include <cstring>
#include <mutex>
#include <new>
#include <string>

#include "argv.h"
#include "client.h"
#include "errors.h"
#include "gate.h"
#include "reply.h"

namespace rcm_py {

namespace {

constexpr int kSliceMs = 100;  // how often a long next() looks at signals (and lets close in)
const char kSubClosed[] = "subscriber closed";
const char kClientClosed[] = "client closed";

struct SubCore {
  rcm_subscriber *handle = nullptr;  // NULL once closed; read inside the gate, taken under close_mu
  Gate gate;
  std::mutex close_mu;  // two closers (close() and dealloc, or two threads): one frees
  std::mutex read_mu;   // rcm_subscriber_next allows one thread at a time per subscriber
};

struct SubscriberObject {
  PyObject_HEAD
  ClientObject *owner;  // strong reference: the client outlives its subscribers
  SubCore *core;
  unsigned fork_gen;
};

PyTypeObject *g_subscriber_type = nullptr;

SubscriberObject *sub_of(PyObject *o) { return reinterpret_cast<SubscriberObject *>(o); }

bool forked(const SubscriberObject *s) { return s->fork_gen != fork_generation(); }

bool check_fork(const SubscriberObject *s) {
  if (!forked(s)) return true;
  errors::raise(RCM_ERR_FORK, "this PubSub was opened in another process (before fork); open a new one here");
  return false;
}

// Enters both gates (no GIL needed). RCM_ERR_CLOSED with *err when either is shut.
rcm_status enter(SubscriberObject *s, std::string *err) {
  if (!s->core->gate.enter()) {
    *err = kSubClosed;
    return RCM_ERR_CLOSED;
  }
  if (!s->owner->core->gate.enter()) {
    s->core->gate.leave();
    *err = kClientClosed;
    return RCM_ERR_CLOSED;
  }
  return RCM_OK;
}

void leave(SubscriberObject *s) {
  s->owner->core->gate.leave();
  s->core->gate.leave();
}

// Closes the handle once; without the GIL. In a forked child the handle (and rcm's
// threads) are the parent's: it is only forgotten.
void close_core(SubscriberObject *s) {
  SubCore *c = s->core;
  if (forked(s)) {
    c->gate.refuse();
    return;
  }
  c->gate.shut_and_wait();
  rcm_subscriber *h;
  {
    std::lock_guard<std::mutex> lk(c->close_mu);
    h = c->handle;
    c->handle = nullptr;
  }
  if (h == nullptr) return;
  ClientCore *cc = s->owner->core;
  if (cc->gate.enter()) {
    rcm_subscriber_close(h);
    cc->gate.leave();
    return;
  }
  // The client is closing or closed: its handle is gone or going, ours must still be
  // freed (rcm.h), after rcm_client_close at the earliest, which close_mu orders.
  std::lock_guard<std::mutex> lk(cc->close_mu);
  rcm_subscriber_close(h);
}

PyObject *Subscriber_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
  static const char *kwlist[] = {"client", nullptr};
  PyObject *client = nullptr;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!", const_cast<char **>(kwlist), client_type(), &client))
    return nullptr;
  auto *owner = reinterpret_cast<ClientObject *>(client);
  ClientCore *cc = owner->core;
  if (cc->fork_gen != fork_generation())
    return errors::raise(RCM_ERR_FORK, "this client was opened in another process (before fork); open a new one here");
  auto *self = reinterpret_cast<SubscriberObject *>(type->tp_alloc(type, 0));
  if (self == nullptr) return nullptr;
  try {
    self->core = new SubCore();
  } catch (const std::bad_alloc &) {
    Py_DECREF(self);
    return PyErr_NoMemory();
  }
  Py_INCREF(client);
  self->owner = owner;
  self->fork_gen = cc->fork_gen;
  rcm_subscriber *h = nullptr;
  rcm_status st;
  std::string err;
  Py_BEGIN_ALLOW_THREADS
  if (!cc->gate.enter()) {
    st = RCM_ERR_CLOSED;
    err = kClientClosed;
  } else {
    st = rcm_subscriber_open(cc->handle, nullptr, nullptr, &h);
    if (st != RCM_OK) err = rcm_last_error();
    cc->gate.leave();
  }
  Py_END_ALLOW_THREADS
  if (st != RCM_OK) {
    self->core->gate.refuse();  // nothing to close
    Py_DECREF(self);
    return errors::raise(st, err);
  }
  self->core->handle = h;
  return reinterpret_cast<PyObject *>(self);
}

void Subscriber_dealloc(PyObject *o) {
  SubscriberObject *s = sub_of(o);
  if (s->core != nullptr) {
    if (s->owner != nullptr) {
      Py_BEGIN_ALLOW_THREADS
      close_core(s);
      Py_END_ALLOW_THREADS
    }
    delete s->core;
  }
  Py_XDECREF(s->owner);
  PyTypeObject *tp = Py_TYPE(o);
  tp->tp_free(o);
  Py_DECREF(tp);
}

// (un)subscribe(kind, names): names a sequence of bytes/str/int..., or None for
// "every name of that kind" (unsubscribe only).
PyObject *change(PyObject *o, PyObject *const *args, Py_ssize_t nargs, bool add) {
  if (nargs != 2) {
    PyErr_SetString(PyExc_TypeError, add ? "subscribe(kind, names)" : "unsubscribe(kind, names_or_None)");
    return nullptr;
  }
  SubscriberObject *s = sub_of(o);
  if (!check_fork(s)) return nullptr;
  long kind = PyLong_AsLong(args[0]);
  if (kind == -1 && PyErr_Occurred()) return nullptr;
  ScopedArgv av;
  PyObject *seq = nullptr;  // av points into its items: kept until rcm copied them
  if (args[1] != Py_None || add) {
    seq = PySequence_Fast(args[1], "names must be a sequence");
    if (seq == nullptr) return nullptr;
    if (!av->add_all(PySequence_Fast_ITEMS(seq), PySequence_Fast_GET_SIZE(seq))) {
      Py_DECREF(seq);
      return nullptr;
    }
    if (av->size() == 0) {  // nothing named, nothing to do (n == 0 would mean "all")
      Py_DECREF(seq);
      Py_RETURN_NONE;
    }
  }
  rcm_status st;
  std::string err;
  Py_BEGIN_ALLOW_THREADS
  st = enter(s, &err);
  if (st == RCM_OK) {
    int n = static_cast<int>(av->size());
    st = add ? rcm_subscribe(s->core->handle, static_cast<int>(kind), n, av->argv(), av->lens())
             : rcm_unsubscribe(s->core->handle, static_cast<int>(kind), n, n ? av->argv() : nullptr,
                               n ? av->lens() : nullptr);
    if (st != RCM_OK) err = rcm_last_error();
    leave(s);
  }
  Py_END_ALLOW_THREADS
  Py_XDECREF(seq);
  if (st != RCM_OK) return errors::raise(st, err);
  Py_RETURN_NONE;
}

PyObject *Subscriber_subscribe(PyObject *o, PyObject *const *args, Py_ssize_t nargs) {
  return change(o, args, nargs, true);
}

PyObject *Subscriber_unsubscribe(PyObject *o, PyObject *const *args, Py_ssize_t nargs) {
  return change(o, args, nargs, false);
}

PyObject *text_or_none(const char *p, size_t n, const Decoding &d) {
  if (p == nullptr) Py_RETURN_NONE;
  return string_value(p, n, d);
}

// Interned: the keys and types of redis-py's message dicts (set by add_subscriber_type).
PyObject *s_type, *s_pattern, *s_channel, *s_data, *s_message, *s_pmessage, *s_smessage;

// A published message as redis-py's dict {'type', 'pattern', 'channel', 'data'}, built
// here because it is what a get_message() loop spends its time on.
PyObject *message_dict(const rcm_message *m, const Decoding &d) {
  PyObject *type = m->kind == RCM_SUB_PATTERN ? s_pmessage : m->kind == RCM_SUB_SHARD ? s_smessage : s_message;
  PyObject *channel = text_or_none(m->channel, m->channel_len, d);
  PyObject *pattern = channel != nullptr ? text_or_none(m->pattern, m->pattern_len, d) : nullptr;
  PyObject *data = pattern != nullptr ? text_or_none(m->payload, m->payload_len, d) : nullptr;
  PyObject *dict = data != nullptr ? PyDict_New() : nullptr;
  bool ok = dict != nullptr && PyDict_SetItem(dict, s_type, type) == 0 && PyDict_SetItem(dict, s_pattern, pattern) == 0 &&
            PyDict_SetItem(dict, s_channel, channel) == 0 && PyDict_SetItem(dict, s_data, data) == 0;
  Py_XDECREF(channel);
  Py_XDECREF(pattern);
  Py_XDECREF(data);
  if (!ok) Py_CLEAR(dict);
  return dict;
}

// Any other message: (type, kind, every_primary, channel, pattern, payload, node,
// gap_from_ms, gap_to_ms, dropped), strings as the client decodes bulk strings.
PyObject *message_tuple(const rcm_message *m, const Decoding &d) {
  PyObject *t = PyTuple_New(10);
  if (t == nullptr) return nullptr;
  PyObject *items[10] = {
      PyLong_FromLong(m->type),
      PyLong_FromLong(m->kind),
      PyBool_FromLong(m->every_primary),
      text_or_none(m->channel, m->channel_len, d),
      text_or_none(m->pattern, m->pattern_len, d),
      text_or_none(m->payload, m->payload_len, d),
      m->node != nullptr && m->type != RCM_MSG_MESSAGE ? PyUnicode_DecodeUTF8(m->node, strlen(m->node), "replace")
                                                       : (Py_INCREF(Py_None), Py_None),
      PyLong_FromLongLong(m->gap_from_ms),
      PyLong_FromLongLong(m->gap_to_ms),
      PyLong_FromUnsignedLongLong(m->dropped),
  };
  bool ok = true;
  for (int i = 0; i < 10; ++i) {
    if (items[i] == nullptr) ok = false;
    PyTuple_SET_ITEM(t, i, items[i] != nullptr ? items[i] : (Py_INCREF(Py_None), Py_None));
  }
  if (!ok) {
    Py_DECREF(t);
    return nullptr;
  }
  return t;
}

// next(timeout_ms) -> a published message as a dict, any other as a tuple, or None when
// none came in time (timeout_ms < 0: wait without limit, 0: do not wait). ClosedError
// once this subscriber or its client is closed.
PyObject *Subscriber_next(PyObject *o, PyObject *arg) {
  long timeout = PyLong_AsLong(arg);
  if (timeout == -1 && PyErr_Occurred()) return nullptr;
  SubscriberObject *s = sub_of(o);
  if (!check_fork(s)) return nullptr;
  long remaining = timeout < 0 ? -1 : timeout;
  rcm_message *msg = nullptr;
  for (;;) {
    int slice = (remaining < 0 || remaining > kSliceMs) ? kSliceMs : static_cast<int>(remaining);
    rcm_status st;
    std::string err;
    Py_BEGIN_ALLOW_THREADS
    {
      std::lock_guard<std::mutex> lk(s->core->read_mu);
      st = enter(s, &err);
      if (st == RCM_OK) {
        st = rcm_subscriber_next(s->core->handle, slice, &msg);
        if (st != RCM_OK && st != RCM_ERR_TIMEOUT) err = rcm_last_error();
        leave(s);
      }
    }
    Py_END_ALLOW_THREADS
    if (st == RCM_OK) break;
    if (st != RCM_ERR_TIMEOUT) {
      // A subscriber whose client closed reports it in the client's words.
      if (st == RCM_ERR_CLOSED && s->owner->core->gate.shut()) err = kClientClosed;
      return errors::raise(st, err);
    }
    if (remaining >= 0) {
      remaining -= slice;
      if (remaining <= 0) Py_RETURN_NONE;
    }
    if (PyErr_CheckSignals() != 0) return nullptr;
  }
  const Decoding &dec = s->owner->core->dec;
  PyObject *t = msg->type == RCM_MSG_MESSAGE ? message_dict(msg, dec) : message_tuple(msg, dec);
  rcm_message_free(msg);
  return t;
}

PyObject *Subscriber_fileno(PyObject *o, PyObject *) {
  SubscriberObject *s = sub_of(o);
  if (!check_fork(s)) return nullptr;
  int fd = -1;
  std::string err;
  rcm_status st = enter(s, &err);  // does not block: the GIL stays held
  if (st == RCM_OK) {
    st = rcm_subscriber_fd(s->core->handle, &fd);
    if (st != RCM_OK) err = rcm_last_error();
    leave(s);
  }
  if (st != RCM_OK) return errors::raise(st, err);
  return PyLong_FromLong(fd);
}

PyObject *Subscriber_close(PyObject *o, PyObject *) {
  SubscriberObject *s = sub_of(o);
  Py_BEGIN_ALLOW_THREADS
  close_core(s);
  Py_END_ALLOW_THREADS
  Py_RETURN_NONE;
}

PyObject *Subscriber_get_closed(PyObject *o, void *) {
  SubscriberObject *s = sub_of(o);
  return PyBool_FromLong(s->core->gate.shut() || s->owner->core->gate.shut());
}

#define FASTCALL(f) reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(f)), METH_FASTCALL

PyMethodDef subscriber_methods[] = {
    {"subscribe", FASTCALL(Subscriber_subscribe),
     "subscribe(kind, names): add names of an RCM_SUB_* kind (| RCM_SUB_EVERY_PRIMARY)."},
    {"unsubscribe", FASTCALL(Subscriber_unsubscribe),
     "unsubscribe(kind, names): remove names of that kind; None removes every one."},
    {"next", Subscriber_next, METH_O,
     "next(timeout_ms): the next message: a published one as redis-py's dict, any other as a tuple (type, "
     "kind, every_primary, channel, pattern, payload, node, gap_from_ms, gap_to_ms, dropped); None after "
     "timeout_ms (< 0: no limit)."},
    {"fileno", Subscriber_fileno, METH_NOARGS, "fileno(): a descriptor readable while messages wait."},
    {"close", Subscriber_close, METH_NOARGS, "close(): drop every subscription; idempotent, any thread."},
    {nullptr, nullptr, 0, nullptr}};

PyGetSetDef subscriber_getset[] = {
    {"closed", Subscriber_get_closed, nullptr, "True once this subscriber or its client is closed.", nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr}};

PyType_Slot subscriber_slots[] = {
    {Py_tp_new, reinterpret_cast<void *>(Subscriber_new)},
    {Py_tp_dealloc, reinterpret_cast<void *>(Subscriber_dealloc)},
    {Py_tp_methods, subscriber_methods},
    {Py_tp_getset, subscriber_getset},
    {Py_tp_doc, const_cast<char *>("Subscriber(client): an rcm_subscriber in pull mode.")},
    {0, nullptr}};

PyType_Spec subscriber_spec = {"rcm._native.Subscriber", sizeof(SubscriberObject), 0, Py_TPFLAGS_DEFAULT,
                               subscriber_slots};

}  // namespace

bool add_subscriber_type(PyObject *module) {
  PyObject **interned[] = {&s_type, &s_pattern, &s_channel, &s_data, &s_message, &s_pmessage, &s_smessage};
  const char *names[] = {"type", "pattern", "channel", "data", "message", "pmessage", "smessage"};
  for (size_t i = 0; i < sizeof names / sizeof *names; ++i)
    if ((*interned[i] = PyUnicode_InternFromString(names[i])) == nullptr) return false;
  g_subscriber_type = reinterpret_cast<PyTypeObject *>(PyType_FromSpec(&subscriber_spec));
  if (g_subscriber_type == nullptr) return false;
  Py_INCREF(g_subscriber_type);  // the module's reference is stolen; this one stays
  if (PyModule_AddObject(module, "Subscriber", reinterpret_cast<PyObject *>(g_subscriber_type)) < 0) return false;
  const std::pair<const char *, long> constants[] = {
      {"RCM_SUB_CHANNEL", RCM_SUB_CHANNEL},
      {"RCM_SUB_PATTERN", RCM_SUB_PATTERN},
      {"RCM_SUB_SHARD", RCM_SUB_SHARD},
      {"RCM_SUB_EVERY_PRIMARY", RCM_SUB_EVERY_PRIMARY},
      {"RCM_MSG_MESSAGE", RCM_MSG_MESSAGE},
      {"RCM_MSG_SUBSCRIBED", RCM_MSG_SUBSCRIBED},
      {"RCM_MSG_UNSUBSCRIBED", RCM_MSG_UNSUBSCRIBED},
      {"RCM_MSG_GAP", RCM_MSG_GAP},
      {"RCM_MSG_DROPPED", RCM_MSG_DROPPED},
  };
  for (const auto &c : constants)
    if (PyModule_AddIntConstant(module, c.first, c.second) < 0) return false;
  return true;
}

}  // namespace rcm_py
