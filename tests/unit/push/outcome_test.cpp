// Tests for src/push/outcome.cpp: outcome names, and which operator errors are about one device.
#include <doctest/doctest.h>

#include <string>

#include "push/outcome.hpp"

using namespace pushgate;

TEST_CASE("every outcome has the name logs and metrics use") {
  CHECK(std::string(to_string(OutcomeKind::Delivered)) == "delivered");
  CHECK(std::string(to_string(OutcomeKind::TokenDead)) == "token_dead");
  CHECK(std::string(to_string(OutcomeKind::UnknownNode)) == "unknown_node");
  CHECK(std::string(to_string(OutcomeKind::QueueFull)) == "queue_full");
  CHECK(std::string(to_string(OutcomeKind::OperatorError)) == "operator_error");
}

TEST_CASE("DeviceTokenNotForTopic and SENDER_ID_MISMATCH are about one device, other operator errors are not") {
  CHECK(about_one_device(Outcome{OutcomeKind::OperatorError, "DeviceTokenNotForTopic"}));
  CHECK(about_one_device(Outcome{OutcomeKind::OperatorError, "SENDER_ID_MISMATCH: wrong project"}));
  CHECK_FALSE(about_one_device(Outcome{OutcomeKind::OperatorError, "InvalidProviderToken"}));
  // Only an operator error: the same words in a retry say nothing about the device.
  CHECK_FALSE(about_one_device(Outcome{OutcomeKind::Retry, "DeviceTokenNotForTopic"}));
}
