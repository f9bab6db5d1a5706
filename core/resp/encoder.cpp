#include "core/resp/encoder.h"

#include <cstring>

namespace rcm::core {

namespace {

// Appends prefix, the decimal n and "\r\n" without going through printf.
inline void put_header(std::string &out, char prefix, size_t n) {
  char buf[24];
  char *end = buf + sizeof(buf);
  char *p = end;
  do {
    *--p = static_cast<char>('0' + n % 10);
    n /= 10;
  } while (n != 0);
  *--p = prefix;
  out.append(p, static_cast<size_t>(end - p));
  out.append("\r\n", 2);
}

}  // namespace

void encode_command(std::string &out, int argc, const char *const *argv, const size_t *argvlen) {
  size_t need = 16;
  for (int i = 0; i < argc; ++i) need += (argvlen ? argvlen[i] : std::strlen(argv[i])) + 16;
  out.reserve(out.size() + need);
  put_header(out, '*', static_cast<size_t>(argc));
  for (int i = 0; i < argc; ++i) {
    size_t len = argvlen ? argvlen[i] : std::strlen(argv[i]);
    put_header(out, '$', len);
    out.append(argv[i], len);
    out.append("\r\n", 2);
  }
}

}  // namespace rcm::core
