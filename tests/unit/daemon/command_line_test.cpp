// Tests for src/daemon/command_line.cpp: what each command line asks for, and the mistakes
// that end in exit status 2 with a message that names them.
#include "daemon/command_line.hpp"

#include <doctest/doctest.h>

#include <sstream>
#include <vector>

using namespace pushgate;

namespace {
struct Parsed {
  std::optional<CommandLine> cl;
  std::string err;
};

Parsed parse(std::vector<const char*> args, const std::string& stdin_text = "") {
  args.insert(args.begin(), "pushgate");
  std::istringstream in(stdin_text);
  std::ostringstream err;
  Parsed p;
  p.cl = parse_command_line(static_cast<int>(args.size()), args.data(), in, err);
  p.err = err.str();
  return p;
}
}  // namespace

TEST_CASE("the daemon, --check and --check --online, with their options") {
  auto p = parse({"--config", "/etc/pushgate/pushgate.toml"});
  REQUIRE(p.cl);
  CHECK(p.cl->command == Command::Run);
  CHECK(p.cl->config_path == "/etc/pushgate/pushgate.toml");
  CHECK(p.cl->role == Role::All);
  CHECK_FALSE(p.cl->log_level);
  CHECK_FALSE(p.cl->log_format);
  p = parse({"-c", "p.toml", "--only", "legacy-tls", "--log-level", "debug", "--log-format", "json"});
  REQUIRE(p.cl);
  CHECK(p.cl->role == Role::LegacyTls);
  CHECK(p.cl->log_level == log::Level::Debug);
  CHECK(p.cl->log_format == log::Format::Json);
  p = parse({"--check", "--online", "--config", "p.toml", "--only", "push"});
  REQUIRE(p.cl);
  CHECK(p.cl->command == Command::Check);
  CHECK(p.cl->online);
  CHECK(p.cl->role == Role::Push);
}

TEST_CASE("--help and --version answer at once, whatever follows") {
  CHECK(parse({"--help", "--bogus"}).cl->command == Command::Help);
  CHECK(parse({"-h"}).cl->command == Command::Help);
  CHECK(parse({"--version"}).cl->command == Command::Version);
  CHECK(std::string(kUsage).find("--check") != std::string::npos);
}

TEST_CASE("registrations: its own options; --delete-token - reads the token from stdin") {
  auto p = parse({"registrations", "--config", "p.toml", "--delete-device", "dev1", "--jid", "alice@example.org"});
  REQUIRE(p.cl);
  CHECK(p.cl->command == Command::Registrations);
  CHECK(p.cl->registrations.delete_device == "dev1");
  CHECK(p.cl->registrations.jid == "alice@example.org");
  p = parse({"registrations", "--config", "p.toml", "--delete-token", "-"}, "tok123\nrest\n");
  REQUIRE(p.cl);
  CHECK(p.cl->registrations.delete_token == "tok123");
  p = parse({"registrations", "--config", "p.toml", "--delete-token", "-"}, "");
  CHECK_FALSE(p.cl);
  CHECK(p.err.find("--delete-token needs a token") != std::string::npos);
  // Its options mean nothing to the daemon.
  p = parse({"--config", "p.toml", "--delete-device", "dev1"});
  CHECK_FALSE(p.cl);
  CHECK(p.err.find("unknown argument '--delete-device'") != std::string::npos);
}

TEST_CASE("mistakes are named, and give no command line") {
  auto error = [](std::vector<const char*> args) {
    auto p = parse(std::move(args));
    CHECK_FALSE(p.cl);
    return p.err;
  };
  CHECK(error({"--bogus"}).find("unknown argument '--bogus'") != std::string::npos);
  CHECK(error({"--config"}).find("--config needs a value") != std::string::npos);
  CHECK(error({}).find("--config FILE is required") != std::string::npos);
  CHECK(error({"--config", "p.toml", "--only", "api"}).find("--only api is not a part; use push or legacy-tls") !=
        std::string::npos);
  CHECK(error({"--config", "p.toml", "--log-level", "loud"}).find("--log-level loud is not a level") !=
        std::string::npos);
  CHECK(error({"--config", "p.toml", "--log-format", "xml"}).find("--log-format xml is not a format; use kv or json") !=
        std::string::npos);
  CHECK(error({"--config", "p.toml", "--online"}).find("--online goes with --check") != std::string::npos);
  CHECK(error({"registrations", "--config", "p.toml", "--check"}).find("--check goes without registrations") !=
        std::string::npos);
  CHECK(error({"registrations", "--config", "p.toml", "--online"}).find("--check goes without registrations") !=
        std::string::npos);
}
