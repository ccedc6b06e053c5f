// The signals the daemon handles, read from a signalfd on the loop thread.
#include "daemon/signal_source.hpp"

#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace pushgate {
namespace {

sigset_t handled() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
  return set;
}

}  // namespace

void SignalSource::block() {
  sigset_t set = handled();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

SignalSource::SignalSource(EventLoop& loop, std::function<void(int)> on_signal)
    : on_signal_(std::move(on_signal)), watch_(loop, [this](int) { read_all(); }) {
  sigset_t set = handled();
  fd_ = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd_ < 0) throw std::runtime_error(std::string("signalfd failed: ") + std::strerror(errno));
  watch_.watch(fd_, UV_READABLE);
}

SignalSource::~SignalSource() {
  watch_.stop();
  close(fd_);
}

void SignalSource::read_all() {
  signalfd_siginfo info{};
  while (read(fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info))
    on_signal_(static_cast<int>(info.ssi_signo));
}

}  // namespace pushgate
