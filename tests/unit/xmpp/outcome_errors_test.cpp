// Tests for src/xmpp/outcome_errors.cpp: the outcome table's XMPP column, row by row.
#include <doctest/doctest.h>

#include <string>

#include "xmpp/outcome_errors.hpp"

using namespace pushgate;

namespace {
std::string xmpp_of(OutcomeKind k) {
  auto c = xmpp::xmpp_error_for(k);
  return std::string(c.type) + "/" + c.condition;
}
}  // namespace

TEST_CASE("delivered and coalesced are results") {
  CHECK(xmpp_of(OutcomeKind::Delivered) == "/");
  CHECK(xmpp_of(OutcomeKind::Coalesced) == "/");
}

TEST_CASE("only a dead token or unknown node is cancel/item-not-found") {
  CHECK(xmpp_of(OutcomeKind::TokenDead) == "cancel/item-not-found");
  CHECK(xmpp_of(OutcomeKind::UnknownNode) == "cancel/item-not-found");
  for (auto k : {OutcomeKind::Delivered, OutcomeKind::Coalesced, OutcomeKind::Forbidden, OutcomeKind::BadRequest,
                 OutcomeKind::Retry, OutcomeKind::QueueFull, OutcomeKind::OperatorError}) {
    CHECK(std::string(xmpp::xmpp_error_for(k).type) != "cancel");
  }
}

TEST_CASE("forbidden is auth/forbidden and bad request is modify/bad-request") {
  CHECK(xmpp_of(OutcomeKind::Forbidden) == "auth/forbidden");
  CHECK(xmpp_of(OutcomeKind::BadRequest) == "modify/bad-request");
}

TEST_CASE("retry and operator errors are wait, so Prosody keeps the registration") {
  CHECK(xmpp_of(OutcomeKind::Retry) == "wait/internal-server-error");
  CHECK(xmpp_of(OutcomeKind::OperatorError) == "wait/internal-server-error");
  CHECK(xmpp_of(OutcomeKind::QueueFull) == "wait/resource-constraint");
}
