// One HTTP/2 client connection: a non-blocking TCP socket, OpenSSL TLS with ALPN h2, and an
// nghttp2 session. It carries the exchanges the Http2Client lends it and reports each back.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>

#include "common/event_loop.hpp"

namespace pushgate {

struct Http2Request {
  std::string url;  // https://host[:port]/path
  std::vector<std::pair<std::string, std::string>> headers;  // lower-case names
  std::string body;  // sent as POST
  std::chrono::milliseconds timeout{10000};
  std::string ca_file;  // empty: the system's CA store
};

// Why a request got no HTTP answer. Everything but None means `status` is 0.
enum class Http2Failure {
  None,
  BadUrl,     // not https://host[:port]/path
  Connect,    // DNS, TCP connect, or the connection failed recently and is backing off
  Tls,        // handshake failed
  TlsVerify,  // the server's certificate did not verify: a configuration problem
  NotHttp2,   // the server did not negotiate h2 by ALPN: a configuration problem
  Closed,     // the connection died with the stream open (the server may have processed it)
  Reset,      // the server reset the stream
  Timeout,    // no answer within the request's timeout
};
const char* to_string(Http2Failure f);

struct Http2Response {
  Http2Failure failure = Http2Failure::None;
  std::string error;  // the cause in words, when failure != None
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // regular headers, lower-case names
  std::string body;
  std::chrono::microseconds elapsed{0};

  bool answered() const { return failure == Http2Failure::None; }
  // The first header of that (lower-case) name, or empty.
  std::string header(std::string_view name) const;
};

using Http2Done = std::function<void(Http2Response)>;

// A request on its way: owned by the Http2Client, lent to one connection at a time.
struct H2Exchange {
  Http2Request request;
  std::string authority;
  std::string path;
  Http2Response response;
  Http2Done done;
  std::chrono::steady_clock::time_point started;
  std::uint64_t timer = 0;
  class H2Connection* conn = nullptr;
  std::int32_t stream_id = 0;
  std::size_t body_sent = 0;
  void* origin = nullptr;  // the client's bookkeeping: which origin queue it belongs to
};

struct H2ConnectionOptions {
  std::chrono::milliseconds connect_timeout{5000};  // TCP + TLS + the server's SETTINGS
  std::chrono::milliseconds ping_interval{60000};   // quiet this long → PING
  std::chrono::milliseconds ping_timeout{10000};    // PING unanswered this long → dead
  std::uint32_t max_streams = 100;                  // our cap; the server's SETTINGS may lower it
};

class H2Connection {
 public:
  enum class State { Connecting, Handshaking, AwaitingSettings, Ready, Draining, Closed };

  // Told about exchanges this connection is done with. Called from inside on_turn() or
  // close(); the listener must not destroy the connection from there.
  class Listener {
   public:
    virtual ~Listener() = default;
    // `unprocessed`: the server said it never processed the stream (REFUSED_STREAM, or
    // above a GOAWAY's last stream id), so it is safe to send again elsewhere.
    virtual void on_exchange_done(H2Exchange* ex, bool unprocessed) = 0;
    // The socket is ready: the listener arranges for on_turn() soon (not from inside this call).
    virtual void on_connection_io() = 0;
  };

  // Starts a non-blocking connect to `addr`. `host` is for SNI and certificate checks.
  H2Connection(EventLoop& loop, Listener& listener, SSL_CTX* ctx, std::string host, const sockaddr_storage& addr, socklen_t addr_len,
               H2ConnectionOptions options);
  ~H2Connection();
  H2Connection(const H2Connection&) = delete;
  H2Connection& operator=(const H2Connection&) = delete;

  State state() const { return state_; }
  bool usable() const { return state_ != State::Draining && state_ != State::Closed; }
  bool ever_ready() const { return ever_ready_; }
  // Why the connection closed (or empty), and the failure its open streams were given.
  const std::string& error() const { return error_; }
  Http2Failure failure() const { return failure_; }
  bool goaway_received() const { return goaway_last_ >= 0; }
  const std::string& goaway_debug() const { return goaway_debug_; }
  // Writes what nghttp2 has queued (new requests); non-blocking.
  void flush() {
    if (session_ && state_ != State::Closed) write_tls();
  }

  // Streams it can take now: the server's MAX_CONCURRENT_STREAMS (and ours) minus the open ones.
  std::size_t capacity() const;
  std::size_t active() const { return streams_.size(); }
  // Queues the request on a new stream; written on the next on_turn(). Requires capacity() > 0.
  // Returns false (and leaves `ex` untouched) if nghttp2 refused it.
  bool submit(H2Exchange* ex);
  // Forgets `ex` (its timeout passed) and resets its stream with CANCEL.
  void cancel(H2Exchange* ex);

  // Watches the socket for what the connection waits on now: readable, and writable while
  // connecting or while TLS has bytes it could not write. Call after on_turn() or flush().
  void update_watch();
  // When on_turn() next has a timer to check: the connect deadline, the PING deadline, or
  // the moment a quiet connection is due a PING.
  std::chrono::steady_clock::time_point next_check() const;
  // Connects, handshakes, reads, writes and checks timers; non-blocking.
  void on_turn(std::chrono::steady_clock::time_point now);
  // Closes now; open streams are reported with `failure`.
  void close(Http2Failure failure, std::string why);

  std::uint64_t pings_sent() const { return pings_sent_; }

 private:
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
                       const std::uint8_t* value, std::size_t valuelen, std::uint8_t flags, void* user);
  static int on_data_chunk(nghttp2_session*, std::uint8_t flags, std::int32_t stream_id, const std::uint8_t* data,
                           std::size_t len, void* user);
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code, void* user);
  static ssize_t read_body(nghttp2_session*, std::int32_t stream_id, std::uint8_t* buf, std::size_t length,
                           std::uint32_t* flags, nghttp2_data_source* source, void* user);

  void finish_connect();
  void handshake();
  void start_session();
  void read_tls();
  void write_tls();
  void check_timers(std::chrono::steady_clock::time_point now);
  std::string tls_error(int rc, const char* what);

  struct SslDeleter {
    void operator()(SSL* s) const { SSL_free(s); }
  };
  struct SessionDeleter {
    void operator()(nghttp2_session* s) const { nghttp2_session_del(s); }
  };

  Listener& listener_;
  std::string host_;
  H2ConnectionOptions options_;
  int fd_ = -1;
  FdWatch watch_;
  std::unique_ptr<SSL, SslDeleter> ssl_;
  std::unique_ptr<nghttp2_session, SessionDeleter> session_;
  State state_ = State::Connecting;
  bool ever_ready_ = false;
  bool want_write_ = false;  // the socket must become writable before we can go on
  std::string out_;          // encrypted-to-be bytes nghttp2 produced that TLS has not taken yet
  std::unordered_set<H2Exchange*> streams_;
  std::chrono::steady_clock::time_point opened_;
  std::chrono::steady_clock::time_point last_recv_;
  std::chrono::steady_clock::time_point ping_sent_;
  bool ping_outstanding_ = false;
  std::uint64_t pings_sent_ = 0;
  std::int32_t goaway_last_ = -1;
  std::string goaway_debug_;
  std::string error_;
  Http2Failure failure_ = Http2Failure::None;
};

}  // namespace pushgate
