// The one event loop of the daemon, on libuv: file descriptors are watched with FdWatch
// (uv_poll), timers share one uv_timer, tasks posted from other threads wake the loop through
// a uv_async, and work deferred to the end of a turn runs from a uv_check right after the turn's I/O
// (or a uv_idle before the poll, which keeps the turn from sleeping). Nothing runs unless
// something happened: no source is polled per turn.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <vector>

namespace pushgate {

class EventLoop {
 public:
  using Clock = std::chrono::steady_clock;
  using TimerId = std::uint64_t;

  EventLoop();
  // Closes the loop's own handles and runs the close callbacks of handles already closed
  // (an FdWatch destroyed after its last turn). Every FdWatch must be gone by then.
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  uv_loop_t* uv() { return &loop_; }

  // Runs fn on the loop thread after `delay`. Loop thread only. Returns an id for cancel().
  TimerId call_after(std::chrono::milliseconds delay, std::function<void()> fn);
  // Cancels a pending timer; unknown or already-run ids are ignored.
  void cancel(TimerId id);

  // Thread-safe: queues fn to run on the loop thread and wakes the loop.
  void post(std::function<void()> fn);
  // Loop thread only: runs fn before the loop next sleeps, after the events of this turn.
  // No lock, no wake-up: for work batched over one turn (a flush, a delivery).
  void defer(std::function<void()> fn);

  // Runs until stop(). stop() is thread-safe.
  void run();
  void stop();
  // One turn that sleeps at most `max_wait` for an event; for tests, benchmarks and the
  // shutdown drain. True when the turn ended because `max_wait` ran out: nothing else woke
  // it (a test's "the loop did not sleep", as a fact instead of a clock reading).
  bool run_once(std::chrono::milliseconds max_wait);

 private:
  static void on_timer(uv_timer_t* t);
  static void on_async(uv_async_t* a);
  static void on_idle(uv_idle_t* i);
  static void on_check(uv_check_t* c);
  static void on_wait_timer(uv_timer_t* t);
  void run_due_timers();
  void arm_timer();
  void run_posted();
  void run_deferred();

  uv_loop_t loop_{};
  uv_timer_t timer_{};       // fires at the earliest entry of timers_
  uv_timer_t wait_timer_{};  // bounds run_once()
  bool wait_ran_out_ = false;
  uv_async_t async_{};       // post() and stop()
  uv_idle_t idle_{};         // active while deferred_ is not empty
  uv_check_t check_{};       // likewise: runs deferred_ right after the turn's I/O
  std::multimap<Clock::time_point, std::pair<TimerId, std::function<void()>>> timers_;
  std::map<TimerId, Clock::time_point> timer_index_;
  TimerId next_timer_id_ = 1;
  Clock::time_point armed_for_ = Clock::time_point::max();

  std::mutex posted_mutex_;  // guards posted_ and stop_requested_
  std::vector<std::function<void()>> posted_;
  bool stop_requested_ = false;
  std::vector<std::function<void()>> deferred_;
};

// One file descriptor watched on the loop (a uv_poll handle). The callback gets UV_READABLE,
// UV_WRITABLE and UV_DISCONNECT bits, or a negative libuv error. Stop (or destroy) the watch
// before the descriptor is closed: libuv must not poll a closed descriptor.
class FdWatch {
 public:
  using Callback = std::function<void(int events)>;
  FdWatch(EventLoop& loop, Callback on_ready) : loop_(loop), on_ready_(std::move(on_ready)) {}
  ~FdWatch() { stop(); }
  FdWatch(const FdWatch&) = delete;
  FdWatch& operator=(const FdWatch&) = delete;

  // Watches `fd` for `events` (UV_READABLE | UV_WRITABLE). A different fd than the one
  // watched restarts the watch on it. Returns false (with nothing watched) if libuv refuses.
  bool watch(int fd, int events);
  void stop();
  int fd() const { return fd_; }
  int events() const { return events_; }

 private:
  static void on_poll(uv_poll_t* handle, int status, int events);
  EventLoop& loop_;
  Callback on_ready_;
  uv_poll_t* handle_ = nullptr;  // freed by its close callback
  int fd_ = -1;
  int events_ = 0;
};

}  // namespace pushgate
