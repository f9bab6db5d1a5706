#include "core/request/request.h"

#include <atomic>

#include "core/request/stats.h"

namespace rcm::core {

void request_complete(Request *r, Status status, Reply *reply) {
  if (r->completed) {
    delete reply;
    return;
  }
  r->completed = true;
  if (r->stats != nullptr && !r->internal) {
    // A reply's time is the read that brought it (one clock read per read, not per reply).
    Clock::time_point now = r->answered != Clock::time_point{} ? r->answered : Clock::now();
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(now - r->created).count();
    r->stats->record(status, reply != nullptr && reply->is_error(), static_cast<uint64_t>(us), now);
  }
  // A queued unit's head fails for the unit: its members were not sent either, and
  // they must never leave without it (a block's EXEC without its MULTI).
  const bool unit_fails = r->unit_tail && status != Status::ok;
  std::string message = unit_fails ? (reply != nullptr ? std::string(reply->str) : std::string(status_name(status))) : "";
  r->done(r, status, reply);
  if (unit_fails)
    for (Request *m : *r->unit_tail) request_fail(m, status, message);
}

void request_fail(Request *r, Status status, const std::string &message) {
  if (r->completed) return;
  request_complete(r, status, Reply::make_error(status, message));
}

void request_release(Request *r) {
  if (--r->refs > 0) return;
  if (r->unit_tail)
    for (Request *m : *r->unit_tail) request_release(m);
  delete r;
}

uint64_t unit_next_id() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

void unit_settle(const std::vector<Request *> &unit) {
  bool ended = false, tx_ended = false;
  for (const Request *r : unit) {
    if (!r->completed) continue;
    ended = true;
    if (r->pinned || r->internal) tx_ended = true;
  }
  if (!ended) return;
  // rcm's own helper (ASKING) goes only with the command it prefixes.
  for (Request *r : unit)
    if ((r->pinned && tx_ended) || r->internal)
      request_fail(r, Status::timeout, "not sent: another command of its transaction ended before it could be sent");
}

Request *unit_pack(const std::vector<Request *> &reqs) {
  unit_settle(reqs);
  Request *head = nullptr;
  for (Request *r : reqs) {
    if (r->completed) {
      request_release(r);
      continue;
    }
    if (head == nullptr) {
      head = r;
      continue;
    }
    if (!head->unit_tail) head->unit_tail = std::make_unique<std::vector<Request *>>();
    head->unit_tail->push_back(r);
  }
  return head;
}

void unit_unpack(Request *head, std::vector<Request *> &out) {
  out.push_back(head);
  if (!head->unit_tail) return;
  std::unique_ptr<std::vector<Request *>> tail = std::move(head->unit_tail);
  out.insert(out.end(), tail->begin(), tail->end());
}

}  // namespace rcm::core
