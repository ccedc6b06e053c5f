// Tests for src/common/secret.cpp: secret files, environment secrets, constant-time compare.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "common/log.hpp"
#include "common/secret.hpp"

using namespace pushgate;

namespace {
std::string write_temp(const std::string& content, mode_t mode) {
  char tmpl[] = "/tmp/pushgate-secret-XXXXXX";
  int fd = mkstemp(tmpl);
  REQUIRE(fd >= 0);
  REQUIRE(write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()));
  close(fd);
  chmod(tmpl, mode);
  return tmpl;
}
std::string error_of(const std::string& path) {
  try {
    read_secret_file(path);
  } catch (const SecretError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("a secret file's trailing newline is removed") {
  auto p = write_temp("s3cr3t\n", 0600);
  CHECK(read_secret_file(p) == "s3cr3t");
  unlink(p.c_str());
}

TEST_CASE("a world-readable secret file is refused with the chmod fix") {
  auto p = write_temp("s3cr3t\n", 0644);
  auto e = error_of(p);
  CHECK(e.find("readable by every user") != std::string::npos);
  CHECK(e.find("chmod") != std::string::npos);
  CHECK(e.find("s3cr3t") == std::string::npos);
  unlink(p.c_str());
}

TEST_CASE("missing, empty and multi-line secret files are refused") {
  CHECK(error_of("/nonexistent/secret").find("cannot be read") != std::string::npos);
  auto empty = write_temp("\n", 0600);
  CHECK(error_of(empty).find("empty") != std::string::npos);
  auto two = write_temp("a\nb\n", 0600);
  CHECK(error_of(two).find("more than one line") != std::string::npos);
  unlink(empty.c_str());
  unlink(two.c_str());
}

TEST_CASE("environment secrets: unset is nullopt, empty is an error") {
  unsetenv("PUSHGATE_TEST_SECRET");
  CHECK_FALSE(secret_from_env("PUSHGATE_TEST_SECRET").has_value());
  setenv("PUSHGATE_TEST_SECRET", "abc\n", 1);
  CHECK(secret_from_env("PUSHGATE_TEST_SECRET").value() == "abc");
  setenv("PUSHGATE_TEST_SECRET", "", 1);
  CHECK_THROWS_AS(secret_from_env("PUSHGATE_TEST_SECRET"), SecretError);
  unsetenv("PUSHGATE_TEST_SECRET");
}

TEST_CASE("constant_time_equal compares whole values") {
  CHECK(constant_time_equal("secret", "secret"));
  CHECK_FALSE(constant_time_equal("secret", "secreT"));
  CHECK_FALSE(constant_time_equal("secret", "secret2"));
  CHECK_FALSE(constant_time_equal("secret2", "secret"));  // the secret as a prefix is not enough
  CHECK_FALSE(constant_time_equal("", "x"));
  CHECK(constant_time_equal("", ""));
}

TEST_CASE("redact keeps at most the last 6 characters") {
  CHECK(log::redact("0123456789abcdef") == "…abcdef");
  CHECK(log::redact("abcdef") == "…");
  CHECK(log::redact("") == "…");
}
