// When to run the next discovery round (cluster topology, Raft leader, Sentinel master):
// one round at a time, triggers that arrive meanwhile coalesced into one more round, a
// minimum interval between round starts, and a timer that an urgent request can pull
// forward but never push back. Lives on one I/O thread.
#pragma once

#include <chrono>
#include <functional>

struct event;
struct event_base;

namespace rcm::core {

class RoundScheduler {
 public:
  using Clock = std::chrono::steady_clock;

  // begin starts a round; it must call started() first and finished() when done.
  RoundScheduler(event_base *base, int min_interval_ms, std::function<void()> begin);
  ~RoundScheduler();
  RoundScheduler(const RoundScheduler &) = delete;
  RoundScheduler &operator=(const RoundScheduler &) = delete;

  // A trigger: start now, or after the minimum interval, or once the round in flight ends.
  void request();
  // Runs begin in delay_ms (jittered by the caller) unless already due sooner.
  void schedule(int delay_ms);
  void started();
  // Ends the round; true when triggers arrived meanwhile (another round is due).
  bool finished();
  bool in_flight() const { return in_flight_; }
  // Delay in [ms, 1.5 ms): a fleet of clients does not act in lockstep.
  static int jittered(int ms);
  // The wait before a periodic round: 90..110% of period_ms (any int, in 64 bits:
  // period * 9 overflowed an int above ~238 M ms). `random` picks where; the one-argument
  // form draws it.
  static int periodic(int period_ms, unsigned random);
  static int periodic(int period_ms);

 private:
  static void on_timer(int, short, void *arg);

  int min_interval_ms_;
  std::function<void()> begin_;
  event *timer_ = nullptr;
  bool timer_armed_ = false;
  Clock::time_point timer_at_{};
  bool in_flight_ = false;
  bool again_ = false;
  Clock::time_point last_start_{};
};

}  // namespace rcm::core
