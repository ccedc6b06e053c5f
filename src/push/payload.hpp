// The provider-neutral content of a push: what every provider would send, built once from
// a PushJob with the app's privacy settings applied.
#pragma once

#include <nlohmann/json.hpp>

#include "push/provider.hpp"

namespace pushgate {

// Data fields, all strings (FCM requires string values): type, message-count, and only
// when the app allows it and Prosody sent them, body and sender. Tigase's encrypted
// payload and priority are copied unchanged.
nlohmann::json push_payload(const PushJob& job);

// "high" for calls and important messages, "normal" otherwise.
const char* delivery_priority(const PushJob& job);

// Seconds a provider may keep the push for an offline device: calls ring now or never.
int default_ttl_seconds(PushKind kind);

}  // namespace pushgate
