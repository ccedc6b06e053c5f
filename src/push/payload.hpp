// The provider-neutral content of a push: what every provider would send, built once from
// a PushJob with the app's privacy settings applied.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "push/provider.hpp"

namespace pushgate {

// Data fields, all strings (FCM requires string values), in a stable order: type,
// message-count, and only when the app allows it and Prosody sent them, body and sender.
// Tigase's priority is copied as `priority`; its encrypted payload as `encrypted` (the
// ciphertext, untouched) plus one `encrypted-<attribute>` field per attribute (iv, type…).
std::vector<std::pair<std::string, std::string>> push_data(const PushJob& job);

// "high" for calls and important messages, "normal" otherwise.
const char* delivery_priority(const PushJob& job);

// Seconds a provider may keep the push for an offline device: calls ring now or never.
int default_ttl_seconds(PushKind kind);

// The app's configured lifetime for pushes of `kind` (voip_ttl, alert_ttl, background_ttl).
int ttl_seconds(const AppConfig& app, PushKind kind);

}  // namespace pushgate
