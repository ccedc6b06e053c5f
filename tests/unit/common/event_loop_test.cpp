// Tests for src/common/event_loop.cpp: timers, cancellation, cross-thread posts.
#include <doctest/doctest.h>

#include <atomic>
#include <functional>
#include <memory>
#include <thread>

#include "common/event_loop.hpp"

using namespace pushgate;
using namespace std::chrono_literals;

TEST_CASE("timers run in order and a cancelled timer never runs") {
  EventLoop loop;
  std::vector<int> ran;
  loop.call_after(20ms, [&] { ran.push_back(2); });
  loop.call_after(5ms, [&] { ran.push_back(1); });
  auto id = loop.call_after(10ms, [&] { ran.push_back(99); });
  loop.cancel(id);
  auto until = EventLoop::Clock::now() + 500ms;
  while (ran.size() < 2 && EventLoop::Clock::now() < until) loop.run_once(50ms);
  CHECK(ran == std::vector<int>{1, 2});
}

TEST_CASE("a post from another thread wakes a sleeping loop") {
  EventLoop loop;
  std::atomic<bool> ran{false};
  std::thread t([&] {
    std::this_thread::sleep_for(20ms);
    loop.post([&] { ran = true; loop.stop(); });
  });
  auto start = EventLoop::Clock::now();
  loop.run();  // run() sleeps up to 1 s per turn; the post must cut that short
  t.join();
  CHECK(ran);
  CHECK(EventLoop::Clock::now() - start < 900ms);
}

TEST_CASE("a source may remove and free another source during its turn (a reload freeing an HTTP/2 client)") {
  struct Counting final : IoSource {
    explicit Counting(EventLoop& l) : loop(l) { loop.add_source(this); }
    ~Counting() override { loop.remove_source(this); }
    void collect_fds(std::vector<curl_waitfd>&) override {}
    void on_turn() override {
      ++turns;
      if (on) on();
    }
    EventLoop& loop;
    int turns = 0;
    std::function<void()> on;
  };
  EventLoop loop;
  auto first = std::make_unique<Counting>(loop);
  auto victim = std::make_unique<Counting>(loop);
  auto last = std::make_unique<Counting>(loop);
  first->on = [&] { victim.reset(); };  // freed while the loop walks its sources
  loop.run_once(0ms);                   // AddressSanitizer reports a call into the freed source
  CHECK(victim == nullptr);
  CHECK(first->turns == 2);  // on_turn runs before and after the poll
  CHECK(last->turns == 2);
}
