// Tests for src/push/resolver.cpp: token-as-node resolution (apps, secrets, kinds), registered
// nodes, the item-not-found rule with registrations on, the app a registration goes to, and
// how a push to a registered device is addressed.
#include "push/resolver.hpp"

#include <doctest/doctest.h>

#include <map>

#include "test_config.hpp"
#include "xmpp/outcome_errors.hpp"  // what Prosody hears of an outcome

using namespace pushgate;

namespace {
PushRequest request(std::map<std::string, std::string> options) {
  PushRequest r;
  r.node = "abcdef0123456789";
  r.sender_domain = "example.org";
  r.options = std::move(options);
  return r;
}

Registration registered(const std::string& app, const std::string& secret) {
  Registration r;
  r.node = "NODE";
  r.secret = secret;
  r.domain = "example.org";
  r.app = app;
  r.token = "DEVICE-TOKEN";
  return r;
}

OutcomeKind refused(const Result<Resolved, Outcome>& r) {
  REQUIRE_FALSE(r.ok());
  return r.error().kind;
}
}  // namespace

TEST_CASE("the first app is the default and its secret must match") {
  auto cfg = test::two_app_config();
  auto r = resolve_token_as_node(request({{"secret", "ios-secret"}}), cfg.apps);
  REQUIRE(r.ok());
  CHECK(r.value().app_index == 0);
  CHECK(r.value().kind == PushKind::Alert);
}

TEST_CASE("app and fpush's pushModule select the app") {
  auto cfg = test::two_app_config();
  auto r = resolve_token_as_node(request({{"secret", "android-secret"}, {"app", "android"}}), cfg.apps);
  REQUIRE(r.ok());
  CHECK(r.value().app_index == 1);
  r = resolve_token_as_node(request({{"secret", "android-secret"}, {"pushModule", "android"}}), cfg.apps);
  REQUIRE(r.ok());
  CHECK(r.value().app_index == 1);
}

TEST_CASE("a secret of another app, a wrong or a missing secret is forbidden") {
  auto cfg = test::two_app_config();
  for (auto opts : std::vector<std::map<std::string, std::string>>{
           {{"secret", "android-secret"}}, {{"secret", "ios-secre"}}, {{"secret", ""}}, {}, {{"app", "android"}, {"secret", "ios-secret"}}}) {
    auto r = resolve_token_as_node(request(opts), cfg.apps);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == OutcomeKind::Forbidden);
  }
}

TEST_CASE("an unknown app is named: our configuration (wait) from Prosody, a bad request from the local API") {
  auto cfg = test::two_app_config();
  auto r = resolve_token_as_node(request({{"secret", "ios-secret"}, {"app", "windows"}}), cfg.apps);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().kind == OutcomeKind::OperatorError);  // never a counted error at Prosody
  CHECK(r.error().reason.find("windows") != std::string::npos);
  r = resolve_token_as_node(request({{"pushModule", "monalProdCatalyst"}}), cfg.apps);
  CHECK(r.error().kind == OutcomeKind::OperatorError);
  r = resolve_token_as_node(request({{"app", "windows"}}), cfg.apps, true);
  CHECK(r.error().kind == OutcomeKind::BadRequest);
}

TEST_CASE("an encrypted call payload decides the kind only when publish-options give no type") {
  auto cfg = test::two_app_config();
  PushRequest call = request({{"secret", "ios-secret"}});
  call.encrypted = EncryptedPayload{{{"iv", "aXY="}, {"type", "voip"}}, "Y2lwaGVy"};
  auto r = resolve_token_as_node(call, cfg.apps);
  REQUIRE(r.ok());
  CHECK(r.value().kind == PushKind::Voip);
  call.options["type"] = "message";
  r = resolve_token_as_node(call, cfg.apps);
  REQUIRE(r.ok());
  CHECK(r.value().kind == PushKind::Alert);
}

TEST_CASE("type selects the push kind") {
  auto cfg = test::two_app_config();
  std::vector<std::pair<std::string, PushKind>> rows = {{"voip", PushKind::Voip},       {"call", PushKind::Voip},
                                                        {"message", PushKind::Alert},   {"alert", PushKind::Alert},
                                                        {"background", PushKind::Background}, {"silent", PushKind::Background},
                                                        {"", PushKind::Alert}};
  for (const auto& [type, kind] : rows) {
    auto r = resolve_token_as_node(request({{"secret", "ios-secret"}, {"type", type}}), cfg.apps);
    REQUIRE(r.ok());
    CHECK(r.value().kind == kind);
  }
  auto bad = resolve_token_as_node(request({{"secret", "ios-secret"}, {"type", "fax"}}), cfg.apps);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().kind == OutcomeKind::BadRequest);
}

TEST_CASE("an encrypted publish of type voip is a call for token-as-node too") {
  auto cfg = test::two_app_config();
  PushRequest r = request({{"secret", "ios-secret"}});
  r.encrypted = EncryptedPayload{{{"iv", "aXY="}, {"type", "voip"}}, "Y2lwaGVy"};
  auto resolved = resolve_token_as_node(r, cfg.apps);
  REQUIRE(resolved.ok());
  CHECK(resolved.value().kind == PushKind::Voip);
}

TEST_CASE("require_secret = false: a publish naming the app by pushModule or app needs no secret (Monal)") {
  auto cfg = test::two_app_config();
  AppConfig monal;
  monal.name = "monalProdiOS";
  monal.require_secret = false;
  cfg.apps.push_back(monal);
  // Monal's publish-options: pushModule alone.
  auto r = resolve_token_as_node(request({{"pushModule", "monalProdiOS"}}), cfg.apps);
  REQUIRE(r.ok());
  CHECK(r.value().app_index == 2);
  CHECK(r.value().kind == PushKind::Alert);
  r = resolve_token_as_node(request({{"app", "monalProdiOS"}, {"type", "call"}}), cfg.apps);
  REQUIRE(r.ok());
  CHECK(r.value().kind == PushKind::Voip);
  // The other apps still want their secrets.
  r = resolve_token_as_node(request({{"pushModule", "android"}}), cfg.apps);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().kind == OutcomeKind::Forbidden);
}

TEST_CASE("require_secret = false as the default app: an unnamed publish without a secret is forbidden") {
  auto cfg = test::two_app_config();
  cfg.apps[0].secret.reset();
  cfg.apps[0].require_secret = false;
  auto r = resolve_token_as_node(request({}), cfg.apps);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().kind == OutcomeKind::Forbidden);
  CHECK(r.error().reason.find("only when they name it") != std::string::npos);
  r = resolve_token_as_node(request({{"pushModule", "ios"}}), cfg.apps);
  CHECK(r.ok());
}

TEST_CASE("an app that requires a secret and has none: naming it is OperatorError (wait), never cancel") {
  auto cfg = test::two_app_config();
  cfg.apps[1].secret.reset();  // android: registered devices only
  for (auto opts : std::vector<std::map<std::string, std::string>>{{{"pushModule", "android"}},
                                                                   {{"app", "android"}, {"secret", "android-secret"}},
                                                                   {{"app", "android"}, {"secret", "x"}}}) {
    auto r = resolve_token_as_node(request(opts), cfg.apps);
    REQUIRE_FALSE(r.ok());
    const Outcome& o = r.error();
    CHECK(o.kind == OutcomeKind::OperatorError);
    CHECK(std::string(xmpp::xmpp_error_for(o.kind).type) == "wait");
    CHECK(o.reason.find("app 'android' has no secret_file") != std::string::npos);
    CHECK(o.reason.find("require_secret = false") != std::string::npos);
  }
  // The local API's caller is authenticated by the push secret: no app secret is asked for.
  CHECK(resolve_token_as_node(request({{"app", "android"}}), cfg.apps, true).ok());
  // The default app without a secret, not named: forbidden (with a store: item-not-found, a registration that is gone).
  cfg.apps[0].secret.reset();
  auto r = resolve_token_as_node(request({{"secret", "ios-secret"}}), cfg.apps);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().kind == OutcomeKind::Forbidden);
}

TEST_CASE("a registered node: its own secret, its app, the publish's kind") {
  auto cfg = test::two_app_config();
  Registration p2 = registered("android", "node-secret");
  auto r = resolve_registered(request({{"secret", "node-secret"}, {"type", "call"}}), p2, cfg.apps, false);
  REQUIRE(r.ok());
  CHECK(r.value().app_index == 1);
  CHECK(r.value().kind == PushKind::Voip);
  // The app's secret is not the node's.
  CHECK(refused(resolve_registered(request({{"secret", "android-secret"}}), p2, cfg.apps, false)) ==
        OutcomeKind::Forbidden);
  CHECK(refused(resolve_registered(request({}), p2, cfg.apps, false)) == OutcomeKind::Forbidden);
  // The local API is authenticated already.
  CHECK(resolve_registered(request({}), p2, cfg.apps, true).ok());
  // A node-only (Tigase) registration has no secret to check.
  CHECK(resolve_registered(request({}), registered("ios", ""), cfg.apps, false).ok());
  // The secret is checked before anything else; then the app, then the kind.
  CHECK(refused(resolve_registered(request({{"type", "fax"}}), registered("gone", "s"), cfg.apps, false)) ==
        OutcomeKind::Forbidden);
  auto gone = resolve_registered(request({{"secret", "s"}, {"type", "fax"}}), registered("gone", "s"), cfg.apps, false);
  CHECK(refused(gone) == OutcomeKind::OperatorError);  // our configuration: Prosody keeps the registration
  CHECK(gone.error().reason.find("'gone', which is no longer configured") != std::string::npos);
  CHECK(refused(resolve_registered(request({{"secret", "node-secret"}, {"type", "fax"}}), p2, cfg.apps, false)) ==
        OutcomeKind::BadRequest);
}

TEST_CASE("resolve: a registration wins; with registrations on, a refused unnamed node is a gone registration") {
  auto cfg = test::two_app_config();
  // Found in the store: resolved as registered, whatever token-as-node would say.
  auto r = resolve(request({{"secret", "node-secret"}}), registered("android", "node-secret"), cfg.apps, false, true);
  REQUIRE(r.ok());
  CHECK(r.value().app_index == 1);
  // Not found, no app secret: Forbidden without registrations, UnknownNode (item-not-found) with them.
  CHECK(refused(resolve(request({{"secret", "wrong"}}), std::nullopt, cfg.apps, false, false)) ==
        OutcomeKind::Forbidden);
  auto gone = resolve(request({{"secret", "wrong"}}), std::nullopt, cfg.apps, false, true);
  CHECK(refused(gone) == OutcomeKind::UnknownNode);
  CHECK(gone.error().reason == "no registration for this node");
  // Never for a publish naming its app (a token-as-node client) or from the local API.
  CHECK(refused(resolve(request({{"app", "android"}, {"secret", "wrong"}}), std::nullopt, cfg.apps, false, true)) ==
        OutcomeKind::Forbidden);
  CHECK(refused(resolve(request({{"pushModule", "android"}}), std::nullopt, cfg.apps, false, true)) ==
        OutcomeKind::Forbidden);
  CHECK(resolve(request({}), std::nullopt, cfg.apps, true, true).ok());
  // Only Forbidden becomes UnknownNode: a bad type stays a bad request.
  CHECK(refused(resolve(request({{"secret", "ios-secret"}, {"type", "fax"}}), std::nullopt, cfg.apps, false, true)) ==
        OutcomeKind::BadRequest);
  // A device token with its app's secret still goes, registrations or not.
  CHECK(resolve(request({{"secret", "ios-secret"}}), std::nullopt, cfg.apps, false, true).ok());
}

TEST_CASE("registration_app: the form's app, else the first app of the command's service, else the first app") {
  auto apps = test::two_app_config().apps;
  apps[1].service = ServiceKind::Fcm;
  AppConfig apns;
  apns.name = "ios-apns";
  apns.service = ServiceKind::Apns;
  apps.push_back(apns);
  CHECK(registration_app(apps, "android", "apns")->name == "android");  // the form wins over the service
  CHECK(registration_app(apps, "windows", "fcm") == nullptr);           // a named app must exist
  CHECK(registration_app(apps, "", "fcm")->name == "android");
  CHECK(registration_app(apps, "", "apns")->name == "ios-apns");
  apps.pop_back();
  CHECK(registration_app(apps, "", "apns")->name == "ios");  // no APNs app: the first app (a log app)
  CHECK(registration_app({}, "", "fcm") == nullptr);
}

TEST_CASE("address_registered: the device's token and what its client reads; calls ring on PushKit or as alerts") {
  Registration tigase = registered("ios", "");
  tigase.voip_token = "PUSHKIT";
  tigase.account = "alice@example.org";
  PushRequest r = request({});
  CHECK(address_registered(r, PushKind::Alert, tigase, ServiceKind::Apns) == PushKind::Alert);
  CHECK(r.node == "DEVICE-TOKEN");
  CHECK(r.dialect == Dialect::Tigase);
  CHECK(r.account == "alice@example.org");
  r = request({});
  CHECK(address_registered(r, PushKind::Voip, tigase, ServiceKind::Apns) == PushKind::Voip);
  CHECK(r.node == "PUSHKIT");
  CHECK_FALSE(r.priority.has_value());

  Registration p2 = registered("ios", "secret");
  p2.account = "acc";
  p2.channel = "chan";
  r = request({});
  // No PushKit token on APNs: never the .voip topic for an ordinary token, a high-priority alert.
  CHECK(address_registered(r, PushKind::Voip, p2, ServiceKind::Apns) == PushKind::Alert);
  CHECK(r.node == "DEVICE-TOKEN");
  CHECK(r.priority == std::optional<std::string>("high"));
  CHECK(r.dialect == Dialect::P2);
  CHECK(r.channel == "chan");
  // FCM has no call topic: the call stays a call, on the device's token.
  r = request({});
  CHECK(address_registered(r, PushKind::Voip, p2, ServiceKind::Fcm) == PushKind::Voip);
  CHECK(r.node == "DEVICE-TOKEN");
  CHECK_FALSE(r.priority.has_value());
}
