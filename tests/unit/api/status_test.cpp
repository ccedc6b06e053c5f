// Tests for src/api/status.cpp: /health states from the dispatcher's per-app stats, and the
// Prometheus text of /metrics; and the dispatcher with a real store behind the pushes it counts.
#include "api/status.hpp"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "../push/test_config.hpp"
#include "store/registration_store.hpp"
#include "store/store_worker.hpp"
#include "support/loop_wait.hpp"

#include <filesystem>
#include <stdlib.h>

using namespace pushgate;

namespace {
// A provider that answers what the test says, at once.
class ScriptedProvider final : public Provider {
 public:
  explicit ScriptedProvider(Outcome* next) : next_(next) {}
  void send(PushJob job, Completion done) override {
    last_token = job.request.node;
    done(*next_);
  }
  std::string last_token;

 private:
  Outcome* next_;
};

struct Fixture {
  Config config = test::two_app_config();
  Outcome ios{OutcomeKind::Delivered, "ok"}, android{OutcomeKind::Delivered, "ok"};
  std::unique_ptr<Dispatcher> dispatcher;
  ScriptedProvider* android_provider = nullptr;
  explicit Fixture(const std::string& first_app = "") {
    if (!first_app.empty()) config.apps[0].name = first_app;
    std::vector<std::unique_ptr<Provider>> p;
    p.push_back(std::make_unique<ScriptedProvider>(&ios));
    auto a = std::make_unique<ScriptedProvider>(&android);
    android_provider = a.get();
    p.push_back(std::move(a));
    dispatcher = std::make_unique<Dispatcher>(config, std::move(p));
  }
  void push(const std::string& app, const std::string& type = "message") {
    PushRequest r;
    r.node = std::string(64, 'a');
    r.sender_domain = "example.org";
    r.options = {{"app", app}, {"type", type}};
    dispatcher->dispatch(r, [](const Outcome&) {}, true);
  }
  api::Health health() {
    api::Observed o{std::make_shared<const Config>(config), dispatcher.get(), nullptr, nullptr,
                    std::chrono::system_clock::now()};
    return api::health(o);
  }
};
}  // namespace

TEST_CASE("health: degraded without a component session, down when no app can deliver, ok again after a delivery") {
  Fixture f;
  f.push("ios");
  auto h = f.health();
  CHECK(h.status == "degraded");  // no component session in this test
  CHECK(h.http_status == 200);
  auto j = nlohmann::json::parse(h.json);
  CHECK(j["apps"][0]["reachable"] == true);
  CHECK(j["apps"][0]["last_success"].is_string());
  CHECK(j["component"]["connected"] == false);

  f.ios = {OutcomeKind::Retry, "connect: Connection refused"};
  f.android = {OutcomeKind::OperatorError, "InvalidProviderToken"};
  f.push("ios");
  f.push("android");
  h = f.health();
  CHECK(h.status == "down");
  CHECK(h.http_status == 503);
  j = nlohmann::json::parse(h.json);
  CHECK(j["apps"][0]["last_error"] == "retry: connect: Connection refused");
  CHECK(j["apps"][1]["consecutive_failures"] == 1);
  CHECK(j.contains("hint"));

  f.ios = {OutcomeKind::TokenDead, "Unregistered"};  // the provider answered: reachable again
  f.push("ios");
  h = f.health();
  CHECK(h.status == "degraded");
  CHECK(nlohmann::json::parse(h.json)["apps"][0]["reachable"] == true);
}

TEST_CASE("health and metrics read the component and the legacy listener through their status interfaces") {
  struct Component final : api::ComponentStatus {
    api::ComponentState state;
    api::ComponentState component_state() const override { return state; }
  } component;
  struct Listener final : api::ListenerStatus {
    void write_metrics(metrics::Writer& w) const override {
      w.family("pushgate_legacy_test_total", "counter", "A family the listener writes.");
      w.sample("pushgate_legacy_test_total", {}, std::uint64_t{7});
    }
    int port() const override { return 5223; }
    std::int64_t certificate_not_after() const override { return 1801353600; }
  } listener;
  Fixture f;
  f.push("ios");
  component.state = {true, std::chrono::system_clock::time_point(std::chrono::milliseconds(1795320000123)), 3};
  api::Observed o{std::make_shared<const Config>(f.config), f.dispatcher.get(), &component, &listener,
                  std::chrono::system_clock::now()};
  auto h = api::health(o);
  CHECK(h.status == "ok");  // every app answering and the component connected
  auto j = nlohmann::json::parse(h.json);
  CHECK(j["component"]["connected"] == true);
  CHECK(j["component"]["since"] == "2026-11-22T04:00:00.123Z");
  CHECK(j["component"]["reconnects"] == 3);
  std::string text = api::metrics_text(o);
  CHECK(text.find("pushgate_component_connected 1\n") != std::string::npos);
  CHECK(text.find("pushgate_component_reconnects_total 3\n") != std::string::npos);
  CHECK(text.find("pushgate_legacy_test_total 7\n") != std::string::npos);
  CHECK(text.find("pushgate_certificate_expiry_timestamp_seconds{use=\"legacy_tls\"} 1801353600\n") !=
        std::string::npos);
  CHECK(text.find("use=\"http\"") == std::string::npos);  // plain HTTP presents no certificate
  o.http_certificate_not_after = 1798761600;
  CHECK(api::metrics_text(o).find("pushgate_certificate_expiry_timestamp_seconds{use=\"http\"} 1798761600\n") !=
        std::string::npos);
  component.state.connected = false;  // Prosody went away: since is no longer meaningful
  h = api::health(o);
  CHECK(h.status == "degraded");
  CHECK(nlohmann::json::parse(h.json)["component"]["since"].is_null());
  CHECK(api::metrics_text(o).find("pushgate_component_connected 0\n") != std::string::npos);
  CHECK(api::metrics_text(o).find("pushgate_component_role{role=\"connecting\"} 1\n") != std::string::npos);
  CHECK(nlohmann::json::parse(api::health(o).json)["component"]["role"] == "connecting");
  CHECK(api::health(o).status == "degraded");
}

TEST_CASE("metrics: each APNs and FCM app's provider-token expiry and failures, from its provider") {
  struct TokenProvider final : Provider {
    std::int64_t expires = 0;
    std::uint64_t failures = 0;
    void send(PushJob, Completion done) override { done(Outcome{OutcomeKind::Delivered, "ok"}); }
    std::int64_t token_expires_at() const override { return expires; }
    std::uint64_t token_failures() const override { return failures; }
  };
  Config config = test::two_app_config();
  config.apps[0].service = ServiceKind::Apns;
  config.apps[1].service = ServiceKind::Fcm;
  std::vector<std::unique_ptr<Provider>> p;
  auto ios = std::make_unique<TokenProvider>();
  auto android = std::make_unique<TokenProvider>();
  TokenProvider* ios_p = ios.get();
  ios_p->expires = 1795323600;
  android->failures = 2;  // the token endpoint refused it twice; no token yet
  p.push_back(std::move(ios));
  p.push_back(std::move(android));
  Dispatcher d(config, std::move(p));
  api::Observed o{std::make_shared<const Config>(config), &d, nullptr, nullptr, std::chrono::system_clock::now()};
  std::string text = api::metrics_text(o);
  CHECK(text.find("pushgate_provider_token_expiry_timestamp_seconds{app=\"ios\",service=\"apns\"} 1795323600\n") !=
        std::string::npos);
  CHECK(text.find("pushgate_provider_token_expiry_timestamp_seconds{app=\"android\"") == std::string::npos);
  CHECK(text.find("pushgate_provider_token_failures_total{app=\"ios\",service=\"apns\"} 0\n") != std::string::npos);
  CHECK(text.find("pushgate_provider_token_failures_total{app=\"android\",service=\"fcm\"} 2\n") != std::string::npos);
  ios_p->expires = 1795326600;  // a push minted a new one
  CHECK(api::metrics_text(o).find("{app=\"ios\",service=\"apns\"} 1795326600\n") != std::string::npos);
}

TEST_CASE("metrics: log apps have no provider-token series") {
  Fixture f;  // two `log` apps
  api::Observed o{std::make_shared<const Config>(f.config), f.dispatcher.get(), nullptr, nullptr,
                  std::chrono::system_clock::now()};
  CHECK(api::metrics_text(o).find("pushgate_provider_token_failures_total{") == std::string::npos);
}

TEST_CASE("health and metrics of a standby node: its own status, 200, the role in both, and failures still win") {
  struct Component final : api::ComponentStatus {
    api::ComponentState state;
    api::ComponentState component_state() const override { return state; }
  } component;
  Fixture f;
  f.push("ios");
  f.push("android");
  component.state.role = api::ComponentRole::Standby;
  component.state.standby_since = std::chrono::system_clock::time_point(std::chrono::milliseconds(1795320000123));
  api::Observed o{std::make_shared<const Config>(f.config), f.dispatcher.get(), &component, nullptr,
                  std::chrono::system_clock::now()};
  auto h = api::health(o);
  CHECK(h.status == "standby");  // not broken: ready to take over; alert on degraded and down only
  CHECK(h.http_status == 200);   // the HTTP API serves on a standby: a load balancer keeps it
  auto j = nlohmann::json::parse(h.json);
  CHECK(j["component"]["connected"] == false);
  CHECK(j["component"]["role"] == "standby");
  CHECK(j["component"]["standby_since"] == "2026-11-22T04:00:00.123Z");
  CHECK(j["hint"].get<std::string>().find("another pushgate node serves") != std::string::npos);
  std::string text = api::metrics_text(o);
  CHECK(text.find("pushgate_component_connected 0\n") != std::string::npos);
  CHECK(text.find("pushgate_component_role{role=\"standby\"} 1\n") != std::string::npos);
  CHECK(text.find("pushgate_component_role{role=\"active\"} 0\n") != std::string::npos);
  CHECK(text.find("pushgate_component_role{role=\"connecting\"} 0\n") != std::string::npos);

  // Taking over: active, connected, ok.
  component.state.connected = true;
  component.state.role = api::ComponentRole::Active;
  h = api::health(o);
  CHECK(h.status == "ok");
  CHECK(nlohmann::json::parse(h.json)["component"]["role"] == "active");
  CHECK(nlohmann::json::parse(h.json)["component"]["standby_since"].is_null());
  CHECK(api::metrics_text(o).find("pushgate_component_role{role=\"active\"} 1\n") != std::string::npos);

  // A standby whose apps fail is degraded (or down), not standby.
  component.state.connected = false;
  component.state.role = api::ComponentRole::Standby;
  f.ios = {OutcomeKind::Retry, "connect: Connection refused"};
  f.push("ios");
  CHECK(api::health(o).status == "degraded");
}

TEST_CASE("metrics: counters by app, kind and outcome, a latency histogram, escaped labels") {
  Fixture f("i\"os");
  f.push("i\"os", "call");
  f.push("i\"os", "call");
  f.android = {OutcomeKind::TokenDead, "UNREGISTERED"};
  f.push("android");
  PushRequest wrong;
  wrong.node = "n";
  wrong.options = {{"secret", "nope"}};
  f.dispatcher->dispatch(wrong, [](const Outcome&) {});
  api::Observed o{std::make_shared<const Config>(f.config), f.dispatcher.get(), nullptr, nullptr,
                  std::chrono::system_clock::now()};
  std::string text = api::metrics_text(o);
  CHECK(text.find("pushgate_pushes_total{app=\"i\\\"os\",service=\"log\",kind=\"voip\",outcome=\"delivered\"} 2\n") !=
        std::string::npos);
  CHECK(text.find("pushgate_pushes_total{app=\"android\",service=\"log\",kind=\"alert\",outcome=\"token_dead\"} 1\n") !=
        std::string::npos);
  CHECK(text.find("pushgate_pushes_refused_total{outcome=\"forbidden\"} 1\n") != std::string::npos);
  CHECK(text.find("pushgate_provider_latency_seconds_count{app=\"android\",service=\"log\"} 1\n") != std::string::npos);
  CHECK(text.find("pushgate_provider_latency_seconds_bucket{app=\"android\",service=\"log\",le=\"+Inf\"} 1\n") !=
        std::string::npos);
  CHECK(text.find("# TYPE pushgate_provider_latency_seconds histogram\n") != std::string::npos);
  // Every sample line is `name{labels} value` or `name value`.
  std::size_t lines = 0;
  for (std::size_t at = 0; at < text.size();) {
    std::size_t end = text.find('\n', at);
    std::string line = text.substr(at, end - at);
    at = end + 1;
    if (line.empty() || line[0] == '#') continue;
    ++lines;
    CHECK(line.rfind("pushgate_", 0) == 0);
    CHECK(line.find(' ') != std::string::npos);
  }
  CHECK(lines > 50);
}

TEST_CASE("dispatcher: a registered node sends the real token, a dead token removes the registration") {
  Fixture f;
  char tmpl[] = "/tmp/pushgate-disp-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  auto opened = open_sqlite_store(dir + "/p.db");
  Registration r = opened->upsert(DeviceKey{"example.org", "alice@example.org", "d1", ""}, "android", "REAL-TOKEN", 1);
  EventLoop loop;
  StoreWorker store(loop, std::move(opened), {.deadline = pushgate::test::kPatience});
  f.dispatcher->set_store(&store);
  // Lookups and removals run on the store's worker; the loop turns until they are answered.
  auto settle = [&] {
    pushgate::test::turn_until(loop, [&] { return store.pending() == 0; });
    REQUIRE(store.pending() == 0);
  };
  PushRequest p;
  p.node = r.node;
  p.sender_domain = "example.org";
  p.options = {{"secret", r.secret}};
  std::vector<Outcome> got;
  f.dispatcher->dispatch(p, [&](const Outcome& o) { got.push_back(o); });
  settle();
  REQUIRE(got.size() == 1);
  CHECK(got[0].kind == OutcomeKind::Delivered);
  CHECK(f.android_provider->last_token == "REAL-TOKEN");
  // The local API (authenticated by its push secret, no sender domain) reaches it too.
  PushRequest api;
  api.node = r.node;
  api.sender_domain = "http-api";
  f.android_provider->last_token.clear();
  f.dispatcher->dispatch(api, [&](const Outcome&) {}, true);
  settle();
  CHECK(f.android_provider->last_token == "REAL-TOKEN");
  PushRequest other = p;
  other.sender_domain = "evil.example";  // another server cannot use the node
  f.dispatcher->dispatch(other, [&](const Outcome& o) { got.push_back(o); });
  settle();
  CHECK(got[1].kind == OutcomeKind::UnknownNode);
  f.android = {OutcomeKind::TokenDead, "UNREGISTERED"};
  f.dispatcher->dispatch(p, [&](const Outcome& o) { got.push_back(o); });
  settle();  // the lookup, then the removal
  CHECK(got[2].kind == OutcomeKind::TokenDead);
  f.dispatcher->dispatch(p, [&](const Outcome& o) { got.push_back(o); });
  settle();
  CHECK(got[3].kind == OutcomeKind::UnknownNode);  // removed: Prosody hears item-not-found next time
  std::filesystem::remove_all(dir);
}
