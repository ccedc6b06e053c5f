// The restart-only keys of the configuration and how a reload keeps them.
#include "config/reload_policy.hpp"

namespace pushgate {

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
  // The certificate and key may change (the API reloads them); HTTPS on or off may not.
  if (fresh.http.tls_cert.empty() != running.http.tls_cert.empty()) {
    kept.push_back("[http] tls_cert (HTTPS on or off)");
    fresh.http.tls_cert = running.http.tls_cert;
    fresh.http.tls_key = running.http.tls_key;
  }
  keep("[store] path", fresh.store.path, running.store.path);
  keep("[store] url", fresh.store.url, running.store.url);
  fresh.store.kind = running.store.kind;  // follows path and url, named above
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

}  // namespace pushgate
