// The dead-token list of token-as-node pushes.
#include "push/dead_tokens.hpp"

namespace pushgate {

bool DeadTokens::known_dead(const std::string& app, const std::string& token, Clock::time_point now) {
  auto it = expiry_.find(key(app, token));
  if (it == expiry_.end()) return false;
  if (now < it->second) {
    ++hits_;
    return true;
  }
  expiry_.erase(it);
  return false;
}

void DeadTokens::mark_dead(const std::string& app, const std::string& token, Clock::time_point now) {
  if (expiry_.size() >= max_entries_) expiry_.clear();  // crude bound: forget all, never grow
  expiry_[key(app, token)] = now + ttl_;
}

void DeadTokens::mark_dead_until(const std::string& app, const std::string& token, Clock::time_point until) {
  auto it = expiry_.find(key(app, token));
  if (it != expiry_.end()) {
    if (it->second < until) it->second = until;
    return;
  }
  if (expiry_.size() >= max_entries_) expiry_.clear();
  expiry_.emplace(key(app, token), until);
}

}  // namespace pushgate
