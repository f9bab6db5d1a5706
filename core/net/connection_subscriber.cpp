// A subscriber connection's side of the protocol: every message and confirmation goes to
// the push handler (whoever keeps the subscriptions tracks them by name, which also
// covers a server's unsolicited sunsubscribe when a slot moves away), and a
// subscribe-family request completes once the server confirmed each of its names.
// Anything else (a PING's ["pong", ""], an error) answers the request in front.
#include <algorithm>
#include <cctype>
#include <memory>

#include "core/net/connection.h"
#include "core/net/pubsub_frames.h"
#include "core/resp/encoder.h"

namespace rcm::core {

int confirmation_kind_of_command(const std::string &command) {
  std::string lower(command);
  for (char &ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  for (int i = 0; i < 6; ++i)
    if (lower == kConfirmations[i]) return i;
  return -1;
}

void Connection::send_subscription(const std::string &command, const std::vector<std::string> &names,
                                   Request::DoneFn done, void *ctx, size_t tag) {
  const int kind = confirmation_kind_of_command(command);
  auto due = std::make_unique<std::multiset<std::string>>();
  std::vector<const char *> argv{command.c_str()};
  std::vector<size_t> lens{command.size()};
  for (const std::string &n : names) {
    argv.push_back(n.data());
    lens.push_back(n.size());
    due->insert(static_cast<char>('0' + kind) + n);
  }
  auto *r = new Request();
  encode_command(r->payload, static_cast<int>(argv.size()), argv.data(), lens.data());
  r->internal = true;
  r->pinned = true;
  r->done = done;
  r->ctx = ctx;
  r->index = tag;
  r->created = Clock::now();
  r->sub_due = std::move(due);
  send(r);
}

// True when the reply was a push (handed on); false when it answers the request in front.
bool Connection::subscriber_reply(Reply *reply) {
  if (is_push_message(reply)) {
    if (push_fn_) push_fn_(push_ctx_, reply);
    else delete reply;
    return true;
  }
  const int kind = confirmation_kind(reply);
  if (kind < 0) return false;
  // The server answers in order: a confirmation of the request in front's names is its
  // answer; any other (an unsolicited sunsubscribe) only goes to the handler.
  Request *front = inflight_.empty() ? nullptr : inflight_.front();
  bool finished = false;
  const Reply *name = reply->elements[1];
  if (front != nullptr && front->sub_due && name != nullptr) {
    auto it = front->sub_due->find(static_cast<char>('0' + kind) + name->str);
    if (it != front->sub_due->end()) {
      front->sub_due->erase(it);
      finished = front->sub_due->empty();
    }
  }
  if (push_fn_) push_fn_(push_ctx_, reply);
  else delete reply;
  if (finished && !inflight_.empty() && inflight_.front() == front) {
    inflight_.pop_front();
    request_complete(front, Status::ok, nullptr);
    request_release(front);
  }
  return true;
}

}  // namespace rcm::core
