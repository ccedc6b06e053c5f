// pushgate: the XEP-0357 push App Server beside Prosody. Parses the command line, loads
// the config, wires front doors to the dispatcher and runs the event loop.
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>

#include "api/http_api.hpp"
#include "common/event_loop.hpp"
#include "common/log.hpp"
#include "config/config.hpp"
#include "legacy/legacy_listener.hpp"
#include "pushgate_version.hpp"
#include "push/dispatcher.hpp"
#include "push/providers.hpp"
#include "store/registration_store.hpp"
#include "xmpp/component_session.hpp"

namespace {

using namespace pushgate;

constexpr const char* kUsage =
    "Usage: pushgate --config FILE [--check] [--log-level LEVEL] [--log-format kv|json]\n"
    "       pushgate --version | --help\n"
    "\n"
    "  --config FILE      the TOML configuration (see deploy/pushgate.toml.example)\n"
    "  --check            validate the configuration and its secrets, then exit 0 (ok) or 1\n"
    "  --log-level LEVEL  debug | info | warn | error (default info)\n"
    "  --log-format F     kv (key=value, default) or json\n"
    "  --version          print the version and exit\n"
    "  --help             print this text and exit\n";

// SIGTERM, SIGINT and SIGHUP arrive through a signalfd the loop polls.
class SignalSource final : public IoSource {
 public:
  SignalSource(EventLoop& loop, std::function<void(int)> on_signal) : loop_(loop), on_signal_(std::move(on_signal)) {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
    fd_ = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd_ < 0) throw std::runtime_error(std::string("signalfd failed: ") + std::strerror(errno));
    loop_.add_source(this);
  }
  ~SignalSource() override {
    loop_.remove_source(this);
    close(fd_);
  }
  void collect_fds(std::vector<curl_waitfd>& fds) override { fds.push_back(curl_waitfd{fd_, CURL_WAIT_POLLIN, 0}); }
  void on_turn() override {
    signalfd_siginfo info{};
    while (read(fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) on_signal_(static_cast<int>(info.ssi_signo));
  }

 private:
  EventLoop& loop_;
  std::function<void(int)> on_signal_;
  int fd_ = -1;
};

int run_daemon(const Config& config) {
  EventLoop loop;
  ProviderSet providers = make_providers(loop, config);
  Dispatcher dispatcher(config, std::move(providers.providers));
  dispatcher.set_scheduler([&loop](std::chrono::milliseconds delay, std::function<void()> fn) {
    loop.call_after(delay, std::move(fn));
  });
  std::unique_ptr<RegistrationStore> store;
  if (!config.store.path.empty() || !config.store.url.empty()) {
    store = config.store.url.empty() ? open_sqlite_store(config.store.path) : open_postgres_store(config.store.url);
    dispatcher.set_store(store.get());
    // The URL may hold a password: only its scheme and host part reach the log.
    std::string where = config.store.url.empty() ? config.store.path : "postgresql://…@" + config.store.url.substr(config.store.url.find('@') + 1);
    log::info("store_open", {{"store", where}, {"registrations", std::to_string(store->count())}});
  }
  xmpp::ComponentSession session(loop, config.component, dispatcher);
  std::unique_ptr<legacy::LegacyListener> legacy_tls;
  if (config.legacy_tls.enabled) {
    legacy_tls = std::make_unique<legacy::LegacyListener>(config.legacy_tls);
    legacy_tls->start();
  }
  std::unique_ptr<api::HttpApi> http_api;
  if (config.http_enabled) {
    api::Observed observed{&config, &dispatcher, &session, &providers, legacy_tls.get(), std::chrono::system_clock::now()};
    http_api = std::make_unique<api::HttpApi>(loop, config, dispatcher, observed);
  } else {
    log::info("api_off", {{"reason", "no [http] section"}, {"fix", "add [http] to serve POST /push, /health and /metrics"}});
  }

  bool stopping = false;
  auto drain_deadline = EventLoop::Clock::time_point::max();
  SignalSource signals(loop, [&](int sig) {
    if (sig == SIGHUP) {
      if (legacy_tls) {
        std::string error;
        if (legacy_tls->reload_certificate(error)) {
          log::info("signal", {{"signal", "SIGHUP"}, {"action", "legacy_tls certificate reloaded for new connections"}});
        } else {
          log::error("reload_failed", {{"signal", "SIGHUP"}, {"error", error}, {"action", "kept the previous certificate"}});
        }
      } else {
        log::info("signal", {{"signal", "SIGHUP"}, {"action", "nothing to reload: configuration reload is not supported by this version"}});
      }
      return;
    }
    if (stopping) return;
    stopping = true;
    if (http_api) http_api->stop();  // no new requests; those in progress finish during the drain
    drain_deadline = EventLoop::Clock::now() + std::chrono::seconds(4);
    log::info("shutdown", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}, {"in_flight", std::to_string(dispatcher.in_flight())}});
  });

  session.start();
  log::info("started", {{"version", PUSHGATE_VERSION}, {"jid", config.component.jid}, {"apps", std::to_string(config.apps.size())}});
  while (!stopping || (dispatcher.in_flight() > 0 && EventLoop::Clock::now() < drain_deadline)) {
    loop.run_once(std::chrono::milliseconds(stopping ? 50 : 1000));
  }
  // Replies for pushes that finished during the drain are written before the stream closes.
  loop.run_once(std::chrono::milliseconds(0));
  http_api.reset();
  legacy_tls.reset();
  session.shutdown();
  log::info("stopped", {{"delivered", std::to_string(dispatcher.count(OutcomeKind::Delivered))},
                        {"unfinished", std::to_string(dispatcher.in_flight())},
                        {"replies_lost", std::to_string(session.replies_lost())},
                        {"http2_connections_opened", std::to_string(providers.http ? providers.http->connections_opened() : 0)}});
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  bool check = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* flag) -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "pushgate: " << flag << " needs a value\n" << kUsage;
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (a == "--version") {
      std::cout << "pushgate " << PUSHGATE_VERSION << "\n";
      return 0;
    } else if (a == "--config" || a == "-c") {
      config_path = value("--config");
    } else if (a == "--check") {
      check = true;
    } else if (a == "--log-level") {
      log::Level lvl;
      std::string v = value("--log-level");
      if (!log::parse_level(v, lvl)) {
        std::cerr << "pushgate: --log-level " << v << " is not a level; use debug, info, warn or error\n";
        return 2;
      }
      log::set_level(lvl);
    } else if (a == "--log-format") {
      std::string v = value("--log-format");
      if (v == "json") log::set_format(log::Format::Json);
      else if (v == "kv") log::set_format(log::Format::KeyValue);
      else {
        std::cerr << "pushgate: --log-format " << v << " is not a format; use kv or json\n";
        return 2;
      }
    } else {
      std::cerr << "pushgate: unknown argument '" << a << "'\n" << kUsage;
      return 2;
    }
  }
  if (config_path.empty()) {
    std::cerr << "pushgate: --config FILE is required\n" << kUsage;
    return 2;
  }

  // Block the signals before any thread exists so only the signalfd sees them.
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  Config config;
  try {
    config = load_config(config_path);
  } catch (const ConfigError& e) {
    std::cerr << "pushgate: configuration error: " << e.what() << "\n";
    return 1;
  }
  for (const auto& w : config.warnings) log::warn("config_warning", {{"message", w}});
  if (check) {
    std::cout << "pushgate: configuration " << config_path << " is valid (" << config.apps.size() << " app"
              << (config.apps.size() == 1 ? "" : "s") << ", component " << config.component.jid << ")\n";
    return 0;
  }
  try {
    return run_daemon(config);
  } catch (const std::exception& e) {
    log::error("fatal", {{"cause", e.what()}});
    return 1;
  }
}
