// Tests for src/legacy/tls_channel.cpp: the listener's contexts, and a server and a client
// channel talking through strings, as the listener's sockets would carry their bytes.
#include "legacy/tls_channel.hpp"

#include <unistd.h>

#include <filesystem>

#include <doctest/doctest.h>

#include "support/h2_server.hpp"

using namespace pushgate::legacy;
using Status = TlsChannel::Status;

namespace {

struct Pki {
  std::string dir;
  Pki() {
    char tmpl[] = "/tmp/pushgate-legacy-tls-XXXXXX";
    dir = mkdtemp(tmpl);
    pushgate::test::write_self_signed_cert(dir);
  }
  ~Pki() { std::filesystem::remove_all(dir); }
  pushgate::LegacyTlsConfig config() const {
    pushgate::LegacyTlsConfig c;
    c.cert_file = dir + "/server.pem";
    c.key_file = dir + "/server.key";
    return c;
  }
};

// An old client: TLS 1.0 only, at security level 0 as it must be on Debian's OpenSSL 3.
SslCtxPtr tls10_client_context() {
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_security_level(ctx.get(), 0);
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_VERSION);
  SSL_CTX_set_max_proto_version(ctx.get(), TLS1_VERSION);
  SSL_CTX_set_cipher_list(ctx.get(), "DEFAULT:@SECLEVEL=0");
  return ctx;
}

// Takes `cipher` in and appends everything it decrypts to `plain`; returns the status after.
Status receive(TlsChannel& tls, std::string_view cipher, std::string& plain) {
  tls.receive(cipher);
  char buf[16384];
  while (std::size_t n = tls.read(buf, sizeof buf)) plain.append(buf, n);
  return tls.status();
}

// Carries each side's output to the other until neither has anything more to say.
void pump(TlsChannel& a, TlsChannel& b, std::string& a_plain, std::string& b_plain) {
  for (int round = 0; round < 20; ++round) {
    std::string ab, ba;
    a.take_output(ab);
    b.take_output(ba);
    if (ab.empty() && ba.empty()) return;
    receive(b, ab, b_plain);
    receive(a, ba, a_plain);
  }
  FAIL("the two sides did not settle");
}

}  // namespace

TEST_CASE("a TLS 1.0 client and the listener's context meet through memory; plaintext passes both ways") {
  Pki pki;
  std::string error;
  auto server_ctx = make_server_context(pki.config(), error);
  REQUIRE_MESSAGE(server_ctx, error);
  SslCtxPtr client_ctx = tls10_client_context();
  TlsChannel server(server_ctx.get(), TlsChannel::Role::Server);
  TlsChannel client(client_ctx.get(), TlsChannel::Role::Client, "example.org");
  std::string server_got, client_got;
  CHECK(client.receive({}) == Status::Handshaking);  // the ClientHello
  pump(client, server, client_got, server_got);
  REQUIRE(server.handshake_done());
  REQUIRE(client.handshake_done());
  CHECK(server.version() == "TLSv1");
  CHECK(server.servername() == "example.org");
  CHECK(!server.cipher().empty());

  client.send("<stream:stream>");
  server.send("<stream:features/>");
  pump(client, server, client_got, server_got);
  CHECK(server_got == "<stream:stream>");
  CHECK(client_got == "<stream:features/>");

  // The client says it is done; the other direction stays open for the server's last words.
  client.close_notify();
  std::string cipher;
  client.take_output(cipher);
  CHECK(receive(server, cipher, server_got) == Status::Closed);
  server.send("</stream:stream>");
  server.take_output(cipher = {});
  CHECK(!cipher.empty());
}

TEST_CASE("the server context speaks TLS 1.3 to modern clients too") {
  Pki pki;
  std::string error;
  auto server_ctx = make_server_context(pki.config(), error);
  REQUIRE(server_ctx);
  SslCtxPtr client_ctx = make_backend_context();
  TlsChannel server(server_ctx.get(), TlsChannel::Role::Server);
  TlsChannel client(client_ctx.get(), TlsChannel::Role::Client);
  std::string a, b;
  client.receive({});
  pump(client, server, a, b);
  CHECK(server.version() == "TLSv1.3");
  CHECK(server.servername().empty());
}

TEST_CASE("bytes that are no ClientHello fail the handshake with OpenSSL's reason") {
  Pki pki;
  std::string error;
  auto server_ctx = make_server_context(pki.config(), error);
  REQUIRE(server_ctx);
  TlsChannel server(server_ctx.get(), TlsChannel::Role::Server);
  std::string plain;
  CHECK(receive(server, std::string("\x16\x03\x01\x00\x05hello", 10), plain) == Status::Failed);
  CHECK(!server.error().empty());
  CHECK(!server.handshake_done());
  CHECK(plain.empty());
  CHECK(receive(server, "more", plain) == Status::Failed);  // failed stays failed
}

TEST_CASE("server context errors name the file and the fix") {
  Pki pki;
  std::string error;
  pushgate::LegacyTlsConfig c = pki.config();
  c.key_file = c.cert_file;
  CHECK(!make_server_context(c, error));
  CHECK(error.find("key_file") != std::string::npos);
  c = pki.config();
  c.cert_file = pki.dir + "/missing.pem";
  CHECK(!make_server_context(c, error));
  CHECK(error.find("cert_file " + c.cert_file) != std::string::npos);
  c = pki.config();
  c.ciphers = "NOTHING-AT-ALL";
  CHECK(!make_server_context(c, error));
  CHECK(error.find("ciphers 'NOTHING-AT-ALL'") != std::string::npos);
}
