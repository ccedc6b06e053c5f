// One legacy connection's I/O: reads into relay events, relay actions into writes and TLS.
#include "legacy/legacy_connection.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <cerrno>
#include <cstring>

#include "common/log.hpp"

namespace pushgate::legacy {

namespace {

using Kind = Relay::Event::Kind;
constexpr std::size_t kHighWater = 256 * 1024;  // bytes queued towards one side before we stop reading the other
constexpr std::size_t kReadChunk = 64 * 1024;   // per read(); TLS records are at most 16 KiB of it
constexpr std::size_t kRecord = 16 * 1024;      // the plaintext of one TLS record at most
constexpr auto kCloseGrace = std::chrono::seconds(5);

void no_delay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int version_index(const std::string& version) {
  if (version == "TLSv1") return 0;
  if (version == "TLSv1.1") return 1;
  if (version == "TLSv1.2") return 2;
  return 3;
}

// Writes as much of `out` as the socket takes. False when the peer is gone.
bool send_some(int fd, std::string& out) {
  std::size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::send(fd, out.data() + done, out.size() - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      break;
    } else {
      return false;
    }
  }
  out.erase(0, done);
  return true;
}

}  // namespace

LegacyConnection::LegacyConnection(ListenerShared& shared, std::uint64_t id, Fd client, const sockaddr_storage& peer,
                                   const sockaddr_storage& local, OnClosed on_closed)
    : shared_(shared),
      id_(id),
      client_(std::move(client)),
      relay_(shared.config, peer, local),
      client_watch_(shared.loop, [this](int events) { on_client(events); }),
      backend_watch_(shared.loop, [this](int events) { on_backend(events); }),
      on_closed_(std::move(on_closed)) {
  no_delay(client_.get());
  ++shared_.counters.open;
}

LegacyConnection::~LegacyConnection() {
  if (timer_ != 0) shared_.loop.cancel(timer_);
  if (grace_timer_ != 0) shared_.loop.cancel(grace_timer_);
  if (!finished_) --shared_.counters.open;
}

void LegacyConnection::start(std::size_t open) {
  dispatch(Kind::Accepted, {}, open);
  settle();
}

void LegacyConnection::dispatch(Relay::Event::Kind kind, std::string_view data, std::size_t open) {
  if (finished_) return;
  if (dispatching_) {
    queue_.push_back({kind, std::string(data)});
    return;
  }
  dispatching_ = true;
  auto actions = relay_.handle({kind, data, open}, EventLoop::Clock::now());
  for (auto& a : actions) perform(a);
  for (std::size_t i = 0; i < queue_.size() && !finished_; ++i) {  // handling may queue more
    Queued next = std::move(queue_[i]);
    actions = relay_.handle({next.kind, next.data}, EventLoop::Clock::now());
    for (auto& a : actions) perform(a);
  }
  queue_.clear();
  dispatching_ = false;
}

void LegacyConnection::perform(const Relay::Action& a) {
  using A = Relay::Action::Kind;
  auto& counters = shared_.counters;
  switch (a.kind) {
    case A::WriteClient:
      if (a.relayed) counters.relayed_down += a.bytes.size();
      to_client(a.bytes);
      break;
    case A::StreamError:
      ++counters.errors[static_cast<int>(a.cause)];
      log::info("legacy_tls_stream_error",
                {{"conn", std::to_string(id_)}, {"condition", cause_name(a.cause)}, {"text", a.text}});
      to_client(a.bytes);
      break;
    case A::StartClientTls:
      client_tls_.emplace(shared_.server_tls.get(), TlsChannel::Role::Server);
      client_cipher(a.bytes);
      break;
    case A::ConnectBackend:
      connect_backend();
      break;
    case A::WriteBackend:
      if (a.relayed) counters.relayed_up += a.bytes.size();
      to_backend(a.bytes);
      break;
    case A::StartBackendTls:
      backend_tls_.emplace(shared_.backend_tls.get(), TlsChannel::Role::Client, a.bytes);
      backend_cipher({});  // the ClientHello
      break;
    case A::ShutdownBackend:
      shutdown_backend_ = true;
      if (backend_tls_) {
        backend_tls_->close_notify();
        backend_tls_->take_output(out_backend_);
      }
      break;
    case A::BackendRefused:
      log::warn("legacy_tls_backend_starttls_failed", {{"backend", shared_.config.backend}, {"error", a.text}});
      break;
    case A::Close:
      begin_close(a);
      break;
  }
}

void LegacyConnection::to_client(const std::string& plain) {
  if (client_tls_) {
    client_tls_->send(plain);
    client_tls_->take_output(out_client_);
  } else {
    out_client_ += plain;
  }
}

void LegacyConnection::to_backend(const std::string& plain) {
  if (backend_tls_) {
    backend_tls_->send(plain);
    backend_tls_->take_output(out_backend_);
  } else {
    out_backend_ += plain;
  }
}

void LegacyConnection::client_cipher(std::string_view cipher) {
  TlsChannel& tls = *client_tls_;
  bool was_up = tls.handshake_done();
  tls.receive(cipher);
  tls.take_output(out_client_);  // handshake records, or the alert of a failure
  if (!was_up && tls.handshake_done()) {
    ++shared_.counters.handshakes[version_index(tls.version())];
    std::string sni = tls.servername();
    log::debug("legacy_tls_handshake", {{"conn", std::to_string(id_)}, {"version", tls.version()},
                                        {"cipher", tls.cipher()}, {"domain", relay_.domain().empty() ? sni : relay_.domain()}});
    dispatch(Kind::ClientTlsUp, sni);
  }
  char buf[kRecord];
  while (std::size_t n = tls.read(buf, sizeof buf)) dispatch(Kind::ClientData, std::string_view(buf, n));
  tls.take_output(out_client_);
  if (tls.status() == TlsChannel::Status::Failed) {
    if (!tls.handshake_done()) {
      ++shared_.counters.handshake_failures;
      log::info("legacy_tls_handshake_failed", {{"conn", std::to_string(id_)}, {"error", tls.error()}});
    }
    dispatch(Kind::ClientTlsFailed);
  } else if (tls.status() == TlsChannel::Status::Closed && !client_eof_) {
    client_eof_ = true;
    dispatch(Kind::ClientClosed);
  }
}

void LegacyConnection::backend_cipher(std::string_view cipher) {
  TlsChannel& tls = *backend_tls_;
  bool was_up = tls.handshake_done();
  tls.receive(cipher);
  tls.take_output(out_backend_);
  if (!was_up && tls.handshake_done()) dispatch(Kind::BackendTlsUp);
  char buf[kRecord];
  while (std::size_t n = tls.read(buf, sizeof buf)) dispatch(Kind::BackendData, std::string_view(buf, n));
  tls.take_output(out_backend_);
  if (tls.status() == TlsChannel::Status::Failed) {
    log::warn("legacy_tls_backend_tls_failed", {{"backend", shared_.config.backend}, {"error", tls.error()}});
    dispatch(Kind::BackendTlsFailed);
  } else if (tls.status() == TlsChannel::Status::Closed && !backend_eof_) {
    backend_eof_ = true;
    dispatch(Kind::BackendClosed);
  }
}

void LegacyConnection::connect_backend() {
  backend_.reset(move_high(::socket(shared_.backend.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)));
  if (!backend_) {
    backend_down(errno);
    return;
  }
  no_delay(backend_.get());
  if (::connect(backend_.get(), reinterpret_cast<const sockaddr*>(&shared_.backend), shared_.backend_len) != 0 &&
      errno != EINPROGRESS) {
    backend_down(errno);
    return;
  }
  connecting_ = true;  // writable (or an error) once the connection is made
}

void LegacyConnection::backend_down(int err) {
  log::warn("legacy_tls_backend_down", {{"backend", shared_.config.backend}, {"error", std::strerror(err)},
                                        {"fix", "start Prosody, or check [legacy_tls] backend"}});
  connecting_ = false;
  backend_watch_.stop();
  backend_.reset();
  dispatch(Kind::BackendConnectFailed, std::strerror(err));
}

void LegacyConnection::on_client(int events) {
  if ((events & UV_READABLE) != 0) read_client();
  settle();
}

void LegacyConnection::on_backend(int) {
  if (connecting_) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(backend_.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    connecting_ = false;
    if (err != 0) {
      backend_down(err);
    } else {
      dispatch(Kind::BackendConnected);
    }
  } else {
    read_backend();
  }
  settle();
}

bool LegacyConnection::reading_client() const {
  // Back-pressure: while Prosody has not taken what we hold for it, the client waits.
  return !closing_ && !client_eof_ && out_backend_.size() + relay_.held() <= kHighWater;
}

bool LegacyConnection::reading_backend() const {
  // The client reads slowly: Prosody waits.
  return !closing_ && !backend_eof_ && !connecting_ && out_client_.size() <= kHighWater;
}

void LegacyConnection::read_client() {
  char buf[kReadChunk];
  for (int i = 0; i < 8 && !finished_ && reading_client(); ++i) {
    ssize_t n = ::read(client_.get(), buf, sizeof buf);
    if (n > 0) {
      std::string_view data(buf, static_cast<std::size_t>(n));
      if (client_tls_) {
        client_cipher(data);
      } else {
        dispatch(Kind::ClientData, data);
      }
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n < 0 && errno == EINTR) continue;
    client_eof_ = true;  // its FIN, or a reset
    dispatch(Kind::ClientClosed);
    return;
  }
}

void LegacyConnection::read_backend() {
  char buf[kReadChunk];
  for (int i = 0; i < 8 && !finished_ && reading_backend(); ++i) {
    ssize_t n = ::read(backend_.get(), buf, sizeof buf);
    if (n > 0) {
      std::string_view data(buf, static_cast<std::size_t>(n));
      if (backend_tls_) {
        backend_cipher(data);
      } else {
        dispatch(Kind::BackendData, data);
      }
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n < 0 && errno == EINTR) continue;
    backend_eof_ = true;
    dispatch(Kind::BackendClosed);
    return;
  }
}

void LegacyConnection::begin_close(const Relay::Action& close) {
  closing_ = true;
  close_why_ = close.text;
  if (close.cause != Cause::None) ++shared_.counters.errors[static_cast<int>(close.cause)];
  // After the last bytes, TLS says it ends (not after a failed handshake: that ends without a word).
  if (client_tls_ && client_tls_->handshake_done()) {
    client_tls_->close_notify();
    client_tls_->take_output(out_client_);
  }
  // Whatever is still queued for a peer that does not read goes after a grace period.
  grace_timer_ = shared_.loop.call_after(kCloseGrace, [this] {
    grace_timer_ = 0;
    finish("closing peer does not read");
  });
}

void LegacyConnection::settle() {
  if (finished_ || dispatching_) return;
  flush();
  if (finished_) return;
  watch();
  arm_timer();
}

void LegacyConnection::flush() {
  if (!send_some(client_.get(), out_client_)) {
    finish("client write failed");
    return;
  }
  if (backend_ && !connecting_ && !backend_broken_) {
    if (!send_some(backend_.get(), out_backend_)) {
      backend_broken_ = true;
      out_backend_.clear();
      dispatch(Kind::BackendClosed);
      flush();  // what that led to: a stream error for the client, or the end
      return;
    }
    if (shutdown_backend_ && !backend_shut_ && out_backend_.empty()) {
      ::shutdown(backend_.get(), SHUT_WR);  // the client's half-close, passed on
      backend_shut_ = true;
    }
  }
  if (closing_ && out_client_.empty() && (out_backend_.empty() || !backend_ || backend_broken_ || connecting_)) {
    finish(close_why_);
  }
}

void LegacyConnection::watch() {
  int want = reading_client() ? UV_READABLE : 0;
  if (!out_client_.empty()) want |= UV_WRITABLE;
  client_watch_.watch(client_.get(), want);
  if (!backend_) return;
  int bwant = connecting_ ? UV_WRITABLE : 0;
  if (reading_backend()) bwant |= UV_READABLE;
  if (!connecting_ && !backend_broken_ && !out_backend_.empty()) bwant |= UV_WRITABLE;
  backend_watch_.watch(backend_.get(), bwant);
}

void LegacyConnection::arm_timer() {
  auto when = relay_.deadline();
  if (when == Relay::Clock::time_point::max()) {
    if (timer_ != 0) shared_.loop.cancel(timer_);
    timer_ = 0;
    return;
  }
  // A later deadline (the idle one moves with every byte) waits for the armed timer, whose
  // Tick the relay ignores; it is re-armed then. Only an earlier one re-arms now.
  if (timer_ != 0 && timer_at_ <= when) return;
  if (timer_ != 0) shared_.loop.cancel(timer_);
  auto delay = std::chrono::ceil<std::chrono::milliseconds>(when - EventLoop::Clock::now());
  timer_at_ = when;
  timer_ = shared_.loop.call_after(std::max(delay, std::chrono::milliseconds(0)), [this] {
    timer_ = 0;
    dispatch(Kind::Tick);
    settle();
  });
}

void LegacyConnection::finish(const std::string& why) {
  if (finished_) return;
  finished_ = true;
  if (timer_ != 0) shared_.loop.cancel(timer_);
  if (grace_timer_ != 0) shared_.loop.cancel(grace_timer_);
  timer_ = grace_timer_ = 0;
  client_watch_.stop();
  backend_watch_.stop();
  client_.reset();
  backend_.reset();
  --shared_.counters.open;
  log::debug("legacy_tls_closed", {{"conn", std::to_string(id_)}, {"why", why}});
  on_closed_(*this);
}

}  // namespace pushgate::legacy
