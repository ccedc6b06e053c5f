// The daemon: its parts built from one Config snapshot, the reload that swaps the snapshot,
// the shutdown drain, and what systemd hears (READY, RELOADING, STOPPING, STATUS, WATCHDOG).
#include "daemon/daemon.hpp"

#include <signal.h>

#include <cstdlib>
#include <utility>
#include <vector>

#include "common/log.hpp"
#include "common/systemd.hpp"
#include "config/reload_policy.hpp"
#include "daemon/credentials.hpp"
#include "push/providers.hpp"
#include "pushgate_version.hpp"
#include "store/registration_store.hpp"

namespace pushgate {
namespace {

std::string app_names(const std::vector<AppConfig>& apps) {
  std::string out;
  for (const AppConfig& a : apps) out += (out.empty() ? "" : ",") + a.name;
  return out;
}

}  // namespace

Daemon::Daemon(std::shared_ptr<const Config> config, std::string config_path)
    : config_path_(std::move(config_path)), config_(std::move(config)) {
  const Config& c = *config_;
  if (push_role()) {
    dispatcher_ = std::make_unique<Dispatcher>(c, [this](const std::vector<AppConfig>& apps) {
      return make_providers(loop_, apps, config_->push.queue_size);
    });
    dispatcher_->set_scheduler(
        [this](std::chrono::milliseconds delay, std::function<void()> fn) { loop_.call_after(delay, std::move(fn)); });
    if (c.store.kind != StoreKind::None) open_store();
    session_ = std::make_unique<xmpp::ComponentSession>(loop_, c.component, *dispatcher_, store_.get());
    session_status_ = std::make_unique<SessionStatus>(*session_);
  }
  if (c.legacy_tls.enabled) {
    legacy_tls_ = std::make_unique<legacy::LegacyListener>(loop_, c.legacy_tls);
    legacy_status_ = std::make_unique<LegacyStatus>(*legacy_tls_);
    legacy_tls_->start();
    if (!c.legacy_tls.metrics_listen.empty()) {
      legacy_metrics_ = std::make_unique<api::MetricsServer>(c.legacy_tls.metrics_listen, *legacy_status_);
    }
  } else if (c.legacy_tls_elsewhere) {
    log::info("legacy_tls_off",
              {{"reason", "--only push"}, {"fix", "run the pushgate-legacy-tls unit (--only legacy-tls) for it"}});
  }
  if (push_role() && c.http_enabled) {
    api::Observed observed{
        config_,   dispatcher_.get(), session_status_.get(), legacy_status_.get(), std::chrono::system_clock::now(),
        &reloads_, store_.get()};
    http_api_ = std::make_unique<api::HttpApi>(loop_, c, *dispatcher_, observed);
  } else if (push_role()) {
    log::info("api_off",
              {{"reason", "no [http] section"}, {"fix", "add [http] to serve POST /push, /health and /metrics"}});
  }
  signals_ = std::make_unique<SignalSource>(loop_, [this](int signal) { on_signal(signal); });
}

Daemon::~Daemon() = default;

void Daemon::open_store() {
  const StoreConfig& s = config_->store;
  // Opened (and migrated) here, before the loop runs; from then on only the worker uses it.
  std::unique_ptr<RegistrationStore> opened =
      s.kind == StoreKind::Sqlite ? open_sqlite_store(s.path) : open_postgres_store(s.url);
  // The URL may hold a password: only its host part reaches the log.
  std::string where = s.kind == StoreKind::Sqlite ? s.path : store_url_for_log(s.url);
  std::string registrations;
  try {
    registrations = std::to_string(opened->count());
  } catch (const StoreError& e) {  // a count is not worth failing the start over
    registrations = "unknown (" + std::string(e.what()) + ")";
  }
  log::info("store_open", {{"store", where}, {"registrations", registrations}});
  StoreWorker::Options options;
  options.backend = to_string(s.kind);
  store_ = std::make_unique<StoreWorker>(loop_, std::move(opened), options);
  dispatcher_->set_store(store_.get());
}

int Daemon::run() {
  // The watchdog is fed from the loop, which runs the legacy listener too: a stuck loop stops
  // the pings and systemd restarts the unit.
  watchdog_ = systemd::watchdog_interval();
  if (watchdog_.count() > 0) loop_.call_after(watchdog_, [this] { feed_watchdog(); });
  // systemctl status shows the status line: kept current (connected or not) every 2 s.
  if (std::getenv("NOTIFY_SOCKET") != nullptr) loop_.call_after(std::chrono::seconds(2), [this] { refresh_status(); });

  if (session_) session_->start();
  const Config& c = *config_;
  log::info("started", {{"version", PUSHGATE_VERSION},
                        {"role", to_string(c.role)},
                        {"jid", push_role() ? c.component.jid : "-"},
                        {"apps", std::to_string(push_role() ? c.apps.size() : 0)}});
  // Ready once every listener is bound and every credential loaded; Prosody may still be
  // coming up, which /health shows and the session retries.
  status_sent_ = status();
  systemd::notify("READY=1\n" + status_sent_);
  while (!stopping_ || (in_flight() > 0 && EventLoop::Clock::now() < drain_deadline_)) {
    loop_.run_once(std::chrono::milliseconds(stopping_ ? 50 : 1000));
    if (dispatcher_) dispatcher_->release_retired();
  }
  // Replies for pushes that finished during the drain are written before the stream closes;
  // publishes still waiting get `wait`, so Prosody keeps their registrations.
  loop_.run_once(std::chrono::milliseconds(0));
  std::size_t answered_wait = session_ ? session_->answer_pending("pushgate is shutting down; retry later") : 0;
  http_api_.reset();
  legacy_metrics_.reset();
  legacy_tls_.reset();
  if (session_) session_->shutdown();
  const auto* http = dispatcher_ ? dispatcher_->providers().http.get() : nullptr;
  log::info("stopped", {{"delivered", std::to_string(dispatcher_ ? dispatcher_->count(OutcomeKind::Delivered) : 0)},
                        {"unfinished", std::to_string(in_flight())},
                        {"answered_wait", std::to_string(answered_wait)},
                        {"refused_while_stopping", std::to_string(session_ ? session_->refused_publishes() : 0)},
                        {"replies_lost", std::to_string(session_ ? session_->replies_lost() : 0)},
                        {"http2_connections_opened", std::to_string(http ? http->connections_opened() : 0)}});
  return 0;
}

void Daemon::on_signal(int signal) {
  if (signal == SIGHUP) {
    if (!stopping_) reload();
    return;
  }
  if (stopping_) return;
  stopping_ = true;
  systemd::notify("STOPPING=1\nSTATUS=draining pushes in flight");
  // Stop accepting: no new API requests (those in progress finish during the drain), no new
  // legacy clients, and publishes from now on are answered `wait` at once.
  if (http_api_) http_api_->stop();
  if (legacy_tls_) legacy_tls_->stop_accepting();
  if (session_) session_->refuse_publishes("pushgate is shutting down; retry later");
  drain_deadline_ = EventLoop::Clock::now() + std::chrono::seconds(4);
  log::info("shutdown", {{"signal", signal == SIGTERM ? "SIGTERM" : "SIGINT"},
                         {"in_flight", std::to_string(dispatcher_ ? dispatcher_->in_flight() : 0)}});
}

void Daemon::reload() {
  systemd::notify("RELOADING=1\nSTATUS=reloading " + config_path_);
  auto fresh = std::make_shared<Config>();
  try {
    *fresh = load_config_and_credentials(config_path_, config_->role);
  } catch (const ConfigError& e) {
    refuse_reload(e.what());
    return;
  }
  for (const auto& w : fresh->warnings) log::warn("config_warning", {{"message", w}});
  std::vector<std::string> kept = keep_restart_only(*config_, *fresh);
  std::shared_ptr<SSL_CTX> legacy_ctx;
  if (legacy_tls_) {
    std::string error;
    legacy_ctx = legacy::LegacyListener::prepare_tls(fresh->legacy_tls, error);
    if (!legacy_ctx) {
      refuse_reload("[legacy_tls] " + error);
      return;
    }
  }
  // The last step that can fail (a key that does not load) and the first that changes
  // anything: replace_apps changes nothing when the providers cannot be built.
  if (dispatcher_) {
    try {
      dispatcher_->replace_apps(fresh->apps, [this, &fresh](const std::vector<AppConfig>& apps) {
        return make_providers(loop_, apps, fresh->push.queue_size);
      });
    } catch (const std::exception& e) {
      refuse_reload(e.what());
      return;
    }
  }
  // Nothing can fail from here on: the fresh snapshot replaces the running one, and each part
  // takes what it may change from it.
  if (legacy_tls_) legacy_tls_->use_tls(std::move(legacy_ctx));
  if (session_ && fresh->component.secret != config_->component.secret) {
    log::info("component_secret_changed", {{"action", "used from the next reconnect; the current session stays up"}});
  }
  if (session_) session_->reload(fresh->component);
  config_ = std::move(fresh);
  if (http_api_) http_api_->reload(config_);
  ++reloads_.applied;
  for (const std::string& key : kept) {
    log::warn("reload_needs_restart",
              {{"key", key}, {"action", "kept the running value; restart pushgate to change it"}});
  }
  log::info("reload", {{"config", config_path_},
                       {"result", "applied"},
                       {"apps", push_role() ? app_names(config_->apps) : "-"},
                       {"legacy_tls_certificate", legacy_tls_ ? config_->legacy_tls.cert_file : "-"},
                       {"needs_restart", std::to_string(kept.size())}});
  systemd::notify("READY=1\n" + status());
}

void Daemon::refuse_reload(const std::string& why) {
  ++reloads_.refused;
  log::error("reload_refused", {{"config", config_path_},
                                {"error", why},
                                {"action", "kept the running configuration; fix the file and send SIGHUP again"}});
  systemd::notify("READY=1\n" + status());
}

void Daemon::feed_watchdog() {
  // The loop serves the legacy listener too: a stuck loop stops the pings and systemd
  // restarts the unit.
  systemd::notify("WATCHDOG=1");
  loop_.call_after(watchdog_, [this] { feed_watchdog(); });
}

void Daemon::refresh_status() {
  std::string now = status();
  if (now != status_sent_) systemd::notify(now);
  status_sent_ = now;
  loop_.call_after(std::chrono::seconds(2), [this] { refresh_status(); });
}

std::string Daemon::status() const {
  std::string s = "STATUS=";
  if (session_) {
    const xmpp::SessionRole role = session_->role();
    s += std::string(role == xmpp::SessionRole::Active    ? "connected to"
                     : role == xmpp::SessionRole::Standby ? "standing by (another node serves the JID) at"
                                                          : "connecting to") +
         " Prosody as " + config_->component.jid;
  }
  if (legacy_tls_) s += std::string(session_ ? "; " : "") + "legacy TLS on " + config_->legacy_tls.listen;
  return s;
}

std::size_t Daemon::in_flight() const {
  return (dispatcher_ ? dispatcher_->in_flight() : 0) + (store_ ? store_->pending() : 0);
}

}  // namespace pushgate
