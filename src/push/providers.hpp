// Builds the provider set of one configuration: one provider per app, sharing what Apple and
// Google want shared: one HTTP/2 client for the whole set, one provider token per (team, key),
// one OAuth2 token per service account. A reload builds a new set.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/event_loop.hpp"
#include "config/config.hpp"
#include "push/apns_token.hpp"
#include "push/fcm_oauth.hpp"
#include "http2/client.hpp"
#include "push/provider.hpp"

namespace pushgate {

struct ProviderSet {
  std::unique_ptr<Http2Client> http;  // null when no app needs HTTP/2
  std::map<std::string, std::shared_ptr<ApnsTokenSigner>> signers;  // by team/key id/key file
  std::map<std::string, std::shared_ptr<FcmTokenSource>> fcm_tokens;  // by credentials file
  std::vector<std::unique_ptr<Provider>> providers;                 // providers[i] serves config.apps[i]
};

// Throws std::runtime_error (naming the app and the fix) when an app's resources cannot be
// set up, e.g. an unreadable log output or key file.
// providers[i] keeps a reference to apps[i]: `apps` must outlive the set and never move.
ProviderSet make_providers(EventLoop& loop, const std::vector<AppConfig>& apps, std::size_t queue_size);
inline ProviderSet make_providers(EventLoop& loop, const Config& config) {
  return make_providers(loop, config.apps, config.push.queue_size);
}

}  // namespace pushgate
