// Reading the secrets, keys and certificates a parsed configuration names, with the key and
// its line in every error, as the parser words its own.
#include "daemon/credentials.hpp"

#include <unistd.h>

#include <filesystem>
#include <optional>

#include "common/keys.hpp"
#include "common/secret.hpp"
#include "push/fcm_credentials.hpp"

namespace pushgate {
namespace {

// The secret_file wins; else the environment variable; nullopt when neither is set.
std::optional<std::string> read_secret(const Config& cfg, const std::string& section, const char* file_key,
                                       const std::string& path, const std::string& env_name) {
  if (!path.empty()) {
    try {
      return read_secret_file(path);
    } catch (const SecretError& e) {
      throw key_error(cfg, section, file_key, e.what());
    }
  }
  try {
    return secret_from_env(env_name);
  } catch (const SecretError& e) {
    throw ConfigError(e.what());
  }
}

void check_readable(const Config& cfg, const std::string& section, const char* key, const std::string& path) {
  if (!path.empty() && ::access(path.c_str(), R_OK) != 0) throw key_error(cfg, section, key, "cannot be read: " + path);
}

// A certificate and its key: parsed, matching, valid now. A certificate close to its end is
// a warning, so the operator hears about it at every start, reload and --check.
void check_pair(Config& cfg, const char* section, const char* cert_key, const std::string& cert, const char* key_key,
                const std::string& key) {
  try {
    long left = check_certificate_pair(cert, key);
    if (left < 14L * 86400) {
      cfg.warnings.push_back(std::string(section) + " " + cert_key + " " + cert + " expires in " +
                             std::to_string(left / 86400) + " days; renew it and send pushgate SIGHUP");
    }
  } catch (const KeyError& e) {
    std::string what = e.what();
    throw key_error(cfg, section, what.rfind("key file ", 0) == 0 ? key_key : cert_key, what);
  }
}

void read_component(Config& cfg) {
  auto secret = read_secret(cfg, "[component]", "secret_file", cfg.component.secret_file, "PUSHGATE_COMPONENT_SECRET");
  if (!secret) {
    throw ConfigError(cfg.source +
                      ": [component] has no secret: set secret_file (a file holding Prosody's "
                      "component_secret, chmod 600) or the environment variable PUSHGATE_COMPONENT_SECRET");
  }
  cfg.component.secret = *secret;
}

void read_http(Config& cfg) {
  if (!cfg.http_enabled) return;
  HttpConfig& h = cfg.http;
  h.push_secret = read_secret(cfg, "[http]", "push_secret_file", h.push_secret_file, "PUSHGATE_PUSH_SECRET");
  check_readable(cfg, "[http]", "tls_cert", h.tls_cert);
  check_readable(cfg, "[http]", "tls_key", h.tls_key);
  check_readable(cfg, "[http]", "client_ca", h.client_ca);
  if (!h.tls_cert.empty()) check_pair(cfg, "[http]", "tls_cert", h.tls_cert, "tls_key", h.tls_key);
  if (!h.push_secret) {
    cfg.warnings.push_back(
        "[http] has no push_secret_file (or PUSHGATE_PUSH_SECRET): POST /push answers 403; "
        "/health and /metrics are served");
  }
}

void read_app(Config& cfg, AppConfig& app) {
  const std::string section = app_section(app.name);
  app.secret = read_secret(cfg, section, "secret_file", app.secret_file, app_secret_env(app.name));
  if (app.service == ServiceKind::Fcm) {
    try {
      load_fcm_service_account(app.credentials_file);
    } catch (const KeyError& e) {
      throw key_error(cfg, section, "credentials_file", e.what());
    }
  }
  if (app.service == ServiceKind::Apns) {
    try {
      load_apns_p8_key(app.key_file);
    } catch (const KeyError& e) {
      throw key_error(cfg, section, "key_file", e.what());
    }
  }
  if (app.service != ServiceKind::Log) check_readable(cfg, section, "ca_file", app.ca_file);
  if (!app.require_secret && app.secret) {
    // Two answers to one question: a secret nobody is asked for protects nothing.
    throw key_error(cfg, section, "require_secret",
                    "is false, so publishes need no secret, but the app has one (secret_file or " +
                        app_secret_env(app.name) + "); remove require_secret to check it, or the secret");
  }
}

// SQLite creates the file and its -wal and -shm files beside it: the directory must be there
// and writable by the user pushgate runs as.
void check_store_directory(const Config& cfg) {
  if (cfg.store.kind != StoreKind::Sqlite) return;
  std::filesystem::path dir = std::filesystem::path(cfg.store.path).parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    throw key_error(cfg, "[store]", "path",
                    "the directory " + dir.string() +
                        " does not exist; create it for the pushgate user (the pushgate.service unit's "
                        "StateDirectory= makes /var/lib/pushgate)");
  }
  if (access(dir.c_str(), W_OK | X_OK) != 0) {
    throw key_error(cfg, "[store]", "path",
                    "the directory " + dir.string() + " is not writable by uid " + std::to_string(geteuid()) +
                        ": SQLite creates its -wal and -shm files there; chown it to the pushgate user");
  }
}

// Once the secrets are known: whether an app without one serves anyone over XMPP.
void warn_unserved_apps(Config& cfg) {
  if (cfg.store.kind != StoreKind::None) return;
  for (const AppConfig& app : cfg.apps) {
    if (app.secret || !app.require_secret) continue;
    cfg.warnings.push_back(app_section(app.name) +
                           " has no secret and there is no [store]: Prosody's publishes cannot reach it (only "
                           "POST /push can); set secret_file (or " +
                           app_secret_env(app.name) + "), require_secret = false, or a [store] for registered devices");
  }
}

}  // namespace

void read_credentials(Config& config) {
  // The sections parse_config read for this role, in the file's order.
  if (config.role != Role::LegacyTls) {
    read_component(config);
    read_http(config);
    for (AppConfig& app : config.apps) read_app(config, app);
    check_store_directory(config);
    warn_unserved_apps(config);
  }
  if (config.legacy_tls.enabled) {
    const LegacyTlsConfig& l = config.legacy_tls;
    check_pair(config, "[legacy_tls]", "cert_file", l.cert_file, "key_file", l.key_file);
  }
}

Config load_config_and_credentials(const std::string& path, Role role) {
  Config config = load_config(path, role);
  read_credentials(config);
  return config;
}

}  // namespace pushgate
