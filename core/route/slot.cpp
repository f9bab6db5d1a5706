#include "core/route/slot.h"

#include <cstring>

namespace rcm::core {

namespace {

// Tables for the CCITT/XMODEM polynomial 0x1021, built once at compile time. v: one
// byte's step, crc' = (crc << 8) ^ v[(crc >> 8) ^ b]. two: the first byte's share of two
// steps at once; the CRC is linear, so two steps are
//   crc'' = two[(crc >> 8) ^ b0] ^ v[(crc & 0xff) ^ b1],
// two lookups per two bytes instead of a dependent chain of two (a cluster request's
// slot is most of what routing adds to it).
struct Crc16Table {
  uint16_t v[256];
  uint16_t two[256];
  constexpr Crc16Table() : v(), two() {
    for (int i = 0; i < 256; ++i) {
      uint16_t crc = static_cast<uint16_t>(i << 8);
      for (int b = 0; b < 8; ++b) crc = static_cast<uint16_t>((crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1);
      v[i] = crc;
    }
    for (int i = 0; i < 256; ++i) two[i] = static_cast<uint16_t>(((v[i] & 0xff) << 8) ^ v[v[i] >> 8]);
  }
};
constexpr Crc16Table kTable;

}  // namespace

uint16_t crc16(const char *buf, size_t len) {
  const auto *p = reinterpret_cast<const unsigned char *>(buf);
  uint16_t crc = 0;
  size_t i = 0;
  for (; i + 1 < len; i += 2)
    crc = static_cast<uint16_t>(kTable.two[(crc >> 8) ^ p[i]] ^ kTable.v[(crc & 0xff) ^ p[i + 1]]);
  if (i < len) crc = static_cast<uint16_t>((crc << 8) ^ kTable.v[(crc >> 8) ^ p[i]]);
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
