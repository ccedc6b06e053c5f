// Tests for src/api/rate_limiter.hpp: token buckets per client.
#include "api/rate_limiter.hpp"

#include <doctest/doctest.h>

using namespace pushgate::api;
using namespace std::chrono_literals;

TEST_CASE("a client gets a burst of `rate`, then one more per 1/rate seconds; others are not affected") {
  RateLimiter limiter(10);
  auto t0 = RateLimiter::Clock::now();
  int allowed = 0;
  for (int i = 0; i < 15; ++i) allowed += limiter.allow("10.0.0.1", t0);
  CHECK(allowed == 10);
  CHECK(limiter.allow("10.0.0.2", t0));
  CHECK_FALSE(limiter.allow("10.0.0.1", t0 + 50ms));
  CHECK(limiter.allow("10.0.0.1", t0 + 110ms));
  CHECK_FALSE(limiter.allow("10.0.0.1", t0 + 120ms));
  allowed = 0;
  for (int i = 0; i < 15; ++i) allowed += limiter.allow("10.0.0.1", t0 + 10s);
  CHECK(allowed == 10);  // refilled to the burst, not beyond
}

TEST_CASE("rate 0 means no limit") {
  RateLimiter limiter(0);
  auto t0 = RateLimiter::Clock::now();
  for (int i = 0; i < 1000; ++i) REQUIRE(limiter.allow("c", t0));
}
