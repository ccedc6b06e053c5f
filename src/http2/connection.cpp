// One HTTP/2 client connection over OpenSSL: its socket watched on the event loop, never blocking.
#include "http2/connection.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "common/log.hpp"

namespace pushgate {

const char* to_string(Http2Failure f) {
  switch (f) {
    case Http2Failure::None: return "none";
    case Http2Failure::BadUrl: return "bad_url";
    case Http2Failure::Connect: return "connect";
    case Http2Failure::Tls: return "tls";
    case Http2Failure::TlsVerify: return "tls_verify";
    case Http2Failure::NotHttp2: return "not_http2";
    case Http2Failure::Closed: return "closed";
    case Http2Failure::Reset: return "reset";
    case Http2Failure::Timeout: return "timeout";
  }
  return "unknown";
}

std::string Http2Response::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return v;
  }
  return {};
}

namespace {

constexpr std::size_t kMaxAnswerBody = 64 * 1024;  // provider answers are small JSON; cap a hostile one
constexpr std::size_t kMaxHeaders = 64;

bool is_ip_literal(const std::string& host) {
  in6_addr a6{};
  in_addr a4{};
  return inet_pton(AF_INET, host.c_str(), &a4) == 1 || inet_pton(AF_INET6, host.c_str(), &a6) == 1;
}

nghttp2_nv make_nv(const std::string& name, const std::string& value) {
  // nghttp2 copies names and values at submit time; the casts only drop const.
  return nghttp2_nv{reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
                    reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
                    NGHTTP2_NV_FLAG_NONE};
}

}  // namespace

H2Connection::H2Connection(EventLoop& loop, Listener& listener, SSL_CTX* ctx, std::string host,
                           const sockaddr_storage& addr, socklen_t addr_len, H2ConnectionOptions options)
    : listener_(listener), host_(std::move(host)), options_(options),
      watch_(loop, [this](int) { listener_.on_connection_io(); }) {
  opened_ = last_recv_ = std::chrono::steady_clock::now();
  fd_ = ::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    state_ = State::Closed;
    failure_ = Http2Failure::Connect;
    error_ = std::string("socket: ") + std::strerror(errno);
    return;
  }
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  // TCP keepalive as a second line behind PING, for a peer that vanished while we were quiet.
  setsockopt(fd_, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), addr_len) != 0 && errno != EINPROGRESS) {
    state_ = State::Closed;
    failure_ = Http2Failure::Connect;
    error_ = std::string("connect: ") + std::strerror(errno);
    ::close(fd_);
    fd_ = -1;
    return;
  }
  ssl_.reset(SSL_new(ctx));
  SSL_set_fd(ssl_.get(), fd_);
  SSL_set_connect_state(ssl_.get());
  if (is_ip_literal(host_)) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_.get()), host_.c_str());
  } else {
    SSL_set_tlsext_host_name(ssl_.get(), host_.c_str());
    SSL_set1_host(ssl_.get(), host_.c_str());
  }
  update_watch();
}

H2Connection::~H2Connection() { close(Http2Failure::Closed, "client shut down"); }

std::size_t H2Connection::capacity() const {
  if (state_ != State::Ready) return 0;
  std::uint32_t limit = std::min(
      nghttp2_session_get_remote_settings(session_.get(), NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS), options_.max_streams);
  return limit > streams_.size() ? limit - streams_.size() : 0;
}

bool H2Connection::submit(H2Exchange* ex) {
  if (state_ != State::Ready) return false;
  static const std::string kMethod = ":method", kPost = "POST", kScheme = ":scheme", kHttps = "https",
                           kAuthority = ":authority", kPath = ":path", kLength = "content-length";
  std::string length = std::to_string(ex->request.body.size());
  std::vector<nghttp2_nv> nva;
  nva.reserve(5 + ex->request.headers.size());
  nva.push_back(make_nv(kMethod, kPost));
  nva.push_back(make_nv(kScheme, kHttps));
  nva.push_back(make_nv(kAuthority, ex->authority));
  nva.push_back(make_nv(kPath, ex->path));
  for (const auto& [k, v] : ex->request.headers) nva.push_back(make_nv(k, v));
  nva.push_back(make_nv(kLength, length));
  nghttp2_data_provider body{};
  body.source.ptr = ex;
  body.read_callback = &H2Connection::read_body;
  ex->body_sent = 0;
  std::int32_t id = nghttp2_submit_request(session_.get(), nullptr, nva.data(), nva.size(),
                                           ex->request.body.empty() ? nullptr : &body, ex);
  if (id < 0) return false;
  ex->stream_id = id;
  ex->conn = this;
  streams_.insert(ex);
  return true;
}

void H2Connection::cancel(H2Exchange* ex) {
  if (streams_.erase(ex) == 0) return;
  ex->conn = nullptr;
  if (session_) {
    nghttp2_session_set_stream_user_data(session_.get(), ex->stream_id, nullptr);
    nghttp2_submit_rst_stream(session_.get(), NGHTTP2_FLAG_NONE, ex->stream_id, NGHTTP2_CANCEL);
  }
}

void H2Connection::update_watch() {
  if (fd_ < 0 || state_ == State::Closed) {
    watch_.stop();
    return;
  }
  int events = UV_READABLE;
  if (state_ == State::Connecting || want_write_) events |= UV_WRITABLE;
  watch_.watch(fd_, events);
}

void H2Connection::on_turn(std::chrono::steady_clock::time_point now) {
  if (state_ == State::Connecting) finish_connect();
  if (state_ == State::Handshaking) handshake();
  if (state_ == State::AwaitingSettings || state_ == State::Ready || state_ == State::Draining) {
    read_tls();
    if (state_ != State::Closed) write_tls();
  }
  if (state_ == State::Closed) return;
  check_timers(now);
  if (state_ == State::Draining && streams_.empty()) {
    close(Http2Failure::None, "drained after GOAWAY");
  } else if (session_ && !nghttp2_session_want_read(session_.get()) && !nghttp2_session_want_write(session_.get()) &&
             out_.empty()) {
    close(Http2Failure::Closed, error_.empty() ? "HTTP/2 session ended" : error_);
  }
}

void H2Connection::finish_connect() {
  // A second connect() on the non-blocking socket reports where the first one stands.
  sockaddr_storage peer{};
  socklen_t len = sizeof peer;
  if (getpeername(fd_, reinterpret_cast<sockaddr*>(&peer), &len) == 0) {
    state_ = State::Handshaking;
    return;
  }
  int err = 0;
  socklen_t elen = sizeof err;
  getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &elen);
  if (err != 0) close(Http2Failure::Connect, std::string("connect: ") + std::strerror(err));
}

std::string H2Connection::tls_error(int rc, const char* what) {
  int err = SSL_get_error(ssl_.get(), rc);
  std::string why = what;
  long verify = SSL_get_verify_result(ssl_.get());
  if (verify != X509_V_OK) {
    failure_ = Http2Failure::TlsVerify;
    return why + ": server certificate not trusted: " + X509_verify_cert_error_string(verify) +
           " (check ca_file and the endpoint's host name)";
  }
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    return why + ": " + buf;
  }
  if (err == SSL_ERROR_SYSCALL) return why + ": " + (errno != 0 ? std::strerror(errno) : "connection closed by the server");
  if (err == SSL_ERROR_ZERO_RETURN) return why + ": connection closed by the server";
  return why + ": TLS error " + std::to_string(err);
}

void H2Connection::handshake() {
  ERR_clear_error();
  int rc = SSL_connect(ssl_.get());
  if (rc == 1) {
    const unsigned char* alpn = nullptr;
    unsigned int alpn_len = 0;
    SSL_get0_alpn_selected(ssl_.get(), &alpn, &alpn_len);
    if (alpn_len != 2 || std::memcmp(alpn, "h2", 2) != 0) {
      close(Http2Failure::NotHttp2, "the server did not negotiate HTTP/2 (ALPN h2): check the endpoint");
      return;
    }
    start_session();
    return;
  }
  int err = SSL_get_error(ssl_.get(), rc);
  if (err == SSL_ERROR_WANT_READ) {
    want_write_ = false;
    return;
  }
  if (err == SSL_ERROR_WANT_WRITE) {
    want_write_ = true;
    return;
  }
  failure_ = Http2Failure::Tls;
  std::string why = tls_error(rc, "TLS handshake");
  close(failure_, why);
}

void H2Connection::start_session() {
  // Shared by every session and never freed: built once, read-only afterwards.
  static nghttp2_session_callbacks* cbs = [] {
    nghttp2_session_callbacks* c = nullptr;
    nghttp2_session_callbacks_new(&c);
    nghttp2_session_callbacks_set_on_header_callback(c, &H2Connection::on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(c, &H2Connection::on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(c, &H2Connection::on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(c, &H2Connection::on_stream_close);
    return c;
  }();
  nghttp2_session* s = nullptr;
  if (nghttp2_session_client_new(&s, cbs, this) != 0) {
    close(Http2Failure::Connect, "out of memory for an HTTP/2 session");
    return;
  }
  session_.reset(s);
  nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0}};
  nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, settings, 1);
  state_ = State::AwaitingSettings;
  last_recv_ = std::chrono::steady_clock::now();
}

void H2Connection::read_tls() {
  std::uint8_t buf[16384];
  // Bounded so one busy connection cannot starve the rest of the loop.
  for (int i = 0; i < 64 && state_ != State::Closed; ++i) {
    ERR_clear_error();
    int n = SSL_read(ssl_.get(), buf, sizeof buf);
    if (n > 0) {
      last_recv_ = std::chrono::steady_clock::now();
      ssize_t rv = nghttp2_session_mem_recv(session_.get(), buf, static_cast<std::size_t>(n));
      if (rv < 0) {
        close(Http2Failure::Closed, std::string("HTTP/2 protocol error from the server: ") + nghttp2_strerror(static_cast<int>(rv)));
      }
      continue;
    }
    int err = SSL_get_error(ssl_.get(), n);
    if (err == SSL_ERROR_WANT_READ) return;
    if (err == SSL_ERROR_WANT_WRITE) {
      want_write_ = true;
      return;
    }
    std::string why = goaway_last_ >= 0 ? "the server closed the connection after GOAWAY"
                                        : tls_error(n, "connection lost");
    close(Http2Failure::Closed, why);
  }
}

void H2Connection::write_tls() {
  want_write_ = false;
  for (;;) {
    // Gather what nghttp2 has (many small frames) into one buffer, so TLS sends few records.
    while (out_.size() < 64 * 1024) {
      const std::uint8_t* data = nullptr;
      ssize_t n = nghttp2_session_mem_send(session_.get(), &data);
      if (n < 0) {
        close(Http2Failure::Closed, std::string("HTTP/2 session error: ") + nghttp2_strerror(static_cast<int>(n)));
        return;
      }
      if (n == 0) break;
      out_.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
    }
    if (out_.empty()) return;
    ERR_clear_error();
    int n = SSL_write(ssl_.get(), out_.data(), static_cast<int>(out_.size()));
    if (n > 0) {
      out_.erase(0, static_cast<std::size_t>(n));
      continue;
    }
    int err = SSL_get_error(ssl_.get(), n);
    if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
      want_write_ = err == SSL_ERROR_WANT_WRITE;
      return;
    }
    std::string why = tls_error(n, "connection lost while writing");
    close(Http2Failure::Closed, why);
    return;
  }
}

std::chrono::steady_clock::time_point H2Connection::next_check() const {
  if (state_ == State::Connecting || state_ == State::Handshaking || state_ == State::AwaitingSettings) {
    return opened_ + options_.connect_timeout;
  }
  if (ping_outstanding_) return ping_sent_ + options_.ping_timeout;
  return last_recv_ + options_.ping_interval;
}

void H2Connection::check_timers(std::chrono::steady_clock::time_point now) {
  if (state_ == State::Connecting || state_ == State::Handshaking || state_ == State::AwaitingSettings) {
    if (now - opened_ > options_.connect_timeout) {
      const char* stage = state_ == State::Connecting     ? "TCP connect"
                          : state_ == State::Handshaking ? "TLS handshake"
                                                          : "the server's HTTP/2 SETTINGS";
      close(state_ == State::Connecting ? Http2Failure::Connect : Http2Failure::Tls,
            std::string("no ") + stage + " within " + std::to_string(options_.connect_timeout.count()) + " ms");
    }
    return;
  }
  if (ping_outstanding_) {
    if (now - ping_sent_ > options_.ping_timeout) {
      close(Http2Failure::Closed, "no answer to PING within " + std::to_string(options_.ping_timeout.count()) +
                                      " ms: connection presumed dead");
    }
    return;
  }
  if (now - last_recv_ > options_.ping_interval) {
    nghttp2_submit_ping(session_.get(), NGHTTP2_FLAG_NONE, nullptr);
    ping_outstanding_ = true;
    ping_sent_ = now;
    ++pings_sent_;
    write_tls();
  }
}

void H2Connection::close(Http2Failure failure, std::string why) {
  if (state_ == State::Closed && fd_ < 0) return;
  state_ = State::Closed;
  if (failure_ == Http2Failure::None || failure != Http2Failure::None) failure_ = failure;
  error_ = std::move(why);
  session_.reset();
  ssl_.reset();
  watch_.stop();  // before the descriptor goes
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  out_.clear();
  std::vector<H2Exchange*> open(streams_.begin(), streams_.end());
  streams_.clear();
  for (H2Exchange* ex : open) {
    ex->conn = nullptr;
    // Above a GOAWAY's last stream id the server promised it did nothing with the stream.
    bool unprocessed = goaway_last_ >= 0 && ex->stream_id > goaway_last_;
    if (!unprocessed) {
      ex->response.failure = failure == Http2Failure::None ? Http2Failure::Closed : failure;
      ex->response.error = error_;
    }
    listener_.on_exchange_done(ex, unprocessed);
  }
}

// nghttp2 callbacks: `user` is the connection, the stream's user data its exchange (null
// once cancelled).

int H2Connection::on_header(nghttp2_session* session, const nghttp2_frame* frame, const std::uint8_t* name,
                            std::size_t namelen, const std::uint8_t* value, std::size_t valuelen, std::uint8_t,
                            void*) {
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  auto* ex = static_cast<H2Exchange*>(nghttp2_session_get_stream_user_data(session, frame->hd.stream_id));
  if (ex == nullptr) return 0;
  std::string_view n(reinterpret_cast<const char*>(name), namelen);
  std::string_view v(reinterpret_cast<const char*>(value), valuelen);
  if (n == ":status") {
    int status = 0;
    for (char c : v) status = c >= '0' && c <= '9' ? status * 10 + (c - '0') : -1000;
    // 1xx answers are interim; the final status comes in a later HEADERS frame.
    if (status >= 200 && status <= 599) ex->response.status = status;
  } else if (!n.empty() && n[0] != ':' && ex->response.headers.size() < kMaxHeaders) {
    ex->response.headers.emplace_back(n, v);
  }
  return 0;
}

int H2Connection::on_data_chunk(nghttp2_session* session, std::uint8_t, std::int32_t stream_id,
                                const std::uint8_t* data, std::size_t len, void*) {
  auto* ex = static_cast<H2Exchange*>(nghttp2_session_get_stream_user_data(session, stream_id));
  if (ex == nullptr || ex->response.failure != Http2Failure::None) return 0;
  if (ex->response.body.size() + len > kMaxAnswerBody) {
    ex->response.failure = Http2Failure::Reset;
    ex->response.error = "the server's answer is larger than 64 KiB";
    nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_CANCEL);
    return 0;
  }
  ex->response.body.append(reinterpret_cast<const char*>(data), len);
  return 0;
}

int H2Connection::on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  auto* self = static_cast<H2Connection*>(user);
  switch (frame->hd.type) {
    case NGHTTP2_SETTINGS:
      if ((frame->hd.flags & NGHTTP2_FLAG_ACK) == 0 && self->state_ == State::AwaitingSettings) {
        self->state_ = State::Ready;
        self->ever_ready_ = true;
      }
      break;
    case NGHTTP2_PING:
      if ((frame->hd.flags & NGHTTP2_FLAG_ACK) != 0) self->ping_outstanding_ = false;
      break;
    case NGHTTP2_GOAWAY: {
      self->goaway_last_ = frame->goaway.last_stream_id;
      self->goaway_debug_.assign(reinterpret_cast<const char*>(frame->goaway.opaque_data),
                                 std::min<std::size_t>(frame->goaway.opaque_data_len, 512));
      if (self->state_ != State::Closed) self->state_ = State::Draining;
      // Apple puts {"reason": "..."} in the debug data; an operator needs to see it.
      log::warn("http2_goaway", {{"host", self->host_},
                                 {"error_code", nghttp2_http2_strerror(frame->goaway.error_code)},
                                 {"last_stream_id", std::to_string(frame->goaway.last_stream_id)},
                                 {"open_streams", std::to_string(self->streams_.size())},
                                 {"debug_data", self->goaway_debug_}});
      break;
    }
    default:
      break;
  }
  return 0;
}

int H2Connection::on_stream_close(nghttp2_session* session, std::int32_t stream_id, std::uint32_t error_code,
                                  void* user) {
  auto* self = static_cast<H2Connection*>(user);
  auto* ex = static_cast<H2Exchange*>(nghttp2_session_get_stream_user_data(session, stream_id));
  if (ex == nullptr || self->streams_.erase(ex) == 0) return 0;
  ex->conn = nullptr;
  bool unprocessed = error_code == NGHTTP2_REFUSED_STREAM && ex->response.status == 0;
  if (!unprocessed && ex->response.failure == Http2Failure::None &&
      (error_code != NGHTTP2_NO_ERROR || ex->response.status == 0)) {
    ex->response.failure = Http2Failure::Reset;
    ex->response.error = std::string("stream reset by the server: ") + nghttp2_http2_strerror(error_code);
  }
  self->listener_.on_exchange_done(ex, unprocessed);
  return 0;
}

ssize_t H2Connection::read_body(nghttp2_session* session, std::int32_t stream_id, std::uint8_t* buf,
                                std::size_t length, std::uint32_t* flags, nghttp2_data_source*, void*) {
  // Looked up by stream rather than through the data source: a cancelled exchange is gone.
  auto* ex = static_cast<H2Exchange*>(nghttp2_session_get_stream_user_data(session, stream_id));
  if (ex == nullptr) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  const std::string& body = ex->request.body;
  std::size_t n = std::min(length, body.size() - ex->body_sent);
  std::memcpy(buf, body.data() + ex->body_sent, n);
  ex->body_sent += n;
  if (ex->body_sent == body.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return static_cast<ssize_t>(n);
}

}  // namespace pushgate
