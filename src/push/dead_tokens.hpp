// Token-as-node tokens a provider called dead (TokenDead), per app: a push to one is answered
// TokenDead at once, without asking the provider again, until the entry expires (a day).
// Bounded: at kMaxEntries it forgets every entry rather than grow. Registered devices need no
// such list: their registration is removed instead. With a shared store (several nodes) the
// store holds the list and this one is each node's cache of it. Loop thread only.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>

namespace pushgate {

class DeadTokens {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::hours kTtl{24};
  static constexpr std::size_t kMaxEntries = 100000;

  explicit DeadTokens(std::size_t max_entries = kMaxEntries, Clock::duration ttl = kTtl)
      : max_entries_(max_entries), ttl_(ttl) {}

  // Whether the provider called `token` of `app` dead less than the ttl before `now`; such a
  // push counts as a hit. An expired entry is forgotten.
  bool known_dead(const std::string& app, const std::string& token, Clock::time_point now);
  // The provider called `token` of `app` dead at `now`.
  void mark_dead(const std::string& app, const std::string& token, Clock::time_point now);
  // Another node learned it (the shared store): dead until `until`, never shortened here.
  void mark_dead_until(const std::string& app, const std::string& token, Clock::time_point until);
  bool empty() const { return expiry_.empty(); }

  std::uint64_t hits() const { return hits_; }
  std::size_t size() const { return expiry_.size(); }

 private:
  static std::string key(const std::string& app, const std::string& token) { return app + '\0' + token; }
  std::size_t max_entries_;
  Clock::duration ttl_;
  std::unordered_map<std::string, Clock::time_point> expiry_;  // by app NUL token
  std::uint64_t hits_ = 0;
};

}  // namespace pushgate
