// Tests for src/push/log_provider.cpp: honest, redacted JSON records, written on the loop
// (files, /dev/null) or by the writer thread (pipes), and the queue's bound.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "push/log_provider.hpp"
#include "test_config.hpp"
#include "support/loop_wait.hpp"

using namespace pushgate;

namespace {
PushJob job(const AppConfig& app, PushKind kind) {
  PushJob j;
  j.app = &app;
  j.kind = kind;
  j.request.node = "a1b2c3d4e5f6DEVICETOKEN987654";
  j.request.sender_domain = "example.org";
  j.request.summary = {{"message-count", "1"}, {"last-message-body", "hello secret words"}, {"last-message-sender", "bob@example.org"}};
  j.request.options = {{"secret", "ios-secret"}, {"type", "voip"}};
  return j;
}
std::string temp_path() {
  char tmpl[] = "/tmp/pushgate-log-XXXXXX";
  int fd = mkstemp(tmpl);
  close(fd);
  unlink(tmpl);
  return tmpl;
}
}  // namespace

TEST_CASE("a record redacts the token to its last 6 characters and says nothing was sent") {
  auto cfg = test::two_app_config();
  auto line = LogProvider::record(job(cfg.apps[0], PushKind::Voip));
  auto j = nlohmann::json::parse(line);
  CHECK(j["token"] == "…987654");
  CHECK(line.find("DEVICETOKEN") == std::string::npos);
  CHECK(line.find("ios-secret") == std::string::npos);
  CHECK(j["sent"] == false);
  CHECK(j["app"] == "ios");
  CHECK(j["service"] == "log");
  CHECK(j["kind"] == "voip");
  CHECK(j["priority"] == "high");
  CHECK(j["ttl"] == 30);
  CHECK(j["data"]["type"] == "call");
  CHECK(j["data"]["message-count"] == "1");
}

TEST_CASE("a record shows whom a registered push is for like a token: the JID's last 6 characters") {
  auto cfg = test::two_app_config();
  PushJob tigase = job(cfg.apps[0], PushKind::Alert);
  tigase.request.dialect = Dialect::Tigase;
  tigase.request.account = "alice.wonderland@example.org";
  auto line = LogProvider::record(tigase);
  CHECK(line.find("alice.wonderland") == std::string::npos);
  CHECK(nlohmann::json::parse(line)["data"]["account"] == "…le.org");
  PushJob p2 = job(cfg.apps[0], PushKind::Alert);
  p2.request.dialect = Dialect::P2;
  p2.request.account = "0123456789abcdef0123456789abcdef01234567";
  p2.request.channel = "fedcba9876543210fedcba9876543210fedcba98";
  line = LogProvider::record(p2);
  CHECK(line.find("0123456789abcdef") == std::string::npos);
  CHECK(line.find("fedcba9876543210") == std::string::npos);
}

TEST_CASE("body and sender stay out of the payload unless the app allows them") {
  auto cfg = test::two_app_config();
  auto plain = nlohmann::json::parse(LogProvider::record(job(cfg.apps[0], PushKind::Alert)));
  CHECK_FALSE(plain["data"].contains("body"));
  CHECK_FALSE(plain["data"].contains("sender"));
  cfg.apps[0].include_body = true;
  cfg.apps[0].include_sender = true;
  auto open = nlohmann::json::parse(LogProvider::record(job(cfg.apps[0], PushKind::Alert)));
  CHECK(open["data"]["body"] == "hello secret words");
  CHECK(open["data"]["sender"] == "…le.org");  // whom a push is from, shown like a token
}

TEST_CASE("background pushes are normal priority; tigase fields pass through") {
  auto cfg = test::two_app_config();
  auto j = job(cfg.apps[0], PushKind::Background);
  j.request.priority = "high";
  j.request.encrypted = EncryptedPayload{{{"iv", "aXY="}, {"type", "voip"}}, "CIPHER"};
  auto rec = nlohmann::json::parse(LogProvider::record(j));
  CHECK(rec["priority"] == "normal");
  CHECK(rec["data"]["type"] == "background");
  CHECK(rec["data"]["priority"] == "high");
  CHECK(rec["data"]["encrypted"] == "CIPHER");
  CHECK(rec["data"]["encrypted-iv"] == "aXY=");
  CHECK(rec["data"]["encrypted-type"] == "voip");
  for (const auto& [k, v] : rec["data"].items()) CHECK(v.is_string());  // FCM takes strings only
}

TEST_CASE("the provider writes one line per push and reports on the loop thread") {
  auto cfg = test::two_app_config();
  std::string path = temp_path();
  EventLoop loop;
  std::vector<OutcomeKind> outcomes;
  {
    LogProvider p(loop, path, 100);
    for (int i = 0; i < 3; ++i) {
      p.send(job(cfg.apps[0], PushKind::Alert), [&](const Outcome& o) { outcomes.push_back(o.kind); });
    }
    CHECK(outcomes.empty());  // never from inside send()
    pushgate::test::turn_until(loop, [&] { return outcomes.size() >= 3; });
  }
  REQUIRE(outcomes.size() == 3);
  for (auto k : outcomes) CHECK(k == OutcomeKind::Delivered);
  std::ifstream in(path);
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) {
    ++lines;
    CHECK(nlohmann::json::parse(line)["token"] == "…987654");
  }
  CHECK(lines == 3);
  struct stat st{};
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & S_IROTH) == 0);
  unlink(path.c_str());
}

TEST_CASE("records stay valid JSON for quotes, control characters and broken UTF-8") {
  auto cfg = test::two_app_config();
  cfg.apps[0].include_body = true;
  auto j = job(cfg.apps[0], PushKind::Alert);
  j.request.summary["last-message-body"] = std::string("say \"hi\"\n\x01 caf\xc3\xa9 \xff\xfe end");
  auto rec = nlohmann::json::parse(LogProvider::record(j));
  CHECK(rec["data"]["body"] == "say \"hi\"\n\x01 café \xEF\xBF\xBD\xEF\xBF\xBD end");
}

TEST_CASE("files and /dev/null are written on the loop; a pipe goes through the writer thread") {
  auto cfg = test::two_app_config();
  EventLoop loop;
  CHECK(LogProvider(loop, "/dev/null", 10).writes_inline());
  std::string fifo = temp_path();
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  CHECK_THROWS_WITH_AS(LogProvider(loop, fifo, 10), doctest::Contains("FIFO with no reader"), std::runtime_error);
  int read_end = open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
  REQUIRE(read_end >= 0);
  std::string received;
  std::thread reader([&] {
    char c;
    for (;;) {
      ssize_t n = read(read_end, &c, 1);
      if (n == 1 && c == '\n') break;
      if (n == 1) received += c;
      if (n <= 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  std::vector<OutcomeKind> outcomes;
  {
    LogProvider p(loop, fifo, 10);
    CHECK_FALSE(p.writes_inline());
    p.send(job(cfg.apps[0], PushKind::Voip), [&](const Outcome& o) { outcomes.push_back(o.kind); });
    pushgate::test::turn_until(loop, [&] { return !outcomes.empty(); });
  }
  reader.join();
  close(read_end);
  REQUIRE(outcomes.size() == 1);
  CHECK(outcomes[0] == OutcomeKind::Delivered);
  CHECK(nlohmann::json::parse(received)["kind"] == "voip");
  unlink(fifo.c_str());
}

TEST_CASE("past its capacity the provider answers QueueFull, never silently drops") {
  auto cfg = test::two_app_config();
  EventLoop loop;
  std::vector<OutcomeKind> outcomes;
  LogProvider p(loop, "/dev/null", 2);
  for (int i = 0; i < 3; ++i) p.send(job(cfg.apps[0], PushKind::Alert), [&](const Outcome& o) { outcomes.push_back(o.kind); });
  CHECK(outcomes.empty());
  pushgate::test::turn_until(loop, [&] { return outcomes.size() >= 3; });
  REQUIRE(outcomes.size() == 3);
  CHECK(std::count(outcomes.begin(), outcomes.end(), OutcomeKind::Delivered) == 2);
  CHECK(std::count(outcomes.begin(), outcomes.end(), OutcomeKind::QueueFull) == 1);
}

TEST_CASE("an output that cannot be opened is a clear error naming the path") {
  EventLoop loop;
  try {
    LogProvider p(loop, "/nonexistent-dir/pushes.jsonl", 10);
    FAIL("expected an exception");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find("/nonexistent-dir/pushes.jsonl") != std::string::npos);
  }
}

TEST_CASE("a failing output reports Retry, not Delivered") {
  auto cfg = test::two_app_config();
  EventLoop loop;
  std::vector<OutcomeKind> outcomes;
  {
    LogProvider p(loop, "/dev/full", 10);
    p.send(job(cfg.apps[0], PushKind::Alert), [&](const Outcome& o) { outcomes.push_back(o.kind); });
    pushgate::test::turn_until(loop, [&] { return !outcomes.empty(); });
  }
  REQUIRE(outcomes.size() == 1);
  CHECK(outcomes[0] == OutcomeKind::Retry);
}
