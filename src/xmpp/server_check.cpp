// Reading disco answers and turning them into --check --online findings. The fix lines name
// the module of each server that adds a feature, as verified against Debian 12's Prosody 0.12
// (with prosody-modules) and ejabberd 23.01: both show push on the user's own account only.
#include "xmpp/server_check.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "xmpp/stanza.hpp"

namespace pushgate::xmpp {
namespace {

// The first child element named `name` in namespace `ns`, or null.
xmpp_stanza_t* child(xmpp_stanza_t* parent, const char* name, const char* ns) {
  for (xmpp_stanza_t* c = xmpp_stanza_get_children(parent); c != nullptr; c = xmpp_stanza_get_next(c)) {
    if (!xmpp_stanza_is_tag(c)) continue;
    const char* n = xmpp_stanza_get_name(c);
    const char* s = xmpp_stanza_get_ns(c);
    if (n && std::strcmp(n, name) == 0 && (ns == nullptr || (s && std::strcmp(s, ns) == 0))) return c;
  }
  return nullptr;
}

bool is_type(xmpp_stanza_t* iq, const char* type) {
  const char* name = xmpp_stanza_get_name(iq);
  const char* t = xmpp_stanza_get_type(iq);
  return name && std::strcmp(name, "iq") == 0 && t && std::strcmp(t, type) == 0;
}

std::string bounded(const std::string& s) { return s.size() > kMaxDiscoText ? s.substr(0, kMaxDiscoText) : s; }

const char* kProsodyPush =
    "modules_enabled = { …; \"cloud_notify\"; } in prosody.cfg.lua (Debian: apt-get install prosody-modules), "
    "then prosodyctl check config and restart Prosody";
const char* kProsodyEncrypt =
    "modules_enabled = { …; \"cloud_notify\"; \"cloud_notify_extensions\"; } in prosody.cfg.lua: it loads "
    "cloud_notify_encrypted, cloud_notify_priority_tag and cloud_notify_filters, which Debian 12 lacks: get them "
    "from prosody-modules into a directory plugin_paths names, apt-get install lua-luaossl (Prosody 0.12); "
    "pushgate's prosody-config/cloud-notify-extensions.cfg.lua shows it all";
const char* kEjabberdPush =
    "modules: then \"  mod_push: {}\" in ejabberd.yml (or include pushgate's deploy/ejabberd/pushgate.yml, "
    "which has it), then ejabberdctl reload_config";

std::vector<std::string> push_fix(ServerKind kind) {
  switch (kind) {
    case ServerKind::Prosody: return {std::string("Prosody: ") + kProsodyPush};
    case ServerKind::Ejabberd: return {std::string("ejabberd: ") + kEjabberdPush};
    case ServerKind::Unknown: break;
  }
  return {std::string("Prosody: ") + kProsodyPush, std::string("ejabberd: ") + kEjabberdPush};
}

std::string push_what() { return std::string("push (") + kFeaturePush + ")"; }
std::string encrypt_what() { return std::string("encrypted push for Siskin/Snikket iOS (") + kFeatureEncrypt + ")"; }

Finding make(const std::string& domain, ServerKind kind, std::string what, CheckStatus status, std::string detail,
             std::vector<std::string> fix = {}) {
  return Finding{domain, kind, std::move(what), status, std::move(detail), std::move(fix)};
}

}  // namespace

const char* to_string(ServerKind kind) {
  switch (kind) {
    case ServerKind::Prosody: return "Prosody";
    case ServerKind::Ejabberd: return "ejabberd";
    case ServerKind::Unknown: break;
  }
  return "server unknown";
}

const char* to_string(CheckStatus status) {
  switch (status) {
    case CheckStatus::Ok: return "OK";
    case CheckStatus::Missing: return "MISSING";
    case CheckStatus::NotChecked: return "NOT CHECKED";
    case CheckStatus::Unavailable: return "UNAVAILABLE";
    case CheckStatus::Unreachable: return "UNREACHABLE";
  }
  return "?";
}

bool is_failure(CheckStatus status) { return status == CheckStatus::Missing || status == CheckStatus::Unreachable; }

bool DiscoInfo::has(std::string_view feature) const {
  return std::find(features.begin(), features.end(), feature) != features.end();
}

std::optional<DiscoInfo> read_disco_info(xmpp_stanza_t* iq) {
  if (iq == nullptr || !is_type(iq, "result")) return std::nullopt;
  xmpp_stanza_t* query = child(iq, "query", kNsDiscoInfo);
  if (query == nullptr) return std::nullopt;
  DiscoInfo info;
  std::size_t seen = 0;
  for (xmpp_stanza_t* c = xmpp_stanza_get_children(query); c != nullptr && seen < kMaxDiscoEntries;
       c = xmpp_stanza_get_next(c)) {
    if (!xmpp_stanza_is_tag(c)) continue;
    ++seen;
    const char* n = xmpp_stanza_get_name(c);
    if (n == nullptr) continue;
    if (std::strcmp(n, "identity") == 0) {
      std::string category = attr(c, "category"), type = attr(c, "type");
      if (category == "server" && type == "im" && info.server_name.empty()) info.server_name = bounded(attr(c, "name"));
      if (category == "account") info.account_identity = true;
    } else if (std::strcmp(n, "feature") == 0) {
      std::string var = attr(c, "var");
      if (!var.empty()) info.features.push_back(bounded(var));
    }
  }
  return info;
}

std::optional<std::vector<std::string>> read_disco_items(xmpp_stanza_t* iq) {
  if (iq == nullptr || !is_type(iq, "result")) return std::nullopt;
  xmpp_stanza_t* query = child(iq, "query", kNsDiscoItems);
  if (query == nullptr) return std::nullopt;
  std::vector<std::string> items;
  for (xmpp_stanza_t* c = xmpp_stanza_get_children(query); c != nullptr && items.size() < kMaxDiscoEntries;
       c = xmpp_stanza_get_next(c)) {
    const char* n = xmpp_stanza_is_tag(c) ? xmpp_stanza_get_name(c) : nullptr;
    if (n && std::strcmp(n, "item") == 0) items.push_back(bounded(attr(c, "jid")));
  }
  return items;
}

std::string read_iq_error(xmpp_stanza_t* iq) {
  if (iq == nullptr || !is_type(iq, "error")) return "";
  xmpp_stanza_t* error = child(iq, "error", nullptr);
  if (error == nullptr) return "error (no condition given)";
  std::string condition, text;
  for (xmpp_stanza_t* c = xmpp_stanza_get_children(error); c != nullptr; c = xmpp_stanza_get_next(c)) {
    const char* n = xmpp_stanza_is_tag(c) ? xmpp_stanza_get_name(c) : nullptr;
    const char* s = n ? xmpp_stanza_get_ns(c) : nullptr;
    if (n == nullptr || s == nullptr || std::strcmp(s, kNsStanzas) != 0) continue;
    if (std::strcmp(n, "text") == 0) {
      text = bounded(text_of(c));
    } else if (condition.empty()) {
      condition = bounded(n);
    }
  }
  if (condition.empty()) condition = "undefined-condition";
  return text.empty() ? condition : condition + ": " + text;
}

std::optional<std::string> read_version_name(xmpp_stanza_t* iq) {
  if (iq == nullptr || !is_type(iq, "result")) return std::nullopt;
  xmpp_stanza_t* query = child(iq, "query", kNsVersion);
  if (query == nullptr) return std::nullopt;
  xmpp_stanza_t* name = child(query, "name", nullptr);
  return name == nullptr ? std::string() : bounded(text_of(name));
}

ServerKind server_kind(const DiscoInfo& host_info) { return server_kind(host_info.server_name); }

ServerKind server_kind(std::string_view product_name) {
  std::string name(product_name);
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (name.find("prosody") != std::string::npos) return ServerKind::Prosody;
  if (name.find("ejabberd") != std::string::npos) return ServerKind::Ejabberd;
  return ServerKind::Unknown;
}

std::string parent_domain(const std::string& component_jid) {
  auto dot = component_jid.find('.');
  if (dot == std::string::npos || dot + 1 >= component_jid.size()) return "";
  return component_jid.substr(dot + 1);
}

namespace {

// The last two UTF-8 bytes (after 0xe2) of U+200B–U+200F (zero-width and directional marks),
// U+202A–U+202E (bidi embeddings and overrides) and U+2066–U+2069 (bidi isolates).
bool is_format_char(unsigned char b1, unsigned char b2) {
  return (b1 == 0x80 && ((b2 >= 0x8b && b2 <= 0x8f) || (b2 >= 0xaa && b2 <= 0xae))) ||
         (b1 == 0x81 && b2 >= 0xa6 && b2 <= 0xa9);
}

}  // namespace

bool password_needs_tls(const std::string& host) {
  if (host == "localhost") return false;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) != 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return false;
    return !(IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127);
  }
  return true;
}

std::string printable(std::string_view text, std::size_t max) {
  std::string out;
  std::size_t i = 0;
  for (; i < text.size() && out.size() < max; ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) {
      out += '?';
    } else if (c == 0xc2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
               static_cast<unsigned char>(text[i + 1]) <= 0x9f) {
      out += '?';  // a C1 control (U+0080–U+009F), which some terminals obey as ESC sequences
      ++i;
    } else if (c == 0xe2 && i + 2 < text.size() && is_format_char(static_cast<unsigned char>(text[i + 1]),
                                                                  static_cast<unsigned char>(text[i + 2]))) {
      out += '?';  // a bidi or invisible format character, which can make a line read otherwise
      i += 2;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (i < text.size()) {
    // Do not end inside a UTF-8 sequence.
    while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xc0) == 0x80) out.pop_back();
    if (!out.empty() && static_cast<unsigned char>(out.back()) >= 0xc0) out.pop_back();
    out += "…";
  }
  return out;
}

std::vector<Finding> account_findings(const std::string& domain, ServerKind kind, const std::string& account,
                                      const DiscoInfo& own) {
  std::vector<Finding> out;
  std::string where = "on " + account + "'s own disco#info";
  if (own.has(kFeaturePush)) {
    out.push_back(make(domain, kind, push_what(), CheckStatus::Ok, where));
  } else {
    out.push_back(make(domain, kind, push_what(), CheckStatus::Missing,
                       "not " + where + ": clients do not enable push and nothing is published to pushgate",
                       push_fix(kind)));
  }
  if (own.has(kFeatureEncrypt)) {
    out.push_back(make(domain, kind, encrypt_what(), CheckStatus::Ok, where));
  } else if (kind == ServerKind::Ejabberd) {
    out.push_back(make(domain, kind, encrypt_what(), CheckStatus::Unavailable,
                       "not " + where + ", and ejabberd 23.01 has no module that adds it: Siskin/Snikket iOS still "
                       "get pushes, unencrypted, shown as a generic alert"));
  } else {
    std::vector<std::string> fix{std::string("Prosody: ") + kProsodyEncrypt};
    if (kind == ServerKind::Unknown) fix.emplace_back("ejabberd: none, ejabberd 23.01 has no module that adds it");
    out.push_back(make(domain, kind, encrypt_what(), CheckStatus::Missing,
                       "not " + where + ": the server ignores the encryption Siskin/Snikket iOS ask for "
                       "(pushgate's register-device offers it), and they show its pushes as a generic alert "
                       "without sender or text",
                       std::move(fix)));
  }
  return out;
}

std::vector<Finding> host_findings(const std::string& domain, ServerKind kind, const DiscoInfo& host,
                                   bool account_failed) {
  std::vector<Finding> out;
  std::string how = account_failed ? "the [check] account did not log in (see its line)"
                                   : "set [check] jid and password_file to a test account on " + domain +
                                         " for pushgate to log in as it and ask its own disco#info, as clients do";
  std::string why = std::string(kind == ServerKind::Unknown ? "servers show" : kind == ServerKind::Prosody
                                                                                  ? "Prosody shows"
                                                                                  : "ejabberd shows") +
                    " it on a user's own disco#info only, which a component may not read, and not on " + domain +
                    "'s disco#info: ";
  for (auto [feature, what] : {std::pair{kFeaturePush, push_what()}, std::pair{kFeatureEncrypt, encrypt_what()}}) {
    if (host.has(feature)) {
      out.push_back(make(domain, kind, what, CheckStatus::Ok, "on " + domain + "'s own disco#info"));
    } else {
      out.push_back(make(domain, kind, what, CheckStatus::NotChecked, why + how));
    }
  }
  return out;
}

Finding items_finding(const std::string& domain, ServerKind kind, const std::string& component_jid,
                      const std::vector<std::string>& items) {
  std::string what = "push service " + component_jid + " in disco#items (how Siskin/Snikket iOS find it)";
  if (std::find(items.begin(), items.end(), component_jid) != items.end()) {
    return make(domain, kind, what, CheckStatus::Ok, "listed by " + domain);
  }
  std::vector<std::string> fix;
  std::string prosody = "Prosody: disco_items = { { \"" + component_jid + "\", \"Push\" } } under VirtualHost \"" +
                        domain + "\"";
  std::string ejabberd = "ejabberd: modules: then \"  mod_disco: {extra_domains: [" + component_jid + "]}\"";
  if (kind != ServerKind::Ejabberd) fix.push_back(prosody);
  if (kind != ServerKind::Prosody) fix.push_back(ejabberd);
  return make(domain, kind, what, CheckStatus::Missing, "not listed by " + domain, std::move(fix));
}

std::string render(const Finding& f) {
  std::string out = "xmpp " + printable(f.domain) + " (" + to_string(f.server) + "): " + f.what + ": " +
                    to_string(f.status);
  if (!f.detail.empty()) out += ", " + f.detail;
  out += "\n";
  for (const std::string& line : f.fix) out += "    fix, " + line + "\n";
  return out;
}

}  // namespace pushgate::xmpp
