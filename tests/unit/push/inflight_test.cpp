// Tests for src/push/inflight.hpp: the bound on pushes the providers hold at once.
#include "push/inflight.hpp"

#include <doctest/doctest.h>

using namespace pushgate;

TEST_CASE("places are taken up to the capacity and come back when a push has its outcome") {
  InFlight bound(2);
  CHECK(bound.capacity() == 2);
  CHECK(bound.try_acquire());
  CHECK(bound.try_acquire());
  CHECK(bound.count() == 2);
  CHECK_FALSE(bound.try_acquire());  // full: QueueFull, and nothing is taken
  CHECK(bound.count() == 2);
  bound.release();
  CHECK(bound.count() == 1);
  CHECK(bound.try_acquire());
}

TEST_CASE("a capacity of 0 takes nothing") {
  InFlight bound(0);
  CHECK_FALSE(bound.try_acquire());
  CHECK(bound.count() == 0);
}
