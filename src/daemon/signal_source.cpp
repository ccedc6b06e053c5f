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
    : loop_(loop), on_signal_(std::move(on_signal)) {
  sigset_t set = handled();
  fd_ = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd_ < 0) throw std::runtime_error(std::string("signalfd failed: ") + std::strerror(errno));
  loop_.add_source(this);
}

SignalSource::~SignalSource() {
  loop_.remove_source(this);
  close(fd_);
}

void SignalSource::collect_fds(std::vector<curl_waitfd>& fds) {
  fds.push_back(curl_waitfd{fd_, CURL_WAIT_POLLIN, 0});
}

void SignalSource::on_turn() {
  signalfd_siginfo info{};
  while (read(fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info))
    on_signal_(static_cast<int>(info.ssi_signo));
}

}  // namespace pushgate
