// The local HTTP API: POST /push into the same dispatcher as the XMPP component, GET /health
// and GET /metrics. A FrontDoor owns the sockets and hands cpp-httplib's request processing
// only complete requests, on its workers. Handlers never touch the pipeline's objects; they
// post work to the event loop and wait for its answer.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "api/front_door.hpp"
#include "api/rate_limiter.hpp"
#include "api/status.hpp"
#include "common/event_loop.hpp"
#include "config/config.hpp"
#include "push/dispatcher.hpp"

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace pushgate::api {

class HttpApi {
 public:
  // Binds [http] listen (plain or TLS/mTLS) and starts serving. Throws std::runtime_error
  // naming the address or file and the fix when it cannot. `observed` is read on the loop;
  // nothing of `config` is referred to once the constructor returns.
  HttpApi(EventLoop& loop, const Config& config, Dispatcher& dispatcher, Observed observed);
  ~HttpApi();  // stops and joins
  HttpApi(const HttpApi&) = delete;
  HttpApi& operator=(const HttpApi&) = delete;

  int port() const { return port_; }
  // Stops accepting connections; requests in progress finish. Thread-safe.
  void stop();
  // A configuration reload: the push secret, the rate limit, the per-address connection cap
  // and the TLS certificate and key apply from the next request, connection or handshake;
  // /health reports from `fresh`. `fresh` was validated. Loop thread.
  void reload(std::shared_ptr<const Config> fresh);

 private:
  class Engine;  // httplib's routing and request processing, fed by the front door
  Answer serve(std::string request, const Peer& peer, bool last);
  void handle_push(const httplib::Request& req, httplib::Response& res);
  void handle_health(httplib::Response& res);
  void handle_metrics(httplib::Response& res);
  void count(const std::string& path, int status);
  std::string api_metrics();

  EventLoop& loop_;
  Dispatcher& dispatcher_;
  Observed observed_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> tls_{nullptr, &SSL_CTX_free};  // null: plain HTTP
  int port_ = 0;
  RateLimiter limiter_;
  // What a reload changes, read by the worker threads.
  struct Settings {
    std::optional<std::string> push_secret;
    int rate_limit = 0;
    std::chrono::milliseconds push_wait{0};  // the longest a push may take: its deadline and a margin
  };
  Settings settings() const;
  void apply(const Config& config);
  mutable std::mutex settings_mutex_;
  Settings settings_;
  // The certificate and key a reload loaded; null until one has. Read per handshake.
  std::shared_ptr<struct TlsPair> tls_pair_;
  std::mutex counts_mutex_;
  std::map<std::pair<std::string, int>, std::uint64_t> counts_;  // (path, status) → requests
  std::atomic<std::uint64_t> rate_limited_{0};
  std::atomic<bool> closing_{false};
  std::unique_ptr<FrontDoor> front_;  // last: its workers are joined before the rest goes
};

}  // namespace pushgate::api
