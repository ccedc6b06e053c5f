// The store worker: a thread, a bounded queue and a wake-up; results return through the loop.
#include "store/store_worker.hpp"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "common/log.hpp"

namespace pushgate {

// Owned jointly by the StoreWorker and its thread, so a thread left to finish on its own
// (a shutdown it did not notice in time) still has its queue and store.
struct StoreWorker::Shared {
  struct Job {
    std::uint64_t id;
    EventLoop::Clock::time_point deadline;
    std::function<void(RegistrationStore&)> work;
  };
  std::mutex mutex;  // guards everything below but the store
  std::condition_variable wake;
  std::condition_variable exited_cv;
  std::deque<Job> queue;
  bool stopping = false;
  bool exited = false;
  EventLoop* loop = nullptr;  // null once the StoreWorker is gone: nothing is posted after that
  std::weak_ptr<LoopState> state;
  std::unique_ptr<RegistrationStore> store;  // the worker thread's alone, but for interrupt()

  void run() {
    for (;;) {
      Job job;
      {
        std::unique_lock lock(mutex);
        wake.wait(lock, [this] { return stopping || !queue.empty(); });
        if (stopping) break;
        job = std::move(queue.front());
        queue.pop_front();
      }
      // The loop has answered it already (Timeout): running it would only delay the next.
      if (EventLoop::Clock::now() >= job.deadline) continue;
      Result<void, StoreFailure> answer;
      try {
        job.work(*store);
      } catch (const std::exception& e) {  // StoreError, or std::bad_alloc / std::invalid_argument from a bad row
        std::string error = e.what();
        if (error.empty()) error = "unknown store error";
        answer = StoreFailure{StoreFailure::Kind::Error, std::move(error)};
      }
      job.work = nullptr;  // its captures die here, on this thread, before the loop sees the result
      std::lock_guard lock(mutex);
      if (loop == nullptr) break;
      loop->post([state = state, id = job.id, answer = std::move(answer)] {
        if (auto s = state.lock()) s->complete(id, answer);
      });
    }
    std::lock_guard lock(mutex);
    exited = true;
    exited_cv.notify_all();
  }
};

StoreWorker::StoreWorker(EventLoop& loop, std::unique_ptr<RegistrationStore> store, Options options)
    : loop_(loop),
      options_(std::move(options)),
      shared_(std::make_shared<Shared>()),
      state_(std::make_shared<LoopState>()) {
  state_->backend = options_.backend;
  state_->deadline = options_.deadline;
  state_->loop = &loop_;
  shared_->loop = &loop_;
  shared_->state = state_;
  shared_->store = std::move(store);
  thread_ = std::thread([shared = shared_] { shared->run(); });
  if (options_.probe_interval.count() > 0)
    probe_timer_ = loop_.call_after(options_.probe_interval, [this] { probe(); });
}

StoreWorker::~StoreWorker() {
  if (probe_timer_ != 0) loop_.cancel(probe_timer_);
  {
    std::lock_guard lock(shared_->mutex);
    shared_->stopping = true;
    shared_->loop = nullptr;
    shared_->queue.clear();
  }
  shared_->wake.notify_all();
  shared_->store->interrupt();
  {
    std::unique_lock lock(shared_->mutex);
    if (!shared_->exited_cv.wait_for(lock, std::chrono::seconds(2), [this] { return shared_->exited; })) {
      log::warn("store_worker_abandoned",
                {{"backend", options_.backend}, {"cause", "a store call did not return within 2 s of the shutdown"}});
      thread_.detach();  // it holds `shared_`: its store and queue outlive us
    }
  }
  if (thread_.joinable()) thread_.join();
  for (auto& [id, call] : state_->calls) loop_.cancel(call.timer);
  state_->calls.clear();
}

void StoreWorker::submit(const char* op, StoreUse use, std::function<void(RegistrationStore&)> work,
                         std::function<void(const StoreFailure*)> finish) {
  std::uint64_t id = state_->next_id++;
  auto now = EventLoop::Clock::now();
  if (use == StoreUse::Command && state_->commands >= options_.command_capacity) {
    ++state_->queue_full;
    StoreFailure failure{StoreFailure::Kind::QueueFull, "too many registration commands waiting for the store (" +
                                                            std::to_string(options_.command_capacity) + ")"};
    finish(&failure);
    return;
  }
  bool full = state_->calls.size() >= options_.queue_capacity;  // waiting, running, or overdue on a stuck worker
  if (!full) {
    std::lock_guard lock(shared_->mutex);
    full = shared_->queue.size() >= options_.queue_capacity;
    if (!full) shared_->queue.push_back(Shared::Job{id, now + options_.deadline, std::move(work)});
  }
  if (full) {
    ++state_->queue_full;
    StoreFailure failure{
        StoreFailure::Kind::QueueFull,
        "the registration store queue is full (" + std::to_string(options_.queue_capacity) + " calls waiting)"};
    finish(&failure);
    return;
  }
  shared_->wake.notify_one();
  EventLoop::TimerId timer = loop_.call_after(options_.deadline, [state = std::weak_ptr<LoopState>(state_), id] {
    if (auto s = state.lock()) s->expire(id);
  });
  state_->calls.emplace(id, LoopState::Call{std::move(finish), timer, now, op, use});
  if (use == StoreUse::Command) ++state_->commands;
}

void StoreWorker::probe() {
  probe_timer_ = loop_.call_after(options_.probe_interval, [this] { probe(); });
  // Calls in progress tell the same; an idle store is asked, so /health knows without traffic.
  if (!state_->calls.empty()) return;
  call<bool>(
      "ping",
      [](RegistrationStore& s) {
        s.ping();
        return true;
      },
      [](const StoreResult<bool>&) {});
}

void StoreWorker::LoopState::answered(Call& call, const StoreFailure* failure) {
  if (call.use == StoreUse::Command) --commands;
  latency[call.op].observe(std::chrono::duration<double>(EventLoop::Clock::now() - call.started).count());
  if (failure == nullptr) {
    ++ok;
    if (!health.up) {
      auto down =
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now() - health.since);
      log::info("store_recovered", {{"backend", backend}, {"down_ms", std::to_string(down.count())}});
    }
    health = Health{};
  } else if (failure->kind != StoreFailure::Kind::QueueFull) {
    failure->kind == StoreFailure::Kind::Timeout ? ++timeouts : ++errors;
    // Logged when the store goes down and when the cause changes, not once per call.
    if (health.up || health.cause != failure->reason) {
      log::error("store_error", {{"backend", backend}, {"op", call.op}, {"error", failure->reason}});
    }
    if (health.up) health.since = std::chrono::system_clock::now();
    health.up = false;
    health.cause = failure->reason;
  }
  // The callback may submit another call (and so rehash `calls`): it runs on a copy.
  auto finish = std::move(call.finish);
  finish(failure);
}

void StoreWorker::LoopState::complete(std::uint64_t id, const Result<void, StoreFailure>& answer) {
  auto it = calls.find(id);
  if (it == calls.end()) {
    ++late;  // answered Timeout already
    return;
  }
  Call call = std::move(it->second);
  calls.erase(it);
  loop->cancel(call.timer);
  answered(call, answer.ok() ? nullptr : &answer.error());
}

void StoreWorker::LoopState::expire(std::uint64_t id) {
  auto it = calls.find(id);
  if (it == calls.end()) return;
  Call call = std::move(it->second);
  calls.erase(it);
  StoreFailure failure{StoreFailure::Kind::Timeout,
                       "the " + backend + " store did not answer within " + std::to_string(deadline.count()) + " ms"};
  answered(call, &failure);
}

StoreWorker::Health StoreWorker::health() const {
  Health h = state_->health;
  if (!h.up) return h;
  // A call running for a third of its deadline already says the store is not answering.
  auto now = EventLoop::Clock::now();
  auto overdue = options_.deadline / 3;
  for (const auto& [id, call] : state_->calls) {
    if (now - call.started > overdue) {
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - call.started).count();
      return Health{false,
                    "the " + options_.backend + " store has not answered a call for " + std::to_string(ms) + " ms",
                    std::chrono::system_clock::now() - (now - call.started)};
    }
  }
  return h;
}

void StoreWorker::write_metrics(metrics::Writer& w) const {
  w.family("pushgate_store_up", "gauge", "1 while the registration store answers, 0 when it fails or does not answer.");
  w.sample("pushgate_store_up", {{"backend", options_.backend}}, std::uint64_t{health().up ? 1u : 0u});
  w.family("pushgate_store_seconds", "histogram",
           "Registration store calls, from the loop's request to its answer (queueing included), by operation.");
  for (const auto& [op, h] : state_->latency) h.write(w, "pushgate_store_seconds", {{"op", op}});
  w.family("pushgate_store_calls_total", "counter", "Registration store calls answered, by result.");
  w.sample("pushgate_store_calls_total", {{"result", "ok"}}, state_->ok);
  w.sample("pushgate_store_calls_total", {{"result", "error"}}, state_->errors);
  w.sample("pushgate_store_calls_total", {{"result", "timeout"}}, state_->timeouts);
  w.sample("pushgate_store_calls_total", {{"result", "queue_full"}}, state_->queue_full);
  w.family("pushgate_store_late_results_total", "counter",
           "Store answers that came after their deadline and were dropped.");
  w.sample("pushgate_store_late_results_total", {}, state_->late);
  w.family("pushgate_store_queue_depth", "gauge", "Store calls waiting, running or overdue.");
  w.sample("pushgate_store_queue_depth", {}, static_cast<std::uint64_t>(state_->calls.size()));
  w.family("pushgate_store_queue_capacity", "gauge", "Store calls at most before new ones are refused.");
  w.sample("pushgate_store_queue_capacity", {}, static_cast<std::uint64_t>(options_.queue_capacity));
}

}  // namespace pushgate
