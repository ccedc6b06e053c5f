// Deadlines, unanswered requests and backoff, shared by the HTTP/2 providers.
#include "push/retrying_provider.hpp"

#include "common/log.hpp"
#include "push/backoff.hpp"

namespace pushgate {

RetryingProvider::RetryingProvider(EventLoop& loop, Http2Client& http, const AppConfig& app, const char* retry_event)
    : loop_(loop), http_(http), app_(app), retry_event_(retry_event), rng_(std::random_device{}()) {}

std::chrono::steady_clock::time_point RetryingProvider::deadline_for(PushKind kind) const {
  return std::chrono::steady_clock::now() +
         std::chrono::milliseconds(kind == PushKind::Voip ? app_.voip_deadline_ms : app_.deadline_ms);
}

void RetryingProvider::refuse(Completion done, Outcome outcome) {
  loop_.defer([done = std::move(done), outcome = std::move(outcome)] { done(outcome); });
}

Outcome RetryingProvider::unanswered(const Http2Response& r) {
  if (r.failure == Http2Failure::TlsVerify || r.failure == Http2Failure::NotHttp2 || r.failure == Http2Failure::BadUrl) {
    return Outcome{OutcomeKind::OperatorError, r.error};
  }
  return Outcome{OutcomeKind::Retry, std::string(to_string(r.failure)) + ": " + r.error};
}

std::string RetryingProvider::deadline_passed(const std::string& reason, unsigned attempts) {
  return reason + " (deadline passed after " + std::to_string(attempts) + " attempts)";
}

bool RetryingProvider::retry_later(const PushJob& job, std::chrono::steady_clock::time_point deadline, unsigned attempt,
                                   const std::string& reason, std::chrono::milliseconds at_least,
                                   std::function<void()> again) {
  auto delay = std::max(retry_backoff(attempt == 0 ? 1 : attempt, rng_), at_least);
  if (std::chrono::steady_clock::now() + delay >= deadline) return false;
  log::debug(retry_event_, {{"app", app_.name}, {"token", log::redact(job.request.node)}, {"reason", reason},
                            {"attempt", std::to_string(attempt)}, {"in_ms", std::to_string(delay.count())}});
  ++retries_;
  loop_.call_after(delay, std::move(again));
  return true;
}

}  // namespace pushgate
