// Tests for src/api/http_wire.cpp against cpp-httplib itself: for every request the loop
// serves without httplib, httplib's own request processing (with a /push route answering the
// same status and body) must hand the route the same content type, write the same bytes and
// keep or close the connection the same way.
#include "api/http_wire.hpp"
#include "api/memory_exchange.hpp"

#include <doctest/doctest.h>
#include <httplib.h>

#include <cstring>
#include <string>
#include <vector>

using namespace pushgate::api;

namespace {

constexpr KeepAliveHeader kKeepAlive{std::chrono::seconds(10), 100000};

class Engine : public httplib::Server {
 public:
  using httplib::Server::process_request;
};

struct HttplibSaw {
  bool routed = false;        // the /push handler ran
  std::string content_type;   // what it read
  std::string body;
  std::string bytes;          // what httplib wrote
  bool keep_alive = false;    // as the API's worker decides from process_request
};

// httplib set up as the API sets it up, answering `status` with `json`.
HttplibSaw httplib_answer(const std::string& request, bool last, int status, const std::string& json) {
  Engine engine;
  engine.set_payload_max_length(16 * 1024);
  engine.set_keep_alive_max_count(kKeepAlive.max);
  engine.set_keep_alive_timeout(kKeepAlive.timeout.count());
  HttplibSaw saw;
  engine.Post("/push", [&](const httplib::Request& req, httplib::Response& res) {
    saw.routed = true;
    saw.content_type = req.get_header_value("Content-Type");
    saw.body = req.body;
    res.status = status;
    res.set_content(json, "application/json");
  });
  engine.set_error_handler([](const httplib::Request&, httplib::Response&) {});
  MemoryExchange ex(request, Peer{"127.0.0.1", 1, "127.0.0.1", 2});
  bool closed = false;
  bool answered = engine.process_request(ex, last, closed, nullptr);
  saw.bytes = ex.output();
  saw.keep_alive = answered && !closed && !last;
  return saw;
}

std::string request(const std::string& line, const std::vector<std::string>& fields, const std::string& body) {
  std::string r = line + "\r\n";
  for (const auto& f : fields) r += f + "\r\n";
  r += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  return r;
}

}  // namespace

TEST_CASE("what the loop writes for POST /push is what httplib writes, status by status and connection by connection") {
  const std::string json = R"({"outcome":"delivered"})";
  const std::vector<std::vector<std::string>> field_sets = {
      {},
      {"Content-Type: application/json"},
      {"Host: x", "content-type:application/json ", "User-Agent: curl/7.88.1", "Accept: */*"},
      {"Content-Type: application/x-www-form-urlencoded", "Connection: close"},
      {"Connection: keep-alive"},
      {"Connection: Keep-Alive"},
      {"Connection: Close"},
      {"Connection:", "Content-Type: text/plain", "Content-Type: application/json"},
      {"no colon here", "X-Empty: ", "Content-Type:\tapplication/json\t"},
      {"Accept-Encoding: identity", "Content-Type: application/json"},
      {"Accept-Encoding: deflate;q=0.5", "Accept-Encoding: identity"},
  };
  int compared = 0;
  for (const char* version : {"HTTP/1.1", "HTTP/1.0"}) {
    for (const auto& fields : field_sets) {
      for (bool last : {false, true}) {
        for (int status : {200, 202, 400, 403, 404, 410, 429, 500, 502, 503, 504}) {
          std::string body = R"({"node":"n","secret":"s"})";
          std::string req = request(std::string("POST /push ") + version, fields, body);
          CAPTURE(req);
          CAPTURE(last);
          CAPTURE(status);
          auto head = read_push_head(req.substr(0, req.size() - body.size()), body.size());
          REQUIRE(head.has_value());
          HttplibSaw saw = httplib_answer(req, last, status, json);
          REQUIRE(saw.routed);
          CHECK(head->content_type == saw.content_type);
          CHECK(saw.body == body);
          bool close = last || head->says_close;
          CHECK(write_answer(status, "application/json", json, close, kKeepAlive) == saw.bytes);
          CHECK((!head->closes && !last) == saw.keep_alive);
          ++compared;
        }
      }
    }
  }
  CHECK(compared == 2 * 11 * 2 * 11);
}

TEST_CASE("requests httplib would treat otherwise are left to httplib") {
  std::string body = "{}";
  auto declined = [&](const std::string& line, const std::vector<std::string>& fields, std::size_t body_bytes = 2) {
    std::string req = request(line, fields, body);
    return !read_push_head(req.substr(0, req.size() - body.size()), body_bytes).has_value();
  };
  CHECK(declined("GET /push HTTP/1.1", {}));
  CHECK(declined("POST /health HTTP/1.1", {}));
  CHECK(declined("POST /push?x=1 HTTP/1.1", {}));
  CHECK(declined("POST /pu%73h HTTP/1.1", {}));
  CHECK(declined("POST /push HTTP/2.0", {}));
  CHECK(declined("POST  /push HTTP/1.1", {}));
  CHECK(declined("POST /push HTTP/1.1", {"Accept-Encoding: gzip"}));
  CHECK(declined("POST /push HTTP/1.1", {"Accept-Encoding: gzip, deflate, br"}));
  CHECK(declined("POST /push HTTP/1.1", {"Accept-Encoding: identity", "accept-encoding: br"}));
  CHECK(declined("POST /push HTTP/1.1", {"Accept-Encoding: g%7Aip"}));
  CHECK(declined("POST /push HTTP/1.1", {"Content-Encoding: gzip"}));
  CHECK(declined("POST /push HTTP/1.1", {"Range: bytes=0-1"}));
  CHECK(declined("POST /push HTTP/1.1", {"Expect: 100-continue"}));
  CHECK(declined("POST /push HTTP/1.1", {"Content-Type: application%2Fjson"}));
  CHECK(declined("POST /push HTTP/1.1", {"Connection: clo%73e"}));
  CHECK(declined("POST /push HTTP/1.1", {"Content-Type: multipart/form-data; boundary=x"}));
  CHECK(declined("POST /push HTTP/1.1", {"X-Long: " + std::string(9000, 'a')}));
  CHECK(declined("POST /push HTTP/1.1", {"Content-Type: application/x-www-form-urlencoded"}, 9000));
  CHECK_FALSE(declined("POST /push HTTP/1.1", {"Content-Type: application/json"}, 9000));
  // A bare LF ends a line for the front door's scanner, not for httplib.
  std::string bare = "POST /push HTTP/1.1\r\nContent-Type: application/json\nContent-Length: 2\r\n\r\n";
  CHECK_FALSE(read_push_head(bare, 2).has_value());
  // Everything the head holds must be the head.
  CHECK_FALSE(read_push_head("POST /push HTTP/1.1\r\n\r\nX", 0).has_value());
}

TEST_CASE("httplib compresses an answer when asked for br or gzip, which is why those are left to it") {
  for (const char* encoding : {"gzip", "br"}) {
    CAPTURE(encoding);
    std::string req = request("POST /push HTTP/1.1", {std::string("Accept-Encoding: ") + encoding}, "{}");
    HttplibSaw saw = httplib_answer(req, false, 200, R"({"outcome":"delivered"})");
    CHECK(saw.bytes.find(std::string("Content-Encoding: ") + encoding) != std::string::npos);
  }
}

TEST_CASE("the reason phrases are httplib's") {
  for (int status : {200, 202, 400, 403, 404, 405, 410, 413, 429, 431, 500, 502, 503, 504, 599}) {
    CAPTURE(status);
    std::string want = std::string("HTTP/1.1 ") + std::to_string(status) + " " + status_text(status) + "\r\n";
    std::string req = request("POST /push HTTP/1.1", {}, "");
    CHECK(httplib_answer(req, false, status, "{}").bytes.rfind(want, 0) == 0);
  }
}
