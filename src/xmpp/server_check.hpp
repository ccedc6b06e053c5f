// What --check --online learns about the XMPP server's side of push: disco#info and
// disco#items answers read into small structs, and turned into findings (OK / MISSING / …)
// with the configuration line that adds what is missing, for Prosody and ejabberd. Pure.
#pragma once

#include <strophe.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pushgate::xmpp {

// Where clients look before they enable push (XEP-0357 §5: the user's own account).
inline constexpr const char* kFeaturePush = "urn:xmpp:push:0";
// The Tigase extension Siskin IM and Snikket iOS need for encrypted pushes (CLIENTS.md).
inline constexpr const char* kFeatureEncrypt = "tigase:push:encrypt:0";
inline constexpr const char* kNsVersion = "jabber:iq:version";

// Which server software answers, from the name of its server/im identity (both default to
// their product name: Prosody's `name` option, ejabberd's fixed "ejabberd").
enum class ServerKind { Unknown, Prosody, Ejabberd };
const char* to_string(ServerKind kind);

struct DiscoInfo {
  std::string server_name;            // name of the server/im identity; "" when none
  bool account_identity = false;      // an account/* identity: a user's own disco#info
  std::vector<std::string> features;  // at most kMaxDiscoEntries, each at most kMaxDiscoText bytes
  bool has(std::string_view feature) const;
};

// Bounds on what is kept of one answer: a hostile or broken server cannot make the report
// (or our memory) grow with it.
inline constexpr std::size_t kMaxDiscoEntries = 256;
inline constexpr std::size_t kMaxDiscoText = 256;

// The disco#info <query/> of an <iq type="result">; nullopt when `iq` is not such a result
// (an error, another payload).
std::optional<DiscoInfo> read_disco_info(xmpp_stanza_t* iq);
// The item JIDs of a disco#items result (bounded as above); nullopt when not such a result.
std::optional<std::vector<std::string>> read_disco_items(xmpp_stanza_t* iq);
// The defined condition of an <iq type="error"> ("service-unavailable"), its text appended
// after ": " when there is one; "" when `iq` is not an error.
std::string read_iq_error(xmpp_stanza_t* iq);

// The software name of a jabber:iq:version result (<name>Prosody</name>, bounded as above);
// nullopt when `iq` is not such a result.
std::optional<std::string> read_version_name(xmpp_stanza_t* iq);

// Which server a product name names: "Prosody", "ejabberd" (any case, within a longer name);
// Unknown for anything else.
ServerKind server_kind(std::string_view product_name);
// By the name of the server/im identity. An operator may rename it (Prosody's `name`
// option): then ask jabber:iq:version, whose name they rarely change.
ServerKind server_kind(const DiscoInfo& host_info);

// The domain a component usually serves: the component JID without its first label
// (push.example.com → example.com); "" when it has only one label.
std::string parent_domain(const std::string& component_jid);

// Whether the test account's password must go over TLS to `host` ([check] host; "" means the
// JID's domain through DNS): always, unless `host` is exactly "localhost" or an IP literal of
// this machine's loopback (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104). A name that merely starts
// with "127." (127.example.net) is resolved like any other, so it needs TLS.
bool password_needs_tls(const std::string& host);

// Server text made safe for a terminal: control characters (C0, DEL, C1 in UTF-8 form) and the
// bidi and invisible format characters (U+200B–U+200F, U+202A–U+202E, U+2066–U+2069) become
// '?', and anything past `max` bytes is cut with "…".
std::string printable(std::string_view text, std::size_t max = 200);

enum class CheckStatus {
  Ok,
  Missing,      // the server answered and lacks it: a failure
  NotChecked,   // nothing we are allowed to ask shows it; says how to check it
  Unavailable,  // this server software has no module for it; said, not a failure
  Unreachable,  // no answer, an error answer, a refusal: a failure
};
const char* to_string(CheckStatus status);
// Missing and Unreachable make --check --online fail.
bool is_failure(CheckStatus status);

struct Finding {
  std::string domain;
  ServerKind server = ServerKind::Unknown;
  std::string what;    // "push (urn:xmpp:push:0)"
  CheckStatus status = CheckStatus::NotChecked;
  std::string detail;  // where it was looked for, what was seen
  std::vector<std::string> fix;  // configuration lines that add it, one per server kind
};

// The findings on a user's own account disco#info (`account` is that user's bare JID): push,
// and the encrypted-push extension.
std::vector<Finding> account_findings(const std::string& domain, ServerKind kind, const std::string& account,
                                      const DiscoInfo& own);
// What a component can see of `domain` without an account: the features on the server's own
// disco#info (no server puts push there by default, but a feature seen there counts), and for
// the rest NotChecked with how to check it: `account_failed` when a [check] account was
// configured for `domain` but could not log in (its own line says why).
std::vector<Finding> host_findings(const std::string& domain, ServerKind kind, const DiscoInfo& host,
                                   bool account_failed = false);
// Whether `component_jid` is among the server's disco#items: Siskin and Snikket iOS find the
// push service there.
Finding items_finding(const std::string& domain, ServerKind kind, const std::string& component_jid,
                      const std::vector<std::string>& items);

// The report lines of one finding, each ending in '\n': "xmpp DOMAIN (SERVER): WHAT: STATUS,
// detail", then one indented "fix (SERVER): …" line per fix.
std::string render(const Finding& finding);

}  // namespace pushgate::xmpp
