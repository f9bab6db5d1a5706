// The shapes of what a server sends a subscribed connection (RESP2 arrays): messages
// ([message, channel, payload], [pmessage, pattern, channel, payload], [smessage, ...])
// and confirmations ([subscribe, name, count] ...). Shared by the connection, which
// sorts replies from pushes, and by pub/sub above it, which reads them.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/resp/reply.h"

namespace rcm::core {

// Even: subscribe; odd: unsubscribe; / 2: channels, patterns, shard channels.
inline constexpr const char *kConfirmations[] = {"subscribe",    "unsubscribe", "psubscribe",
                                                 "punsubscribe", "ssubscribe",  "sunsubscribe"};

inline bool is_push_message(const Reply *r) {
  if (r->kind != ReplyKind::array || r->elements.empty() || r->elements[0] == nullptr) return false;
  std::string_view k = r->elements[0]->str;
  return k == "message" || k == "pmessage" || k == "smessage";
}

// A confirmation [kind, channel or nil, count]: its kind's index in kConfirmations, or -1.
inline int confirmation_kind(const Reply *r) {
  if (r->kind != ReplyKind::array || r->elements.size() != 3) return -1;
  const Reply *k = r->elements[0];
  const Reply *n = r->elements[2];
  if (k == nullptr || k->kind != ReplyKind::string || n == nullptr || n->kind != ReplyKind::integer) return -1;
  for (int i = 0; i < 6; ++i)
    if (k->str == kConfirmations[i]) return i;
  return -1;
}

// The kind index of a subscribe-family command name (any case), or -1.
int confirmation_kind_of_command(const std::string &command);

// A published message read straight from the bytes a subscriber connection received:
// views into them, valid for the push handler's call only. kind: 0 channel (message),
// 1 pattern (pmessage), 2 shard channel (smessage), as kConfirmations / 2.
struct PushFrame {
  int kind = 0;
  std::string_view pattern;  // pmessage only
  std::string_view channel;
  std::string_view payload;
};

// The RESP2 value at the front of data (len bytes), without building it:
//   > 0  its size; *msg filled and *is_msg true when it is a message push
//        ([message|smessage, channel, payload] or [pmessage, pattern, channel, payload])
//   0    incomplete: more bytes are needed
//   < 0  not for this scanner (malformed, nested deeper than it follows, or a bulk
//        announced over max_bulk when that is not 0): the reply reader takes it, and
//        reports what is wrong as it always did.
long long scan_push_frame(const char *data, size_t len, unsigned long long max_bulk, PushFrame *msg, bool *is_msg);

}  // namespace rcm::core
