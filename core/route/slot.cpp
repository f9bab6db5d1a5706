#include "core/route/slot.h"

#include <cstring>

namespace rcm::core {

namespace {

// Tables for the CCITT/XMODEM polynomial 0x1021, built once at compile time. t[0] is one
// byte's step, crc = (crc << 8) ^ t[0][(crc >> 8) ^ b]; t[k] is a byte's share when k
// zero bytes follow it (t[k-1] and one more step). The CRC is linear, so four steps are
//   crc = t[3][(crc >> 8) ^ b0] ^ t[2][(crc & 0xff) ^ b1] ^ t[1][b2] ^ t[0][b3]:
// four independent lookups instead of a dependent chain of four (a cluster request's
// slot was most of what routing adds to it).
struct Crc16Table {
  uint16_t t[4][256];
  constexpr Crc16Table() : t() {
    for (int i = 0; i < 256; ++i) {
      uint16_t crc = static_cast<uint16_t>(i << 8);
      for (int b = 0; b < 8; ++b) crc = static_cast<uint16_t>((crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1);
      t[0][i] = crc;
    }
    for (int k = 1; k < 4; ++k)
      for (int i = 0; i < 256; ++i)
        t[k][i] = static_cast<uint16_t>(((t[k - 1][i] & 0xff) << 8) ^ t[0][t[k - 1][i] >> 8]);
  }
};
constexpr Crc16Table kTable;

}  // namespace

uint16_t crc16(const char *buf, size_t len) {
  const auto *p = reinterpret_cast<const unsigned char *>(buf);
  const auto &t = kTable.t;
  uint16_t crc = 0;
  size_t i = 0;
  for (; i + 3 < len; i += 4)
    crc = static_cast<uint16_t>(t[3][(crc >> 8) ^ p[i]] ^ t[2][(crc & 0xff) ^ p[i + 1]] ^ t[1][p[i + 2]] ^ t[0][p[i + 3]]);
  for (; i < len; ++i) crc = static_cast<uint16_t>((crc << 8) ^ t[0][(crc >> 8) ^ p[i]]);
  return crc;
}

// memchr finds the braces (or their absence, the common case) a word at a time, where a
// byte loop cost about as much as the CRC itself.
int key_slot(const char *key, size_t len) {
  if (const auto *open = static_cast<const char *>(len ? std::memchr(key, '{', len) : nullptr)) {
    const char *end = key + len;
    const auto *close = static_cast<const char *>(std::memchr(open + 1, '}', static_cast<size_t>(end - open - 1)));
    if (close != nullptr && close != open + 1)
      return crc16(open + 1, static_cast<size_t>(close - open - 1)) & (kSlots - 1);
  }
  return crc16(key, len) & (kSlots - 1);
}

}  // namespace rcm::core
