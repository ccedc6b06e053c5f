// The legacy TLS listener: old clients (TLS 1.0, BlackBerry 10, old Android) connect here with
// STARTTLS or direct TLS; after the handshake their stream is relayed to Prosody, which keeps
// a modern TLS policy. It accepts on the daemon's one event loop and hands each connection to
// a LegacyConnection; the protocol itself is the Relay state machine. DESIGN.md "Legacy TLS listener".
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include <openssl/ssl.h>

#include "common/event_loop.hpp"
#include "common/metrics.hpp"
#include "config/config.hpp"
#include "legacy/fd.hpp"
#include "legacy/legacy_connection.hpp"

namespace pushgate::legacy {

class LegacyListener {
 public:
  // Loads the certificate, resolves the backend and binds `listen`; accepts nothing before
  // start(). Throws std::runtime_error naming the file or address and the fix.
  LegacyListener(EventLoop& loop, const LegacyTlsConfig& config);
  // Closes every connection at once, without a word to either peer. Before the loop goes.
  ~LegacyListener();
  LegacyListener(const LegacyListener&) = delete;
  LegacyListener& operator=(const LegacyListener&) = delete;

  // Starts accepting on the loop. Everything below but write_metrics: loop thread only.
  void start();
  int port() const { return port_; }
  // Shutdown: closes the listening socket (new clients are refused by the kernel) while
  // relayed connections go on until the listener is destroyed.
  void stop_accepting();
  // SIGHUP, in two steps so a reload can check everything before it changes anything:
  // prepare_tls builds a TLS context from `fresh` (cert_file, key_file, min_version,
  // ciphers), null with `error` set when it does not load; use_tls makes new handshakes use
  // it while connections keep going.
  static std::shared_ptr<SSL_CTX> prepare_tls(const LegacyTlsConfig& fresh, std::string& error);
  void use_tls(std::shared_ptr<SSL_CTX> ctx);
  // Thread-safe: counters only.
  void write_metrics(metrics::Writer& w) const;
  // The notAfter (epoch seconds) of the certificate new handshakes present: the one loaded at
  // start, then the one the last use_tls() brought. Thread-safe.
  std::int64_t certificate_not_after() const { return certificate_not_after_.load(); }

 private:
  void accept_all();
  void retire(LegacyConnection& conn);

  ListenerShared shared_;
  Fd listen_fd_;
  FdWatch listen_watch_;
  int port_ = 0;
  std::atomic<std::int64_t> certificate_not_after_{0};
  std::unordered_map<std::uint64_t, std::unique_ptr<LegacyConnection>> conns_;
  std::uint64_t next_id_ = 1;
  EventLoop::TimerId resume_timer_ = 0;  // accepting again after running out of descriptors
};

}  // namespace pushgate::legacy
