// Building the provider-neutral payload of a push.
#include "push/payload.hpp"

namespace pushgate {

nlohmann::json push_payload(const PushJob& job) {
  nlohmann::json data = nlohmann::json::object();
  const PushRequest& r = job.request;
  data["type"] = job.kind == PushKind::Voip ? "call" : (job.kind == PushKind::Background ? "background" : "message");
  auto count = r.summary.find("message-count");
  data["message-count"] = count != r.summary.end() ? count->second : "1";
  if (job.app->include_body) {
    if (auto it = r.summary.find("last-message-body"); it != r.summary.end()) data["body"] = it->second;
  }
  if (job.app->include_sender) {
    if (auto it = r.summary.find("last-message-sender"); it != r.summary.end()) data["sender"] = it->second;
  }
  if (r.priority) data["priority"] = *r.priority;
  if (r.encrypted) {
    nlohmann::json enc = nlohmann::json::object();
    for (const auto& [k, v] : r.encrypted->attributes) enc[k] = v;
    enc["payload"] = r.encrypted->content;
    data["encrypted"] = enc;
  }
  return data;
}

const char* delivery_priority(const PushJob& job) {
  if (job.kind == PushKind::Voip) return "high";
  if (job.kind == PushKind::Background) return "normal";
  if (job.request.priority) return *job.request.priority == "high" ? "high" : "normal";
  return job.request.important() ? "high" : "normal";
}

int default_ttl_seconds(PushKind kind) {
  switch (kind) {
    case PushKind::Voip: return 30;
    case PushKind::Alert: return 86400;
    case PushKind::Background: return 3600;
  }
  return 3600;
}

}  // namespace pushgate
