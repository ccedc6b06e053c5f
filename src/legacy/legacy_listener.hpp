// The legacy TLS listener: old clients (TLS 1.0, BlackBerry 10, old Android) connect here with
// STARTTLS or direct TLS; after the handshake their stream is relayed to Prosody, which keeps
// a modern TLS policy. One epoll thread of its own serves every connection, apart from the
// push pipeline's loop, so neither can stall the other. Rules: DESIGN.md "Legacy TLS listener".
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

#include <openssl/ssl.h>

#include "common/metrics.hpp"
#include "config/config.hpp"

namespace pushgate::legacy {

class LegacyListener {
 public:
  // Loads the certificate, resolves the backend and binds `listen`. Throws std::runtime_error
  // naming the file or address and the fix.
  explicit LegacyListener(const LegacyTlsConfig& config);
  ~LegacyListener();  // stops the thread and closes every connection
  LegacyListener(const LegacyListener&) = delete;
  LegacyListener& operator=(const LegacyListener&) = delete;

  void start();
  int port() const { return port_; }
  // Shutdown: closes the listening socket (new clients are refused by the kernel) while
  // relayed connections go on until the listener is destroyed. Thread-safe.
  void stop_accepting();
  // True when the listener's thread went round its loop within `within` (it wakes at least
  // every 500 ms): the systemd watchdog is fed only while it does. Thread-safe.
  bool responsive(std::chrono::milliseconds within) const;
  // SIGHUP, in two steps so a reload can check everything before it changes anything:
  // prepare_tls builds a TLS context from `fresh` (cert_file, key_file, min_version,
  // ciphers), null with `error` set when it does not load; use_tls makes new handshakes use
  // it while connections keep going. Thread-safe.
  static std::shared_ptr<SSL_CTX> prepare_tls(const LegacyTlsConfig& fresh, std::string& error);
  void use_tls(std::shared_ptr<SSL_CTX> ctx);
  // Thread-safe: counters only.
  void write_metrics(metrics::Writer& w) const;

  // Stream-error and close causes counted in metrics.
  enum Cause {
    kNotWellFormed, kRestrictedXml, kInvalidNamespace, kHostUnknown, kUnsupportedVersion, kPolicyViolation,
    kConnectionTimeout, kRemoteConnectionFailed, kTlsHandshake, kIdleTimeout, kTooManyConnections, kCauses
  };

 private:
  struct Conn;
  struct Endpoint;
  void run();
  void accept_all();
  void handle(Endpoint* ep, std::uint32_t events);
  void client_input(Conn& c);
  void backend_input(Conn& c);
  void preamble_bytes(Conn& c, const char* data, std::size_t n);
  void start_tls(Conn& c, const std::string& bytes);
  void pump_client_tls(Conn& c);
  void handshake_done(Conn& c);
  void connect_backend(Conn& c);
  void backend_connected(Conn& c);
  void to_backend(Conn& c, std::string_view plain);
  void to_client(Conn& c, std::string_view plain);
  // Decrypts what Prosody's TLS (starttls mode) has buffered and relays it to the client.
  void relay_backend_tls(Conn& c);
  void drain_bio(SSL* ssl, std::string& out);
  void stream_error(Conn& c, Cause cause, const char* condition, const std::string& text);
  void flush(Conn& c);
  void update_interest(Conn& c);
  void close(Conn& c, const char* why);
  void check_timers();
  std::string our_stream_header(const std::string& domain) const;
  std::shared_ptr<SSL_CTX> server_ctx() const;

  LegacyTlsConfig config_;
  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  int port_ = 0;
  sockaddr_storage backend_addr_{};
  socklen_t backend_len_ = 0;
  mutable std::mutex ctx_mutex_;
  std::shared_ptr<SSL_CTX> ctx_;  // swapped by use_tls()
  std::unique_ptr<SSL_CTX, void (*)(SSL_CTX*)> backend_ctx_{nullptr, SSL_CTX_free};
  std::unordered_set<Conn*> conns_;
  std::vector<Conn*> graveyard_;  // closed during this batch of events
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> stop_accepting_{false};
  std::atomic<std::int64_t> last_turn_ms_{0};  // steady clock, each pass of the epoll loop
  std::uint64_t next_id_ = 1;

  std::atomic<std::uint64_t> accepted_{0}, open_{0}, handshakes_[4]{}, handshake_failures_{0}, relayed_up_{0},
      relayed_down_{0}, errors_[kCauses]{}, backend_connects_{0};
};

}  // namespace pushgate::legacy
