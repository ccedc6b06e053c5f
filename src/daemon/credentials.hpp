// The second step of loading the configuration: the secrets, keys and certificates a parsed
// Config names are read and checked, so a Config that passed it means every one exists.
#pragma once

#include <string>

#include "config/config.hpp"

namespace pushgate {

// Reads and checks what `config` names, for the sections its role read: the component, push
// and app secrets (a *_file, else its PUSHGATE_* variable) into their fields; the APNs .p8
// keys and FCM service accounts (loaded, then dropped: the providers load their own); the
// [http] and [legacy_tls] certificates and keys (matching, valid now; close to expiry adds a
// warning); CA files readable; the SQLite store's directory there and writable. Throws
// ConfigError naming the key, its line and the fix (key_error()); adds warnings.
void read_credentials(Config& config);

// What the daemon, --check and the registrations command start from: the file parsed
// (load_config) and its credentials read. Throws ConfigError.
Config load_config_and_credentials(const std::string& path, Role role = Role::All);

}  // namespace pushgate
