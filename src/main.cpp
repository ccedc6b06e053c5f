// pushgate: the XEP-0357 push App Server beside Prosody. Reads the command line
// (daemon/command_line.hpp), loads the config, wires front doors to the dispatcher and runs
// the event loop.
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "api/http_api.hpp"
#include "api/metrics_server.hpp"
#include "common/event_loop.hpp"
#include "common/log.hpp"
#include "common/systemd.hpp"
#include "config/config.hpp"
#include "config/reload_policy.hpp"
#include "daemon/command_line.hpp"
#include "daemon/credentials.hpp"
#include "legacy/legacy_listener.hpp"
#include "push/dispatcher.hpp"
#include "push/providers.hpp"
#include "pushgate_version.hpp"
#include "store/registration_store.hpp"
#include "store/registrations_command.hpp"
#include "store/store_worker.hpp"
#include "xmpp/component_session.hpp"

namespace {

using namespace pushgate;

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

std::string app_names(const std::vector<AppConfig>& apps) {
  std::string out;
  for (const AppConfig& a : apps) out += (out.empty() ? "" : ",") + a.name;
  return out;
}

int run_daemon(std::shared_ptr<const Config> config, const std::string& config_path) {
  EventLoop loop;
  const bool push_role = config->role != Role::LegacyTls;
  std::unique_ptr<Dispatcher> dispatcher;
  std::unique_ptr<StoreWorker> store;  // after the dispatcher, before the session: see ~StoreWorker
  std::unique_ptr<xmpp::ComponentSession> session;
  if (push_role) {
    dispatcher = std::make_unique<Dispatcher>(*config, [&](const std::vector<AppConfig>& apps) {
      return make_providers(loop, apps, config->push.queue_size);
    });
    dispatcher->set_scheduler([&loop](std::chrono::milliseconds delay, std::function<void()> fn) {
      loop.call_after(delay, std::move(fn));
    });
    if (!config->store.path.empty() || !config->store.url.empty()) {
      // Opened (and migrated) here, before the loop runs; from then on only the worker uses it.
      std::unique_ptr<RegistrationStore> opened =
          config->store.url.empty() ? open_sqlite_store(config->store.path) : open_postgres_store(config->store.url);
      // The URL may hold a password: only its host part reaches the log.
      std::string where = config->store.url.empty() ? config->store.path : store_url_for_log(config->store.url);
      std::string registrations;
      try {
        registrations = std::to_string(opened->count());
      } catch (const StoreError& e) {  // a count is not worth failing the start over
        registrations = "unknown (" + std::string(e.what()) + ")";
      }
      log::info("store_open", {{"store", where}, {"registrations", registrations}});
      StoreWorker::Options options;
      options.backend = config->store.url.empty() ? "sqlite" : "postgresql";
      store = std::make_unique<StoreWorker>(loop, std::move(opened), options);
      dispatcher->set_store(store.get());
    }
    session = std::make_unique<xmpp::ComponentSession>(loop, config->component, *dispatcher);
  }
  std::unique_ptr<legacy::LegacyListener> legacy_tls;
  std::unique_ptr<api::MetricsServer> legacy_metrics;  // [legacy_tls] metrics_listen
  if (config->legacy_tls.enabled) {
    legacy_tls = std::make_unique<legacy::LegacyListener>(config->legacy_tls);
    legacy_tls->start();
    if (!config->legacy_tls.metrics_listen.empty()) {
      legacy_metrics = std::make_unique<api::MetricsServer>(config->legacy_tls.metrics_listen, *legacy_tls);
    }
  } else if (config->legacy_tls_elsewhere) {
    log::info("legacy_tls_off", {{"reason", "--only push"}, {"fix", "run the pushgate-legacy-tls unit (--only legacy-tls) for it"}});
  }
  api::ReloadCounts reloads;
  std::unique_ptr<api::HttpApi> http_api;
  if (push_role && config->http_enabled) {
    api::Observed observed{
        config,   dispatcher.get(), session.get(), legacy_tls.get(), std::chrono::system_clock::now(),
        &reloads, store.get()};
    http_api = std::make_unique<api::HttpApi>(loop, *config, *dispatcher, observed);
  } else if (push_role) {
    log::info("api_off", {{"reason", "no [http] section"}, {"fix", "add [http] to serve POST /push, /health and /metrics"}});
  }

  auto status = [&] {
    std::string s = "STATUS=";
    if (session) s += std::string(session->connected() ? "connected to" : "connecting to") + " Prosody as " + config->component.jid;
    if (legacy_tls) s += std::string(session ? "; " : "") + "legacy TLS on " + config->legacy_tls.listen;
    return s;
  };

  // SIGHUP: the whole file again. Everything that can fail is built before anything changes,
  // so an invalid file leaves the running configuration exactly as it was.
  auto reload = [&] {
    systemd::notify("RELOADING=1\nSTATUS=reloading " + config_path);
    auto refuse = [&](const std::string& why) {
      ++reloads.refused;
      log::error("reload_refused", {{"config", config_path}, {"error", why},
                                    {"action", "kept the running configuration; fix the file and send SIGHUP again"}});
      systemd::notify("READY=1\n" + status());
    };
    auto fresh = std::make_shared<Config>();
    try {
      *fresh = load_config_and_credentials(config_path, config->role);
    } catch (const ConfigError& e) {
      refuse(e.what());
      return;
    }
    for (const auto& w : fresh->warnings) log::warn("config_warning", {{"message", w}});
    std::vector<std::string> kept = keep_restart_only(*config, *fresh);
    std::shared_ptr<SSL_CTX> legacy_ctx;
    if (legacy_tls) {
      std::string error;
      legacy_ctx = legacy::LegacyListener::prepare_tls(fresh->legacy_tls, error);
      if (!legacy_ctx) {
        refuse("[legacy_tls] " + error);
        return;
      }
    }
    // The last step that can fail (a key that does not load) and the first that changes
    // anything: replace_apps changes nothing when the providers cannot be built.
    if (dispatcher) {
      try {
        dispatcher->replace_apps(fresh->apps, [&](const std::vector<AppConfig>& apps) {
          return make_providers(loop, apps, fresh->push.queue_size);
        });
      } catch (const std::exception& e) {
        refuse(e.what());
        return;
      }
    }
    // Nothing can fail from here on: the fresh snapshot replaces the running one.
    if (legacy_tls) legacy_tls->use_tls(std::move(legacy_ctx));
    if (session && fresh->component.secret != config->component.secret) {
      log::info("component_secret_changed", {{"action", "used from the next reconnect; the current session stays up"}});
    }
    if (session) session->reload(fresh->component);
    config = std::move(fresh);
    if (http_api) http_api->reload(config);
    ++reloads.applied;
    for (const std::string& key : kept) {
      log::warn("reload_needs_restart", {{"key", key}, {"action", "kept the running value; restart pushgate to change it"}});
    }
    log::info("reload", {{"config", config_path}, {"result", "applied"},
                         {"apps", push_role ? app_names(config->apps) : "-"},
                         {"legacy_tls_certificate", legacy_tls ? config->legacy_tls.cert_file : "-"},
                         {"needs_restart", std::to_string(kept.size())}});
    systemd::notify("READY=1\n" + status());
  };

  bool stopping = false;
  auto drain_deadline = EventLoop::Clock::time_point::max();
  SignalSource signals(loop, [&](int sig) {
    if (sig == SIGHUP) {
      if (!stopping) reload();
      return;
    }
    if (stopping) return;
    stopping = true;
    systemd::notify("STOPPING=1\nSTATUS=draining pushes in flight");
    // Stop accepting: no new API requests (those in progress finish during the drain), no new
    // legacy clients, and publishes from now on are answered `wait` at once.
    if (http_api) http_api->stop();
    if (legacy_tls) legacy_tls->stop_accepting();
    if (session) session->refuse_publishes("pushgate is shutting down; retry later");
    drain_deadline = EventLoop::Clock::now() + std::chrono::seconds(4);
    log::info("shutdown", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"},
                           {"in_flight", std::to_string(dispatcher ? dispatcher->in_flight() : 0)}});
  });

  // The watchdog is fed from the loop, and only while the legacy listener's thread turns too:
  // a stuck loop or listener stops the pings and systemd restarts the unit.
  std::chrono::milliseconds watchdog = systemd::watchdog_interval();
  std::function<void()> feed_watchdog = [&] {
    if (!legacy_tls || legacy_tls->responsive(std::chrono::seconds(5))) {
      systemd::notify("WATCHDOG=1");
    } else {
      log::error("watchdog_withheld", {{"cause", "the legacy TLS listener's thread has not turned for 5 s"}});
    }
    loop.call_after(watchdog, feed_watchdog);
  };
  if (watchdog.count() > 0) loop.call_after(watchdog, feed_watchdog);

  // systemctl status shows the status line: kept current (connected or not) every 2 s.
  std::string status_sent;
  std::function<void()> refresh_status = [&] {
    std::string now = status();
    if (now != status_sent) systemd::notify(now);
    status_sent = now;
    loop.call_after(std::chrono::seconds(2), refresh_status);
  };
  if (std::getenv("NOTIFY_SOCKET") != nullptr) loop.call_after(std::chrono::seconds(2), refresh_status);

  if (session) session->start();
  log::info("started", {{"version", PUSHGATE_VERSION},
                        {"role", config->role == Role::All ? "all" : push_role ? "push" : "legacy-tls"},
                        {"jid", push_role ? config->component.jid : "-"},
                        {"apps", std::to_string(push_role ? config->apps.size() : 0)}});
  // Ready once every listener is bound and every credential loaded; Prosody may still be
  // coming up, which /health shows and the session retries.
  status_sent = status();
  systemd::notify("READY=1\n" + status_sent);
  // Pushes with a provider, and store calls (lookups, registrations) waiting for their answer.
  auto in_flight = [&] { return (dispatcher ? dispatcher->in_flight() : 0) + (store ? store->pending() : 0); };
  while (!stopping || (in_flight() > 0 && EventLoop::Clock::now() < drain_deadline)) {
    loop.run_once(std::chrono::milliseconds(stopping ? 50 : 1000));
    if (dispatcher) dispatcher->release_retired();
  }
  // Replies for pushes that finished during the drain are written before the stream closes;
  // publishes still waiting get `wait`, so Prosody keeps their registrations.
  loop.run_once(std::chrono::milliseconds(0));
  std::size_t answered_wait = session ? session->answer_pending("pushgate is shutting down; retry later") : 0;
  http_api.reset();
  legacy_metrics.reset();
  legacy_tls.reset();
  if (session) session->shutdown();
  log::info("stopped", {{"delivered", std::to_string(dispatcher ? dispatcher->count(OutcomeKind::Delivered) : 0)},
                        {"unfinished", std::to_string(in_flight())},
                        {"answered_wait", std::to_string(answered_wait)},
                        {"refused_while_stopping", std::to_string(session ? session->refused_publishes() : 0)},
                        {"replies_lost", std::to_string(session ? session->replies_lost() : 0)},
                        {"http2_connections_opened",
                         std::to_string(dispatcher && dispatcher->providers().http ? dispatcher->providers().http->connections_opened() : 0)}});
  return 0;
}

// --check --online: for each apns/fcm app, a real provider token (or OAuth2 access token)
// is minted and a push to a probe device token sent through the same client the daemon
// uses. What the provider says about the credentials, not the probe token, is the answer:
// BadDeviceToken or a 400 on the token means the key was accepted.
int check_online(Config config) {
  EventLoop loop;
  for (AppConfig& app : config.apps) app.deadline_ms = std::min(app.deadline_ms, 10000);  // no long retrying here
  ProviderSet providers;
  try {
    providers = make_providers(loop, config);
  } catch (const std::exception& e) {
    std::cout << "pushgate: online check failed before contacting anyone: " << e.what() << "\n";
    return 1;
  }
  int failed = 0;
  std::size_t waiting = 0;
  for (std::size_t i = 0; i < config.apps.size(); ++i) {
    const AppConfig& app = config.apps[i];
    if (app.service == ServiceKind::Log) {
      std::cout << "app " << app.name << " (log): nothing to check online\n";
      continue;
    }
    PushJob job;
    job.app = &app;
    job.kind = PushKind::Background;
    job.request.node = app.service == ServiceKind::Apns ? std::string(64, '0') : "pushgate-check-online-probe-token";
    job.request.sender_domain = "pushgate-check";
    ++waiting;
    providers.providers[i]->send(std::move(job), [&, name = app.name, service = app.service](const Outcome& o) {
      --waiting;
      const char* who = service == ServiceKind::Apns ? "APNs" : "FCM";
      std::string what = service == ServiceKind::Apns ? "provider token (ES256 JWT)" : "OAuth2 access token";
      switch (o.kind) {
        case OutcomeKind::Delivered:
        case OutcomeKind::TokenDead:
        case OutcomeKind::BadRequest:
          std::cout << "app " << name << " (" << to_string(service) << "): OK, " << who << " accepted the " << what
                    << " (the probe device token got: " << (o.kind == OutcomeKind::Delivered ? "delivered" : o.reason) << ")\n";
          break;
        case OutcomeKind::OperatorError:
          ++failed;
          std::cout << "app " << name << " (" << to_string(service) << "): REFUSED, " << who << " did not accept the "
                    << what << ": " << o.reason << "\n";
          break;
        default:
          ++failed;
          std::cout << "app " << name << " (" << to_string(service) << "): UNREACHABLE, no answer about the " << what
                    << ": " << to_string(o.kind) << ": " << o.reason << "\n";
      }
    });
  }
  auto give_up = EventLoop::Clock::now() + std::chrono::seconds(20);
  while (waiting > 0 && EventLoop::Clock::now() < give_up) loop.run_once(std::chrono::milliseconds(100));
  if (waiting > 0) {
    std::cout << "pushgate: " << waiting << " app(s) did not answer within 20 s\n";
    failed += static_cast<int>(waiting);
  }
  std::cout << (failed == 0 ? "pushgate: online check passed\n" : "pushgate: online check FAILED\n");
  return failed == 0 ? 0 : 1;
}

}  // namespace

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
  const std::string& config_path = cl->config_path;
  const Role role = cl->role;

  // Block the signals before any thread exists so only the signalfd sees them.
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  Config config;
  try {
    config = load_config_and_credentials(config_path, role);
  } catch (const ConfigError& e) {
    std::cerr << "pushgate: configuration error: " << e.what() << "\n";
    // Under systemd the unit's status line says why it did not start.
    systemd::notify(std::string("STATUS=configuration error: ") + e.what());
    return 1;
  }
  for (const auto& w : config.warnings) log::warn("config_warning", {{"message", w}});
  if (cl->command == Command::Check) {
    std::cout << "pushgate: configuration " << config_path << " is valid (";
    if (role == Role::LegacyTls) {
      std::cout << "[legacy_tls] only";
    } else {
      std::cout << config.apps.size() << " app" << (config.apps.size() == 1 ? "" : "s") << ", component " << config.component.jid;
    }
    std::cout << ")\n";
    if (cl->online && role != Role::LegacyTls) return check_online(std::move(config));
    return 0;
  }
  try {
    return run_daemon(std::make_shared<const Config>(std::move(config)), config_path);
  } catch (const std::exception& e) {
    log::error("fatal", {{"cause", e.what()}});
    systemd::notify(std::string("STATUS=failed to start: ") + e.what());
    return 1;
  }
}
