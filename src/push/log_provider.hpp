// The embedded `log` provider: needs no credentials and records each push it would have
// sent as one JSON line. It is honest: every line says nothing was sent to a device.
#pragma once

#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "common/event_loop.hpp"
#include "push/provider.hpp"

namespace pushgate {

class LogProvider final : public Provider {
 public:
  // `output`: a file path (appended to, created 0640) or "" for stdout. Throws
  // std::runtime_error naming the path when it cannot be opened. `capacity` bounds the
  // queue of unwritten lines; past it a push gets QueueFull.
  LogProvider(EventLoop& loop, const std::string& output, std::size_t capacity);
  ~LogProvider() override;

  // Queues the record; a writer thread writes and flushes it, then reports Delivered
  // ("recorded") on the loop thread, or Retry when the write failed.
  void send(PushJob job, Completion done) override;

  // The JSON line for a job, without the newline. Pure; unit-tested.
  static std::string record(const PushJob& job);

 private:
  void writer_main();

  struct Entry {
    PushJob job;
    Completion done;
  };
  EventLoop& loop_;
  std::string output_name_;
  std::FILE* out_ = nullptr;
  bool owns_out_ = false;
  std::size_t capacity_;

  std::mutex mutex_;  // guards queue_ and stopping_
  std::condition_variable cv_;
  std::deque<Entry> queue_;
  bool stopping_ = false;
  std::thread writer_;
};

}  // namespace pushgate
