// A reply value, built directly by hiredis's redisReader through our object functions
// (resp/reader.h), so no second copy of a reply is ever made.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "core/common/recycled.h"
#include "core/common/status.h"
#include "core/resp/reply_text.h"

namespace rcm::core {

enum class ReplyKind : int {
  string = 1,
  array = 2,
  integer = 3,
  nil = 4,
  status = 5,
  error = 6,
};

// Recycled: built on an I/O thread, freed by the caller (common/recycled.h).
struct Reply : Recycled<Reply> {
  ReplyKind kind = ReplyKind::nil;
  long long integer = 0;
  ReplyText str;                 // string, status, error (short ones inline, see reply_text.h)
  std::vector<Reply *> elements; // array; owned
  Status origin = Status::ok;    // ok for server replies; the failure for rcm-made errors

  Reply() = default;
  explicit Reply(ReplyKind k) : kind(k) {}
  Reply(const Reply &) = delete;
  Reply &operator=(const Reply &) = delete;
  ~Reply();

  bool is_error() const { return kind == ReplyKind::error; }
  // An error reply rcm makes itself, e.g. for a pipelined command that timed out.
  static Reply *make_error(Status origin, const std::string &message);
  static Reply *make_status(const std::string &text);
  static Reply *make_integer(long long v);
  static Reply *make_string(const std::string &s);
  static Reply *make_array();
};

}  // namespace rcm::core
