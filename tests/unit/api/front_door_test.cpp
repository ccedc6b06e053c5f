// Tests for src/api/front_door.cpp over loopback, with short limits, the door on a loop run by
// a thread of the test, and a handler that answers with what it was handed: what is handed on,
// and what the front door answers itself.
#include "api/front_door.hpp"

#include <doctest/doctest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <string>
#include <thread>

#include "support/loop_wait.hpp"

using namespace pushgate;
using namespace pushgate::api;
using namespace std::chrono_literals;

namespace {

// Small size limits; the time limits far out of reach, so that no test fails because the
// machine was slow. The tests of the deadlines set their own.
FrontDoorLimits small_limits() {
  FrontDoorLimits l;
  l.head = {.max_bytes = 1024, .max_fields = 10};
  l.max_body = 64;
  l.request_deadline = pushgate::test::kPatience;
  l.keep_alive_idle = pushgate::test::kPatience;
  l.max_per_address = 4;
  return l;
}

std::string answer_to(const std::string& request) {
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(request.size()) + "\r\n\r\n" + request;
}

// Answers 200 with the request it got as the body; keeps the connection unless told not to.
Answer echo(const Request& r) {
  return {answer_to(r.bytes), !r.last};
}

// A front door on its own loop, run by a thread from construction to destruction. The handler
// gets the door to answer through; it runs on the loop thread.
class Door {
 public:
  using Handler = std::function<void(FrontDoor&, Request)>;
  explicit Door(Handler handler, FrontDoorLimits limits = small_limits())
      : handler_(std::move(handler)),
        door_(std::make_unique<FrontDoor>(loop_, "127.0.0.1", 0, nullptr, limits,
                                          [this](Request r) { handler_(*door_, std::move(r)); })),
        thread_([this] { loop_.run(); }) {}
  ~Door() {
    loop_.stop();
    thread_.join();
    door_.reset();
  }
  int port() const { return door_->port(); }
  // Runs fn on the loop thread and waits for it.
  void on_loop(std::function<void(FrontDoor&)> fn) {
    std::promise<void> done;
    loop_.post([&] {
      fn(*door_);
      done.set_value();
    });
    done.get_future().wait();
  }
  std::string metrics() {
    std::string text;
    on_loop([&](FrontDoor& d) {
      metrics::Writer w;
      d.write_metrics(w);
      text = w.text();
    });
    return text;
  }
  EventLoop& loop() { return loop_; }

 private:
  EventLoop loop_;
  Handler handler_;
  std::unique_ptr<FrontDoor> door_;
  std::thread thread_;
};

// Answers at once, on the loop, during the hand-over.
void echo_now(FrontDoor& door, Request r) {
  door.answer(r.connection, echo(r));
}

struct Client {
  explicit Client(int port) : fd(::socket(AF_INET, SOCK_STREAM, 0)) {
    // A test that goes wrong fails instead of hanging.
    timeval tv{std::chrono::duration_cast<std::chrono::seconds>(pushgate::test::kPatience).count(), 0};
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
  // True when the server closed (end of stream); false on data or the receive timeout.
  bool closed_by_server() const {
    char c;
    return ::recv(fd, &c, 1, 0) == 0;
  }
  int fd;
};

}  // namespace

TEST_CASE("the handler gets exactly one complete request, body included; pipelined ones follow in order") {
  Door door(echo_now);
  Client c(door.port());
  std::string post = "POST /push HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
  std::string get = "GET /health HTTP/1.1\r\n\r\n";
  c.send(post.substr(0, 20));
  c.send(post.substr(20) + get + get + get);
  std::string want = answer_to(post) + answer_to(get) + answer_to(get) + answer_to(get);
  CHECK(c.read(want.size()) == want);
  c.send(get);  // the connection was kept
  CHECK(c.read(answer_to(get).size()) == answer_to(get));
}

TEST_CASE("the handler is told where the head ends, and the peer") {
  std::promise<Request> got;
  Door door([&](FrontDoor& d, Request r) {
    got.set_value(r);
    d.answer(r.connection, echo(r));
  });
  Client c(door.port());
  std::string post = "POST /push HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n{}";
  c.send(post);
  Request r = got.get_future().get();
  CHECK(r.bytes == "POST /push HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}");
  CHECK(r.bytes.substr(r.head_bytes) == "{}");
  CHECK(r.peer.ip == "127.0.0.1");
  CHECK(r.peer.local_port == door.port());
  CHECK_FALSE(r.last);
}

TEST_CASE("answers may come later from another thread through the loop, and a slow one holds up no other connection") {
  std::vector<std::thread> helpers;
  std::promise<void> release_slow;
  auto slow_released = release_slow.get_future().share();
  EventLoop* loop = nullptr;
  Door door([&](FrontDoor& d, Request r) {
    if (r.bytes.find("/slow") == std::string::npos) return d.answer(r.connection, echo(r));
    // A worker's way: computed on another thread, handed back with EventLoop::post.
    helpers.emplace_back([&d, loop, slow_released, r] {
      slow_released.wait();
      loop->post([&d, r] { d.answer(r.connection, echo(r)); });
    });
  });
  loop = &door.loop();
  Client slow(door.port()), quick(door.port());
  std::string slow_get = "GET /slow HTTP/1.1\r\n\r\n", get = "GET /health HTTP/1.1\r\n\r\n";
  slow.send(slow_get);
  quick.send(get);
  CHECK(quick.read(answer_to(get).size()) == answer_to(get));
  release_slow.set_value();
  CHECK(slow.read(answer_to(slow_get).size()) == answer_to(slow_get));
  for (auto& t : helpers) t.join();
}

TEST_CASE("an answer for a connection that is gone is dropped") {
  std::promise<std::uint64_t> handed;
  bool first = true;
  Door door([&](FrontDoor& d, Request r) {
    if (!first) return echo_now(d, std::move(r));
    first = false;
    handed.set_value(r.connection);
  });
  auto connection = handed.get_future();
  {
    Client c(door.port());
    c.send("GET /health HTTP/1.1\r\n\r\n");
    connection.wait();
  }
  std::uint64_t id = connection.get();
  door.on_loop([&](FrontDoor& d) { d.answer(id, {answer_to("x"), true}); });
  // Written into a closed socket or not, the door goes on.
  door.on_loop([&](FrontDoor& d) { d.answer(id + 1000, {answer_to("x"), true}); });  // never was
  Client other(door.port());
  std::string get = "GET / HTTP/1.1\r\n\r\n";
  other.send(get);
  CHECK(other.read(answer_to(get).size()) == answer_to(get));
}

TEST_CASE("Expect: 100-continue is answered by the front door and removed from the request") {
  Door door(echo_now);
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
  Door door([&](FrontDoor& d, Request r) {
    ++served;
    echo_now(d, std::move(r));
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
  std::string text = door.metrics();
  CHECK(text.find("pushgate_api_connections_refused_total{reason=\"headers_too_large\"} 2") != std::string::npos);
  CHECK(text.find("pushgate_api_connections_refused_total{reason=\"body_too_large\"} 1") != std::string::npos);
}

TEST_CASE("a request trickling in past the whole-request deadline gets 408, however often bytes come") {
  FrontDoorLimits limits = small_limits();
  limits.request_deadline = 300ms;
  Door door(echo_now, limits);
  Client c(door.port());
  c.send("GET /health HTTP/1.1\r\n");
  std::string got;
  // One byte per read timeout of 50 ms: each read succeeds, the request never completes, and
  // only the whole-request deadline can end it (however slow the machine, the bytes go on).
  timeval tv{0, 50000};
  setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  auto give_up = std::chrono::steady_clock::now() + pushgate::test::kPatience;
  while (got.empty() && std::chrono::steady_clock::now() < give_up) {
    if (::send(c.fd, "a", 1, MSG_NOSIGNAL) != 1) break;
    char buf[512];
    ssize_t r = ::recv(c.fd, buf, sizeof buf, 0);
    if (r > 0) got.assign(buf, static_cast<std::size_t>(r));
  }
  CHECK(got.rfind("HTTP/1.1 408 ", 0) == 0);
}

TEST_CASE("past max_per_address a new connection gets 429 at once") {
  Door door(echo_now);
  Client a(door.port()), b(door.port()), c(door.port()), d(door.port());
  Client e(door.port());
  CHECK(e.read_to_end().rfind("HTTP/1.1 429 ", 0) == 0);
  std::string get = "GET / HTTP/1.1\r\n\r\n";
  d.send(get);
  CHECK(d.read(answer_to(get).size()) == answer_to(get));
}

TEST_CASE("at max_per_address an idle keep-alive connection of that address makes room for a new one") {
  Door door(echo_now);
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
  Door door(echo_now);
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
  std::promise<std::uint64_t> entered;
  Door door([&](FrontDoor&, Request r) { entered.set_value(r.connection); });
  Client c(door.port());
  Client idle(door.port());
  std::string get = "GET / HTTP/1.1\r\n\r\n";
  c.send(get);
  std::uint64_t id = entered.get_future().get();
  door.on_loop([](FrontDoor& d) { d.stop(); });
  CHECK(idle.read_to_end().empty());  // waiting for a request: closed at once
  door.on_loop([&](FrontDoor& d) { d.answer(id, {answer_to(get), true}); });
  CHECK(c.read_to_end() == answer_to(get));  // then EOF: not kept alive after stop()
}

TEST_CASE("a deadline moved later on a kept connection still cuts it off when its time comes") {
  // The first answer arms the keep-alive timer; a second request a quarter of the idle time
  // later moves the deadline past it, so the timer fires early, finds the deadline later and
  // must arm itself again. The second request has to reach the connection before its first
  // deadline: if this machine was too slow for that, the idle time doubles and it starts over.
  std::string get = "GET / HTTP/1.1\r\n\r\n";
  for (auto idle = 400ms; idle <= 6400ms; idle *= 2) {
    CAPTURE(idle.count());
    FrontDoorLimits limits = small_limits();
    limits.keep_alive_idle = idle;
    Door door(echo_now, limits);
    Client c(door.port());
    c.send(get);
    REQUIRE(c.read(answer_to(get).size()) == answer_to(get));
    std::this_thread::sleep_for(idle / 4);  // the scenario's shape, not a wait for an event
    auto second_sent = std::chrono::steady_clock::now();
    if (::send(c.fd, get.data(), get.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(get.size())) continue;
    if (c.read(answer_to(get).size()) != answer_to(get)) continue;  // closed first: too slow a turn
    CHECK(c.closed_by_server());  // a lost timer would leave it open: the receive times out
    // Not at the first deadline: the second answer went out after second_sent, and its
    // deadline is idle after that (timers never fire early).
    CHECK(std::chrono::steady_clock::now() - second_sent >= idle);
    return;
  }
  FAIL("the second request never reached the connection before its first keep-alive deadline");
}
