// Tests for the pure parts of src/xmpp/component_session.cpp.
#include <doctest/doctest.h>

#include <set>

#include "xmpp/component_session.hpp"

using namespace pushgate;

TEST_CASE("the first reconnect comes within 1 s and the delay is capped at 30 s") {
  std::mt19937 rng(42);
  for (int i = 0; i < 200; ++i) {
    auto d = xmpp::reconnect_delay(0, rng);
    CHECK(d.count() >= 500);
    CHECK(d.count() <= 1000);
  }
  for (unsigned attempt = 0; attempt < 40; ++attempt) {
    auto d = xmpp::reconnect_delay(attempt, rng);
    CHECK(d.count() <= 30000);
  }
  auto late = xmpp::reconnect_delay(20, rng);
  CHECK(late.count() >= 15000);
}

TEST_CASE("reconnect delays grow and are jittered") {
  std::mt19937 rng(7);
  CHECK(xmpp::reconnect_delay(3, rng).count() >= 4000);  // base 8 s → [4 s, 8 s]
  std::set<long> seen;
  for (int i = 0; i < 20; ++i) seen.insert(static_cast<long>(xmpp::reconnect_delay(2, rng).count()));
  CHECK(seen.size() > 5);
}

TEST_CASE("standing by, Prosody is asked again every second with jitter, however long the standby lasts") {
  std::mt19937 rng(11);
  std::set<long> seen;
  long long total = 0;
  for (int i = 0; i < 1000; ++i) {  // a standby of 1000 refusals: the delay never grows
    auto d = xmpp::standby_delay(rng);
    CHECK(d.count() >= 800);
    CHECK(d.count() <= 1200);
    seen.insert(static_cast<long>(d.count()));
    total += d.count();
  }
  CHECK(seen.size() > 100);  // jittered: two standbys started together do not ask in step
  CHECK(total / 1000 > 950);
  CHECK(total / 1000 < 1050);
  // The ordinary backoff is what a standby is not: by the fifth failure it waits 8 s or more.
  CHECK(xmpp::reconnect_delay(4, rng).count() >= 8000);
}

TEST_CASE("the session's role names") {
  CHECK(std::string(xmpp::to_string(xmpp::SessionRole::Active)) == "active");
  CHECK(std::string(xmpp::to_string(xmpp::SessionRole::Standby)) == "standby");
  CHECK(std::string(xmpp::to_string(xmpp::SessionRole::Connecting)) == "connecting");
}
