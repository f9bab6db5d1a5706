// rcm._native.Client: open (the config from a URL and items), the sync execute() family
// and routed commands, stats, close, and the type objects with add_types. The other
// methods live by concern (client_internal.h lists the files).
#include "client.h"

#include <pthread.h>

#include <cctype>
#include <cstdlib>
#include <new>
#include <system_error>

#include "argv.h"
#include "client_internal.h"
#include "errors.h"
#include "sync_wait.h"

namespace rcm_py {

PyObject *g_never_decode = nullptr;

namespace {

std::atomic<unsigned> g_fork_gen{0};
void on_fork_child() { g_fork_gen.fetch_add(1, std::memory_order_relaxed); }

PyTypeObject *g_client_type = nullptr;

PyObject *never_decode(PyObject *, PyObject *arg) {
  Py_INCREF(arg);
  return arg;
}

PyMethodDef never_decode_def = {"NEVER_DECODE", never_decode, METH_O,
                                "NEVER_DECODE(value) -> value; as a post, replies stay bytes."};

}  // namespace

unsigned fork_generation() { return g_fork_gen.load(std::memory_order_relaxed); }

PyTypeObject *client_type() { return g_client_type; }

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
  if (enter_gate(c, &st, &err)) {  // rcm_command_routed blocks: the gate stays entered until its deadline at most
    st = rcm_command_routed(c->handle, &route, static_cast<int>(av->size() - first), av->argv(first),
                            av->lens(first), &reply);
    if (st != RCM_OK) err = rcm_last_error();
    c->gate.leave();
  }
  Py_END_ALLOW_THREADS
  if (st != RCM_OK) return errors::raise(st, err);
  return reply_result(reply, c->dec);
}

PyObject *json_call(PyObject *o, rcm_status (*fn)(rcm_client *, char **)) {
  ClientCore *c = core_of(o);
  char *json = nullptr;
  rcm_status st;
  std::string err;
  Py_BEGIN_ALLOW_THREADS
  if (enter_gate(c, &st, &err)) {
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

// ---- type objects -------------------------------------------------------------------------

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

}  // namespace

bool add_types(PyObject *module) {
  static bool atfork = false;
  if (!atfork) {
    pthread_atfork(nullptr, nullptr, &on_fork_child);
    atfork = true;
  }
  if (!intern_future_methods()) return false;
  g_client_type = reinterpret_cast<PyTypeObject *>(PyType_FromSpec(&client_spec));
  if (g_client_type == nullptr) return false;
  PyTypeObject *lease_type = make_lease_type();
  if (lease_type == nullptr) return false;
  // The module keeps its own references; these two stay for the life of the process.
  Py_INCREF(g_client_type);
  Py_INCREF(lease_type);
  if (PyModule_AddObject(module, "Client", reinterpret_cast<PyObject *>(g_client_type)) < 0) return false;
  if (PyModule_AddObject(module, "Lease", reinterpret_cast<PyObject *>(lease_type)) < 0) return false;
  g_never_decode = PyCFunction_New(&never_decode_def, nullptr);
  if (g_never_decode == nullptr) return false;
  Py_INCREF(g_never_decode);  // kept for the identity comparisons (submit, pipeline)
  if (PyModule_AddObject(module, "NEVER_DECODE", g_never_decode) < 0) return false;
  return add_subscriber_type(module);
}

}  // namespace rcm_py
