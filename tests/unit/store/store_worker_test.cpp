// Tests for src/store/store_worker.cpp: calls run off the loop and answer through it; the
// queue is bounded; a store that does not answer is cut off at the deadline and its late
// answer dropped; a shutdown with a call stuck inside the store neither waits for it nor
// calls back.
#include <doctest/doctest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "common/metrics.hpp"
#include "store/store_worker.hpp"
#include "support/loop_wait.hpp"

using namespace pushgate;
using namespace std::chrono_literals;
using pushgate::test::kPatience;
using pushgate::test::turn_until;

namespace {
// A store whose ping() waits until the test opens the gate (or interrupt() is called), and
// whose find() throws when told to. Nothing else is used here.
class GatedStore final : public RegistrationStore {
 public:
  struct Gate {
    std::mutex m;
    std::condition_variable cv;
    bool open = true;
    bool interrupted = false;
    std::atomic<int> entered{0};
    std::thread::id thread;
    void set(bool o) {
      std::lock_guard l(m);
      open = o;
      cv.notify_all();
    }
  };
  explicit GatedStore(std::shared_ptr<Gate> g) : g_(std::move(g)) {}
  void ping() override {
    std::unique_lock l(g_->m);
    g_->thread = std::this_thread::get_id();
    ++g_->entered;
    g_->cv.wait(l, [this] { return g_->open || g_->interrupted; });
    if (g_->interrupted) throw StoreError("interrupted");
  }
  void interrupt() override {
    std::lock_guard l(g_->m);
    g_->interrupted = true;
    g_->cv.notify_all();
  }
  std::optional<Registration> find(const std::string&, const std::string&) override {
    throw StoreError("could not connect to server: Connection refused");
  }
  std::variant<Registration, QuotaExceeded> register_device(const DeviceKey&, const Enrollment&, std::int64_t,
                                                            std::uint64_t) override {
    return Registration{};
  }
  std::uint64_t count_devices(const DeviceKey&, const std::string&) override { return 0; }
  bool remove(const DeviceKey&) override { return false; }
  bool remove_channel(const DeviceKey&, const std::string&) override { return false; }
  std::optional<Registration> find_node(const std::string&) override { return std::nullopt; }
  bool remove_dead(const std::string&, const std::string&, std::int64_t) override { return false; }
  std::uint64_t count() override { return 0; }
  std::vector<std::pair<std::string, std::uint64_t>> count_by_app() override { return {}; }
  std::uint64_t remove_device(const DeviceKey&) override { return 0; }
  std::uint64_t remove_token(const std::string&) override { return 0; }
  void mark_token_dead(const std::string&, const std::string&, std::int64_t, std::int64_t) override {}
  std::vector<DeadToken> dead_token(const std::string&, std::int64_t) override { return {}; }

 private:
  std::shared_ptr<Gate> g_;
};

StoreWorker::Options options(std::size_t capacity, std::chrono::milliseconds deadline) {
  StoreWorker::Options o;
  o.queue_capacity = capacity;
  o.deadline = deadline;
  o.probe_interval = 0ms;
  o.backend = "test";
  return o;
}

void ping(StoreWorker& w, std::vector<StoreResult<bool>>& answers, StoreUse use = StoreUse::Lookup) {
  w.call<bool>(
      "ping",
      [](RegistrationStore& s) {
        s.ping();
        return true;
      },
      [&answers](StoreResult<bool> r) { answers.push_back(std::move(r)); }, use);
}
}  // namespace

TEST_CASE("a store call runs on the worker thread and answers on the loop thread") {
  EventLoop loop;
  auto gate = std::make_shared<GatedStore::Gate>();
  StoreWorker w(loop, std::make_unique<GatedStore>(gate), options(10, kPatience));
  std::vector<StoreResult<bool>> answers;
  std::thread::id answered_on;
  w.call<bool>(
      "ping",
      [](RegistrationStore& s) {
        s.ping();
        return true;
      },
      [&](StoreResult<bool> r) {
        answered_on = std::this_thread::get_id();
        answers.push_back(std::move(r));
      });
  CHECK(answers.empty());  // never inside call()
  REQUIRE(turn_until(loop, [&] { return answers.size() == 1; }));
  CHECK(answers[0].ok());
  CHECK(answered_on == std::this_thread::get_id());
  CHECK(gate->thread != std::this_thread::get_id());
  CHECK(w.health().up);
}

TEST_CASE("a full store queue refuses at once with QueueFull, and the queued calls still run") {
  EventLoop loop;
  auto gate = std::make_shared<GatedStore::Gate>();
  gate->set(false);
  StoreWorker w(loop, std::make_unique<GatedStore>(gate), options(2, kPatience));
  std::vector<StoreResult<bool>> answers;
  ping(w, answers);  // running, held at the gate
  ping(w, answers);  // queued
  ping(w, answers);  // one too many
  REQUIRE(answers.size() == 1);
  REQUIRE_FALSE(answers[0].ok());
  CHECK(answers[0].error().kind == StoreFailure::Kind::QueueFull);
  CHECK(answers[0].error().reason.find("queue is full (2") != std::string::npos);
  CHECK(w.health().up);  // a busy store is not a broken one
  gate->set(true);
  REQUIRE(turn_until(loop, [&] { return answers.size() == 3; }));
  CHECK(answers[1].ok());
  CHECK(answers[2].ok());
}

TEST_CASE("commands hold only their share of the queue: lookups still find room") {
  EventLoop loop;
  auto gate = std::make_shared<GatedStore::Gate>();
  gate->set(false);
  auto o = options(4, kPatience);
  o.command_capacity = 2;
  StoreWorker w(loop, std::make_unique<GatedStore>(gate), o);
  std::vector<StoreResult<bool>> commands, lookups;
  for (int i = 0; i < 3; ++i) ping(w, commands, StoreUse::Command);
  REQUIRE(commands.size() == 1);  // the third command, refused at once
  CHECK(commands[0].error().kind == StoreFailure::Kind::QueueFull);
  ping(w, lookups);
  ping(w, lookups);
  CHECK(lookups.empty());  // both queued: the commands left them room
  gate->set(true);
  REQUIRE(turn_until(loop, [&] { return commands.size() == 3 && lookups.size() == 2; }));
  CHECK(lookups[0].ok());
  CHECK(lookups[1].ok());
  ping(w, commands, StoreUse::Command);  // answered commands free their share
  REQUIRE(turn_until(loop, [&] { return commands.size() == 4; }));
  CHECK(commands[3].ok());
}

TEST_CASE("a store that does not answer is cut off at the deadline; its late answer is dropped") {
  EventLoop loop;
  auto gate = std::make_shared<GatedStore::Gate>();
  gate->set(false);
  StoreWorker w(loop, std::make_unique<GatedStore>(gate), options(10, 300ms));
  std::vector<StoreResult<bool>> answers;
  auto start = EventLoop::Clock::now();
  ping(w, answers);
  REQUIRE(turn_until(loop, [&] { return answers.size() == 1; }));
  CHECK(EventLoop::Clock::now() - start >= 300ms);  // not before it; the kind and reason say it was the deadline
  REQUIRE_FALSE(answers[0].ok());
  CHECK(answers[0].error().kind == StoreFailure::Kind::Timeout);
  CHECK(answers[0].error().reason == "the test store did not answer within 300 ms");
  CHECK_FALSE(w.health().up);
  CHECK(w.health().cause == "the test store did not answer within 300 ms");
  CHECK(w.pending() == 0);
  gate->set(true);  // the worker finishes now: its answer finds no one waiting
  REQUIRE(turn_until(loop, [&] { return w.late_results() == 1; }));
  CHECK(answers.size() == 1);  // exactly once
  ping(w, answers);            // and the store is up again after an answered call
  REQUIRE(turn_until(loop, [&] { return answers.size() == 2; }));
  CHECK(answers[1].ok());
  CHECK(w.health().up);
}

TEST_CASE("health says a store is down while a call is overdue, before its deadline") {
  EventLoop loop;
  auto gate = std::make_shared<GatedStore::Gate>();
  gate->set(false);
  // Overdue after a third of the deadline (2 s), cut off at the deadline (6 s): the answer
  // must still be missing when health first says down.
  StoreWorker w(loop, std::make_unique<GatedStore>(gate), options(10, 6000ms));
  std::vector<StoreResult<bool>> answers;
  ping(w, answers);
  CHECK(w.health().up);
  REQUIRE(turn_until(loop, [&] { return !w.health().up; }));  // after a third of the deadline
  CHECK(answers.empty());
  CHECK(w.health().cause.find("has not answered a call for") != std::string::npos);
  gate->set(true);
  REQUIRE(turn_until(loop, [&] { return answers.size() == 1; }));
  CHECK(w.health().up);
}

TEST_CASE("a failing store is down with the store's own cause, in /metrics too") {
  EventLoop loop;
  StoreWorker w(loop, std::make_unique<GatedStore>(std::make_shared<GatedStore::Gate>()), options(10, kPatience));
  std::vector<StoreResult<std::optional<Registration>>> answers;
  w.call<std::optional<Registration>>(
      "find", [](RegistrationStore& s) { return s.find("example.org", "n"); },
      [&](StoreResult<std::optional<Registration>> r) { answers.push_back(std::move(r)); });
  REQUIRE(turn_until(loop, [&] { return answers.size() == 1; }));
  REQUIRE_FALSE(answers[0].ok());
  CHECK(answers[0].error().kind == StoreFailure::Kind::Error);
  CHECK(w.health().cause == "could not connect to server: Connection refused");
  metrics::Writer mw;
  w.write_metrics(mw);
  CHECK(mw.text().find("pushgate_store_up{backend=\"test\"} 0\n") != std::string::npos);
  CHECK(mw.text().find("pushgate_store_seconds_bucket{op=\"find\",le=\"0.001\"}") != std::string::npos);
  CHECK(mw.text().find("pushgate_store_calls_total{result=\"error\"} 1\n") != std::string::npos);
}

TEST_CASE("destroying the worker with a call stuck in the store returns at once and never calls back") {
  EventLoop loop;
  auto gate = std::make_shared<GatedStore::Gate>();
  gate->set(false);
  std::vector<StoreResult<bool>> answers;
  auto start = EventLoop::Clock::now();
  {
    StoreWorker w(loop, std::make_unique<GatedStore>(gate), options(10, kPatience));
    ping(w, answers);
    ping(w, answers);  // still queued: dropped
    auto until = EventLoop::Clock::now() + kPatience;
    while (gate->entered == 0 && EventLoop::Clock::now() < until) std::this_thread::yield();
    REQUIRE(gate->entered == 1);
  }  // interrupts the stuck call and joins the thread
  CHECK(EventLoop::Clock::now() - start < kPatience / 2);  // waiting for the call would take all of kPatience
  {
    std::lock_guard l(gate->m);
    CHECK(gate->interrupted);  // ended by interrupt(), not left behind after the destructor's 2 s
  }
  loop.run_once(0ms);
  loop.run_once(0ms);
  CHECK(answers.empty());
  CHECK(gate->entered == 1);
}
