// The legacy TLS listener on the event loop: binding, accepting, reloads and metrics.
#include "legacy/legacy_listener.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "common/keys.hpp"
#include "common/log.hpp"

namespace pushgate::legacy {

namespace {

struct AddrinfoDeleter {
  void operator()(addrinfo* a) const { freeaddrinfo(a); }
};
using AddrinfoPtr = std::unique_ptr<addrinfo, AddrinfoDeleter>;

// host:port of `key` resolved; throws naming the key.
AddrinfoPtr resolve(const std::string& key, const std::string& value, bool passive) {
  std::string host, port;
  if (!split_host_port(value, host, port)) throw std::runtime_error("[legacy_tls] " + key + " is not host:port");
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  if (passive) hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0) throw std::runtime_error("[legacy_tls] " + key + " " + value + ": " + gai_strerror(rc));
  return AddrinfoPtr(res);
}

}  // namespace

LegacyListener::LegacyListener(EventLoop& loop, const LegacyTlsConfig& config)
    : shared_(loop, config), listen_watch_(loop, [this](int) { accept_all(); }) {
  std::string error;
  shared_.server_tls = make_server_context(config, error);
  if (!shared_.server_tls) throw std::runtime_error(error);
  certificate_not_after_ = pushgate::certificate_not_after(SSL_CTX_get0_certificate(shared_.server_tls.get()));
  shared_.backend_tls = make_backend_context();

  AddrinfoPtr backend = resolve("backend", config.backend, false);
  std::memcpy(&shared_.backend, backend->ai_addr, backend->ai_addrlen);
  shared_.backend_len = backend->ai_addrlen;

  AddrinfoPtr listen = resolve("listen", config.listen, true);
  listen_fd_.reset(::socket(listen->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  int one = 1;
  if (listen_fd_) setsockopt(listen_fd_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (!listen_fd_ || bind(listen_fd_.get(), listen->ai_addr, listen->ai_addrlen) != 0 ||
      ::listen(listen_fd_.get(), 1024) != 0) {
    int err = errno;
    throw std::runtime_error("[legacy_tls] cannot listen on " + config.listen + ": " + std::strerror(err) +
                             (err == EACCES ? " (ports below 1024 need CAP_NET_BIND_SERVICE)" : "") +
                             (err == EADDRINUSE ? " (is Prosody's c2s on it? move Prosody, see prosody-config/)" : ""));
  }
  sockaddr_storage bound{};
  socklen_t blen = sizeof bound;
  getsockname(listen_fd_.get(), reinterpret_cast<sockaddr*>(&bound), &blen);
  port_ = ntohs(bound.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                            : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
}

LegacyListener::~LegacyListener() {
  if (resume_timer_ != 0) shared_.loop.cancel(resume_timer_);
  listen_watch_.stop();
  conns_.clear();  // each stops its watches and closes its sockets
}

void LegacyListener::start() {
  listen_watch_.watch(listen_fd_.get(), UV_READABLE);
  const LegacyTlsConfig& c = shared_.config;
  log::info("legacy_tls_listening", {{"address", c.listen}, {"port", std::to_string(port_)},
                                     {"backend", c.backend}, {"backend_mode", to_string(c.backend_mode)},
                                     {"min_version", to_string(c.min_version)}, {"proxy_protocol", to_string(c.proxy_protocol)}});
}

void LegacyListener::stop_accepting() {
  if (!listen_fd_) return;
  if (resume_timer_ != 0) shared_.loop.cancel(resume_timer_);
  resume_timer_ = 0;
  listen_watch_.stop();
  listen_fd_.reset();
  log::info("legacy_tls_closed", {{"reason", "shutting down"}, {"open", std::to_string(conns_.size())}});
}

std::shared_ptr<SSL_CTX> LegacyListener::prepare_tls(const LegacyTlsConfig& fresh, std::string& error) {
  return make_server_context(fresh, error);
}

void LegacyListener::use_tls(std::shared_ptr<SSL_CTX> ctx) {
  certificate_not_after_ = pushgate::certificate_not_after(SSL_CTX_get0_certificate(ctx.get()));
  shared_.server_tls = std::move(ctx);
}

void LegacyListener::accept_all() {
  for (;;) {
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    int fd = accept4(listen_fd_.get(), reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // The waiting client stays in the backlog and the socket stays readable: pause rather
        // than spin, and try again in a moment.
        log::warn("legacy_tls_accept_failed", {{"error", std::strerror(errno)},
                                               {"fix", "raise LimitNOFILE, or lower [legacy_tls] max_connections"}});
        listen_watch_.watch(listen_fd_.get(), 0);
        resume_timer_ = shared_.loop.call_after(std::chrono::milliseconds(100), [this] {
          resume_timer_ = 0;
          listen_watch_.watch(listen_fd_.get(), UV_READABLE);
        });
      }
      return;  // EAGAIN: all taken
    }
    ++shared_.counters.accepted;
    Fd client(move_high(fd));
    sockaddr_storage local{};
    socklen_t llen = sizeof local;
    getsockname(client.get(), reinterpret_cast<sockaddr*>(&local), &llen);
    std::uint64_t id = next_id_++;
    auto conn = std::make_unique<LegacyConnection>(shared_, id, std::move(client), peer, local,
                                                   [this](LegacyConnection& c) { retire(c); });
    LegacyConnection& c = *conn;
    std::size_t others = conns_.size();
    conns_.emplace(id, std::move(conn));
    c.start(others);
  }
}

void LegacyListener::retire(LegacyConnection& conn) {
  auto it = conns_.find(conn.id());
  if (it == conns_.end()) return;
  // Its callback is still on the stack: it is freed once this turn of the loop is over.
  std::shared_ptr<LegacyConnection> dead(std::move(it->second));
  conns_.erase(it);
  shared_.loop.defer([dead] {});
}

void LegacyListener::write_metrics(metrics::Writer& w) const {
  const auto& n = shared_.counters;
  w.family("pushgate_legacy_connections_total", "counter", "Connections accepted by the legacy TLS listener.");
  w.sample("pushgate_legacy_connections_total", {}, n.accepted.load());
  w.family("pushgate_legacy_connections_open", "gauge", "Connections open on the legacy TLS listener.");
  w.sample("pushgate_legacy_connections_open", {}, n.open.load());
  w.family("pushgate_legacy_handshakes_total", "counter", "Completed TLS handshakes by protocol version.");
  const char* versions[] = {"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"};
  for (int i = 0; i < 4; ++i) w.sample("pushgate_legacy_handshakes_total", {{"version", versions[i]}}, n.handshakes[i].load());
  w.family("pushgate_legacy_handshake_failures_total", "counter", "TLS handshakes that failed.");
  w.sample("pushgate_legacy_handshake_failures_total", {}, n.handshake_failures.load());
  w.family("pushgate_legacy_relay_bytes_total", "counter", "Plaintext bytes relayed, by direction.");
  w.sample("pushgate_legacy_relay_bytes_total", {{"direction", "client_to_server"}}, n.relayed_up.load());
  w.sample("pushgate_legacy_relay_bytes_total", {{"direction", "server_to_client"}}, n.relayed_down.load());
  w.family("pushgate_legacy_errors_total", "counter", "Connections ended by an error, by cause.");
  for (int i = 0; i < kCauses; ++i) {
    w.sample("pushgate_legacy_errors_total", {{"cause", cause_name(static_cast<Cause>(i))}}, n.errors[i].load());
  }
}

}  // namespace pushgate::legacy
