// Tests for src/push/push_stats.cpp: totals, per-app counts and reachability, refused pushes,
// and statistics that follow an app's name across a reload.
#include "push/push_stats.hpp"

#include <doctest/doctest.h>

#include "test_config.hpp"

using namespace pushgate;

namespace {
std::uint64_t pushes(const AppStats& st, PushKind k, OutcomeKind o) {
  return st.pushes[static_cast<std::size_t>(k)][static_cast<std::size_t>(o)];
}
}  // namespace

TEST_CASE("a refused push counts in the totals and as unresolved, never for an app") {
  PushStats stats(2);
  stats.refused(Outcome{OutcomeKind::Forbidden, "wrong secret"});
  CHECK(stats.count(OutcomeKind::Forbidden) == 1);
  CHECK(stats.unresolved()[static_cast<std::size_t>(OutcomeKind::Forbidden)] == 1);
  CHECK(pushes(stats.apps()[0], PushKind::Alert, OutcomeKind::Forbidden) == 0);
}

TEST_CASE("a finished push counts for its app by kind; only a provider's answer is timed and tells reachability") {
  PushStats stats(2);
  stats.finished(1, PushKind::Voip, Outcome{OutcomeKind::Delivered, ""}, 0.02);
  stats.finished(1, PushKind::Alert, Outcome{OutcomeKind::QueueFull, "full"}, std::nullopt);
  const AppStats& st = stats.apps()[1];
  CHECK(pushes(st, PushKind::Voip, OutcomeKind::Delivered) == 1);
  CHECK(pushes(st, PushKind::Alert, OutcomeKind::QueueFull) == 1);
  CHECK(st.latency.count() == 1);
  CHECK(st.last_success.time_since_epoch().count() != 0);
  CHECK(stats.count(OutcomeKind::Delivered) == 1);
  CHECK(stats.unresolved()[static_cast<std::size_t>(OutcomeKind::QueueFull)] == 0);
}

TEST_CASE("provider failures in a row make an app unreachable; an answer about one device does not") {
  PushStats stats(1);
  stats.finished(0, PushKind::Alert, Outcome{OutcomeKind::Retry, "connect: Connection refused"}, 0.1);
  stats.finished(0, PushKind::Alert, Outcome{OutcomeKind::OperatorError, "InvalidProviderToken"}, 0.1);
  CHECK(stats.apps()[0].consecutive_failures == 2);
  CHECK(stats.apps()[0].last_error == "operator_error: InvalidProviderToken");
  CHECK(stats.apps()[0].last_error_operator);
  stats.finished(0, PushKind::Alert, Outcome{OutcomeKind::OperatorError, "DeviceTokenNotForTopic"}, 0.1);
  CHECK(stats.apps()[0].consecutive_failures == 0);  // the provider and our keys work
  stats.finished(0, PushKind::Alert, Outcome{OutcomeKind::Retry, "HTTP 503"}, std::nullopt);
  CHECK(stats.apps()[0].consecutive_failures == 0);  // no provider answered: says nothing
  stats.finished(0, PushKind::Alert, Outcome{OutcomeKind::Retry, "HTTP 503"}, 0.1);
  stats.finished(0, PushKind::Alert, Outcome{OutcomeKind::TokenDead, "Unregistered"}, 0.1);
  CHECK(stats.apps()[0].consecutive_failures == 0);                     // it answered about the device: reachable
  CHECK(stats.apps()[0].last_success.time_since_epoch().count() == 0);  // yet nothing delivered
}

TEST_CASE("a push to an app a reload removed counts in the totals only") {
  PushStats stats(1);
  stats.finished(PushStats::kGone, PushKind::Alert, Outcome{OutcomeKind::Delivered, ""}, 0.1);
  CHECK(stats.count(OutcomeKind::Delivered) == 1);
  CHECK(pushes(stats.apps()[0], PushKind::Alert, OutcomeKind::Delivered) == 0);
  CHECK(stats.unresolved()[static_cast<std::size_t>(OutcomeKind::Delivered)] == 0);
}

TEST_CASE("across a reload an app keeps its statistics by name, a new app starts at zero") {
  auto cfg = test::two_app_config();
  PushStats stats(2);
  stats.finished(0, PushKind::Alert, Outcome{OutcomeKind::Delivered, ""}, 0.1);
  stats.finished(1, PushKind::Alert, Outcome{OutcomeKind::Retry, "down"}, 0.1);
  std::vector<AppConfig> after = {cfg.apps[1], cfg.apps[0]};
  after.push_back(cfg.apps[0]);
  after[2].name = "web";
  stats.follow({"ios", "android"}, after);
  REQUIRE(stats.apps().size() == 3);
  CHECK(stats.apps()[0].consecutive_failures == 1);                              // android, now first
  CHECK(pushes(stats.apps()[1], PushKind::Alert, OutcomeKind::Delivered) == 1);  // ios
  CHECK(pushes(stats.apps()[2], PushKind::Alert, OutcomeKind::Delivered) == 0);  // web
  CHECK(stats.count(OutcomeKind::Delivered) == 1);                               // totals are kept
}
