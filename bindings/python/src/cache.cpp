// The client-side cache, as the binding sees it: which commands it may answer, and the
// call that lets a hit come back without a thread hand-off (client.h says why).
#include <cctype>
#include <cstdlib>

#include "argv.h"
#include "client.h"

namespace rcm_py {

std::vector<std::string> cached_commands_of(const rcm_config *cfg) {
  std::vector<std::string> out;
  char *bytes = nullptr, *names = nullptr;
  if (rcm_config_get(cfg, "cache.max_bytes", &bytes) == RCM_OK && std::atoll(bytes) > 0 &&
      rcm_config_get(cfg, "cache.commands", &names) == RCM_OK) {
    std::string name;
    for (const char *p = names;; ++p) {
      if (*p == ',' || *p == '\0') {
        if (!name.empty()) out.push_back(name);
        name.clear();
        if (*p == '\0') break;
      } else if (*p != ' ') {
        name += static_cast<char>(std::toupper(static_cast<unsigned char>(*p)));
      }
    }
  }
  rcm_free(bytes);
  rcm_free(names);
  return out;
}

bool ClientCore::cacheable(const Argv &av) const {
  if (cached_commands.empty() || av.size() == 0) return false;
  const char *name = av.argv()[0];
  size_t len = av.lens()[0];
  for (const std::string &c : cached_commands) {
    if (c.size() != len) continue;
    size_t i = 0;
    while (i < len && std::toupper(static_cast<unsigned char>(name[i])) == c[i]) ++i;
    if (i == len) return true;
  }
  return false;
}

rcm_reply *ClientCore::cache_get(const Argv &av) {
  if (!gate.enter()) return nullptr;
  rcm_reply *hit = nullptr;
  if (rcm_cache_get(handle, static_cast<int>(av.size()), av.argv(), av.lens(), &hit) != RCM_OK) hit = nullptr;
  gate.leave();
  return hit;
}

}  // namespace rcm_py
