// Reply builders and small accessors over libstrophe stanzas.
#include "xmpp/stanza.hpp"

namespace pushgate::xmpp {

std::string attr(xmpp_stanza_t* stanza, const char* name) {
  const char* v = xmpp_stanza_get_attribute(stanza, name);
  return v ? v : "";
}

std::string text_of(xmpp_stanza_t* stanza) {
  char* t = xmpp_stanza_get_text(stanza);
  if (t == nullptr) return "";
  std::string out(t);
  xmpp_free(xmpp_stanza_get_context(stanza), t);
  return out;
}

namespace {
StanzaPtr new_child(xmpp_ctx_t* ctx, xmpp_stanza_t* parent, const char* name, const char* ns) {
  StanzaPtr child(xmpp_stanza_new(ctx));
  xmpp_stanza_set_name(child.get(), name);
  if (ns) xmpp_stanza_set_ns(child.get(), ns);
  xmpp_stanza_add_child(parent, child.get());  // parent takes its own reference
  return child;
}

StanzaPtr new_iq(xmpp_ctx_t* ctx, const char* type, const std::string& from, const std::string& to,
                 const std::string& id) {
  StanzaPtr iq(xmpp_iq_new(ctx, type, id.c_str()));
  xmpp_stanza_set_from(iq.get(), from.c_str());
  xmpp_stanza_set_to(iq.get(), to.c_str());
  return iq;
}
}  // namespace

void append_xml_escaped(std::string& out, const std::string& value) {
  for (char c : value) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        // XML 1.0 forbids most control characters even escaped: drop them.
        if (static_cast<unsigned char>(c) >= 0x20 || c == '\t' || c == '\n' || c == '\r') out += c;
    }
  }
}

namespace {
// `<iq type="…" id="…" from="…" to="…"`, the tag left open.
void append_iq_head(std::string& out, const char* type, const std::string& from, const std::string& to,
                    const std::string& id) {
  out += "<iq type=\"";
  out += type;
  out += "\" id=\"";
  append_xml_escaped(out, id);
  out += "\" from=\"";
  append_xml_escaped(out, from);
  out += "\" to=\"";
  append_xml_escaped(out, to);
  out += '"';
}
}  // namespace

std::string iq_reply_xml(const std::string& from, const std::string& to, const std::string& id,
                         XmppErrorCondition error, const std::string& text) {
  bool is_error = error.type != nullptr && error.type[0] != '\0';
  std::string out;
  out.reserve(160 + text.size());
  append_iq_head(out, is_error ? "error" : "result", from, to, id);
  if (!is_error) {
    out += "/>";
    return out;
  }
  out += "><error type=\"";
  out += error.type;
  out += "\"><";
  out += error.condition;
  out += " xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\"/>";
  if (!text.empty()) {
    out += "<text xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\">";
    append_xml_escaped(out, text);
    out += "</text>";
  }
  out += "</error></iq>";
  return out;
}

std::string iq_result_xml(const std::string& from, const std::string& to, const std::string& id,
                          const std::string& payload) {
  std::string out;
  append_iq_head(out, "result", from, to, id);
  out += '>';
  out += payload;
  out += "</iq>";
  return out;
}

StanzaPtr make_disco_info_result(xmpp_ctx_t* ctx, const std::string& from, const std::string& to,
                                 const std::string& id, const std::vector<std::string>& extra_features) {
  StanzaPtr iq = new_iq(ctx, "result", from, to, id);
  StanzaPtr query = new_child(ctx, iq.get(), "query", kNsDiscoInfo);
  StanzaPtr identity = new_child(ctx, query.get(), "identity", nullptr);
  xmpp_stanza_set_attribute(identity.get(), "category", "pubsub");
  xmpp_stanza_set_attribute(identity.get(), "type", "push");
  xmpp_stanza_set_attribute(identity.get(), "name", "pushgate");
  for (const char* feature : {kNsDiscoInfo, kNsPush, kNsPing, "http://jabber.org/protocol/commands"}) {
    StanzaPtr f = new_child(ctx, query.get(), "feature", nullptr);
    xmpp_stanza_set_attribute(f.get(), "var", feature);
  }
  for (const std::string& feature : extra_features) {
    StanzaPtr f = new_child(ctx, query.get(), "feature", nullptr);
    xmpp_stanza_set_attribute(f.get(), "var", feature.c_str());
  }
  return iq;
}

}  // namespace pushgate::xmpp
