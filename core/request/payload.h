// A request's encoded command. Most commands are short: up to kInline bytes live inside
// the request itself (whose memory is recycled, common/recycled.h), so encoding one
// allocates nothing; a longer one moves to the heap.
#pragma once

#include <cstddef>
#include <cstring>
#include <string>

#include "core/resp/encoder.h"

namespace rcm::core {

class Payload {
 public:
  static constexpr size_t kInline = 112;

  Payload() = default;
  Payload(const Payload &o) { append(o.data(), o.size()); }
  Payload &operator=(const Payload &o) {
    if (this != &o) {
      clear();
      append(o.data(), o.size());
    }
    return *this;
  }

  const char *data() const { return on_heap_ ? heap_.data() : inline_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  void clear() {
    size_ = 0;
    on_heap_ = false;
    heap_.clear();
  }
  void append(const char *p, size_t n) {
    if (n != 0) std::memcpy(grow(n), p, n);
  }
  // Appends n bytes for the caller to write; returns where they start.
  char *grow(size_t n) {
    const size_t old = size_;
    if (!on_heap_ && old + n <= kInline) {
      size_ += n;
      return inline_ + old;
    }
    if (!on_heap_) {
      heap_.assign(inline_, old);
      on_heap_ = true;
    }
    heap_.resize(old + n);
    size_ += n;
    return &heap_[old];
  }

 private:
  char inline_[kInline];
  std::string heap_;
  size_t size_ = 0;
  bool on_heap_ = false;
};

// Appends "*argc\r\n$len\r\narg\r\n..." to out (as encode_command on a std::string).
inline void encode_command(Payload &out, int argc, const char *const *argv, const size_t *argvlen) {
  encode_command_into(out.grow(encoded_command_size(argc, argv, argvlen)), argc, argv, argvlen);
}

}  // namespace rcm::core
