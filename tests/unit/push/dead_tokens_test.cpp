// Tests for src/push/dead_tokens.cpp: a token called dead is known for the ttl, per app, and
// the list is bounded.
#include "push/dead_tokens.hpp"

#include <doctest/doctest.h>

using namespace pushgate;

namespace {
const DeadTokens::Clock::time_point t0 = DeadTokens::Clock::time_point(std::chrono::hours(1000));
}

TEST_CASE("a dead token is known for a day, then forgotten; each push it answers is a hit") {
  DeadTokens dead;
  CHECK_FALSE(dead.known_dead("ios", "T", t0));
  dead.mark_dead("ios", "T", t0);
  CHECK(dead.known_dead("ios", "T", t0 + std::chrono::hours(23)));
  CHECK(dead.known_dead("ios", "T", t0 + std::chrono::hours(24) - std::chrono::milliseconds(1)));
  CHECK(dead.hits() == 2);
  CHECK_FALSE(dead.known_dead("ios", "T", t0 + DeadTokens::kTtl));  // expired: asked again
  CHECK(dead.size() == 0);                                          // and the entry is gone
  CHECK(dead.hits() == 2);
}

TEST_CASE("a token is dead for its app only") {
  DeadTokens dead;
  dead.mark_dead("ios", "T", t0);
  CHECK_FALSE(dead.known_dead("android", "T", t0));
  CHECK_FALSE(dead.known_dead("ios", "T2", t0));
  // The key cannot be forged by moving the separator between app and token.
  dead.mark_dead("a", "bc", t0);
  CHECK_FALSE(dead.known_dead("ab", "c", t0));
  CHECK(dead.hits() == 0);
}

TEST_CASE("a token called dead again starts a new day") {
  DeadTokens dead;
  dead.mark_dead("ios", "T", t0);
  dead.mark_dead("ios", "T", t0 + std::chrono::hours(20));
  CHECK(dead.known_dead("ios", "T", t0 + std::chrono::hours(30)));
  CHECK(dead.size() == 1);
}

TEST_CASE("at its bound the list forgets every entry instead of growing") {
  DeadTokens dead(3, std::chrono::hours(1));
  for (const char* t : {"a", "b", "c"}) dead.mark_dead("ios", t, t0);
  CHECK(dead.size() == 3);
  dead.mark_dead("ios", "d", t0);
  CHECK(dead.size() == 1);
  CHECK(dead.known_dead("ios", "d", t0));
  CHECK_FALSE(dead.known_dead("ios", "a", t0));
}
