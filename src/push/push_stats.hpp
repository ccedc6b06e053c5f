// What pushes came to, for /health and /metrics: totals by outcome; per app, pushes by kind
// and outcome, the provider's latency and whether it answers; and the pushes refused before
// an app was settled. An app's statistics follow its name across reloads. Loop thread only.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/metrics.hpp"
#include "config/config.hpp"
#include "push/outcome.hpp"
#include "push/push_request.hpp"

namespace pushgate {

inline constexpr std::size_t kOutcomeKinds = 9;
inline constexpr std::size_t kPushKinds = 3;

// What one app's pushes came to.
struct AppStats {
  std::array<std::array<std::uint64_t, kOutcomeKinds>, kPushKinds> pushes{};  // [PushKind][OutcomeKind]
  metrics::Histogram latency;  // from dispatch to the provider's answer, pushes a provider handled
  std::chrono::system_clock::time_point last_success{};   // last Delivered
  std::chrono::system_clock::time_point last_error_at{};  // last Retry or OperatorError
  std::string last_error;                                 // its outcome and reason
  bool last_error_operator = false;                       // it was OperatorError (our configuration)
  // Provider failures (Retry, OperatorError) since the provider last answered anything else.
  // An OperatorError about one device's token (about_one_device()) is an answer, not a failure.
  std::uint64_t consecutive_failures = 0;
};

class PushStats {
 public:
  static constexpr std::size_t kGone = static_cast<std::size_t>(-1);

  // Statistics for `apps` apps, all zero.
  explicit PushStats(std::size_t apps) : apps_(apps) {}

  // A push refused before an app was settled (wrong secret, unknown app or type).
  void refused(const Outcome& outcome);
  // A push to app `app` (an index into the current apps; kGone: an app a reload has removed
  // since the push went out, counted in the totals only). `provider_seconds`: from dispatch to
  // the provider's answer, when a provider handled it; its outcome then tells whether the
  // provider answers.
  void finished(std::size_t app, PushKind kind, const Outcome& outcome, std::optional<double> provider_seconds);
  // A reload: the apps are now `after`; an app named in `before` keeps its statistics.
  void follow(const std::vector<std::string>& before, const std::vector<AppConfig>& after);

  std::uint64_t count(OutcomeKind kind) const { return counts_[static_cast<std::size_t>(kind)]; }
  const std::vector<AppStats>& apps() const { return apps_; }
  const std::array<std::uint64_t, kOutcomeKinds>& unresolved() const { return unresolved_; }

 private:
  std::vector<AppStats> apps_;
  std::array<std::uint64_t, kOutcomeKinds> counts_{};
  std::array<std::uint64_t, kOutcomeKinds> unresolved_{};
};

}  // namespace pushgate
