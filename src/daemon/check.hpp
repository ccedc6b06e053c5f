// pushgate --check: the configuration's verdict on standard output, and with --online
// whether Apple and Google (or the configured endpoints) accept the apps' credentials.
#pragma once

#include <iosfwd>
#include <string>

#include "config/config.hpp"

namespace pushgate {

// Writes that `config` (loaded from `path`, both loading steps passed) is valid, and with
// `online` runs check_online(). [check] password_file is read here (the daemon never reads
// it): one that cannot be read is a warning, as the daemon does not need it. Returns the
// exit status: 0 valid (and accepted), 1 not.
int run_check(Config config, const std::string& path, bool online, std::ostream& out);

// For each apns/fcm app a real provider token (or OAuth2 access token) is minted and a push
// to a probe device token sent through the client the daemon uses, each app's verdict written
// to `out`. At the same time the XMPP server is asked (xmpp/server_probe.hpp): the component
// handshake, the disco#info and disco#items of the component's parent domain and of the
// [check] account's domain, and that account's own disco#info; each finding is one line
// (xmpp/server_check.hpp). It stops waiting after 20 s; a call that never returns (a stalled
// TLS handshake, a name lookup) is ended by SIGALRM at 25 s: one FAILED line, exit 1. Returns
// 0 when every provider accepted the credentials and nothing on the XMPP side is MISSING,
// REFUSED or UNREACHABLE (NOT CHECKED and UNAVAILABLE are said, not failed), 1 otherwise.
int check_online(Config config, std::ostream& out);

}  // namespace pushgate
