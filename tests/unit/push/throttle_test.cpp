// Tests for src/push/throttle.cpp: per target, the first push goes, the rest of the window is
// held with one trailing push of the latest; which pushes are throttled at all.
#include "push/throttle.hpp"

#include <doctest/doctest.h>

using namespace pushgate;
using std::chrono::milliseconds;

namespace {
const Throttle::Clock::time_point t0 = Throttle::Clock::time_point(std::chrono::hours(1000));
constexpr milliseconds kWindow{1000};

PushRequest push(const std::string& count, const std::string& domain = "example.org") {
  PushRequest r;
  r.node = "NODE";
  r.sender_domain = domain;
  r.summary["message-count"] = count;
  return r;
}
}  // namespace

TEST_CASE("the first push goes; pushes within the window are held and one trailing push carries the latest") {
  Throttle t;
  std::string key = Throttle::key("ios", PushKind::Alert, push("1"));
  CHECK_FALSE(t.admit(key, kWindow, push("1"), t0).has_value());
  auto held = t.admit(key, kWindow, push("2"), t0 + milliseconds(300));
  REQUIRE(held.has_value());
  CHECK(held->wait == milliseconds(700));
  CHECK(held->schedule);  // the first held: the caller schedules the trailing push
  held = t.admit(key, kWindow, push("3"), t0 + milliseconds(600));
  REQUIRE(held.has_value());
  CHECK(held->wait == milliseconds(400));
  CHECK_FALSE(held->schedule);  // already scheduled
  CHECK(t.coalesced() == 2);
  auto trailing = t.take_trailing(key, t0 + kWindow);
  REQUIRE(trailing.has_value());
  CHECK(trailing->summary.at("message-count") == "3");          // the latest state of the queue
  CHECK_FALSE(t.take_trailing(key, t0 + kWindow).has_value());  // only once
  // The trailing push started a new window.
  held = t.admit(key, kWindow, push("4"), t0 + kWindow + milliseconds(10));
  REQUIRE(held.has_value());
  CHECK(held->schedule);
  // After a window without pushes, the next goes at once.
  CHECK(t.take_trailing(key, t0 + 2 * kWindow).has_value());
  CHECK_FALSE(t.admit(key, kWindow, push("5"), t0 + 4 * kWindow).has_value());
}

TEST_CASE("targets are apart: another app, kind, sender domain or node has its own window") {
  Throttle t;
  PushRequest p = push("1");
  PushRequest other_domain = push("1", "other.example");
  PushRequest other_node = push("1");
  other_node.node = "NODE2";
  for (const std::string& key :
       {Throttle::key("ios", PushKind::Alert, p), Throttle::key("android", PushKind::Alert, p),
        Throttle::key("ios", PushKind::Background, p), Throttle::key("ios", PushKind::Alert, other_domain),
        Throttle::key("ios", PushKind::Alert, other_node)}) {
    CHECK_FALSE(t.admit(key, kWindow, p, t0).has_value());
  }
  CHECK(t.size() == 5);
  CHECK(t.coalesced() == 0);
}

TEST_CASE("calls and apps with throttle_ms = 0 are never throttled") {
  AppConfig app;
  app.throttle_ms = 5000;
  CHECK(Throttle::applies(PushKind::Alert, app));
  CHECK(Throttle::applies(PushKind::Background, app));
  CHECK_FALSE(Throttle::applies(PushKind::Voip, app));
  app.throttle_ms = 0;
  CHECK_FALSE(Throttle::applies(PushKind::Alert, app));
}

TEST_CASE("past kSweepAbove targets, those whose window passed are swept; a held push is kept") {
  Throttle t;
  PushRequest p = push("1");
  for (std::size_t i = 0; i <= Throttle::kSweepAbove; ++i) t.admit("k" + std::to_string(i), kWindow, p, t0);
  REQUIRE(t.admit("k0", kWindow, p, t0 + milliseconds(10)).has_value());  // k0 holds a trailing push
  CHECK(t.size() == Throttle::kSweepAbove + 1);
  t.admit("new", kWindow, p, t0 + 2 * kWindow);
  CHECK(t.size() == 2);  // k0 (held) and the new target
  CHECK(t.take_trailing("k0", t0 + 2 * kWindow).has_value());
}
