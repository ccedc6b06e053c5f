// The API's front door on the daemon's event loop: the listening socket and every connection
// are FdWatch'es, deadlines are loop timers, TLS handshakes, reads and writes are non-blocking.
// It hands on only a complete request and writes the answer it is given back, on the loop or
// later. Idle or slow clients hold a connection slot, never a thread, and every slot has a
// deadline.
#pragma once

#include <openssl/ssl.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "api/api_connection.hpp"
#include "api/head_scanner.hpp"
#include "common/event_loop.hpp"
#include "common/metrics.hpp"

namespace pushgate::api {

struct FrontDoorLimits {
  HeadLimits head;                                         // 16 KiB, 100 fields: else 431
  std::size_t max_body = 16 * 1024;                        // a larger Content-Length: 413
  std::chrono::milliseconds request_deadline{5000};        // accept or first byte to whole request: else 408
  std::chrono::milliseconds tls_handshake_deadline{3000};  // accept to finished handshake: else closed
  std::chrono::milliseconds keep_alive_idle{10000};        // between requests on one connection
  std::chrono::milliseconds write_deadline{5000};          // an answer written out: else closed
  std::size_t max_connections = 1024;                      // past it the longest-idle one is closed, or 503
  std::size_t max_per_address = 32;                        // past it: 429 (set_max_per_address on reload)
};

// The answer to a request: the bytes to write (empty: close without one), and whether the
// connection may carry another request afterwards.
struct Answer {
  std::string bytes;
  bool keep_alive = false;
};

// One complete request, handed on on the loop thread.
struct Request {
  std::uint64_t connection = 0;  // for FrontDoor::answer()
  std::string bytes;             // head and body, nothing more; an Expect: 100-continue line removed
  std::size_t head_bytes = 0;    // of `bytes`, up to and including the blank line
  Peer peer;
  bool last = false;  // the answer must close the connection (stopping, or the peer closed its side)
};

class FrontDoor {
 public:
  // Called on the loop thread for each complete request. It must lead to exactly one answer()
  // for request.connection, during the call or later; none is needed once the door is gone.
  using OnRequest = std::function<void(Request request)>;

  // Listens on host:port (port 0: a free one) and watches it on `loop`. `tls` (borrowed,
  // outlives this): every connection starts with a handshake in this context; null: plain HTTP.
  // Throws std::runtime_error naming the system's reason when it cannot listen. Everything from
  // here on is on the loop thread, destruction included.
  FrontDoor(EventLoop& loop, const std::string& host, int port, SSL_CTX* tls, FrontDoorLimits limits,
            OnRequest on_request);
  // Closes every connection; an answer still going out gets one last non-blocking write first.
  ~FrontDoor();
  FrontDoor(const FrontDoor&) = delete;
  FrontDoor& operator=(const FrontDoor&) = delete;

  int port() const { return port_; }
  // The answer to the request handed on for `connection`; dropped when that connection is gone.
  void answer(std::uint64_t connection, Answer answer);
  // No new connections; those waiting for a request close now, those being answered get their
  // answer (the connection closed after it) first. Returns at once.
  void stop();
  bool stopping() const { return stopping_; }
  // Applies to connections accepted from now on.
  void set_max_per_address(std::size_t n) { max_per_address_ = n; }
  // pushgate_api_connections_refused_total{reason}, idle closes and open connections.
  void write_metrics(metrics::Writer& w) const;
  std::size_t open_connections() const { return open_; }

  // Why a connection was refused or cut off; the metric's `reason` label.
  enum class Refusal {
    PerAddressCap,        // 429 at accept
    ServerFull,           // 503 at accept: max_connections busy and none idle
    HeadTooLarge,         // 431
    RequestTimeout,       // 408: the whole request not within request_deadline
    TlsHandshakeTimeout,  // closed
    TlsHandshakeFailed,   // closed (no client certificate, not TLS…)
    BodyTooLarge,         // 413
    LengthRequired,       // 411: a body without Content-Length (chunked)
    BadRequest,           // 400: Content-Length unreadable
    Count
  };

 private:
  using Clock = std::chrono::steady_clock;
  using Connection = ApiConnection;

  Connection* find(std::uint64_t id);
  void accept_all();
  void resume_accepting();
  void refuse_at_door(int fd, const Peer& peer, Refusal why);
  bool close_longest_idle(const std::string* ip = nullptr);
  void on_event(std::uint64_t id);
  void handshake(Connection& c);
  void on_readable(Connection& c);
  void advance(Connection& c);
  void hand_over(Connection& c, std::string request, std::size_t head_bytes);
  void resume(std::uint64_t id);
  void on_written(Connection& c);
  void refuse(Connection& c, Refusal why);
  void linger(Connection& c);
  void finish(Connection& c);
  void reap();
  void set_deadline(Connection& c, Clock::time_point when);
  void arm(Connection& c, Clock::time_point when);
  void on_deadline(std::uint64_t id);
  void watch(Connection& c);
  void note(Refusal why, const Peer& peer);

  EventLoop& loop_;
  FrontDoorLimits limits_;
  SSL_CTX* tls_;
  OnRequest on_request_;
  int port_ = 0;
  int listen_fd_ = -1;
  FdWatch listener_;
  std::size_t max_per_address_;
  bool stopping_ = false;

  std::unordered_map<std::uint64_t, std::unique_ptr<Connection>> connections_;
  std::unordered_map<std::string, std::size_t> per_address_;  // open connections by client IP
  std::vector<std::unique_ptr<Connection>> finished_;         // destroyed once this loop turn is over
  std::uint64_t next_id_ = 1;
  EventLoop::TimerId accept_timer_ = 0;      // out of file descriptors: accepting again after a pause
  Clock::time_point accept_error_logged_{};  // at most one line per kLogEvery
  struct LogGate {
    Clock::time_point last{};
    std::uint64_t suppressed = 0;
  };
  std::array<LogGate, static_cast<std::size_t>(Refusal::Count)> log_gates_{};

  std::array<std::uint64_t, static_cast<std::size_t>(Refusal::Count)> refused_{};
  std::uint64_t idle_closed_ = 0;
  std::size_t open_ = 0;
  // Deferred work holds this weakly: the door may be gone by the end of the turn.
  std::shared_ptr<FrontDoor*> alive_ = std::make_shared<FrontDoor*>(this);
};

}  // namespace pushgate::api
