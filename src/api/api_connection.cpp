// Non-blocking reads and writes of an API connection, over TCP or OpenSSL, on the event loop.
#include "api/api_connection.hpp"

#include <openssl/err.h>

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

namespace pushgate::api {

ApiConnection::ApiConnection(EventLoop& loop, std::uint64_t id, int fd, Peer peer, HeadLimits limits,
                             FdWatch::Callback on_ready)
    : id(id), fd(fd), peer(std::move(peer)), scanner(limits), watch_(loop, std::move(on_ready)) {}

ApiConnection::~ApiConnection() {
  watch_.stop();  // libuv must not poll a closed descriptor
  ssl_.reset();
  ::close(fd);
}

bool ApiConnection::start_tls(SSL_CTX* ctx) {
  ssl_.reset(SSL_new(ctx));
  if (!ssl_ || SSL_set_fd(ssl_.get(), fd) != 1) {
    ERR_clear_error();
    return false;
  }
  SSL_set_accept_state(ssl_.get());
  phase = Phase::Handshake;
  return true;
}

ApiConnection::Io ApiConnection::handshake() {
  read_wants_write_ = false;
  int rc = SSL_accept(ssl_.get());
  if (rc == 1) return Io::Done;
  int err = SSL_get_error(ssl_.get(), rc);
  ERR_clear_error();
  if (err == SSL_ERROR_WANT_READ) return Io::Blocked;
  if (err == SSL_ERROR_WANT_WRITE) {
    read_wants_write_ = true;
    return Io::Blocked;
  }
  return Io::Closed;
}

ApiConnection::Io ApiConnection::read_some(std::size_t cap) {
  read_wants_write_ = false;
  while (in.size() < cap) {
    std::size_t old = in.size();
    std::size_t want = std::min<std::size_t>(16 * 1024, cap - old);
    in.resize(old + want);
    std::size_t got = 0;
    Io result = Io::Done;
    if (ssl_) {
      if (SSL_read_ex(ssl_.get(), in.data() + old, want, &got) != 1) {
        int err = SSL_get_error(ssl_.get(), 0);
        ERR_clear_error();
        read_wants_write_ = err == SSL_ERROR_WANT_WRITE;
        result = err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE ? Io::Blocked : Io::Closed;
      }
    } else {
      ssize_t n = ::recv(fd, in.data() + old, want, 0);
      if (n > 0) {
        got = static_cast<std::size_t>(n);
      } else {
        result = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? Io::Blocked : Io::Closed;
      }
    }
    in.resize(old + got);
    if (result != Io::Done) return result;
  }
  return Io::Done;
}

ApiConnection::Io ApiConnection::flush() {
  write_wants_read_ = false;
  while (writing()) {
    const char* at = out.data() + out_done;
    std::size_t left = out.size() - out_done;
    if (ssl_) {
      std::size_t put = 0;
      if (SSL_write_ex(ssl_.get(), at, left, &put) != 1) {
        int err = SSL_get_error(ssl_.get(), 0);
        ERR_clear_error();
        write_wants_read_ = err == SSL_ERROR_WANT_READ;
        return err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE ? Io::Blocked : Io::Closed;
      }
      out_done += put;
    } else {
      ssize_t n = ::send(fd, at, left, MSG_NOSIGNAL);
      if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? Io::Blocked : Io::Closed;
      out_done += static_cast<std::size_t>(n);
    }
  }
  return Io::Done;
}

void ApiConnection::close_for_writing() {
  if (ssl_) SSL_shutdown(ssl_.get());  // one try: a close_notify that does not fit is skipped
  ERR_clear_error();
  ::shutdown(fd, SHUT_WR);
  read_wants_write_ = write_wants_read_ = false;
  phase = Phase::Lingering;
}

ApiConnection::Io ApiConnection::drain(std::size_t budget) {
  char sink[16 * 1024];
  for (;;) {
    ssize_t n = ::recv(fd, sink, sizeof sink, 0);  // past TLS: what is left is dropped unread
    if (n > 0) {
      dropped_ += static_cast<std::size_t>(n);
      if (dropped_ > budget) return Io::Closed;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? Io::Blocked : Io::Closed;
    }
  }
}

bool ApiConnection::buffered_input() const {
  return ssl_ && SSL_has_pending(ssl_.get()) == 1;
}

int ApiConnection::events() const {
  int want = 0;
  switch (phase) {
    case Phase::Handshake:
      return read_wants_write_ ? UV_WRITABLE : UV_READABLE;
    case Phase::Reading:
      want = UV_READABLE | (writing() ? UV_WRITABLE : 0);  // a 100 Continue may be on its way
      break;
    case Phase::Writing:
      want = UV_WRITABLE;
      break;
    case Phase::Lingering:
      return UV_READABLE;
    case Phase::Serving:
      return 0;
  }
  if (read_wants_write_) want |= UV_WRITABLE;
  if (write_wants_read_) want |= UV_READABLE;
  return want;
}

}  // namespace pushgate::api
