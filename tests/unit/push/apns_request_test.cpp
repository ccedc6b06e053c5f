// Tests for src/push/apns_request.cpp: golden requests per kind, limits, the response table.
#include <doctest/doctest.h>

#include <map>

#include <nlohmann/json.hpp>

#include "push/apns_request.hpp"
#include "test_config.hpp"
#include "xmpp/outcome_errors.hpp"  // what Prosody hears of a verdict

using namespace pushgate;

namespace {
const std::string kToken(64, 'a');
constexpr std::int64_t kNow = 1795320000;

AppConfig ios_app() {
  AppConfig a = test::two_app_config().apps[0];
  a.service = ServiceKind::Apns;
  a.topic = "com.example.chat";
  return a;
}
PushJob job(const AppConfig& app, PushKind kind) {
  PushJob j;
  j.app = &app;
  j.kind = kind;
  j.request.node = kToken;
  j.request.sender_domain = "example.org";
  j.request.summary = {{"message-count", "1"}, {"last-message-body", "secret words"}, {"last-message-sender", "bob@example.org"}};
  return j;
}
ApnsRequest build(const PushJob& j) {
  auto r = build_apns_request(j, kNow);
  REQUIRE(r.ok());
  return r.value();
}
std::map<std::string, std::string> headers(const ApnsRequest& r) { return {r.headers.begin(), r.headers.end()}; }
}  // namespace

TEST_CASE("voip: push type voip, topic .voip, priority 10, expiry now+30, no aps alert") {
  auto app = ios_app();
  auto r = build(job(app, PushKind::Voip));
  CHECK(r.path == "/3/device/" + kToken);
  CHECK(headers(r) == std::map<std::string, std::string>{{"apns-push-type", "voip"},
                                                         {"apns-topic", "com.example.chat.voip"},
                                                         {"apns-priority", "10"},
                                                         {"apns-expiration", std::to_string(kNow + 30)}});
  CHECK(r.body == R"({"aps":{},"type":"call","message-count":"1"})");
}

TEST_CASE("alert: priority 10, mutable-content, title only, expiry now+86400") {
  auto app = ios_app();
  auto r = build(job(app, PushKind::Alert));
  CHECK(headers(r) == std::map<std::string, std::string>{{"apns-push-type", "alert"},
                                                         {"apns-topic", "com.example.chat"},
                                                         {"apns-priority", "10"},
                                                         {"apns-expiration", std::to_string(kNow + 86400)}});
  CHECK(r.body ==
        R"({"aps":{"alert":{"title":"New message"},"sound":"default","mutable-content":1},"type":"message","message-count":"1"})");
  CHECK(r.body.find("secret words") == std::string::npos);
  CHECK(r.body.find("bob@") == std::string::npos);
}

TEST_CASE("background: priority 5 with content-available") {
  auto app = ios_app();
  auto r = build(job(app, PushKind::Background));
  CHECK(headers(r).at("apns-push-type") == "background");
  CHECK(headers(r).at("apns-priority") == "5");
  CHECK(headers(r).at("apns-topic") == "com.example.chat");
  CHECK(r.body == R"({"aps":{"content-available":1},"type":"background","message-count":"1"})");
}

TEST_CASE("body and sender only when the app allows; collapse id by kind; ttl 0 means do not store") {
  auto app = ios_app();
  app.include_body = true;
  app.include_sender = true;
  app.collapse_id = CollapseId::Kind;
  app.voip_ttl = 0;
  auto alert = build(job(app, PushKind::Alert));
  auto body = nlohmann::json::parse(alert.body);
  CHECK(body["aps"]["alert"]["body"] == "secret words");
  CHECK(body["sender"] == "bob@example.org");
  CHECK(headers(alert).at("apns-collapse-id") == "alert");
  auto voip = build(job(app, PushKind::Voip));
  CHECK(headers(voip).at("apns-expiration") == "0");
}

TEST_CASE("expiry is absolute and computed per message") {
  auto app = ios_app();
  auto j = job(app, PushKind::Voip);
  auto a = build_apns_request(j, kNow).value();
  auto b = build_apns_request(j, kNow + 7).value();
  CHECK(std::stoll(headers(b).at("apns-expiration")) - std::stoll(headers(a).at("apns-expiration")) == 7);
}

TEST_CASE("payload limits: 5120 bytes for voip, 4096 for others") {
  auto app = ios_app();
  app.include_body = true;
  auto j = job(app, PushKind::Alert);
  j.request.summary["last-message-body"] = std::string(4000, 'x');  // a body is cut to fit
  CHECK(build_apns_request(j, kNow).ok());
  j.request.summary.erase("last-message-body");
  j.request.encrypted = EncryptedPayload{{{"iv", "aXY="}}, std::string(4100, 'c')};  // ciphertext is not cut
  auto r = build_apns_request(j, kNow);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().kind == OutcomeKind::BadRequest);
  CHECK(r.error().reason.find("PayloadTooLarge") == 0);
  j.request.encrypted = EncryptedPayload{{{"iv", "aXY="}}, std::string(4900, 'c')};
  j.kind = PushKind::Voip;
  CHECK(build_apns_request(j, kNow).ok());  // 4.9 KB voip fits
  j.request.encrypted->content = std::string(5100, 'c');
  CHECK_FALSE(build_apns_request(j, kNow).ok());
}

TEST_CASE("a token that is not hex is dead before it is sent") {
  auto app = ios_app();
  for (std::string bad : {std::string("short"), std::string(64, 'z'), std::string(63, 'a'), std::string("../../etc") + std::string(60, 'a')}) {
    auto j = job(app, PushKind::Alert);
    j.request.node = bad;
    auto r = build_apns_request(j, kNow);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == OutcomeKind::TokenDead);
  }
}

TEST_CASE("the APNs response table, row by row") {
  struct Row {
    long status;
    const char* body;
    OutcomeKind kind;
    bool retry;
    bool expired;
  };
  const Row rows[] = {
      {200, "", OutcomeKind::Delivered, false, false},
      {410, R"({"reason":"Unregistered","timestamp":1795320000123})", OutcomeKind::TokenDead, false, false},
      {410, R"({"reason":"ExpiredToken"})", OutcomeKind::TokenDead, false, false},
      {400, R"({"reason":"BadDeviceToken"})", OutcomeKind::TokenDead, false, false},
      // The token lives, for another topic: our routing, so OperatorError (wait), never cancel.
      {400, R"({"reason":"DeviceTokenNotForTopic"})", OutcomeKind::OperatorError, false, false},
      {429, R"({"reason":"TooManyRequests"})", OutcomeKind::Retry, true, false},
      {500, R"({"reason":"InternalServerError"})", OutcomeKind::Retry, true, false},
      {503, R"({"reason":"ServiceUnavailable"})", OutcomeKind::Retry, true, false},
      {503, "", OutcomeKind::Retry, true, false},
      {403, R"({"reason":"ExpiredProviderToken"})", OutcomeKind::OperatorError, true, true},
      {403, R"({"reason":"InvalidProviderToken"})", OutcomeKind::OperatorError, false, false},
      {400, R"({"reason":"BadTopic"})", OutcomeKind::OperatorError, false, false},
      {400, R"({"reason":"TopicDisallowed"})", OutcomeKind::OperatorError, false, false},
      {403, R"({"reason":"BadCertificate"})", OutcomeKind::OperatorError, false, false},
      {403, R"({"reason":"BadEnvironmentKeyInToken"})", OutcomeKind::OperatorError, false, false},
      {400, R"({"reason":"BadPriority"})", OutcomeKind::OperatorError, false, false},
      {413, R"({"reason":"PayloadTooLarge"})", OutcomeKind::BadRequest, false, false},
      {404, R"({"reason":"BadPath"})", OutcomeKind::OperatorError, false, false},
      {400, "not json at all", OutcomeKind::OperatorError, false, false},
  };
  for (const Row& row : rows) {
    CAPTURE(row.status);
    CAPTURE(row.body);
    auto v = classify_apns_response(row.status, row.body);
    CHECK(v.kind == row.kind);
    CHECK(v.retry == row.retry);
    CHECK(v.provider_token_expired == row.expired);
  }
  auto gone = classify_apns_response(410, R"({"reason":"Unregistered","timestamp":1795320000123})");
  CHECK(gone.reason == "Unregistered");
  CHECK(gone.timestamp_ms.value() == 1795320000123);
  CHECK(classify_apns_response(503, "").reason == "HTTP 503");
  // No answer of Apple's ever becomes `cancel` except a dead device.
  for (const Row& row : rows) {
    if (row.kind == OutcomeKind::TokenDead) continue;
    CHECK(std::string(xmpp::xmpp_error_for(classify_apns_response(row.status, row.body).kind).type) != "cancel");
  }
}
