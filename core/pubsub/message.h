// One thing delivered to a subscriber: a published message, a confirmation, a gap or a
// drop count. Built once on the I/O thread and shared by every local subscriber it is
// fanned out to (immutable from then on).
#pragma once

#include <memory>
#include <string>

namespace rcm::core {

// rcm.h's rcm_message_type and rcm_sub_kind values (pinned there).
enum class MessageType { message = 1, subscribed = 2, unsubscribed = 3, gap = 4, dropped = 5 };
enum class SubKind { channel = 1, pattern = 2, shard = 3 };

struct PubSubMessage {
  MessageType type = MessageType::message;
  SubKind kind = SubKind::channel;
  bool every_primary = false;
  std::string channel;  // the channel published to, or the name a notice is about
  std::string pattern;
  bool has_pattern = false;
  std::string payload;
  bool has_payload = false;
  std::string node;
  long long gap_from_ms = 0;
  long long gap_to_ms = 0;
  unsigned long long dropped = 0;
};

using MessagePtr = std::shared_ptr<const PubSubMessage>;

// A notice about a name (SUBSCRIBED, UNSUBSCRIBED, GAP): the name in `channel`.
inline std::shared_ptr<PubSubMessage> make_notice(MessageType type, SubKind kind, bool every, const std::string &name,
                                                  const std::string &node) {
  auto m = std::make_shared<PubSubMessage>();
  m->type = type;
  m->kind = kind;
  m->every_primary = every;
  m->channel = name;
  m->node = node;
  return m;
}

// Index of a kind in the server's vocabulary (kConfirmations / 2): 0 channel, 1 pattern,
// 2 shard channel.
inline int kind_index(SubKind k) { return static_cast<int>(k) - 1; }
inline SubKind kind_of_index(int i) { return static_cast<SubKind>(i + 1); }

}  // namespace rcm::core
