// Tests for src/push/dispatcher.cpp: the pipeline composed: one answer per push, the in-flight
// bound, dead tokens, the throttle, reloads, registered nodes through the store.
#include <doctest/doctest.h>

#include <stdlib.h>

#include <deque>
#include <filesystem>

#include "push/dispatcher.hpp"
#include "store/store_worker.hpp"
#include "test_config.hpp"
#include "support/loop_wait.hpp"

using namespace pushgate;

namespace {
PushRequest request(std::map<std::string, std::string> options) {
  PushRequest r;
  r.node = "abcdef0123456789";
  r.sender_domain = "example.org";
  r.options = std::move(options);
  return r;
}

// A provider that holds jobs until the test completes them.
class HeldProvider final : public Provider {
 public:
  void send(PushJob job, Completion done) override { held.emplace_back(std::move(job), std::move(done)); }
  std::deque<std::pair<PushJob, Completion>> held;
};
}  // namespace

TEST_CASE("a token of another topic or project is wait for Prosody but does not make the app look down") {
  auto cfg = test::two_app_config();
  cfg.apps[0].throttle_ms = 0;
  auto p0 = std::make_unique<HeldProvider>();
  auto* ios = p0.get();
  std::vector<std::unique_ptr<Provider>> providers;
  providers.push_back(std::move(p0));
  providers.push_back(std::make_unique<HeldProvider>());
  Dispatcher d(cfg, std::move(providers));
  std::vector<OutcomeKind> answers;
  for (int i = 0; i < 3; ++i) {
    PushRequest r = request({{"secret", "ios-secret"}});
    r.node = "abcdef012345678" + std::to_string(i);
    d.dispatch(std::move(r), [&](const Outcome& o) { answers.push_back(o.kind); });
  }
  REQUIRE(ios->held.size() == 3);
  ios->held[0].second(Outcome{OutcomeKind::OperatorError, "DeviceTokenNotForTopic"});
  ios->held[1].second(Outcome{OutcomeKind::OperatorError, "SENDER_ID_MISMATCH: wrong project"});
  CHECK(answers == std::vector<OutcomeKind>{OutcomeKind::OperatorError, OutcomeKind::OperatorError});
  CHECK(d.app_stats()[0].consecutive_failures == 0);
  ios->held[2].second(Outcome{OutcomeKind::OperatorError, "InvalidProviderToken"});  // our key: the app is down
  CHECK(d.app_stats()[0].consecutive_failures == 1);
  CHECK(d.app_stats()[0].last_error_operator);
}

TEST_CASE("the dispatcher answers each push exactly once and bounds what is in flight") {
  auto cfg = test::two_app_config();
  cfg.push.queue_size = 2;
  auto p0 = std::make_unique<HeldProvider>();
  auto* ios = p0.get();
  std::vector<std::unique_ptr<Provider>> providers;
  providers.push_back(std::move(p0));
  providers.push_back(std::make_unique<HeldProvider>());
  Dispatcher d(cfg, std::move(providers));

  std::vector<OutcomeKind> answers;
  auto record = [&](const Outcome& o) { answers.push_back(o.kind); };
  d.dispatch(request({{"secret", "ios-secret"}, {"type", "voip"}}), record);
  d.dispatch(request({{"secret", "ios-secret"}}), record);
  CHECK(d.in_flight() == 2);
  CHECK(answers.empty());
  d.dispatch(request({{"secret", "ios-secret"}}), record);  // over the bound
  REQUIRE(answers.size() == 1);
  CHECK(answers[0] == OutcomeKind::QueueFull);
  d.dispatch(request({{"secret", "nope"}}), record);  // refused pushes never reach a provider
  CHECK(answers.back() == OutcomeKind::Forbidden);
  REQUIRE(ios->held.size() == 2);
  CHECK(ios->held[0].first.kind == PushKind::Voip);
  CHECK(ios->held[0].first.app->name == "ios");
  ios->held[0].second(Outcome{OutcomeKind::Delivered, ""});
  ios->held[1].second(Outcome{OutcomeKind::TokenDead, "Unregistered"});
  CHECK(d.in_flight() == 0);
  CHECK(answers.size() == 4);
  CHECK(d.count(OutcomeKind::Delivered) == 1);
  CHECK(d.count(OutcomeKind::TokenDead) == 1);
  CHECK(d.count(OutcomeKind::QueueFull) == 1);
  CHECK(d.count(OutcomeKind::Forbidden) == 1);
}

TEST_CASE("token-as-node: a token the provider called dead is answered TokenDead without asking it again") {
  Config cfg = test::two_app_config();
  struct Counting final : Provider {
    int calls = 0;
    void send(PushJob, Completion done) override {
      ++calls;
      done(Outcome{OutcomeKind::TokenDead, "Unregistered"});
    }
  };
  auto provider = std::make_unique<Counting>();
  Counting* counting = provider.get();
  std::vector<std::unique_ptr<Provider>> providers;
  providers.push_back(std::move(provider));
  providers.push_back(std::make_unique<Counting>());
  Dispatcher d(cfg, std::move(providers));
  std::vector<OutcomeKind> got;
  for (int i = 0; i < 3; ++i) d.dispatch(request({{"secret", "ios-secret"}}), [&](const Outcome& o) { got.push_back(o.kind); });
  CHECK(got == std::vector<OutcomeKind>(3, OutcomeKind::TokenDead));
  CHECK(counting->calls == 1);
  CHECK(d.dead_token_hits() == 2);
}

TEST_CASE("throttle: pushes to one target within the window are Coalesced and the latest goes when it ends") {
  Config cfg = test::two_app_config();
  cfg.apps[0].throttle_ms = 1000;
  struct Counting final : Provider {
    std::vector<std::string> counts;
    void send(PushJob job, Completion done) override {
      counts.push_back(job.request.summary.count("message-count") ? job.request.summary.at("message-count") : "");
      done(Outcome{OutcomeKind::Delivered, "ok"});
    }
  };
  auto provider = std::make_unique<Counting>();
  Counting* counting = provider.get();
  std::vector<std::unique_ptr<Provider>> providers;
  providers.push_back(std::move(provider));
  providers.push_back(std::make_unique<Counting>());
  Dispatcher d(cfg, std::move(providers));
  std::vector<std::function<void()>> timers;
  d.set_scheduler([&](std::chrono::milliseconds, std::function<void()> fn) { timers.push_back(std::move(fn)); });
  std::vector<OutcomeKind> got;
  for (int i = 1; i <= 5; ++i) {
    PushRequest r = request({{"secret", "ios-secret"}, {"type", "message"}});
    r.summary["message-count"] = std::to_string(i);
    d.dispatch(r, [&](const Outcome& o) { got.push_back(o.kind); });
  }
  CHECK(got == std::vector<OutcomeKind>{OutcomeKind::Delivered, OutcomeKind::Coalesced, OutcomeKind::Coalesced,
                                        OutcomeKind::Coalesced, OutcomeKind::Coalesced});
  REQUIRE(timers.size() == 1);  // one trailing push, however many were coalesced
  CHECK(counting->counts == std::vector<std::string>{"1"});
  timers[0]();
  CHECK(counting->counts == std::vector<std::string>{"1", "5"});  // the latest state of the queue
  CHECK(d.coalesced() == 4);
  PushRequest call = request({{"secret", "ios-secret"}, {"type", "voip"}});
  d.dispatch(call, [&](const Outcome& o) { got.push_back(o.kind); });
  d.dispatch(call, [&](const Outcome& o) { got.push_back(o.kind); });
  CHECK(got.back() == OutcomeKind::Delivered);  // calls are never throttled
}

TEST_CASE("replace_apps (reload): new pushes use the new apps; pushes in flight finish on the old set, then it is freed") {
  auto cfg = test::two_app_config();
  struct Tracked final : public Provider {
    explicit Tracked(bool* freed) : freed_(freed) {}
    ~Tracked() override { *freed_ = true; }
    void send(PushJob job, Completion done) override { held.emplace_back(std::move(job), std::move(done)); }
    std::deque<std::pair<PushJob, Completion>> held;
    bool* freed_;
  };
  bool old_freed = false, other_freed = false, new_freed = false;
  auto old_ios = std::make_unique<Tracked>(&old_freed);
  Tracked* old_ptr = old_ios.get();
  std::vector<std::unique_ptr<Provider>> providers;
  providers.push_back(std::move(old_ios));
  providers.push_back(std::make_unique<Tracked>(&other_freed));
  Dispatcher d(cfg, std::move(providers));

  std::vector<Outcome> answers;
  d.dispatch(request({{"secret", "ios-secret"}, {"type", "call"}}), [&](const Outcome& o) { answers.push_back(o); });
  REQUIRE(old_ptr->held.size() == 1);

  // The reload: ios gets a new secret, android is removed, web is added.
  std::vector<AppConfig> apps = {cfg.apps[0]};
  apps[0].secret = "new-ios-secret";
  AppConfig web = cfg.apps[1];
  web.name = "web";
  apps.push_back(web);
  auto fresh = std::make_unique<Tracked>(&new_freed);
  Tracked* new_ptr = fresh.get();
  ProviderSet set;
  set.providers.push_back(std::move(fresh));
  set.providers.push_back(std::make_unique<HeldProvider>());
  d.replace_apps(apps, [&](const std::vector<AppConfig>& a) {
    CHECK(a.size() == 2);
    return std::move(set);
  });
  CHECK(d.retired_sets() == 1);
  CHECK(d.apps().size() == 2);
  CHECK(d.apps()[1].name == "web");
  CHECK_FALSE(old_freed);

  d.dispatch(request({{"secret", "ios-secret"}}), [&](const Outcome& o) { answers.push_back(o); });
  REQUIRE(answers.size() == 1);
  CHECK(answers[0].kind == OutcomeKind::Forbidden);  // the old secret no longer works
  d.dispatch(request({{"secret", "new-ios-secret"}}), [&](const Outcome& o) { answers.push_back(o); });
  CHECK(new_ptr->held.size() == 1);

  // The push sent before the reload finishes on its own provider and counts for "ios".
  auto [job, done] = std::move(old_ptr->held.front());
  old_ptr->held.pop_front();
  CHECK(job.app->name == "ios");
  done(Outcome{OutcomeKind::Delivered, ""});
  REQUIRE(answers.size() == 2);
  CHECK(answers[1].kind == OutcomeKind::Delivered);
  CHECK(d.app_stats()[0].pushes[static_cast<std::size_t>(PushKind::Voip)][static_cast<std::size_t>(OutcomeKind::Delivered)] == 1);
  CHECK_FALSE(old_freed);  // never freed from inside its own completion
  d.release_retired();
  CHECK(d.retired_sets() == 0);
  CHECK(old_freed);
  CHECK(other_freed);
  CHECK_FALSE(new_freed);
}

TEST_CASE("replace_apps keeps the old set until release_retired, which frees it when nothing of it is in flight") {
  auto cfg = test::two_app_config();
  std::vector<std::unique_ptr<Provider>> providers;
  providers.push_back(std::make_unique<HeldProvider>());
  providers.push_back(std::make_unique<HeldProvider>());
  Dispatcher d(cfg, std::move(providers));
  ProviderSet set;
  set.providers.push_back(std::make_unique<HeldProvider>());
  set.providers.push_back(std::make_unique<HeldProvider>());
  d.replace_apps(cfg.apps, [&](const std::vector<AppConfig>&) { return std::move(set); });
  CHECK(d.retired_sets() == 1);  // never freed inside the reload (it may run inside a loop turn)
  d.release_retired();
  CHECK(d.retired_sets() == 0);
  // A factory that throws (a key that does not load) leaves everything as it was.
  std::vector<AppConfig> one = {cfg.apps[0]};
  CHECK_THROWS_AS(d.replace_apps(one, [](const std::vector<AppConfig>&) -> ProviderSet {
                    throw std::runtime_error("[[app]] 'ios': key file cannot be read");
                  }),
                  std::runtime_error);
  CHECK(d.apps().size() == 2);
  CHECK(d.retired_sets() == 0);
}

TEST_CASE("provider counters survive reloads: retired and freed sets keep counting toward the totals") {
  auto cfg = test::two_app_config();
  struct Retrying final : public Provider {
    explicit Retrying(std::uint64_t n) : n_(n) {}
    void send(PushJob job, Completion done) override { held.emplace_back(std::move(job), std::move(done)); }
    std::uint64_t retries() const override { return n_; }
    std::deque<std::pair<PushJob, Completion>> held;
    std::uint64_t n_;
  };
  auto first_ios = std::make_unique<Retrying>(3);
  Retrying* first_ptr = first_ios.get();
  std::vector<std::unique_ptr<Provider>> providers;
  providers.push_back(std::move(first_ios));
  providers.push_back(std::make_unique<Retrying>(5));
  Dispatcher d(cfg, std::move(providers));
  CHECK(d.provider_counters().retries.at("ios") == 3);
  CHECK(d.provider_counters().retries.at("android") == 5);

  // A push is in flight on the first set when the reload comes.
  std::vector<Outcome> answers;
  d.dispatch(request({{"secret", "ios-secret"}}), [&](const Outcome& o) { answers.push_back(o); });
  REQUIRE(first_ptr->held.size() == 1);
  auto reload = [&](std::uint64_t ios, std::uint64_t android) {
    ProviderSet set;
    set.providers.push_back(std::make_unique<Retrying>(ios));
    set.providers.push_back(std::make_unique<Retrying>(android));
    d.replace_apps(cfg.apps, [&](const std::vector<AppConfig>&) { return std::move(set); });
  };
  reload(1, 0);
  CHECK(d.retired_sets() == 1);
  CHECK(d.provider_counters().retries.at("ios") == 4);  // the retired set still counts
  first_ptr->n_ = 4;  // and it goes on retrying its push after the reload
  CHECK(d.provider_counters().retries.at("ios") == 5);
  auto [job, done] = std::move(first_ptr->held.front());
  first_ptr->held.pop_front();
  done(Outcome{OutcomeKind::Delivered, ""});
  d.release_retired();
  CHECK(d.retired_sets() == 0);
  CHECK(d.provider_counters().retries.at("ios") == 5);  // freed: its count is kept
  CHECK(d.provider_counters().retries.at("android") == 5);
  reload(2, 1);
  d.release_retired();
  CHECK(d.provider_counters().retries.at("ios") == 7);  // 4 + 1 (freed) + 2 (current)
  CHECK(d.provider_counters().retries.at("android") == 6);
  CHECK(d.provider_counters().connections_opened == 0);  // no HTTP/2 client in these sets
}

TEST_CASE("registered nodes: a node-only (Tigase) registration needs no secret and sends calls to its call token") {
  auto cfg = test::two_app_config();
  char dir[] = "/tmp/pushgate-dispatch-XXXXXX";
  REQUIRE(mkdtemp(dir) != nullptr);
  std::string db = std::string(dir) + "/r.db";
  {
    auto store = open_sqlite_store(db);
    Registration tigase = store->upsert(DeviceKey{"example.org", "alice@example.org", "t", ""},
                                        Enrollment{"ios", "APNS-TOKEN", "PUSHKIT-TOKEN", true}, 1);
    Registration p2 = store->upsert(DeviceKey{"example.org", "alice@example.org", "p", ""}, "ios", "P2-TOKEN", 1);
    std::vector<std::unique_ptr<Provider>> providers;
    auto ios = std::make_unique<HeldProvider>();
    HeldProvider* held = ios.get();
    providers.push_back(std::move(ios));
    providers.push_back(std::make_unique<HeldProvider>());
    Dispatcher d(cfg, std::move(providers));
    EventLoop loop;
    StoreWorker worker(loop, std::move(store), {.deadline = pushgate::test::kPatience});
    d.set_store(&worker);
    std::vector<Outcome> answers;
    // Each lookup runs on the store's worker: the push goes on once the loop has its answer.
    auto settle = [&] {
      pushgate::test::turn_until(loop, [&] { return d.awaiting_store() == 0; });
      REQUIRE(d.awaiting_store() == 0);
    };
    auto publish = [&](const std::string& node, std::map<std::string, std::string> options) {
      PushRequest r = request(std::move(options));
      r.node = node;
      d.dispatch(std::move(r), [&](const Outcome& o) { answers.push_back(o); });
      settle();
    };
    publish(tigase.node, {});                  // no publish-options at all, as Siskin enables
    publish(tigase.node, {{"type", "call"}});  // a call: the PushKit token
    REQUIRE(held->held.size() == 2);
    CHECK(held->held[0].first.request.node == "APNS-TOKEN");
    CHECK(held->held[0].first.kind == PushKind::Alert);
    CHECK(held->held[1].first.request.node == "PUSHKIT-TOKEN");
    CHECK(held->held[1].first.kind == PushKind::Voip);
    // A p2 registration still needs its secret.
    publish(p2.node, {});
    REQUIRE(answers.size() == 1);
    CHECK(answers[0].kind == OutcomeKind::Forbidden);
    publish(p2.node, {{"secret", p2.secret}, {"type", "call"}});
    REQUIRE(held->held.size() == 3);
    CHECK(held->held[2].first.request.node == "P2-TOKEN");  // no call token: calls use the token
    // Another server cannot use the node-only registration.
    PushRequest evil = request({});
    evil.node = tigase.node;
    evil.sender_domain = "evil.example";
    d.dispatch(std::move(evil), [&](const Outcome& o) { answers.push_back(o); });
    settle();
    REQUIRE(answers.size() == 2);
    CHECK(answers[1].kind == OutcomeKind::UnknownNode);
    for (auto& [job, done] : held->held) done(Outcome{OutcomeKind::Delivered, ""});
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE(
    "registered nodes: the account a client reads reaches the provider; an encrypted call rings on PushKit, "
    "else as a high-priority alert") {
  auto cfg = test::two_app_config();
  cfg.apps[0].service = ServiceKind::Apns;  // the provider is held; only the topic rule depends on it
  char dir[] = "/tmp/pushgate-dispatch-XXXXXX";
  REQUIRE(mkdtemp(dir) != nullptr);
  std::string db = std::string(dir) + "/r.db";
  {
    auto store = open_sqlite_store(db);
    Registration siskin =
        store->upsert(DeviceKey{"example.org", "alice@example.org", "s", ""},
                      Enrollment{"ios", "APNS-TOKEN", "PUSHKIT-TOKEN", true, "alice@example.org", ""}, 1);
    Registration no_pushkit = store->upsert(DeviceKey{"example.org", "alice@example.org", "s2", ""},
                                            Enrollment{"ios", "APNS-2", "", true, "alice@example.org", ""}, 1);
    Registration p2 = store->upsert(DeviceKey{"example.org", "alice@example.org", "p", "room@muc.example.org"},
                                    Enrollment{"ios", "P2-TOKEN", "", false, "acc-hash", "chan-hash"}, 1);
    std::vector<std::unique_ptr<Provider>> providers;
    auto ios = std::make_unique<HeldProvider>();
    HeldProvider* held = ios.get();
    providers.push_back(std::move(ios));
    providers.push_back(std::make_unique<HeldProvider>());
    Dispatcher d(cfg, std::move(providers));
    EventLoop loop;
    StoreWorker worker(loop, std::move(store), {.deadline = pushgate::test::kPatience});
    d.set_store(&worker);
    auto publish = [&](const std::string& node, std::map<std::string, std::string> options, const char* encrypted) {
      PushRequest r = request(std::move(options));
      r.node = node;
      if (encrypted != nullptr) {
        r.encrypted = EncryptedPayload{{{"iv", "aXY="}}, "Y2lwaGVy"};
        if (*encrypted != '\0') r.encrypted->attributes["type"] = encrypted;
      }
      d.dispatch(std::move(r), [](const Outcome&) {});
      pushgate::test::turn_until(loop, [&] { return d.awaiting_store() == 0; });
      REQUIRE(d.awaiting_store() == 0);
    };
    publish(siskin.node, {}, "");      // an encrypted message
    publish(siskin.node, {}, "voip");  // Siskin's call: <encrypted type='voip'>, no publish-options
    publish(no_pushkit.node, {}, "voip");
    publish(p2.node, {{"secret", p2.secret}}, nullptr);
    REQUIRE(held->held.size() == 4);
    const PushJob& message = held->held[0].first;
    CHECK(message.kind == PushKind::Alert);
    CHECK(message.request.node == "APNS-TOKEN");
    CHECK(message.request.dialect == Dialect::Tigase);
    CHECK(message.request.account == "alice@example.org");
    const PushJob& call = held->held[1].first;
    CHECK(call.kind == PushKind::Voip);
    CHECK(call.request.node == "PUSHKIT-TOKEN");
    CHECK(call.request.account == "alice@example.org");
    // No PushKit token: never the .voip topic on the ordinary token, a high-priority alert.
    const PushJob& rings = held->held[2].first;
    CHECK(rings.kind == PushKind::Alert);
    CHECK(rings.request.node == "APNS-2");
    CHECK(rings.request.priority == std::optional<std::string>("high"));
    const PushJob& conversations = held->held[3].first;
    CHECK(conversations.request.dialect == Dialect::P2);
    CHECK(conversations.request.account == "acc-hash");
    CHECK(conversations.request.channel == "chan-hash");
    for (auto& [job, done] : held->held) done(Outcome{OutcomeKind::Delivered, ""});
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("with a store: an unregistered node naming its app is never item-not-found: sent, wait or forbidden") {
  auto cfg = test::two_app_config();
  cfg.apps[1].secret.reset();  // android: registered devices only
  AppConfig monal;
  monal.name = "monalProdiOS";
  monal.require_secret = false;
  cfg.apps.push_back(monal);
  char dir[] = "/tmp/pushgate-dispatch-XXXXXX";
  REQUIRE(mkdtemp(dir) != nullptr);
  {
    std::vector<std::unique_ptr<Provider>> providers;
    for (int i = 0; i < 3; ++i) providers.push_back(std::make_unique<HeldProvider>());
    auto* monal_provider = static_cast<HeldProvider*>(providers[2].get());
    Dispatcher d(cfg, std::move(providers));
    EventLoop loop;
    StoreWorker worker(loop, open_sqlite_store(std::string(dir) + "/r.db"), {.deadline = pushgate::test::kPatience});
    d.set_store(&worker);
    std::vector<Outcome> answers;
    auto publish = [&](std::map<std::string, std::string> options) {
      d.dispatch(request(std::move(options)), [&](const Outcome& o) { answers.push_back(o); });
      pushgate::test::turn_until(loop, [&] { return d.awaiting_store() == 0; });
      REQUIRE(d.awaiting_store() == 0);
    };
    publish({{"pushModule", "monalProdiOS"}});
    REQUIRE(monal_provider->held.size() == 1);
    CHECK(monal_provider->held[0].first.request.node == "abcdef0123456789");
    publish({{"pushModule", "android"}});
    REQUIRE(answers.size() == 1);
    CHECK(answers[0].kind == OutcomeKind::OperatorError);
    // Not named, wrong secret: a registration that is gone, as before.
    publish({{"secret", "nope"}});
    REQUIRE(answers.size() == 2);
    CHECK(answers[1].kind == OutcomeKind::UnknownNode);
    // Named, without the app's secret: a token-as-node client refused (auth), not a gone device.
    publish({{"pushModule", "ios"}});
    REQUIRE(answers.size() == 3);
    CHECK(answers[2].kind == OutcomeKind::Forbidden);
    for (auto& [job, done] : monal_provider->held) done(Outcome{OutcomeKind::Delivered, ""});
  }
  std::filesystem::remove_all(dir);
}
