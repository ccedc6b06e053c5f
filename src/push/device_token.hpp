// What a provider's device token looks like: the checks before a push is sent (a token that
// cannot be one is dead without asking) and before a registration is stored. Pure.
#pragma once

#include <cstddef>
#include <string_view>

#include "common/result.hpp"
#include "config/config.hpp"

namespace pushgate {

// APNs: even-length hex, 64 to 200 digits.
bool is_apns_token(std::string_view token);
// FCM registration tokens: 32 to 4096 characters of A-Z a-z 0-9 - _ : . (what a push accepts).
bool is_fcm_token(std::string_view token);

// Registration keeps a token for a long time: an FCM token is held to a tighter size than a
// push accepts (real ones are about 160 characters).
inline constexpr std::size_t kMaxRegisteredFcmToken = 1024;

// Whether `token` can be registered for `service`; the Error names its length, the shape and
// the limit, never the token.
Result<void> check_registration_token(ServiceKind service, std::string_view token);

}  // namespace pushgate
