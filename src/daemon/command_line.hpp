// pushgate's command line: what to do (run, --check, registrations, --help, --version) and
// the options that go with it, read into a struct with enums before anything is loaded.
#pragma once

#include <iosfwd>
#include <optional>
#include <string>

#include "common/log.hpp"
#include "config/config.hpp"
#include "store/registrations_command.hpp"

namespace pushgate {

enum class Command {
  Run,            // the daemon
  Check,          // --check: validate the configuration (and, with --online, the providers' answer)
  Registrations,  // `pushgate registrations`
  Help,           // --help: print kUsage
  Version,        // --version
};

struct CommandLine {
  Command command = Command::Run;
  std::string config_path;
  Role role = Role::All;                  // --only push | legacy-tls
  bool online = false;                    // --check --online
  std::optional<log::Level> log_level;    // --log-level; nullopt: the default
  std::optional<log::Format> log_format;  // --log-format kv | json
  RegistrationsRequest registrations;     // `registrations` and its --delete-* options
};

// The text --help prints and a mistake on the command line ends with.
extern const char* const kUsage;

// Reads argv. A mistake (an unknown argument, a missing value, options that do not go
// together, no --config) is written to `err`, with kUsage where that helps, and gives
// nullopt: exit status 2. --help and --version end the reading at once. `--delete-token -`
// reads the token from the first line of `in`, keeping it out of the shell's history.
std::optional<CommandLine> parse_command_line(int argc, const char* const* argv, std::istream& in, std::ostream& err);

}  // namespace pushgate
