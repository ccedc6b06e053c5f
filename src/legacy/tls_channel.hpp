// TLS on memory buffers for the legacy listener: ciphertext read from a socket goes in,
// plaintext comes out, and what OpenSSL wants sent is taken out for the socket, so bytes
// read before TLS began can be handed to it. Also builds the listener's two TLS contexts
// (security level 0 for TLS 1.0: DESIGN.md "Legacy TLS listener rules"). No sockets here.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <openssl/ssl.h>

#include "config/config.hpp"

namespace pushgate::legacy {

struct SslCtxDeleter {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
struct SslDeleter {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;
using SslPtr = std::unique_ptr<SSL, SslDeleter>;

// The context old clients meet: `config`'s certificate, key, min_version and ciphers. Null
// with `error` set (naming the file or the key and the fix) when it does not load. Shared:
// a reload swaps it while connections made with the old one go on.
std::shared_ptr<SSL_CTX> make_server_context(const LegacyTlsConfig& config, std::string& error);
// The context towards Prosody in starttls mode. Prosody is authenticated by its address (on
// this host or network); this TLS only keeps its require-encryption policy intact.
SslCtxPtr make_backend_context();

class TlsChannel {
 public:
  enum class Role { Server, Client };
  enum class Status {
    Handshaking,  // more bytes from the peer are needed
    Open,         // the handshake is done
    Closed,       // the peer sent close_notify
    Failed,       // the handshake or a record failed: error() says why
  };

  // `sni`: the name a Client asks for (empty: none). A channel whose SSL handle could not be
  // made (out of memory) starts Failed.
  TlsChannel(SSL_CTX* ctx, Role role, const std::string& sni = {});

  // Takes ciphertext from the peer (empty: just move the handshake on). Returns the status
  // after the handshake step; read() then gives what it decrypts, take_output() the answer.
  Status receive(std::string_view cipher);
  // Decrypts into `buf`, at most `size` bytes (a record is at most 16 KiB), and returns how
  // many: 0 once nothing more is ready, when status() tells whether the peer closed or failed.
  std::size_t read(char* buf, std::size_t size);
  // Encrypts plaintext for the peer. Only once the handshake is done.
  void send(std::string_view plain);
  // Sends close_notify (once the handshake is done and nothing failed; otherwise nothing).
  void close_notify();
  // Appends the ciphertext waiting for the peer to `out`.
  void take_output(std::string& out);

  Status status() const { return status_; }
  bool handshake_done() const { return ssl_ && SSL_is_init_finished(ssl_.get()) != 0; }
  const std::string& error() const { return error_; }
  // After the handshake: "TLSv1" … "TLSv1.3", the cipher, the SNI name the client asked for.
  std::string version() const;
  std::string cipher() const;
  std::string servername() const;

 private:
  void fail(int ssl_error);

  SslPtr ssl_;
  Status status_ = Status::Handshaking;
  std::string error_;
};

}  // namespace pushgate::legacy
