// The APNs provider: token-authenticated HTTP/2 pushes with truthful outcomes. Retries
// (429, 5xx, transport errors, refused streams, an expired provider token) back off with
// jitter on the loop's timers and never run past the push's deadline.
#pragma once

#include <memory>
#include <string>

#include "push/apns_request.hpp"
#include "push/apns_token.hpp"
#include "push/retrying_provider.hpp"

namespace pushgate {

class ApnsProvider final : public RetryingProvider {
 public:
  // `signer` may be shared with other apps of the same team and key; `http` with other
  // apps of the same endpoint. Both outlive the provider.
  ApnsProvider(EventLoop& loop, Http2Client& http, std::shared_ptr<ApnsTokenSigner> signer, const AppConfig& app);

  void send(PushJob job, Completion done) override;
  std::int64_t token_expires_at() const override { return signer_->expires_at(); }

 private:
  struct Push;
  void attempt(std::shared_ptr<Push> push);
  void answered(const std::shared_ptr<Push>& push, const Http2Response& r);
  void finish(const std::shared_ptr<Push>& push, Outcome outcome);

  std::shared_ptr<ApnsTokenSigner> signer_;
};

}  // namespace pushgate
