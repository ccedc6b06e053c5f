// Tests for src/api/head_scanner.cpp: the end of a request head, and its bounds.
#include "api/head_scanner.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace pushgate::api;

namespace {
constexpr HeadLimits kSmall{.max_bytes = 256, .max_fields = 4};
}

TEST_CASE("a head is complete at the blank line; the body and a next request stay after it") {
  HeadScanner scanner(kSmall);
  std::string head = "POST /push HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n";
  RequestHead r = scanner.scan(head + "hello" + "GET /health HTTP/1.1\r\n");
  REQUIRE(r.state == HeadState::Complete);
  CHECK(r.head_bytes == head.size());
  CHECK(r.content_length == 5);
  CHECK_FALSE(r.chunked);
  CHECK(r.expect_begin == r.expect_end);
}

TEST_CASE("a head arriving byte by byte is incomplete until its blank line") {
  HeadScanner scanner(kSmall);
  std::string head = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
  for (std::size_t n = 1; n < head.size(); ++n) REQUIRE(scanner.scan(head.substr(0, n)).state == HeadState::Incomplete);
  RequestHead r = scanner.scan(head);
  CHECK(r.state == HeadState::Complete);
  CHECK(r.head_bytes == head.size());
  CHECK(r.content_length == 0);
}

TEST_CASE("a head without its blank line within max_bytes is TooLarge as soon as max_bytes arrived") {
  HeadScanner scanner(kSmall);
  std::string flood = "GET / HTTP/1.1\r\nX: " + std::string(200, 'a');
  CHECK(scanner.scan(flood).state == HeadState::Incomplete);
  flood += std::string(56, 'a');  // 256 bytes exactly, still no blank line
  CHECK(scanner.scan(flood).state == HeadState::TooLarge);
  CHECK(scanner.scan(flood + std::string(1 << 20, 'a')).state == HeadState::TooLarge);
}

TEST_CASE("a head that ends exactly at max_bytes is complete") {
  HeadScanner scanner(kSmall);
  std::string head = "GET / HTTP/1.1\r\nX: ";
  head += std::string(256 - head.size() - 4, 'a') + "\r\n\r\n";
  REQUIRE(head.size() == 256);
  CHECK(scanner.scan(head).state == HeadState::Complete);
}

TEST_CASE("more field lines than max_fields is TooManyFields before the head ends") {
  HeadScanner scanner(kSmall);
  std::string head = "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n";
  CHECK(scanner.scan(head).state == HeadState::Incomplete);  // 4 fields: allowed
  head += "E: 5\r\n";
  CHECK(scanner.scan(head).state == HeadState::TooManyFields);
}

TEST_CASE("a blank line of a bare LF ends the head too (httplib then answers 400)") {
  HeadScanner scanner(kSmall);
  RequestHead r = scanner.scan("GET / HTTP/1.1\n\n");
  CHECK(r.state == HeadState::Complete);
  CHECK(r.head_bytes == 16);
}

TEST_CASE("Content-Length is read case-insensitively, with spaces around it") {
  HeadScanner scanner(kSmall);
  RequestHead r = scanner.scan("POST /push HTTP/1.1\r\ncontent-LENGTH:   42 \r\n\r\n");
  REQUIRE(r.state == HeadState::Complete);
  CHECK(r.content_length == 42);
}

TEST_CASE("a Content-Length that is not a number, or two that differ, is BadLength") {
  for (const char* fields :
       {"Content-Length: -1\r\n", "Content-Length: 12abc\r\n", "Content-Length:\r\n",
        "Content-Length: 99999999999999999999999\r\n", "Content-Length: 5\r\nContent-Length: 6\r\n"}) {
    HeadScanner scanner(kSmall);
    CAPTURE(fields);
    CHECK(scanner.scan(std::string("POST /push HTTP/1.1\r\n") + fields + "\r\n").state == HeadState::BadLength);
  }
  HeadScanner same(kSmall);
  RequestHead r = same.scan("POST /push HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n");
  CHECK(r.state == HeadState::Complete);
  CHECK(r.content_length == 5);
}

TEST_CASE("Transfer-Encoding is reported as chunked") {
  HeadScanner scanner(kSmall);
  RequestHead r = scanner.scan("POST /push HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
  REQUIRE(r.state == HeadState::Complete);
  CHECK(r.chunked);
}

TEST_CASE("the Expect: 100-continue line is located so it can be answered and removed") {
  HeadScanner scanner(kSmall);
  std::string before = "POST /push HTTP/1.1\r\nContent-Length: 3\r\n";
  std::string expect = "expect: 100-Continue\r\n";
  RequestHead r = scanner.scan(before + expect + "Host: x\r\n\r\n");
  REQUIRE(r.state == HeadState::Complete);
  CHECK(r.expect_begin == before.size());
  CHECK(r.expect_end == before.size() + expect.size());
}

TEST_CASE("reset() starts over for the next request on the connection") {
  HeadScanner scanner(kSmall);
  CHECK(scanner.scan("GET / HTTP/1.1\r\n\r\n").state == HeadState::Complete);
  scanner.reset();
  CHECK(scanner.scan("GET /health HTTP/1.1\r\n").state == HeadState::Incomplete);
  CHECK(scanner.scan("GET /health HTTP/1.1\r\n\r\n").head_bytes == 24);
}
