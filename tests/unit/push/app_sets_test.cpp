// Tests for src/push/app_sets.cpp: the current set, retired sets kept while they hold pushes,
// and provider counters that outlive the sets they came from.
#include "push/app_sets.hpp"

#include <doctest/doctest.h>

#include <stdexcept>

#include "test_config.hpp"

using namespace pushgate;

namespace {
struct Counting final : public Provider {
  Counting(std::uint64_t retries, bool* freed) : retries_(retries), freed_(freed) {}
  ~Counting() override {
    if (freed_ != nullptr) *freed_ = true;
  }
  void send(PushJob, Completion) override {}
  std::uint64_t retries() const override { return retries_; }
  std::uint64_t retries_;
  bool* freed_;
};

AppSets::ProviderFactory counting(std::uint64_t retries, bool* freed = nullptr) {
  return [=](const std::vector<AppConfig>& apps) {
    ProviderSet set;
    for (std::size_t i = 0; i < apps.size(); ++i) set.providers.push_back(std::make_unique<Counting>(retries, freed));
    return set;
  };
}
}  // namespace

TEST_CASE("the providers are built over the set's own apps, one per app") {
  auto cfg = test::two_app_config();
  const std::vector<AppConfig>* seen = nullptr;
  AppSets sets(cfg.apps, [&](const std::vector<AppConfig>& apps) {
    seen = &apps;
    return counting(0)(apps);
  });
  CHECK(seen == &sets.current().apps);  // providers may keep references into it
  CHECK(sets.current().providers.providers.size() == 2);
  CHECK(sets.index_of("android") == 1);
  CHECK(sets.index_of("web") == static_cast<std::size_t>(-1));
}

TEST_CASE("a replaced set is retired, and freed by release_retired once it holds no push") {
  auto cfg = test::two_app_config();
  bool old_freed = false;
  AppSets sets(cfg.apps, counting(0, &old_freed));
  AppSets::Set* old = &sets.current();
  ++old->in_flight;  // a push its provider holds
  std::vector<AppConfig> apps = {cfg.apps[1]};
  sets.replace(apps, counting(0));
  CHECK_FALSE(sets.is_current(old));
  CHECK(sets.current().apps.size() == 1);
  CHECK(sets.index_of("android") == 0);
  CHECK(sets.retired() == 1);
  sets.release_retired();
  CHECK(sets.retired() == 1);  // still holds its push
  CHECK_FALSE(old_freed);
  --old->in_flight;
  sets.release_retired();
  CHECK(sets.retired() == 0);
  CHECK(old_freed);
}

TEST_CASE("a factory that throws changes nothing") {
  auto cfg = test::two_app_config();
  AppSets sets(cfg.apps, counting(0));
  AppSets::Set* before = &sets.current();
  CHECK_THROWS_AS(sets.replace(cfg.apps,
                               [](const std::vector<AppConfig>&) -> ProviderSet {
                                 throw std::runtime_error("[[app]] 'ios': key file cannot be read");
                               }),
                  std::runtime_error);
  CHECK(sets.is_current(before));
  CHECK(sets.retired() == 0);
}

TEST_CASE("counters sum the current, retired and freed sets by app name") {
  auto cfg = test::two_app_config();
  AppSets sets(cfg.apps, counting(3));
  CHECK(sets.counters().retries.at("ios") == 3);
  sets.replace(cfg.apps, counting(2));
  ++sets.current().in_flight;  // keeps this set once it is retired in turn
  CHECK(sets.counters().retries.at("ios") == 5);
  sets.release_retired();  // the first set is freed: its 3 are kept
  CHECK(sets.counters().retries.at("android") == 5);
  std::vector<AppConfig> web = {cfg.apps[0]};
  web[0].name = "web";
  sets.replace(web, counting(1));
  CHECK(sets.retired() == 1);
  ProviderCounters c = sets.counters();
  CHECK(c.retries.at("ios") == 5);
  CHECK(c.retries.at("android") == 5);
  CHECK(c.retries.at("web") == 1);
  CHECK(c.connections_opened == 0);  // no HTTP/2 client in these sets
}
