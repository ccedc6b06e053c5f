// The back-door interface: a provider turns one resolved push into a delivery attempt and
// reports exactly one Outcome. Providers know nothing about XMPP or HTTP front doors.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "config/config.hpp"
#include "push/outcome.hpp"
#include "push/push_request.hpp"

namespace pushgate {

// A push the dispatcher has accepted: the app it goes to and its kind are settled.
struct PushJob {
  const AppConfig* app = nullptr;  // owned by the Config, which outlives every job
  PushKind kind = PushKind::Alert;
  PushRequest request;
};

class Provider {
 public:
  // Called exactly once, on the event-loop thread, never from inside send().
  using Completion = std::function<void(const Outcome&)>;
  virtual ~Provider() = default;
  // Starts the attempt and returns at once: never blocks the loop on I/O.
  virtual void send(PushJob job, Completion done) = 0;
  // Attempts scheduled again after a failure (429, 5xx, lost connection…), for /metrics.
  virtual std::uint64_t retries() const { return 0; }
  // When the provider token (APNs JWT, FCM access token) this app's pushes carry stops being
  // valid, epoch seconds; 0 while it holds none (no push has needed one yet). For /metrics.
  virtual std::int64_t token_expires_at() const { return 0; }
  // Push attempts that needed a provider token and got none (signing or the OAuth2 fetch
  // failed), or whose token the provider refused (APNs 403 *ProviderToken, FCM 401 to a fresh
  // token). A push retried within its deadline counts once per attempt.
  virtual std::uint64_t token_failures() const { return 0; }
};

}  // namespace pushgate
