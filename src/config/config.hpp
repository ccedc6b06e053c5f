// The configuration contract (TOML, see DESIGN.md) as plain data: parsed and validated into
// structs with enums, touching no file but the TOML itself. Reading the secrets, keys and
// certificates the configuration names is a separate step (daemon/credentials.hpp).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace pushgate {

// A configuration error: the message names the file, the key and the fix.
struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// What each key's value may be: the names are the ones the file uses (to_string below).
enum class ServiceKind { Apns, Fcm, Log };                 // [[app]] service
enum class ApnsEnvironment { Production, Sandbox };        // [[app]] environment
enum class CollapseId { None, Kind };                      // [[app]] collapse_id: Kind collapses by push kind
enum class StoreKind { None, Sqlite, Postgresql };         // [store] path or url; None: no [store]
enum class BackendMode { Plain, Starttls };                // [legacy_tls] backend_mode
enum class TlsVersion { Tls1_0, Tls1_1, Tls1_2, Tls1_3 };  // [legacy_tls] min_version
enum class ProxyProtocol { Off, V1, V2 };                  // [legacy_tls] proxy_protocol
// What this process runs: everything, or one half for a unit of its own (--only).
enum class Role { All, Push, LegacyTls };

// The value as the configuration file (or, for Role, --only) writes it.
const char* to_string(ServiceKind kind);
const char* to_string(ApnsEnvironment environment);
const char* to_string(CollapseId collapse);
const char* to_string(StoreKind kind);
const char* to_string(BackendMode mode);
const char* to_string(TlsVersion version);
const char* to_string(ProxyProtocol proxy);
const char* to_string(Role role);

struct ComponentConfig {
  std::string jid;                 // e.g. push.example.com
  std::string host = "127.0.0.1";  // Prosody's component listener
  std::uint16_t port = 5347;
  std::string secret_file;         // empty: the secret comes from PUSHGATE_COMPONENT_SECRET
  std::string secret;              // read from one of them by the credentials step
  int ping_interval_seconds = 60;  // XEP-0199 ping to the server; a missed reply reconnects
  int ping_timeout_seconds = 20;
};

struct HttpConfig {
  std::string listen = "127.0.0.1:5281";
  std::string push_secret_file;            // empty: PUSHGATE_PUSH_SECRET, if set
  std::optional<std::string> push_secret;  // read by the credentials step; nullopt: POST /push answers 403
  std::string tls_cert, tls_key, client_ca;  // HTTPS when tls_cert/tls_key; client certificates required with client_ca
  int rate_limit = 100;  // POST /push requests per second per client address; 0: no limit
  int max_connections_per_address = 32;  // open API connections per client address; more: 429
};

struct AppConfig {
  std::string name;
  ServiceKind service = ServiceKind::Log;
  std::string secret_file;  // empty: the secret comes from app_secret_env(name), if set
  // publish-options secret of token-as-node publishes, read by the credentials step; nullopt:
  // the app serves registered devices only, unless require_secret is false.
  std::optional<std::string> secret;
  // false: token-as-node publishes that name this app (`pushModule` or `app` equal to its
  // name) need no secret, as Monal sends them; anyone who knows a device token can push to it.
  // Only without a secret (both at once is a configuration error).
  bool require_secret = true;
  // apns
  std::string topic, key_file, key_id, team_id;
  ApnsEnvironment environment = ApnsEnvironment::Production;
  int voip_ttl = 30;             // seconds APNs may hold a call push; a late ring is worse than none
  int alert_ttl = 86400;         // and an alert / background push
  int background_ttl = 3600;
  CollapseId collapse_id = CollapseId::None;  // Kind: pushes of one kind replace each other on the device
  std::string alert_title = "New message";  // shown when no body may be sent
  // Retry budget per push, from the publish to the last attempt.
  int voip_deadline_ms = 5000;
  int deadline_ms = 30000;
  int max_connections = 2;       // HTTP/2 connections per endpoint, each multiplexing many pushes
  int ping_interval = 60;        // seconds of quiet before an HTTP/2 PING checks the connection
  int throttle_ms = 5000;        // message/background pushes to one target within this collapse into one trailing push; calls never
  int max_devices_per_user =
      20;  // registered devices (ad-hoc commands) per user for this app; a new one past it: bad-request
  // fcm
  std::string credentials_file;  // the service-account JSON
  std::string collapse_key;      // optional android.collapse_key
  // apns / fcm: the provider's https:// URL (the environment's or Google's unless set), and
  // a CA file to trust instead of the system's (tests)
  std::string endpoint, ca_file;
  // log: file path; empty means stdout
  std::string output;
  // Whether payloads may carry the message body / sender when Prosody sends them.
  bool include_body = false;
  bool include_sender = false;
};

struct StoreConfig {
  StoreKind kind = StoreKind::None;
  std::string path;  // Sqlite: the database file
  std::string url;   // Postgresql: postgresql://…
};

struct LegacyTlsConfig {
  bool enabled = false;
  std::string listen = "0.0.0.0:5222";
  std::string backend;                  // Prosody's host:port
  BackendMode backend_mode = BackendMode::Plain;  // Plain: a loopback port; Starttls: Prosody's normal c2s port
  std::string cert_file, key_file;      // one certificate for every domain; reloaded on SIGHUP
  TlsVersion min_version = TlsVersion::Tls1_0;
  std::string ciphers = "DEFAULT:!aNULL:!eNULL:@SECLEVEL=0";  // TLS 1.2 and older
  std::vector<std::string> domains;     // served domains; empty: any `to`
  ProxyProtocol proxy_protocol = ProxyProtocol::Off;  // V1, V2: a PROXY header first, for mod_net_proxy
  int max_connections = 10000;
  int pre_tls_bytes = 4096;             // before TLS: more is policy-violation
  int pre_tls_seconds = 10;             // stream header to finished handshake: longer is connection-timeout
  int idle_timeout = 900;               // seconds without a byte either way
  std::string metrics_listen;           // host:port for the listener's own GET /metrics and /health; empty: none
};

// [check]: read by --check --online only (the daemon ignores it, so a reload changes nothing).
// A test account lets the check log in as a user and read that account's own disco#info,
// the only place Prosody and ejabberd show whether push is enabled.
struct CheckConfig {
  std::string jid;            // user@domain; empty: no account, only what a component can see
  std::string password_file;  // the account's password; required with jid
  std::string host;           // where its c2s connection goes; empty: the JID's domain (DNS SRV)
  std::uint16_t port = 0;     // 0: the default (SRV, else 5222)
  std::string ca_file;        // a CA to trust for the server's certificate besides the system's
};

struct PushConfig {
  std::size_t queue_size = 10000;  // pushes in flight at once; past it: wait/resource-constraint
};

struct Config {
  std::string source;  // file name, for messages
  Role role = Role::All;
  ComponentConfig component;
  HttpConfig http;
  bool http_enabled = false;
  std::vector<AppConfig> apps;  // the first is the default app
  StoreConfig store;
  LegacyTlsConfig legacy_tls;
  bool legacy_tls_elsewhere = false;  // --only push with a [legacy_tls] section: another process serves it
  PushConfig push;
  CheckConfig check;
  std::vector<std::string> warnings;  // accepted but worth telling the operator
  // The line each key was written on, by "[section] key" ("[[app]] 'ios' key_file"), so the
  // steps after parsing name it in their messages as the parser does (key_error()).
  std::map<std::string, int> lines;
};

// Parses TOML text. `source` names it in messages. Throws ConfigError on the first problem.
// A role other than All reads only its own sections (the push gateway's, or [legacy_tls]).
// Reads no file: the secrets are left unread (the *_file paths are set) and the keys,
// certificates and directories the file names are not looked at; that is the credentials
// step's work. "${CREDENTIALS_DIRECTORY}" in a path is replaced from the environment.
Config parse_config(const std::string& toml_text, const std::string& source, Role role = Role::All);

// "host:port" (or "[v6]:port") taken apart, brackets removed; false when either part is
// empty. Every address key of the configuration has this form; loaded ones are validated.
bool split_host_port(const std::string& host_port, std::string& host, std::string& port);
// Reads and parses a file (parse_config). Throws ConfigError.
Config load_config(const std::string& path, Role role = Role::All);

// The error about `key` of `section` ("[http]", "[[app]] 'ios'") in the parser's form:
// "file:line: section key: why", with the line the key was written on when it was.
ConfigError key_error(const Config& config, const std::string& section, const std::string& key, const std::string& why);
// "[[app]] 'ios'": how messages name an app's table.
std::string app_section(const std::string& app_name);
// The environment variable that holds an app's secret when it has no secret_file:
// PUSHGATE_APP_<NAME>_SECRET, the name upper-cased and anything but letters and digits '_'.
std::string app_secret_env(const std::string& app_name);

}  // namespace pushgate
