// Tests for src/common/log.cpp: one line per event in both formats, quoting, levels, redaction.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/log.hpp"

using namespace pushgate;

namespace {
// Runs fn with stderr sent to a temporary file; returns what was written.
template <class Fn>
std::string captured(Fn fn) {
  char path[] = "/tmp/pushgate-log-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  std::fflush(stderr);
  int saved = dup(STDERR_FILENO);
  dup2(fd, STDERR_FILENO);
  fn();
  dup2(saved, STDERR_FILENO);
  close(saved);
  std::string out;
  char buf[4096];
  lseek(fd, 0, SEEK_SET);
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  close(fd);
  unlink(path);
  return out;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// The suite runs with the log quieted (tests/unit/main.cpp): each test here starts from
// info and puts the level back as it found it.
struct Restore {
  log::Level before = log::level();
  Restore() { log::set_level(log::Level::Info); }
  ~Restore() {
    log::set_format(log::Format::KeyValue);
    log::set_level(before);
  }
};
}  // namespace

TEST_CASE("key=value: one line per event, values with spaces, quotes or newlines quoted and kept on the line") {
  Restore restore;
  log::set_format(log::Format::KeyValue);
  std::string out = captured([] {
    log::warn("reload_refused", {{"error", "t.toml:3: unknown key 'prot'; did you mean \"port\"?\nsecond line"},
                                 {"plain", "value"}});
  });
  auto l = lines(out);
  REQUIRE(l.size() == 1);
  CHECK(l[0].rfind("ts=", 0) == 0);
  CHECK(l[0].find(" level=warn event=reload_refused error=\"t.toml:3: unknown key 'prot'; did you mean \\\"port\\\"?") !=
        std::string::npos);
  CHECK(l[0].find(" plain=value") != std::string::npos);
}

TEST_CASE("json: each line is one JSON object with ts, level, event and the fields") {
  Restore restore;
  log::set_format(log::Format::Json);
  std::string out = captured([] {
    log::info("push", {{"app", "ios"}, {"token", log::redact("abcdef0123456789")}, {"reason", "a \"quoted\"\nreason"}});
    log::error("fatal", {{"cause", std::string("bytes \x01\x02 and tab\t")}});
  });
  auto l = lines(out);
  REQUIRE(l.size() == 2);
  auto first = nlohmann::json::parse(l[0]);
  CHECK(first["level"] == "info");
  CHECK(first["event"] == "push");
  CHECK(first["app"] == "ios");
  CHECK(first["token"] == "…456789");
  CHECK(first["reason"] == "a \"quoted\"\nreason");
  CHECK(first.contains("ts"));
  auto second = nlohmann::json::parse(l[1]);
  CHECK(second["level"] == "error");
  CHECK(second["cause"].get<std::string>().find("bytes") == 0);
}

TEST_CASE("levels: below the set level nothing is written; parse_level names") {
  Restore restore;
  log::set_level(log::Level::Warn);
  std::string out = captured([] {
    log::info("quiet");
    log::debug("quieter");
    log::warn("loud");
  });
  CHECK(out.find("quiet") == std::string::npos);
  CHECK(out.find("event=loud") != std::string::npos);
  log::Level l;
  CHECK(log::parse_level("debug", l));
  CHECK(l == log::Level::Debug);
  CHECK(log::parse_level("warning", l));
  CHECK(l == log::Level::Warn);
  CHECK_FALSE(log::parse_level("verbose", l));
}

TEST_CASE("redact keeps the last 6 characters at most") {
  CHECK(log::redact("0123456789abcdef") == "…abcdef");
  CHECK(log::redact("abcdef") == "…");
  CHECK(log::redact("") == "…");
}
