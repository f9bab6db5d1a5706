// Small string helpers shared by core.
#pragma once

#include <cstring>
#include <string>

namespace rcm::core {

inline bool starts_with(const std::string &s, const char *prefix) {
  return s.compare(0, std::strlen(prefix), prefix) == 0;
}

}  // namespace rcm::core
