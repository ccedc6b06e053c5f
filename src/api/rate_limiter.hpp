// Per-client token buckets for the local HTTP API: `rate` requests per second with a burst
// of the same size. Thread-safe; the API asks it on the event loop.
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>

namespace pushgate::api {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  // rate 0: no limit.
  explicit RateLimiter(double rate) : rate_(rate) {}

  // A new rate (configuration reload); the buckets start full again.
  void set_rate(double rate) {
    std::lock_guard lock(mutex_);
    rate_ = rate;
    buckets_.clear();
  }

  // Takes one token from `client`'s bucket; false when it is empty.
  bool allow(const std::string& client, Clock::time_point now = Clock::now()) {
    std::lock_guard lock(mutex_);
    if (rate_ <= 0) return true;
    if (buckets_.size() > 10000) forget_idle(now);
    auto [it, fresh] = buckets_.try_emplace(client, Bucket{rate_, now});
    Bucket& b = it->second;
    if (!fresh) {
      double refill = std::chrono::duration<double>(now - b.at).count() * rate_;
      b.tokens = std::min(rate_, b.tokens + refill);
      b.at = now;
    }
    if (b.tokens < 1.0) return false;
    b.tokens -= 1.0;
    return true;
  }

 private:
  struct Bucket {
    double tokens;
    Clock::time_point at;
  };
  // Buckets full again hold no information: dropped so many clients cannot grow the map.
  void forget_idle(Clock::time_point now) {
    for (auto it = buckets_.begin(); it != buckets_.end();) {
      bool full = it->second.tokens + std::chrono::duration<double>(now - it->second.at).count() * rate_ >= rate_;
      it = full ? buckets_.erase(it) : std::next(it);
    }
  }

  double rate_;
  std::mutex mutex_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace pushgate::api
