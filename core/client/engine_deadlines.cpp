// The engine's clock: deadlines (a FIFO for the common timeout, a heap for the rest, and
// the delayed retries) and the periodic tick. Split from engine.cpp; see engine.h.
#include <event2/event.h>

#include <algorithm>
#include <cstring>

#include "core/cache/invalidation_links.h"
#include "core/client/engine.h"
#include "core/pubsub/pubsub_manager.h"
#include "core/common/strings.h"

namespace rcm::core {

// Completed requests leave the deadline FIFO as soon as they reach its front, instead of
// living until their deadline (at 250k ops/s and a 1 s timeout that would be 250k).
void Engine::reap_completed() {
  while (!deadline_fifo_.empty() && deadline_fifo_.front().second->completed) {
    request_release(deadline_fifo_.front().second);
    deadline_fifo_.pop_front();
  }
}

void Engine::watch_deadline(Request *r) {
  if (!r->has_deadline()) return;
  request_ref(r);
  if (deadline_fifo_.empty() || deadline_fifo_.back().first <= r->deadline)
    deadline_fifo_.emplace_back(r->deadline, r);
  else
    deadlines_.emplace(r->deadline, r);
  if (r->deadline < armed_for_) arm_deadline_timer();
}

void Engine::arm_deadline_timer() {
  Clock::time_point next = Clock::time_point::max();
  if (!deadline_fifo_.empty()) next = deadline_fifo_.front().first;
  if (!deadlines_.empty()) next = std::min(next, deadlines_.top().first);
  if (!delayed_.empty()) next = std::min(next, delayed_.top().first);
  if (next == Clock::time_point::max()) {
    armed_for_ = next;
    return;
  }
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(next - Clock::now()).count();
  if (us < 0) us = 0;
  timeval tv{static_cast<time_t>(us / 1000000), static_cast<suseconds_t>(us % 1000000)};
  evtimer_add(deadline_timer_, &tv);
  armed_for_ = next;
}

// The deadline passed: say what is known of the outcome.
void Engine::fail_at_deadline(Request *r) {
  if (mode_ == Mode::raft && r->maybe_executed() && !(r->cmd.flags & kCmdReadonly) && !r->internal) {
    // A RedisRaft leader without quorum holds a write until quorum returns, and may
    // then apply it: at the deadline its outcome is unknown, not merely late.
    request_fail(r, Status::uncertain, "RedisRaft: the write was sent but not confirmed by its deadline (outcome unknown)");
    return;
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(r->deadline - r->created).count();
  if (!r->maybe_executed() && starts_with(r->last_error, kNoReplicaPrefix)) {
    // Strict replica reads: no replica of the shard came up before the deadline.
    request_fail(r, Status::clusterdown,
                 r->last_error + " within the " + std::to_string(ms) + " ms deadline (it did not run)");
    return;
  }
  if (!r->maybe_executed() && (starts_with(r->last_error, "CLUSTERDOWN") || starts_with(r->last_error, kNoOwnerPrefix))) {
    // The slot had no node to serve it until the deadline: say so, not merely "timeout".
    request_fail(r, Status::clusterdown,
                 "cluster down for " + std::to_string(ms) + " ms: " + r->last_error + " (it did not run)");
    return;
  }
  if (!r->maybe_executed() && starts_with(r->last_error, kNoConnectionPrefix)) {
    // Held for a node that did not come back and no successor was named in time.
    request_fail(r, Status::timeout,
                 "command timed out after " + std::to_string(ms) + " ms waiting for " +
                     r->last_error.substr(std::strlen(kNoConnectionPrefix)) + " or its successor (it was not sent)");
    return;
  }
  // A retry in flight at the deadline: its outcome is unknown, and what refused the tries
  // before it is still what the caller needs to hear (LOADING, TRYAGAIN, ...).
  const std::string refused_before =
      r->refused > 0 && !r->last_error.empty() ? "; the try before was refused with '" + r->last_error + "'" : "";
  std::string why = r->maybe_executed() ? "waiting for the reply (it was sent; outcome unknown)" + refused_before
                    : r->attempts > 0   ? "retrying; the last reply was '" + r->last_error + "' (it did not run)"
                    : r->connect_failures > 0
                        ? "waiting for a connection (it was not sent; " + std::to_string(r->connect_failures) +
                              " reconnects failed)"
                        : "waiting for a connection (it was not sent)";
  request_fail(r, Status::timeout, "command timed out after " + std::to_string(ms) + " ms " + why);
}

void Engine::expire(Clock::time_point now) {
  for (;;) {
    Request *r = nullptr;
    if (!deadline_fifo_.empty() && deadline_fifo_.front().first <= now) {
      r = deadline_fifo_.front().second;
      deadline_fifo_.pop_front();
    } else if (!deadlines_.empty() && deadlines_.top().first <= now) {
      r = deadlines_.top().second;
      deadlines_.pop();
    } else {
      break;
    }
    // A fan-out ends when its parts do: at this same deadline each says what became of
    // it (sent to a node that never answered, or not sent), where the parent alone could
    // only say that it was never sent itself.
    if (!r->completed && !r->fanned_out) fail_at_deadline(r);
    request_release(r);
  }
}

void Engine::close_watched(Request *r) {
  if (!r->completed) request_fail(r, Status::closed, "client closed");
  request_release(r);
}

void Engine::on_deadline(int, short, void *arg) {
  auto *e = static_cast<Engine *>(arg);
  e->armed_for_ = Clock::time_point::max();
  Clock::time_point now = Clock::now();
  e->expire(now);
  while (!e->delayed_.empty() && e->delayed_.top().first <= now) {
    Request *r = e->delayed_.top().second;
    e->delayed_.pop();
    e->dispatch(r);
  }
  e->arm_deadline_timer();
}

void Engine::on_tick(int, short, void *arg) {
  auto *e = static_cast<Engine *>(arg);
  Clock::time_point now = Clock::now();
  e->reap_completed();
  for (auto &kv : e->pools_) kv.second->tick(now);
  if (e->pubsub_) e->pubsub_->tick(now);  // before drop_unused_pools: it names the pools it uses
  if (e->cache_links_) e->cache_links_->tick(now);
  while (!e->unrouted_.empty() && e->unrouted_.front()->completed) {
    e->unrouted_count_ -= std::min(e->unrouted_count_, unit_size(e->unrouted_.front()));
    request_release(e->unrouted_.front());
    e->unrouted_.pop_front();
  }
  e->drop_unused_pools(now);
}

}  // namespace rcm::core
