// One API client's socket on the front door's thread: plain or TLS, non-blocking. It reads
// into `in`, writes from `out`, and carries where the connection is in a request's life.
#pragma once

#include <openssl/ssl.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "api/head_scanner.hpp"

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
    Serving,    // a worker has the request; the socket is not watched
    Writing,    // the answer going out
    Lingering,  // closed for writing; what the peer still sends is read and dropped
  };
  // Done: finished (or `in` full); Blocked: try again when events() is ready; Closed: the
  // peer's end or an error (the bytes already read stay in `in`).
  enum class Io { Done, Blocked, Closed };

  // Takes the socket (non-blocking) and closes it when destroyed.
  ApiConnection(std::uint64_t id, int fd, Peer peer, HeadLimits limits);
  ~ApiConnection();
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
  // The epoll events the phase waits for; 0 while a worker has the request.
  std::uint32_t events() const;

  const std::uint64_t id;
  const int fd;
  const Peer peer;
  Phase phase = Phase::Reading;
  Clock::time_point deadline;
  bool idle = false;               // Reading with no byte of the next request yet
  bool close_after_write = false;  // no other request after this answer
  bool peer_done = false;          // the peer closed its side (FIN, close_notify): answer, then close
  bool closed = false;             // the front door is done with it; destroyed at the end of its turn
  bool continue_sent = false;      // a 100 Continue was queued for this request
  std::uint32_t watched = 0;       // the events epoll has now; 0: not registered
  std::string in;                  // read, not handed over yet
  std::string out;                 // to write, from out_done on
  std::size_t out_done = 0;
  HeadScanner scanner;

 private:
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl_{nullptr, &SSL_free};  // null: plain HTTP
  bool read_wants_write_ = false;  // the last handshake step or SSL_read waits for EPOLLOUT
  bool write_wants_read_ = false;  // the last SSL_write waits for EPOLLIN
  std::size_t dropped_ = 0;
};

}  // namespace pushgate::api
