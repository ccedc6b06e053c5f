// GET /metrics and GET /health for a process without the HTTP API: the legacy TLS listener
// run alone (--only legacy-tls) with [legacy_tls] metrics_listen. Its own small thread pool;
// handlers read only the listener's thread-safe counters and certificate expiry, through ListenerStatus.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "api/status_sources.hpp"

namespace httplib {
class Server;
}

namespace pushgate::api {

class MetricsServer {
 public:
  // Binds `listen` (host:port). Throws std::runtime_error naming the address and the fix.
  MetricsServer(const std::string& listen, const ListenerStatus& legacy);
  ~MetricsServer();  // stops and joins
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;
  int port() const { return port_; }

 private:
  const ListenerStatus& legacy_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  std::chrono::system_clock::time_point started_ = std::chrono::system_clock::now();
};

}  // namespace pushgate::api
