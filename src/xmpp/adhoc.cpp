// XEP-0050's form machinery: command parsing, our session ids, the completed and disco#items replies.
#include "xmpp/adhoc.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "xmpp/stanza.hpp"

namespace pushgate::xmpp {

const std::vector<std::string>& adhoc_command_nodes() {
  static const std::vector<std::string> nodes = {"register-push-apns",  "register-push-fcm", "unregister-push-apns",
                                                 "unregister-push-fcm", "register-device",   "unregister-device"};
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

Result<AdhocCommand> parse_adhoc_command(xmpp_stanza_t* command) {
  AdhocCommand c;
  c.node = attr(command, "node");
  c.action = attr(command, "action");
  c.sessionid = attr(command, "sessionid");
  if (c.action.empty()) c.action = "execute";
  const auto& nodes = adhoc_command_nodes();
  if (std::find(nodes.begin(), nodes.end(), c.node) == nodes.end()) {
    return Error{"unknown command", "disco#items on node http://jabber.org/protocol/commands lists the commands"};
  }
  if (c.action != "execute" && c.action != "complete" && c.action != "cancel") {
    return Error{"unknown action", "use execute, complete or cancel"};
  }
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
      if (value.size() > limit) return Error{"field '" + var + "' is longer than " + std::to_string(limit) + " bytes", ""};
      c.fields[var] = value;
    }
  }
  return c;
}

AdhocSessions::AdhocSessions() : rng_(std::random_device{}()) {}

std::string AdhocSessions::mint() {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng_()));
  std::string id = buf;
  if (ids_.insert(id).second) order_.push_back(id);
  while (order_.size() > kRemembered) {
    ids_.erase(order_.front());
    order_.pop_front();
  }
  return id;
}

bool AdhocSessions::issued(const std::string& sessionid) const {
  return ids_.count(sessionid) != 0;
}

AdhocStep adhoc_first_step(xmpp_stanza_t* command, const std::string& component_jid, const std::string& from,
                           const std::string& id, AdhocSessions& sessions) {
  AdhocStep step;
  auto parsed = parse_adhoc_command(command);
  if (!parsed) {
    step.reply = iq_reply_xml(component_jid, from, id, {"modify", "bad-request"}, parsed.error().message());
    return step;
  }
  step.command = std::move(parsed).value();
  AdhocCommand& c = step.command;
  if (c.sessionid.empty()) {
    c.sessionid = sessions.mint();
  } else if (!sessions.issued(c.sessionid)) {
    // XEP-0050's bad-sessionid; the client's value is not repeated.
    step.reply = iq_reply_xml(component_jid, from, id, {"modify", "bad-request"}, "unknown sessionid");
    return step;
  }
  if (c.action == "cancel") {
    xml::Writer w = iq_result(component_jid, from, id);
    w.open("command").attr("xmlns", kNsCommands).attr("node", c.node).attr("sessionid", c.sessionid);
    w.attr("status", "canceled");
    step.reply = w.finish();
  }
  return step;
}

std::string adhoc_completed_xml(const std::string& component_jid, const std::string& to, const std::string& id,
                                const std::string& node, const std::string& sessionid,
                                const std::vector<ResultField>& fields) {
  xml::Writer w = iq_result(component_jid, to, id);
  w.open("command").attr("xmlns", kNsCommands).attr("node", node).attr("sessionid", sessionid);
  w.attr("status", "completed");
  if (!fields.empty()) {
    w.open("x").attr("xmlns", kNsData).attr("type", "result");
    for (const ResultField& f : fields) {
      w.open("field").attr("var", f.var);
      if (f.list_multi) w.attr("type", "list-multi");
      for (const std::string& value : f.values) w.open("value").text(value).close();
      w.close();
    }
  }
  return w.finish();
}

std::string adhoc_completed_xml(const std::string& component_jid, const std::string& to, const std::string& id,
                                const std::string& node, const std::string& sessionid,
                                const std::vector<std::pair<std::string, std::string>>& fields) {
  std::vector<ResultField> form;
  form.reserve(fields.size());
  for (const auto& [var, value] : fields) form.push_back({var, {value}, false});
  return adhoc_completed_xml(component_jid, to, id, node, sessionid, form);
}

std::string adhoc_items_xml(const std::string& component_jid, const std::string& to, const std::string& id) {
  xml::Writer w = iq_result(component_jid, to, id);
  w.open("query").attr("xmlns", kNsDiscoItems).attr("node", kNsCommands);
  for (const auto& n : adhoc_command_nodes()) {
    w.open("item").attr("jid", component_jid).attr("node", n).attr("name", n).close();
  }
  return w.finish();
}

}  // namespace pushgate::xmpp
