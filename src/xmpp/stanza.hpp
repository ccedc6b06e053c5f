// Owning handles for libstrophe objects, two accessors, and the builders of the replies
// pushgate sends. Builders are pure: values in, the XML text out (through xml::Writer), nothing sent.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <strophe.h>

#include "common/xml_writer.hpp"

namespace pushgate::xmpp {

inline constexpr const char* kNsPubsub = "http://jabber.org/protocol/pubsub";
inline constexpr const char* kNsPush = "urn:xmpp:push:0";
inline constexpr const char* kNsData = "jabber:x:data";
inline constexpr const char* kNsDiscoInfo = "http://jabber.org/protocol/disco#info";
inline constexpr const char* kNsDiscoItems = "http://jabber.org/protocol/disco#items";
inline constexpr const char* kNsPing = "urn:xmpp:ping";
inline constexpr const char* kNsStanzas = "urn:ietf:params:xml:ns:xmpp-stanzas";
inline constexpr const char* kNsTigasePriority = "tigase:push:priority:0";
inline constexpr const char* kNsTigaseEncrypt = "tigase:push:encrypt:0";

struct StanzaDeleter {
  void operator()(xmpp_stanza_t* s) const { xmpp_stanza_release(s); }
};
using StanzaPtr = std::unique_ptr<xmpp_stanza_t, StanzaDeleter>;

struct CtxDeleter {
  void operator()(xmpp_ctx_t* c) const { xmpp_ctx_free(c); }
};
using CtxPtr = std::unique_ptr<xmpp_ctx_t, CtxDeleter>;

struct ConnDeleter {
  void operator()(xmpp_conn_t* c) const { xmpp_conn_release(c); }
};
using ConnPtr = std::unique_ptr<xmpp_conn_t, ConnDeleter>;

// The XMPP error an IQ reply carries; `type` is empty for a `result`. Which outcome of a push
// gets which: xmpp/outcome_errors.hpp.
struct XmppErrorCondition {
  const char* type;       // "", "cancel", "auth", "modify", "wait"
  const char* condition;  // RFC 6120 defined condition, "" for a result
};

// An attribute or "" when absent.
std::string attr(xmpp_stanza_t* stanza, const char* name);
// The text content of a stanza, or "" when it has none.
std::string text_of(xmpp_stanza_t* stanza);

// Everything pushgate sends to Prosody is built with xml::Writer (common/xml_writer.hpp),
// which escapes every attribute value and text: never concatenate XML by hand.

// The XML text of an IQ reply to (to, id): `result` when `error.type` is empty, else
// `error` carrying the condition and an optional human-readable text (never a token or
// secret).
std::string iq_reply_xml(const std::string& from, const std::string& to, const std::string& id,
                         XmppErrorCondition error, const std::string& text = "");

// An <iq type="result"> from `from` to (to, id), left open for its payload: add the payload
// element with the writer, then finish().
xml::Writer iq_result(const std::string& from, const std::string& to, const std::string& id);

// disco#info result: identity pubsub/push, features push, ping, disco#info, commands, and
// `extra_features` (the Tigase providers the registration commands serve).
std::string disco_info_result_xml(const std::string& from, const std::string& to, const std::string& id,
                                  const std::vector<std::string>& extra_features = {});

// An XEP-0199 ping (<iq type="get"><ping xmlns="urn:xmpp:ping"/></iq>).
std::string ping_xml(const std::string& from, const std::string& to, const std::string& id);

}  // namespace pushgate::xmpp
