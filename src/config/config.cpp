// TOML parsing and validation of the configuration contract. Unknown keys are errors with
// a suggestion, so a typo never silently turns a setting off.
#include "config/config.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <toml++/toml.h>

#include "common/keys.hpp"
#include "push/fcm_credentials.hpp"
#include "common/secret.hpp"

namespace pushgate {
namespace {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// The closest candidate within edit distance 2, or "" when none is that close.
std::string closest(const std::string& key, const std::set<std::string>& candidates) {
  std::string best;
  size_t best_d = 3;
  for (const auto& cand : candidates) {
    size_t d = edit_distance(key, cand);
    if (d < best_d) {
      best_d = d;
      best = cand;
    }
  }
  return best;
}

// Reads one TOML table, remembering which keys were asked for; finish() rejects the rest.
class TableReader {
 public:
  TableReader(const toml::table& table, std::string where, const std::string& source)
      : table_(table), where_(std::move(where)), source_(source) {}

  [[noreturn]] void fail(const std::string& key, const std::string& why) const {
    std::string at = source_;
    if (const toml::node* n = table_.get(key)) at += ":" + std::to_string(n->source().begin.line);
    std::string hint;
    if (table_.get(key) == nullptr) {
      // A required key that is missing is often a typo of it further down the table.
      for (const auto& [k, v] : table_) {
        std::string other(k.str());
        if (other != key && closest(other, {key}) == key) {
          hint = "; '" + other + "' on line " + std::to_string(v.source().begin.line) + " looks like a typo of '" + key + "'";
        }
      }
    }
    throw ConfigError(at + ": " + where_ + " " + key + ": " + why + hint);
  }

  // A string; "${CREDENTIALS_DIRECTORY}" in it becomes the directory systemd's
  // LoadCredential= fills, so a unit can hand secrets over without a readable copy in /etc.
  std::optional<std::string> str(const std::string& key) {
    known_.insert(key);
    const toml::node* n = table_.get(key);
    if (n == nullptr) return std::nullopt;
    if (!n->is_string()) fail(key, "must be a string in quotes");
    std::string v = n->as_string()->get();
    static const std::string kCredentials = "${CREDENTIALS_DIRECTORY}";
    for (auto at = v.find(kCredentials); at != std::string::npos; at = v.find(kCredentials, at)) {
      const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
      if (dir == nullptr || *dir == '\0') {
        fail(key, "uses ${CREDENTIALS_DIRECTORY}, which systemd sets for a unit with LoadCredential=; it is not set "
                  "here: run pushgate from its unit, or for a manual --check set "
                  "CREDENTIALS_DIRECTORY=/etc/pushgate/credentials");
      }
      v.replace(at, kCredentials.size(), dir);
      at += std::strlen(dir);
    }
    return v;
  }
  std::optional<std::int64_t> integer(const std::string& key) {
    known_.insert(key);
    const toml::node* n = table_.get(key);
    if (n == nullptr) return std::nullopt;
    if (!n->is_integer()) fail(key, "must be a whole number");
    return n->as_integer()->get();
  }
  // A list of strings; nullopt when absent.
  std::optional<std::vector<std::string>> strings(const std::string& key) {
    known_.insert(key);
    const toml::node* n = table_.get(key);
    if (n == nullptr) return std::nullopt;
    const toml::array* arr = n->as_array();
    if (arr == nullptr) fail(key, "must be a list of strings, e.g. [\"example.org\"]");
    std::vector<std::string> out;
    for (const auto& e : *arr) {
      if (!e.is_string() || e.as_string()->get().empty()) fail(key, "must be a list of non-empty strings");
      out.push_back(e.as_string()->get());
    }
    return out;
  }
  std::optional<bool> boolean(const std::string& key) {
    known_.insert(key);
    const toml::node* n = table_.get(key);
    if (n == nullptr) return std::nullopt;
    if (!n->is_boolean()) fail(key, "must be true or false");
    return n->as_boolean()->get();
  }

  void finish() const {
    for (const auto& [k, v] : table_) {
      std::string key(k.str());
      if (known_.count(key)) continue;
      std::string best = closest(key, known_);
      std::string msg = source_ + ":" + std::to_string(v.source().begin.line) + ": unknown key '" + key + "' in " + where_;
      msg += best.empty() ? "; remove it (see deploy/pushgate.toml.example for the keys)" : "; did you mean '" + best + "'?";
      throw ConfigError(msg);
    }
  }

 private:
  const toml::table& table_;
  std::string where_;
  const std::string& source_;
  std::set<std::string> known_;
};

// secret_file wins; else the environment variable; nullopt when neither is set.
std::optional<std::string> resolve_secret(TableReader& r, const std::string& file_key, const std::string& env_name) {
  if (auto path = r.str(file_key)) {
    try {
      return read_secret_file(*path);
    } catch (const SecretError& e) {
      r.fail(file_key, e.what());
    }
  }
  try {
    return secret_from_env(env_name);
  } catch (const SecretError& e) {
    throw ConfigError(e.what());
  }
}

std::string env_name_for_app(const std::string& app) {
  std::string out = "PUSHGATE_APP_";
  for (char c : app) out += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::toupper(c)) : '_';
  return out + "_SECRET";
}

bool valid_jid_domain(const std::string& s) {
  if (s.empty() || s.size() > 1023) return false;
  for (char c : s) {
    if (c == '@' || c == '/' || c == ' ' || static_cast<unsigned char>(c) < 0x21) return false;
  }
  return true;
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
  TableReader r(*n->as_table(), "[component]", cfg.source);
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
  auto secret = resolve_secret(r, "secret_file", "PUSHGATE_COMPONENT_SECRET");
  if (!secret) {
    throw ConfigError(cfg.source + ": [component] has no secret: set secret_file (a file holding Prosody's "
                      "component_secret, chmod 600) or the environment variable PUSHGATE_COMPONENT_SECRET");
  }
  c.secret = *secret;
  r.finish();
}

// A certificate and its key: parsed, matching, valid now. A certificate close to its end is
// a warning, so the operator hears about it at every start, reload and --check.
void check_pair(TableReader& r, Config& cfg, const char* section, const char* cert_key, const std::string& cert,
                const char* key_key, const std::string& key) {
  try {
    long left = check_certificate_pair(cert, key);
    if (left < 14L * 86400) {
      cfg.warnings.push_back(std::string(section) + " " + cert_key + " " + cert + " expires in " +
                             std::to_string(left / 86400) + " days; renew it and send pushgate SIGHUP");
    }
  } catch (const KeyError& e) {
    std::string what = e.what();
    r.fail(what.rfind("key file ", 0) == 0 ? key_key : cert_key, what);
  }
}

bool is_host_port(const std::string& v) {
  std::string host, port;
  return split_host_port(v, host, port) && port.size() <= 5 &&
         port.find_first_not_of("0123456789") == std::string::npos && std::stoi(port) <= 65535;
}

void read_http(const toml::table& root, Config& cfg) {
  const toml::table* t = optional_section(root, "http", cfg);
  if (t == nullptr) return;
  cfg.http_enabled = true;
  TableReader r(*t, "[http]", cfg.source);
  if (auto v = r.str("listen")) cfg.http.listen = *v;
  cfg.http.push_secret = resolve_secret(r, "push_secret_file", "PUSHGATE_PUSH_SECRET");
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
  for (const auto& [key, path] : {std::pair{"tls_cert", h.tls_cert}, std::pair{"tls_key", h.tls_key},
                                  std::pair{"client_ca", h.client_ca}}) {
    if (!path.empty() && ::access(path.c_str(), R_OK) != 0) r.fail(key, "cannot be read: " + path);
  }
  if (!h.tls_cert.empty()) check_pair(r, cfg, "[http]", "tls_cert", h.tls_cert, "tls_key", h.tls_key);
  r.finish();
  if (!h.push_secret) {
    cfg.warnings.push_back("[http] has no push_secret_file (or PUSHGATE_PUSH_SECRET): POST /push answers 403; "
                           "/health and /metrics are served");
  }
}

// An apns app needs its topic, team, key id and a readable P-256 .p8 key.
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
  try {
    load_apns_p8_key(app.key_file);
  } catch (const KeyError& e) {
    r.fail("key_file", e.what());
  }
  if (app.endpoint.empty()) {
    app.endpoint = app.environment == "sandbox" ? "https://api.sandbox.push.apple.com:443" : "https://api.push.apple.com:443";
  } else if (app.endpoint.rfind("https://", 0) != 0) {
    r.fail("endpoint", "must start with https:// (APNs speaks HTTP/2 over TLS only)");
  }
  if (!app.ca_file.empty() && ::access(app.ca_file.c_str(), R_OK) != 0) {
    r.fail("ca_file", "cannot be read: " + app.ca_file);
  }
}

// An fcm app needs a service-account file that parses; FCM's endpoint is the default.
void check_fcm_app(TableReader& r, AppConfig& app) {
  if (app.credentials_file.empty()) {
    r.fail("credentials_file", "is required for fcm: the service-account JSON from the Firebase console (chmod 600)");
  }
  try {
    load_fcm_service_account(app.credentials_file);
  } catch (const KeyError& e) {
    r.fail("credentials_file", e.what());
  }
  if (app.endpoint.empty()) {
    app.endpoint = "https://fcm.googleapis.com";
  } else if (app.endpoint.rfind("https://", 0) != 0) {
    r.fail("endpoint", "must start with https:// (FCM HTTP v1 is HTTPS only)");
  }
  if (!app.ca_file.empty() && ::access(app.ca_file.c_str(), R_OK) != 0) {
    r.fail("ca_file", "cannot be read: " + app.ca_file);
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
  std::string where = "[[app]] '" + app.name + "'";
  TableReader rr(t, where, cfg.source);
  rr.str("name");
  auto service = rr.str("service");
  if (!service) rr.fail("service", "is required: \"apns\", \"fcm\" or \"log\"");
  if (*service == "log") app.service = ServiceKind::Log;
  else if (*service == "apns") app.service = ServiceKind::Apns;
  else if (*service == "fcm") app.service = ServiceKind::Fcm;
  else rr.fail("service", "'" + *service + "' is not a service; use \"apns\", \"fcm\" or \"log\"");

  app.secret = resolve_secret(rr, "secret_file", env_name_for_app(app.name));
  if (auto v = rr.str("topic")) app.topic = *v;
  if (auto v = rr.str("environment")) {
    if (*v != "production" && *v != "sandbox") rr.fail("environment", "must be \"production\" or \"sandbox\"");
    app.environment = *v;
  }
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
  if (auto v = rr.str("collapse_id")) {
    if (*v != "none" && *v != "kind") rr.fail("collapse_id", "must be \"none\" or \"kind\"");
    app.collapse_id = *v;
  }
  if (auto v = rr.str("alert_title")) app.alert_title = *v;
  if (auto v = rr.str("collapse_key")) app.collapse_key = *v;
  rr.finish();

  if (app.service == ServiceKind::Fcm) check_fcm_app(rr, app);
  if (app.service == ServiceKind::Apns) check_apns_app(rr, app);
  if (!app.require_secret && app.secret) {
    // Two answers to one question: a secret nobody is asked for protects nothing.
    rr.fail("require_secret", "is false, so publishes need no secret, but the app has one (secret_file or " +
                                  env_name_for_app(app.name) + "); remove require_secret to check it, or the secret");
  }
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

// Runs once [store] is read: whether an app without a secret serves anyone over XMPP.
void warn_unserved_apps(const toml::table& root, Config& cfg) {
  bool store = root.contains("store");
  for (const AppConfig& app : cfg.apps) {
    if (app.secret || !app.require_secret || store) continue;
    cfg.warnings.push_back("[[app]] '" + app.name +
                           "' has no secret and there is no [store]: Prosody's publishes "
                           "cannot reach it (only POST /push can); set secret_file (or " +
                           env_name_for_app(app.name) +
                           "), require_secret = false, or a [store] for registered devices");
  }
}

void read_store(const toml::table& root, Config& cfg) {
  const toml::table* t = optional_section(root, "store", cfg);
  if (t == nullptr) return;
  TableReader r(*t, "[store]", cfg.source);
  if (auto v = r.str("path")) cfg.store.path = *v;
  if (auto v = r.str("url")) cfg.store.url = *v;
  r.finish();  // typos first: a misspelt key explains a missing one
  if (!cfg.store.url.empty() && !cfg.store.path.empty()) r.fail("url", "set either path (SQLite) or url (PostgreSQL), not both");
  if (!cfg.store.url.empty() && cfg.store.url.rfind("postgresql://", 0) != 0 && cfg.store.url.rfind("postgres://", 0) != 0) {
    r.fail("url", "must be a postgresql:// URL, e.g. \"postgresql://pushgate@db.example.org/pushgate\"");
  }
  if (cfg.store.path.empty() && cfg.store.url.empty()) {
    r.fail("path", "is required: the SQLite database file, e.g. \"/var/lib/pushgate/pushgate.db\" (or url for PostgreSQL)");
  }
  if (!cfg.store.path.empty()) {
    // SQLite creates the file and its -wal and -shm files beside it: the directory must be
    // there and writable by the user pushgate runs as.
    std::filesystem::path dir = std::filesystem::path(cfg.store.path).parent_path();
    if (dir.empty()) dir = ".";
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) {
      r.fail("path", "the directory " + dir.string() + " does not exist; create it for the pushgate user (the "
                     "pushgate.service unit's StateDirectory= makes /var/lib/pushgate)");
    }
    if (access(dir.c_str(), W_OK | X_OK) != 0) {
      r.fail("path", "the directory " + dir.string() + " is not writable by uid " + std::to_string(geteuid()) +
                         ": SQLite creates its -wal and -shm files there; chown it to the pushgate user");
    }
  }
}

void read_legacy(const toml::table& root, Config& cfg) {
  const toml::table* t = optional_section(root, "legacy_tls", cfg);
  if (t == nullptr) return;
  TableReader r(*t, "[legacy_tls]", cfg.source);
  auto& l = cfg.legacy_tls;
  l.enabled = true;
  if (auto v = r.str("listen")) l.listen = *v;
  if (auto v = r.str("metrics_listen")) {
    if (!is_host_port(*v)) r.fail("metrics_listen", "'" + *v + "' is not host:port, e.g. \"127.0.0.1:5282\"");
    l.metrics_listen = *v;
  }
  if (auto v = r.str("backend")) l.backend = *v;
  if (auto v = r.str("backend_mode")) {
    if (*v != "plain" && *v != "starttls") r.fail("backend_mode", "must be \"plain\" or \"starttls\"");
    l.backend_mode = *v;
  }
  if (auto v = r.str("cert_file")) l.cert_file = *v;
  if (auto v = r.str("key_file")) l.key_file = *v;
  if (auto v = r.str("min_version")) {
    if (*v != "TLSv1" && *v != "TLSv1.1" && *v != "TLSv1.2" && *v != "TLSv1.3") {
      r.fail("min_version", "must be \"TLSv1\", \"TLSv1.1\", \"TLSv1.2\" or \"TLSv1.3\"");
    }
    l.min_version = *v;
  }
  if (auto v = r.str("ciphers")) l.ciphers = *v;
  if (auto v = r.strings("domains")) l.domains = *v;
  if (auto v = r.str("proxy_protocol")) {
    if (*v != "off" && *v != "v1" && *v != "v2") r.fail("proxy_protocol", "must be \"off\", \"v1\" or \"v2\"");
    l.proxy_protocol = *v;
  }
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
  check_pair(r, cfg, "[legacy_tls]", "cert_file", l.cert_file, "key_file", l.key_file);
  r.finish();
}

void read_push(const toml::table& root, Config& cfg) {
  const toml::table* t = optional_section(root, "push", cfg);
  if (t == nullptr) return;
  TableReader r(*t, "[push]", cfg.source);
  if (auto v = r.integer("queue_size")) {
    if (*v < 1 || *v > 1000000) r.fail("queue_size", "must be between 1 and 1000000");
    cfg.push.queue_size = static_cast<size_t>(*v);
  }
  r.finish();
}

}  // namespace

const char* to_string(ServiceKind kind) {
  switch (kind) {
    case ServiceKind::Apns: return "apns";
    case ServiceKind::Fcm: return "fcm";
    case ServiceKind::Log: return "log";
  }
  return "log";
}

bool split_host_port(const std::string& host_port, std::string& host, std::string& port) {
  auto colon = host_port.rfind(':');
  if (colon == std::string::npos) return false;
  host = host_port.substr(0, colon);
  port = host_port.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return !host.empty() && !port.empty();
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
  static const std::set<std::string> kSections = {"component", "http", "app", "store", "legacy_tls", "push"};
  for (const auto& [k, v] : root) {
    std::string key(k.str());
    if (kSections.count(key)) continue;
    std::string best = closest(key, kSections);
    throw ConfigError(source + ":" + std::to_string(v.source().begin.line) + ": unknown section or key '" + key + "'" +
                      (best.empty() ? "; the sections are [component], [http], [[app]], [store], [legacy_tls], [push]"
                                    : "; did you mean '" + best + "'?"));
  }
  // Each role reads only its sections: the legacy unit never needs the push secrets and
  // keys, nor the push unit the listener's private key. The other unit checks the rest.
  if (role != Role::LegacyTls) {
    read_component(root, cfg);
    read_http(root, cfg);
    read_apps(root, cfg);
    read_store(root, cfg);
    warn_unserved_apps(root, cfg);
    read_push(root, cfg);
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
