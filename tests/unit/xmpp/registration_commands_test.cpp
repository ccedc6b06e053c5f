// Tests for src/xmpp/registration_commands.cpp: who a command names, what it asks of the
// store, the replies to the store's answers, and the runner against a real store's worker
// (answers once, bounds one user's commands in progress).
#include "xmpp/registration_commands.hpp"

#include <doctest/doctest.h>

#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <thread>

#include "../push/test_config.hpp"
#include "support/xml_check.hpp"
#include "test_stanza.hpp"
#include "support/loop_wait.hpp"

using namespace pushgate;
using xmpp::CommandError;

namespace {
const std::string kApnsToken(64, 'a');
const std::string kFcmToken = "fcm-token-0123456789-0123456789-0123456789";

xmpp::AdhocCommand command(const std::string& node, std::map<std::string, std::string> fields) {
  xmpp::AdhocCommand c;
  c.node = node;
  c.action = "execute";
  c.sessionid = "0123456789abcdef";
  c.fields = std::move(fields);
  return c;
}

std::vector<AppConfig> apps() {
  auto apps = test::two_app_config().apps;
  apps[0].service = ServiceKind::Apns;
  apps[1].service = ServiceKind::Fcm;
  apps[1].max_devices_per_user = 3;
  return apps;
}

std::string error_of(const auto& v) {
  REQUIRE_FALSE(v.ok());
  const CommandError& e = v.error();
  return std::string(e.condition.type) + "/" + e.condition.condition + ": " + e.text;
}

xmpp::CommandDevice device_of(const xmpp::AdhocCommand& c, const std::string& from = "alice@example.org/phone") {
  auto d = xmpp::command_device(c, from);
  REQUIRE(d.ok());
  return std::move(d).value();
}

xmpp::RegisterDevice plan_register(const xmpp::AdhocCommand& c) {
  auto work = xmpp::plan_command(c, device_of(c), apps(), 42);
  if (!work) FAIL("refused: " << work.error().text);
  REQUIRE(std::holds_alternative<xmpp::RegisterDevice>(work.value()));
  return std::get<xmpp::RegisterDevice>(work.value());
}
}  // namespace

TEST_CASE("command_device: the user is the bare JID Prosody stamped; a server cannot register") {
  auto c = command("register-push-fcm", {{"token", kFcmToken}, {"device-id", "d1"}});
  xmpp::CommandDevice d = device_of(c);
  CHECK(d.user == "alice@example.org");
  CHECK(d.key.domain == "example.org");
  CHECK(d.key.bare_jid == "alice@example.org");
  CHECK(d.key.device_id == "d1");
  CHECK(d.token == kFcmToken);
  CHECK(error_of(xmpp::command_device(c, "example.org")) == "modify/bad-request: commands must come from a user");
  CHECK(error_of(xmpp::command_device(c, "example.org/res@x")) == "modify/bad-request: commands must come from a user");
}

TEST_CASE("command_device: p2 names the device by device-id, else android-id; Tigase by provider and token") {
  CHECK(
      device_of(command("register-push-fcm", {{"android-id", "a1"}, {"muc", "room@muc.example.org"}})).key.device_id ==
      "a1");
  CHECK(device_of(command("register-push-fcm", {{"muc", "room@muc.example.org"}, {"device-id", "d"}})).key.muc ==
        "room@muc.example.org");
  CHECK(error_of(xmpp::command_device(command("unregister-push-apns", {}), "alice@example.org/r")) ==
        "modify/bad-request: field device-id is required");
  auto tigase = command("register-device", {{"provider", "tigase:messenger:apns:1"}, {"device-token", kApnsToken}});
  CHECK(device_of(tigase).key.device_id == "tigase:messenger:apns:1 " + kApnsToken);
  CHECK(error_of(xmpp::command_device(command("register-device", {{"provider", "webpush"}, {"device-token", "t"}}),
                                      "alice@example.org/r")) ==
        "modify/bad-request: field provider must be tigase:messenger:apns:1 or fcm-xmpp-api");
  CHECK(error_of(xmpp::command_device(command("unregister-device", {{"provider", "fcm-xmpp-api"}}),
                                      "alice@example.org/r")) == "modify/bad-request: field device-token is required");
}

TEST_CASE("plan_command: a p2 registration goes to its service's app and carries p2's account and channel") {
  auto fcm = plan_register(command("register-push-fcm", {{"token", kFcmToken}, {"device-id", "d1"}}));
  CHECK(fcm.enrollment.app == "android");  // the first FCM app
  CHECK(fcm.enrollment.token == kFcmToken);
  CHECK_FALSE(fcm.enrollment.node_only);
  CHECK(fcm.enrollment.account == p2_account_id("alice@example.org", "d1"));
  CHECK(fcm.enrollment.channel.empty());
  CHECK(fcm.max_devices == 3);
  CHECK(fcm.now_ms == 42);
  auto muc = plan_register(
      command("register-push-apns", {{"token", kApnsToken}, {"device-id", "d1"}, {"muc", "room@muc.example.org"}}));
  CHECK(muc.enrollment.app == "ios");
  CHECK(muc.enrollment.channel == p2_account_id("room@muc.example.org", "d1"));
  // The form's app wins over the service.
  CHECK(plan_register(command("register-push-apns", {{"token", kFcmToken}, {"device-id", "d"}, {"app", "android"}}))
            .enrollment.app == "android");
}

TEST_CASE("plan_command: no token, an unknown app or a token of the wrong shape is a bad request") {
  auto refused = [](const xmpp::AdhocCommand& c) { return error_of(xmpp::plan_command(c, device_of(c), apps(), 1)); };
  CHECK(refused(command("register-push-fcm", {{"device-id", "d"}})) == "modify/bad-request: field token is required");
  CHECK(refused(command("register-push-fcm", {{"token", kFcmToken}, {"device-id", "d"}, {"app", "windows"}})) ==
        "modify/bad-request: unknown app");
  CHECK(refused(command("register-push-apns", {{"token", "not-hex"}, {"device-id", "d"}}))
            .rfind("modify/bad-request: field token: not an APNs device token", 0) == 0);
  CHECK(refused(command("register-device", {{"provider", "tigase:messenger:apns:1"},
                                            {"device-token", kApnsToken},
                                            {"device-second-token", "short"}}))
            .rfind("modify/bad-request: field device-second-token: not an APNs device token", 0) == 0);
  CHECK(error_of(xmpp::plan_command(command("register-push-fcm", {{"token", kFcmToken}, {"device-id", "d"}}),
                                    device_of(command("register-push-fcm", {{"token", kFcmToken}, {"device-id", "d"}})),
                                    {}, 1)) == "modify/bad-request: unknown app");  // no app configured at all
}

TEST_CASE("plan_command: a log app checks tokens for the provider the command names") {
  auto logs = test::two_app_config().apps;  // both ServiceKind::Log
  auto c = command("register-push-apns", {{"token", kFcmToken}, {"device-id", "d"}});
  CHECK(error_of(xmpp::plan_command(c, device_of(c), logs, 1)).find("not an APNs device token") != std::string::npos);
  c = command("register-push-fcm", {{"token", kFcmToken}, {"device-id", "d"}});
  CHECK(xmpp::plan_command(c, device_of(c), logs, 1).ok());
}

TEST_CASE("plan_command: Tigase registers node-only with the bare JID as its account and a call token") {
  auto r = plan_register(command("register-device", {{"provider", "tigase:messenger:apns:1"},
                                                     {"device-token", kApnsToken},
                                                     {"device-second-token", std::string(64, 'b')}}));
  CHECK(r.enrollment.app == "ios");
  CHECK(r.enrollment.node_only);
  CHECK(r.enrollment.account == "alice@example.org");
  CHECK(r.enrollment.voip_token == std::string(64, 'b'));
}

TEST_CASE("plan_command: unregistering by channel only without a muc (Conversations leaving a group chat)") {
  auto unregister = [](std::map<std::string, std::string> fields) {
    auto c = command("unregister-push-fcm", std::move(fields));
    auto work = xmpp::plan_command(c, device_of(c), apps(), 1);
    REQUIRE(work.ok());
    return std::get<xmpp::UnregisterDevice>(work.value());
  };
  CHECK(unregister({{"android-id", "a"}, {"channel", "c0ffee"}}).channel == "c0ffee");
  auto with_muc = unregister({{"android-id", "a"}, {"channel", "c0ffee"}, {"muc", "room@muc.example.org"}});
  CHECK(with_muc.channel.empty());
  CHECK(with_muc.key.muc == "room@muc.example.org");
}

TEST_CASE("registration_answer: p2's jid, node and secret; Tigase's node, features and max-payload-size; quotas") {
  Registration stored;
  stored.node = "NODE";
  stored.secret = "SECRET";
  xmpp::RegisterDevice p2;
  p2.enrollment.app = "android";
  auto form = xmpp::registration_answer(stored, p2, "push.example.org");
  REQUIRE(form.ok());
  auto& fields = form.value();
  REQUIRE(fields.size() == 3);
  CHECK(fields[0].var == "jid");
  CHECK(fields[0].values == std::vector<std::string>{"push.example.org"});
  CHECK(fields[1].values == std::vector<std::string>{"NODE"});
  CHECK(fields[2].var == "secret");
  CHECK(fields[2].values == std::vector<std::string>{"SECRET"});

  xmpp::RegisterDevice tigase = p2;
  tigase.enrollment.node_only = true;
  form = xmpp::registration_answer(stored, tigase, "push.example.org");
  REQUIRE(form.ok());
  auto& t = form.value();
  REQUIRE(t.size() == 3);
  CHECK(t[0].var == "node");
  CHECK(t[1].var == "features");
  CHECK(t[1].list_multi);
  CHECK(t[1].values.front() == "tigase:push:encrypt:0");
  CHECK(t[2].var == "max-payload-size");
  CHECK(t[2].values == std::vector<std::string>{std::to_string(xmpp::kTigaseMaxPayloadSize)});

  auto quota = xmpp::registration_answer(QuotaExceeded{QuotaExceeded::Limit::DevicesPerUser, 3}, p2, "p");
  CHECK(error_of(quota) ==
        "modify/bad-request: too many devices: 3 are registered for app 'android' (max_devices_per_user = 3); "
        "unregister one first");
  quota = xmpp::registration_answer(QuotaExceeded{QuotaExceeded::Limit::RegistrationsPerDevice, 200}, p2, "p");
  CHECK(error_of(quota) ==
        "modify/bad-request: too many registrations for this device: 200 (its group chats included)");
}

TEST_CASE("store_unavailable: a full queue is resource-constraint, anything else internal-server-error, both wait") {
  CommandError full = xmpp::store_unavailable(StoreFailure{StoreFailure::Kind::QueueFull, "queue"});
  CHECK(std::string(full.condition.type) + "/" + full.condition.condition == "wait/resource-constraint");
  CommandError down = xmpp::store_unavailable(StoreFailure{StoreFailure::Kind::Error, "connection refused"});
  CHECK(std::string(down.condition.type) + "/" + down.condition.condition == "wait/internal-server-error");
  CHECK(down.text.find("connection refused") == std::string::npos);  // the cause is for the log only
}

namespace {
// A SQLite store whose register_device waits until the test opens the gate.
class GatedStore final : public RegistrationStore {
 public:
  GatedStore(std::unique_ptr<RegistrationStore> inner, std::atomic<bool>& open)
      : inner_(std::move(inner)), open_(open) {}
  std::variant<Registration, QuotaExceeded> register_device(const DeviceKey& k, const Enrollment& e, std::int64_t now,
                                                            std::uint64_t max) override {
    while (!open_) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return inner_->register_device(k, e, now, max);
  }
  std::uint64_t count_devices(const DeviceKey& u, const std::string& app) override {
    return inner_->count_devices(u, app);
  }
  void ping() override { inner_->ping(); }
  void interrupt() override { open_ = true; }
  bool remove(const DeviceKey& k) override { return inner_->remove(k); }
  bool remove_channel(const DeviceKey& k, const std::string& c) override { return inner_->remove_channel(k, c); }
  std::optional<Registration> find(const std::string& d, const std::string& n) override { return inner_->find(d, n); }
  std::optional<Registration> find_node(const std::string& n) override { return inner_->find_node(n); }
  bool remove_dead(const std::string& d, const std::string& n, std::int64_t ms) override {
    return inner_->remove_dead(d, n, ms);
  }
  std::uint64_t count() override { return inner_->count(); }
  std::vector<std::pair<std::string, std::uint64_t>> count_by_app() override { return inner_->count_by_app(); }
  std::uint64_t remove_device(const DeviceKey& k) override { return inner_->remove_device(k); }
  std::uint64_t remove_token(const std::string& t) override { return inner_->remove_token(t); }
  void mark_token_dead(const std::string& a, const std::string& t, std::int64_t until, std::int64_t now) override {
    inner_->mark_token_dead(a, t, until, now);
  }
  std::vector<DeadToken> dead_token(const std::string& t, std::int64_t now) override {
    return inner_->dead_token(t, now);
  }

 private:
  std::unique_ptr<RegistrationStore> inner_;
  std::atomic<bool>& open_;
};

std::string command_iq(const std::string& node, const std::map<std::string, std::string>& fields) {
  std::string xml = "<iq type='set' id='c1'><command xmlns='http://jabber.org/protocol/commands' node='" + node +
                    "' action='execute'><x xmlns='jabber:x:data' type='submit'>";
  for (const auto& [var, value] : fields) xml += "<field var='" + var + "'><value>" + value + "</value></field>";
  return xml + "</x></command></iq>";
}

struct Runner {
  std::vector<AppConfig> configured = apps();
  xmpp::RegistrationCommands& commands;
  std::vector<std::string> replies;
  void send(const std::string& from, const std::string& node, const std::map<std::string, std::string>& fields) {
    auto iq = test::stanza(command_iq(node, fields));
    REQUIRE(iq != nullptr);
    commands.handle(xmpp_stanza_get_child_by_name(iq.get(), "command"), from, "c1", configured,
                    [this](const std::string& xml) { replies.push_back(xml); });
  }
};

std::string type_of(const std::string& reply) {
  return test::parse_single_element(reply).attrs["type"];
}
}  // namespace

TEST_CASE("RegistrationCommands: without a store, commands are service-unavailable and disco lists no provider") {
  xmpp::RegistrationCommands commands("push.example.org", nullptr);
  CHECK_FALSE(commands.enabled());
  CHECK(commands.disco_features(apps()).empty());
  Runner run{apps(), commands, {}};
  run.send("alice@example.org/r", "register-push-fcm", {{"token", kFcmToken}, {"device-id", "d"}});
  REQUIRE(run.replies.size() == 1);
  CHECK(run.replies[0].find("service-unavailable") != std::string::npos);
  CHECK(run.replies[0].find("has no [store]") != std::string::npos);
}

TEST_CASE("RegistrationCommands: one answer per command from the store; one user's commands in progress are bounded") {
  char dir[] = "/tmp/pushgate-commands-XXXXXX";
  REQUIRE(mkdtemp(dir) != nullptr);
  {
    std::atomic<bool> open{false};
    EventLoop loop;
    StoreWorker::Options options;
    options.probe_interval = std::chrono::milliseconds(0);
    options.deadline = std::chrono::seconds(30);
    StoreWorker worker(loop, std::make_unique<GatedStore>(open_sqlite_store(std::string(dir) + "/r.db"), open),
                       options);
    xmpp::RegistrationCommands commands("push.example.org", &worker);
    CHECK(commands.disco_features(apps()) == std::vector<std::string>{"tigase:messenger:apns:1", "fcm-xmpp-api"});
    Runner run{apps(), commands, {}};
    for (unsigned i = 0; i < xmpp::RegistrationCommands::kMaxCommandsPerUser; ++i) {
      run.send("alice@example.org/r", "register-push-fcm",
               {{"token", kFcmToken}, {"device-id", "d" + std::to_string(i % 3)}});
    }
    CHECK(run.replies.empty());  // all waiting for the store
    CHECK(commands.in_progress() == xmpp::RegistrationCommands::kMaxCommandsPerUser);
    run.send("alice@example.org/r", "register-push-fcm", {{"token", kFcmToken}, {"device-id", "d0"}});
    REQUIRE(run.replies.size() == 1);  // over the bound: answered at once
    CHECK(run.replies[0].find("resource-constraint") != std::string::npos);
    run.send("bob@example.org/r", "register-device",
             {{"provider", "tigase:messenger:apns:1"}, {"device-token", kApnsToken}});  // another user is not bounded
    run.send("carol@example.org/r", "register-push-fcm", {{"device-id", "d0"}});        // refused before the store
    REQUIRE(run.replies.size() == 2);
    CHECK(run.replies[1].find("field token is required") != std::string::npos);
    open = true;
    pushgate::test::turn_until(loop, [&] { return commands.in_progress() == 0; });
    REQUIRE(commands.in_progress() == 0);
    REQUIRE(run.replies.size() == 2 + xmpp::RegistrationCommands::kMaxCommandsPerUser + 1);
    std::size_t completed = 0, quota = 0;
    for (std::size_t i = 2; i < run.replies.size(); ++i) {
      auto root = test::parse_single_element(run.replies[i]);
      REQUIRE(root.ok);
      CHECK(root.attrs["id"] == "c1");
      if (type_of(run.replies[i]) == "result") {
        CHECK(run.replies[i].find("completed") != std::string::npos);
        ++completed;
      } else if (run.replies[i].find("too many devices: 3") != std::string::npos) {
        ++quota;
      }
    }
    CHECK(quota == 0);  // d0, d1, d2: three devices, the app's limit
    CHECK(completed == xmpp::RegistrationCommands::kMaxCommandsPerUser + 1);
    // Bob's Tigase registration answered its node and features.
    CHECK(run.replies.back().find("tigase:push:encrypt:0") != std::string::npos);
    // A fourth device is over android's max_devices_per_user.
    run.send("alice@example.org/r", "register-push-fcm", {{"token", kFcmToken}, {"device-id", "d3"}});
    pushgate::test::turn_until(loop, [&] { return commands.in_progress() == 0; });
    CHECK(run.replies.back().find("too many devices: 3") != std::string::npos);
    // Unregistering answers completed with no form.
    run.send("alice@example.org/r", "unregister-push-fcm", {{"device-id", "d0"}});
    pushgate::test::turn_until(loop, [&] { return commands.in_progress() == 0; });
    CHECK(type_of(run.replies.back()) == "result");
    CHECK(run.replies.back().find("jabber:x:data") == std::string::npos);
  }
  std::filesystem::remove_all(dir);
}
