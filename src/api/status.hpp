// What /health and /metrics report, built on the loop thread from the live objects: the
// dispatcher's per-app stats, the HTTP/2 client and the token sources, the store, and the
// component session and legacy listener through their status interfaces
// (api/status_sources.hpp). The API's worker threads ask for these through EventLoop::post().
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "api/status_sources.hpp"
#include "config/config.hpp"
#include "push/dispatcher.hpp"
#include "push/providers.hpp"
#include "store/store_worker.hpp"

namespace pushgate::api {

// Configuration reloads (SIGHUP) since start.
struct ReloadCounts {
  std::uint64_t applied = 0;
  std::uint64_t refused = 0;  // the new configuration was invalid; the old one stayed
};

struct Observed {
  // The configuration snapshot in force (the component's jid); the apps come from the
  // dispatcher. A reload swaps it (HttpApi::reload).
  std::shared_ptr<const Config> config;
  const Dispatcher* dispatcher = nullptr;
  const ComponentStatus* component = nullptr;  // may be null (tests)
  const ListenerStatus* legacy = nullptr;      // null when [legacy_tls] is off
  std::chrono::system_clock::time_point started;
  const ReloadCounts* reloads = nullptr;  // may be null (tests)
  const StoreWorker* store = nullptr;     // null without a [store]
  // The notAfter (epoch seconds) of the [http] tls_cert the API presents; 0 for plain HTTP.
  // HttpApi keeps it current across reloads in its own copy.
  std::int64_t http_certificate_not_after = 0;
};

// /health: ok (every app's provider answering, component connected, the store answering),
// standby (as ok, but Prosody refused the component with `conflict`: another pushgate node
// serves the JID and this one takes over when it is gone; the HTTP API serves here),
// degraded (some app failing or misconfigured, the component neither connected nor standing
// by, or the store failing or not answering: registered devices get no pushes), down (no app
// can deliver). degraded and down win over standby.
struct Health {
  std::string status;  // "ok" | "standby" | "degraded" | "down"
  int http_status;     // 200 for ok, standby and degraded, 503 for down
  std::string json;
};
Health health(const Observed& o);

// /metrics in Prometheus text format (the loop-side families; the API adds its own).
std::string metrics_text(const Observed& o);

// RFC 3339 UTC with milliseconds, or "" for the epoch (never happened).
std::string iso_time(std::chrono::system_clock::time_point t);

}  // namespace pushgate::api
