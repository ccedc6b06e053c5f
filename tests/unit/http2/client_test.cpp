// The HTTP/2 client against a real HTTP/2-over-TLS server on loopback (tests/support/h2_server).
#include "http2/client.hpp"

#include <doctest/doctest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "support/h2_server.hpp"
#include "support/loop_wait.hpp"

using namespace pushgate;
using namespace std::chrono_literals;
using pushgate::test::H2Server;
using pushgate::test::H2ServerAnswer;
using pushgate::test::H2ServerOptions;
using pushgate::test::H2ServerRequest;

namespace {

struct Pki {
  std::string dir;
  Pki() {
    char tmpl[] = "/tmp/pushgate-h2-XXXXXX";
    dir = mkdtemp(tmpl);
    pushgate::test::write_self_signed_cert(dir);
  }
  ~Pki() { std::filesystem::remove_all(dir); }
  std::string cert() const { return dir + "/server.pem"; }
  std::string key() const { return dir + "/server.key"; }
};

H2ServerOptions server_options(const Pki& pki) {
  H2ServerOptions o;
  o.cert_file = pki.cert();
  o.key_file = pki.key();
  return o;
}

struct Client {
  EventLoop loop;
  Http2Client http;
  std::vector<Http2Response> answers;
  explicit Client(Http2ClientOptions o = {}) : http(loop, o) {}

  void send(int port, const Pki& pki, std::string path = "/x",
            std::chrono::milliseconds timeout = pushgate::test::kPatience) {
    send_url("https://127.0.0.1:" + std::to_string(port) + path, pki, timeout);
  }
  // By name: looked up (or taken from the options' `resolve`), as a provider's host is.
  void send_named(int port, const Pki& pki) { send_url("https://localhost:" + std::to_string(port) + "/named", pki); }
  void send_url(std::string url, const Pki& pki, std::chrono::milliseconds timeout = pushgate::test::kPatience) {
    Http2Request r;
    r.url = std::move(url);
    r.headers = {{"x-test", "1"}};
    r.body = "{\"n\":1}";
    r.ca_file = pki.cert();
    r.timeout = timeout;
    http.submit(std::move(r), [this](Http2Response a) { answers.push_back(std::move(a)); });
  }
  // Runs the loop until `n` answers arrived (false if that took past the tests' patience).
  bool wait_answers(std::size_t n) {
    return pushgate::test::turn_until(loop, [&] { return answers.size() >= n; });
  }
};

}  // namespace

TEST_CASE("parse_https_url takes host, port, authority and path apart and refuses the rest") {
  auto u = parse_https_url("https://api.push.apple.com/3/device/ab");
  CHECK(u.ok);
  CHECK(u.host == "api.push.apple.com");
  CHECK(u.port == "443");
  CHECK(u.authority == "api.push.apple.com");
  CHECK(u.path == "/3/device/ab");
  u = parse_https_url("https://127.0.0.1:8443");
  CHECK(u.ok);
  CHECK(u.port == "8443");
  CHECK(u.path == "/");
  u = parse_https_url("https://[::1]:9000/p");
  CHECK(u.ok);
  CHECK(u.host == "::1");
  CHECK(u.authority == "[::1]:9000");
  for (const char* bad : {"http://x/", "https://", "https://:443/", "https://h:0/", "https://h:70000/", "https://h:8a/",
                          "https://u@h/", "https://[::1/", "ftp://h"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_https_url(bad).ok);
  }
}

TEST_CASE("requests are answered with status, headers and body, many on one connection") {
  Pki pki;
  std::atomic<int> seen_headers{0};
  H2Server server(server_options(pki), [&](const H2ServerRequest& r) {
    if (r.headers.at(":method") == "POST" && r.headers.at("x-test") == "1" && r.body == "{\"n\":1}" &&
        r.headers.at("content-length") == "7") {
      ++seen_headers;
    }
    H2ServerAnswer a;
    a.status = 410;
    a.headers = {{"apns-id", "abc"}};
    a.body = "{\"reason\":\"Unregistered\"}";
    return a;
  });
  server.start();
  Client c;
  for (int i = 0; i < 50; ++i) c.send(server.port(), pki);
  REQUIRE(c.wait_answers(50));
  for (const auto& a : c.answers) {
    CHECK(a.answered());
    CHECK(a.status == 410);
    CHECK(a.header("apns-id") == "abc");
    CHECK(a.body == "{\"reason\":\"Unregistered\"}");
  }
  CHECK(seen_headers == 50);
  CHECK(server.connections() == 1);
  CHECK(c.http.connections_opened() == 1);
}

TEST_CASE("MAX_CONCURRENT_STREAMS = 1 is respected and every request still goes through") {
  Pki pki;
  H2ServerOptions o = server_options(pki);
  o.max_streams = 1;
  H2Server server(o, [](const H2ServerRequest&) { return H2ServerAnswer{}; });
  server.start();
  Client c(Http2ClientOptions{1, {}, {}});
  for (int i = 0; i < 30; ++i) c.send(server.port(), pki);
  REQUIRE(c.wait_answers(30));
  for (const auto& a : c.answers) CHECK(a.status == 200);
  CHECK(server.max_open_streams() == 1);
  CHECK(c.http.requeued() == 0);  // none was sent beyond the limit and refused
}

TEST_CASE("streams a GOAWAY left unprocessed are sent again on a new connection, none lost") {
  Pki pki;
  std::atomic<int> n{0};
  H2Server server(server_options(pki), [&](const H2ServerRequest&) {
    H2ServerAnswer a;
    if (++n == 10) {
      a.goaway = true;
      a.goaway_debug = "{\"reason\":\"Shutdown\"}";
    }
    return a;
  });
  server.start();
  Client c;
  for (int i = 0; i < 40; ++i) c.send(server.port(), pki);
  REQUIRE(c.wait_answers(40));
  for (const auto& a : c.answers) {
    CAPTURE(a.error);
    CHECK(a.status == 200);
  }
  CHECK(c.http.requeued() >= 1);
  CHECK(c.http.goaways() == 1);
  CHECK(server.connections() == 2);
}

TEST_CASE("a server certificate the CA file does not vouch for is a TlsVerify failure") {
  Pki pki, other;
  H2Server server(server_options(pki), [](const H2ServerRequest&) { return H2ServerAnswer{}; });
  server.start();
  Client c;
  c.send(server.port(), other);
  REQUIRE(c.wait_answers(1));
  CHECK(c.answers[0].failure == Http2Failure::TlsVerify);
  CHECK(c.answers[0].error.find("not trusted") != std::string::npos);
}

TEST_CASE("a server without ALPN h2 is a NotHttp2 failure") {
  Pki pki;
  H2ServerOptions o = server_options(pki);
  o.alpn_h2 = false;
  H2Server server(o, [](const H2ServerRequest&) { return H2ServerAnswer{}; });
  server.start();
  Client c;
  c.send(server.port(), pki);
  REQUIRE(c.wait_answers(1));
  CHECK(c.answers[0].failure == Http2Failure::NotHttp2);
}

TEST_CASE("a closed port fails with Connect, not by the request's timeout, and so does the next request") {
  Pki pki;
  int port = 0;
  {
    H2Server probe(server_options(pki), [](const H2ServerRequest&) { return H2ServerAnswer{}; });
    port = probe.port();
  }  // closed again: nothing listens there now
  Client c;
  c.send(port, pki);  // a request waiting for its timeout would be answered Timeout
  REQUIRE(c.wait_answers(1));
  CHECK(c.answers[0].failure == Http2Failure::Connect);
  CHECK(c.answers[0].error.find("refused") != std::string::npos);
  // Within the backoff it fails without a new attempt, after it with one: Connect either way.
  c.send(port, pki);
  REQUIRE(c.wait_answers(2));
  CHECK(c.answers[1].failure == Http2Failure::Connect);
  CHECK(c.answers[1].error.find("retrying") != std::string::npos);
}

TEST_CASE("a name whose first address refuses is served by its next one at once, and stays there") {
  // As an IPv4-only host sees a provider's name whose IPv6 address comes first.
  Pki pki;
  std::atomic<int> n{0};
  H2Server server(server_options(pki), [&](const H2ServerRequest&) {
    H2ServerAnswer a;
    a.goaway = ++n == 1;  // the first connection that works goes away: the stream goes to another
    return a;
  });
  server.start();  // on 127.0.0.1 only: 127.0.0.2 refuses
  Http2ClientOptions o;
  o.max_connections = 1;
  o.resolve["localhost:" + std::to_string(server.port())] = {"127.0.0.2", "127.0.0.1"};
  Client c(o);
  c.send_named(server.port(), pki);
  REQUIRE(c.wait_answers(1));
  CAPTURE(c.answers[0].error);
  CHECK(c.answers[0].status == 200);  // not failed with the first address's refusal
  CHECK(c.http.requeued() == 1);
  // 127.0.0.2 (refused), 127.0.0.1 (GOAWAY), 127.0.0.1 again: not back to the refusing one.
  CHECK(c.http.connections_opened() == 3);
  CHECK(server.connections() == 2);
}

TEST_CASE("when every address of a name refuses, each is tried once and the request fails with Connect") {
  Pki pki;
  int port = 0;
  {
    H2Server probe(server_options(pki), [](const H2ServerRequest&) { return H2ServerAnswer{}; });
    port = probe.port();
  }  // closed again: nothing listens there on any loopback address
  Http2ClientOptions o;
  o.resolve["localhost:" + std::to_string(port)] = {"127.0.0.2", "127.0.0.3", "127.0.0.1"};
  Client c(o);
  c.send_named(port, pki);
  REQUIRE(c.wait_answers(1));
  CHECK(c.answers[0].failure == Http2Failure::Connect);
  CHECK(c.answers[0].error.find("refused") != std::string::npos);
  CHECK(c.http.connections_opened() == 3);
}

TEST_CASE("an unanswered stream times out alone; the connection goes on serving") {
  Pki pki;
  H2Server server(server_options(pki), [](const H2ServerRequest& r) {
    H2ServerAnswer a;
    a.no_answer = r.headers.at(":path") == "/hang";
    return a;
  });
  server.start();
  Client c;
  c.send(server.port(), pki, "/hang", 300ms);
  REQUIRE(c.wait_answers(1));
  CHECK(c.answers[0].failure == Http2Failure::Timeout);
  CHECK(c.answers[0].elapsed >= 300ms);
  c.send(server.port(), pki);
  REQUIRE(c.wait_answers(2));
  CHECK(c.answers[1].status == 200);
  CHECK(c.http.connections_opened() == 1);
}

TEST_CASE("a peer that stops answering is found by PING and its streams fail instead of hanging") {
  Pki pki;
  H2Server server(server_options(pki), [](const H2ServerRequest&) { return H2ServerAnswer{}; });
  server.start();
  Http2ClientOptions o;
  o.connection.ping_interval = 200ms;
  o.connection.ping_timeout = 2000ms;  // a live server on a loaded machine answers well within it
  Client c(o);
  c.send(server.port(), pki);
  REQUIRE(c.wait_answers(1));
  CHECK(c.answers[0].status == 200);
  server.freeze(true);
  c.send(server.port(), pki);  // its own timeout is the tests' patience: only PING can end it
  REQUIRE(c.wait_answers(2));
  CHECK(c.answers[1].failure == Http2Failure::Closed);
  CHECK(c.answers[1].error.find("PING") != std::string::npos);
  server.freeze(false);
}

TEST_CASE("a host name is looked up off the loop (libuv's thread pool) and the request goes through") {
  Pki pki;
  H2Server server(server_options(pki), [](const H2ServerRequest&) { return H2ServerAnswer{}; });
  server.start();
  Client c;
  c.send_named(server.port(), pki);
  CHECK(c.answers.empty());  // never answered inside submit()
  REQUIRE(c.wait_answers(1));
  CHECK(c.answers[0].status == 200);
  CHECK(c.answers[0].error == "");
}

TEST_CASE("a client destroyed while its name lookup runs is not called back") {
  Pki pki;
  EventLoop loop;
  {
    Http2Client http(loop, {});
    Http2Request r;
    r.url = "https://localhost:1/gone";
    r.ca_file = pki.cert();
    http.submit(std::move(r), [](Http2Response) { FAIL("answered after the client was destroyed"); });
  }
  // The lookup finishes on the loop with the client gone; AddressSanitizer reports a call into it.
  for (int i = 0; i < 20; ++i) loop.run_once(10ms);
}
