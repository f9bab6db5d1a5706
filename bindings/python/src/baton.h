// A one-shot wake-up between an rcm I/O thread (post) and a waiting caller (wait),
// without a mutex and without the GIL. It is librcm's own (core/common/baton.h, header
// only, no part of the library's interface): the waiter polls, yielding the CPU, for up
// to the client's sync_spin_us (an adaptive window per thread), then sleeps on a futex;
// why, and what it measured, is written there.
#pragma once

#include "core/common/baton.h"

namespace rcm_py {
using rcm::core::Baton;
}  // namespace rcm_py
