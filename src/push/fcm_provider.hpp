// The FCM provider: HTTP v1 data messages with an OAuth2 access token and truthful outcomes.
// Retries (QUOTA_EXCEEDED, UNAVAILABLE, INTERNAL, 429, 5xx, transport errors) honour
// Retry-After, back off with jitter on the loop's timers and never run past the deadline;
// a 401 fetches a new access token and tries once more.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>

#include "common/event_loop.hpp"
#include "push/fcm_oauth.hpp"
#include "push/fcm_request.hpp"
#include "push/http2_client.hpp"
#include "push/provider.hpp"

namespace pushgate {

class FcmProvider final : public Provider {
 public:
  // `tokens` may be shared by apps with the same service account; `http` by every provider.
  FcmProvider(EventLoop& loop, Http2Client& http, std::shared_ptr<FcmTokenSource> tokens, const AppConfig& app);

  void send(PushJob job, Completion done) override;

  std::uint64_t attempts() const { return attempts_; }
  std::uint64_t retries() const override { return retries_; }

 private:
  struct Push;
  void attempt(std::shared_ptr<Push> push);
  void post(std::shared_ptr<Push> push, const std::string& access_token);
  void answered(const std::shared_ptr<Push>& push, const std::string& access_token, const Http2Response& r);
  void retry_or_finish(const std::shared_ptr<Push>& push, OutcomeKind kind, std::string reason,
                       std::chrono::milliseconds at_least);
  void finish(const std::shared_ptr<Push>& push, Outcome outcome);

  EventLoop& loop_;
  Http2Client& http_;
  std::shared_ptr<FcmTokenSource> tokens_;
  const AppConfig& app_;
  std::mt19937 rng_;
  std::uint64_t attempts_ = 0;
  std::uint64_t retries_ = 0;
};

}  // namespace pushgate
