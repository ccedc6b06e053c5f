// The test/benchmark HTTP/2 server: poll over non-blocking TLS sockets, one nghttp2 server
// session per connection, answers from the handler.
#include <sys/stat.h>
#include "h2_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace pushgate::test {

namespace {
struct StreamData {
  H2ServerRequest request;
  H2ServerAnswer answer;
  std::size_t sent = 0;
};
}  // namespace

struct H2Server::Conn {
  int fd = -1;
  SSL* ssl = nullptr;
  nghttp2_session* session = nullptr;
  bool handshaken = false;
  bool dead = false;
  std::string out;
  std::uint32_t open_streams = 0;
  H2Server* server = nullptr;
  ~Conn() {
    if (session != nullptr) nghttp2_session_del(session);
    if (ssl != nullptr) SSL_free(ssl);
    if (fd >= 0) ::close(fd);
  }
};

struct H2ServerCallbacks {
  static int on_begin_headers(nghttp2_session* s, const nghttp2_frame* f, void* user) {
    auto* c = static_cast<H2Server::Conn*>(user);
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    nghttp2_session_set_stream_user_data(s, f->hd.stream_id, new StreamData);
    ++c->open_streams;
    std::uint32_t prev = c->server->max_open_streams_.load();
    while (c->open_streams > prev && !c->server->max_open_streams_.compare_exchange_weak(prev, c->open_streams)) {
    }
    return 0;
  }
  static int on_header(nghttp2_session* s, const nghttp2_frame* f, const std::uint8_t* name, std::size_t namelen,
                       const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void*) {
    auto* d = static_cast<StreamData*>(nghttp2_session_get_stream_user_data(s, f->hd.stream_id));
    if (d != nullptr) {
      d->request.headers[std::string(reinterpret_cast<const char*>(name), namelen)] =
          std::string(reinterpret_cast<const char*>(value), valuelen);
    }
    return 0;
  }
  static int on_data(nghttp2_session* s, std::uint8_t, std::int32_t id, const std::uint8_t* data, std::size_t len,
                     void*) {
    auto* d = static_cast<StreamData*>(nghttp2_session_get_stream_user_data(s, id));
    if (d != nullptr) d->request.body.append(reinterpret_cast<const char*>(data), len);
    return 0;
  }
  static ssize_t read_answer(nghttp2_session* s, std::int32_t id, std::uint8_t* buf, std::size_t length,
                             std::uint32_t* flags, nghttp2_data_source*, void*) {
    auto* d = static_cast<StreamData*>(nghttp2_session_get_stream_user_data(s, id));
    if (d == nullptr) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    std::size_t n = std::min(length, d->answer.body.size() - d->sent);
    std::memcpy(buf, d->answer.body.data() + d->sent, n);
    d->sent += n;
    if (d->sent == d->answer.body.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }
  static int on_frame(nghttp2_session* s, const nghttp2_frame* f, void* user) {
    auto* c = static_cast<H2Server::Conn*>(user);
    if ((f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) || (f->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0) {
      return 0;
    }
    auto* d = static_cast<StreamData*>(nghttp2_session_get_stream_user_data(s, f->hd.stream_id));
    if (d == nullptr) return 0;
    ++c->server->requests_;
    d->answer = c->server->handler_(d->request);
    if (d->answer.no_answer) return 0;
    if (d->answer.goaway) {
      std::int32_t last = std::max(0, f->hd.stream_id - 2);
      const auto& dbg = d->answer.goaway_debug;
      nghttp2_submit_goaway(s, NGHTTP2_FLAG_NONE, last, NGHTTP2_NO_ERROR,
                            reinterpret_cast<const std::uint8_t*>(dbg.data()), dbg.size());
      nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_REFUSED_STREAM);
      return 0;
    }
    std::string status = std::to_string(d->answer.status);
    std::vector<nghttp2_nv> nva;
    auto nv = [](const std::string& k, const std::string& v) {
      return nghttp2_nv{reinterpret_cast<std::uint8_t*>(const_cast<char*>(k.data())),
                        reinterpret_cast<std::uint8_t*>(const_cast<char*>(v.data())), k.size(), v.size(),
                        NGHTTP2_NV_FLAG_NONE};
    };
    static const std::string kStatus = ":status";
    nva.push_back(nv(kStatus, status));
    for (const auto& [k, v] : d->answer.headers) nva.push_back(nv(k, v));
    nghttp2_data_provider prd{};
    prd.read_callback = &read_answer;
    nghttp2_submit_response(s, f->hd.stream_id, nva.data(), nva.size(), d->answer.body.empty() ? nullptr : &prd);
    return 0;
  }
  static int on_close(nghttp2_session* s, std::int32_t id, std::uint32_t, void* user) {
    auto* c = static_cast<H2Server::Conn*>(user);
    auto* d = static_cast<StreamData*>(nghttp2_session_get_stream_user_data(s, id));
    if (d != nullptr) {
      --c->open_streams;
      nghttp2_session_set_stream_user_data(s, id, nullptr);
      delete d;
    }
    return 0;
  }
};

namespace {

int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen,
                void* arg) {
  if (arg == nullptr) return SSL_TLSEXT_ERR_NOACK;  // ALPN off: like an HTTP/1.1-only server
  for (unsigned int i = 0; i + 1 <= inlen;) {
    unsigned int len = in[i];
    if (len == 2 && i + 3 <= inlen && std::memcmp(in + i + 1, "h2", 2) == 0) {
      *out = in + i + 1;
      *outlen = 2;
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + len;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

std::string ssl_error() {
  char buf[256];
  ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
  return buf;
}

}  // namespace

H2Server::H2Server(H2ServerOptions options, Handler handler, int port)
    : options_(std::move(options)), handler_(std::move(handler)) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  ctx_ = ctx;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (SSL_CTX_use_certificate_chain_file(ctx, options_.cert_file.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, options_.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    throw std::runtime_error("H2Server: cannot load certificate/key: " + ssl_error());
  }
  SSL_CTX_set_alpn_select_cb(ctx, &select_alpn, options_.alpn_h2 ? this : nullptr);

  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(listen_fd_, 128) != 0) {
    throw std::runtime_error(std::string("H2Server: cannot listen: ") + std::strerror(errno));
  }
  socklen_t len = sizeof a;
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  if (pipe2(wake_, O_NONBLOCK | O_CLOEXEC) != 0) throw std::runtime_error("H2Server: pipe failed");
}

H2Server::~H2Server() {
  stop();
  if (thread_.joinable()) thread_.join();
  conns_.clear();
  ::close(listen_fd_);
  ::close(wake_[0]);
  ::close(wake_[1]);
  SSL_CTX_free(static_cast<SSL_CTX*>(ctx_));
}

void H2Server::start() {
  thread_ = std::thread([this] { run(); });
}

void H2Server::stop() {
  stop_ = true;
  char b = 1;
  (void)!::write(wake_[1], &b, 1);
}

void H2Server::accept_all() {
  for (;;) {
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto c = std::make_unique<Conn>();
    c->fd = fd;
    c->server = this;
    c->ssl = SSL_new(static_cast<SSL_CTX*>(ctx_));
    SSL_set_fd(c->ssl, fd);
    SSL_set_accept_state(c->ssl);
    ++connections_;
    conns_.push_back(std::move(c));
  }
}

void H2Server::serve(Conn& c) {
  if (!c.handshaken) {
    ERR_clear_error();
    int rc = SSL_do_handshake(c.ssl);
    if (rc != 1) {
      int err = SSL_get_error(c.ssl, rc);
      if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) c.dead = true;
      return;
    }
    c.handshaken = true;
    static nghttp2_session_callbacks* cbs = [] {
      nghttp2_session_callbacks* cb = nullptr;
      nghttp2_session_callbacks_new(&cb);
      nghttp2_session_callbacks_set_on_begin_headers_callback(cb, &H2ServerCallbacks::on_begin_headers);
      nghttp2_session_callbacks_set_on_header_callback(cb, &H2ServerCallbacks::on_header);
      nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, &H2ServerCallbacks::on_data);
      nghttp2_session_callbacks_set_on_frame_recv_callback(cb, &H2ServerCallbacks::on_frame);
      nghttp2_session_callbacks_set_on_stream_close_callback(cb, &H2ServerCallbacks::on_close);
      return cb;
    }();
    nghttp2_session_server_new(&c.session, cbs, &c);
    nghttp2_settings_entry settings[1] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, options_.max_streams}};
    nghttp2_submit_settings(c.session, NGHTTP2_FLAG_NONE, settings, options_.max_streams > 0 ? 1 : 0);
  }
  std::uint8_t buf[16384];
  for (int i = 0; i < 64; ++i) {
    int n = SSL_read(c.ssl, buf, sizeof buf);
    if (n <= 0) {
      int err = SSL_get_error(c.ssl, n);
      if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) c.dead = true;
      break;
    }
    if (nghttp2_session_mem_recv(c.session, buf, static_cast<std::size_t>(n)) < 0) {
      c.dead = true;
      return;
    }
  }
  for (;;) {
    while (c.out.size() < 65536) {
      const std::uint8_t* data = nullptr;
      ssize_t n = nghttp2_session_mem_send(c.session, &data);
      if (n <= 0) break;
      c.out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
    }
    if (c.out.empty()) break;
    int n = SSL_write(c.ssl, c.out.data(), static_cast<int>(c.out.size()));
    if (n <= 0) {
      int err = SSL_get_error(c.ssl, n);
      if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) c.dead = true;
      break;
    }
    c.out.erase(0, static_cast<std::size_t>(n));
  }
  if (!c.dead && !nghttp2_session_want_read(c.session) && !nghttp2_session_want_write(c.session) && c.out.empty()) {
    c.dead = true;
  }
}

void H2Server::run() {
  std::vector<pollfd> fds;
  while (!stop_) {
    fds.clear();
    fds.push_back({listen_fd_, POLLIN, 0});
    fds.push_back({wake_[0], POLLIN, 0});
    bool frozen = frozen_;
    for (auto& c : conns_) {
      short ev = frozen ? 0 : POLLIN;
      if (!frozen && !c->out.empty()) ev |= POLLOUT;
      fds.push_back({c->fd, ev, 0});
    }
    poll(fds.data(), fds.size(), frozen ? 20 : 200);
    if (fds[0].revents != 0) accept_all();
    if (fds[1].revents != 0) {
      char b[64];
      while (::read(wake_[0], b, sizeof b) > 0) {
      }
    }
    if (frozen_) continue;
    for (std::size_t i = 0; i + 2 < fds.size() && i < conns_.size(); ++i) {
      if (fds[i + 2].revents != 0 || !conns_[i]->out.empty()) serve(*conns_[i]);
    }
    std::erase_if(conns_, [](const std::unique_ptr<Conn>& c) { return c->dead; });
  }
}

void write_self_signed_cert(const std::string& dir) {
  write_cert_pair(dir + "/server.pem", dir + "/server.key", 86400);
}

void write_cert_pair(const std::string& cert_path, const std::string& key_path, long not_after, long not_before) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), not_before);
  X509_gmtime_adj(X509_getm_notAfter(x), not_after);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, x, x, nullptr, nullptr, 0);
  for (auto [nid, value] : {std::pair{NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost"},
                            std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  }
  X509_sign(x, key, EVP_sha256());
  FILE* f = std::fopen(cert_path.c_str(), "w");
  PEM_write_X509(f, x);
  std::fclose(f);
  f = std::fopen(key_path.c_str(), "w");
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  chmod(key_path.c_str(), 0600);
  X509_free(x);
  EVP_PKEY_free(key);
}

}  // namespace pushgate::test
