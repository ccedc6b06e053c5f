// XEP-0050 ad-hoc commands for device registration.
#include "xmpp/adhoc.hpp"

#include <algorithm>
#include <cstring>

#include "xmpp/stanza.hpp"

namespace pushgate::xmpp {

const std::vector<std::string>& adhoc_command_nodes() {
  static const std::vector<std::string> nodes = {"register-push-apns",   "register-push-fcm", "unregister-push-apns",
                                                 "unregister-push-fcm",  "register-device",   "unregister-device"};
  return nodes;
}

const char* tigase_provider(const std::string& service) {
  if (service == "apns") return "tigase:messenger:apns:1";
  if (service == "fcm") return "fcm-xmpp-api";
  return nullptr;
}

std::string AdhocCommand::service() const {
  if (!tigase()) return node.substr(node.rfind('-') + 1);
  auto it = fields.find("provider");
  if (it == fields.end()) return "";
  for (const char* service : {"apns", "fcm"}) {
    if (it->second == tigase_provider(service)) return service;
  }
  return "";
}

std::size_t adhoc_field_limit(const std::string& var) {
  if (var == "token" || var == "device-token" || var == "device-second-token") return 1024;  // APNs 200, FCM ≤ 1024
  if (var == "muc") return 3071;                                                             // a JID (RFC 7622)
  if (var == "device-id" || var == "android-id") return 256;
  if (var == "app" || var == "provider") return 64;
  return 256;  // FORM_TYPE, and fields pushgate does not read
}

std::variant<AdhocCommand, std::string> parse_adhoc_command(xmpp_stanza_t* command) {
  AdhocCommand c;
  c.node = attr(command, "node");
  c.action = attr(command, "action");
  c.sessionid = attr(command, "sessionid");
  if (c.action.empty()) c.action = "execute";
  const auto& nodes = adhoc_command_nodes();
  if (std::find(nodes.begin(), nodes.end(), c.node) == nodes.end()) return std::string("unknown command");
  if (c.action != "execute" && c.action != "complete" && c.action != "cancel") return std::string("unknown action");
  for (xmpp_stanza_t* x = xmpp_stanza_get_children(command); x != nullptr; x = xmpp_stanza_get_next(x)) {
    const char* ns = xmpp_stanza_get_ns(x);
    if (!xmpp_stanza_is_tag(x) || ns == nullptr || std::strcmp(ns, "jabber:x:data") != 0) continue;
    for (xmpp_stanza_t* f = xmpp_stanza_get_children(x); f != nullptr; f = xmpp_stanza_get_next(f)) {
      const char* name = xmpp_stanza_get_name(f);
      if (!xmpp_stanza_is_tag(f) || name == nullptr || std::strcmp(name, "field") != 0) continue;
      std::string var = attr(f, "var");
      if (var.empty() || var.size() > 64 || c.fields.size() >= 32) continue;
      xmpp_stanza_t* v = xmpp_stanza_get_child_by_name(f, "value");
      std::string value = v ? text_of(v) : "";
      std::size_t limit = adhoc_field_limit(var);
      if (value.size() > limit) return "field '" + var + "' is longer than " + std::to_string(limit) + " bytes";
      c.fields[var] = value;
    }
  }
  return c;
}

std::string adhoc_completed_xml(const std::string& node, const std::string& sessionid,
                                const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out = "<command xmlns='http://jabber.org/protocol/commands' node='";
  append_xml_escaped(out, node);
  out += "' sessionid='";
  append_xml_escaped(out, sessionid);
  out += "' status='completed'>";
  if (!fields.empty()) {
    out += "<x xmlns='jabber:x:data' type='result'>";
    for (const auto& [k, v] : fields) {
      out += "<field var='";
      append_xml_escaped(out, k);
      out += "'><value>";
      append_xml_escaped(out, v);
      out += "</value></field>";
    }
    out += "</x>";
  }
  return out + "</command>";
}

std::string adhoc_items_xml(const std::string& jid) {
  std::string out = "<query xmlns='http://jabber.org/protocol/disco#items' node='http://jabber.org/protocol/commands'>";
  for (const auto& n : adhoc_command_nodes()) {
    out += "<item jid='";
    append_xml_escaped(out, jid);
    out += "' node='" + n + "' name='" + n + "'/>";
  }
  return out + "</query>";
}

}  // namespace pushgate::xmpp
