// Tests for src/api/outcome_status.cpp: the outcome table's HTTP column, row by row.
#include <doctest/doctest.h>

#include "api/outcome_status.hpp"

using namespace pushgate;

TEST_CASE("delivered is 200 and coalesced 202") {
  CHECK(api::http_status_for(OutcomeKind::Delivered) == 200);
  CHECK(api::http_status_for(OutcomeKind::Coalesced) == 202);
}

TEST_CASE("a dead token is 410 and an unknown node 404") {
  CHECK(api::http_status_for(OutcomeKind::TokenDead) == 410);
  CHECK(api::http_status_for(OutcomeKind::UnknownNode) == 404);
}

TEST_CASE("forbidden is 403 and bad request 400") {
  CHECK(api::http_status_for(OutcomeKind::Forbidden) == 403);
  CHECK(api::http_status_for(OutcomeKind::BadRequest) == 400);
}

TEST_CASE("retry and a full queue are 503, our own misconfiguration 502") {
  CHECK(api::http_status_for(OutcomeKind::Retry) == 503);
  CHECK(api::http_status_for(OutcomeKind::QueueFull) == 503);
  CHECK(api::http_status_for(OutcomeKind::OperatorError) == 502);
}
