// One API client's socket on the event loop: plain or TLS, non-blocking, watched by an
// FdWatch. It reads into `in`, writes from `out`, and carries where the connection is in a
// request's life and when its deadline is.
#pragma once

#include <openssl/ssl.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "api/head_scanner.hpp"
#include "common/event_loop.hpp"

namespace pushgate::api {

// The client of a connection, as httplib's Request wants it.
struct Peer {
  std::string ip;
  int port = 0;
  std::string local_ip;
  int local_port = 0;
};

struct ApiConnection {
  using Clock = std::chrono::steady_clock;
  enum class Phase {
    Handshake,  // TLS handshake under its own deadline
    Reading,    // a request's bytes (idle: none yet after an answer, under the keep-alive deadline)
    Serving,    // the request is being answered (on the loop or a worker); the socket is not watched
    Writing,    // the answer going out
    Lingering,  // closed for writing; what the peer still sends is read and dropped
  };
  // Done: finished (or `in` full); Blocked: try again when events() is ready; Closed: the
  // peer's end or an error (the bytes already read stay in `in`).
  enum class Io { Done, Blocked, Closed };

  // Takes the socket (non-blocking) and closes it when destroyed; `on_ready` is called on the
  // loop when the socket is ready for what events() asks.
  ApiConnection(EventLoop& loop, std::uint64_t id, int fd, Peer peer, HeadLimits limits, FdWatch::Callback on_ready);
  ~ApiConnection();  // stops the watch, then closes the socket
  ApiConnection(const ApiConnection&) = delete;
  ApiConnection& operator=(const ApiConnection&) = delete;

  // Makes this the server side of a TLS session, phase Handshake; false when OpenSSL cannot.
  bool start_tls(SSL_CTX* ctx);
  Io handshake();
  // Reads what the socket (or TLS) holds until `in` has `cap` bytes.
  Io read_some(std::size_t cap);
  // Writes `out` from `out_done` on.
  Io flush();
  bool writing() const { return out_done < out.size(); }
  // Sends TLS close_notify (best effort) and the TCP FIN; the rest of the input goes to drain().
  void close_for_writing();
  // Reads and drops input: Blocked while the peer may send more, Closed at its end or once
  // `budget` bytes were dropped in all.
  Io drain(std::size_t budget);
  // The libuv events (UV_READABLE, UV_WRITABLE) the phase waits for; 0 while it is Serving.
  int events() const;
  // Watches the socket for events(); false if libuv refuses.
  bool watch() { return watch_.watch(fd, events()); }
  // No more callbacks; the socket stays open until the connection is destroyed.
  void unwatch() { watch_.stop(); }
  // TLS records already read off the socket and not yet handed out by read_some(): the socket
  // will not say it is readable for them.
  bool buffered_input() const;

  const std::uint64_t id;
  const int fd;
  const Peer peer;
  Phase phase = Phase::Reading;
  Clock::time_point deadline = Clock::time_point::max();
  EventLoop::TimerId timer = 0;  // the loop timer due at timer_at (0: none); it re-arms for a later deadline
  Clock::time_point timer_at{};
  bool idle = false;               // Reading with no byte of the next request yet
  bool close_after_write = false;  // no other request after this answer
  bool peer_done = false;          // the peer closed its side (FIN, close_notify): answer, then close
  bool closed = false;             // the front door is done with it; destroyed at the end of its turn
  bool continue_sent = false;      // a 100 Continue was queued for this request
  std::string in;                  // read, not handed over yet
  std::string out;                 // to write, from out_done on
  std::size_t out_done = 0;
  HeadScanner scanner;

 private:
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl_{nullptr, &SSL_free};  // null: plain HTTP
  bool read_wants_write_ = false;  // the last handshake step or SSL_read waits for writability
  bool write_wants_read_ = false;  // the last SSL_write waits for readability
  std::size_t dropped_ = 0;
  FdWatch watch_;
};

}  // namespace pushgate::api
