// Replies that are not the answer yet: MOVED/ASK (cluster), a follower's MOVED (Raft),
// and the transient errors retried with backoff within the request's deadline. I/O thread
// of the engine only.
#include <algorithm>
#include <chrono>
#include <string>

#include "core/client/client.h"
#include "core/client/engine.h"
#include "core/common/strings.h"

namespace rcm::core {

namespace {
constexpr int kMaxTransientRetries = 64;

// A request with a deadline retries transient errors until it (and then ends as a timeout
// naming the last reply); the count only bounds requests that have none.
bool out_of_transient_retries(const Request *r) {
  return !r->has_deadline() && r->transient_retries >= kMaxTransientRetries;
}
}  // namespace

void Engine::on_reply(Request *r, Reply *reply) {
  if (reply->is_error() && handle_redirect(r, reply)) return;
  if (r->cache && !r->completed) client_.cache_reply(r, reply);
  request_complete(r, Status::ok, reply);
}

bool Engine::handle_redirect(Request *r, Reply *reply) {
  const std::string e(reply->str);  // an error reply: rare
  if (r->completed) return false;
  if (mode_ == Mode::cluster && (starts_with(e, "MOVED ") || starts_with(e, "ASK "))) {
    bool moved = e[0] == 'M';
    size_t sp1 = e.find(' ');
    size_t sp2 = e.find(' ', sp1 + 1);
    if (sp2 == std::string::npos) return false;
    int slot = std::atoi(e.c_str() + sp1 + 1);
    std::string addr = e.substr(sp2 + 1);
    Endpoint ep;
    try {
      if (!addr.empty() && addr[0] == ':' && r->sent_to) addr = r->sent_to->endpoint().host + addr;
      ep = parse_endpoint(addr, moved ? "MOVED" : "ASK");
    } catch (const Error &) {
      return false;
    }
    if (r->sent_to) (moved ? r->sent_to->stats().moved : r->sent_to->stats().ask)++;
    ++r->refused;
    r->last_error = e;
    if (r->pinned || r->route == RouteKind::node) {
      // Not followed: a command queued in MULTI ... EXEC (the server aborts that EXEC, so
      // nothing of it ran; Client::execute_batch resends the whole block), a lease's
      // command (its connection is the point), or a node the caller named (its answer is
      // what was asked for). The map still learns the slot's owner.
      if (moved && slot >= 0 && slot < kSlots) {
        NodePool *target = &pool_for(ep, NodePool::Kind::primary);
        if (!target->lost()) slot_primary_[slot] = target;
        request_refresh("MOVED " + std::to_string(slot) + " " + ep.str());
      }
      return false;
    }
    if (++r->redirects > cfg_.cluster_max_redirects) {
      request_fail(r, Status::redirect,
                   "too many redirects (cluster.max_redirects=" + std::to_string(cfg_.cluster_max_redirects) +
                       "); last: " + e);
      delete reply;
      return true;
    }
    if (moved && slot >= 0 && slot < kSlots) {
      NodePool *target = &pool_for(ep, NodePool::Kind::primary);
      if (target->lost()) {
        // A node that lags behind a failover can still name the dead primary: do not
        // move the slot there; look again and retry (within the deadline).
        request_refresh("MOVED to a node that is down: " + ep.str());
        --r->redirects;
        if (out_of_transient_retries(r)) return false;
        ++r->transient_retries;  // (refused and last_error were counted above, once)
        delete reply;
        request_ref(r);
        retry_later(r, std::max(cfg_.retry_backoff_ms, 10));
        return true;
      }
      slot_primary_[slot] = target;
      request_refresh("MOVED " + std::to_string(slot) + " " + ep.str());
      if (r->route == RouteKind::slot || r->route == RouteKind::automatic) r->slot = slot;
    } else {
      r->ask_node = ep.str();
    }
    delete reply;
    request_ref(r);
    dispatch(r);
    return true;
  }
  if (mode_ == Mode::raft && starts_with(e, "MOVED ")) {
    // A follower names the leader: "MOVED 0 host:port" (the slot is always 0).
    size_t sp = e.rfind(' ');
    Endpoint ep;
    try {
      ep = parse_endpoint(e.substr(sp + 1), "MOVED");
    } catch (const Error &) {
      return false;
    }
    if (r->sent_to) r->sent_to->stats().moved++;
    ++r->refused;
    r->last_error = e;
    if (++r->redirects > cfg_.cluster_max_redirects) {
      request_fail(r, Status::redirect, "too many leader redirects; last: " + e);
      delete reply;
      return true;
    }
    primary_ = &pool_for(ep, NodePool::Kind::primary);
    client_.primary_hint(ep, "MOVED from a follower");
    delete reply;
    request_ref(r);
    dispatch(r);
    return true;
  }
  if (mode_ == Mode::raft && starts_with(e, "TIMEOUT") && !(r->cmd.flags & kCmdReadonly)) {
    // The leader took the write but could not commit it in time: it may still apply.
    request_fail(r, Status::uncertain, "RedisRaft: " + e + " (the write may or may not be applied)");
    delete reply;
    return true;
  }
  bool readonly_err = starts_with(e, "READONLY");
  bool raft_transient = mode_ == Mode::raft && (starts_with(e, "NOTLEADER") || starts_with(e, "NOCLUSTER") ||
                                                starts_with(e, "TIMEOUT"));
  bool transient = starts_with(e, "TRYAGAIN") || starts_with(e, "CLUSTERDOWN") || starts_with(e, "LOADING") ||
                   starts_with(e, "MASTERDOWN") || raft_transient || (readonly_err && mode_ != Mode::standalone);
  if (!transient || out_of_transient_retries(r) || r->pinned) return false;
  if (readonly_err || raft_transient || starts_with(e, "CLUSTERDOWN") || starts_with(e, "LOADING"))
    request_refresh(e.substr(0, 40));
  long long delay = cfg_.retry_backoff_ms > 0 ? cfg_.retry_backoff_ms : 1;
  for (int i = 0; i < r->transient_retries && delay < cfg_.retry_backoff_max_ms; ++i) delay *= 2;
  if (delay > cfg_.retry_backoff_max_ms) delay = cfg_.retry_backoff_max_ms;
  if (delay < 1) delay = 1;
  // Jittered to [d/2, d], like reconnects: clients that met the same error do not come
  // back in lockstep.
  delay -= static_cast<long long>(next_random() % static_cast<uint64_t>(delay / 2 + 1));
  // Retry until the deadline; if the next try would not come before it, do not send it:
  // the request waits for its deadline (the deadline heap holds it) and ends as a failure
  // naming this reply, known not to have run, rather than as a try still in flight (whose
  // outcome would be unknown) or a success carrying the error.
  ++r->transient_retries;
  ++r->refused;
  r->last_error = e;
  if (r->has_deadline()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(r->deadline - Clock::now()).count();
    if (left <= 0) {
      fail_at_deadline(r);
      delete reply;
      return true;
    }
    if (delay >= left) {
      delete reply;
      return true;
    }
  }
  if (r->sent_to) r->sent_to->stats().retries++;
  delete reply;
  request_ref(r);
  retry_later(r, static_cast<int>(delay));
  return true;
}

void Engine::retry_later(Request *r, int delay_ms) {
  Clock::time_point at = Clock::now() + std::chrono::milliseconds(delay_ms);
  delayed_.emplace(at, r);  // takes the caller's reference
  if (at < armed_for_) arm_deadline_timer();
}

}  // namespace rcm::core
