// Python arguments -> the argv/argvlen arrays of the C API. Built with the GIL held,
// read without it: pointers refer to the objects' own memory (bytes, the UTF-8 cached in
// a str, a buffer's memory) or to an arena, so no argument is copied before rcm copies
// it once. The caller keeps the objects alive until release().
#pragma once

#include <Python.h>

#include <cstddef>
#include <memory>
#include <vector>

namespace rcm_py {

// Memory handed out in chunks that never move, reused after reset().
class Arena {
 public:
  char *alloc(size_t n);
  void reset();

 private:
  static constexpr size_t kChunk = 4096;
  std::vector<std::unique_ptr<char[]>> chunks_;
  std::vector<size_t> sizes_;
  size_t chunk_ = 0, used_ = 0;
};

class Argv {
 public:
  // Appends one argument: bytes, str (UTF-8), int, float, or anything with the buffer
  // protocol and one contiguous block (bytearray, memoryview...). False with
  // DataError/UnicodeError set otherwise.
  bool add(PyObject *o);
  bool add_all(PyObject *const *objs, Py_ssize_t n);

  size_t size() const { return ptrs_.size(); }
  const char *const *argv(size_t from = 0) const { return ptrs_.data() + from; }
  const size_t *lens(size_t from = 0) const { return lens_.data() + from; }

  // Releases buffers and temporaries and empties the vector. GIL held.
  void release();

 private:
  void push(const char *p, size_t n) {
    ptrs_.push_back(p);
    lens_.push_back(n);
  }
  bool add_slow(PyObject *o);
  bool add_text(PyObject *s);
  bool add_long(PyObject *o);

  std::vector<const char *> ptrs_;
  std::vector<size_t> lens_;
  std::vector<Py_buffer> views_;
  std::vector<PyObject *> temps_;
  Arena arena_;
};

// This thread's Argv for the duration of one call (a fresh one if a conversion re-enters
// Python code that makes another call on the same thread). Releases on destruction.
class ScopedArgv {
 public:
  ScopedArgv();
  ~ScopedArgv();
  Argv *operator->() { return argv_; }
  Argv &operator*() { return *argv_; }

 private:
  Argv *argv_;
  std::unique_ptr<Argv> own_;
  bool *busy_;
};

}  // namespace rcm_py
