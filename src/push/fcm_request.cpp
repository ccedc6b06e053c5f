// FCM HTTP v1 messages (DESIGN.md "Provider rules") and the error table.
#include "push/fcm_request.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "common/json_text.hpp"
#include "push/device_token.hpp"
#include "push/payload.hpp"

namespace pushgate {
Result<FcmRequest, Outcome> build_fcm_request(const PushJob& job, const std::string& project_id) {
  const std::string& token = job.request.node;
  if (!is_fcm_token(token)) {
    return Outcome{OutcomeKind::TokenDead, "INVALID_ARGUMENT: not an FCM registration token"};
  }
  auto fields = push_data(job);
  std::size_t data_bytes = 0;
  for (const DataField& f : fields) data_bytes += f.key.size() + f.value.size();
  std::string data = "{";
  append_data_members(data, fields, false);  // FCM's data values are strings
  data += '}';
  if (data_bytes > kFcmMaxData) {
    return Outcome{OutcomeKind::BadRequest, "message data of " + std::to_string(data_bytes) + " bytes, FCM takes " +
                                                std::to_string(kFcmMaxData)};
  }
  FcmRequest req;
  req.path = "/v1/projects/" + project_id + "/messages:send";
  req.body = "{\"message\":{\"token\":";
  append_json_string(req.body, token);
  // Data only: the app decides what to show, so no text leaves the server unless allowed.
  req.body += ",\"data\":" + data;
  req.body += ",\"android\":{\"priority\":\"";
  req.body += std::string_view(delivery_priority(job)) == "high" ? "HIGH" : "NORMAL";
  req.body += "\",\"ttl\":\"" + std::to_string(ttl_seconds(*job.app, job.kind)) + "s\"";
  if (!job.app->collapse_key.empty()) {
    req.body += ",\"collapse_key\":";
    append_json_string(req.body, job.app->collapse_key);
  }
  req.body += "}}}";
  return req;
}

FcmVerdict classify_fcm_response(int status, std::string_view body, std::string_view retry_after) {
  // The common case first: nothing in a success needs parsing.
  if (status == 200) return FcmVerdict{OutcomeKind::Delivered, false, false, "delivered", std::nullopt};
  std::string code, grpc_status, message;
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_object()) {
    const auto& e = j["error"];
    if (e.contains("status") && e["status"].is_string()) grpc_status = e["status"].get<std::string>();
    if (e.contains("message") && e["message"].is_string()) message = e["message"].get<std::string>().substr(0, 160);
    if (e.contains("details") && e["details"].is_array()) {
      for (const auto& d : e["details"]) {
        if (d.is_object() && d.contains("errorCode") && d["errorCode"].is_string()) {
          code = d["errorCode"].get<std::string>().substr(0, 64);
          break;
        }
      }
    }
  }
  std::optional<std::chrono::seconds> after;
  if (!retry_after.empty() && retry_after.size() <= 6 &&
      std::all_of(retry_after.begin(), retry_after.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    after = std::chrono::seconds(std::min(std::stol(std::string(retry_after)), 3600L));
  }
  std::string name = !code.empty() ? code : !grpc_status.empty() ? grpc_status : "HTTP " + std::to_string(status);
  std::string why = message.empty() ? name : name + ": " + message;
  auto verdict = [&](OutcomeKind k, bool retry) { return FcmVerdict{k, retry, false, why, retry ? after : std::nullopt}; };

  if (code == "UNREGISTERED") return verdict(OutcomeKind::TokenDead, false);
  // The token belongs to another sender: our project is the wrong one for it (the device's
  // app was built for another Firebase project, or routed to the wrong [[app]]). The device is
  // alive, so this is ours to fix, never a reason for Prosody to drop the registration.
  if (code == "SENDER_ID_MISMATCH") return verdict(OutcomeKind::OperatorError, false);
  if (code == "INVALID_ARGUMENT" || (code.empty() && grpc_status == "INVALID_ARGUMENT")) {
    // FCM says which argument: only a bad token means the device is gone.
    bool about_token = message.find("registration token") != std::string::npos ||
                       message.find("message.token") != std::string::npos;
    return verdict(about_token ? OutcomeKind::TokenDead : OutcomeKind::BadRequest, false);
  }
  if (code == "QUOTA_EXCEEDED" || code == "UNAVAILABLE" || code == "INTERNAL") return verdict(OutcomeKind::Retry, true);
  if (code == "THIRD_PARTY_AUTH_ERROR" || code == "PERMISSION_DENIED" || grpc_status == "PERMISSION_DENIED") {
    return verdict(OutcomeKind::OperatorError, false);
  }
  if (status == 401) {
    FcmVerdict v = verdict(OutcomeKind::OperatorError, true);
    v.unauthenticated = true;
    return v;
  }
  if (status == 429 || status >= 500) return verdict(OutcomeKind::Retry, true);
  if (status == 400) return verdict(OutcomeKind::BadRequest, false);
  // 403, 404 (a wrong project id) and anything else: ours to fix, never the device's.
  return verdict(OutcomeKind::OperatorError, false);
}

}  // namespace pushgate
