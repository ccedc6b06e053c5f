// The composition root: builds pushgate's parts (dispatcher and providers, store, component
// session, HTTP API, legacy TLS listener) from one immutable Config snapshot, runs the event
// loop, swaps in a new snapshot on SIGHUP and drains on SIGTERM.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "api/http_api.hpp"
#include "api/metrics_server.hpp"
#include "api/status.hpp"
#include "common/event_loop.hpp"
#include "config/config.hpp"
#include "daemon/signal_source.hpp"
#include "daemon/status_adapters.hpp"
#include "legacy/legacy_listener.hpp"
#include "push/dispatcher.hpp"
#include "store/store_worker.hpp"
#include "xmpp/component_session.hpp"

namespace pushgate {

class Daemon {
 public:
  // Builds every part `config` asks for (its role's): listeners are bound, the store opened
  // and migrated, the providers' keys loaded. `config` passed both loading steps
  // (load_config_and_credentials); `config_path` is read again on SIGHUP. Throws
  // std::runtime_error naming the part and the fix when one cannot start (a port in use, a
  // store that does not open). SignalSource::block() must have run.
  Daemon(std::shared_ptr<const Config> config, std::string config_path);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Connects to Prosody, tells systemd it is ready and serves until SIGTERM or SIGINT; then
  // stops accepting, lets pushes in flight finish for up to 4 s, answers the rest `wait` and
  // closes. Returns the exit status (0).
  int run();

 private:
  bool push_role() const { return config_->role != Role::LegacyTls; }
  void open_store();
  void on_signal(int signal);
  // SIGHUP: the whole file again. Everything that can fail is built before anything changes,
  // so an invalid file leaves the running snapshot exactly as it was.
  void reload();
  void refuse_reload(const std::string& why);
  void feed_watchdog();
  void refresh_status();
  // systemd's STATUS= line: the component's connection and the legacy listener's address.
  std::string status() const;
  // Pushes with a provider, and store calls (lookups, registrations) waiting for their answer.
  std::size_t in_flight() const;

  const std::string config_path_;
  std::shared_ptr<const Config> config_;  // the snapshot in force; reload() swaps it
  EventLoop loop_;
  std::unique_ptr<Dispatcher> dispatcher_;  // null for --only legacy-tls
  std::unique_ptr<StoreWorker> store_;      // after the dispatcher, before the session: see ~StoreWorker
  std::unique_ptr<xmpp::ComponentSession> session_;
  std::unique_ptr<SessionStatus> session_status_;  // what /health and /metrics see of the session
  std::unique_ptr<legacy::LegacyListener> legacy_tls_;
  std::unique_ptr<LegacyStatus> legacy_status_;         // what /health and /metrics see of the listener
  std::unique_ptr<api::MetricsServer> legacy_metrics_;  // [legacy_tls] metrics_listen
  api::ReloadCounts reloads_;
  std::unique_ptr<api::HttpApi> http_api_;
  std::unique_ptr<SignalSource> signals_;
  bool stopping_ = false;
  EventLoop::Clock::time_point drain_deadline_ = EventLoop::Clock::time_point::max();
  std::chrono::milliseconds watchdog_{0};  // systemd's WatchdogSec= halved; 0: no watchdog
  std::string status_sent_;
};

}  // namespace pushgate
