// Tests for src/common/result.hpp: a value or why there is none, and the checks of Result<void>.
#include "common/result.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <string>

using pushgate::Error;
using pushgate::Result;

namespace {
Result<int> half(int n) {
  if (n % 2 != 0) return Error{"odd number " + std::to_string(n), "pass an even one"};
  return n / 2;
}
struct Refusal {
  int code;
};
Result<std::string, Refusal> named(bool ok) {
  if (!ok) return Refusal{403};
  return std::string("yes");
}
Result<void> positive(int n) {
  if (n <= 0) return Error{"not positive", ""};
  return {};
}
}  // namespace

TEST_CASE("a value, or the Error that says why there is none") {
  auto good = half(4);
  REQUIRE(good.ok());
  CHECK(static_cast<bool>(good));
  CHECK(good.value() == 2);
  CHECK(*good == 2);

  auto bad = half(3);
  REQUIRE_FALSE(bad.ok());
  CHECK_FALSE(static_cast<bool>(bad));
  CHECK(bad.error().cause == "odd number 3");
  CHECK(bad.error().fix == "pass an even one");
  CHECK_THROWS(bad.value());  // a bug in the caller, never a path the data takes
}

TEST_CASE("message() is the cause, then the fix when there is one") {
  CHECK(Error{"the body is empty", "send the JSON"}.message() == "the body is empty; send the JSON");
  CHECK(Error{"unknown command", ""}.message() == "unknown command");
}

TEST_CASE("another failure type, where the failure is the answer") {
  auto yes = named(true);
  REQUIRE(yes.ok());
  CHECK(yes->size() == 3);
  auto no = named(false);
  REQUIRE_FALSE(no.ok());
  CHECK(no.error().code == 403);
}

TEST_CASE("values and failures move out") {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(7);
  std::unique_ptr<int> p = std::move(r).value();
  REQUIRE(p);
  CHECK(*p == 7);
  Result<std::unique_ptr<int>> e = Error{"none", ""};
  Error moved = std::move(e).error();
  CHECK(moved.cause == "none");
}

TEST_CASE("Result<void> passes or says why not") {
  auto pass = positive(1);
  CHECK(pass.ok());
  CHECK_THROWS(pass.error());
  auto fail = positive(0);
  REQUIRE_FALSE(fail.ok());
  CHECK(fail.error().message() == "not positive");
}
