// The provider-neutral content of a push: what every provider would send, built once from
// a PushJob with the app's privacy settings applied and in the keys the device's client reads.
#pragma once

#include <string>
#include <vector>

#include "push/provider.hpp"

namespace pushgate {

// One data field. Every value is a string for FCM (its data map takes strings only); a
// `number` field is a JSON number where the provider allows it (APNs), and then holds only
// decimal digits.
struct DataField {
  std::string key;
  std::string value;
  bool number = false;
};

// The data fields, in a stable order, by the dialect of the device (CLIENTS.md):
// - token-as-node: type, message-count, and only when the app allows it and Prosody sent
//   them, body and sender; Tigase's priority as `priority`, its encrypted payload as
//   `encrypted` (untouched) plus one `encrypted-<attribute>` field per attribute.
// - p2 (Conversations): `account`, then `channel` for a group chat, then the fields above.
// - Tigase (Siskin, Stork): `account` (the bare JID), then either `encrypted` and `iv`
//   exactly (no other encrypted-* keys), or for an unencrypted push `sender` (bare JID),
//   `nickname` (the sender's localpart) when the app allows senders, `body` when it allows
//   bodies, and `unread-messages` (a number).
std::vector<DataField> push_data(const PushJob& job);

// Appends the fields as JSON object members ("key":value,…), no braces. `numbers`: number
// fields as JSON numbers (APNs); otherwise every value is a JSON string (FCM).
void append_data_members(std::string& out, const std::vector<DataField>& fields, bool numbers);

// The display name Siskin shows for `sender` (a JID): its localpart, else its domain.
std::string sender_nickname(const std::string& sender);

// A message body as a payload carries it: at most kMaxPayloadBody bytes, cut on a UTF-8
// character boundary and ended with "…". A body can appear twice (the alert and a data key),
// and a payload pushgate composed must never be refused as too large (Prosody would count it).
inline constexpr std::size_t kMaxPayloadBody = 1000;
std::string payload_body(const std::string& body);

// "high" for calls and important messages, "normal" otherwise.
const char* delivery_priority(const PushJob& job);

// Seconds a provider may keep the push for an offline device: calls ring now or never.
int default_ttl_seconds(PushKind kind);

// The app's configured lifetime for pushes of `kind` (voip_ttl, alert_ttl, background_ttl).
int ttl_seconds(const AppConfig& app, PushKind kind);

}  // namespace pushgate
