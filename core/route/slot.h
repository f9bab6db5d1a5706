// Cluster hash slots: CRC16 (XMODEM) mod 16384 over the key, or over its {hash tag}.
#pragma once

#include <cstddef>
#include <cstdint>

namespace rcm::core {

constexpr int kSlots = 16384;

uint16_t crc16(const char *buf, size_t len);
// The slot of a key, honouring the first non-empty {...} tag.
int key_slot(const char *key, size_t len);

}  // namespace rcm::core
