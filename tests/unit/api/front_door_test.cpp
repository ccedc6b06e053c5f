// Tests for src/api/front_door.cpp over loopback, with short limits and a Serve that answers
// with what it was handed: what reaches a worker, and what the front door answers itself.
#include "api/front_door.hpp"

#include <doctest/doctest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <string>

using namespace pushgate::api;
using namespace std::chrono_literals;

namespace {

FrontDoorLimits small_limits() {
  FrontDoorLimits l;
  l.head = {.max_bytes = 1024, .max_fields = 10};
  l.max_body = 64;
  l.request_deadline = 300ms;
  l.keep_alive_idle = 2s;
  l.max_per_address = 4;
  l.workers = 2;
  return l;
}

// Answers 200 with the request it got as the body; keeps the connection.
Answer echo(std::string request, const Peer&, bool last) {
  std::string bytes = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(request.size()) + "\r\n\r\n" + request;
  return {bytes, !last};
}

struct Client {
  explicit Client(int port) : fd(::socket(AF_INET, SOCK_STREAM, 0)) {
    timeval tv{5, 0};  // a test that goes wrong fails instead of hanging
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  }
  ~Client() { ::close(fd); }
  void send(const std::string& s) const {
    REQUIRE(::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size()));
  }
  // Reads until `n` bytes came or the server closed.
  std::string read(std::size_t n) const {
    std::string got;
    char buf[4096];
    while (got.size() < n) {
      ssize_t r = ::recv(fd, buf, sizeof buf, 0);
      if (r <= 0) break;
      got.append(buf, static_cast<std::size_t>(r));
    }
    return got;
  }
  std::string read_to_end() const { return read(SIZE_MAX); }
  int fd;
};

std::string answer_to(const std::string& request) {
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(request.size()) + "\r\n\r\n" + request;
}

}  // namespace

TEST_CASE("a worker gets exactly one complete request, body included; pipelined ones follow in order") {
  FrontDoor door("127.0.0.1", 0, nullptr, small_limits(), echo);
  Client c(door.port());
  std::string post = "POST /push HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
  std::string get = "GET /health HTTP/1.1\r\n\r\n";
  c.send(post.substr(0, 20));
  c.send(post.substr(20) + get);
  std::string want = answer_to(post) + answer_to(get);
  CHECK(c.read(want.size()) == want);
  c.send(get);  // the connection was kept
  CHECK(c.read(answer_to(get).size()) == answer_to(get));
}

TEST_CASE("Expect: 100-continue is answered by the front door and removed from the request") {
  FrontDoor door("127.0.0.1", 0, nullptr, small_limits(), echo);
  Client c(door.port());
  c.send("POST /push HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
  std::string interim = "HTTP/1.1 100 Continue\r\n\r\n";
  CHECK(c.read(interim.size()) == interim);
  c.send("abc");
  std::string handed = "POST /push HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc";
  CHECK(c.read(answer_to(handed).size()) == answer_to(handed));
}

TEST_CASE("the front door answers 431, 413, 411 and 400 itself and closes") {
  std::atomic<int> served{0};
  FrontDoor door("127.0.0.1", 0, nullptr, small_limits(), [&](std::string r, const Peer& p, bool last) {
    ++served;
    return echo(std::move(r), p, last);
  });
  struct Case {
    std::string request;
    std::string status;
  };
  std::string eleven_fields = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 11; ++i) eleven_fields += "A: 1\r\n";
  for (const Case& k :
       {Case{"GET / HTTP/1.1\r\nX: " + std::string(2000, 'a'), "431"}, Case{eleven_fields + "\r\n", "431"},
        Case{"POST / HTTP/1.1\r\nContent-Length: 65\r\n\r\n", "413"},
        Case{"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", "411"},
        Case{"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n", "400"}}) {
    CAPTURE(k.status);
    Client c(door.port());
    c.send(k.request);
    std::string got = c.read_to_end();
    CHECK(got.rfind("HTTP/1.1 " + k.status + " ", 0) == 0);
    CHECK(got.find("Connection: close") != std::string::npos);
  }
  CHECK(served == 0);
  pushgate::metrics::Writer w;
  door.write_metrics(w);
  CHECK(w.text().find("pushgate_api_connections_refused_total{reason=\"headers_too_large\"} 2") != std::string::npos);
  CHECK(w.text().find("pushgate_api_connections_refused_total{reason=\"body_too_large\"} 1") != std::string::npos);
}

TEST_CASE("a request trickling in past the whole-request deadline gets 408, however often bytes come") {
  FrontDoor door("127.0.0.1", 0, nullptr, small_limits(), echo);
  Client c(door.port());
  c.send("GET /health HTTP/1.1\r\n");
  auto start = std::chrono::steady_clock::now();
  std::string got;
  // One byte per read timeout of 50 ms: each read succeeds, the request never completes.
  timeval tv{0, 50000};
  setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  while (got.empty() && std::chrono::steady_clock::now() - start < 3s) {
    ::send(c.fd, "a", 1, MSG_NOSIGNAL);
    char buf[512];
    ssize_t r = ::recv(c.fd, buf, sizeof buf, 0);
    if (r > 0) got.assign(buf, static_cast<std::size_t>(r));
  }
  CHECK(got.rfind("HTTP/1.1 408 ", 0) == 0);
  CHECK(std::chrono::steady_clock::now() - start < 1500ms);  // 300 ms plus a sweep or two
}

TEST_CASE("past max_per_address a new connection gets 429 at once") {
  FrontDoor door("127.0.0.1", 0, nullptr, small_limits(), echo);
  Client a(door.port()), b(door.port()), c(door.port()), d(door.port());
  Client e(door.port());
  CHECK(e.read_to_end().rfind("HTTP/1.1 429 ", 0) == 0);
  std::string get = "GET / HTTP/1.1\r\n\r\n";
  d.send(get);
  CHECK(d.read(answer_to(get).size()) == answer_to(get));
}

TEST_CASE("at max_per_address an idle keep-alive connection of that address makes room for a new one") {
  FrontDoor door("127.0.0.1", 0, nullptr, small_limits(), echo);
  std::string get = "GET / HTTP/1.1\r\n\r\n";
  Client a(door.port()), b(door.port()), c(door.port()), d(door.port());
  a.send(get);  // a is answered and kept: idle, the only one that may be closed
  CHECK(a.read(answer_to(get).size()) == answer_to(get));
  Client e(door.port());
  e.send(get);
  CHECK(e.read(answer_to(get).size()) == answer_to(get));
  CHECK(a.read_to_end().empty());  // closed to make room; b, c and d (no request yet) stay
  b.send(get);
  CHECK(b.read(answer_to(get).size()) == answer_to(get));
}

TEST_CASE("a client that closes its side after its request still gets the answer") {
  FrontDoor door("127.0.0.1", 0, nullptr, small_limits(), echo);
  std::string get = "GET /health HTTP/1.0\r\n\r\n";
  Client c(door.port());
  c.send(get);
  REQUIRE(::shutdown(c.fd, SHUT_WR) == 0);
  CHECK(c.read_to_end() == answer_to(get));  // answered, then closed
  Client half(door.port());
  half.send("GET /health HTT");
  REQUIRE(::shutdown(half.fd, SHUT_WR) == 0);
  CHECK(half.read_to_end().empty());  // nothing complete: closed without an answer
}

TEST_CASE("stop() lets an answer being computed go out with the connection closed after it") {
  std::promise<void> entered, release;
  auto released = release.get_future().share();
  FrontDoor door("127.0.0.1", 0, nullptr, small_limits(), [&](std::string r, const Peer& p, bool) {
    entered.set_value();
    released.wait();
    return echo(std::move(r), p, false);
  });
  Client c(door.port());
  std::string get = "GET / HTTP/1.1\r\n\r\n";
  c.send(get);
  entered.get_future().wait();
  door.stop();
  release.set_value();
  CHECK(c.read_to_end() == answer_to(get));  // then EOF: not kept alive after stop()
}
