// pushgate, the XEP-0357 push App Server beside Prosody: reads the command line, loads the
// configuration and hands it to what was asked for: the daemon, --check, or registrations.
#include <signal.h>

#include <iostream>
#include <memory>
#include <string>

#include "common/log.hpp"
#include "common/systemd.hpp"
#include "config/config.hpp"
#include "daemon/check.hpp"
#include "daemon/command_line.hpp"
#include "daemon/credentials.hpp"
#include "daemon/daemon.hpp"
#include "daemon/signal_source.hpp"
#include "pushgate_version.hpp"
#include "store/registrations_command.hpp"

using namespace pushgate;

int main(int argc, char** argv) {
  std::optional<CommandLine> cl = parse_command_line(argc, argv, std::cin, std::cerr);
  if (!cl) return 2;
  if (cl->command == Command::Help) {
    std::cout << kUsage;
    return 0;
  }
  if (cl->command == Command::Version) {
    std::cout << "pushgate " << PUSHGATE_VERSION << "\n";
    return 0;
  }
  if (cl->log_level) log::set_level(*cl->log_level);
  if (cl->log_format) log::set_format(*cl->log_format);
  if (cl->command == Command::Registrations) {
    try {
      return run_registrations_command(load_config_and_credentials(cl->config_path, Role::Push), cl->registrations,
                                       std::cout, std::cerr);
    } catch (const ConfigError& e) {
      std::cerr << "pushgate: configuration error: " << e.what() << "\n";
      return 1;
    }
  }

  // Before any thread exists, so that only the daemon's signalfd sees these signals.
  SignalSource::block();
  signal(SIGPIPE, SIG_IGN);

  Config config;
  try {
    config = load_config_and_credentials(cl->config_path, cl->role);
  } catch (const ConfigError& e) {
    std::cerr << "pushgate: configuration error: " << e.what() << "\n";
    // Under systemd the unit's status line says why it did not start.
    systemd::notify(std::string("STATUS=configuration error: ") + e.what());
    return 1;
  }
  for (const auto& w : config.warnings) log::warn("config_warning", {{"message", w}});
  if (cl->command == Command::Check) return run_check(std::move(config), cl->config_path, cl->online, std::cout);
  try {
    Daemon daemon(std::make_shared<const Config>(std::move(config)), cl->config_path);
    return daemon.run();
  } catch (const std::exception& e) {
    log::error("fatal", {{"cause", e.what()}});
    systemd::notify(std::string("STATUS=failed to start: ") + e.what());
    return 1;
  }
}
