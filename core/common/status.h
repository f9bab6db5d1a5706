// Status codes of the core. Values mirror rcm_status (capi checks this at compile time),
// but core never includes rcm.h.
#pragma once

#include <stdexcept>
#include <string>

namespace rcm::core {

enum class Status : int {
  ok = 0,
  arg = -1,
  config = -2,
  nomem = -3,
  connection = -4,
  timeout = -5,
  auth = -6,
  protocol = -7,
  uncertain = -8,
  pool_timeout = -9,
  backpressure = -10,
  closed = -11,
  unsupported = -12,
  crossslot = -13,
  clusterdown = -14,
  tls = -15,
  redirect = -16,
  state = -17,
  fork = -18,
  no_leader = -19,
  internal = -99,
};

const char *status_name(Status s);

// A failure that asking again with the same configuration will not cure (credentials,
// certificates, settings): reported at open, never waited out as "no leader yet".
inline bool is_permanent(Status s) { return s == Status::auth || s == Status::tls || s == Status::config; }

// The one exception type of core: a status and a message naming what failed.
class Error : public std::runtime_error {
 public:
  Error(Status status, const std::string &message) : std::runtime_error(message), status_(status) {}
  Status status() const { return status_; }

 private:
  Status status_;
};

}  // namespace rcm::core
