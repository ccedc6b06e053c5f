// Tests for src/api/push_body.cpp: the POST /push body in JSON and form encoding.
#include "api/push_body.hpp"

#include <doctest/doctest.h>

using namespace pushgate::api;

namespace {
PushBody ok(std::string_view type, std::string_view body) {
  auto r = parse_push_body(type, body);
  REQUIRE(r.ok());
  return std::move(r).value();
}
// The whole text the 400 carries: the cause, and the fix when there is one.
std::string error(std::string_view type, std::string_view body) {
  auto r = parse_push_body(type, body);
  REQUIRE_FALSE(r.ok());
  return r.error().message();
}
}  // namespace

TEST_CASE("the JSON body of the operators' curl line") {
  auto b = ok("application/json", R"({"node":"abc123","secret":"s3","type":"call","app":"ios","extra":1})");
  CHECK(b.node == "abc123");
  CHECK(b.secret == "s3");
  CHECK(b.type == "call");
  CHECK(b.app == "ios");
  CHECK(ok("", R"({"token":"t","secret":"s"})").node == "t");  // p2 names it token
}

TEST_CASE("form-encoded bodies, with + and %-escapes") {
  auto b = ok("application/x-www-form-urlencoded; charset=utf-8", "node=a%2Fbc&secret=p%40ss+x&type=message&&x=");
  CHECK(b.node == "a/bc");
  CHECK(b.secret == "p@ss x");
  CHECK(b.type == "message");
  std::string broken = error("application/x-www-form-urlencoded", "node=%zz&secret=s");
  CHECK(broken.find("%-escape") != std::string::npos);
  CHECK(broken.find("--data-urlencode") != std::string::npos);  // and how to write it
}

TEST_CASE("bad bodies name what is wrong, never echo values") {
  CHECK(error("application/json", "{broken").find("not valid JSON") != std::string::npos);
  CHECK(error("application/json", "[1,2]").find("JSON object") != std::string::npos);
  CHECK(error("application/json", R"({"secret":"s"})").find("\"node\" is missing") != std::string::npos);
  CHECK(error("application/json", R"({"node":"n"})").find("\"secret\" is missing") != std::string::npos);
  std::string e = error("application/json", R"({"node":"n","secret":42})");
  CHECK(e.find("\"secret\" must be a string") != std::string::npos);
  CHECK(e.find("42") == std::string::npos);
  CHECK(error("application/json", R"({"node":")" + std::string(5000, 'a') + R"(","secret":"s"})").find("4096") !=
        std::string::npos);
}

TEST_CASE("a node that is not printable ASCII is refused before it reaches the store") {
  const char* form = "application/x-www-form-urlencoded";
  for (std::string_view body :
       {"node=%FF%FE&secret=s", "node=ab%00cd&secret=s", "node=a+b&secret=s", "node=%E2%82%AC&secret=s"}) {
    CAPTURE(body);
    CHECK(error(form, body).find("printable ASCII") != std::string::npos);
  }
  CHECK(error("application/json", "{\"node\":\"a\\u0000b\",\"secret\":\"s\"}").find("printable ASCII") !=
        std::string::npos);
  CHECK(ok(form, "node=AAAA-bbbb_0123%3Axyz&secret=s").node == "AAAA-bbbb_0123:xyz");  // FCM tokens have ':'
}
