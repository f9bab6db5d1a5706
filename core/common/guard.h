// Exceptions stop at every C boundary of core: a libevent callback or a task run by the
// I/O thread. One that escaped would call std::terminate and end the caller's process.
// Inputs are checked where they enter (config, the C API, replies), so nothing should
// arrive here; this is the wall behind those checks, not a way to report errors.
#pragma once

namespace rcm::core {

// Says on stderr what escaped (no caller is there to tell) and returns.
void report_escaped(const char *where) noexcept;

template <class F>
void run_guarded(const char *where, F &&f) noexcept {
  try {
    f();
  } catch (...) {
    report_escaped(where);
  }
}

template <class Sig, Sig F>
struct CallbackGuard;
template <class... A, void (*F)(A...)>
struct CallbackGuard<void (*)(A...), F> {
  static void call(A... a) noexcept { run_guarded("a libevent callback", [&] { F(a...); }); }
};

}  // namespace rcm::core

// The guarded form of a static callback, to hand to libevent: RCM_GUARDED(Engine::on_tick).
#define RCM_GUARDED(f) (&::rcm::core::CallbackGuard<decltype(&f), &f>::call)
