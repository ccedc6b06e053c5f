// Reading pushgate's command line into a CommandLine, and the usage text.
#include "daemon/command_line.hpp"

#include <istream>
#include <ostream>

namespace pushgate {

const char* const kUsage =
    "Usage: pushgate --config FILE [--only push|legacy-tls] [--log-level LEVEL] [--log-format kv|json]\n"
    "       pushgate --config FILE --check [--online] [--only push|legacy-tls]\n"
    "       pushgate registrations --config FILE [--delete-device ID --jid USER@DOMAIN | --delete-token TOKEN|-]\n"
    "       pushgate --version | --help\n"
    "\n"
    "  --config FILE      the TOML configuration (see deploy/pushgate.toml.example)\n"
    "  --check            validate the configuration, its secrets, keys and certificates, then exit 0 (ok) or 1\n"
    "  --online           with --check: mint an APNs provider token and an FCM OAuth2 token and ask\n"
    "                     Apple/Google (or the configured endpoints) whether they accept them; connect\n"
    "                     as the component and, as the [check] test account, ask the XMPP server\n"
    "                     whether push (urn:xmpp:push:0) and Siskin's encrypted pushes\n"
    "                     (tigase:push:encrypt:0) are enabled, naming the config line that adds them\n"
    "  --only PART        run one part in this process, for one systemd unit each: push (component,\n"
    "                     providers, HTTP API) or legacy-tls (the TLS 1.0 listener); default both\n"
    "  --log-level LEVEL  debug | info | warn | error (default info)\n"
    "  --log-format F     kv (key=value, default) or json\n"
    "  registrations      count the registrations per app in the [store]; --delete-device forgets a\n"
    "                     device's registrations (its group chats' too), --delete-token those holding\n"
    "                     a token (- reads it from stdin, keeping it out of the shell's history)\n"
    "  --version          print the version and exit\n"
    "  --help             print this text and exit\n"
    "\n"
    "Signals: SIGHUP reloads the configuration (an invalid file is refused and the running one kept);\n"
    "SIGTERM stops accepting, finishes pushes in flight for up to 4 s, answers the rest `wait`, exits 0.\n";

std::optional<CommandLine> parse_command_line(int argc, const char* const* argv, std::istream& in, std::ostream& err) {
  CommandLine cl;
  bool check = false;
  bool registrations = argc > 1 && std::string(argv[1]) == "registrations";
  RegistrationsRequest& reg = cl.registrations;
  for (int i = registrations ? 2 : 1; i < argc; ++i) {
    std::string a = argv[i];
    // The argument after a flag; nullopt (and the message written) when there is none.
    auto value = [&](const char* flag) -> std::optional<std::string> {
      if (i + 1 >= argc) {
        err << "pushgate: " << flag << " needs a value\n" << kUsage;
        return std::nullopt;
      }
      return std::string(argv[++i]);
    };
    if (a == "--help" || a == "-h") {
      cl.command = Command::Help;
      return cl;
    } else if (a == "--version") {
      cl.command = Command::Version;
      return cl;
    } else if (a == "--config" || a == "-c") {
      auto v = value("--config");
      if (!v) return std::nullopt;
      cl.config_path = *v;
    } else if (a == "--check") {
      check = true;
    } else if (registrations && a == "--delete-device") {
      auto v = value("--delete-device");
      if (!v) return std::nullopt;
      reg.delete_device = *v;
    } else if (registrations && a == "--jid") {
      auto v = value("--jid");
      if (!v) return std::nullopt;
      reg.jid = *v;
    } else if (registrations && a == "--delete-token") {
      auto v = value("--delete-token");
      if (!v) return std::nullopt;
      reg.delete_token = *v;
      if (reg.delete_token == "-" && !std::getline(in, reg.delete_token)) reg.delete_token.clear();
      if (reg.delete_token.empty()) {
        err << "pushgate: --delete-token needs a token (or - and the token on stdin)\n";
        return std::nullopt;
      }
    } else if (a == "--online") {
      cl.online = true;
    } else if (a == "--only") {
      auto v = value("--only");
      if (!v) return std::nullopt;
      if (*v == "push") {
        cl.role = Role::Push;
      } else if (*v == "legacy-tls") {
        cl.role = Role::LegacyTls;
      } else {
        err << "pushgate: --only " << *v << " is not a part; use push or legacy-tls\n";
        return std::nullopt;
      }
    } else if (a == "--log-level") {
      auto v = value("--log-level");
      if (!v) return std::nullopt;
      log::Level level;
      if (!log::parse_level(*v, level)) {
        err << "pushgate: --log-level " << *v << " is not a level; use debug, info, warn or error\n";
        return std::nullopt;
      }
      cl.log_level = level;
    } else if (a == "--log-format") {
      auto v = value("--log-format");
      if (!v) return std::nullopt;
      if (*v == "json") {
        cl.log_format = log::Format::Json;
      } else if (*v == "kv") {
        cl.log_format = log::Format::KeyValue;
      } else {
        err << "pushgate: --log-format " << *v << " is not a format; use kv or json\n";
        return std::nullopt;
      }
    } else {
      err << "pushgate: unknown argument '" << a << "'\n" << kUsage;
      return std::nullopt;
    }
  }
  if (cl.config_path.empty()) {
    err << "pushgate: --config FILE is required\n" << kUsage;
    return std::nullopt;
  }
  if (registrations) {
    if (check || cl.online) {
      err << "pushgate: --check goes without registrations\n";
      return std::nullopt;
    }
    cl.command = Command::Registrations;
    return cl;
  }
  if (cl.online && !check) {
    err << "pushgate: --online goes with --check (pushgate --check --online --config FILE)\n";
    return std::nullopt;
  }
  cl.command = check ? Command::Check : Command::Run;
  return cl;
}

}  // namespace pushgate
