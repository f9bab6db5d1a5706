// One thing delivered to a subscriber: a published message, a confirmation, a gap or a
// drop count. Built once on the I/O thread in one allocation (the fields, then the
// strings they view) and shared by every local subscriber it is fanned out to, by a
// reference count (immutable once shared). One block instead of a string per field
// because the I/O thread makes one per published message: see bench/README.md, Pub/Sub.
#pragma once

#include <atomic>
#include <cstddef>
#include <string_view>
#include <utility>

namespace rcm::core {

// rcm.h's rcm_message_type and rcm_sub_kind values (pinned there).
enum class MessageType { message = 1, subscribed = 2, unsubscribed = 3, gap = 4, dropped = 5 };
enum class SubKind { channel = 1, pattern = 2, shard = 3 };

class MessagePtr;

class PubSubMessage {
 public:
  MessageType type = MessageType::message;
  SubKind kind = SubKind::channel;
  bool every_primary = false;
  bool has_pattern = false;
  bool has_payload = false;
  // Views of the block's own copies, each followed by a NUL. channel: the channel
  // published to, or the name a notice is about.
  std::string_view channel;
  std::string_view pattern;
  std::string_view payload;
  std::string_view node;
  long long gap_from_ms = 0;
  long long gap_to_ms = 0;
  unsigned long long dropped = 0;

  // pattern, payload: nullptr for none. Throws std::bad_alloc.
  static MessagePtr make(MessageType type, SubKind kind, std::string_view channel, const std::string_view *pattern,
                         const std::string_view *payload, std::string_view node);
  // A copy in a block of its own (to change a field of a message already shared).
  static MessagePtr copy(const PubSubMessage &m);

  PubSubMessage(const PubSubMessage &) = delete;
  PubSubMessage &operator=(const PubSubMessage &) = delete;

  // Room for an embedding's own view of the message (the C API's rcm_message), so that
  // rcm_subscriber_next hands out the block itself rather than a copy of it (a malloc, four
  // copies and a free per message: bench/README.md, Pub/Sub). Only the holder of the sole
  // reference (MessagePtr::unique) may write it; MessagePtr::detach and adopt carry that
  // reference through the embedding's pointer to the view.
  static constexpr size_t kEmbedBytes = 96;
  void *embed_area() {
    embed_.owner = this;
    return embed_.area;
  }
  static PubSubMessage *from_embed_area(void *area) { return reinterpret_cast<Embed *>(area)->owner; }

 private:
  PubSubMessage() = default;
  ~PubSubMessage() = default;
  friend class MessagePtr;
  mutable std::atomic<unsigned> refs_{1};
  bool pooled_ = false;  // a block of message.cpp's pool, not malloc's
  struct Embed {  // standard layout: a pointer to `area` is one to the Embed
    alignas(8) unsigned char area[kEmbedBytes];
    PubSubMessage *owner;
  };
  Embed embed_;
};

// A counted reference to a message (like shared_ptr<const PubSubMessage>, without the
// separate control block).
class MessagePtr {
 public:
  MessagePtr() = default;
  MessagePtr(std::nullptr_t) {}
  MessagePtr(const MessagePtr &o) : p_(o.p_) {
    if (p_ != nullptr) p_->refs_.fetch_add(1, std::memory_order_relaxed);
  }
  MessagePtr(MessagePtr &&o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  MessagePtr &operator=(MessagePtr o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  ~MessagePtr() { release(); }

  const PubSubMessage *get() const { return p_; }
  const PubSubMessage &operator*() const { return *p_; }
  const PubSubMessage *operator->() const { return p_; }
  explicit operator bool() const { return p_ != nullptr; }
  // The message to fill in, while this is its only reference (just made).
  PubSubMessage *unshared() const { return p_; }
  // No other reference exists (none can appear: only a holder makes one).
  bool unique() const { return p_ != nullptr && p_->refs_.load(std::memory_order_acquire) == 1; }
  // Gives up this reference without releasing it; adopt() takes it back (once).
  PubSubMessage *detach() { return std::exchange(p_, nullptr); }
  static MessagePtr adopt(PubSubMessage *p) { return MessagePtr(p); }

 private:
  friend class PubSubMessage;
  explicit MessagePtr(PubSubMessage *p) : p_(p) {}
  void release();
  PubSubMessage *p_ = nullptr;
};

// A notice about a name (SUBSCRIBED, UNSUBSCRIBED, GAP): the name in `channel`.
inline MessagePtr make_notice(MessageType type, SubKind kind, bool every, std::string_view name,
                              std::string_view node) {
  MessagePtr m = PubSubMessage::make(type, kind, name, nullptr, nullptr, node);
  m.unshared()->every_primary = every;
  return m;
}

// Index of a kind in the server's vocabulary (kConfirmations / 2): 0 channel, 1 pattern,
// 2 shard channel.
inline int kind_index(SubKind k) { return static_cast<int>(k) - 1; }
inline SubKind kind_of_index(int i) { return static_cast<SubKind>(i + 1); }

}  // namespace rcm::core
