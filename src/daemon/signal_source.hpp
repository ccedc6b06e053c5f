// SIGTERM, SIGINT and SIGHUP delivered to the event loop: the signals are blocked for every
// thread and read from a signalfd the loop watches, so a handler runs on the loop thread.
#pragma once

#include <functional>

#include "common/event_loop.hpp"

namespace pushgate {

class SignalSource final {
 public:
  // Blocks SIGTERM, SIGINT and SIGHUP. Call before any thread starts, so that none of them
  // takes the signals and only the signalfd sees them.
  static void block();

  // Calls `on_signal` with the signal's number on the loop thread. Throws std::runtime_error
  // when the signalfd cannot be made.
  SignalSource(EventLoop& loop, std::function<void(int)> on_signal);
  ~SignalSource();
  SignalSource(const SignalSource&) = delete;
  SignalSource& operator=(const SignalSource&) = delete;


 private:
  void read_all();
  std::function<void(int)> on_signal_;
  FdWatch watch_;
  int fd_ = -1;
};

}  // namespace pushgate
