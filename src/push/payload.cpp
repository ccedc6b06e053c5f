// Building the provider-neutral payload of a push.
#include "push/payload.hpp"

namespace pushgate {

std::vector<std::pair<std::string, std::string>> push_data(const PushJob& job) {
  std::vector<std::pair<std::string, std::string>> data;
  data.reserve(6);
  const PushRequest& r = job.request;
  data.emplace_back("type", job.kind == PushKind::Voip ? "call" : (job.kind == PushKind::Background ? "background" : "message"));
  auto count = r.summary.find("message-count");
  data.emplace_back("message-count", count != r.summary.end() ? count->second : "1");
  if (job.app->include_body) {
    if (auto it = r.summary.find("last-message-body"); it != r.summary.end()) data.emplace_back("body", it->second);
  }
  if (job.app->include_sender) {
    if (auto it = r.summary.find("last-message-sender"); it != r.summary.end()) data.emplace_back("sender", it->second);
  }
  if (r.priority) data.emplace_back("priority", *r.priority);
  if (r.encrypted) {
    data.emplace_back("encrypted", r.encrypted->content);
    for (const auto& [k, v] : r.encrypted->attributes) data.emplace_back("encrypted-" + k, v);
  }
  return data;
}

const char* delivery_priority(const PushJob& job) {
  if (job.kind == PushKind::Voip) return "high";
  if (job.kind == PushKind::Background) return "normal";
  if (job.request.priority) return *job.request.priority == "high" ? "high" : "normal";
  return job.request.important() ? "high" : "normal";
}

int ttl_seconds(const AppConfig& app, PushKind kind) {
  switch (kind) {
    case PushKind::Voip: return app.voip_ttl;
    case PushKind::Alert: return app.alert_ttl;
    case PushKind::Background: return app.background_ttl;
  }
  return app.alert_ttl;
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
