#include "core/topology/round_scheduler.h"

#include <event2/event.h>

#include <algorithm>
#include <limits>
#include <random>

#include "core/common/guard.h"

namespace rcm::core {

RoundScheduler::RoundScheduler(event_base *base, int min_interval_ms, std::function<void()> begin)
    : min_interval_ms_(min_interval_ms), begin_(std::move(begin)) {
  timer_ = evtimer_new(base, RCM_GUARDED(RoundScheduler::on_timer), this);
}

RoundScheduler::~RoundScheduler() {
  if (timer_) event_free(timer_);
}

int RoundScheduler::jittered(int ms) {
  thread_local std::minstd_rand rng{std::random_device{}()};
  return ms + static_cast<int>(rng() % static_cast<unsigned>(ms / 2 + 1));
}

int RoundScheduler::periodic(int period_ms, unsigned random) {
  const long long p = period_ms;
  long long ms = p * 9 / 10 + static_cast<long long>(random % static_cast<unsigned long long>(p / 5 + 1));
  return static_cast<int>(std::min<long long>(ms, std::numeric_limits<int>::max()));
}

int RoundScheduler::periodic(int period_ms) {
  thread_local std::minstd_rand rng{std::random_device{}()};
  return periodic(period_ms, static_cast<unsigned>(rng()));
}

void RoundScheduler::request() {
  if (in_flight_) {
    again_ = true;
    return;
  }
  auto since = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - last_start_).count();
  if (since >= min_interval_ms_)
    begin_();
  else
    schedule(jittered(min_interval_ms_ - static_cast<int>(since)));
}

// The periodic refresh must not swallow an urgent request: the timer only moves sooner.
void RoundScheduler::schedule(int delay_ms) {
  Clock::time_point at = Clock::now() + std::chrono::milliseconds(delay_ms);
  if (timer_armed_ && timer_at_ <= at) return;
  timer_armed_ = true;
  timer_at_ = at;
  timeval tv{delay_ms / 1000, (delay_ms % 1000) * 1000};
  evtimer_add(timer_, &tv);
}

void RoundScheduler::started() {
  in_flight_ = true;
  again_ = false;
  last_start_ = Clock::now();
}

bool RoundScheduler::finished() {
  in_flight_ = false;
  bool again = again_;
  again_ = false;
  return again;
}

void RoundScheduler::on_timer(int, short, void *arg) {
  auto *self = static_cast<RoundScheduler *>(arg);
  self->timer_armed_ = false;
  if (self->in_flight_) {
    self->again_ = true;
    return;
  }
  self->begin_();
}

}  // namespace rcm::core
