// What the APNs and FCM providers share: a push's deadline, what an unanswered request means,
// and the next attempt after a backoff that never runs past that deadline.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <random>
#include <string>

#include "common/event_loop.hpp"
#include "http2/client.hpp"
#include "push/provider.hpp"

namespace pushgate {

class RetryingProvider : public Provider {
 public:
  std::uint64_t attempts() const { return attempts_; }
  std::uint64_t retries() const override { return retries_; }
  std::uint64_t token_failures() const override { return token_failures_; }

  // The outcome of a request the provider never answered. A connection refused or lost, a
  // timeout or a reset stream: nothing says the push was processed, so Retry. A certificate
  // that does not verify, a server without HTTP/2 or a bad URL: our configuration, OperatorError.
  static Outcome unanswered(const Http2Response& r);

 protected:
  // `retry_event` names the debug line of a retry ("apns_retry"). `http` and `app` outlive the provider.
  RetryingProvider(EventLoop& loop, Http2Client& http, const AppConfig& app, const char* retry_event);

  // When a push of `kind` must be answered: voip_deadline_ms for calls, else deadline_ms.
  std::chrono::steady_clock::time_point deadline_for(PushKind kind) const;
  // Answers a push refused before any request (bad payload) on the next loop turn: a
  // completion never runs inside send().
  void refuse(Completion done, Outcome outcome);
  // `reason` with how many attempts ran before the deadline passed.
  static std::string deadline_passed(const std::string& reason, unsigned attempts);
  // Runs `again` after the backoff for `attempt` (at least `at_least`, e.g. Retry-After) and
  // counts a retry; false, and nothing scheduled, when that would pass `deadline`.
  bool retry_later(const PushJob& job, std::chrono::steady_clock::time_point deadline, unsigned attempt,
                   const std::string& reason, std::chrono::milliseconds at_least, std::function<void()> again);
  // A request is going out: counted for attempts().
  void count_attempt() { ++attempts_; }
  // A push found no usable provider token: counted for token_failures().
  void count_token_failure() { ++token_failures_; }

  EventLoop& loop_;
  Http2Client& http_;
  const AppConfig& app_;

 private:
  const char* retry_event_;
  std::mt19937 rng_;
  std::uint64_t attempts_ = 0;
  std::uint64_t retries_ = 0;
  std::uint64_t token_failures_ = 0;
};

}  // namespace pushgate
