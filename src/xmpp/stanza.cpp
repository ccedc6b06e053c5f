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

StanzaPtr make_iq_reply(xmpp_ctx_t* ctx, const std::string& from, const std::string& to, const std::string& id,
                        XmppErrorCondition error, const std::string& text) {
  bool is_error = error.type != nullptr && error.type[0] != '\0';
  StanzaPtr iq = new_iq(ctx, is_error ? "error" : "result", from, to, id);
  if (!is_error) return iq;
  StanzaPtr err = new_child(ctx, iq.get(), "error", nullptr);
  xmpp_stanza_set_type(err.get(), error.type);
  new_child(ctx, err.get(), error.condition, kNsStanzas);
  if (!text.empty()) {
    StanzaPtr t = new_child(ctx, err.get(), "text", kNsStanzas);
    StanzaPtr body(xmpp_stanza_new(ctx));
    xmpp_stanza_set_text(body.get(), text.c_str());
    xmpp_stanza_add_child(t.get(), body.get());
  }
  return iq;
}

StanzaPtr make_disco_info_result(xmpp_ctx_t* ctx, const std::string& from, const std::string& to,
                                 const std::string& id) {
  StanzaPtr iq = new_iq(ctx, "result", from, to, id);
  StanzaPtr query = new_child(ctx, iq.get(), "query", kNsDiscoInfo);
  StanzaPtr identity = new_child(ctx, query.get(), "identity", nullptr);
  xmpp_stanza_set_attribute(identity.get(), "category", "pubsub");
  xmpp_stanza_set_attribute(identity.get(), "type", "push");
  xmpp_stanza_set_attribute(identity.get(), "name", "pushgate");
  for (const char* feature : {kNsDiscoInfo, kNsPush, kNsPing}) {
    StanzaPtr f = new_child(ctx, query.get(), "feature", nullptr);
    xmpp_stanza_set_attribute(f.get(), "var", feature);
  }
  return iq;
}

}  // namespace pushgate::xmpp
