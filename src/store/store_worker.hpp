// The registration store off the event loop: one worker thread runs the store's calls from a
// bounded queue and posts each result back through EventLoop::post; the loop bounds every call
// with a deadline of its own, so even a worker stuck inside libpq cannot hold a push.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>

#include "common/event_loop.hpp"
#include "common/metrics.hpp"
#include "common/result.hpp"
#include "store/registration_store.hpp"

namespace pushgate {

// Why a store call has no result. Its kind decides the answer (a full queue is
// resource-constraint, the rest a retry) and the counters, so it is the failure of a store
// call's Result rather than an Error.
struct StoreFailure {
  enum class Kind {
    Error,     // the store failed (StoreError: libpq's or SQLite's cause)
    Timeout,   // no answer within the deadline; a late one is dropped
    QueueFull  // too many calls waiting: refused without being queued
  };
  Kind kind;
  std::string reason;
};

template <class T>
using StoreResult = Result<T, StoreFailure>;

// What a call is for. Registration commands (which users send as often as they like) may hold
// only a share of the queue, so the lookups publishes wait on always find room.
enum class StoreUse { Lookup, Command };

class StoreWorker {
 public:
  struct Options {
    std::size_t queue_capacity = 1000;               // calls waiting or running; past it: QueueFull
    std::size_t command_capacity = 250;              // of which StoreUse::Command at most
    std::chrono::milliseconds deadline{3000};        // the loop's bound on a call, queueing included
    std::chrono::milliseconds probe_interval{5000};  // an idle store is pinged this often; 0: never
    std::string backend = "sqlite";                  // for /health and the log: sqlite | postgresql
  };

  // Starts the worker thread, which owns `store` from now on. Loop thread.
  StoreWorker(EventLoop& loop, std::unique_ptr<RegistrationStore> store, Options options);
  // Drops every call not answered yet (their callbacks never run), interrupts the call
  // running on the worker and joins it; a worker that does not return within 2 s is left
  // to finish on its own (it owns the store, and never touches the loop again). Loop thread,
  // while `loop` is alive.
  ~StoreWorker();
  StoreWorker(const StoreWorker&) = delete;
  StoreWorker& operator=(const StoreWorker&) = delete;

  // Runs `work` on the worker thread (a StoreError it throws becomes a failure), then `done`
  // on the loop thread, exactly once, unless the worker is destroyed first: at once when the
  // queue is full, at the deadline when the store has not answered by then. Loop thread only.
  template <class T>
  void call(const char* op, std::function<T(RegistrationStore&)> work, std::function<void(StoreResult<T>)> done,
            StoreUse use = StoreUse::Lookup) {
    auto box = std::make_shared<std::optional<T>>();
    submit(
        op, use, [work = std::move(work), box](RegistrationStore& s) { box->emplace(work(s)); },
        [done = std::move(done), box](const StoreFailure* failure) {
          if (failure != nullptr)
            done(*failure);
          else
            done(std::move(**box));
        });
  }

  // Loop thread: whether the store answers (the last call succeeded and none is overdue) and,
  // when not, why.
  struct Health {
    bool up = true;
    std::string cause;                              // empty when up
    std::chrono::system_clock::time_point since{};  // when it went down
  };
  Health health() const;
  const std::string& backend() const { return options_.backend; }
  std::size_t pending() const { return state_->calls.size(); }  // waiting, running or overdue
  std::size_t capacity() const { return options_.queue_capacity; }
  std::uint64_t late_results() const { return state_->late; }
  // pushgate_store_* families.
  void write_metrics(metrics::Writer& w) const;

 private:
  struct Shared;
  // What the loop keeps: calls waiting for their answer. Posted results find it through a
  // weak pointer, so a result that arrives after the worker is gone is dropped.
  struct LoopState {
    struct Call {
      std::function<void(const StoreFailure*)> finish;
      EventLoop::TimerId timer;
      EventLoop::Clock::time_point started;
      const char* op;
      StoreUse use;
    };
    std::unordered_map<std::uint64_t, Call> calls;
    std::uint64_t next_id = 1;
    Health health;
    std::string backend;
    std::chrono::milliseconds deadline{0};
    EventLoop* loop = nullptr;
    std::map<std::string, metrics::Histogram> latency;  // by op: from submit to answer
    std::uint64_t ok = 0, errors = 0, timeouts = 0, queue_full = 0, late = 0;
    std::size_t commands = 0;  // StoreUse::Command calls in `calls`
    // The worker's answer to call `id`: done, or the Error failure of its StoreError.
    void complete(std::uint64_t id, const Result<void, StoreFailure>& answer);
    // The deadline of call `id` passed.
    void expire(std::uint64_t id);
    void answered(Call& call, const StoreFailure* failure);
  };
  void submit(const char* op, StoreUse use, std::function<void(RegistrationStore&)> work,
              std::function<void(const StoreFailure*)> finish);
  void probe();

  EventLoop& loop_;
  Options options_;
  std::shared_ptr<Shared> shared_;
  std::shared_ptr<LoopState> state_;
  EventLoop::TimerId probe_timer_ = 0;
  std::thread thread_;
};

}  // namespace pushgate
