// What a front door asks the dispatcher for: one push to one node, with everything the
// publish carried. Front doors fill it; the dispatcher resolves app, secret and kind.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace pushgate {

enum class PushKind { Alert, Voip, Background };

const char* to_string(PushKind kind);
// "voip"/"call" → Voip, "message"/"alert" → Alert, "background"/"silent" → Background.
std::optional<PushKind> parse_push_kind(std::string_view text);

// tigase:push:encrypt:0 — passed through untouched, attributes included.
struct EncryptedPayload {
  std::map<std::string, std::string> attributes;  // iv, type, …
  std::string content;                           // base64 text as sent
};

// What the device's client reads from a push (CLIENTS.md): set from its registration.
enum class Dialect {
  TokenAsNode,  // no registration: the node is the token (CommEazy, Monal)
  P2,           // register-push-* (Conversations and its forks)
  Tigase        // register-device (Siskin, Snikket iOS, Stork)
};

struct PushRequest {
  std::string node;           // the publish node: a device token in token-as-node mode
  std::string sender_domain;  // the IQ's from: the user's server, not the user
  // urn:xmpp:push:summary fields with a value (message-count, last-message-sender, …).
  std::map<std::string, std::string> summary;
  // publish-options fields exactly as the client put them in its <enable/> (secret, type, app, …).
  std::map<std::string, std::string> options;
  std::optional<std::string> priority;  // tigase:push:priority:0
  std::optional<EncryptedPayload> encrypted;
  // Filled by the dispatcher from the node's registration, never from the publish.
  Dialect dialect = Dialect::TokenAsNode;
  std::string account;  // p2: p2_account_id(bare JID, device id); Tigase: the bare JID
  std::string channel;  // p2 group chat: p2_account_id(room JID, device id)

  // Prosody's mod_cloud_notify_encrypted marks a Jingle Message call <encrypted type='voip'>.
  bool encrypted_call() const {
    if (!encrypted) return false;
    auto it = encrypted->attributes.find("type");
    return it != encrypted->attributes.end() && it->second == "voip";
  }

  // A present last-message-body means "important": a body, an encrypted message or a call.
  bool important() const { return summary.count("last-message-body") > 0 || encrypted.has_value(); }
  const std::string* option(const std::string& key) const {
    auto it = options.find(key);
    return it == options.end() ? nullptr : &it->second;
  }
};

}  // namespace pushgate
