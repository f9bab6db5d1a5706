#include "core/resp/encoder.h"

#include <cstring>

namespace rcm::core {

namespace {

inline size_t decimal_digits(size_t n) {
  if (n < 10) return 1;  // argc and most lengths: no loop
  if (n < 100) return 2;
  size_t d = 1;
  while (n >= 10) {
    n /= 10;
    ++d;
  }
  return d;
}

// Writes prefix, the decimal n and "\r\n" at p (digits() bytes + 3); returns the end.
inline char *put_header(char *p, char prefix, size_t n, size_t digits) {
  *p++ = prefix;
  char *end = p + digits;
  if (digits == 1) {
    *p = static_cast<char>('0' + n);
  } else {
    for (char *q = end; q != p;) {
      *--q = static_cast<char>('0' + n % 10);
      n /= 10;
    }
  }
  end[0] = '\r';
  end[1] = '\n';
  return end + 2;
}

}  // namespace

size_t encoded_command_size(int argc, const char *const *argv, const size_t *argvlen) {
  const size_t n = static_cast<size_t>(argc);
  size_t need = 3 + decimal_digits(n);
  for (size_t i = 0; i < n; ++i) {
    size_t len = argvlen ? argvlen[i] : std::strlen(argv[i]);
    need += 3 + decimal_digits(len) + len + 2;
  }
  return need;
}

char *encode_command_into(char *p, int argc, const char *const *argv, const size_t *argvlen) {
  const size_t n = static_cast<size_t>(argc);
  p = put_header(p, '*', n, decimal_digits(n));
  for (size_t i = 0; i < n; ++i) {
    size_t len = argvlen ? argvlen[i] : std::strlen(argv[i]);
    p = put_header(p, '$', len, decimal_digits(len));
    if (len != 0) std::memcpy(p, argv[i], len);
    p += len;
    p[0] = '\r';
    p[1] = '\n';
    p += 2;
  }
  return p;
}

// The exact size first, then one resize and plain stores: appending piece by piece cost
// a capacity check and a call per piece (six per argument).
void encode_command(std::string &out, int argc, const char *const *argv, const size_t *argvlen) {
  const size_t start = out.size();
  out.resize(start + encoded_command_size(argc, argv, argvlen));
  encode_command_into(&out[start], argc, argv, argvlen);
}

}  // namespace rcm::core
