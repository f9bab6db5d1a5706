// Small string helpers shared by core.
#pragma once

#include <cstring>
#include <string>

namespace rcm::core {

inline bool starts_with(const std::string &s, const char *prefix) {
  const size_t n = std::strlen(prefix);  // a literal's: folded
  return s.size() >= n && s.compare(0, n, prefix) == 0;
}

}  // namespace rcm::core
