#include "core/resp/reply.h"

namespace rcm::core {

Reply::~Reply() {
  for (Reply *e : elements) delete e;
}

Reply *Reply::make_error(Status origin, const std::string &message) {
  auto *r = new Reply(ReplyKind::error);
  r->str = message;
  r->origin = origin;
  return r;
}

Reply *Reply::make_status(const std::string &text) {
  auto *r = new Reply(ReplyKind::status);
  r->str = text;
  return r;
}

Reply *Reply::make_integer(long long v) {
  auto *r = new Reply(ReplyKind::integer);
  r->integer = v;
  return r;
}

Reply *Reply::make_string(const std::string &s) {
  auto *r = new Reply(ReplyKind::string);
  r->str = s;
  return r;
}

Reply *Reply::make_array() { return new Reply(ReplyKind::array); }

}  // namespace rcm::core
