#include "errors.h"

#include <string_view>
#include <utility>
#include <vector>

namespace rcm_py::errors {

namespace {

// Owned references, set once by install() and kept for the life of the process.
PyObject *g_status = nullptr;        // dict {int: class}
PyObject *g_response = nullptr;      // class
PyObject *g_data = nullptr;          // class
std::vector<std::pair<std::string, PyObject *>> g_prefixes;

PyObject *make(PyObject *cls, const char *message, size_t len) {
  PyObject *text = PyUnicode_DecodeUTF8(message, static_cast<Py_ssize_t>(len), "replace");
  if (text == nullptr) return nullptr;
  PyObject *exc = PyObject_CallOneArg(cls, text);
  Py_DECREF(text);
  return exc;
}

// The class of the first prefix that m starts with as whole words: "NOSCRIPT" matches
// "NOSCRIPT No matching script", "ERR invalid password" the reply of that text (redis-py
// maps some ERR replies by their words); nullptr for none.
PyObject *prefix_class(std::string_view m) {
  for (auto &p : g_prefixes) {
    const std::string &k = p.first;
    if (m.size() >= k.size() && m.compare(0, k.size(), k) == 0 && (m.size() == k.size() || m[k.size()] == ' '))
      return p.second;
  }
  return nullptr;
}

}  // namespace

bool install(PyObject *status_classes, PyObject *prefixes, PyObject *response_error, PyObject *data_error) {
  if (!PyDict_Check(status_classes) || !PyDict_Check(prefixes)) {
    PyErr_SetString(PyExc_TypeError, "status_classes and prefixes must be dicts");
    return false;
  }
  std::vector<std::pair<std::string, PyObject *>> pre;
  PyObject *key, *value;
  Py_ssize_t pos = 0;
  while (PyDict_Next(prefixes, &pos, &key, &value)) {
    Py_ssize_t n = 0;
    const char *k = PyUnicode_AsUTF8AndSize(key, &n);
    if (k == nullptr) return false;
    Py_INCREF(value);
    pre.emplace_back(std::string(k, static_cast<size_t>(n)), value);
  }
  for (auto &p : g_prefixes) Py_DECREF(p.second);
  g_prefixes = std::move(pre);
  Py_INCREF(status_classes);
  Py_XSETREF(g_status, status_classes);
  Py_INCREF(response_error);
  Py_XSETREF(g_response, response_error);
  Py_INCREF(data_error);
  Py_XSETREF(g_data, data_error);
  return true;
}

PyObject *for_status(rcm_status status, const char *message, size_t len) {
  PyObject *cls = nullptr;
  if (g_status != nullptr) {
    PyObject *code = PyLong_FromLong(status);
    if (code == nullptr) return nullptr;
    cls = PyDict_GetItemWithError(g_status, code);  // borrowed
    Py_DECREF(code);
    if (cls == nullptr && PyErr_Occurred()) return nullptr;
    if (cls == nullptr && status != RCM_ERR_INTERNAL) {  // a status newer than this package
      std::string m = std::string(rcm_status_name(status)) + " (" + std::to_string(status) + "): ";
      m.append(message, len);
      return for_status(RCM_ERR_INTERNAL, m.data(), m.size());
    }
  }
  if (cls == nullptr) cls = PyExc_RuntimeError;  // rcm.exceptions not installed yet
  // A LOADING reply retried until the deadline (engine_deadlines.cpp names the last reply
  // it got): redis-py's BusyLoadingError, which rcm's also derives from TimeoutError.
  static constexpr std::string_view kLastLoading = "the last reply was 'LOADING";
  if (status == RCM_ERR_TIMEOUT && std::string_view(message, len).find(kLastLoading) != std::string_view::npos) {
    PyObject *loading = prefix_class("LOADING");
    if (loading != nullptr) cls = loading;
  }
  std::string text;
  if (len == 0) {  // never raise an exception without words
    text = rcm_status_name(status);
    message = text.data();
    len = text.size();
  }
  return make(cls, message, len);
}

PyObject *for_server_error(const char *message, size_t len) {
  std::string_view m(message, len);
  PyObject *cls = g_response != nullptr ? g_response : PyExc_RuntimeError;
  PyObject *known = prefix_class(m);
  if (known != nullptr) cls = known;
  // redis-py (parse_error) drops these codes from the message: "ERR unknown command"
  // reads "unknown command"; the others (WRONGTYPE, MOVED...) keep theirs.
  size_t sp = m.find(' ');
  std::string_view code = m.substr(0, sp);
  static const std::string_view kStripped[] = {"ERR", "EXECABORT", "LOADING", "NOSCRIPT", "READONLY", "NOAUTH", "NOPERM"};
  if (sp != std::string_view::npos) {
    for (std::string_view s : kStripped) {
      if (code == s) {
        message += sp + 1;
        len -= sp + 1;
        break;
      }
    }
  }
  return make(cls, message, len);
}

PyObject *raise(rcm_status status, const std::string &message) {
  return raise_instance(for_status(status, message.data(), message.size()));
}

PyObject *raise_instance(PyObject *exc) {
  if (exc == nullptr) return nullptr;  // creating it failed: that error is set
  PyErr_SetObject(reinterpret_cast<PyObject *>(Py_TYPE(exc)), exc);
  Py_DECREF(exc);
  return nullptr;
}

void raise_data_error(PyObject *arg) {
  PyObject *cls = g_data != nullptr ? g_data : PyExc_TypeError;
  PyErr_Format(cls, "Invalid input of type: '%s'. Convert to a bytes, string, int or float first.",
               Py_TYPE(arg)->tp_name);
}

void raise_data_error(PyObject *arg, const char *why) {
  PyObject *cls = g_data != nullptr ? g_data : PyExc_TypeError;
  PyErr_Format(cls, "Invalid input of type: '%s': %s.", Py_TYPE(arg)->tp_name, why);
}

}  // namespace rcm_py::errors
