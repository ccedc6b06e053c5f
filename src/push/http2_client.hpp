// An HTTP/2 client on the event loop's libcurl multi handle: requests to one origin share a
// few long-lived connections and are multiplexed within the server's MAX_CONCURRENT_STREAMS;
// libcurl queues what does not fit. Completions are delivered on the loop thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <unordered_set>
#include <string>
#include <utility>
#include <vector>

#include <curl/curl.h>

#include "common/event_loop.hpp"

namespace pushgate {

struct Http2Request {
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // sent as POST
  std::chrono::milliseconds timeout{10000};
  std::string ca_file;  // empty: the system's CA store
};

struct Http2Response {
  CURLcode transport = CURLE_OK;  // not OK: no usable HTTP answer (connection, TLS, timeout, GOAWAY…)
  std::string transport_error;    // libcurl's words for it
  long status = 0;
  std::string body;
  bool http2 = false;             // the answer came over HTTP/2
  std::chrono::microseconds elapsed{0};
};

struct Http2ClientOptions {
  long max_connections = 2;  // per host
};

// One per event loop: it is the only reader of the loop's libcurl completion messages.
class Http2Client final : public IoSource {
 public:
  using Done = std::function<void(Http2Response)>;

  Http2Client(EventLoop& loop, Http2ClientOptions options);
  ~Http2Client() override;
  Http2Client(const Http2Client&) = delete;
  Http2Client& operator=(const Http2Client&) = delete;

  // Starts the request; `done` runs exactly once on the loop thread, never inside submit().
  void submit(Http2Request request, Done done);

  // Streams we open per connection at most (the server may allow fewer).
  static constexpr long kStreamsPerConnection = 100;

  std::size_t in_flight() const { return in_flight_; }
  std::size_t waiting() const { return waiting_.size(); }
  std::size_t window() const { return window_; }
  std::uint64_t connections_opened() const { return connections_opened_; }

  void collect_fds(std::vector<curl_waitfd>&) override {}  // libcurl's own sockets are polled by the loop
  void on_turn() override;

 private:
  struct Transfer;
  void start(Http2Request request, Done done);
  // Reports a transfer that never reached libcurl as failed, on the next loop turn.
  void fail_later(std::unique_ptr<Transfer> t, CURLcode code, std::string why);
  static std::size_t on_body(char* data, std::size_t size, std::size_t n, void* user);
  static int on_open_socket_count(void* clientp, curl_socket_t, curlsocktype);

  EventLoop& loop_;
  Http2ClientOptions options_;
  std::vector<CURL*> idle_handles_;  // reused: keeps TLS session and connection affinity
  std::unordered_set<Transfer*> live_;  // in libcurl's hands; freed unanswered at destruction
  std::size_t in_flight_ = 0;
  std::size_t max_active_ = 200;
  // Streams handed to libcurl at once. libcurl sends new streams before the server's SETTINGS
  // arrive and answers each REFUSED_STREAM with a new connection, so we start with one stream
  // (until a connection has sent its SETTINGS), widen by one per answered stream, and halve when a connection had to be
  // replaced (slow start, as TCP does).
  std::size_t window_ = 1;
  std::deque<std::pair<Http2Request, Done>> waiting_;  // bounded by the dispatcher's queue_size
  std::uint64_t connections_opened_ = 0;
};

}  // namespace pushgate
