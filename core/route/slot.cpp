#include "core/route/slot.h"

#include <cstring>

namespace rcm::core {

namespace {

// Table for the CCITT/XMODEM polynomial 0x1021, built once at compile time.
struct Crc16Table {
  uint16_t v[256];
  constexpr Crc16Table() : v() {
    for (int i = 0; i < 256; ++i) {
      uint16_t crc = static_cast<uint16_t>(i << 8);
      for (int b = 0; b < 8; ++b) crc = static_cast<uint16_t>((crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1);
      v[i] = crc;
    }
  }
};
constexpr Crc16Table kTable;

}  // namespace

uint16_t crc16(const char *buf, size_t len) {
  uint16_t crc = 0;
  for (size_t i = 0; i < len; ++i)
    crc = static_cast<uint16_t>((crc << 8) ^ kTable.v[((crc >> 8) ^ static_cast<uint8_t>(buf[i])) & 0xff]);
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
