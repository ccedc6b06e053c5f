// The dispatcher owns a push from front door to outcome: it picks the app, checks the
// secret, settles the kind, bounds what is in flight and hands the job to the provider.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <variant>
#include <vector>

#include "config/config.hpp"
#include "push/outcome.hpp"
#include "push/provider.hpp"

namespace pushgate {

// Token-as-node resolution: which app and kind a publish asks for, or why it is refused.
// Pure; apps[0] is the default app.
struct Resolved {
  std::size_t app_index;
  PushKind kind;
};
std::variant<Resolved, Outcome> resolve_token_as_node(const PushRequest& request, const std::vector<AppConfig>& apps);

class Dispatcher {
 public:
  using Done = std::function<void(const Outcome&)>;

  // `providers[i]` serves `config.apps[i]`. `config` must outlive the dispatcher.
  Dispatcher(const Config& config, std::vector<std::unique_ptr<Provider>> providers);

  // Calls `done` exactly once, on the loop thread: at once for a refused push or a full
  // queue, else when the provider reports.
  void dispatch(PushRequest request, Done done);

  std::size_t in_flight() const { return in_flight_; }
  std::uint64_t count(OutcomeKind kind) const { return counts_[static_cast<std::size_t>(kind)]; }

 private:
  // Logs the push, counts its outcome and answers the front door.
  void finish(const PushRequest& request, const char* app, const char* kind, const Outcome& outcome,
              std::chrono::steady_clock::time_point started, const Done& done);

  const Config& config_;
  std::vector<std::unique_ptr<Provider>> providers_;
  std::size_t in_flight_ = 0;
  std::array<std::uint64_t, 9> counts_{};
};

}  // namespace pushgate
