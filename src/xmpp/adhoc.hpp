// XEP-0050 ad-hoc commands as p2 (and the Conversations app) use them to register a device
// with its app server: register-push-apns / register-push-fcm take token and device-id (or
// android-id), optional muc and app; unregister-push-* take device-id (and muc). Tigase's
// dialect (Siskin, Stork): register-device takes provider, device-token and optionally
// device-second-token (PushKit, for calls); unregister-device takes provider and
// device-token. One step: the answer is `completed`. Pure: a command element in, a request
// or the reason out.
#pragma once

#include <strophe.h>

#include <map>
#include <string>
#include <variant>
#include <vector>

namespace pushgate::xmpp {

inline constexpr const char* kNsCommands = "http://jabber.org/protocol/commands";

struct AdhocCommand {
  std::string node;    // register-push-fcm, …
  std::string action;  // execute (default) | complete | cancel
  std::string sessionid;
  std::map<std::string, std::string> fields;  // from a submitted jabber:x:data form
  bool registers() const { return node.rfind("register-", 0) == 0; }
  bool tigase() const { return node == "register-device" || node == "unregister-device"; }
  // apns | fcm: from the command's name (p2), or from Tigase's `provider` field (empty when
  // the provider is not one pushgate serves).
  std::string service() const;
};

// Tigase's provider names, as clients look for them in disco#info: tigase:messenger:apns:1
// (Siskin) and fcm-xmpp-api (Stork). The provider of `service`, or nullptr.
const char* tigase_provider(const std::string& service);

// The commands pushgate offers, in disco#items order.
const std::vector<std::string>& adhoc_command_nodes();

// The longest value a form field may have, in bytes: what the field needs (a JID for muc, a
// provider token), so nothing larger reaches the store.
std::size_t adhoc_field_limit(const std::string& var);

// Parses <command xmlns='http://jabber.org/protocol/commands'>; the string names what is wrong
// (a value over adhoc_field_limit() names the field and the limit).
std::variant<AdhocCommand, std::string> parse_adhoc_command(xmpp_stanza_t* command);

// <command status='completed'> with a result form of `fields` (none: no form).
std::string adhoc_completed_xml(const std::string& node, const std::string& sessionid,
                                const std::vector<std::pair<std::string, std::string>>& fields);

// disco#items for the commands node.
std::string adhoc_items_xml(const std::string& jid);

}  // namespace pushgate::xmpp
