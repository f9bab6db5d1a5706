// unit.baton: Baton::wait_for, the wait in slices the Python binding uses so that Ctrl-C
// can interrupt a command: it gives up when nothing was posted in time, can be resumed,
// and sees a post that came before, between or during its calls.
#include <atomic>
#include <chrono>
#include <thread>

#include "check.h"
#include "core/common/baton.h"

using rcm::core::Baton;

TEST(wait_for_gives_up_then_resumes_until_posted) {
  Baton b;
  CHECK(!b.wait_for(200, 20));  // nothing posted: false after the slice
  CHECK(!b.wait_for(0, 20));    // resumed: still waiting, still false
  std::thread poster([&b] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    b.post();
  });
  bool done = false;
  for (int i = 0; i < 500 && !done; ++i) done = b.wait_for(0, 20);  // 10 s at most
  poster.join();
  CHECK(done);
  CHECK(b.wait_for(0, 0));  // posted stays posted
}

TEST(wait_for_sees_an_earlier_post) {
  Baton b;
  b.post();
  CHECK(b.wait_for(200, 1000));
  Baton c;
  CHECK(!c.wait_for(0, 1));
  c.post();  // between two slices
  CHECK(c.wait_for(0, 1000));
}

// The Python binding waits in slices, then, once close() was called, with wait(0) for
// the completion close() gives: a wait() after a slice that gave up must still wait for
// the post (it returned at once, and a lease's BLPOP ended by close() returned None).
TEST(wait_after_a_slice_that_gave_up_waits_for_the_post) {
  for (int spin : {0, 200}) {
    Baton b;
    CHECK(!b.wait_for(0, 1));  // gave up: the state stays "waiting"
    std::atomic<bool> about_to_post{false};
    std::thread poster([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      about_to_post.store(true);
      b.post();
    });
    b.wait(spin);
    CHECK(about_to_post.load());  // not before the post
    poster.join();
  }
}

TEST(wait_for_with_spinning_catches_a_quick_post) {
  for (int i = 0; i < 100; ++i) {
    Baton b;
    std::thread poster([&b] { b.post(); });
    bool done = false;
    for (int j = 0; j < 500 && !done; ++j) done = b.wait_for(200, 20);
    poster.join();
    CHECK(done);
  }
}

CHECK_MAIN
