// XEP-0050 ad-hoc commands as p2 (and the Conversations app) use them to register a device
// with its app server: register-push-apns / register-push-fcm take token and device-id (or
// android-id), optional muc and app; unregister-push-* take device-id (and muc). One step:
// the answer is `completed`. Pure: a command element in, a request or the reason out.
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
  bool registers() const { return node.rfind("register-push-", 0) == 0; }
  std::string service() const { return node.substr(node.rfind('-') + 1); }  // apns | fcm
};

// The commands pushgate offers, in disco#items order.
const std::vector<std::string>& adhoc_command_nodes();

// Parses <command xmlns='http://jabber.org/protocol/commands'>; the string names what is wrong.
std::variant<AdhocCommand, std::string> parse_adhoc_command(xmpp_stanza_t* command);

// <command status='completed'> with a result form of `fields` (none: no form).
std::string adhoc_completed_xml(const std::string& node, const std::string& sessionid,
                                const std::vector<std::pair<std::string, std::string>>& fields);

// disco#items for the commands node.
std::string adhoc_items_xml(const std::string& jid);

}  // namespace pushgate::xmpp
