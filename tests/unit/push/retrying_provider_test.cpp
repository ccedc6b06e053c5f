// Tests for what the HTTP/2 providers share (src/push/backoff.hpp, retrying_provider.hpp).
#include <doctest/doctest.h>

#include "push/backoff.hpp"
#include "push/retrying_provider.hpp"

using namespace pushgate;

TEST_CASE("retry backoff doubles from 100 ms with jitter and is capped at 5 s") {
  std::mt19937 rng(1);
  for (int i = 0; i < 100; ++i) {
    auto first = retry_backoff(1, rng).count();
    CHECK(first >= 50);
    CHECK(first <= 100);
    auto third = retry_backoff(3, rng).count();
    CHECK(third >= 200);
    CHECK(third <= 400);
    CHECK(retry_backoff(30, rng).count() <= 5000);
  }
}

TEST_CASE("an unanswered request is Retry unless our own configuration made it fail") {
  Http2Response r;
  for (Http2Failure f : {Http2Failure::TlsVerify, Http2Failure::NotHttp2, Http2Failure::BadUrl}) {
    r.failure = f;
    r.error = "certificate verify failed";
    Outcome o = RetryingProvider::unanswered(r);
    CHECK(o.kind == OutcomeKind::OperatorError);
    CHECK(o.reason == "certificate verify failed");
  }
  r.failure = Http2Failure::Connect;
  r.error = "connection refused";
  Outcome o = RetryingProvider::unanswered(r);
  CHECK(o.kind == OutcomeKind::Retry);
  CHECK(o.reason == std::string(to_string(Http2Failure::Connect)) + ": connection refused");
}
