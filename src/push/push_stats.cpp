// Per-app and total push statistics.
#include "push/push_stats.hpp"

#include <utility>

namespace pushgate {

void PushStats::refused(const Outcome& outcome) {
  auto o = static_cast<std::size_t>(outcome.kind);
  ++counts_[o];
  ++unresolved_[o];
}

void PushStats::finished(std::size_t app, PushKind kind, const Outcome& outcome,
                         std::optional<double> provider_seconds) {
  auto o = static_cast<std::size_t>(outcome.kind);
  ++counts_[o];
  if (app == kGone) return;
  AppStats& st = apps_[app];
  ++st.pushes[static_cast<std::size_t>(kind)][o];
  if (!provider_seconds) return;
  st.latency.observe(*provider_seconds);
  if ((outcome.kind == OutcomeKind::Retry || outcome.kind == OutcomeKind::OperatorError) &&
      !about_one_device(outcome)) {
    ++st.consecutive_failures;
    st.last_error_at = std::chrono::system_clock::now();
    st.last_error = std::string(to_string(outcome.kind)) + ": " + outcome.reason.substr(0, 200);
    st.last_error_operator = outcome.kind == OutcomeKind::OperatorError;
  } else {
    // The provider answered about the device or the request: it is reachable.
    st.consecutive_failures = 0;
    if (outcome.kind == OutcomeKind::Delivered) st.last_success = std::chrono::system_clock::now();
  }
}

void PushStats::follow(const std::vector<std::string>& before, const std::vector<AppConfig>& after) {
  std::vector<AppStats> next(after.size());
  for (std::size_t i = 0; i < after.size(); ++i) {
    for (std::size_t j = 0; j < before.size() && j < apps_.size(); ++j) {
      if (before[j] == after[i].name) next[i] = std::move(apps_[j]);
    }
  }
  apps_ = std::move(next);
}

}  // namespace pushgate
