// TOML parsing and validation of the configuration contract into plain data. Unknown keys are
// errors with a suggestion, so a typo never silently turns a setting off. No file but the
// TOML is read here: secrets, keys and certificates are the credentials step's.
#include "config/config.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include <toml++/toml.h>

#include "config/table_reader.hpp"

namespace pushgate {
namespace {

// Each enum's values as the file spells them: read by TableReader::choice, written by to_string.
constexpr std::array<std::pair<ServiceKind, const char*>, 3> kServiceKinds{
    {{ServiceKind::Apns, "apns"}, {ServiceKind::Fcm, "fcm"}, {ServiceKind::Log, "log"}}};
constexpr std::array<std::pair<ApnsEnvironment, const char*>, 2> kApnsEnvironments{
    {{ApnsEnvironment::Production, "production"}, {ApnsEnvironment::Sandbox, "sandbox"}}};
constexpr std::array<std::pair<CollapseId, const char*>, 2> kCollapseIds{
    {{CollapseId::None, "none"}, {CollapseId::Kind, "kind"}}};
constexpr std::array<std::pair<StoreKind, const char*>, 3> kStoreKinds{
    {{StoreKind::None, "none"}, {StoreKind::Sqlite, "sqlite"}, {StoreKind::Postgresql, "postgresql"}}};
constexpr std::array<std::pair<BackendMode, const char*>, 2> kBackendModes{
    {{BackendMode::Plain, "plain"}, {BackendMode::Starttls, "starttls"}}};
constexpr std::array<std::pair<TlsVersion, const char*>, 4> kTlsVersions{{{TlsVersion::Tls1_0, "TLSv1"},
                                                                          {TlsVersion::Tls1_1, "TLSv1.1"},
                                                                          {TlsVersion::Tls1_2, "TLSv1.2"},
                                                                          {TlsVersion::Tls1_3, "TLSv1.3"}}};
constexpr std::array<std::pair<ProxyProtocol, const char*>, 3> kProxyProtocols{
    {{ProxyProtocol::Off, "off"}, {ProxyProtocol::V1, "v1"}, {ProxyProtocol::V2, "v2"}}};
constexpr std::array<std::pair<Role, const char*>, 3> kRoles{
    {{Role::All, "all"}, {Role::Push, "push"}, {Role::LegacyTls, "legacy-tls"}}};

template <typename E, std::size_t N>
const char* name_of(const std::array<std::pair<E, const char*>, N>& names, E value) {
  for (const auto& [v, name] : names) {
    if (v == value) return name;
  }
  return names[0].second;
}

bool valid_jid_domain(const std::string& s) {
  if (s.empty() || s.size() > 1023) return false;
  for (char c : s) {
    if (c == '@' || c == '/' || c == ' ' || static_cast<unsigned char>(c) < 0x21) return false;
  }
  return true;
}

bool is_host_port(const std::string& v) {
  std::string host, port;
  return split_host_port(v, host, port) && port.size() <= 5 &&
         port.find_first_not_of("0123456789") == std::string::npos && std::stoi(port) <= 65535;
}

// The table [name], nullptr when absent; a non-table value under that name is an error.
const toml::table* optional_section(const toml::table& root, const char* name, const Config& cfg) {
  const toml::node* n = root.get(name);
  if (n == nullptr) return nullptr;
  if (!n->is_table()) throw ConfigError(cfg.source + ": [" + name + "] must be a table");
  return n->as_table();
}

void read_component(const toml::table& root, Config& cfg) {
  const toml::node* n = root.get("component");
  if (n == nullptr || !n->is_table()) {
    throw ConfigError(cfg.source + ": [component] is missing; add it with jid, host, port and secret_file");
  }
  TableReader r(*n->as_table(), "[component]", cfg.source, cfg.lines);
  auto& c = cfg.component;
  auto jid = r.str("jid");
  if (!jid) r.fail("jid", "is required: the component's domain, as in Prosody's Component \"push.example.com\"");
  if (!valid_jid_domain(*jid)) r.fail("jid", "'" + *jid + "' is not a bare domain (no '@', '/' or spaces)");
  c.jid = *jid;
  if (auto host = r.str("host")) c.host = *host;
  if (auto port = r.integer("port")) {
    if (*port < 1 || *port > 65535) r.fail("port", "must be between 1 and 65535 (Prosody's component_ports, 5347 by default)");
    c.port = static_cast<std::uint16_t>(*port);
  }
  if (auto v = r.integer("ping_interval")) {
    if (*v < 5 || *v > 3600) r.fail("ping_interval", "must be between 5 and 3600 seconds");
    c.ping_interval_seconds = static_cast<int>(*v);
  }
  if (auto v = r.integer("ping_timeout")) {
    if (*v < 1 || *v > 600) r.fail("ping_timeout", "must be between 1 and 600 seconds");
    c.ping_timeout_seconds = static_cast<int>(*v);
  }
  if (auto v = r.str("secret_file")) c.secret_file = *v;
  r.finish();
}

void read_http(const toml::table& root, Config& cfg) {
  const toml::table* t = optional_section(root, "http", cfg);
  if (t == nullptr) return;
  cfg.http_enabled = true;
  TableReader r(*t, "[http]", cfg.source, cfg.lines);
  if (auto v = r.str("listen")) cfg.http.listen = *v;
  if (auto v = r.str("push_secret_file")) cfg.http.push_secret_file = *v;
  if (auto v = r.str("tls_cert")) cfg.http.tls_cert = *v;
  if (auto v = r.str("tls_key")) cfg.http.tls_key = *v;
  if (auto v = r.str("client_ca")) cfg.http.client_ca = *v;
  if (auto v = r.integer("rate_limit")) {
    if (*v < 0 || *v > 1000000) r.fail("rate_limit", "must be between 0 (no limit) and 1000000 requests per second");
    cfg.http.rate_limit = static_cast<int>(*v);
  }
  if (auto v = r.integer("max_connections_per_address")) {
    if (*v < 1 || *v > 1024) r.fail("max_connections_per_address", "must be between 1 and 1024 (the API's connections in all)");
    cfg.http.max_connections_per_address = static_cast<int>(*v);
  }
  const HttpConfig& h = cfg.http;
  if (!is_host_port(h.listen)) r.fail("listen", "'" + h.listen + "' is not host:port, e.g. \"127.0.0.1:5281\"");
  if (h.tls_cert.empty() != h.tls_key.empty()) r.fail(h.tls_cert.empty() ? "tls_cert" : "tls_key", "HTTPS needs both tls_cert and tls_key");
  if (!h.client_ca.empty() && h.tls_cert.empty()) {
    r.fail("client_ca", "client certificates need HTTPS: set tls_cert and tls_key too");
  }
  r.finish();
}

// An apns app needs its topic, team, key id and key file; the endpoint follows the environment.
void check_apns_app(TableReader& r, AppConfig& app) {
  if (app.topic.empty()) r.fail("topic", "is required for apns: the app's bundle id, e.g. \"com.example.chat\"");
  if (app.topic.size() > 200 || app.topic.find_first_of(" /") != std::string::npos) {
    r.fail("topic", "'" + app.topic + "' is not a bundle id");
  }
  auto ten_chars = [](const std::string& s) {
    return s.size() == 10 && std::all_of(s.begin(), s.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)); });
  };
  if (!ten_chars(app.team_id)) r.fail("team_id", "must be the 10-character Team ID from the Apple developer account");
  if (!ten_chars(app.key_id)) r.fail("key_id", "must be the 10-character Key ID of the .p8 key (its file name: AuthKey_<KEYID>.p8)");
  if (app.key_file.empty()) r.fail("key_file", "is required for apns: the .p8 key file (chmod 600)");
  if (app.endpoint.empty()) {
    app.endpoint = app.environment == ApnsEnvironment::Sandbox ? "https://api.sandbox.push.apple.com:443"
                                                               : "https://api.push.apple.com:443";
  } else if (app.endpoint.rfind("https://", 0) != 0) {
    r.fail("endpoint", "must start with https:// (APNs speaks HTTP/2 over TLS only)");
  }
}

// An fcm app needs a service-account file; FCM's endpoint is the default.
void check_fcm_app(TableReader& r, AppConfig& app) {
  if (app.credentials_file.empty()) {
    r.fail("credentials_file", "is required for fcm: the service-account JSON from the Firebase console (chmod 600)");
  }
  if (app.endpoint.empty()) {
    app.endpoint = "https://fcm.googleapis.com";
  } else if (app.endpoint.rfind("https://", 0) != 0) {
    r.fail("endpoint", "must start with https:// (FCM HTTP v1 is HTTPS only)");
  }
  if (app.collapse_key.size() > 100) r.fail("collapse_key", "is longer than 100 characters");
}

AppConfig read_app(const toml::table& t, size_t index, Config& cfg) {
  AppConfig app;
  const toml::node* name = t.get("name");
  if (name == nullptr || !name->is_string() || name->as_string()->get().empty()) {
    throw ConfigError(cfg.source + ": [[app]] #" + std::to_string(index + 1) +
                      " name: is required: a short name clients select with the 'app' field");
  }
  app.name = name->as_string()->get();
  std::string where = app_section(app.name);
  TableReader rr(t, where, cfg.source, cfg.lines);
  rr.str("name");
  auto service = rr.str("service");
  if (!service) rr.fail("service", "is required: \"apns\", \"fcm\" or \"log\"");
  auto kind = std::find_if(kServiceKinds.begin(), kServiceKinds.end(), [&](const auto& k) { return *service == k.second; });
  if (kind == kServiceKinds.end()) rr.fail("service", "'" + *service + "' is not a service; use \"apns\", \"fcm\" or \"log\"");
  app.service = kind->first;

  if (auto v = rr.str("secret_file")) app.secret_file = *v;
  if (auto v = rr.str("topic")) app.topic = *v;
  if (auto v = rr.choice("environment", kApnsEnvironments)) app.environment = *v;
  if (auto v = rr.str("key_file")) app.key_file = *v;
  if (auto v = rr.str("key_id")) app.key_id = *v;
  if (auto v = rr.str("team_id")) app.team_id = *v;
  if (auto v = rr.str("credentials_file")) app.credentials_file = *v;
  if (auto v = rr.str("endpoint")) app.endpoint = *v;
  if (auto v = rr.str("ca_file")) app.ca_file = *v;
  if (auto v = rr.str("output")) {
    if (app.service != ServiceKind::Log) rr.fail("output", "only applies to service = \"log\"");
    app.output = *v;
  }
  if (auto v = rr.boolean("include_body")) app.include_body = *v;
  if (auto v = rr.boolean("include_sender")) app.include_sender = *v;
  if (auto v = rr.boolean("require_secret")) app.require_secret = *v;
  auto seconds = [&rr](const char* key, int lo, int hi, int& out) {
    if (auto v = rr.integer(key)) {
      if (*v < lo || *v > hi) rr.fail(key, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
      out = static_cast<int>(*v);
    }
  };
  seconds("voip_ttl", 0, 86400 * 30, app.voip_ttl);
  seconds("alert_ttl", 0, 86400 * 30, app.alert_ttl);
  seconds("background_ttl", 0, 86400 * 30, app.background_ttl);
  seconds("voip_deadline_ms", 100, 600000, app.voip_deadline_ms);
  seconds("deadline_ms", 100, 600000, app.deadline_ms);
  seconds("max_connections", 1, 64, app.max_connections);
  seconds("ping_interval", 1, 3600, app.ping_interval);
  seconds("throttle_ms", 0, 600000, app.throttle_ms);
  seconds("max_devices_per_user", 1, 10000, app.max_devices_per_user);
  if (auto v = rr.choice("collapse_id", kCollapseIds)) app.collapse_id = *v;
  if (auto v = rr.str("alert_title")) app.alert_title = *v;
  if (auto v = rr.str("collapse_key")) app.collapse_key = *v;
  rr.finish();

  if (app.service == ServiceKind::Fcm) check_fcm_app(rr, app);
  if (app.service == ServiceKind::Apns) check_apns_app(rr, app);
  if (!app.require_secret) {
    cfg.warnings.push_back(where +
                           " has require_secret = false: anyone who knows a device token of this app can "
                           "push to it through this server (a publish naming the app with pushModule or "
                           "app needs no secret); set secret_file unless its clients (Monal) cannot send one");
  }
  return app;
}

void read_apps(const toml::table& root, Config& cfg) {
  const toml::node* n = root.get("app");
  if (n == nullptr) throw ConfigError(cfg.source + ": no [[app]] is configured; add one (service = \"log\" needs no credentials)");
  const toml::array* arr = n->as_array();
  if (arr == nullptr || !arr->is_array_of_tables()) {
    throw ConfigError(cfg.source + ": 'app' must be written as [[app]] tables, one per app");
  }
  std::set<std::string> names;
  for (size_t i = 0; i < arr->size(); ++i) {
    AppConfig app = read_app(*arr->get(i)->as_table(), i, cfg);
    if (!names.insert(app.name).second) {
      throw ConfigError(cfg.source + ": two [[app]] tables are named '" + app.name + "'; names must be unique");
    }
    cfg.apps.push_back(std::move(app));
  }
}

void read_store(const toml::table& root, Config& cfg) {
  const toml::table* t = optional_section(root, "store", cfg);
  if (t == nullptr) return;
  TableReader r(*t, "[store]", cfg.source, cfg.lines);
  auto& s = cfg.store;
  if (auto v = r.str("path")) s.path = *v;
  if (auto v = r.str("url")) s.url = *v;
  r.finish();  // typos first: a misspelt key explains a missing one
  if (!s.url.empty() && !s.path.empty()) r.fail("url", "set either path (SQLite) or url (PostgreSQL), not both");
  if (!s.url.empty() && s.url.rfind("postgresql://", 0) != 0 && s.url.rfind("postgres://", 0) != 0) {
    r.fail("url", "must be a postgresql:// URL, e.g. \"postgresql://pushgate@db.example.org/pushgate\"");
  }
  if (s.path.empty() && s.url.empty()) {
    r.fail("path", "is required: the SQLite database file, e.g. \"/var/lib/pushgate/pushgate.db\" (or url for PostgreSQL)");
  }
  s.kind = s.url.empty() ? StoreKind::Sqlite : StoreKind::Postgresql;
}

void read_legacy(const toml::table& root, Config& cfg) {
  const toml::table* t = optional_section(root, "legacy_tls", cfg);
  if (t == nullptr) return;
  TableReader r(*t, "[legacy_tls]", cfg.source, cfg.lines);
  auto& l = cfg.legacy_tls;
  l.enabled = true;
  if (auto v = r.str("listen")) l.listen = *v;
  if (auto v = r.str("metrics_listen")) {
    if (!is_host_port(*v)) r.fail("metrics_listen", "'" + *v + "' is not host:port, e.g. \"127.0.0.1:5282\"");
    l.metrics_listen = *v;
  }
  if (auto v = r.str("backend")) l.backend = *v;
  if (auto v = r.choice("backend_mode", kBackendModes)) l.backend_mode = *v;
  if (auto v = r.str("cert_file")) l.cert_file = *v;
  if (auto v = r.str("key_file")) l.key_file = *v;
  if (auto v = r.choice("min_version", kTlsVersions)) l.min_version = *v;
  if (auto v = r.str("ciphers")) l.ciphers = *v;
  if (auto v = r.strings("domains")) l.domains = *v;
  if (auto v = r.choice("proxy_protocol", kProxyProtocols)) l.proxy_protocol = *v;
  auto number = [&r](const char* key, int lo, int hi, int& out) {
    if (auto v = r.integer(key)) {
      if (*v < lo || *v > hi) r.fail(key, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
      out = static_cast<int>(*v);
    }
  };
  number("max_connections", 1, 1000000, l.max_connections);
  number("pre_tls_bytes", 512, 65536, l.pre_tls_bytes);
  number("pre_tls_seconds", 1, 300, l.pre_tls_seconds);
  number("idle_timeout", 10, 86400, l.idle_timeout);
  if (!is_host_port(l.listen)) r.fail("listen", "'" + l.listen + "' is not host:port, e.g. \"0.0.0.0:5222\"");
  if (l.backend.empty()) r.fail("backend", "is required: Prosody's address, e.g. \"127.0.0.1:5200\" (plain) or \"127.0.0.1:5222\" (starttls)");
  if (!is_host_port(l.backend)) r.fail("backend", "'" + l.backend + "' is not host:port");
  if (l.cert_file.empty()) r.fail("cert_file", "is required: the certificate (chain) clients see, PEM");
  if (l.key_file.empty()) r.fail("key_file", "is required: the certificate's private key, PEM (chmod 600)");
  r.finish();
}

void read_push(const toml::table& root, Config& cfg) {
  const toml::table* t = optional_section(root, "push", cfg);
  if (t == nullptr) return;
  TableReader r(*t, "[push]", cfg.source, cfg.lines);
  if (auto v = r.integer("queue_size")) {
    if (*v < 1 || *v > 1000000) r.fail("queue_size", "must be between 1 and 1000000");
    cfg.push.queue_size = static_cast<size_t>(*v);
  }
  r.finish();
}

void read_check(const toml::table& root, Config& cfg) {
  const toml::table* t = optional_section(root, "check", cfg);
  if (t == nullptr) return;
  TableReader r(*t, "[check]", cfg.source, cfg.lines);
  CheckConfig& c = cfg.check;
  if (auto jid = r.str("jid")) {
    auto at = jid->find('@');
    if (at == std::string::npos || !valid_jid_domain(jid->substr(0, at)) || !valid_jid_domain(jid->substr(at + 1))) {
      r.fail("jid", "'" + *jid + "' is not a bare user JID (user@domain): the test account --check --online logs in as");
    }
    c.jid = *jid;
  }
  if (auto v = r.str("password_file")) c.password_file = *v;
  if (auto v = r.str("host")) c.host = *v;
  if (auto port = r.integer("port")) {
    if (*port < 1 || *port > 65535) r.fail("port", "must be between 1 and 65535 (the server's c2s port, 5222 by default)");
    c.port = static_cast<std::uint16_t>(*port);
  }
  if (auto v = r.str("ca_file")) c.ca_file = *v;
  if (!c.jid.empty() && c.password_file.empty()) r.fail("password_file", "is required with jid: the test account's password");
  if (c.jid.empty() && (!c.password_file.empty() || !c.host.empty() || c.port != 0 || !c.ca_file.empty())) {
    r.fail("jid", "is required: the test account (user@domain) the other [check] keys are for");
  }
  r.finish();
}

}  // namespace

const char* to_string(ServiceKind kind) { return name_of(kServiceKinds, kind); }
const char* to_string(ApnsEnvironment environment) { return name_of(kApnsEnvironments, environment); }
const char* to_string(CollapseId collapse) { return name_of(kCollapseIds, collapse); }
const char* to_string(StoreKind kind) { return name_of(kStoreKinds, kind); }
const char* to_string(BackendMode mode) { return name_of(kBackendModes, mode); }
const char* to_string(TlsVersion version) { return name_of(kTlsVersions, version); }
const char* to_string(ProxyProtocol proxy) { return name_of(kProxyProtocols, proxy); }
const char* to_string(Role role) { return name_of(kRoles, role); }

bool split_host_port(const std::string& host_port, std::string& host, std::string& port) {
  auto colon = host_port.rfind(':');
  if (colon == std::string::npos) return false;
  host = host_port.substr(0, colon);
  port = host_port.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return !host.empty() && !port.empty();
}

std::string app_section(const std::string& app_name) { return "[[app]] '" + app_name + "'"; }

std::string app_secret_env(const std::string& app_name) {
  std::string out = "PUSHGATE_APP_";
  for (char c : app_name) out += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::toupper(c)) : '_';
  return out + "_SECRET";
}

ConfigError key_error(const Config& config, const std::string& section, const std::string& key, const std::string& why) {
  std::string at = config.source;
  auto line = config.lines.find(section + " " + key);
  if (line != config.lines.end()) at += ":" + std::to_string(line->second);
  return ConfigError(at + ": " + section + " " + key + ": " + why);
}

Config parse_config(const std::string& text, const std::string& source, Role role) {
  Config cfg;
  cfg.source = source;
  cfg.role = role;
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    throw ConfigError(source + ":" + std::to_string(e.source().begin.line) + ": not valid TOML: " +
                      std::string(e.description()));
  }
  static const std::set<std::string> kSections = {"component", "http", "app", "store", "legacy_tls", "push", "check"};
  for (const auto& [k, v] : root) {
    std::string key(k.str());
    if (kSections.count(key)) continue;
    std::string best = closest(key, kSections);
    throw ConfigError(source + ":" + std::to_string(v.source().begin.line) + ": unknown section or key '" + key + "'" +
                      (best.empty() ? "; the sections are [component], [http], [[app]], [store], [legacy_tls], [push], [check]"
                                    : "; did you mean '" + best + "'?"));
  }
  // Each role reads only its sections: the legacy unit never needs the push secrets and
  // keys, nor the push unit the listener's private key. The other unit checks the rest.
  if (role != Role::LegacyTls) {
    read_component(root, cfg);
    read_http(root, cfg);
    read_apps(root, cfg);
    read_store(root, cfg);
    read_push(root, cfg);
    read_check(root, cfg);
  }
  if (role != Role::Push) read_legacy(root, cfg);
  else cfg.legacy_tls_elsewhere = root.contains("legacy_tls");
  if (role == Role::LegacyTls && !cfg.legacy_tls.enabled) {
    throw ConfigError(source + ": --only legacy-tls needs a [legacy_tls] section; add one (see "
                      "deploy/pushgate.toml.example) or run without --only legacy-tls");
  }
  return cfg;
}

Config load_config(const std::string& path, Role role) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("config file " + path + " cannot be read; pass an existing file with --config FILE");
  std::stringstream buf;
  buf << in.rdbuf();
  return parse_config(buf.str(), path, role);
}

}  // namespace pushgate
