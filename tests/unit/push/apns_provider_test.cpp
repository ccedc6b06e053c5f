// Tests for the pure part of src/push/apns_provider.cpp: retry backoff.
#include <doctest/doctest.h>

#include "push/apns_provider.hpp"

using namespace pushgate;

TEST_CASE("retry backoff doubles from 100 ms with jitter and is capped at 5 s") {
  std::mt19937 rng(1);
  for (int i = 0; i < 100; ++i) {
    auto first = ApnsProvider::backoff(1, rng).count();
    CHECK(first >= 50);
    CHECK(first <= 100);
    auto third = ApnsProvider::backoff(3, rng).count();
    CHECK(third >= 200);
    CHECK(third <= 400);
    CHECK(ApnsProvider::backoff(30, rng).count() <= 5000);
  }
}
