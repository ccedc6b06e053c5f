// Tests for src/push/fcm_request.cpp: golden messages per kind, limits, the error table.
#include "push/fcm_request.hpp"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "test_config.hpp"
#include "xmpp/outcome_errors.hpp"  // what Prosody hears of a verdict

using namespace pushgate;

namespace {
const std::string kToken = "fcm-token_" + std::string(140, 'x') + ":APA91b";

AppConfig android_app() {
  AppConfig a = test::two_app_config().apps[1];
  a.service = ServiceKind::Fcm;
  return a;
}
PushJob job(const AppConfig& app, PushKind kind) {
  PushJob j;
  j.app = &app;
  j.kind = kind;
  j.request.node = kToken;
  j.request.sender_domain = "example.org";
  j.request.summary = {{"message-count", "3"}, {"last-message-body", "secret words"}, {"last-message-sender", "bob@example.org"}};
  return j;
}
FcmRequest build(const PushJob& j) {
  auto r = build_fcm_request(j, "demo-project");
  REQUIRE(r.ok());
  return r.value();
}
std::string error_body(const std::string& status, const std::string& code, const std::string& message = "m") {
  return R"({"error":{"code":400,"message":")" + message + R"(","status":")" + status +
         R"(","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":")" + code + R"("}]}})";
}
}  // namespace

TEST_CASE("call: data-only message, HIGH priority, ttl 30s, no text") {
  auto app = android_app();
  auto r = build(job(app, PushKind::Voip));
  CHECK(r.path == "/v1/projects/demo-project/messages:send");
  CHECK(r.body == R"({"message":{"token":")" + kToken +
                      R"(","data":{"type":"call","message-count":"3"},"android":{"priority":"HIGH","ttl":"30s"}}})");
}

TEST_CASE("message: HIGH priority, ttl from alert_ttl, optional collapse_key; text only when allowed") {
  auto app = android_app();
  auto r = build(job(app, PushKind::Alert));
  CHECK(r.body == R"({"message":{"token":")" + kToken +
                      R"(","data":{"type":"message","message-count":"3"},"android":{"priority":"HIGH","ttl":"86400s"}}})");
  app.collapse_key = "chat";
  app.include_body = true;
  auto j = nlohmann::json::parse(build(job(app, PushKind::Alert)).body);
  CHECK(j["message"]["android"]["collapse_key"] == "chat");
  CHECK(j["message"]["data"]["body"] == "secret words");
  CHECK_FALSE(j["message"]["data"].contains("sender"));
  for (auto& [k, v] : j["message"]["data"].items()) CHECK(v.is_string());
}

TEST_CASE("background: NORMAL priority, ttl from background_ttl") {
  auto app = android_app();
  auto r = build(job(app, PushKind::Background));
  CHECK(r.body == R"({"message":{"token":")" + kToken +
                      R"(","data":{"type":"background","message-count":"3"},"android":{"priority":"NORMAL","ttl":"3600s"}}})");
}

TEST_CASE("Tigase encrypted payloads pass through as string data") {
  auto app = android_app();
  auto j = job(app, PushKind::Alert);
  j.request.encrypted = EncryptedPayload{{{"iv", "aXY="}, {"type", "aes-128-gcm"}}, "Y2lwaGVy"};
  auto body = nlohmann::json::parse(build(j).body);
  CHECK(body["message"]["data"]["encrypted"] == "Y2lwaGVy");
  CHECK(body["message"]["data"]["encrypted-iv"] == "aXY=");
}

TEST_CASE("a token FCM could never accept is TokenDead before sending; oversize data is BadRequest") {
  auto app = android_app();
  auto j = job(app, PushKind::Alert);
  j.request.node = "short";
  auto r = build_fcm_request(j, "p");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().kind == OutcomeKind::TokenDead);
  j.request.node = kToken;
  j.request.node[20] = '"';
  CHECK(build_fcm_request(j, "p").error().kind == OutcomeKind::TokenDead);
  j = job(app, PushKind::Alert);
  app.include_body = true;
  j.request.encrypted = EncryptedPayload{{{"iv", "aXY="}}, std::string(5000, 'c')};  // a body would be cut
  r = build_fcm_request(j, "p");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().kind == OutcomeKind::BadRequest);
}

TEST_CASE("200 is Delivered") {
  auto v = classify_fcm_response(200, R"({"name":"projects/p/messages/0:1"})", "");
  CHECK(v.kind == OutcomeKind::Delivered);
  CHECK_FALSE(v.retry);
}

TEST_CASE("UNREGISTERED is TokenDead") {
  auto v = classify_fcm_response(404, error_body("NOT_FOUND", "UNREGISTERED"), "");
  CHECK(v.kind == OutcomeKind::TokenDead);
  CHECK(v.reason.rfind("UNREGISTERED", 0) == 0);
}

TEST_CASE("SENDER_ID_MISMATCH is OperatorError: the token belongs to another project, it is not dead") {
  auto v = classify_fcm_response(403, error_body("PERMISSION_DENIED", "SENDER_ID_MISMATCH"), "");
  CHECK(v.kind == OutcomeKind::OperatorError);
  CHECK_FALSE(v.retry);  // another attempt meets the same project
  CHECK(v.reason.rfind("SENDER_ID_MISMATCH", 0) == 0);
  CHECK(std::string(xmpp::xmpp_error_for(v.kind).type) == "wait");
}

TEST_CASE("INVALID_ARGUMENT about the token is TokenDead, about anything else BadRequest") {
  auto v = classify_fcm_response(
      400, error_body("INVALID_ARGUMENT", "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token"), "");
  CHECK(v.kind == OutcomeKind::TokenDead);
  v = classify_fcm_response(400, error_body("INVALID_ARGUMENT", "INVALID_ARGUMENT", "Invalid value at 'message.android.ttl'"), "");
  CHECK(v.kind == OutcomeKind::BadRequest);
  CHECK_FALSE(v.retry);
}

TEST_CASE("QUOTA_EXCEEDED is retried, honouring Retry-After") {
  auto v = classify_fcm_response(429, error_body("RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"), "7");
  CHECK(v.kind == OutcomeKind::Retry);
  CHECK(v.retry);
  REQUIRE(v.retry_after);
  CHECK(v.retry_after->count() == 7);
}

TEST_CASE("UNAVAILABLE is retried") {
  auto v = classify_fcm_response(503, error_body("UNAVAILABLE", "UNAVAILABLE"), "");
  CHECK(v.kind == OutcomeKind::Retry);
  CHECK(v.retry);
  CHECK_FALSE(v.retry_after);
}

TEST_CASE("INTERNAL is retried") {
  auto v = classify_fcm_response(500, error_body("INTERNAL", "INTERNAL"), "");
  CHECK(v.kind == OutcomeKind::Retry);
  CHECK(v.retry);
}

TEST_CASE("THIRD_PARTY_AUTH_ERROR is OperatorError (APNs credentials in Firebase are wrong)") {
  auto v = classify_fcm_response(401, error_body("UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR"), "");
  CHECK(v.kind == OutcomeKind::OperatorError);
  CHECK_FALSE(v.unauthenticated);
}

TEST_CASE("PERMISSION_DENIED is OperatorError") {
  CHECK(classify_fcm_response(403, error_body("PERMISSION_DENIED", "PERMISSION_DENIED"), "").kind == OutcomeKind::OperatorError);
  CHECK(classify_fcm_response(403, R"({"error":{"code":403,"status":"PERMISSION_DENIED"}})", "").kind ==
        OutcomeKind::OperatorError);
}

TEST_CASE("401 without an errorCode asks for a new access token, then OperatorError") {
  auto v = classify_fcm_response(401, R"({"error":{"code":401,"status":"UNAUTHENTICATED"}})", "");
  CHECK(v.unauthenticated);
  CHECK(v.kind == OutcomeKind::OperatorError);
}

TEST_CASE("without details the status decides: 429/5xx retried, 400 BadRequest, 404 never cancels") {
  CHECK(classify_fcm_response(502, "<html>bad gateway</html>", "").retry);
  CHECK(classify_fcm_response(429, "", "").kind == OutcomeKind::Retry);
  CHECK(classify_fcm_response(400, "{}", "").kind == OutcomeKind::BadRequest);
  // A wrong project id gives 404 too: only UNREGISTERED may make Prosody drop a device.
  CHECK(classify_fcm_response(404, R"({"error":{"code":404,"status":"NOT_FOUND"}})", "").kind == OutcomeKind::OperatorError);
  CHECK_FALSE(classify_fcm_response(503, "", "Wed, 21 Oct 2015 07:28:00 GMT").retry_after);
}
