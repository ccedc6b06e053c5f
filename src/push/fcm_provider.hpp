// The FCM provider: HTTP v1 data messages with an OAuth2 access token and truthful outcomes.
// Retries (QUOTA_EXCEEDED, UNAVAILABLE, INTERNAL, 429, 5xx, transport errors) honour
// Retry-After, back off with jitter on the loop's timers and never run past the deadline;
// a 401 fetches a new access token and tries once more.
#pragma once

#include <memory>
#include <string>

#include "push/fcm_oauth.hpp"
#include "push/fcm_request.hpp"
#include "push/retrying_provider.hpp"

namespace pushgate {

class FcmProvider final : public RetryingProvider {
 public:
  // `tokens` may be shared by apps with the same service account; `http` by every provider.
  FcmProvider(EventLoop& loop, Http2Client& http, std::shared_ptr<FcmTokenSource> tokens, const AppConfig& app);

  void send(PushJob job, Completion done) override;
  std::int64_t token_expires_at() const override { return tokens_->expires_at(); }

 private:
  struct Push;
  void attempt(std::shared_ptr<Push> push);
  void post(std::shared_ptr<Push> push, const std::string& access_token);
  void answered(const std::shared_ptr<Push>& push, const std::string& access_token, const Http2Response& r);
  void retry_or_finish(const std::shared_ptr<Push>& push, OutcomeKind kind, std::string reason,
                       std::chrono::milliseconds at_least);
  void finish(const std::shared_ptr<Push>& push, Outcome outcome);

  std::shared_ptr<FcmTokenSource> tokens_;
};

}  // namespace pushgate
