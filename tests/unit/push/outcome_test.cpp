// Tests for src/push/outcome.cpp: the DESIGN.md outcome table, row by row.
#include <doctest/doctest.h>

#include <string>

#include "push/outcome.hpp"

using namespace pushgate;

namespace {
std::string xmpp_of(OutcomeKind k) {
  auto c = xmpp_error_for(k);
  return std::string(c.type) + "/" + c.condition;
}
}  // namespace

TEST_CASE("delivered and coalesced are results") {
  CHECK(xmpp_of(OutcomeKind::Delivered) == "/");
  CHECK(xmpp_of(OutcomeKind::Coalesced) == "/");
  CHECK(http_status_for(OutcomeKind::Delivered) == 200);
  CHECK(http_status_for(OutcomeKind::Coalesced) == 202);
}

TEST_CASE("only a dead token or unknown node is cancel/item-not-found") {
  CHECK(xmpp_of(OutcomeKind::TokenDead) == "cancel/item-not-found");
  CHECK(xmpp_of(OutcomeKind::UnknownNode) == "cancel/item-not-found");
  CHECK(http_status_for(OutcomeKind::TokenDead) == 410);
  CHECK(http_status_for(OutcomeKind::UnknownNode) == 404);
  for (auto k : {OutcomeKind::Delivered, OutcomeKind::Coalesced, OutcomeKind::Forbidden, OutcomeKind::BadRequest,
                 OutcomeKind::Retry, OutcomeKind::QueueFull, OutcomeKind::OperatorError}) {
    CHECK(std::string(xmpp_error_for(k).type) != "cancel");
  }
}

TEST_CASE("forbidden is auth/forbidden and bad request is modify/bad-request") {
  CHECK(xmpp_of(OutcomeKind::Forbidden) == "auth/forbidden");
  CHECK(xmpp_of(OutcomeKind::BadRequest) == "modify/bad-request");
  CHECK(http_status_for(OutcomeKind::Forbidden) == 403);
  CHECK(http_status_for(OutcomeKind::BadRequest) == 400);
}

TEST_CASE("retry and operator errors are wait, so Prosody keeps the registration") {
  CHECK(xmpp_of(OutcomeKind::Retry) == "wait/internal-server-error");
  CHECK(xmpp_of(OutcomeKind::OperatorError) == "wait/internal-server-error");
  CHECK(xmpp_of(OutcomeKind::QueueFull) == "wait/resource-constraint");
  CHECK(http_status_for(OutcomeKind::Retry) == 503);
  CHECK(http_status_for(OutcomeKind::OperatorError) == 502);
}
