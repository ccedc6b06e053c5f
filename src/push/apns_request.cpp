// APNs request building (DESIGN.md "Provider rules") and the response table.
#include "push/apns_request.hpp"

#include <nlohmann/json.hpp>

#include "common/json_text.hpp"
#include "push/device_token.hpp"
#include "push/payload.hpp"

namespace pushgate {
namespace {

// The payload: `aps` as the kind requires, the provider-neutral data fields beside it.
std::string payload_for(const PushJob& job) {
  std::string out = "{";
  switch (job.kind) {
    case PushKind::Voip:
      out += "\"aps\":{}";  // PushKit delivers the whole dictionary to the app
      break;
    case PushKind::Alert: {
      // mutable-content lets a notification service extension fetch and show the message.
      out += "\"aps\":{\"alert\":{\"title\":";
      append_json_string(out, job.app->alert_title);
      if (job.app->include_body) {
        if (auto it = job.request.summary.find("last-message-body"); it != job.request.summary.end()) {
          out += ",\"body\":";
          append_json_string(out, payload_body(it->second));
        }
      }
      out += "},\"sound\":\"default\",\"mutable-content\":1}";
      break;
    }
    case PushKind::Background:
      out += "\"aps\":{\"content-available\":1}";
      break;
  }
  auto data = push_data(job);
  if (!data.empty()) out += ',';
  append_data_members(out, data, true);
  out += '}';
  return out;
}

}  // namespace

Result<ApnsRequest, Outcome> build_apns_request(const PushJob& job, std::int64_t now) {
  const AppConfig& app = *job.app;
  if (!is_apns_token(job.request.node)) {
    return Outcome{OutcomeKind::TokenDead, "BadDeviceToken: an APNs device token is 64 or more hex digits"};
  }
  ApnsRequest req;
  req.path = "/3/device/" + job.request.node;
  req.body = payload_for(job);
  std::size_t limit = job.kind == PushKind::Voip ? kApnsMaxVoipPayload : kApnsMaxPayload;
  if (req.body.size() > limit) {
    return Outcome{OutcomeKind::BadRequest, "PayloadTooLarge: " + std::to_string(req.body.size()) + " bytes, APNs takes " +
                                                std::to_string(limit)};
  }
  const char* type = job.kind == PushKind::Voip ? "voip" : job.kind == PushKind::Alert ? "alert" : "background";
  req.headers.emplace_back("apns-push-type", type);
  req.headers.emplace_back("apns-topic", job.kind == PushKind::Voip ? app.topic + ".voip" : app.topic);
  req.headers.emplace_back("apns-priority", job.kind == PushKind::Background ? "5" : "10");
  int ttl = ttl_seconds(app, job.kind);
  // Absolute, per message; 0 tells APNs not to store the push at all.
  req.headers.emplace_back("apns-expiration", ttl == 0 ? "0" : std::to_string(now + ttl));
  if (app.collapse_id == CollapseId::Kind) req.headers.emplace_back("apns-collapse-id", type);
  return req;
}

ApnsVerdict classify_apns_response(long status, std::string_view body) {
  std::string reason;
  std::optional<std::int64_t> timestamp;
  if (!body.empty()) {
    auto j = nlohmann::json::parse(body, nullptr, false);
    if (j.is_object()) {
      if (auto r = j.find("reason"); r != j.end() && r->is_string()) reason = r->get<std::string>();
      if (auto t = j.find("timestamp"); t != j.end() && t->is_number_integer()) timestamp = t->get<std::int64_t>();
    }
  }
  if (reason.size() > 64) reason.resize(64);
  std::string why = reason.empty() ? "HTTP " + std::to_string(status) : reason;

  if (status == 200) return {OutcomeKind::Delivered, false, false, "delivered", std::nullopt};
  if (status == 410) return {OutcomeKind::TokenDead, false, false, why, timestamp};
  if (status == 400 && reason == "BadDeviceToken") return {OutcomeKind::TokenDead, false, false, why, std::nullopt};
  // DeviceTokenNotForTopic: the token is alive, but for another bundle id or kind (a call sent
  // to the ordinary token, an app routed to the wrong [[app]]). Our routing, not the device:
  // it falls through to OperatorError below, so Prosody keeps the registration.
  if (status == 403 && reason == "ExpiredProviderToken") return {OutcomeKind::OperatorError, true, true, why, std::nullopt};
  if (status == 413 || reason == "PayloadTooLarge") return {OutcomeKind::BadRequest, false, false, why, std::nullopt};
  if (status == 429) return {OutcomeKind::Retry, true, false, why, std::nullopt};
  if (status >= 500) return {OutcomeKind::Retry, true, false, why, std::nullopt};
  // Everything else is about our request or our credentials, never about the device:
  // InvalidProviderToken, BadTopic, TopicDisallowed, BadCertificate, BadEnvironmentKeyInToken,
  // BadPriority, BadExpirationDate, MissingTopic, BadPath… An operator mistake must not make
  // Prosody drop registrations, so these are OperatorError (`wait`).
  return {OutcomeKind::OperatorError, false, false, why, std::nullopt};
}

}  // namespace pushgate
