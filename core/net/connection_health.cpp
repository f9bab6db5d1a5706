// Connection's upkeep between requests: the health check (a PING when idle, a stuck or
// stalled connection replaced, overdue subscription confirmations), and the cleanup that
// makes a returned lease's connection reusable. Reading, writing and the handshake are in
// connection.cpp, connecting in connection_connect.cpp.
#include <algorithm>
#include <mutex>
#include <string>

#include "core/net/connection.h"

namespace rcm::core {

void Connection::health_check(Clock::time_point now, int idle_ms, int timeout_ms) {
  if (state_ != State::ready) return;
  // A request here already passed its deadline and no complete reply has arrived for
  // timeout_ms: the connection is stuck (hung, or inside a frame that never ends: bytes
  // may still trickle in). Everything queued behind it would wait forever, so replace
  // it; what it carried is resent or failed.
  if (role_ == Role::shared && !inflight_.empty() && inflight_.front()->completed &&
      now - last_reply_ > std::chrono::milliseconds(timeout_ms)) {
    fail(Status::timeout, "connection to " + target_.endpoint.str() + ": no reply for " + std::to_string(timeout_ms) +
                              " ms after a request timed out; connection replaced");
    return;
  }
  if (stalled(now)) {
    fail_stalled();
    return;
  }
  // A subscriber connection owes only confirmations, which a live server sends at once:
  // overdue ones (nothing read for timeout_ms) mean a stopped server, found long before
  // pool.stall_timeout_ms (which allows for slow commands).
  if (role_ == Role::subscriber && !inflight_.empty() &&
      now - std::max(last_activity_, awaiting_since_) > std::chrono::milliseconds(timeout_ms)) {
    fail(Status::timeout, "connection to " + target_.endpoint.str() +
                              ": subscription confirmations overdue (nothing read for " + std::to_string(timeout_ms) + " ms)");
    return;
  }
  if (ping_outstanding_) {
    if (now - ping_sent_ > std::chrono::milliseconds(timeout_ms))
      fail(Status::timeout, "connection to " + target_.endpoint.str() + ": health-check PING unanswered for " +
                                std::to_string(timeout_ms) + " ms");
    return;
  }
  if (idle_ms <= 0 || !inflight_.empty() || subscribed_) return;
  if (now - last_activity_ < std::chrono::milliseconds(idle_ms)) return;
  const char *argv[] = {"PING"};
  size_t lens[] = {4};
  ping_outstanding_ = true;
  ping_sent_ = now;
  send_internal(1, argv, lens, &Connection::on_ping_reply);
}

// A server that stops answering (stopped, frozen, or gone behind a half-open link the
// kernel does not notice) leaves the requests in flight waiting forever when they have no
// deadline (command_timeout_ms=0), and a PING cannot tell: it would queue behind them.
// A connection that has read nothing for pool.stall_timeout_ms while it owes replies is
// therefore given up; one whose oldest request blocks by design (BLPOP, WAIT) is not.
bool Connection::stalled(Clock::time_point now) const {
  if (cfg_.pool_stall_timeout_ms <= 0 || state_ != State::ready || inflight_.empty() || subscribed_) return false;
  if (inflight_.front()->cmd.flags & kCmdBlocking) return false;
  Clock::time_point quiet_since = std::max(last_activity_, awaiting_since_);
  return now - quiet_since > std::chrono::milliseconds(cfg_.pool_stall_timeout_ms);
}

void Connection::fail_stalled() {
  fail(Status::timeout, "connection to " + target_.endpoint.str() + ": nothing read for " +
                            std::to_string(cfg_.pool_stall_timeout_ms) + " ms with " + std::to_string(inflight_.size()) +
                            " request(s) waiting (pool.stall_timeout_ms); connection replaced");
}

void Connection::on_ping_reply(Request *r, Status, Reply *reply) {
  delete reply;
  auto *c = static_cast<Connection *>(r->ctx);
  c->ping_outstanding_ = false;
}

void Connection::on_ignore_reply(Request *, Status, Reply *reply) { delete reply; }

bool Connection::reusable() const {
  return state_ == State::ready && inflight_.empty() && !subscribed_ && !unclean_ && absorb_ == 0;
}

void Connection::clean() {
  if (in_multi_) {
    const char *argv[] = {"DISCARD"};
    size_t lens[] = {7};
    send_internal(1, argv, lens, &Connection::on_ignore_reply);
  }
  if (watching_) {
    const char *argv[] = {"UNWATCH"};
    size_t lens[] = {7};
    send_internal(1, argv, lens, &Connection::on_ignore_reply);
  }
  if (db_changed_) {
    std::string db = std::to_string(cfg_.db);
    const char *argv[] = {"SELECT", db.c_str()};
    size_t lens[] = {6, db.size()};
    send_internal(2, argv, lens, &Connection::on_ignore_reply);
  }
  in_multi_ = watching_ = db_changed_ = false;
  std::lock_guard<std::mutex> lk(inbox_->mu);
  for (Reply *r : inbox_->replies) delete r;
  inbox_->replies.clear();
}

}  // namespace rcm::core
