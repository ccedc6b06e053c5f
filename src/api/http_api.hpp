// The local HTTP API: POST /push into the same dispatcher as the XMPP component, GET /health
// and GET /metrics. A FrontDoor on the event loop owns the sockets. A POST /push is served on
// the loop itself: its body checked, the dispatcher called, the answer written when the
// outcome arrives, in the bytes httplib would write. Every other request (and a POST /push
// that httplib must read itself) goes to cpp-httplib's request processing on a worker thread,
// whose answer comes back to the loop through EventLoop::post; handlers there never touch the
// pipeline's objects but post work to the loop and wait for its answer.
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
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "api/front_door.hpp"
#include "api/rate_limiter.hpp"
#include "api/status.hpp"
#include "common/event_loop.hpp"
#include "config/config.hpp"
#include "push/dispatcher.hpp"

namespace httplib {
struct Request;
struct Response;
class ThreadPool;
}  // namespace httplib

namespace pushgate::api {

class HttpApi {
 public:
  // Binds [http] listen (plain or TLS/mTLS) and serves on `loop`. Throws std::runtime_error
  // naming the address or file and the fix when it cannot. `observed` is read on the loop;
  // nothing of `config` is referred to once the constructor returns. Everything but the
  // worker threads is on the loop thread, construction and destruction too.
  HttpApi(EventLoop& loop, const Config& config, Dispatcher& dispatcher, Observed observed);
  // With the loop no longer run by its owner: pushes still without an outcome are answered
  // 503, the workers finish and are joined, and the loop is turned (up to a second) until the
  // answers are written out.
  ~HttpApi();
  HttpApi(const HttpApi&) = delete;
  HttpApi& operator=(const HttpApi&) = delete;

  int port() const { return port_; }
  // Stops accepting connections; requests in progress finish. Loop thread.
  void stop();
  // A configuration reload: the push secret, the rate limit, the per-address connection cap
  // and the TLS certificate and key apply from the next request, connection or handshake;
  // /health reports from `fresh`. `fresh` was validated. Loop thread.
  void reload(std::shared_ptr<const Config> fresh);

 private:
  class Engine;  // httplib's routing and request processing, fed by the front door
  // The status and JSON body of a push's answer; called once, on the loop thread.
  using PushReply = std::function<void(int status, std::string json)>;

  void on_request(Request request);
  void to_worker(Request request);
  void take_worker_answers();
  void start_push(std::string_view content_type, std::string_view body, const std::string& client, PushReply reply);
  void end_push(std::uint64_t push, int status, std::string json);
  Answer serve(std::string request, const Peer& peer, bool last);
  void handle_push(const httplib::Request& req, httplib::Response& res);
  void handle_health(httplib::Response& res);
  void handle_metrics(httplib::Response& res);
  void count(const std::string& path, int status);
  std::string api_metrics();
  void apply(const Config& config);

  EventLoop& loop_;
  Dispatcher& dispatcher_;
  Observed observed_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> tls_{nullptr, &SSL_CTX_free};  // null: plain HTTP
  int port_ = 0;
  RateLimiter limiter_;
  // What a reload changes. Loop thread, but for push_wait_ms_, which workers read.
  std::optional<std::string> push_secret_;
  int rate_limit_ = 0;
  std::chrono::milliseconds push_wait_{0};  // the longest a push may take: its deadline and a margin
  std::atomic<std::int64_t> push_wait_ms_{0};
  // The certificate and key a reload loaded; null until one has. Read per handshake.
  std::shared_ptr<struct TlsPair> tls_pair_;

  // Pushes waiting for their outcome, by a number of their own: answered by the dispatcher,
  // by their deadline (504) or at shutdown (503), whichever comes first.
  struct PendingPush {
    PushReply reply;
    EventLoop::TimerId timer = 0;
  };
  std::unordered_map<std::uint64_t, PendingPush> pending_;
  std::uint64_t next_push_ = 1;

  std::mutex counts_mutex_;
  std::map<std::pair<std::string, int>, std::uint64_t> counts_;  // (path, status) → requests
  std::uint64_t rate_limited_ = 0;                               // loop thread
  std::atomic<bool> closing_{false};

  // Answers computed on the workers, waiting for the loop; one post per batch.
  std::mutex worker_answers_mutex_;
  std::vector<std::pair<std::uint64_t, Answer>> worker_answers_;
  std::unique_ptr<httplib::ThreadPool> workers_;
  std::unique_ptr<FrontDoor> front_;
  // Callbacks that may outlive this object (the dispatcher's, the loop's posts) hold it weakly.
  std::shared_ptr<HttpApi*> alive_ = std::make_shared<HttpApi*>(this);
};

}  // namespace pushgate::api
