// Waiting in unit tests: turn the loop until the event the test is about has happened.
// The limit is a safety net for a broken build (the test then fails instead of hanging),
// never a measurement: it is far above anything a correct build needs on a loaded machine
// under AddressSanitizer, so a slow run can never fail a test that would pass on a fast one.
#pragma once

#include <chrono>

#include "common/event_loop.hpp"

namespace pushgate::test {

inline constexpr std::chrono::milliseconds kPatience{60000};

// Turns `loop` until `done()` holds; false if `limit` passed first.
template <class Done>
bool turn_until(EventLoop& loop, Done done, std::chrono::milliseconds limit = kPatience) {
  auto until = EventLoop::Clock::now() + limit;
  while (!done() && EventLoop::Clock::now() < until) loop.run_once(std::chrono::milliseconds(10));
  return done();
}

}  // namespace pushgate::test
