// Reply builders and small accessors over libstrophe stanzas. Every builder writes through
// xml::Writer, so values from a client (ids, JIDs, reasons) are always escaped.
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
// <iq type="…" id="…" from="…" to="…">, left open.
xml::Writer open_iq(xml::Name type, const std::string& from, const std::string& to, const std::string& id) {
  xml::Writer w;
  w.open("iq").attr("type", type.c_str()).attr("id", id).attr("from", from).attr("to", to);
  return w;
}
}  // namespace

std::string iq_reply_xml(const std::string& from, const std::string& to, const std::string& id,
                         XmppErrorCondition error, const std::string& text) {
  bool is_error = error.type != nullptr && error.type[0] != '\0';
  xml::Writer w = open_iq(is_error ? xml::Name("error") : xml::Name("result"), from, to, id);
  if (!is_error) return w.finish();
  w.open("error").attr("type", error.type);
  w.open(xml::Name::ours(error.condition)).attr("xmlns", kNsStanzas).close();
  if (!text.empty()) w.open("text").attr("xmlns", kNsStanzas).text(text).close();
  return w.finish();
}

xml::Writer iq_result(const std::string& from, const std::string& to, const std::string& id) {
  return open_iq("result", from, to, id);
}

std::string disco_info_result_xml(const std::string& from, const std::string& to, const std::string& id,
                                  const std::vector<std::string>& extra_features) {
  xml::Writer w = iq_result(from, to, id);
  w.open("query").attr("xmlns", kNsDiscoInfo);
  w.open("identity").attr("category", "pubsub").attr("type", "push").attr("name", "pushgate").close();
  for (const char* feature : {kNsDiscoInfo, kNsPush, kNsPing, "http://jabber.org/protocol/commands"}) {
    w.open("feature").attr("var", feature).close();
  }
  for (const std::string& feature : extra_features) w.open("feature").attr("var", feature).close();
  return w.finish();
}

std::string ping_xml(const std::string& from, const std::string& to, const std::string& id) {
  xml::Writer w = open_iq("get", from, to, id);
  w.open("ping").attr("xmlns", kNsPing).close();
  return w.finish();
}

}  // namespace pushgate::xmpp
