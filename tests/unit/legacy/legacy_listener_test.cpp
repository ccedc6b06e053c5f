// Tests for src/legacy/legacy_listener.cpp and legacy_connection.cpp: the listener on a real
// event loop, with a client and a stand-in for Prosody on loopback sockets in the same thread.
// What the relay decides is tested in relay_test.cpp; here, that the sockets do it.
#include "legacy/legacy_listener.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>

#include <doctest/doctest.h>

#include "legacy/tls_channel.hpp"
#include "support/h2_server.hpp"
#include "support/loop_wait.hpp"

using namespace pushgate;
using namespace pushgate::legacy;
using namespace std::chrono_literals;

namespace {

const std::string kHeader =
    "<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";
const std::string kStarttls = "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";

sockaddr_in loopback(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

// One end of a loopback TCP connection, non-blocking, optionally with TLS on top.
struct End {
  Fd fd;
  std::string got;  // what arrived: plaintext once TLS is up
  std::optional<TlsChannel> tls;
  TlsChannel::Status tls_status = TlsChannel::Status::Handshaking;
  bool eof = false;

  void send_raw(std::string_view s) { CHECK(::send(fd.get(), s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size())); }
  void send(std::string_view s) {
    if (!tls) return send_raw(s);
    tls->send(s);
    std::string cipher;
    tls->take_output(cipher);
    send_raw(cipher);
  }
  void poll() {
    char buf[65536];
    for (;;) {
      ssize_t n = ::recv(fd.get(), buf, sizeof buf, MSG_DONTWAIT);
      if (n <= 0) {
        eof = eof || n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
        return;
      }
      if (!tls) {
        got.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      tls->receive(std::string_view(buf, static_cast<std::size_t>(n)));
      char plain[16384];
      while (std::size_t m = tls->read(plain, sizeof plain)) got.append(plain, m);
      tls_status = tls->status();
      std::string cipher;
      tls->take_output(cipher);
      if (!cipher.empty()) send_raw(cipher);
    }
  }
};

struct Pki {
  std::string dir;
  Pki() {
    char tmpl[] = "/tmp/pushgate-legacy-listener-XXXXXX";
    dir = mkdtemp(tmpl);
    pushgate::test::write_self_signed_cert(dir);
  }
  ~Pki() { std::filesystem::remove_all(dir); }
};

// The listener, a client, and Prosody's stand-in: a plain listening socket.
struct Rig {
  Pki pki;
  EventLoop loop;
  Fd prosody_listen;
  LegacyTlsConfig config;
  std::optional<LegacyListener> listener;
  SslCtxPtr client_ctx = make_backend_context();  // a modern client, no verification

  explicit Rig(std::function<void(LegacyTlsConfig&)> tweak = {}) {
    prosody_listen.reset(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
    sockaddr_in any = loopback(0);
    REQUIRE(bind(prosody_listen.get(), reinterpret_cast<sockaddr*>(&any), sizeof any) == 0);
    REQUIRE(::listen(prosody_listen.get(), 16) == 0);
    socklen_t len = sizeof any;
    getsockname(prosody_listen.get(), reinterpret_cast<sockaddr*>(&any), &len);
    config.enabled = true;
    config.listen = "127.0.0.1:0";
    config.backend = "127.0.0.1:" + std::to_string(ntohs(any.sin_port));
    config.cert_file = pki.dir + "/server.pem";
    config.key_file = pki.dir + "/server.key";
    config.domains = {"localhost"};
    if (tweak) tweak(config);
    listener.emplace(loop, config);
    listener->start();
  }
  ~Rig() { listener.reset(); }

  End connect() {
    End e;
    e.fd.reset(::socket(AF_INET, SOCK_STREAM, 0));
    sockaddr_in to = loopback(listener->port());
    REQUIRE(::connect(e.fd.get(), reinterpret_cast<sockaddr*>(&to), sizeof to) == 0);
    return e;
  }
  // Turns the loop (and reads every end) until `done`, for at most `limit`.
  bool until(const std::function<bool()>& done, std::vector<End*> ends,
             std::chrono::milliseconds limit = pushgate::test::kPatience) {
    auto stop = EventLoop::Clock::now() + limit;
    while (EventLoop::Clock::now() < stop) {
      loop.run_once(5ms);
      for (End* e : ends) e->poll();
      if (done()) return true;
    }
    return false;
  }
  // STARTTLS, the handshake, the new stream header; returns the client and Prosody's end.
  std::pair<End, End> relayed() {
    End client = connect();
    client.send(kHeader + kStarttls);
    REQUIRE(until([&] { return client.got.find("<proceed") != std::string::npos; }, {&client}));
    client.got.clear();
    client.tls.emplace(client_ctx.get(), TlsChannel::Role::Client, "localhost");
    client.tls->receive({});
    std::string hello;
    client.tls->take_output(hello);
    client.send_raw(hello);
    REQUIRE(until([&] { return client.tls->handshake_done(); }, {&client}));
    client.send(kHeader);
    End prosody;
    REQUIRE(until([&] {
      if (!prosody.fd) prosody.fd.reset(::accept(prosody_listen.get(), nullptr, nullptr));
      return prosody.fd && prosody.got == kHeader;
    }, {&client, &prosody}));
    return {std::move(client), std::move(prosody)};
  }
  std::string metrics() const {
    metrics::Writer w;
    listener->write_metrics(w);
    return w.text();
  }
};

}  // namespace

TEST_CASE("listener: a client's STARTTLS stream reaches Prosody and Prosody's answer reaches the client") {
  Rig rig;
  auto [client, prosody] = rig.relayed();
  prosody.send("<stream:stream><stream:features/>");
  REQUIRE(rig.until([&] { return client.got == "<stream:stream><stream:features/>"; }, {&client, &prosody}));
  CHECK(rig.metrics().find("pushgate_legacy_connections_open 1") != std::string::npos);
  CHECK(rig.metrics().find("pushgate_legacy_handshakes_total{version=\"TLSv1.3\"} 1") != std::string::npos);
}

TEST_CASE("listener: a client's half-close reaches Prosody, whose last words still reach the client") {
  Rig rig;
  auto [client, prosody] = rig.relayed();
  client.send("</stream:stream>");
  client.tls->close_notify();
  std::string cipher;
  client.tls->take_output(cipher);
  client.send_raw(cipher);
  ::shutdown(client.fd.get(), SHUT_WR);
  REQUIRE(rig.until([&] { return prosody.eof; }, {&client, &prosody}));
  CHECK(prosody.got == kHeader + "</stream:stream>");
  prosody.send("</stream:stream>");
  prosody.fd.reset();
  REQUIRE(rig.until([&] { return client.eof; }, {&client}));
  CHECK(client.got == "</stream:stream>");
  CHECK(client.tls_status == TlsChannel::Status::Closed);  // close_notify before the FIN
  CHECK(rig.metrics().find("pushgate_legacy_connections_open 0") != std::string::npos);
}

TEST_CASE("listener: Prosody down is remote-connection-failed, through the client's TLS") {
  Rig rig;
  rig.prosody_listen.reset();  // nothing listens on the backend port any more
  End client = rig.connect();
  client.send(kHeader + kStarttls);
  REQUIRE(rig.until([&] { return client.got.find("<proceed") != std::string::npos; }, {&client}));
  client.got.clear();
  client.tls.emplace(rig.client_ctx.get(), TlsChannel::Role::Client, "localhost");
  client.tls->receive({});
  std::string hello;
  client.tls->take_output(hello);
  client.send_raw(hello);
  REQUIRE(rig.until([&] { return client.tls->handshake_done(); }, {&client}));
  client.send(kHeader);
  REQUIRE(rig.until([&] { return client.eof; }, {&client}));
  CHECK(client.got.find("<remote-connection-failed xmlns=\"urn:ietf:params:xml:ns:xmpp-streams\"/>") != std::string::npos);
  CHECK(rig.metrics().find("pushgate_legacy_errors_total{cause=\"remote-connection-failed\"} 1") != std::string::npos);
}

TEST_CASE("listener: past max_connections a client is closed at once; stop_accepting refuses new ones") {
  Rig rig([](LegacyTlsConfig& c) { c.max_connections = 1; });
  End first = rig.connect();
  first.send(kHeader);
  REQUIRE(rig.until([&] { return first.got.find("</stream:features>") != std::string::npos; }, {&first}));
  End second = rig.connect();
  REQUIRE(rig.until([&] { return second.eof; }, {&first, &second}));
  CHECK(second.got.empty());
  CHECK(!first.eof);
  CHECK(rig.metrics().find("pushgate_legacy_errors_total{cause=\"too-many-connections\"} 1") != std::string::npos);

  rig.listener->stop_accepting();
  rig.loop.run_once(0ms);
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in to = loopback(rig.listener->port());
  CHECK(::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0);
  ::close(fd);
  first.send(kStarttls);  // the connection already made goes on
  CHECK(rig.until([&] { return first.got.find("<proceed") != std::string::npos; }, {&first}));
}

TEST_CASE("listener: the idle timeout ends a relayed connection, with close_notify") {
  Rig rig([](LegacyTlsConfig& c) { c.idle_timeout = 1; });
  auto [client, prosody] = rig.relayed();
  REQUIRE(rig.until([&] { return client.eof && prosody.eof; }, {&client, &prosody}));
  CHECK(client.tls_status == TlsChannel::Status::Closed);
  CHECK(rig.metrics().find("pushgate_legacy_errors_total{cause=\"idle-timeout\"} 1") != std::string::npos);
}

TEST_CASE("listener: a reload's context serves the next handshake; a context that does not load is refused") {
  Rig rig;
  std::string error;
  LegacyTlsConfig fresh = rig.config;
  fresh.key_file = fresh.cert_file;
  CHECK(!LegacyListener::prepare_tls(fresh, error));
  CHECK(error.find("key_file") != std::string::npos);
  fresh = rig.config;
  fresh.min_version = TlsVersion::Tls1_3;
  auto ctx = LegacyListener::prepare_tls(fresh, error);
  REQUIRE(ctx);
  rig.listener->use_tls(ctx);
  // A TLS 1.2 client, which the first context served, is refused by the new one.
  SslCtxPtr tls12(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_max_proto_version(tls12.get(), TLS1_2_VERSION);
  End client = rig.connect();
  client.send(kHeader + kStarttls);
  REQUIRE(rig.until([&] { return client.got.find("<proceed") != std::string::npos; }, {&client}));
  client.tls.emplace(tls12.get(), TlsChannel::Role::Client);
  client.tls->receive({});
  std::string hello;
  client.tls->take_output(hello);
  client.send_raw(hello);
  REQUIRE(rig.until([&] { return client.eof; }, {&client}));
  CHECK(!client.tls->handshake_done());
  CHECK(rig.metrics().find("pushgate_legacy_handshake_failures_total 1") != std::string::npos);
}

TEST_CASE("listener: the certificate expiry follows the context a reload brings") {
  Rig rig;  // its certificate ends a day from now
  std::int64_t before = pushgate::test::certificate_clock_now();
  CHECK(rig.listener->certificate_not_after() >= before + 86400 - 120);
  CHECK(rig.listener->certificate_not_after() <= before + 86400);
  LegacyTlsConfig fresh = rig.config;
  fresh.cert_file = rig.pki.dir + "/renewed.pem";
  fresh.key_file = rig.pki.dir + "/renewed.key";
  pushgate::test::write_cert_pair(fresh.cert_file, fresh.key_file, 90 * 86400);
  std::string error;
  auto ctx = LegacyListener::prepare_tls(fresh, error);
  REQUIRE(ctx);
  CHECK(rig.listener->certificate_not_after() <= before + 86400);  // prepared, not yet in use
  rig.listener->use_tls(ctx);
  CHECK(rig.listener->certificate_not_after() >= before + 90 * 86400);
  CHECK(rig.listener->certificate_not_after() <= pushgate::test::certificate_clock_now() + 90 * 86400);
}
