// Parsing of the stanza mod_cloud_notify publishes (DESIGN.md "What Prosody really sends").
#include "xmpp/publish_parser.hpp"

#include <cstring>

#include "xmpp/stanza.hpp"

namespace pushgate::xmpp {
namespace {

std::string trim(const std::string& s) {
  const char* ws = " \t\r\n";
  size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

bool is(xmpp_stanza_t* s, const char* name, const char* ns) {
  if (!xmpp_stanza_is_tag(s)) return false;
  const char* n = xmpp_stanza_get_name(s);
  if (n == nullptr || std::strcmp(n, name) != 0) return false;
  if (ns == nullptr) return true;
  const char* sns = xmpp_stanza_get_ns(s);
  return sns != nullptr && std::strcmp(sns, ns) == 0;
}

xmpp_stanza_t* child(xmpp_stanza_t* parent, const char* name, const char* ns) {
  for (xmpp_stanza_t* c = xmpp_stanza_get_children(parent); c; c = xmpp_stanza_get_next(c)) {
    if (is(c, name, ns)) return c;
  }
  return nullptr;
}

Error too_large() {
  return Error{"publish is larger than 64 KiB",
               "send less in the notification: without the message body (Prosody: push_notification_with_body = "
               "false)"};
}

// Counts what the parser reads so a huge publish is refused, not copied.
struct Budget {
  std::size_t used = 0;
  bool take(std::size_t n) {
    used += n;
    return used <= kMaxPublishBytes;
  }
};

// Reads a jabber:x:data form's fields into `out` (var → first value, trimmed). Fields with
// no value are stored as "" only when `keep_empty`. FORM_TYPE is returned, not stored.
Result<std::string> read_form(xmpp_stanza_t* x, std::map<std::string, std::string>& out, bool keep_empty,
                              Budget& budget) {
  std::string form_type;
  std::size_t fields = 0;
  for (xmpp_stanza_t* f = xmpp_stanza_get_children(x); f; f = xmpp_stanza_get_next(f)) {
    if (!is(f, "field", nullptr)) continue;
    if (++fields > kMaxFields) return Error{"form has more than " + std::to_string(kMaxFields) + " fields", ""};
    std::string var = attr(f, "var");
    if (var.empty()) continue;  // a field without var carries nothing we can use
    xmpp_stanza_t* value = child(f, "value", nullptr);
    std::string v = value ? trim(text_of(value)) : "";
    if (!budget.take(var.size() + v.size())) return too_large();
    if (var == "FORM_TYPE") {
      form_type = v;
      continue;
    }
    if (v.empty() && !keep_empty) continue;
    out.emplace(std::move(var), std::move(v));  // the first occurrence of a var wins
  }
  return form_type;
}

}  // namespace

bool is_publish(xmpp_stanza_t* iq) {
  const char* type = xmpp_stanza_get_type(iq);
  if (type == nullptr || std::strcmp(type, "set") != 0) return false;
  xmpp_stanza_t* pubsub = child(iq, "pubsub", kNsPubsub);
  return pubsub != nullptr && child(pubsub, "publish", nullptr) != nullptr;
}

Result<PushRequest> parse_publish(xmpp_stanza_t* iq) {
  if (!is(iq, "iq", nullptr)) return Error{"not an iq", ""};
  PushRequest req;
  req.sender_domain = attr(iq, "from");
  if (req.sender_domain.empty()) return Error{"iq has no from", ""};
  if (attr(iq, "id").empty()) return Error{"iq has no id", ""};
  xmpp_stanza_t* pubsub = child(iq, "pubsub", kNsPubsub);
  if (pubsub == nullptr) return Error{"no <pubsub xmlns='http://jabber.org/protocol/pubsub'/>", ""};
  xmpp_stanza_t* publish = child(pubsub, "publish", nullptr);
  if (publish == nullptr) return Error{"no <publish/> in <pubsub/>", ""};
  req.node = attr(publish, "node");
  if (req.node.empty()) return Error{"<publish/> has no node", ""};
  if (req.node.size() > kMaxNodeBytes) return Error{"node is longer than 1024 bytes", ""};
  Budget budget;
  budget.take(req.node.size());

  xmpp_stanza_t* item = child(publish, "item", nullptr);
  if (item == nullptr) return Error{"<publish/> has no <item/>", ""};
  xmpp_stanza_t* notification = child(item, "notification", kNsPush);
  if (notification == nullptr) return Error{"<item/> has no <notification xmlns='urn:xmpp:push:0'/>", ""};

  for (xmpp_stanza_t* c = xmpp_stanza_get_children(notification); c; c = xmpp_stanza_get_next(c)) {
    if (is(c, "x", kNsData)) {
      std::map<std::string, std::string> fields;
      auto ft = read_form(c, fields, false, budget);
      if (!ft) return std::move(ft).error();
      // Only the summary form is ours; another form in the notification is ignored.
      const std::string& form_type = ft.value();
      if (form_type.empty() || form_type == "urn:xmpp:push:summary") req.summary = std::move(fields);
    } else if (is(c, "priority", kNsTigasePriority)) {
      std::string p = trim(text_of(c));
      if (!budget.take(p.size())) return too_large();
      req.priority = p;
    } else if (is(c, "encrypted", kNsTigaseEncrypt)) {
      EncryptedPayload enc;
      const char* attrs[2 * 16];
      int n = xmpp_stanza_get_attributes(c, attrs, 2 * 16);
      for (int i = 0; i + 1 < n && i < 2 * 16; i += 2) {
        if (std::strcmp(attrs[i], "xmlns") == 0) continue;
        if (!budget.take(std::strlen(attrs[i]) + std::strlen(attrs[i + 1]))) return too_large();
        enc.attributes.emplace(attrs[i], attrs[i + 1]);
      }
      enc.content = text_of(c);  // untouched: no trimming of the ciphertext
      if (!budget.take(enc.content.size())) return too_large();
      req.encrypted = std::move(enc);
    }
  }

  if (xmpp_stanza_t* options = child(pubsub, "publish-options", nullptr)) {
    if (xmpp_stanza_t* x = child(options, "x", kNsData)) {
      auto ft = read_form(x, req.options, true, budget);
      if (!ft) return std::move(ft).error();
    }
  }
  return req;
}

}  // namespace pushgate::xmpp
