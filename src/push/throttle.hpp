// The trailing-edge throttle of message and background pushes (Prosody publishes once per
// message): per target (app, kind, sender domain, node) the first push goes at once; pushes
// within the app's throttle_ms are answered Coalesced and the latest of them is kept, to go
// as one trailing push when the window ends. Bookkeeping only, over times the caller passes:
// the caller schedules the trailing push when told to. Loop thread only.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

#include "config/config.hpp"
#include "push/push_request.hpp"

namespace pushgate {

class Throttle {
 public:
  using Clock = std::chrono::steady_clock;
  // Past this many targets, those whose window has passed are swept (at most once a second),
  // so many devices never make every push walk the whole map.
  static constexpr std::size_t kSweepAbove = 10000;

  // Whether pushes of `kind` to `app` are throttled: never calls, never with throttle_ms 0.
  static bool applies(PushKind kind, const AppConfig& app) { return kind != PushKind::Voip && app.throttle_ms > 0; }
  // The target a push belongs to.
  static std::string key(const std::string& app, PushKind kind, const PushRequest& request);

  // A push held back: answered Coalesced.
  struct Held {
    std::chrono::milliseconds wait;  // until its window ends and the trailing push goes
    bool schedule;                   // the first held in this window: schedule take_trailing() after `wait`
  };
  // A push to `key` at `now`: nullopt when it goes now (and its window starts), else it is kept
  // as the target's latest.
  std::optional<Held> admit(const std::string& key, std::chrono::milliseconds window, const PushRequest& request,
                            Clock::time_point now);
  // When a window ends: the latest push held for `key`, whose own window starts at `now`;
  // nullopt when none is held.
  std::optional<PushRequest> take_trailing(const std::string& key, Clock::time_point now);

  std::uint64_t coalesced() const { return coalesced_; }
  std::size_t size() const { return targets_.size(); }

 private:
  struct Target {
    Clock::time_point last_sent{};
    bool trailing = false;  // a push is held and its trailing push scheduled
    PushRequest latest;
  };
  std::unordered_map<std::string, Target> targets_;
  Clock::time_point last_sweep_{};
  std::uint64_t coalesced_ = 0;
};

}  // namespace pushgate
