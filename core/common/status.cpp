#include "core/common/status.h"

#include <cstdio>
#include <exception>

#include "core/common/guard.h"

namespace rcm::core {

const char *status_name(Status s) {
  switch (s) {
    case Status::ok: return "RCM_OK";
    case Status::arg: return "RCM_ERR_ARG";
    case Status::config: return "RCM_ERR_CONFIG";
    case Status::nomem: return "RCM_ERR_NOMEM";
    case Status::connection: return "RCM_ERR_CONNECTION";
    case Status::timeout: return "RCM_ERR_TIMEOUT";
    case Status::auth: return "RCM_ERR_AUTH";
    case Status::protocol: return "RCM_ERR_PROTOCOL";
    case Status::uncertain: return "RCM_ERR_UNCERTAIN";
    case Status::pool_timeout: return "RCM_ERR_POOL_TIMEOUT";
    case Status::backpressure: return "RCM_ERR_BACKPRESSURE";
    case Status::closed: return "RCM_ERR_CLOSED";
    case Status::unsupported: return "RCM_ERR_UNSUPPORTED";
    case Status::crossslot: return "RCM_ERR_CROSSSLOT";
    case Status::clusterdown: return "RCM_ERR_CLUSTERDOWN";
    case Status::tls: return "RCM_ERR_TLS";
    case Status::redirect: return "RCM_ERR_REDIRECT";
    case Status::state: return "RCM_ERR_STATE";
    case Status::fork: return "RCM_ERR_FORK";
    case Status::no_leader: return "RCM_ERR_NO_LEADER";
    case Status::internal: return "RCM_ERR_INTERNAL";
  }
  return "RCM_ERR_UNKNOWN";
}

}  // namespace rcm::core

namespace rcm::core {

void report_escaped(const char *where) noexcept {
  try {
    throw;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "rcm: internal error escaped %s (ignored): %s\n", where, e.what());
  } catch (...) {
    std::fprintf(stderr, "rcm: internal error escaped %s (ignored)\n", where);
  }
}

}  // namespace rcm::core
