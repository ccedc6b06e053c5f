// The legacy listener's TLS: its contexts, and OpenSSL on a pair of memory BIOs.
#include "legacy/tls_channel.hpp"

#include <algorithm>
#include <climits>
#include <stdexcept>

#include <openssl/err.h>

#include "common/keys.hpp"

namespace pushgate::legacy {

namespace {

int tls_version_of(TlsVersion v) {
  switch (v) {
    case TlsVersion::Tls1_0: return TLS1_VERSION;
    case TlsVersion::Tls1_1: return TLS1_1_VERSION;
    case TlsVersion::Tls1_2: return TLS1_2_VERSION;
    case TlsVersion::Tls1_3: return TLS1_3_VERSION;
  }
  return TLS1_VERSION;
}

}  // namespace

std::shared_ptr<SSL_CTX> make_server_context(const LegacyTlsConfig& c, std::string& error) {
  std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_server_method()), SslCtxDeleter());
  if (!ctx) {
    error = "cannot create a TLS context: " + openssl_error();
    return nullptr;
  }
  SSL_CTX* x = ctx.get();
  // Debian 12's OpenSSL 3 runs at security level 2, which refuses TLS 1.0/1.1 outright.
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

SslCtxPtr make_backend_context() {
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) throw std::runtime_error("cannot create a TLS context: " + openssl_error());
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
  return ctx;
}

TlsChannel::TlsChannel(SSL_CTX* ctx, Role role, const std::string& sni) : ssl_(SSL_new(ctx)) {
  BIO* in = ssl_ ? BIO_new(BIO_s_mem()) : nullptr;
  BIO* out = ssl_ ? BIO_new(BIO_s_mem()) : nullptr;
  if (in == nullptr || out == nullptr) {
    BIO_free(in);
    BIO_free(out);
    ssl_.reset();
    status_ = Status::Failed;
    error_ = "cannot create a TLS session: " + openssl_error();
    return;
  }
  SSL_set_bio(ssl_.get(), in, out);  // the SSL owns both from here
  if (role == Role::Server) {
    SSL_set_accept_state(ssl_.get());
  } else {
    SSL_set_connect_state(ssl_.get());
    if (!sni.empty()) SSL_set_tlsext_host_name(ssl_.get(), sni.c_str());
  }
}

TlsChannel::Status TlsChannel::receive(std::string_view cipher) {
  if (status_ == Status::Failed || status_ == Status::Closed) return status_;
  if (!cipher.empty()) BIO_write(SSL_get_rbio(ssl_.get()), cipher.data(), static_cast<int>(cipher.size()));
  if (status_ == Status::Handshaking) {
    ERR_clear_error();
    int rc = SSL_do_handshake(ssl_.get());
    if (rc == 1) {
      status_ = Status::Open;
    } else {
      int err = SSL_get_error(ssl_.get(), rc);
      if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) fail(err);
    }
  }
  return status_;
}

std::size_t TlsChannel::read(char* buf, std::size_t size) {
  if (status_ != Status::Open) return 0;
  ERR_clear_error();
  int n = SSL_read(ssl_.get(), buf, static_cast<int>(std::min<std::size_t>(size, INT_MAX)));
  if (n > 0) return static_cast<std::size_t>(n);
  int err = SSL_get_error(ssl_.get(), n);
  if (err == SSL_ERROR_ZERO_RETURN) {
    status_ = Status::Closed;
  } else if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
    fail(err);
  }
  return 0;
}

void TlsChannel::fail(int err) {
  status_ = Status::Failed;
  error_ = openssl_error();
  if (error_.empty()) error_ = "TLS error " + std::to_string(err);
}

void TlsChannel::send(std::string_view plain) {
  // After the peer's close_notify the other direction stays open: Prosody's last words still go out.
  if (!handshake_done() || status_ == Status::Failed || plain.empty()) return;
  // A memory BIO takes everything: SSL_write writes it all or fails.
  int n = SSL_write(ssl_.get(), plain.data(), static_cast<int>(plain.size()));
  if (n <= 0) fail(SSL_get_error(ssl_.get(), n));
}

void TlsChannel::close_notify() {
  if (handshake_done() && status_ != Status::Failed) SSL_shutdown(ssl_.get());
}

void TlsChannel::take_output(std::string& out) {
  if (!ssl_) return;
  BIO* w = SSL_get_wbio(ssl_.get());
  std::size_t pending = BIO_ctrl_pending(w);
  if (pending == 0) return;
  std::size_t at = out.size();
  out.resize(at + pending);
  int n = BIO_read(w, out.data() + at, static_cast<int>(pending));
  out.resize(at + (n > 0 ? static_cast<std::size_t>(n) : 0));
}

std::string TlsChannel::version() const { return ssl_ ? SSL_get_version(ssl_.get()) : ""; }

std::string TlsChannel::cipher() const {
  const char* name = ssl_ ? SSL_get_cipher_name(ssl_.get()) : nullptr;
  return name != nullptr ? name : "";
}

std::string TlsChannel::servername() const {
  const char* name = ssl_ ? SSL_get_servername(ssl_.get(), TLSEXT_NAMETYPE_host_name) : nullptr;
  return name != nullptr ? name : "";
}

}  // namespace pushgate::legacy
