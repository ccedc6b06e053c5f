// An HTTP/2-over-TLS client on the event loop, knowing nothing of what it carries: per
// origin (host, port, CA) a few long-lived connections, requests multiplexed within each
// server's MAX_CONCURRENT_STREAMS, the rest queued in order. Built on nghttp2 directly (see
// BENCHMARKS.md for why not libcurl). Completions are delivered on the loop thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/event_loop.hpp"
#include "http2/connection.hpp"

namespace pushgate {

struct Http2ClientOptions {
  std::size_t max_connections = 2;  // per origin
  H2ConnectionOptions connection;
  // "host:port" → numeric addresses used instead of looking the name up, in that order (as
  // curl's --resolve). For tests that need a name with several addresses.
  std::unordered_map<std::string, std::vector<std::string>> resolve;
};

// An https URL taken apart; nullopt-like `ok == false` for anything else.
struct HttpsUrl {
  bool ok = false;
  std::string host;       // without brackets for IPv6
  std::string port;       // "443" when absent
  std::string authority;  // as written: host[:port]
  std::string path;       // "/" when absent
};
HttpsUrl parse_https_url(std::string_view url);

class Http2Client final : private H2Connection::Listener {
 public:
  using Done = Http2Done;

  Http2Client(EventLoop& loop, Http2ClientOptions options);
  ~Http2Client() override;  // requests still open are dropped unanswered
  Http2Client(const Http2Client&) = delete;
  Http2Client& operator=(const Http2Client&) = delete;

  // Sends the request; `done` runs exactly once on the loop thread, never inside submit():
  // with the answer, or with the failure that kept it from one.
  void submit(Http2Request request, Done done);

  std::size_t in_flight() const { return live_.size(); }
  std::uint64_t connections_opened() const { return connections_opened_; }
  std::uint64_t requeued() const { return requeued_; }
  std::uint64_t goaways() const { return goaways_; }
  std::uint64_t pings_sent() const { return pings_sent_; }

  struct OriginStatus {
    std::string origin;  // host:port
    std::size_t connections = 0;  // open or opening
    std::size_t streams = 0;      // requests on the wire
    std::size_t waiting = 0;      // requests queued for a stream
    std::string last_error;       // the last connection failure, empty when none since the last success
  };
  std::vector<OriginStatus> status() const;


 private:
  struct Origin;
  struct Resolved;
  void on_exchange_done(H2Exchange* ex, bool unprocessed) override;
  void on_connection_io() override { schedule_service(); }
  // Runs service() once at the end of this loop turn, however many events asked for it.
  void schedule_service();
  // Lets each connection read, write and check its timers, drops closed ones, hands queued
  // requests to connections, writes them, and delivers the finished exchanges. While any
  // connection is open it runs again when the first of their timers is due (connect
  // timeouts, PINGs), and at least every second (a backoff ending).
  void service();
  Origin* origin_for(const HttpsUrl& url, const std::string& ca_file);
  void pump(Origin& o);
  void open_connection(Origin& o);
  void start_resolve(Origin& o);
  void sweep(Origin& o, std::chrono::steady_clock::time_point now);
  void fail_pending(Origin& o);
  void on_timeout(H2Exchange* ex);
  // Takes `ex` out of the live set and queues its `done` for the end of this turn.
  void complete(H2Exchange* ex);
  void deliver();

  EventLoop& loop_;
  Http2ClientOptions options_;
  std::unordered_map<std::string, std::unique_ptr<Origin>> origins_;
  std::unordered_map<H2Exchange*, std::unique_ptr<H2Exchange>> live_;
  std::vector<std::unique_ptr<H2Exchange>> completed_;
  bool dirty_ = false;  // requests queued into a session since the last write
  bool service_scheduled_ = false;
  EventLoop::TimerId tick_ = 0;
  std::chrono::steady_clock::time_point tick_at_{};
  bool shutting_down_ = false;
  // Lets a name lookup that outlives us see that we are gone.
  struct Gate {
    bool alive = true;
  };
  std::shared_ptr<Gate> gate_ = std::make_shared<Gate>();
  std::uint64_t connections_opened_ = 0;
  std::uint64_t requeued_ = 0;
  std::uint64_t goaways_ = 0;
  std::uint64_t pings_sent_ = 0;
};

}  // namespace pushgate
