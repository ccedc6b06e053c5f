// `pushgate registrations`: what the operator can see and do with the registration store
// without the daemon's help. Counts per app; forgetting a device or a token. Never prints a
// token, a node or a JID it did not get on the command line.
#pragma once

#include <iosfwd>
#include <string>

#include "config/config.hpp"

namespace pushgate {

struct RegistrationsRequest {
  std::string delete_device;  // with jid: forget this device's registrations
  std::string jid;            // the device's owner, user@domain
  std::string delete_token;   // forget every registration holding this token
};

// Opens the configured store, does what `request` asks (or counts), and writes the report to
// `out` and problems to `err`. Returns the exit status: 0 done, 1 store or usage problem.
int run_registrations_command(const Config& config, const RegistrationsRequest& request, std::ostream& out,
                              std::ostream& err);

}  // namespace pushgate
