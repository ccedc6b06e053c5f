// The doctest runner for every unit test; links the pushgate library. Log lines from the
// code under test are silenced below error level so the test report stays readable.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <csignal>

#include "common/log.hpp"

int main(int argc, char** argv) {
  // As pushgate's main does: a peer that closed turns writes into EPIPE errors, not a signal.
  std::signal(SIGPIPE, SIG_IGN);
  pushgate::log::set_level(pushgate::log::Level::Error);
  doctest::Context context(argc, argv);
  return context.run();
}
