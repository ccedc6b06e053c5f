// The configuration contract (TOML, see DESIGN.md): parsed and validated once into plain
// structs. Secrets are resolved here, so a Config in hand means every secret exists.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace pushgate {

// A configuration error: the message names the file, the key and the fix.
struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct ComponentConfig {
  std::string jid;                 // e.g. push.example.com
  std::string host = "127.0.0.1";  // Prosody's component listener
  std::uint16_t port = 5347;
  std::string secret;              // from secret_file or PUSHGATE_COMPONENT_SECRET
  int ping_interval_seconds = 60;  // XEP-0199 ping to the server; a missed reply reconnects
  int ping_timeout_seconds = 20;
};

struct HttpConfig {
  std::string listen = "127.0.0.1:5281";
  std::optional<std::string> push_secret;  // from push_secret_file or PUSHGATE_PUSH_SECRET
  std::string tls_cert, tls_key, client_ca;  // HTTPS when tls_cert/tls_key; client certificates required with client_ca
  int rate_limit = 100;  // POST /push requests per second per client address; 0: no limit
  int max_connections_per_address = 32;  // open API connections per client address; more: 429
};

enum class ServiceKind { Apns, Fcm, Log };

struct AppConfig {
  std::string name;
  ServiceKind service = ServiceKind::Log;
  // publish-options secret (secret_file or PUSHGATE_APP_<NAME>_SECRET) of token-as-node
  // publishes; nullopt: the app serves registered devices only, unless require_secret is false.
  std::optional<std::string> secret;
  // false: token-as-node publishes that name this app (`pushModule` or `app` equal to its
  // name) need no secret, as Monal sends them; anyone who knows a device token can push to it.
  // Only without a secret (both at once is a configuration error).
  bool require_secret = true;
  // apns
  std::string topic, environment = "production", key_file, key_id, team_id;
  int voip_ttl = 30;             // seconds APNs may hold a call push; a late ring is worse than none
  int alert_ttl = 86400;         // and an alert / background push
  int background_ttl = 3600;
  std::string collapse_id = "none";  // "none" or "kind": pushes of one kind replace each other on the device
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
  // apns / fcm tests
  std::string endpoint, ca_file;
  // log: file path; empty means stdout
  std::string output;
  // Whether payloads may carry the message body / sender when Prosody sends them.
  bool include_body = false;
  bool include_sender = false;
};

struct StoreConfig {
  std::string path;
  std::string url;
};

struct LegacyTlsConfig {
  bool enabled = false;
  std::string listen = "0.0.0.0:5222";
  std::string backend;                  // Prosody's host:port
  std::string backend_mode = "plain";   // plain (loopback port) | starttls (Prosody's normal c2s port)
  std::string cert_file, key_file;      // one certificate for every domain; reloaded on SIGHUP
  std::string min_version = "TLSv1";    // TLSv1 | TLSv1.1 | TLSv1.2 | TLSv1.3
  std::string ciphers = "DEFAULT:!aNULL:!eNULL:@SECLEVEL=0";  // TLS 1.2 and older
  std::vector<std::string> domains;     // served domains; empty: any `to`
  std::string proxy_protocol = "off";   // off | v1 | v2: a PROXY header first, for mod_net_proxy
  int max_connections = 10000;
  int pre_tls_bytes = 4096;             // before TLS: more is policy-violation
  int pre_tls_seconds = 10;             // stream header to finished handshake: longer is connection-timeout
  int idle_timeout = 900;               // seconds without a byte either way
  std::string metrics_listen;           // host:port for the listener's own GET /metrics and /health; empty: none
};

struct PushConfig {
  std::size_t queue_size = 10000;  // pushes in flight at once; past it: wait/resource-constraint
};

// What this process runs: everything, or one half for a unit of its own (--only).
enum class Role { All, Push, LegacyTls };

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
  std::vector<std::string> warnings;  // accepted but worth telling the operator
};

// Parses TOML text. `source` names it in messages. Throws ConfigError on the first problem.
// A role other than All reads only its own sections (the push gateway's, or [legacy_tls]).
Config parse_config(const std::string& toml_text, const std::string& source, Role role = Role::All);

// "host:port" (or "[v6]:port") taken apart, brackets removed; false when either part is
// empty. Every address key of the configuration has this form; loaded ones are validated.
bool split_host_port(const std::string& host_port, std::string& host, std::string& port);
// Reads and parses a file. Throws ConfigError.
Config load_config(const std::string& path, Role role = Role::All);

const char* to_string(ServiceKind kind);

}  // namespace pushgate
