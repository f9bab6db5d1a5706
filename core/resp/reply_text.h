// ReplyText: the bytes of a string, status or error reply (Reply::str).
//
// Short texts live inside the reply itself. A GET's typical value (16 bytes in
// bench/instructions.sh) is longer than std::string's inline buffer (15), so as a
// std::string every such reply cost one malloc on the I/O thread that parsed it and one
// free on the caller's thread that dropped it: malloc's cross-thread path, about 450 of
// the 2 700 instructions of a pipelined GET. Longer texts take one exact-size heap block.
//
// It reads like a const std::string (size, data, c_str, ==, +, find, compare) and
// converts to std::string_view; std::string(text) makes a copy. Always NUL-terminated:
// rcm_reply_string hands out c_str().
#pragma once

#include <cstddef>
#include <cstring>
#include <ostream>
#include <string>
#include <string_view>

namespace rcm::core {

class ReplyText {
 public:
  // A 64-byte ReplyText; values up to 39 bytes need no heap block.
  static constexpr size_t kInline = 39;

  ReplyText() noexcept { inline_[0] = '\0'; }
  ReplyText(const ReplyText &o) : ReplyText() { assign(o.data(), o.size()); }
  ReplyText &operator=(const ReplyText &o) {
    if (this != &o) assign(o.data(), o.size());
    return *this;
  }
  ReplyText &operator=(std::string_view s) {
    assign(s.data(), s.size());
    return *this;
  }
  ~ReplyText() { release(); }

  void assign(const char *p, size_t n) {
    if (n > kInline && n > capacity_) {
      char *heap = new char[n + 1];
      release();
      data_ = heap;
      capacity_ = n;
    }
    if (n > 0) std::memmove(data_, p, n);
    data_[n] = '\0';
    size_ = n;
  }

  const char *data() const { return data_; }
  const char *c_str() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::string_view view() const { return {data_, size_}; }
  operator std::string_view() const { return view(); }

  size_t find(std::string_view s, size_t pos = 0) const { return view().find(s, pos); }
  int compare(size_t pos, size_t n, const char *s) const { return view().compare(pos, n, s); }

  friend bool operator==(const ReplyText &a, const ReplyText &b) { return a.view() == b.view(); }
  friend bool operator==(const ReplyText &a, std::string_view b) { return a.view() == b; }
  friend bool operator==(std::string_view a, const ReplyText &b) { return a == b.view(); }
  friend bool operator!=(const ReplyText &a, const ReplyText &b) { return !(a == b); }
  friend bool operator!=(const ReplyText &a, std::string_view b) { return !(a == b); }
  friend bool operator!=(std::string_view a, const ReplyText &b) { return !(a == b); }
  friend std::string operator+(std::string a, const ReplyText &b) { return a.append(b.data_, b.size_); }
  friend std::string operator+(const ReplyText &a, std::string_view b) {
    std::string s(a.data_, a.size_);
    return s.append(b.data(), b.size());
  }
  friend std::ostream &operator<<(std::ostream &os, const ReplyText &t) { return os << t.view(); }

 private:
  void release() {
    if (data_ != inline_) delete[] data_;
    data_ = inline_;
    capacity_ = kInline;
  }

  char *data_ = inline_;
  size_t capacity_ = kInline;  // bytes data_ holds before its NUL
  size_t size_ = 0;
  char inline_[kInline + 1];
};

}  // namespace rcm::core
