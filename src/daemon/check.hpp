// pushgate --check: the configuration's verdict on standard output, and with --online
// whether Apple and Google (or the configured endpoints) accept the apps' credentials.
#pragma once

#include <iosfwd>
#include <string>

#include "config/config.hpp"

namespace pushgate {

// Writes that `config` (loaded from `path`, both loading steps passed) is valid, and with
// `online` runs check_online(). Returns the exit status: 0 valid (and accepted), 1 not.
int run_check(Config config, const std::string& path, bool online, std::ostream& out);

// For each apns/fcm app a real provider token (or OAuth2 access token) is minted and a push
// to a probe device token sent through the client the daemon uses, each app's verdict written
// to `out`. Returns 0 when every provider accepted the credentials, 1 otherwise.
int check_online(Config config, std::ostream& out);

}  // namespace pushgate
