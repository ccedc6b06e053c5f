// The legacy listener's own /metrics and /health on cpp-httplib.
#include "api/metrics_server.hpp"

#include <httplib.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "api/expiry_metrics.hpp"
#include "common/log.hpp"
#include "common/metrics.hpp"
#include "config/config.hpp"
#include "pushgate_version.hpp"

namespace pushgate::api {

MetricsServer::MetricsServer(const std::string& listen, const ListenerStatus& legacy)
    : legacy_(legacy), server_(std::make_unique<httplib::Server>()) {
  httplib::Server& srv = *server_;
  srv.new_task_queue = [] { return new httplib::ThreadPool(2); };
  srv.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    metrics::Writer w;
    w.family("pushgate_build_info", "gauge", "Version of this pushgate.");
    w.sample("pushgate_build_info", {{"version", PUSHGATE_VERSION}}, std::uint64_t{1});
    w.family("pushgate_uptime_seconds", "gauge", "Seconds since start.");
    w.sample("pushgate_uptime_seconds", {},
             std::chrono::duration<double>(std::chrono::system_clock::now() - started_).count());
    legacy_.write_metrics(w);
    write_certificate_expiry(w, {{"legacy_tls", legacy_.certificate_not_after()}});
    res.set_content(w.text(), "text/plain; version=0.0.4");
  });
  srv.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    // A stuck event loop is the watchdog's to catch: systemd restarts the unit.
    res.set_content(nlohmann::json{{"status", "ok"}, {"version", PUSHGATE_VERSION}, {"legacy_tls", {{"port", legacy_.port()}}}}
                        .dump(),
                    "application/json");
  });
  std::string host, port;
  if (!split_host_port(listen, host, port))
    throw std::runtime_error("[legacy_tls] metrics_listen '" + listen + "' is not host:port");
  port_ = std::stoi(port);  // digits up to 65535: checked when the configuration was read
  if (port_ == 0 ? (port_ = srv.bind_to_any_port(host)) <= 0 : !srv.bind_to_port(host, port_)) {
    throw std::runtime_error("[legacy_tls] cannot listen on metrics_listen " + listen + ": " + std::strerror(errno) +
                             "; is another program on that port? ([http] listen of the push unit?) pick a free one");
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  log::info("metrics_listening",
            {{"address", host + ":" + std::to_string(port_)}, {"serves", "GET /metrics, GET /health"}});
}

MetricsServer::~MetricsServer() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace pushgate::api
