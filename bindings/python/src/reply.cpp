#include "reply.h"

#include "errors.h"

namespace rcm_py {

namespace {

PyObject *text(const char *s, size_t n, const Decoding &d) {
  if (d.utf8_strict) return PyUnicode_DecodeUTF8(s, static_cast<Py_ssize_t>(n), "strict");
  return PyUnicode_Decode(s, static_cast<Py_ssize_t>(n), d.encoding.c_str(), d.errors.c_str());
}

PyObject *error_instance(const rcm_reply *reply) {
  size_t n = 0;
  const char *s = rcm_reply_string(reply, &n);
  rcm_status origin = rcm_reply_status(reply);
  if (origin != RCM_OK) return errors::for_status(origin, s, n);
  return errors::for_server_error(s, n);
}

}  // namespace

PyObject *string_value(const char *s, size_t n, const Decoding &d) {
  if (d.on) return text(s, n, d);
  return PyBytes_FromStringAndSize(s, static_cast<Py_ssize_t>(n));
}

PyObject *reply_value(const rcm_reply *reply, const Decoding &d) {
  switch (rcm_reply_type(reply)) {
    case RCM_REPLY_STRING: {
      size_t n = 0;
      const char *s = rcm_reply_string(reply, &n);
      return string_value(s, n, d);
    }
    case RCM_REPLY_INTEGER:
      return PyLong_FromLongLong(rcm_reply_integer(reply));
    case RCM_REPLY_NIL:
      Py_RETURN_NONE;
    case RCM_REPLY_STATUS: {
      size_t n = 0;
      const char *s = rcm_reply_string(reply, &n);
      return PyUnicode_DecodeUTF8(s, static_cast<Py_ssize_t>(n), "replace");
    }
    case RCM_REPLY_ERROR:
      return error_instance(reply);
    case RCM_REPLY_ARRAY:
    case RCM_REPLY_SET:
    case RCM_REPLY_PUSH:
    case RCM_REPLY_MAP: {
      size_t n = rcm_reply_length(reply);
      PyObject *list = PyList_New(static_cast<Py_ssize_t>(n));
      if (list == nullptr) return nullptr;
      for (size_t i = 0; i < n; ++i) {
        PyObject *v = reply_value(rcm_reply_element(reply, i), d);
        if (v == nullptr) {
          Py_DECREF(list);
          return nullptr;
        }
        PyList_SET_ITEM(list, static_cast<Py_ssize_t>(i), v);
      }
      return list;
    }
    default: {  // RESP3 kinds this version never produces; keep whatever text they carry
      size_t n = 0;
      const char *s = rcm_reply_string(reply, &n);
      if (s == nullptr) Py_RETURN_NONE;
      return PyBytes_FromStringAndSize(s, static_cast<Py_ssize_t>(n));
    }
  }
}

PyObject *reply_result(rcm_reply *reply, const Decoding &d) {
  PyObject *v = reply_value(reply, d);
  bool is_error = rcm_reply_type(reply) == RCM_REPLY_ERROR;
  rcm_reply_free(reply);
  if (v != nullptr && is_error) return errors::raise_instance(v);
  return v;
}

std::string failure_message(rcm_status status, rcm_reply *reply) {
  std::string m;
  if (reply != nullptr) {
    size_t n = 0;
    const char *s = rcm_reply_string(reply, &n);
    if (s != nullptr) m.assign(s, n);
    rcm_reply_free(reply);
  }
  if (m.empty()) m = rcm_status_name(status);
  return m;
}

}  // namespace rcm_py
