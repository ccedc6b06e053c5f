// Building the provider-neutral payload of a push.
#include "push/payload.hpp"

#include <algorithm>

#include "common/json_text.hpp"

namespace pushgate {
namespace {

std::string bare_jid(const std::string& jid) {
  return jid.substr(0, jid.find('/'));
}

// The summary's message-count as digits (Prosody always sends 1); anything else counts as 1.
std::string message_count(const PushRequest& r) {
  auto it = r.summary.find("message-count");
  if (it == r.summary.end() || it->second.empty() || it->second.size() > 9 ||
      !std::all_of(it->second.begin(), it->second.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return "1";
  }
  return it->second;
}

const std::string* summary_field(const PushRequest& r, const char* var) {
  auto it = r.summary.find(var);
  return it == r.summary.end() ? nullptr : &it->second;
}

// Siskin and Stork: account, then the ciphertext and its iv, or the plain summary.
void tigase_fields(const PushJob& job, std::vector<DataField>& data) {
  const PushRequest& r = job.request;
  if (!r.account.empty()) data.push_back({"account", r.account});
  if (r.encrypted) {
    data.push_back({"encrypted", r.encrypted->content});
    if (auto iv = r.encrypted->attributes.find("iv"); iv != r.encrypted->attributes.end()) {
      data.push_back({"iv", iv->second});
    }
    return;
  }
  if (job.app->include_sender) {
    if (const std::string* sender = summary_field(r, "last-message-sender"); sender && !sender->empty()) {
      data.push_back({"sender", bare_jid(*sender)});
      data.push_back({"nickname", sender_nickname(*sender)});
    }
  }
  if (job.app->include_body) {
    if (const std::string* body = summary_field(r, "last-message-body")) data.push_back({"body", payload_body(*body)});
  }
  data.push_back({"unread-messages", message_count(r), true});
}

}  // namespace

std::string payload_body(const std::string& body) {
  if (body.size() <= kMaxPayloadBody) return body;
  std::size_t cut = kMaxPayloadBody - 3;  // room for "…"
  while (cut > 0 && (static_cast<unsigned char>(body[cut]) & 0xC0) == 0x80) --cut;  // not inside a character
  return body.substr(0, cut) + "\xE2\x80\xA6";
}

std::string sender_nickname(const std::string& sender) {
  std::string bare = bare_jid(sender);
  auto at = bare.find('@');
  return at == std::string::npos ? bare : bare.substr(0, at);
}

std::vector<DataField> push_data(const PushJob& job) {
  std::vector<DataField> data;
  data.reserve(8);
  const PushRequest& r = job.request;
  if (r.dialect == Dialect::Tigase) {
    tigase_fields(job, data);
    return data;
  }
  if (r.dialect == Dialect::P2) {
    // Conversations wakes the account whose hash this is; without it, the next scheduled ping.
    if (!r.account.empty()) data.push_back({"account", r.account});
    if (!r.channel.empty()) data.push_back({"channel", r.channel});
  }
  data.push_back(
      {"type", job.kind == PushKind::Voip ? "call" : (job.kind == PushKind::Background ? "background" : "message")});
  auto count = r.summary.find("message-count");
  data.push_back({"message-count", count != r.summary.end() ? count->second : "1"});
  if (job.app->include_body) {
    if (const std::string* body = summary_field(r, "last-message-body")) data.push_back({"body", payload_body(*body)});
  }
  if (job.app->include_sender) {
    if (const std::string* sender = summary_field(r, "last-message-sender")) data.push_back({"sender", *sender});
  }
  if (r.priority) data.push_back({"priority", *r.priority});
  if (r.encrypted) {
    data.push_back({"encrypted", r.encrypted->content});
    for (const auto& [k, v] : r.encrypted->attributes) data.push_back({"encrypted-" + k, v});
  }
  return data;
}

void append_data_members(std::string& out, const std::vector<DataField>& fields, bool numbers) {
  bool first = true;
  for (const DataField& f : fields) {
    if (!first) out += ',';
    first = false;
    append_json_string(out, f.key);
    out += ':';
    if (numbers && f.number) {
      out += f.value;  // digits only (push_data's contract)
    } else {
      append_json_string(out, f.value);
    }
  }
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
