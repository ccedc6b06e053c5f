// The event loop: timers, cross-thread tasks and descriptor polling through libcurl.
#include "common/event_loop.hpp"

#include <algorithm>
#include <stdexcept>

namespace pushgate {

EventLoop::EventLoop() : multi_(curl_multi_init()) {
  if (!multi_) throw std::runtime_error("curl_multi_init failed: out of memory");
}

EventLoop::~EventLoop() = default;

void EventLoop::add_source(IoSource* source) { sources_.push_back(source); }

void EventLoop::turn_sources() {
  // A source's on_turn may remove (and free) another one, e.g. a reload freeing an HTTP/2
  // client: a source no longer registered is skipped.
  std::vector<IoSource*> snapshot(sources_);
  for (IoSource* s : snapshot) {
    if (std::find(sources_.begin(), sources_.end(), s) != sources_.end()) s->on_turn();
  }
}

void EventLoop::remove_source(IoSource* source) {
  sources_.erase(std::remove(sources_.begin(), sources_.end(), source), sources_.end());
}

EventLoop::TimerId EventLoop::call_after(std::chrono::milliseconds delay, std::function<void()> fn) {
  TimerId id = next_timer_id_++;
  auto when = Clock::now() + delay;
  timers_.emplace(when, std::make_pair(id, std::move(fn)));
  timer_index_.emplace(id, when);
  return id;
}

void EventLoop::cancel(TimerId id) {
  auto it = timer_index_.find(id);
  if (it == timer_index_.end()) return;
  auto [lo, hi] = timers_.equal_range(it->second);
  for (auto t = lo; t != hi; ++t) {
    if (t->second.first == id) {
      timers_.erase(t);
      break;
    }
  }
  timer_index_.erase(it);
}

void EventLoop::post(std::function<void()> fn) {
  bool wake;
  {
    std::lock_guard lock(posted_mutex_);
    posted_.push_back(std::move(fn));
    wake = polling_;
  }
  // A loop that is not polling picks the task up before it polls again (run_once checks
  // posted_ under the same lock when it decides to sleep): no system call needed.
  if (wake) curl_multi_wakeup(multi_.get());
}

void EventLoop::defer(std::function<void()> fn) { deferred_.push_back(std::move(fn)); }

void EventLoop::stop() {
  {
    std::lock_guard lock(posted_mutex_);
    stop_requested_ = true;
  }
  curl_multi_wakeup(multi_.get());  // always: stop() is rare and must never be missed
}

void EventLoop::run() {
  for (;;) {
    {
      std::lock_guard lock(posted_mutex_);
      if (stop_requested_) {
        stop_requested_ = false;
        return;
      }
    }
    run_once(std::chrono::milliseconds(1000));
  }
}

void EventLoop::run_once(std::chrono::milliseconds max_wait) {
  // Timers that are due, in order. A timer may add timers; those run next turn at the earliest.
  auto now = Clock::now();
  while (!timers_.empty() && timers_.begin()->first <= now) {
    auto node = timers_.extract(timers_.begin());
    timer_index_.erase(node.mapped().first);
    node.mapped().second();
  }

  std::vector<std::function<void()>> tasks;
  {
    std::lock_guard lock(posted_mutex_);
    tasks.swap(posted_);
  }
  for (auto& task : tasks) task();
  tasks.clear();
  tasks.swap(deferred_);
  for (auto& task : tasks) task();

  turn_sources();

  auto wait = max_wait;
  for (IoSource* s : sources_) wait = std::min(wait, s->max_wait());
  if (!timers_.empty()) {
    auto until = std::chrono::duration_cast<std::chrono::milliseconds>(timers_.begin()->first - Clock::now());
    wait = std::min(wait, std::max(until, std::chrono::milliseconds(0)));
  }
  if (!deferred_.empty()) wait = std::chrono::milliseconds(0);
  {
    std::lock_guard lock(posted_mutex_);
    if (!posted_.empty() || stop_requested_) wait = std::chrono::milliseconds(0);
    polling_ = true;
  }

  fds_.clear();
  for (IoSource* s : sources_) s->collect_fds(fds_);
  int running = 0;
  curl_multi_poll(multi_.get(), fds_.data(), static_cast<unsigned>(fds_.size()), static_cast<int>(wait.count()),
                  nullptr);
  {
    std::lock_guard lock(posted_mutex_);
    polling_ = false;
  }
  curl_multi_perform(multi_.get(), &running);
  // Sources run again right after the poll so input is handled without waiting a turn.
  turn_sources();
}

}  // namespace pushgate
