// Tests for src/common/event_loop.cpp: timers, cancellation, cross-thread posts, descriptor
// watches, deferred work and stop().
#include <doctest/doctest.h>

#include <atomic>
#include <functional>
#include <memory>
#include <thread>
#include <string>
#include <vector>

#include <unistd.h>

#include "common/event_loop.hpp"
#include "support/loop_wait.hpp"

using namespace pushgate;
using pushgate::test::kPatience;
using pushgate::test::turn_until;
using namespace std::chrono_literals;

TEST_CASE("timers run in order and a cancelled timer never runs") {
  EventLoop loop;
  std::vector<int> ran;
  loop.call_after(20ms, [&] { ran.push_back(2); });
  loop.call_after(5ms, [&] { ran.push_back(1); });
  auto id = loop.call_after(10ms, [&] { ran.push_back(99); });
  loop.cancel(id);
  turn_until(loop, [&] { return ran.size() >= 2; });
  CHECK(ran == std::vector<int>{1, 2});
}

TEST_CASE("a post from another thread wakes a sleeping loop") {
  EventLoop loop;
  std::atomic<bool> ran{false};
  std::thread t([&] {
    std::this_thread::sleep_for(20ms);  // most likely while the loop sleeps; either way it must wake
    loop.post([&] { ran = true; });
  });
  bool ran_out = loop.run_once(kPatience);  // nothing else can end this turn
  t.join();
  CHECK(ran);
  CHECK_FALSE(ran_out);
}

TEST_CASE("an FdWatch calls back when its descriptor is readable, and not after it stops") {
  EventLoop loop;
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  int calls = 0;
  FdWatch watch(loop, [&](int events) {
    ++calls;
    CHECK((events & UV_READABLE) != 0);
    char buf[16];
    CHECK(read(fds[0], buf, sizeof buf) == 1);
  });
  REQUIRE(watch.watch(fds[0], UV_READABLE));
  loop.run_once(0ms);
  CHECK(calls == 0);  // nothing written yet: no call
  REQUIRE(write(fds[1], "x", 1) == 1);
  turn_until(loop, [&] { return calls > 0; });
  CHECK(calls == 1);
  watch.stop();
  REQUIRE(write(fds[1], "y", 1) == 1);
  loop.run_once(20ms);
  CHECK(calls == 1);
  close(fds[0]);
  close(fds[1]);
}

TEST_CASE("an FdWatch's owner may destroy another watch from its callback (a reload freeing a connection)") {
  EventLoop loop;
  int a[2], b[2];
  REQUIRE(pipe(a) == 0);
  REQUIRE(pipe(b) == 0);
  std::unique_ptr<FdWatch> victim;
  int victim_calls = 0, first_calls = 0;
  FdWatch first(loop, [&](int) {
    ++first_calls;
    victim.reset();  // AddressSanitizer reports a call into the freed watch
  });
  victim = std::make_unique<FdWatch>(loop, [&](int) { ++victim_calls; });
  REQUIRE(first.watch(a[0], UV_READABLE));
  REQUIRE(victim->watch(b[0], UV_READABLE));
  REQUIRE(write(a[1], "x", 1) == 1);
  REQUIRE(write(b[1], "x", 1) == 1);
  turn_until(loop, [&] { return first_calls > 0; });
  loop.run_once(0ms);
  CHECK(first_calls >= 1);
  CHECK(victim == nullptr);
  // Both were ready in the same turn: whichever ran first, the freed one is not called after.
  CHECK(victim_calls <= 1);
  first.stop();
  for (int fd : {a[0], a[1], b[0], b[1]}) close(fd);
}

TEST_CASE("deferred work runs before the loop sleeps, and so does work it defers") {
  EventLoop loop;
  std::vector<int> ran;
  loop.defer([&] {
    ran.push_back(1);
    loop.defer([&] { ran.push_back(2); });
  });
  bool ran_out = loop.run_once(kPatience);  // the first runs before the poll, the second right after it
  CHECK(ran == std::vector<int>{1, 2});
  CHECK_FALSE(ran_out);  // the turn did not sleep
}

TEST_CASE("work deferred by a socket callback runs in the same turn, after the turn's I/O") {
  // The pipeline's batching rests on this: stanzas read in one turn become requests written
  // in that turn, not one turn (and one more poll) later.
  EventLoop loop;
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  std::vector<std::string> ran;
  FdWatch watch(loop, [&](int) {
    char buf[16];
    CHECK(read(fds[0], buf, sizeof buf) == 1);
    ran.push_back("read");
    loop.defer([&] { ran.push_back("deferred"); });
  });
  REQUIRE(watch.watch(fds[0], UV_READABLE));
  REQUIRE(write(fds[1], "x", 1) == 1);
  turn_until(loop, [&] { return !ran.empty(); });
  CHECK(ran == std::vector<std::string>{"read", "deferred"});
  watch.stop();
  close(fds[0]);
  close(fds[1]);
}

TEST_CASE("a stop() during run_once() is kept for the next run()") {
  EventLoop loop;
  bool stopped = false;
  loop.post([&] {
    loop.stop();
    stopped = true;
  });
  turn_until(loop, [&] { return stopped; });
  REQUIRE(stopped);
  // If the stop were lost, run() would wait for this timer (a safety net, so a broken build
  // fails instead of hanging); kept, it returns before the timer's turn.
  bool safety_net_ran = false;
  loop.call_after(kPatience, [&] {
    safety_net_ran = true;
    loop.stop();
  });
  loop.run();
  CHECK_FALSE(safety_net_ran);
}
