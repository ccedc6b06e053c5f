// One old client's connection on the event loop: the client's socket and Prosody's, the TLS
// on each, and the Relay that decides. Reads become the relay's events; its actions become
// writes, handshakes and connects. Back-pressure, and the grace given to a peer that does not
// read what is left at the end, live here.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/event_loop.hpp"
#include "config/config.hpp"
#include "legacy/fd.hpp"
#include "legacy/relay.hpp"
#include "legacy/tls_channel.hpp"

namespace pushgate::legacy {

// What the connections of one listener share. The listener owns it; everything but the
// counters is used on the loop thread only (/metrics reads the counters from other threads).
struct ListenerShared {
  ListenerShared(EventLoop& l, const LegacyTlsConfig& c) : loop(l), config(c) {}
  EventLoop& loop;
  const LegacyTlsConfig config;
  sockaddr_storage backend{};  // Prosody's address, resolved once
  socklen_t backend_len = 0;
  std::shared_ptr<SSL_CTX> server_tls;  // a reload swaps it: new handshakes use the new one
  SslCtxPtr backend_tls;
  struct Counters {
    std::atomic<std::uint64_t> accepted{0}, open{0}, handshake_failures{0}, relayed_up{0}, relayed_down{0};
    std::atomic<std::uint64_t> handshakes[4]{};  // TLSv1, TLSv1.1, TLSv1.2, TLSv1.3
    std::atomic<std::uint64_t> errors[kCauses]{};
  } counters;
};

class LegacyConnection {
 public:
  // Called once the connection has closed both sockets; the owner frees it after this turn
  // of the loop (never from inside the call: the connection's own callback is still running).
  using OnClosed = std::function<void(LegacyConnection&)>;

  // Takes the accepted socket. Nothing is read before start().
  LegacyConnection(ListenerShared& shared, std::uint64_t id, Fd client, const sockaddr_storage& peer,
                   const sockaddr_storage& local, OnClosed on_closed);
  ~LegacyConnection();  // closes whatever is still open, without a word to either peer
  LegacyConnection(const LegacyConnection&) = delete;
  LegacyConnection& operator=(const LegacyConnection&) = delete;

  // `open`: the listener's other connections, for max_connections. May close at once.
  void start(std::size_t open);
  std::uint64_t id() const { return id_; }

 private:
  // Hands an event to the relay and performs its actions. Re-entrant: an event raised while
  // actions are performed (a handshake failing on bytes StartClientTls handed over) waits its
  // turn. Writes only queue bytes: every entry point (start, a socket ready, a timer) ends
  // with one settle(), so the records of one read leave in one send.
  void dispatch(Relay::Event::Kind kind, std::string_view data = {}, std::size_t open = 0);
  void perform(const Relay::Action& action);
  void on_client(int events);
  void on_backend(int events);
  void read_client();
  void read_backend();
  void client_cipher(std::string_view cipher);   // through the client's TLS
  void backend_cipher(std::string_view cipher);  // through Prosody's TLS (starttls mode)
  // Queue plaintext for a peer (encrypted once its TLS is up).
  void to_client(const std::string& plain);
  void to_backend(const std::string& plain);
  void connect_backend();
  void backend_down(int err);
  void begin_close(const Relay::Action& close);
  // At the end of every entry point: writes what is queued, watches what is wanted, arms the
  // relay's timer.
  void settle();
  void flush();
  void watch();
  void arm_timer();
  bool reading_client() const;
  bool reading_backend() const;
  // Closes both sockets now and tells the owner. Idempotent.
  void finish(const std::string& why);

  ListenerShared& shared_;
  const std::uint64_t id_;
  Fd client_;
  Fd backend_;
  Relay relay_;
  std::optional<TlsChannel> client_tls_;
  std::optional<TlsChannel> backend_tls_;
  FdWatch client_watch_;  // after the descriptors: a watch stops before its descriptor closes
  FdWatch backend_watch_;
  OnClosed on_closed_;
  std::string out_client_;   // bytes for the client's socket (ciphertext once TLS is up)
  std::string out_backend_;  // bytes for Prosody's socket
  struct Queued {
    Relay::Event::Kind kind;
    std::string data;
  };
  std::vector<Queued> queue_;  // rarely used: a vector costs nothing while empty, a deque does
  bool dispatching_ = false;
  bool connecting_ = false;
  bool client_eof_ = false;
  bool backend_eof_ = false;
  bool backend_broken_ = false;    // a write to Prosody failed: nothing more goes there
  bool shutdown_backend_ = false;  // the client is done: FIN to Prosody once out_backend_ is out
  bool backend_shut_ = false;
  bool closing_ = false;
  bool finished_ = false;
  std::string close_why_;
  EventLoop::TimerId timer_ = 0;  // the relay's deadline
  EventLoop::Clock::time_point timer_at_{};
  EventLoop::TimerId grace_timer_ = 0;
};

}  // namespace pushgate::legacy
