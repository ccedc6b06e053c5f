// The embedded `log` provider: needs no credentials and records each push it would have
// sent as one JSON line. It is honest: every line says nothing was sent to a device.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/event_loop.hpp"
#include "push/provider.hpp"

namespace pushgate {

class LogProvider final : public Provider {
 public:
  // `output`: a file path (appended to, created 0640) or "" for stdout. Throws
  // std::runtime_error naming the path when it cannot be opened. `capacity` bounds the
  // records not yet written; past it a push gets QueueFull.
  //
  // A regular file or /dev/null is written on the loop thread, once per loop turn for all
  // records of that turn. Anything that can block indefinitely (a pipe, a socket such as
  // journald's stdout, a terminal) is written by a writer thread instead.
  LogProvider(EventLoop& loop, const std::string& output, std::size_t capacity);
  ~LogProvider() override;

  // Queues the record; once written, reports Delivered ("recorded") on the loop thread,
  // or Retry when the write failed.
  void send(PushJob job, Completion done) override;

  // The JSON line for a job, without the newline. Pure; unit-tested.
  static std::string record(const PushJob& job);
  // The same, appended to `out`.
  static void append_record(std::string& out, const PushJob& job);

  bool writes_inline() const { return inline_; }

 private:
  struct Entry {
    PushJob job;
    Completion done;
  };
  // Writes `data` fully; returns "" or the reason it failed.
  std::string write_out(const std::string& data);
  // Writes a batch of records and says what it means for their pushes.
  Outcome write_records(const std::string& records);
  void flush_inline();
  void writer_main();

  EventLoop& loop_;
  std::string output_name_;
  int fd_ = -1;
  bool owns_fd_ = false;
  bool inline_ = false;
  std::size_t capacity_;

  // Inline mode, loop thread only.
  std::string buffer_;
  std::vector<Completion> pending_;

  // Thread mode.
  std::mutex mutex_;  // guards queue_ and stopping_
  std::condition_variable cv_;
  std::deque<Entry> queue_;
  bool stopping_ = false;
  std::thread writer_;
};

}  // namespace pushgate
