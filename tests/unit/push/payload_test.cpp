// Tests for src/push/payload.cpp through the APNs and FCM requests built from it: the exact
// keys each client dialect reads (CLIENTS.md), and nothing it does not.
#include "push/payload.hpp"

#include <doctest/doctest.h>

#include <set>

#include <nlohmann/json.hpp>

#include "push/apns_request.hpp"
#include "push/fcm_request.hpp"
#include "test_config.hpp"

using namespace pushgate;

namespace {
const std::string kApnsToken(64, 'a');
const std::string kFcmToken = "fcm-token_" + std::string(140, 'x') + ":APA91b";
const std::string kAccountHash = "0123456789abcdef0123456789abcdef01234567";

AppConfig app(ServiceKind service, bool include_text) {
  AppConfig a = test::two_app_config().apps[0];
  a.service = service;
  a.topic = "com.example.chat";
  a.include_body = include_text;
  a.include_sender = include_text;
  return a;
}

PushJob job(const AppConfig& app, PushKind kind, Dialect dialect) {
  PushJob j;
  j.app = &app;
  j.kind = kind;
  j.request.node = app.service == ServiceKind::Apns ? kApnsToken : kFcmToken;
  j.request.sender_domain = "example.org";
  j.request.summary = {
      {"message-count", "2"}, {"last-message-body", "see you at 8"}, {"last-message-sender", "bob@example.org/phone"}};
  j.request.dialect = dialect;
  return j;
}

void encrypt(PushJob& j, const char* type) {
  EncryptedPayload e;
  e.attributes["iv"] = "AAECAwQFBgcICQoL";
  if (type != nullptr) e.attributes["type"] = type;
  e.content = "Y2lwaGVydGV4dA==";
  j.request.encrypted = e;
}

nlohmann::json apns_payload(const PushJob& j) {
  auto r = build_apns_request(j, 1795320000);
  REQUIRE(r.ok());
  return nlohmann::json::parse(r->body);
}

nlohmann::json fcm_data(const PushJob& j) {
  auto r = build_fcm_request(j, "demo-project");
  REQUIRE(r.ok());
  return nlohmann::json::parse(r->body)["message"]["data"];
}

std::set<std::string> keys(const nlohmann::json& object) {
  std::set<std::string> out;
  for (auto it = object.begin(); it != object.end(); ++it) out.insert(it.key());
  return out;
}
}  // namespace

TEST_CASE("p2 over FCM: data.account and, for a group chat, data.channel, beside the usual fields") {
  AppConfig android = app(ServiceKind::Fcm, false);
  PushJob j = job(android, PushKind::Alert, Dialect::P2);
  j.request.account = kAccountHash;
  auto data = fcm_data(j);
  CHECK(keys(data) == std::set<std::string>{"account", "type", "message-count"});
  CHECK(data["account"] == kAccountHash);
  j.request.channel = "fedcba9876543210fedcba9876543210fedcba98";
  data = fcm_data(j);
  CHECK(keys(data) == std::set<std::string>{"account", "channel", "type", "message-count"});
  CHECK(data["channel"] == "fedcba9876543210fedcba9876543210fedcba98");
}

TEST_CASE("p2 over APNs: account beside aps") {
  AppConfig ios = app(ServiceKind::Apns, false);
  PushJob j = job(ios, PushKind::Alert, Dialect::P2);
  j.request.account = kAccountHash;
  auto p = apns_payload(j);
  CHECK(keys(p) == std::set<std::string>{"aps", "account", "type", "message-count"});
  CHECK(p["account"] == kAccountHash);
}

TEST_CASE("token-as-node pushes carry no account and keep their fields") {
  AppConfig android = app(ServiceKind::Fcm, false);
  PushJob j = job(android, PushKind::Alert, Dialect::TokenAsNode);
  j.request.account = kAccountHash;  // never set for token-as-node; ignored if it were
  CHECK(keys(fcm_data(j)) == std::set<std::string>{"type", "message-count"});
}

TEST_CASE("Tigase over APNs, encrypted: exactly account, encrypted and iv beside aps, mutable-content 1") {
  AppConfig ios = app(ServiceKind::Apns, true);
  PushJob j = job(ios, PushKind::Alert, Dialect::Tigase);
  j.request.account = "alice@example.org";
  encrypt(j, nullptr);
  auto p = apns_payload(j);
  CHECK(keys(p) == std::set<std::string>{"aps", "account", "encrypted", "iv"});
  CHECK(p["account"] == "alice@example.org");
  CHECK(p["encrypted"] == "Y2lwaGVydGV4dA==");
  CHECK(p["iv"] == "AAECAwQFBgcICQoL");
  CHECK(p["aps"]["mutable-content"] == 1);
}

TEST_CASE("Tigase over APNs, a call to PushKit: account, encrypted and iv, an empty aps") {
  AppConfig ios = app(ServiceKind::Apns, false);
  PushJob j = job(ios, PushKind::Voip, Dialect::Tigase);
  j.request.account = "alice@example.org";
  encrypt(j, "voip");
  auto p = apns_payload(j);
  CHECK(keys(p) == std::set<std::string>{"aps", "account", "encrypted", "iv"});
  CHECK(p["aps"] == nlohmann::json::object());
}

TEST_CASE("Tigase over APNs, unencrypted: sender, nickname, body and unread-messages as a number") {
  AppConfig ios = app(ServiceKind::Apns, true);
  PushJob j = job(ios, PushKind::Alert, Dialect::Tigase);
  j.request.account = "alice@example.org";
  auto p = apns_payload(j);
  CHECK(keys(p) == std::set<std::string>{"aps", "account", "sender", "nickname", "body", "unread-messages"});
  CHECK(p["sender"] == "bob@example.org");  // bare: Siskin looks the sender up in the roster
  CHECK(p["nickname"] == "bob");
  CHECK(p["body"] == "see you at 8");
  CHECK(p["unread-messages"] == 2);
  CHECK(p["unread-messages"].is_number_integer());
  CHECK(p["aps"]["mutable-content"] == 1);
  // An app that keeps text away from Apple sends neither sender nor body.
  AppConfig quiet = app(ServiceKind::Apns, false);
  j.app = &quiet;
  CHECK(keys(apns_payload(j)) == std::set<std::string>{"aps", "account", "unread-messages"});
}

TEST_CASE("Tigase over FCM (Stork): data.account and the same keys, all strings") {
  AppConfig android = app(ServiceKind::Fcm, true);
  PushJob j = job(android, PushKind::Alert, Dialect::Tigase);
  j.request.account = "alice@example.org";
  auto data = fcm_data(j);
  CHECK(keys(data) == std::set<std::string>{"account", "sender", "nickname", "body", "unread-messages"});
  CHECK(data["account"] == "alice@example.org");
  CHECK(data["unread-messages"] == "2");
  encrypt(j, nullptr);
  data = fcm_data(j);
  CHECK(keys(data) == std::set<std::string>{"account", "encrypted", "iv"});
}

TEST_CASE("a message count that is not a number is sent as 1 to Tigase's clients") {
  AppConfig ios = app(ServiceKind::Apns, false);
  PushJob j = job(ios, PushKind::Alert, Dialect::Tigase);
  j.request.summary["message-count"] = "1}, \"x\": {";
  CHECK(apns_payload(j)["unread-messages"] == 1);
}

TEST_CASE("the nickname is the sender's localpart, else its domain") {
  CHECK(sender_nickname("bob@example.org/phone") == "bob");
  CHECK(sender_nickname("bob@example.org") == "bob");
  CHECK(sender_nickname("example.org") == "example.org");
  CHECK(sender_nickname("room@muc.example.org/Nick") == "room");
}

TEST_CASE("a long message body is cut so a payload pushgate composes always fits APNs") {
  std::string long_body;
  while (long_body.size() < 3500) long_body += "caf\xc3\xa9 ";  // 2-byte characters to cut around
  for (Dialect dialect : {Dialect::Tigase, Dialect::P2, Dialect::TokenAsNode}) {
    auto a = app(ServiceKind::Apns, true);
    PushJob j = job(a, PushKind::Alert, dialect);
    j.request.summary["last-message-body"] = long_body;
    j.request.account = "alice@example.org";
    auto payload = apns_payload(j);  // REQUIREs a request, not PayloadTooLarge
    std::string body = payload["aps"]["alert"]["body"];
    CHECK(body.size() <= kMaxPayloadBody);
    CHECK(body.substr(body.size() - 3) == "\xE2\x80\xA6");
    CHECK(long_body.rfind(body.substr(0, body.size() - 3), 0) == 0);  // a prefix, cut between characters
  }
  CHECK(payload_body("short") == "short");
}
