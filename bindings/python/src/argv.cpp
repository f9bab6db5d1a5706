#include "argv.h"

#include <cstdio>
#include <cstring>

#include "errors.h"

namespace rcm_py {

char *Arena::alloc(size_t n) {
  while (chunk_ < chunks_.size() && used_ + n > sizes_[chunk_]) {
    ++chunk_;
    used_ = 0;
  }
  if (chunk_ == chunks_.size()) {
    size_t size = n > kChunk ? n : kChunk;
    chunks_.emplace_back(new char[size]);
    sizes_.push_back(size);
    used_ = 0;
  }
  char *p = chunks_[chunk_].get() + used_;
  used_ += n;
  return p;
}

void Arena::reset() {
  chunk_ = 0;
  used_ = 0;
}

void Arena::trim(size_t keep) {
  reset();
  if (held() <= keep) return;
  chunks_.resize(1);
  sizes_.resize(1);
  if (sizes_[0] > kChunk) {  // one huge argument: keep an ordinary chunk instead
    chunks_[0].reset(new char[kChunk]);
    sizes_[0] = kChunk;
  }
}

size_t Arena::held() const {
  size_t n = 0;
  for (size_t s : sizes_) n += s;
  return n;
}

bool Argv::add(PyObject *o) {
  PyTypeObject *t = Py_TYPE(o);
  if (t == &PyBytes_Type) {
    push(PyBytes_AS_STRING(o), static_cast<size_t>(PyBytes_GET_SIZE(o)));
    return true;
  }
  if (t == &PyUnicode_Type) return add_text(o);
  if (t == &PyLong_Type) return add_long(o);
  return add_slow(o);
}

bool Argv::add_all(PyObject *const *objs, Py_ssize_t n) {
  for (Py_ssize_t i = 0; i < n; ++i)
    if (!add(objs[i])) return false;
  return true;
}

bool Argv::add_text(PyObject *s) {
  if (enc_ != nullptr) {  // the client's encoding: encoded once into a bytes kept until release()
    PyObject *b = PyUnicode_AsEncodedString(s, enc_->encoding.c_str(), enc_->errors.c_str());
    if (b == nullptr) return false;
    temps_.push_back(b);
    push(PyBytes_AS_STRING(b), static_cast<size_t>(PyBytes_GET_SIZE(b)));
    return true;
  }
  Py_ssize_t n = 0;
  const char *p = PyUnicode_AsUTF8AndSize(s, &n);  // cached in the str: lives as long as it
  if (p == nullptr) return false;
  push(p, static_cast<size_t>(n));
  return true;
}

bool Argv::add_long(PyObject *o) {
  int overflow = 0;
  long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
  if (v == -1 && PyErr_Occurred()) return false;
  if (overflow) {
    PyObject *s = PyObject_Str(o);
    if (s == nullptr) return false;
    temps_.push_back(s);
    return add_text(s);
  }
  char *buf = arena_.alloc(24);
  int n = std::snprintf(buf, 24, "%lld", v);
  push(buf, static_cast<size_t>(n));
  return true;
}

bool Argv::add_slow(PyObject *o) {
  if (PyBool_Check(o) || o == Py_None) {
    errors::raise_data_error(o);
    return false;
  }
  if (PyBytes_Check(o)) {
    push(PyBytes_AS_STRING(o), static_cast<size_t>(PyBytes_GET_SIZE(o)));
    return true;
  }
  if (PyUnicode_Check(o)) return add_text(o);
  if (PyLong_Check(o)) return add_long(o);
  if (PyFloat_Check(o)) {
    // repr(), as redis-py sends floats: shortest text that reads back as the same double.
    char *r = PyOS_double_to_string(PyFloat_AS_DOUBLE(o), 'r', 0, Py_DTSF_ADD_DOT_0, nullptr);
    if (r == nullptr) return false;
    size_t n = std::strlen(r);
    char *buf = arena_.alloc(n + 1);
    std::memcpy(buf, r, n + 1);
    PyMem_Free(r);
    push(buf, n);
    return true;
  }
  if (PyByteArray_Check(o) || PyMemoryView_Check(o)) {
    Py_buffer view;
    if (PyObject_GetBuffer(o, &view, PyBUF_SIMPLE) != 0) {
      // A strided view (memoryview(b"abcdef")[::2]) has no one block of bytes to send.
      if (PyErr_ExceptionMatches(PyExc_BufferError)) {
        PyErr_Clear();
        errors::raise_data_error(o, "its buffer is not contiguous (a strided view such as memoryview(b)[::2]); "
                                    "convert it with bytes() first");
      }
      return false;
    }
    views_.push_back(view);
    push(static_cast<const char *>(view.buf), static_cast<size_t>(view.len));
    return true;
  }
  errors::raise_data_error(o);
  return false;
}

void Argv::release() {
  for (Py_buffer &v : views_) PyBuffer_Release(&v);
  views_.clear();
  for (PyObject *t : temps_) Py_DECREF(t);
  temps_.clear();
  ptrs_.clear();
  lens_.clear();
  enc_ = nullptr;
  // A command of a million arguments must not leave tens of MB behind in every thread
  // that ever sent one: above these, the memory goes back (the next big one grows again).
  constexpr size_t kKeepArgs = 16384, kKeepBytes = 256 * 1024;
  if (ptrs_.capacity() > kKeepArgs) {
    std::vector<const char *>().swap(ptrs_);
    std::vector<size_t>().swap(lens_);
  }
  if (views_.capacity() > kKeepArgs) std::vector<Py_buffer>().swap(views_);
  if (temps_.capacity() > kKeepArgs) std::vector<PyObject *>().swap(temps_);
  arena_.trim(kKeepBytes);
}

size_t Argv::held() const {
  return ptrs_.capacity() * sizeof(const char *) + lens_.capacity() * sizeof(size_t) +
         views_.capacity() * sizeof(Py_buffer) + temps_.capacity() * sizeof(PyObject *) + arena_.held();
}

namespace {
thread_local Argv t_argv;
thread_local bool t_argv_busy = false;
}  // namespace

size_t thread_argv_held() { return t_argv.held(); }

ScopedArgv::ScopedArgv() {
  if (!t_argv_busy) {
    t_argv_busy = true;
    busy_ = &t_argv_busy;
    argv_ = &t_argv;
  } else {
    own_.reset(new Argv());
    argv_ = own_.get();
    busy_ = nullptr;
  }
}

ScopedArgv::~ScopedArgv() {
  argv_->release();
  if (busy_) *busy_ = false;
}

}  // namespace rcm_py
