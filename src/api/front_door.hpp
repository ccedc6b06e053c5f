// The API's front door: one thread owns the listening socket and every connection (epoll,
// non-blocking, TLS handshakes included) and hands a worker only a complete request, then
// writes the worker's answer. Workers never wait on a peer: idle or slow clients hold a
// connection slot, never a worker, and every slot has a deadline.
#pragma once

#include <openssl/ssl.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "api/api_connection.hpp"
#include "api/head_scanner.hpp"
#include "common/metrics.hpp"

namespace httplib {
class ThreadPool;
}

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
  std::size_t workers = 64;
};

// A worker's answer: the bytes to write (empty: close without one), and whether the
// connection may carry another request afterwards.
struct Answer {
  std::string bytes;
  bool keep_alive = false;
};

// Runs on a worker with one complete request (head and body, nothing more); `last` asks for
// an answer that closes the connection. Must not throw.
using Serve = std::function<Answer(std::string request, const Peer& peer, bool last)>;

class FrontDoor {
 public:
  // Listens on host:port (port 0: a free one) and starts its thread and workers. `tls` (borrowed,
  // outlives this): every connection starts with a handshake in this context; null: plain HTTP.
  // Throws std::runtime_error naming the address and the system's reason when it cannot listen.
  FrontDoor(const std::string& host, int port, SSL_CTX* tls, FrontDoorLimits limits, Serve serve);
  ~FrontDoor();  // stop(), then joins: answers being computed are written first
  FrontDoor(const FrontDoor&) = delete;
  FrontDoor& operator=(const FrontDoor&) = delete;

  int port() const { return port_; }
  // No new connections; those waiting for a request close now, those being answered get their
  // answer (with Connection: close) first. Thread-safe, returns at once.
  void stop();
  // Applies to connections accepted from now on. Thread-safe.
  void set_max_per_address(std::size_t n) { max_per_address_ = n; }
  // pushgate_api_connections_refused_total{reason}, idle closes and open connections. Thread-safe.
  void write_metrics(metrics::Writer& w) const;

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

  void run();
  void accept_all();
  void refuse_at_door(int fd, const Peer& peer, Refusal why);
  bool close_longest_idle(const std::string* ip = nullptr);
  void on_event(Connection& c);
  void handshake(Connection& c);
  void on_readable(Connection& c);
  void advance(Connection& c);
  void hand_over(Connection& c, std::string request);
  void take_answers();
  void on_written(Connection& c);
  void refuse(Connection& c, Refusal why);
  void linger(Connection& c);
  void finish(Connection& c);
  void sweep(Clock::time_point now);
  void begin_stop();
  void watch(Connection& c);
  void note(Refusal why, const Peer& peer);

  FrontDoorLimits limits_;
  SSL_CTX* tls_;
  Serve serve_;
  int port_ = 0;
  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: stop() and finished answers
  std::atomic<std::size_t> max_per_address_;
  std::atomic<bool> stopping_{false};

  // Front thread only.
  std::unordered_map<std::uint64_t, std::unique_ptr<Connection>> connections_;
  std::unordered_map<std::string, std::size_t> per_address_;  // open connections by client IP
  std::vector<std::uint64_t> finished_;                       // erased at the end of a turn
  std::uint64_t next_id_ = 2;                                 // 0: the listener, 1: the wake-up
  bool stop_begun_ = false;
  bool accept_paused_ = false;               // out of file descriptors: resumed at the next sweep
  Clock::time_point accept_error_logged_{};  // at most one line per kLogEvery
  struct LogGate {
    Clock::time_point last{};
    std::uint64_t suppressed = 0;
  };
  std::array<LogGate, static_cast<std::size_t>(Refusal::Count)> log_gates_{};

  // Answers from the workers, at most one per connection; taken after a wake-up.
  std::mutex answers_mutex_;
  std::vector<std::pair<std::uint64_t, Answer>> answers_;

  std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(Refusal::Count)> refused_{};
  std::atomic<std::uint64_t> idle_closed_{0};
  std::atomic<std::size_t> open_{0};

  std::unique_ptr<httplib::ThreadPool> workers_;
  std::thread thread_;
};

}  // namespace pushgate::api
