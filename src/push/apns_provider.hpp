// The APNs provider: token-authenticated HTTP/2 pushes with truthful outcomes. Retries
// (429, 5xx, transport errors, refused streams, an expired provider token) back off with
// jitter on the loop's timers and never run past the push's deadline.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>

#include "common/event_loop.hpp"
#include "push/apns_request.hpp"
#include "push/apns_token.hpp"
#include "push/http2_client.hpp"
#include "push/provider.hpp"

namespace pushgate {

class ApnsProvider final : public Provider {
 public:
  // `signer` may be shared with other apps of the same team and key; `http` with other
  // apps of the same endpoint. Both outlive the provider.
  ApnsProvider(EventLoop& loop, Http2Client& http, std::shared_ptr<ApnsTokenSigner> signer, const AppConfig& app);

  void send(PushJob job, Completion done) override;

  // retry_backoff() (push/backoff.hpp); kept here for the provider's tests.
  static std::chrono::milliseconds backoff(unsigned attempt, std::mt19937& rng);

  std::uint64_t attempts() const { return attempts_; }
  std::uint64_t retries() const override { return retries_; }

 private:
  struct Push;
  void attempt(std::shared_ptr<Push> push);
  void finish(const std::shared_ptr<Push>& push, Outcome outcome);

  EventLoop& loop_;
  Http2Client& http_;
  std::shared_ptr<ApnsTokenSigner> signer_;
  const AppConfig& app_;
  std::mt19937 rng_;
  std::uint64_t attempts_ = 0;
  std::uint64_t retries_ = 0;
};

}  // namespace pushgate
