// The legacy TLS listener's event loop: epoll over client and backend sockets, OpenSSL on
// memory BIOs (so bytes read before TLS can be handed to it), relay with back-pressure.
#include "legacy/legacy_listener.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <random>
#include <stdexcept>
#include <vector>

#include <openssl/err.h>

#include "common/keys.hpp"
#include "common/log.hpp"
#include "common/xml_writer.hpp"
#include "legacy/backend_stream.hpp"
#include "legacy/starttls_preamble.hpp"

namespace pushgate::legacy {

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kHighWater = 256 * 1024;  // buffered bytes towards one side before we stop reading the other
constexpr std::size_t kReadChunk = 64 * 1024;  // per read(); TLS records are at most 16 KiB of it

const char* kCauseNames[] = {"not-well-formed",    "restricted-xml",    "invalid-namespace", "host-unknown",
                             "unsupported-version", "policy-violation", "connection-timeout", "remote-connection-failed",
                             "tls-handshake",       "idle-timeout",      "too-many-connections"};

LegacyListener::Cause cause_of(const char* condition) {
  for (int i = 0; i < LegacyListener::kCauses; ++i) {
    if (std::strcmp(kCauseNames[i], condition) == 0) return static_cast<LegacyListener::Cause>(i);
  }
  return LegacyListener::kPolicyViolation;
}


int tls_version_of(TlsVersion v) {
  switch (v) {
    case TlsVersion::Tls1_0: return TLS1_VERSION;
    case TlsVersion::Tls1_1: return TLS1_1_VERSION;
    case TlsVersion::Tls1_2: return TLS1_2_VERSION;
    case TlsVersion::Tls1_3: return TLS1_3_VERSION;
  }
  return TLS1_VERSION;
}

// Moves a descriptor to 1024 or above. libstrophe (the component session) waits with
// select(), which cannot watch a descriptor past FD_SETSIZE (1024): with thousands of relayed
// connections in the low numbers, its next socket would abort the process. The listener's
// descriptors live above, and the low numbers stay for the rest of pushgate.
int move_high(int fd) {
  if (fd < 0 || fd >= 1024) return fd;
  int high = fcntl(fd, F_DUPFD_CLOEXEC, 1024);
  if (high < 0) return fd;  // no room above (a low RLIMIT_NOFILE): keep it where it is
  ::close(fd);
  return high;
}

// Builds the server context: security level 0 so TLS 1.0/1.1 work on Debian 12's OpenSSL 3.
std::shared_ptr<SSL_CTX> make_server_ctx(const LegacyTlsConfig& c, std::string& error) {
  std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  if (!ctx) {
    error = "cannot create a TLS context: " + openssl_error();
    return nullptr;
  }
  SSL_CTX* x = ctx.get();
  SSL_CTX_set_security_level(x, 0);
  SSL_CTX_set_min_proto_version(x, tls_version_of(c.min_version));
  SSL_CTX_set_options(x, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(x, SSL_MODE_RELEASE_BUFFERS);
  if (SSL_CTX_set_cipher_list(x, c.ciphers.c_str()) != 1) {
    error = "[legacy_tls] ciphers '" + c.ciphers + "' selects no cipher: " + openssl_error();
    return nullptr;
  }
  if (SSL_CTX_use_certificate_chain_file(x, c.cert_file.c_str()) != 1) {
    error = "[legacy_tls] cert_file " + c.cert_file + " is not a PEM certificate (chain): " + openssl_error();
    return nullptr;
  }
  if (SSL_CTX_use_PrivateKey_file(x, c.key_file.c_str(), SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(x) != 1) {
    error = "[legacy_tls] key_file " + c.key_file + " is not the private key of cert_file: " + openssl_error();
    return nullptr;
  }
  return ctx;
}

}  // namespace

struct LegacyListener::Endpoint {
  Conn* conn;
  bool backend;
};

struct LegacyListener::Conn {
  enum class State { PreTls, Handshake, BackendConnect, BackendPreTls, BackendHandshake, Relay };
  std::uint64_t id = 0;
  int fd = -1;
  int bfd = -1;
  Endpoint client_ep{this, false};
  Endpoint backend_ep{this, true};
  sockaddr_storage peer{};
  sockaddr_storage local{};
  State state = State::PreTls;
  std::unique_ptr<StarttlsPreamble> preamble;
  SSL* tls = nullptr;   // towards the client (server role), memory BIOs
  SSL* btls = nullptr;  // towards Prosody in starttls mode (client role), memory BIOs
  std::unique_ptr<BackendStarttls> bstart;
  FeaturesFilter filter;
  std::string out_client;     // bytes for the client socket
  std::string out_backend;    // bytes for the backend socket
  std::string plain_pending;  // client plaintext waiting for the backend
  std::string domain;
  bool header_sent = false;
  bool closing = false;  // write what is queued, then close
  bool dead = false;     // closed; freed after the current batch of events (others may name it)
  bool client_eof = false;
  bool backend_eof = false;
  std::uint32_t client_interest = 0;
  std::uint32_t backend_interest = 0;
  Clock::time_point accepted;
  Clock::time_point last_activity;

  ~Conn() {
    if (tls != nullptr) SSL_free(tls);
    if (btls != nullptr) SSL_free(btls);
    if (fd >= 0) ::close(fd);
    if (bfd >= 0) ::close(bfd);
  }
};

LegacyListener::LegacyListener(const LegacyTlsConfig& config) : config_(config) {
  std::string error;
  ctx_ = make_server_ctx(config_, error);
  if (!ctx_) throw std::runtime_error(error);
  backend_ctx_.reset(SSL_CTX_new(TLS_client_method()));
  // Prosody is on this host or this network and authenticated by its address; the client's
  // own TLS ends here. The backend TLS only keeps Prosody's require-encryption policy intact.
  SSL_CTX_set_verify(backend_ctx_.get(), SSL_VERIFY_NONE, nullptr);

  std::string host, port;
  if (!split_host_port(config_.backend, host, port)) throw std::runtime_error("[legacy_tls] backend is not host:port");
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0) throw std::runtime_error("[legacy_tls] backend " + config_.backend + ": " + gai_strerror(rc));
  std::memcpy(&backend_addr_, res->ai_addr, res->ai_addrlen);
  backend_len_ = res->ai_addrlen;
  freeaddrinfo(res);

  if (!split_host_port(config_.listen, host, port)) throw std::runtime_error("[legacy_tls] listen is not host:port");
  hints.ai_flags = AI_PASSIVE;
  rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0) throw std::runtime_error("[legacy_tls] listen " + config_.listen + ": " + gai_strerror(rc));
  listen_fd_ = ::socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (listen_fd_ < 0 || bind(listen_fd_, res->ai_addr, res->ai_addrlen) != 0 || ::listen(listen_fd_, 1024) != 0) {
    std::string why = std::strerror(errno);
    freeaddrinfo(res);
    throw std::runtime_error("[legacy_tls] cannot listen on " + config_.listen + ": " + why +
                             (errno == EACCES ? " (ports below 1024 need CAP_NET_BIND_SERVICE)" : "") +
                             (errno == EADDRINUSE ? " (is Prosody's c2s on it? move Prosody, see prosody-config/)" : ""));
  }
  freeaddrinfo(res);
  sockaddr_storage bound{};
  socklen_t blen = sizeof bound;
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&bound), &blen);
  port_ = ntohs(bound.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                            : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;  // the listening socket
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev);
  ev.data.ptr = &wake_fd_;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
}

LegacyListener::~LegacyListener() {
  stop_ = true;
  std::uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  for (Conn* c : conns_) delete c;
  for (Conn* c : graveyard_) delete c;
  if (listen_fd_ >= 0) ::close(listen_fd_);
  ::close(epoll_fd_);
  ::close(wake_fd_);
}

void LegacyListener::stop_accepting() {
  stop_accepting_ = true;
  std::uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
}

void LegacyListener::start() {
  thread_ = std::thread([this] { run(); });
  log::info("legacy_tls_listening", {{"address", config_.listen}, {"port", std::to_string(port_)},
                                     {"backend", config_.backend}, {"backend_mode", to_string(config_.backend_mode)},
                                     {"min_version", to_string(config_.min_version)},
                                     {"proxy_protocol", to_string(config_.proxy_protocol)}});
}

std::shared_ptr<SSL_CTX> LegacyListener::server_ctx() const {
  std::lock_guard lock(ctx_mutex_);
  return ctx_;
}

std::shared_ptr<SSL_CTX> LegacyListener::prepare_tls(const LegacyTlsConfig& fresh, std::string& error) {
  return make_server_ctx(fresh, error);
}

void LegacyListener::use_tls(std::shared_ptr<SSL_CTX> ctx) {
  std::lock_guard lock(ctx_mutex_);
  ctx_ = std::move(ctx);
}

bool LegacyListener::responsive(std::chrono::milliseconds within) const {
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count();
  return now - last_turn_ms_.load() <= within.count();
}

void LegacyListener::run() {
  std::vector<epoll_event> events(256);
  auto next_check = Clock::now() + std::chrono::seconds(1);
  while (!stop_) {
    last_turn_ms_ = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count();
    int n = epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), 500);
    for (int i = 0; i < n; ++i) {
      void* p = events[i].data.ptr;
      if (p == nullptr) {
        accept_all();
      } else if (p == &wake_fd_) {
        std::uint64_t v;
        (void)!::read(wake_fd_, &v, sizeof v);
        if (stop_accepting_ && listen_fd_ >= 0) {
          epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
          ::close(listen_fd_);
          listen_fd_ = -1;
          log::info("legacy_tls_closed", {{"reason", "shutting down"}, {"open", std::to_string(open_.load())}});
        }
      } else {
        handle(static_cast<Endpoint*>(p), events[i].events);
      }
    }
    if (Clock::now() >= next_check) {
      check_timers();
      next_check = Clock::now() + std::chrono::seconds(1);
    }
    for (Conn* c : graveyard_) delete c;
    graveyard_.clear();
  }
}

void LegacyListener::accept_all() {
  for (;;) {
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    int fd = accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    fd = move_high(fd);
    ++accepted_;
    if (conns_.size() >= static_cast<std::size_t>(config_.max_connections)) {
      ++errors_[kTooManyConnections];
      ::close(fd);
      continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto* c = new Conn;
    c->id = next_id_++;
    c->fd = fd;
    c->peer = peer;
    socklen_t llen = sizeof c->local;
    getsockname(fd, reinterpret_cast<sockaddr*>(&c->local), &llen);
    c->accepted = c->last_activity = Clock::now();
    c->preamble = std::make_unique<StarttlsPreamble>(config_.domains, static_cast<std::size_t>(config_.pre_tls_bytes));
    conns_.insert(c);
    ++open_;
    c->client_interest = EPOLLIN;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = &c->client_ep;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
  }
}

void LegacyListener::handle(Endpoint* ep, std::uint32_t events) {
  Conn& c = *ep->conn;
  if (c.dead) return;
  if (!ep->backend) {
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) client_input(c);
  } else if (c.state == Conn::State::BackendConnect) {
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) backend_connected(c);
  } else if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
    backend_input(c);
  }
  if (c.dead) return;  // closed above
  flush(c);
}

std::string LegacyListener::our_stream_header(const std::string& domain) const {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char id[17];
  std::snprintf(id, sizeof id, "%016llx", static_cast<unsigned long long>(rng()));
  std::string from = domain.empty() && config_.domains.size() == 1 ? config_.domains[0] : domain;
  xml::Writer w;
  w.open("stream:stream").attr("xmlns", "jabber:client").attr("xmlns:stream", "http://etherx.jabber.org/streams");
  w.attr("id", id);
  if (!from.empty()) w.attr("from", from);
  w.attr("version", "1.0").attr("xml:lang", "en");
  return "<?xml version='1.0'?>" + w.head();
}

void LegacyListener::client_input(Conn& c) {
  char buf[kReadChunk];
  for (int i = 0; i < 8 && !c.closing; ++i) {
    // Back-pressure: while Prosody has not taken what we hold for it, the client waits.
    if (c.out_backend.size() + c.plain_pending.size() > kHighWater) break;
    ssize_t n = ::read(c.fd, buf, sizeof buf);
    if (n > 0) {
      c.last_activity = Clock::now();
      if (c.state == Conn::State::PreTls) {
        preamble_bytes(c, buf, static_cast<std::size_t>(n));
      } else {
        BIO_write(SSL_get_rbio(c.tls), buf, static_cast<int>(n));
        pump_client_tls(c);
      }
      if (c.dead) return;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n < 0 && errno == EINTR) continue;
    // The client is gone (or half-closed): pass on what it said, then end.
    c.client_eof = true;
    if (c.state != Conn::State::Relay) {
      close(c, "client closed before the relay began");
      return;
    }
    if (c.bfd >= 0) shutdown(c.bfd, SHUT_WR);
    c.closing = c.out_backend.empty() || c.backend_eof;
    break;
  }
  update_interest(c);
}

void LegacyListener::preamble_bytes(Conn& c, const char* data, std::size_t n) {
  // Direct TLS (XEP-0368) on the same port: a ClientHello starts with a handshake record.
  if (!c.header_sent && static_cast<unsigned char>(data[0]) == 0x16) {
    start_tls(c, std::string(data, n));
    return;
  }
  StarttlsPreamble::Step step = c.preamble->feed(std::string_view(data, n));
  for (;;) {
    switch (step) {
      case StarttlsPreamble::Step::StreamHeader:
        c.domain = c.preamble->domain();
        // Header and features in one write: some clients look for both in a single read.
        c.out_client += our_stream_header(c.domain);
        c.header_sent = true;
        step = c.preamble->feed("");
        if (step != StarttlsPreamble::Step::Error) {
          c.out_client +=
              "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>"
              "</stream:features>";
        }
        continue;
      case StarttlsPreamble::Step::Proceed: {
        c.out_client += "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";
        std::string leftover = c.preamble->leftover();
        start_tls(c, leftover);
        return;
      }
      case StarttlsPreamble::Step::Error:
        if (c.preamble->condition()[0] == '\0') {
          c.out_client += "</stream:stream>";
          c.closing = true;
        } else {
          stream_error(c, cause_of(c.preamble->condition()), c.preamble->condition(), c.preamble->text());
        }
        return;
      case StarttlsPreamble::Step::NeedMore:
        return;
    }
  }
}

void LegacyListener::start_tls(Conn& c, const std::string& bytes) {
  auto ctx = server_ctx();
  c.tls = SSL_new(ctx.get());
  SSL_set_bio(c.tls, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
  SSL_set_accept_state(c.tls);
  c.state = Conn::State::Handshake;
  c.preamble.reset();  // the parser's memory is not needed any more
  if (!bytes.empty()) BIO_write(SSL_get_rbio(c.tls), bytes.data(), static_cast<int>(bytes.size()));
  pump_client_tls(c);
}

void LegacyListener::drain_bio(SSL* ssl, std::string& out) {
  BIO* w = SSL_get_wbio(ssl);
  char buf[kReadChunk];
  int n;
  while ((n = BIO_read(w, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
}

void LegacyListener::pump_client_tls(Conn& c) {
  if (c.state == Conn::State::Handshake) {
    ERR_clear_error();
    int rc = SSL_do_handshake(c.tls);
    drain_bio(c.tls, c.out_client);
    if (rc != 1) {
      int err = SSL_get_error(c.tls, rc);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return;
      ++handshake_failures_;
      ++errors_[kTlsHandshake];
      log::info("legacy_tls_handshake_failed", {{"conn", std::to_string(c.id)}, {"error", openssl_error()}});
      // On a failed handshake the TCP connection just ends, without </stream:stream>.
      c.closing = true;
      return;
    }
    handshake_done(c);
    if (c.dead) return;
  }
  char buf[kReadChunk];
  for (;;) {
    int n = SSL_read(c.tls, buf, sizeof buf);
    if (n > 0) {
      to_backend(c, std::string_view(buf, static_cast<std::size_t>(n)));
      continue;
    }
    int err = SSL_get_error(c.tls, n);
    if (err == SSL_ERROR_ZERO_RETURN) {
      c.client_eof = true;
      if (c.bfd >= 0 && c.state == Conn::State::Relay) shutdown(c.bfd, SHUT_WR);
      c.closing = c.out_backend.empty();
    } else if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
      ++errors_[kTlsHandshake];
      c.closing = true;
    }
    break;
  }
  drain_bio(c.tls, c.out_client);
}

void LegacyListener::handshake_done(Conn& c) {
  int v = SSL_version(c.tls);
  int index = v == TLS1_VERSION ? 0 : v == TLS1_1_VERSION ? 1 : v == TLS1_2_VERSION ? 2 : 3;
  ++handshakes_[index];
  log::debug("legacy_tls_handshake", {{"conn", std::to_string(c.id)}, {"version", SSL_get_version(c.tls)},
                                      {"cipher", SSL_get_cipher_name(c.tls)}, {"domain", c.domain}});
  if (c.domain.empty()) {
    // Direct TLS: the domain comes from SNI.
    const char* sni = SSL_get_servername(c.tls, TLSEXT_NAMETYPE_host_name);
    if (sni != nullptr) c.domain = sni;
    if (c.domain.empty() && config_.domains.size() == 1) c.domain = config_.domains[0];
  }
  connect_backend(c);
}

void LegacyListener::connect_backend(Conn& c) {
  c.state = Conn::State::BackendConnect;
  ++backend_connects_;
  c.bfd = move_high(::socket(backend_addr_.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  int one = 1;
  setsockopt(c.bfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (c.bfd < 0 ||
      (::connect(c.bfd, reinterpret_cast<const sockaddr*>(&backend_addr_), backend_len_) != 0 && errno != EINPROGRESS)) {
    stream_error(c, kRemoteConnectionFailed, "remote-connection-failed",
                 std::string("the XMPP server is not reachable: ") + std::strerror(errno));
    return;
  }
  c.backend_interest = EPOLLOUT;
  epoll_event ev{};
  ev.events = EPOLLOUT;
  ev.data.ptr = &c.backend_ep;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c.bfd, &ev);
}

void LegacyListener::backend_connected(Conn& c) {
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(c.bfd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    log::warn("legacy_tls_backend_down", {{"backend", config_.backend}, {"error", std::strerror(err)},
                                          {"fix", "start Prosody, or check [legacy_tls] backend"}});
    stream_error(c, kRemoteConnectionFailed, "remote-connection-failed", "the XMPP server is not reachable");
    return;
  }
  if (config_.proxy_protocol != ProxyProtocol::Off) {
    c.out_backend += proxy_header(config_.proxy_protocol == ProxyProtocol::V1 ? 1 : 2, c.peer, c.local);
  }
  if (config_.backend_mode == BackendMode::Starttls) {
    c.state = Conn::State::BackendPreTls;
    c.bstart = std::make_unique<BackendStarttls>();
    c.out_backend += backend_stream_header(c.domain);
  } else {
    c.state = Conn::State::Relay;
    c.out_backend += c.plain_pending;
    relayed_up_ += c.plain_pending.size();
    c.plain_pending.clear();
  }
  update_interest(c);
}

void LegacyListener::to_backend(Conn& c, std::string_view plain) {
  if (c.state != Conn::State::Relay) {
    c.plain_pending += plain;
    return;
  }
  relayed_up_ += plain.size();
  if (c.btls != nullptr) {
    SSL_write(c.btls, plain.data(), static_cast<int>(plain.size()));
    drain_bio(c.btls, c.out_backend);
  } else {
    c.out_backend += plain;
  }
}

void LegacyListener::to_client(Conn& c, std::string_view plain) {
  if (c.filter.done()) {  // past the first features: no copy
    relayed_down_ += plain.size();
    SSL_write(c.tls, plain.data(), static_cast<int>(plain.size()));
    drain_bio(c.tls, c.out_client);
    return;
  }
  std::string out = c.filter.feed(plain);
  if (out.empty()) return;
  relayed_down_ += out.size();
  SSL_write(c.tls, out.data(), static_cast<int>(out.size()));
  drain_bio(c.tls, c.out_client);
}

void LegacyListener::relay_backend_tls(Conn& c) {
  char buf[kReadChunk];
  int n;
  while ((n = SSL_read(c.btls, buf, sizeof buf)) > 0) to_client(c, std::string_view(buf, static_cast<std::size_t>(n)));
}

void LegacyListener::backend_input(Conn& c) {
  char buf[kReadChunk];
  for (int i = 0; i < 8 && !c.closing; ++i) {
    if (c.out_client.size() > kHighWater) break;  // the client reads slowly: Prosody waits
    ssize_t n = ::read(c.bfd, buf, sizeof buf);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      c.backend_eof = true;
      if (c.state != Conn::State::Relay) {
        stream_error(c, kRemoteConnectionFailed, "remote-connection-failed", "the XMPP server closed the connection");
        return;
      }
      // Prosody ended the stream: the client gets what is left, then close_notify.
      SSL_shutdown(c.tls);
      drain_bio(c.tls, c.out_client);
      c.closing = true;
      break;
    }
    c.last_activity = Clock::now();
    std::string_view data(buf, static_cast<std::size_t>(n));
    switch (c.state) {
      case Conn::State::BackendPreTls: {
        auto step = c.bstart->feed(data);
        if (step == BackendStarttls::Step::SendStarttls) {
          c.out_backend += "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";
        } else if (step == BackendStarttls::Step::StartTls) {
          c.btls = SSL_new(backend_ctx_.get());
          SSL_set_bio(c.btls, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
          SSL_set_connect_state(c.btls);
          if (!c.domain.empty()) SSL_set_tlsext_host_name(c.btls, c.domain.c_str());
          c.state = Conn::State::BackendHandshake;
          SSL_do_handshake(c.btls);
          drain_bio(c.btls, c.out_backend);
        } else if (step == BackendStarttls::Step::Error) {
          log::warn("legacy_tls_backend_starttls_failed", {{"backend", config_.backend}, {"error", c.bstart->error()}});
          stream_error(c, kRemoteConnectionFailed, "remote-connection-failed", "the XMPP server refused the connection");
          return;
        }
        break;
      }
      case Conn::State::BackendHandshake: {
        BIO_write(SSL_get_rbio(c.btls), data.data(), static_cast<int>(data.size()));
        int rc = SSL_do_handshake(c.btls);
        drain_bio(c.btls, c.out_backend);
        if (rc == 1) {
          // The client's new stream header (and anything after it) goes to Prosody now.
          c.state = Conn::State::Relay;
          std::string pending = std::move(c.plain_pending);
          c.plain_pending.clear();
          to_backend(c, pending);
          relay_backend_tls(c);  // Prosody may already have sent application data in the same read
        } else {
          int err = SSL_get_error(c.btls, rc);
          if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
            log::warn("legacy_tls_backend_tls_failed", {{"backend", config_.backend}, {"error", openssl_error()}});
            stream_error(c, kRemoteConnectionFailed, "remote-connection-failed", "TLS with the XMPP server failed");
            return;
          }
        }
        break;
      }
      case Conn::State::Relay:
        if (c.btls != nullptr) {
          BIO_write(SSL_get_rbio(c.btls), data.data(), static_cast<int>(data.size()));
          relay_backend_tls(c);
          drain_bio(c.btls, c.out_backend);
        } else {
          to_client(c, data);
        }
        break;
      default:
        break;
    }
  }
  update_interest(c);
}

void LegacyListener::stream_error(Conn& c, Cause cause, const char* condition, const std::string& text) {
  ++errors_[cause];
  log::info("legacy_tls_stream_error", {{"conn", std::to_string(c.id)}, {"condition", condition}, {"text", text}});
  xml::Writer w;
  w.open("stream:error");
  w.open(xml::Name::ours(condition)).attr("xmlns", "urn:ietf:params:xml:ns:xmpp-streams").close();
  w.open("text").attr("xmlns", "urn:ietf:params:xml:ns:xmpp-streams").text(text).close();
  std::string err = w.finish() + "</stream:stream>";
  if (c.tls != nullptr && SSL_is_init_finished(c.tls)) {
    // After TLS the client has opened a new stream we never answered: answer, then fail it.
    std::string out = our_stream_header(c.domain) + err;
    SSL_write(c.tls, out.data(), static_cast<int>(out.size()));
    drain_bio(c.tls, c.out_client);
  } else if (c.tls == nullptr) {
    if (!c.header_sent) c.out_client += our_stream_header(c.domain);
    c.header_sent = true;
    c.out_client += err;
  }
  c.closing = true;
  update_interest(c);
}

void LegacyListener::flush(Conn& c) {
  auto write_all = [](int fd, std::string& out) -> bool {
    while (!out.empty()) {
      ssize_t n = ::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
      if (n > 0) {
        out.erase(0, static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
      if (n < 0 && errno == EINTR) continue;
      return false;
    }
    return true;
  };
  if (!write_all(c.fd, c.out_client)) {
    close(c, "client write failed");
    return;
  }
  if (c.bfd >= 0 && c.state != Conn::State::BackendConnect && !write_all(c.bfd, c.out_backend)) {
    if (c.state == Conn::State::Relay) {
      close(c, "backend write failed");
      return;
    }
  }
  if (c.client_eof && c.out_backend.empty() && c.state == Conn::State::Relay && !c.backend_eof) {
    // Half-closed by the client: Prosody has everything; wait for its end of the stream.
    shutdown(c.bfd, SHUT_WR);
  }
  if (c.closing && c.out_client.empty() && (c.out_backend.empty() || c.bfd < 0 || c.backend_eof)) {
    close(c, "done");
    return;
  }
  update_interest(c);
}

void LegacyListener::update_interest(Conn& c) {
  if (c.dead) return;
  // One socket's epoll registration, changed only when the events it waits for change.
  auto set = [this](int fd, Endpoint& ep, std::uint32_t want, std::uint32_t& registered) {
    if (want == registered) return;
    epoll_event ev{};
    ev.events = want;
    ev.data.ptr = &ep;
    epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev);
    registered = want;
  };
  std::uint32_t want = 0;
  if (!c.closing && !c.client_eof && c.out_backend.size() + c.plain_pending.size() <= kHighWater) want |= EPOLLIN;
  if (!c.out_client.empty()) want |= EPOLLOUT;
  set(c.fd, c.client_ep, want, c.client_interest);
  if (c.bfd >= 0) {
    std::uint32_t bwant = 0;
    if (c.state == Conn::State::BackendConnect) {
      bwant = EPOLLOUT;
    } else {
      if (!c.closing && !c.backend_eof && c.out_client.size() <= kHighWater) bwant |= EPOLLIN;
      if (!c.out_backend.empty()) bwant |= EPOLLOUT;
    }
    set(c.bfd, c.backend_ep, bwant, c.backend_interest);
  }
}

void LegacyListener::close(Conn& c, const char* why) {
  log::debug("legacy_tls_closed", {{"conn", std::to_string(c.id)}, {"why", why}});
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd, nullptr);
  if (c.bfd >= 0) epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.bfd, nullptr);
  ::close(c.fd);
  c.fd = -1;
  if (c.bfd >= 0) ::close(c.bfd);
  c.bfd = -1;
  c.dead = true;
  conns_.erase(&c);
  --open_;
  graveyard_.push_back(&c);
}

void LegacyListener::check_timers() {
  auto now = Clock::now();
  auto pre_tls = std::chrono::seconds(config_.pre_tls_seconds);
  auto idle = std::chrono::seconds(config_.idle_timeout);
  std::vector<Conn*> all(conns_.begin(), conns_.end());
  for (Conn* c : all) {
    if (conns_.count(c) == 0) continue;
    if (c->closing) {
      // Whatever is still queued for a peer that does not read goes after a grace period.
      if (now - c->last_activity > std::chrono::seconds(5)) close(*c, "closing peer does not read");
      continue;
    }
    if ((c->state == Conn::State::PreTls || c->state == Conn::State::Handshake) && now - c->accepted > pre_tls) {
      if (c->state == Conn::State::PreTls) {
        stream_error(*c, kConnectionTimeout, "connection-timeout", "no STARTTLS within " +
                                                                         std::to_string(config_.pre_tls_seconds) + " s");
        c->last_activity = now;
        flush(*c);
      } else {
        ++errors_[kConnectionTimeout];
        close(*c, "TLS handshake too slow");
      }
      continue;
    }
    if (now - c->last_activity > idle) {
      ++errors_[kIdleTimeout];
      close(*c, "idle");
    }
  }
}

void LegacyListener::write_metrics(metrics::Writer& w) const {
  w.family("pushgate_legacy_connections_total", "counter", "Connections accepted by the legacy TLS listener.");
  w.sample("pushgate_legacy_connections_total", {}, accepted_.load());
  w.family("pushgate_legacy_connections_open", "gauge", "Connections open on the legacy TLS listener.");
  w.sample("pushgate_legacy_connections_open", {}, open_.load());
  w.family("pushgate_legacy_handshakes_total", "counter", "Completed TLS handshakes by protocol version.");
  const char* versions[] = {"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"};
  for (int i = 0; i < 4; ++i) w.sample("pushgate_legacy_handshakes_total", {{"version", versions[i]}}, handshakes_[i].load());
  w.family("pushgate_legacy_handshake_failures_total", "counter", "TLS handshakes that failed.");
  w.sample("pushgate_legacy_handshake_failures_total", {}, handshake_failures_.load());
  w.family("pushgate_legacy_relay_bytes_total", "counter", "Plaintext bytes relayed, by direction.");
  w.sample("pushgate_legacy_relay_bytes_total", {{"direction", "client_to_server"}}, relayed_up_.load());
  w.sample("pushgate_legacy_relay_bytes_total", {{"direction", "server_to_client"}}, relayed_down_.load());
  w.family("pushgate_legacy_errors_total", "counter", "Connections ended by an error, by cause.");
  for (int i = 0; i < kCauses; ++i) w.sample("pushgate_legacy_errors_total", {{"cause", kCauseNames[i]}}, errors_[i].load());
}

}  // namespace pushgate::legacy
