// The shapes of what a server sends a subscribed connection (RESP2 arrays): messages
// ([message, channel, payload], [pmessage, pattern, channel, payload], [smessage, ...])
// and confirmations ([subscribe, name, count] ...). Shared by the connection, which
// sorts replies from pushes, and by pub/sub above it, which reads them.
#pragma once

#include <string>

#include "core/resp/reply.h"

namespace rcm::core {

// Even: subscribe; odd: unsubscribe; / 2: channels, patterns, shard channels.
inline constexpr const char *kConfirmations[] = {"subscribe",    "unsubscribe", "psubscribe",
                                                 "punsubscribe", "ssubscribe",  "sunsubscribe"};

inline bool is_push_message(const Reply *r) {
  if (r->kind != ReplyKind::array || r->elements.empty() || r->elements[0] == nullptr) return false;
  const std::string &k = r->elements[0]->str;
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

}  // namespace rcm::core
