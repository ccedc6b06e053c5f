// /health and /metrics from the live state.
#include "api/status.hpp"

#include <ctime>
#include <optional>

#include <nlohmann/json.hpp>

#include "api/expiry_metrics.hpp"
#include "common/metrics.hpp"
#include "pushgate_version.hpp"

namespace pushgate::api {
namespace {

nlohmann::json time_or_null(std::chrono::system_clock::time_point t) {
  std::string s = iso_time(t);
  return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s);
}

}  // namespace

const char* to_string(ComponentRole role) {
  switch (role) {
    case ComponentRole::Active: return "active";
    case ComponentRole::Standby: return "standby";
    case ComponentRole::Connecting: break;
  }
  return "connecting";
}

ComponentRole effective_role(const ComponentState& state) {
  if (state.connected) return ComponentRole::Active;
  return state.role == ComponentRole::Standby ? ComponentRole::Standby : ComponentRole::Connecting;
}

std::string iso_time(std::chrono::system_clock::time_point t) {
  if (t.time_since_epoch().count() == 0) return "";
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

Health health(const Observed& o) {
  const Config& cfg = *o.config;
  const std::vector<AppConfig>& apps_cfg = o.dispatcher->apps();
  const auto& stats = o.dispatcher->app_stats();
  nlohmann::json apps = nlohmann::json::array();
  std::size_t failing = 0;
  bool operator_error = false;
  for (std::size_t i = 0; i < apps_cfg.size(); ++i) {
    const AppStats& st = stats[i];
    bool reachable = st.consecutive_failures == 0;
    if (!reachable) ++failing;
    if (!reachable && st.last_error_operator) operator_error = true;
    apps.push_back({{"name", apps_cfg[i].name},
                    {"service", pushgate::to_string(apps_cfg[i].service)},
                    {"reachable", reachable},
                    {"consecutive_failures", st.consecutive_failures},
                    {"last_success", time_or_null(st.last_success)},
                    {"last_error", st.last_error.empty() ? nlohmann::json(nullptr) : nlohmann::json(st.last_error)},
                    {"last_error_at", time_or_null(st.last_error_at)}});
  }
  ComponentState component = o.component != nullptr ? o.component->component_state() : ComponentState{};
  bool connected = component.connected;
  ComponentRole role = effective_role(component);
  std::optional<StoreWorker::Health> store;
  if (o.store != nullptr) store = o.store->health();
  Health h;
  if (!apps_cfg.empty() && failing == apps_cfg.size()) {
    h.status = "down";
  } else if (failing > 0 || role == ComponentRole::Connecting || (store && !store->up)) {
    h.status = "degraded";
  } else if (role == ComponentRole::Standby) {
    h.status = "standby";  // healthy, ready to take over: another node serves the JID
  } else {
    h.status = "ok";
  }
  h.http_status = h.status == "down" ? 503 : 200;
  nlohmann::json j = {
      {"status", h.status},
      {"version", PUSHGATE_VERSION},
      {"uptime_seconds",
       std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now() - o.started).count()},
      {"component",
       {{"jid", cfg.component.jid},
        {"connected", connected},
        {"role", to_string(role)},
        {"since", connected ? time_or_null(component.since) : nlohmann::json(nullptr)},
        {"standby_since",
         role == ComponentRole::Standby ? time_or_null(component.standby_since) : nlohmann::json(nullptr)},
        {"reconnects", component.reconnects}}},
      {"queue", {{"in_flight", o.dispatcher->in_flight()}, {"capacity", o.dispatcher->capacity()}}},
      {"apps", apps}};
  if (store) {
    j["store"] = {{"backend", o.store->backend()},
                  {"up", store->up},
                  {"error", store->up ? nlohmann::json(nullptr) : nlohmann::json(store->cause)},
                  {"down_since", store->up ? nlohmann::json(nullptr) : time_or_null(store->since)},
                  {"queue", {{"pending", o.store->pending()}, {"capacity", o.store->capacity()}}}};
    if (!store->up) {
      j["hint"] = "the registration store is down (" + store->cause +
                  "): publishes to registered devices and registrations are answered wait until it is back";
    }
  }
  if (h.status == "standby") {
    j["hint"] = "another pushgate node serves " + cfg.component.jid +
                " at Prosody; this one takes over within about a second once that one is gone. The HTTP API "
                "serves here meanwhile";
  }
  if (operator_error) j["hint"] = "an app fails with an operator error: see its last_error and the fix in the log";
  h.json = j.dump();
  return h;
}

std::string metrics_text(const Observed& o) {
  const Dispatcher& d = *o.dispatcher;
  const std::vector<AppConfig>& apps_cfg = d.apps();
  const ProviderSet* providers = &d.providers();
  metrics::Writer w;
  w.family("pushgate_build_info", "gauge", "Version of this pushgate.");
  w.sample("pushgate_build_info", {{"version", PUSHGATE_VERSION}}, std::uint64_t{1});
  w.family("pushgate_uptime_seconds", "gauge", "Seconds since start.");
  w.sample("pushgate_uptime_seconds", {},
           std::chrono::duration<double>(std::chrono::system_clock::now() - o.started).count());

  static constexpr OutcomeKind kOutcomes[] = {
      OutcomeKind::Delivered, OutcomeKind::Coalesced, OutcomeKind::TokenDead,  OutcomeKind::UnknownNode,
      OutcomeKind::Forbidden, OutcomeKind::BadRequest, OutcomeKind::Retry,     OutcomeKind::QueueFull,
      OutcomeKind::OperatorError};
  static constexpr PushKind kKinds[] = {PushKind::Alert, PushKind::Voip, PushKind::Background};
  w.family("pushgate_pushes_total", "counter", "Pushes finished, by app, service, kind and outcome.");
  for (std::size_t i = 0; i < apps_cfg.size(); ++i) {
    const AppStats& st = d.app_stats()[i];
    for (PushKind k : kKinds) {
      for (OutcomeKind oc : kOutcomes) {
        w.sample("pushgate_pushes_total",
                 {{"app", apps_cfg[i].name}, {"service", pushgate::to_string(apps_cfg[i].service)}, {"kind", to_string(k)},
                  {"outcome", to_string(oc)}},
                 st.pushes[static_cast<std::size_t>(k)][static_cast<std::size_t>(oc)]);
      }
    }
  }
  w.family("pushgate_pushes_refused_total", "counter",
           "Pushes refused before an app was settled (wrong secret, unknown app or type), by outcome.");
  for (OutcomeKind oc : {OutcomeKind::Forbidden, OutcomeKind::BadRequest, OutcomeKind::UnknownNode}) {
    w.sample("pushgate_pushes_refused_total", {{"outcome", to_string(oc)}}, d.unresolved()[static_cast<std::size_t>(oc)]);
  }
  w.family("pushgate_provider_latency_seconds", "histogram",
           "Time from dispatch to the provider's final answer, retries included.");
  for (std::size_t i = 0; i < apps_cfg.size(); ++i) {
    d.app_stats()[i].latency.write(w, "pushgate_provider_latency_seconds",
                                   {{"app", apps_cfg[i].name}, {"service", pushgate::to_string(apps_cfg[i].service)}});
  }
  w.family("pushgate_provider_retries_total", "counter", "Attempts repeated after a failure (429, 5xx, lost connection).");
  w.family("pushgate_app_consecutive_failures", "gauge", "Provider failures in a row per app; 0 when it answers.");
  const ProviderCounters counters = d.provider_counters();  // since start, across reloads
  for (std::size_t i = 0; i < apps_cfg.size(); ++i) {
    auto it = counters.retries.find(apps_cfg[i].name);
    w.sample("pushgate_provider_retries_total", {{"app", apps_cfg[i].name}}, it != counters.retries.end() ? it->second : 0);
  }
  for (std::size_t i = 0; i < apps_cfg.size(); ++i) {
    w.sample("pushgate_app_consecutive_failures", {{"app", apps_cfg[i].name}}, d.app_stats()[i].consecutive_failures);
  }
  std::vector<ProviderToken> tokens;
  for (std::size_t i = 0; i < apps_cfg.size(); ++i) {
    if (apps_cfg[i].service != ServiceKind::Apns && apps_cfg[i].service != ServiceKind::Fcm) continue;
    auto it = counters.token_failures.find(apps_cfg[i].name);
    tokens.push_back({apps_cfg[i].name, pushgate::to_string(apps_cfg[i].service), d.provider(i).token_expires_at(),
                      it != counters.token_failures.end() ? it->second : 0});
  }
  write_provider_tokens(w, tokens);
  w.family("pushgate_pushes_coalesced_total", "counter", "Pushes answered Coalesced by the throttle (a trailing push follows).");
  w.sample("pushgate_pushes_coalesced_total", {}, d.coalesced());
  w.family("pushgate_dead_token_hits_total", "counter", "Token-as-node pushes answered TokenDead from the dead-token list.");
  w.sample("pushgate_dead_token_hits_total", {}, d.dead_token_hits());
  w.family("pushgate_queue_depth", "gauge", "Pushes in flight (dispatched, not yet answered).");
  w.sample("pushgate_queue_depth", {}, static_cast<std::uint64_t>(d.in_flight()));
  w.family("pushgate_queue_capacity", "gauge", "Pushes in flight at most ([push] queue_size).");
  w.sample("pushgate_queue_capacity", {}, static_cast<std::uint64_t>(d.capacity()));

  if (providers != nullptr && providers->http) {
    const Http2Client& h = *providers->http;
    auto origins = h.status();
    w.family("pushgate_http2_connections", "gauge", "Open or opening HTTP/2 connections per provider origin.");
    for (const auto& s : origins) w.sample("pushgate_http2_connections", {{"origin", s.origin}}, std::uint64_t{s.connections});
    w.family("pushgate_http2_streams", "gauge", "Requests on the wire per provider origin.");
    for (const auto& s : origins) w.sample("pushgate_http2_streams", {{"origin", s.origin}}, std::uint64_t{s.streams});
    w.family("pushgate_http2_waiting", "gauge", "Requests waiting for a stream per provider origin.");
    for (const auto& s : origins) w.sample("pushgate_http2_waiting", {{"origin", s.origin}}, std::uint64_t{s.waiting});
  }
  w.family("pushgate_http2_connections_opened_total", "counter", "HTTP/2 connections opened to providers.");
  w.sample("pushgate_http2_connections_opened_total", {}, counters.connections_opened);
  w.family("pushgate_http2_goaways_total", "counter", "GOAWAY frames received from providers.");
  w.sample("pushgate_http2_goaways_total", {}, counters.goaways);
  w.family("pushgate_http2_requeued_total", "counter", "Requests a provider refused unprocessed and that were sent again.");
  w.sample("pushgate_http2_requeued_total", {}, counters.requeued);
  w.family("pushgate_apns_token_mints_total", "counter", "APNs provider tokens signed, per team and key.");
  for (const auto& [key, n] : counters.token_mints) w.sample("pushgate_apns_token_mints_total", {{"key", key}}, n);
  w.family("pushgate_fcm_token_fetches_total", "counter", "FCM OAuth2 access tokens fetched, per project.");
  for (const auto& [project, n] : counters.token_fetches) {
    w.sample("pushgate_fcm_token_fetches_total", {{"project", project}}, n);
  }
  w.family("pushgate_component_connected", "gauge", "1 while the XEP-0114 session with Prosody is up.");
  ComponentState component = o.component != nullptr ? o.component->component_state() : ComponentState{};
  w.sample("pushgate_component_connected", {}, std::uint64_t{component.connected ? 1u : 0u});
  w.family("pushgate_component_role", "gauge",
           "1 for the role this process has at Prosody: active (serves the component JID), standby (another "
           "node serves it; this one takes over when it is gone) or connecting.");
  const ComponentRole role = effective_role(component);
  for (ComponentRole r : {ComponentRole::Active, ComponentRole::Standby, ComponentRole::Connecting}) {
    w.sample("pushgate_component_role", {{"role", to_string(r)}}, std::uint64_t{r == role ? 1u : 0u});
  }
  w.family("pushgate_component_reconnects_total", "counter", "Component sessions re-established after a loss.");
  w.sample("pushgate_component_reconnects_total", {}, component.reconnects);
  if (o.reloads != nullptr) {
    w.family("pushgate_config_reloads_total", "counter",
             "Configuration reloads (SIGHUP): applied, or refused because the new file was invalid.");
    w.sample("pushgate_config_reloads_total", {{"result", "applied"}}, o.reloads->applied);
    w.sample("pushgate_config_reloads_total", {{"result", "refused"}}, o.reloads->refused);
  }
  std::vector<PresentedCertificate> certificates{{"http", o.http_certificate_not_after}};
  if (o.legacy != nullptr) certificates.push_back({"legacy_tls", o.legacy->certificate_not_after()});
  write_certificate_expiry(w, certificates);
  if (o.store != nullptr) o.store->write_metrics(w);
  if (o.legacy != nullptr) o.legacy->write_metrics(w);
  return w.text();
}

}  // namespace pushgate::api
