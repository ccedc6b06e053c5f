// The trailing-edge throttle.
#include "push/throttle.hpp"

#include <iterator>

namespace pushgate {

std::string Throttle::key(const std::string& app, PushKind kind, const PushRequest& request) {
  return app + '\0' + to_string(kind) + '\0' + request.sender_domain + '\0' + request.node;
}

std::optional<Throttle::Held> Throttle::admit(const std::string& key, std::chrono::milliseconds window,
                                              const PushRequest& request, Clock::time_point now) {
  // Targets whose window passed hold nothing.
  if (targets_.size() > kSweepAbove && now - last_sweep_ > std::chrono::seconds(1)) {
    last_sweep_ = now;
    for (auto it = targets_.begin(); it != targets_.end();) {
      it = !it->second.trailing && now - it->second.last_sent > window ? targets_.erase(it) : std::next(it);
    }
  }
  Target& t = targets_[key];
  if (t.last_sent.time_since_epoch().count() != 0 && now < t.last_sent + window) {
    ++coalesced_;
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(t.last_sent + window - now);
    t.latest = request;
    bool schedule = !t.trailing;
    t.trailing = true;
    return Held{wait, schedule};
  }
  t.last_sent = now;
  return std::nullopt;
}

std::optional<PushRequest> Throttle::take_trailing(const std::string& key, Clock::time_point now) {
  auto it = targets_.find(key);
  if (it == targets_.end() || !it->second.trailing) return std::nullopt;
  it->second.trailing = false;
  it->second.last_sent = now;
  return std::move(it->second.latest);
}

}  // namespace pushgate
