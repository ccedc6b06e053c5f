// XEP-0050 ad-hoc commands as p2 (and the Conversations app) use them to register a device
// with its app server: register-push-apns / register-push-fcm take token and device-id (or
// android-id), optional muc and app; unregister-push-* take device-id (and muc). Tigase's
// dialect (Siskin, Stork): register-device takes provider, device-token and optionally
// device-second-token (PushKit, for calls); unregister-device takes provider and
// device-token. One step: the answer is `completed`. Pure: a command element in, a request
// or the Error out. What pushgate does with a command (checks, the store, the answer):
// xmpp/registration_commands.hpp.
#pragma once

#include <strophe.h>

#include <deque>
#include <map>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "common/result.hpp"

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

// Parses <command xmlns='http://jabber.org/protocol/commands'>; the Error names what is wrong
// (a value over adhoc_field_limit() names the field and the limit), never echoing a value.
Result<AdhocCommand> parse_adhoc_command(xmpp_stanza_t* command);

// XEP-0050 session ids are ours to mint: a client's sessionid is accepted only when it is one
// we issued (the last kRemembered), so nothing a client chose is echoed back. Loop thread only.
class AdhocSessions {
 public:
  static constexpr std::size_t kRemembered = 1024;
  AdhocSessions();
  // A new id (16 hex digits), remembered.
  std::string mint();
  bool issued(const std::string& sessionid) const;

 private:
  std::mt19937_64 rng_;
  std::deque<std::string> order_;
  std::unordered_set<std::string> ids_;
};

// The first step of every command, before any store is asked: parse it, check its sessionid,
// answer `cancel`. `reply` is the whole IQ to send when the command ends here (a parse error,
// an unknown sessionid, a cancel); empty when `command` is to be run, with command.sessionid
// set to one of ours.
struct AdhocStep {
  std::string reply;
  AdhocCommand command;
};
AdhocStep adhoc_first_step(xmpp_stanza_t* command, const std::string& component_jid, const std::string& from,
                           const std::string& id, AdhocSessions& sessions);

// One field of a command's result form: one value and no type, or with `list_multi` a
// <field type='list-multi'> with a <value/> per entry (Tigase's `features`).
struct ResultField {
  std::string var;
  std::vector<std::string> values;
  bool list_multi = false;
};

// The IQ result to (to, id) carrying <command status='completed'> with a result form of
// `fields` (none: no form). Every var and value goes through the escaping writer.
std::string adhoc_completed_xml(const std::string& component_jid, const std::string& to, const std::string& id,
                                const std::string& node, const std::string& sessionid,
                                const std::vector<ResultField>& fields);
// The same with single-valued fields (var, value).
std::string adhoc_completed_xml(const std::string& component_jid, const std::string& to, const std::string& id,
                                const std::string& node, const std::string& sessionid,
                                const std::vector<std::pair<std::string, std::string>>& fields);

// Tigase's push encryption (tigase:push:encrypt:0), as register-device's result announces it:
// the client asks Prosody to encrypt only when `features` lists it.
inline constexpr const char* kTigaseEncryptFeatures[] = {"tigase:push:encrypt:0", "tigase:push:encrypt:aes-128-gcm"};
// register-device's `max-payload-size`: the bytes of `encrypted` (base64) pushgate delivers.
// APNs takes 4096 bytes for an alert; 3000 leave 1096 for aps (alert title, sound,
// mutable-content), the account JID and the iv.
inline constexpr std::size_t kTigaseMaxPayloadSize = 3000;

// The IQ result to (to, id) carrying disco#items for the commands node.
std::string adhoc_items_xml(const std::string& component_jid, const std::string& to, const std::string& id);

}  // namespace pushgate::xmpp
