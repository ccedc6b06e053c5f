// The one event loop of the push pipeline: curl_multi_poll() waits on libcurl's sockets
// plus the file descriptors of registered sources (the XMPP session, a signalfd), runs
// timers, and runs tasks posted from other threads (woken with curl_multi_wakeup).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include <curl/curl.h>

namespace pushgate {

// Something with file descriptors the loop watches. Called on the loop thread only.
class IoSource {
 public:
  virtual ~IoSource() = default;
  // Appends the descriptors to wait on for the next poll (none is fine).
  virtual void collect_fds(std::vector<curl_waitfd>& fds) = 0;
  // Called once per loop turn after the poll, whether or not a descriptor fired: the
  // source does its non-blocking work (reads, writes) here.
  virtual void on_turn() = 0;
  // Upper bound on how long the next poll may sleep, for sources with internal timers.
  virtual std::chrono::milliseconds max_wait() { return std::chrono::milliseconds(1000); }
};

class EventLoop {
 public:
  using Clock = std::chrono::steady_clock;
  using TimerId = std::uint64_t;

  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  CURLM* multi() { return multi_.get(); }

  void add_source(IoSource* source);
  void remove_source(IoSource* source);

  // Runs fn on the loop thread after `delay`. Loop thread only. Returns an id for cancel().
  TimerId call_after(std::chrono::milliseconds delay, std::function<void()> fn);
  // Cancels a pending timer; unknown or already-run ids are ignored.
  void cancel(TimerId id);

  // Thread-safe: queues fn to run on the loop thread and wakes the loop.
  void post(std::function<void()> fn);
  // Loop thread only: runs fn at the start of the next turn, which then does not sleep.
  // Cheaper than post(): no lock, no wake-up. For work batched over one turn.
  void defer(std::function<void()> fn);

  // Runs until stop(). stop() is thread-safe.
  void run();
  void stop();
  // One turn with at most `max_wait` of sleeping; for tests and benchmarks.
  void run_once(std::chrono::milliseconds max_wait);

 private:
  void turn_sources();
  struct MultiDeleter {
    void operator()(CURLM* m) const { curl_multi_cleanup(m); }
  };
  std::unique_ptr<CURLM, MultiDeleter> multi_;
  std::vector<IoSource*> sources_;
  std::multimap<Clock::time_point, std::pair<TimerId, std::function<void()>>> timers_;
  std::map<TimerId, Clock::time_point> timer_index_;
  TimerId next_timer_id_ = 1;

  std::mutex posted_mutex_;  // guards posted_ and stop_requested_
  std::vector<std::function<void()>> posted_;
  bool stop_requested_ = false;
  std::vector<std::function<void()>> deferred_;
  std::vector<curl_waitfd> fds_;  // scratch, reused each turn
  // True while the loop is in (or about to enter) its poll: only then does post() need
  // to wake it. Guarded by posted_mutex_.
  bool polling_ = false;
};

}  // namespace pushgate
