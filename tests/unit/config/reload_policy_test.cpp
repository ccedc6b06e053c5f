// Tests for src/config/reload_policy.cpp: which keys a reload keeps until a restart, and that
// the rest of a fresh configuration passes through.
#include "config/reload_policy.hpp"

#include <doctest/doctest.h>

using namespace pushgate;

namespace {
Config running_config() {
  Config c;
  c.component.jid = "push.example.org";
  c.component.secret = "old-secret";
  c.http_enabled = true;
  c.http.push_secret = "old-push";
  c.http.tls_cert = "/etc/pushgate/api.pem";
  c.http.tls_key = "/etc/pushgate/api.key";
  c.store.kind = StoreKind::Sqlite;
  c.store.path = "/var/lib/pushgate/pushgate.db";
  AppConfig app;
  app.name = "ios";
  c.apps = {app};
  c.legacy_tls.enabled = true;
  c.legacy_tls.backend = "127.0.0.1:5200";
  c.legacy_tls.cert_file = "/etc/pushgate/legacy.pem";
  return c;
}
}  // namespace

TEST_CASE("a reload that changes only reloadable keys keeps nothing") {
  Config running = running_config();
  Config fresh = running;
  fresh.component.secret = "new-secret";
  fresh.component.ping_interval_seconds = 30;
  fresh.http.push_secret = "new-push";
  fresh.http.rate_limit = 5;
  fresh.http.max_connections_per_address = 4;
  fresh.http.tls_cert = "/etc/pushgate/api-renewed.pem";  // HTTPS stays on: a new certificate applies
  fresh.http.tls_key = "/etc/pushgate/api-renewed.key";
  fresh.apps[0].environment = ApnsEnvironment::Sandbox;
  fresh.apps.push_back(fresh.apps[0]);
  fresh.apps[1].name = "android";
  fresh.legacy_tls.cert_file = "/etc/pushgate/legacy-renewed.pem";
  fresh.legacy_tls.min_version = TlsVersion::Tls1_2;
  fresh.legacy_tls.ciphers = "HIGH";
  CHECK(keep_restart_only(running, fresh).empty());
  CHECK(fresh.component.secret == "new-secret");
  CHECK(fresh.component.ping_interval_seconds == 30);
  CHECK(fresh.http.push_secret == "new-push");
  CHECK(fresh.http.rate_limit == 5);
  CHECK(fresh.http.tls_cert == "/etc/pushgate/api-renewed.pem");
  CHECK(fresh.apps.size() == 2);
  CHECK(fresh.apps[0].environment == ApnsEnvironment::Sandbox);
  CHECK(fresh.legacy_tls.cert_file == "/etc/pushgate/legacy-renewed.pem");
  CHECK(fresh.legacy_tls.min_version == TlsVersion::Tls1_2);
}

TEST_CASE("restart-only keys are named in the file's order and keep their running values") {
  Config running = running_config();
  Config fresh = running;
  fresh.component.jid = "other.example.org";
  fresh.component.host = "10.0.0.1";
  fresh.component.port = 5348;
  fresh.http.listen = "127.0.0.1:6000";
  fresh.http.client_ca = "/etc/pushgate/ca.pem";
  fresh.store.kind = StoreKind::Postgresql;
  fresh.store.path.clear();
  fresh.store.url = "postgresql://db.example.org/pushgate";
  fresh.push.queue_size = 5;
  fresh.legacy_tls.listen = "0.0.0.0:5223";
  fresh.legacy_tls.backend = "127.0.0.1:5222";
  fresh.legacy_tls.backend_mode = BackendMode::Starttls;
  fresh.legacy_tls.domains = {"example.org"};
  fresh.legacy_tls.proxy_protocol = ProxyProtocol::V2;
  fresh.legacy_tls.max_connections = 10;
  fresh.legacy_tls.pre_tls_bytes = 1024;
  fresh.legacy_tls.pre_tls_seconds = 3;
  fresh.legacy_tls.idle_timeout = 60;
  fresh.legacy_tls.metrics_listen = "127.0.0.1:5282";
  fresh.legacy_tls.cert_file = "/etc/pushgate/legacy-renewed.pem";  // reloadable, alongside
  std::vector<std::string> kept = keep_restart_only(running, fresh);
  CHECK(kept == std::vector<std::string>{
                    "[component] jid", "[component] host", "[component] port", "[http] listen", "[http] client_ca",
                    "[store] path", "[store] url", "[push] queue_size", "[legacy_tls] listen", "[legacy_tls] backend",
                    "[legacy_tls] backend_mode", "[legacy_tls] domains", "[legacy_tls] proxy_protocol",
                    "[legacy_tls] max_connections", "[legacy_tls] pre_tls_bytes", "[legacy_tls] pre_tls_seconds",
                    "[legacy_tls] idle_timeout", "[legacy_tls] metrics_listen"});
  CHECK(fresh.component.jid == "push.example.org");
  CHECK(fresh.component.port == 5347);
  CHECK(fresh.http.listen == running.http.listen);
  CHECK(fresh.http.client_ca.empty());
  CHECK(fresh.store.kind == StoreKind::Sqlite);
  CHECK(fresh.store.path == running.store.path);
  CHECK(fresh.store.url.empty());
  CHECK(fresh.push.queue_size == 10000);
  CHECK(fresh.legacy_tls.backend_mode == BackendMode::Plain);
  CHECK(fresh.legacy_tls.proxy_protocol == ProxyProtocol::Off);
  CHECK(fresh.legacy_tls.domains.empty());
  CHECK(fresh.legacy_tls.metrics_listen.empty());
  CHECK(fresh.legacy_tls.cert_file == "/etc/pushgate/legacy-renewed.pem");
}

TEST_CASE("adding or removing [http], HTTPS or [legacy_tls] waits for a restart") {
  Config running = running_config();
  Config fresh = running;
  fresh.http_enabled = false;
  fresh.http.tls_cert.clear();
  fresh.http.tls_key.clear();
  fresh.legacy_tls.enabled = false;
  CHECK(keep_restart_only(running, fresh) == std::vector<std::string>{"[http] (added or removed)",
                                                                      "[http] tls_cert (HTTPS on or off)",
                                                                      "[legacy_tls] (added or removed)"});
  CHECK(fresh.http_enabled);
  CHECK(fresh.http.tls_cert == "/etc/pushgate/api.pem");
  CHECK(fresh.http.tls_key == "/etc/pushgate/api.key");
  CHECK(fresh.legacy_tls.enabled);
}
