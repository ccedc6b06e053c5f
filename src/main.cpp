// pushgate: the XEP-0357 push App Server beside Prosody. Parses the command line, loads
// the config, wires front doors to the dispatcher and runs the event loop.
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

constexpr const char* kUsage =
    "Usage: pushgate --config FILE [--only push|legacy-tls] [--log-level LEVEL] [--log-format kv|json]\n"
    "       pushgate --config FILE --check [--online] [--only push|legacy-tls]\n"
    "       pushgate registrations --config FILE [--delete-device ID --jid USER@DOMAIN | --delete-token TOKEN|-]\n"
    "       pushgate --version | --help\n"
    "\n"
    "  --config FILE      the TOML configuration (see deploy/pushgate.toml.example)\n"
    "  --check            validate the configuration, its secrets, keys and certificates, then exit 0 (ok) or 1\n"
    "  --online           with --check: mint an APNs provider token and an FCM OAuth2 token and ask\n"
    "                     Apple/Google (or the configured endpoints) whether they accept them\n"
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

// SIGTERM, SIGINT and SIGHUP arrive through a signalfd the loop polls.
class SignalSource final {
 public:
  SignalSource(EventLoop& loop, std::function<void(int)> on_signal)
      : on_signal_(std::move(on_signal)), watch_(loop, [this](int) { read_all(); }) {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
    fd_ = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd_ < 0) throw std::runtime_error(std::string("signalfd failed: ") + std::strerror(errno));
    watch_.watch(fd_, UV_READABLE);
  }
  ~SignalSource() {
    watch_.stop();
    close(fd_);
  }

 private:
  void read_all() {
    signalfd_siginfo info{};
    while (read(fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) on_signal_(static_cast<int>(info.ssi_signo));
  }
  std::function<void(int)> on_signal_;
  FdWatch watch_;
  int fd_ = -1;
};

// The keys a reload cannot change without dropping what runs on them (the component
// session, the listening sockets, the store): each one that differs is named in the log, and
// the running value is kept until a restart.
std::vector<std::string> keep_restart_only(const Config& running, Config& fresh) {
  std::vector<std::string> kept;
  auto keep = [&](const char* key, auto& value, const auto& old) {
    if (value == old) return;
    kept.push_back(key);
    value = old;
  };
  keep("[component] jid", fresh.component.jid, running.component.jid);
  keep("[component] host", fresh.component.host, running.component.host);
  keep("[component] port", fresh.component.port, running.component.port);
  keep("[http] (added or removed)", fresh.http_enabled, running.http_enabled);
  keep("[http] listen", fresh.http.listen, running.http.listen);
  keep("[http] client_ca", fresh.http.client_ca, running.http.client_ca);
  if (fresh.http.tls_cert.empty() != running.http.tls_cert.empty()) {
    kept.push_back("[http] tls_cert (HTTPS on or off)");
    fresh.http.tls_cert = running.http.tls_cert;
    fresh.http.tls_key = running.http.tls_key;
  }
  keep("[store] path", fresh.store.path, running.store.path);
  keep("[store] url", fresh.store.url, running.store.url);
  keep("[push] queue_size", fresh.push.queue_size, running.push.queue_size);
  LegacyTlsConfig& l = fresh.legacy_tls;
  const LegacyTlsConfig& r = running.legacy_tls;
  keep("[legacy_tls] (added or removed)", l.enabled, r.enabled);
  keep("[legacy_tls] listen", l.listen, r.listen);
  keep("[legacy_tls] backend", l.backend, r.backend);
  keep("[legacy_tls] backend_mode", l.backend_mode, r.backend_mode);
  keep("[legacy_tls] domains", l.domains, r.domains);
  keep("[legacy_tls] proxy_protocol", l.proxy_protocol, r.proxy_protocol);
  keep("[legacy_tls] max_connections", l.max_connections, r.max_connections);
  keep("[legacy_tls] pre_tls_bytes", l.pre_tls_bytes, r.pre_tls_bytes);
  keep("[legacy_tls] pre_tls_seconds", l.pre_tls_seconds, r.pre_tls_seconds);
  keep("[legacy_tls] idle_timeout", l.idle_timeout, r.idle_timeout);
  keep("[legacy_tls] metrics_listen", l.metrics_listen, r.metrics_listen);
  return kept;
}

std::string app_names(const std::vector<AppConfig>& apps) {
  std::string out;
  for (const AppConfig& a : apps) out += (out.empty() ? "" : ",") + a.name;
  return out;
}

int run_daemon(Config config, const std::string& config_path) {
  EventLoop loop;
  const bool push_role = config.role != Role::LegacyTls;
  std::unique_ptr<Dispatcher> dispatcher;
  std::unique_ptr<StoreWorker> store;  // after the dispatcher, before the session: see ~StoreWorker
  std::unique_ptr<xmpp::ComponentSession> session;
  if (push_role) {
    dispatcher = std::make_unique<Dispatcher>(config, [&](const std::vector<AppConfig>& apps) {
      return make_providers(loop, apps, config.push.queue_size);
    });
    dispatcher->set_scheduler([&loop](std::chrono::milliseconds delay, std::function<void()> fn) {
      loop.call_after(delay, std::move(fn));
    });
    if (!config.store.path.empty() || !config.store.url.empty()) {
      // Opened (and migrated) here, before the loop runs; from then on only the worker uses it.
      std::unique_ptr<RegistrationStore> opened =
          config.store.url.empty() ? open_sqlite_store(config.store.path) : open_postgres_store(config.store.url);
      // The URL may hold a password: only its host part reaches the log.
      std::string where = config.store.url.empty() ? config.store.path : store_url_for_log(config.store.url);
      std::string registrations;
      try {
        registrations = std::to_string(opened->count());
      } catch (const StoreError& e) {  // a count is not worth failing the start over
        registrations = "unknown (" + std::string(e.what()) + ")";
      }
      log::info("store_open", {{"store", where}, {"registrations", registrations}});
      StoreWorker::Options options;
      options.backend = config.store.url.empty() ? "sqlite" : "postgresql";
      store = std::make_unique<StoreWorker>(loop, std::move(opened), options);
      dispatcher->set_store(store.get());
    }
    session = std::make_unique<xmpp::ComponentSession>(loop, config.component, *dispatcher);
  }
  std::unique_ptr<legacy::LegacyListener> legacy_tls;
  std::unique_ptr<api::MetricsServer> legacy_metrics;  // [legacy_tls] metrics_listen
  if (config.legacy_tls.enabled) {
    legacy_tls = std::make_unique<legacy::LegacyListener>(loop, config.legacy_tls);
    legacy_tls->start();
    if (!config.legacy_tls.metrics_listen.empty()) {
      legacy_metrics = std::make_unique<api::MetricsServer>(config.legacy_tls.metrics_listen, *legacy_tls);
    }
  } else if (config.legacy_tls_elsewhere) {
    log::info("legacy_tls_off", {{"reason", "--only push"}, {"fix", "run the pushgate-legacy-tls unit (--only legacy-tls) for it"}});
  }
  api::ReloadCounts reloads;
  std::unique_ptr<api::HttpApi> http_api;
  if (push_role && config.http_enabled) {
    api::Observed observed{
        &config,  dispatcher.get(), session.get(), legacy_tls.get(), std::chrono::system_clock::now(),
        &reloads, store.get()};
    http_api = std::make_unique<api::HttpApi>(loop, config, *dispatcher, observed);
  } else if (push_role) {
    log::info("api_off", {{"reason", "no [http] section"}, {"fix", "add [http] to serve POST /push, /health and /metrics"}});
  }

  auto status = [&] {
    std::string s = "STATUS=";
    if (session) s += std::string(session->connected() ? "connected to" : "connecting to") + " Prosody as " + config.component.jid;
    if (legacy_tls) s += std::string(session ? "; " : "") + "legacy TLS on " + config.legacy_tls.listen;
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
    Config fresh;
    try {
      fresh = load_config(config_path, config.role);
    } catch (const ConfigError& e) {
      refuse(e.what());
      return;
    }
    for (const auto& w : fresh.warnings) log::warn("config_warning", {{"message", w}});
    std::vector<std::string> kept = keep_restart_only(config, fresh);
    std::shared_ptr<SSL_CTX> legacy_ctx;
    if (legacy_tls) {
      std::string error;
      legacy_ctx = legacy::LegacyListener::prepare_tls(fresh.legacy_tls, error);
      if (!legacy_ctx) {
        refuse("[legacy_tls] " + error);
        return;
      }
    }
    // The last step that can fail (a key that does not load) and the first that changes
    // anything: replace_apps changes nothing when the providers cannot be built.
    if (dispatcher) {
      try {
        dispatcher->replace_apps(fresh.apps, [&](const std::vector<AppConfig>& apps) {
          return make_providers(loop, apps, config.push.queue_size);
        });
      } catch (const std::exception& e) {
        refuse(e.what());
        return;
      }
    }
    // Nothing can fail from here on.
    if (legacy_tls) legacy_tls->use_tls(std::move(legacy_ctx));
    if (http_api) http_api->reload(fresh);
    if (session && fresh.component.secret != config.component.secret) {
      log::info("component_secret_changed", {{"action", "used from the next reconnect; the current session stays up"}});
    }
    config.component.secret = fresh.component.secret;  // used from the next (re)connect
    config.component.ping_interval_seconds = fresh.component.ping_interval_seconds;
    config.component.ping_timeout_seconds = fresh.component.ping_timeout_seconds;
    config.apps = fresh.apps;
    config.http = fresh.http;
    config.legacy_tls = fresh.legacy_tls;
    ++reloads.applied;
    for (const std::string& key : kept) {
      log::warn("reload_needs_restart", {{"key", key}, {"action", "kept the running value; restart pushgate to change it"}});
    }
    log::info("reload", {{"config", config_path}, {"result", "applied"},
                         {"apps", push_role ? app_names(config.apps) : "-"},
                         {"legacy_tls_certificate", legacy_tls ? config.legacy_tls.cert_file : "-"},
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

  // The watchdog is fed from the loop, which also serves the legacy listener: a stuck loop
  // stops the pings and systemd restarts the unit.
  std::chrono::milliseconds watchdog = systemd::watchdog_interval();
  std::function<void()> feed_watchdog = [&] {
    systemd::notify("WATCHDOG=1");
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
                        {"role", config.role == Role::All ? "all" : push_role ? "push" : "legacy-tls"},
                        {"jid", push_role ? config.component.jid : "-"},
                        {"apps", std::to_string(push_role ? config.apps.size() : 0)}});
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
  std::string config_path;
  bool check = false, online = false;
  Role role = Role::All;
  bool registrations = argc > 1 && std::string(argv[1]) == "registrations";
  RegistrationsRequest reg;
  for (int i = registrations ? 2 : 1; i < argc; ++i) {
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
    } else if (registrations && a == "--delete-device") {
      reg.delete_device = value("--delete-device");
    } else if (registrations && a == "--jid") {
      reg.jid = value("--jid");
    } else if (registrations && a == "--delete-token") {
      reg.delete_token = value("--delete-token");
      if (reg.delete_token == "-" && !std::getline(std::cin, reg.delete_token)) reg.delete_token.clear();
      if (reg.delete_token.empty()) {
        std::cerr << "pushgate: --delete-token needs a token (or - and the token on stdin)\n";
        return 2;
      }
    } else if (a == "--online") {
      online = true;
    } else if (a == "--only") {
      std::string v = value("--only");
      if (v == "push") role = Role::Push;
      else if (v == "legacy-tls") role = Role::LegacyTls;
      else {
        std::cerr << "pushgate: --only " << v << " is not a part; use push or legacy-tls\n";
        return 2;
      }
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
  if (registrations) {
    if (check || online) {
      std::cerr << "pushgate: --check goes without registrations\n";
      return 2;
    }
    try {
      return run_registrations_command(load_config(config_path, Role::Push), reg, std::cout, std::cerr);
    } catch (const ConfigError& e) {
      std::cerr << "pushgate: configuration error: " << e.what() << "\n";
      return 1;
    }
  }
  if (online && !check) {
    std::cerr << "pushgate: --online goes with --check (pushgate --check --online --config FILE)\n";
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
    config = load_config(config_path, role);
  } catch (const ConfigError& e) {
    std::cerr << "pushgate: configuration error: " << e.what() << "\n";
    // Under systemd the unit's status line says why it did not start.
    systemd::notify(std::string("STATUS=configuration error: ") + e.what());
    return 1;
  }
  for (const auto& w : config.warnings) log::warn("config_warning", {{"message", w}});
  if (check) {
    std::cout << "pushgate: configuration " << config_path << " is valid (";
    if (role == Role::LegacyTls) {
      std::cout << "[legacy_tls] only";
    } else {
      std::cout << config.apps.size() << " app" << (config.apps.size() == 1 ? "" : "s") << ", component " << config.component.jid;
    }
    std::cout << ")\n";
    if (online && role != Role::LegacyTls) return check_online(std::move(config));
    return 0;
  }
  try {
    return run_daemon(std::move(config), config_path);
  } catch (const std::exception& e) {
    log::error("fatal", {{"cause", e.what()}});
    systemd::notify(std::string("STATUS=failed to start: ") + e.what());
    return 1;
  }
}
