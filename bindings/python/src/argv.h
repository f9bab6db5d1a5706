// Python arguments -> the argv/argvlen arrays of the C API. Built with the GIL held,
// read without it: pointers refer to the objects' own memory (bytes, the UTF-8 cached in
// a str, a buffer's memory) or to an arena, so no argument is copied before rcm copies
// it once. The caller keeps the objects alive until release().
#pragma once

#include <Python.h>

#include <cstddef>
#include <memory>
#include <vector>

#include "reply.h"

namespace rcm_py {

// Memory handed out in chunks that never move, reused after reset().
class Arena {
 public:
  char *alloc(size_t n);
  void reset();
  // reset(), and gives back all but the first chunk when more than keep bytes are held.
  void trim(size_t keep);
  size_t held() const;

 private:
  static constexpr size_t kChunk = 4096;
  std::vector<std::unique_ptr<char[]>> chunks_;
  std::vector<size_t> sizes_;
  size_t chunk_ = 0, used_ = 0;
};

class Argv {
 public:
  // Appends one argument: bytes, str (encoded as set_encoding() says: UTF-8 unless told),
  // int, float, or a contiguous bytearray or memoryview. False with DataError/UnicodeError
  // set otherwise (other buffer-protocol objects too, as redis-py: array.array's or a
  // numpy integer's memory is not what a user means to store).
  bool add(PyObject *o);
  // How str arguments are encoded: the client's encoding and encoding_errors (nullptr,
  // the default: strict UTF-8). d must outlive the arguments' use.
  void set_encoding(const Decoding *d) { enc_ = d != nullptr && !d->utf8_strict ? d : nullptr; }
  bool add_all(PyObject *const *objs, Py_ssize_t n);

  size_t size() const { return ptrs_.size(); }
  const char *const *argv(size_t from = 0) const { return ptrs_.data() + from; }
  const size_t *lens(size_t from = 0) const { return lens_.data() + from; }

  // Releases buffers and temporaries and empties the vector; memory above a threshold
  // that one big command left behind is given back (a thread's Argv lives as long as the
  // thread). GIL held.
  void release();
  // Bytes this Argv keeps between calls (for tests).
  size_t held() const;

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
  const Decoding *enc_ = nullptr;  // nullptr: strict UTF-8, the fast path
};

// This thread's Argv for the duration of one call (a fresh one if a conversion re-enters
// Python code that makes another call on the same thread). Releases on destruction.
class ScopedArgv {
 public:
  ScopedArgv();
  // str arguments encoded as enc says (a client's encoding and encoding_errors).
  explicit ScopedArgv(const Decoding &enc) : ScopedArgv() { argv_->set_encoding(&enc); }
  ~ScopedArgv();
  Argv *operator->() { return argv_; }
  Argv &operator*() { return *argv_; }

 private:
  Argv *argv_;
  std::unique_ptr<Argv> own_;
  bool *busy_;
};

// What this thread's Argv keeps between calls, in bytes (for tests).
size_t thread_argv_held();

}  // namespace rcm_py
