// The event loop on libuv: one timer handle for every call_after, an async handle for
// post() and stop(), a check and an idle handle for defer(), and FdWatch over uv_poll.
#include "common/event_loop.hpp"

#include <stdexcept>
#include <string>

#include "common/log.hpp"

namespace pushgate {

namespace {

void check(int rc, const char* what) {
  if (rc != 0) throw std::runtime_error(std::string(what) + " failed: " + uv_strerror(rc));
}

}  // namespace

EventLoop::EventLoop() {
  check(uv_loop_init(&loop_), "uv_loop_init");
  check(uv_timer_init(&loop_, &timer_), "uv_timer_init");
  check(uv_timer_init(&loop_, &wait_timer_), "uv_timer_init");
  check(uv_async_init(&loop_, &async_, &EventLoop::on_async), "uv_async_init");
  check(uv_idle_init(&loop_, &idle_), "uv_idle_init");
  check(uv_check_init(&loop_, &check_), "uv_check_init");
  timer_.data = wait_timer_.data = async_.data = idle_.data = check_.data = this;
  // The loop's own timers must not keep run() going once everything else is gone; the
  // async handle does (it is how stop() reaches the loop).
  uv_unref(reinterpret_cast<uv_handle_t*>(&wait_timer_));
}

EventLoop::~EventLoop() {
  for (uv_handle_t* h : {reinterpret_cast<uv_handle_t*>(&timer_), reinterpret_cast<uv_handle_t*>(&wait_timer_),
                         reinterpret_cast<uv_handle_t*>(&async_), reinterpret_cast<uv_handle_t*>(&idle_),
                         reinterpret_cast<uv_handle_t*>(&check_)}) {
    uv_close(h, nullptr);
  }
  // Runs the close callbacks, ours and those of watches destroyed since the last turn.
  uv_run(&loop_, UV_RUN_DEFAULT);
  if (uv_loop_close(&loop_) != 0) {
    uv_walk(
        &loop_, [](uv_handle_t* h, void*) { log::error("event_loop_handle_left_open", {{"type", uv_handle_type_name(h->type)}}); },
        nullptr);
  }
}

EventLoop::TimerId EventLoop::call_after(std::chrono::milliseconds delay, std::function<void()> fn) {
  TimerId id = next_timer_id_++;
  auto when = Clock::now() + delay;
  timers_.emplace(when, std::make_pair(id, std::move(fn)));
  timer_index_.emplace(id, when);
  if (when < armed_for_) arm_timer();
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
  // The handle stays armed for the cancelled one at worst: it fires, finds nothing due and re-arms.
}

void EventLoop::arm_timer() {
  if (timers_.empty()) {
    uv_timer_stop(&timer_);
    armed_for_ = Clock::time_point::max();
    return;
  }
  auto when = timers_.begin()->first;
  auto now = Clock::now();
  // Rounded up: a timer due in 0.4 ms must not fire early and find nothing due.
  auto ms = when <= now ? 0 : std::chrono::ceil<std::chrono::milliseconds>(when - now).count();
  armed_for_ = when;
  uv_update_time(&loop_);
  uv_timer_start(&timer_, &EventLoop::on_timer, static_cast<std::uint64_t>(ms), 0);
}

void EventLoop::on_timer(uv_timer_t* t) {
  auto* self = static_cast<EventLoop*>(t->data);
  self->armed_for_ = Clock::time_point::max();
  self->run_due_timers();
}

void EventLoop::run_due_timers() {
  // Timers that are due, in order. A timer may add timers; those run on a later firing.
  auto now = Clock::now();
  while (!timers_.empty() && timers_.begin()->first <= now) {
    auto node = timers_.extract(timers_.begin());
    timer_index_.erase(node.mapped().first);
    node.mapped().second();
  }
  arm_timer();
}

void EventLoop::post(std::function<void()> fn) {
  {
    std::lock_guard lock(posted_mutex_);
    posted_.push_back(std::move(fn));
  }
  uv_async_send(&async_);  // coalesced by libuv: one wake-up for many posts
}

void EventLoop::on_async(uv_async_t* a) {
  auto* self = static_cast<EventLoop*>(a->data);
  self->run_posted();
  bool stop;
  {
    std::lock_guard lock(self->posted_mutex_);
    stop = self->stop_requested_;  // run() takes it back
  }
  if (stop) uv_stop(&self->loop_);
}

void EventLoop::run_posted() {
  std::vector<std::function<void()>> tasks;
  {
    std::lock_guard lock(posted_mutex_);
    tasks.swap(posted_);
  }
  for (auto& task : tasks) task();
}

// Deferred work runs in the same turn as the callback that deferred it: from the check
// phase, right after the socket callbacks of the turn (so a batch of stanzas read becomes
// one batch of requests written before the loop sleeps), or from the idle phase when it
// was deferred by a timer, before the loop polls. The idle handle being active also keeps
// the next poll from sleeping while work is left.
void EventLoop::defer(std::function<void()> fn) {
  if (deferred_.empty()) {
    uv_idle_start(&idle_, &EventLoop::on_idle);
    uv_check_start(&check_, &EventLoop::on_check);
  }
  deferred_.push_back(std::move(fn));
}

void EventLoop::on_idle(uv_idle_t* i) { static_cast<EventLoop*>(i->data)->run_deferred(); }
void EventLoop::on_check(uv_check_t* c) { static_cast<EventLoop*>(c->data)->run_deferred(); }

void EventLoop::run_deferred() {
  std::vector<std::function<void()>> tasks;
  tasks.swap(deferred_);
  for (auto& task : tasks) task();
  // Work deferred by these tasks runs in the next phase or turn, which does not sleep.
  if (deferred_.empty()) {
    uv_idle_stop(&idle_);
    uv_check_stop(&check_);
  }
}

void EventLoop::stop() {
  {
    std::lock_guard lock(posted_mutex_);
    stop_requested_ = true;
  }
  uv_async_send(&async_);
}

void EventLoop::run() {
  for (;;) {
    {
      // A stop() that arrived during run_once() is kept for the run() after it.
      std::lock_guard lock(posted_mutex_);
      if (stop_requested_) {
        stop_requested_ = false;
        return;
      }
    }
    uv_run(&loop_, UV_RUN_DEFAULT);
  }
}

bool EventLoop::run_once(std::chrono::milliseconds max_wait) {
  wait_ran_out_ = false;
  if (max_wait.count() <= 0) {
    // A 0 ms timer would run before the poll and leave it nothing to bound it.
    uv_run(&loop_, UV_RUN_NOWAIT);
    return false;
  }
  uv_update_time(&loop_);
  uv_timer_start(&wait_timer_, &EventLoop::on_wait_timer, static_cast<std::uint64_t>(max_wait.count()), 0);
  uv_ref(reinterpret_cast<uv_handle_t*>(&wait_timer_));
  uv_run(&loop_, UV_RUN_ONCE);
  uv_timer_stop(&wait_timer_);
  uv_unref(reinterpret_cast<uv_handle_t*>(&wait_timer_));
  return wait_ran_out_;
}

void EventLoop::on_wait_timer(uv_timer_t* t) { static_cast<EventLoop*>(t->data)->wait_ran_out_ = true; }

bool FdWatch::watch(int fd, int events) {
  if (handle_ != nullptr && fd != fd_) stop();
  if (handle_ == nullptr) {
    auto* h = new uv_poll_t{};
    if (uv_poll_init(loop_.uv(), h, fd) != 0) {
      delete h;
      return false;
    }
    h->data = this;
    handle_ = h;
    fd_ = fd;
    events_ = -1;
  }
  if (events == events_) return true;
  events_ = events;
  if (events == 0) return uv_poll_stop(handle_) == 0;
  return uv_poll_start(handle_, events, &FdWatch::on_poll) == 0;
}

void FdWatch::stop() {
  if (handle_ == nullptr) return;
  handle_->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(handle_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
  handle_ = nullptr;
  fd_ = -1;
  events_ = 0;
}

void FdWatch::on_poll(uv_poll_t* handle, int status, int events) {
  auto* self = static_cast<FdWatch*>(handle->data);
  if (self == nullptr) return;
  // An error (EBADF after the peer's close, say) is handed on as readable: the owner's read
  // finds out what happened and says so.
  self->on_ready_(status < 0 ? UV_READABLE : events);
}

}  // namespace pushgate
