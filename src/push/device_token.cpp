// Device token shapes (DESIGN.md "Provider rules").
#include "push/device_token.hpp"

#include <algorithm>
#include <cctype>
#include <string>

namespace pushgate {

bool is_apns_token(std::string_view t) {
  if (t.size() < 64 || t.size() > 200 || t.size() % 2 != 0) return false;
  return std::all_of(t.begin(), t.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; });
}

bool is_fcm_token(std::string_view t) {
  if (t.size() < 32 || t.size() > 4096) return false;
  return std::all_of(t.begin(), t.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == ':' || c == '.';
  });
}

Result<void> check_registration_token(ServiceKind service, std::string_view token) {
  if (service == ServiceKind::Apns) {
    if (is_apns_token(token)) return {};
    return Error{"not an APNs device token (" + std::to_string(token.size()) +
                     " characters): an APNs token is an even number of hex digits, 64 to 200",
                 ""};
  }
  if (is_fcm_token(token) && token.size() <= kMaxRegisteredFcmToken) return {};
  return Error{"not an FCM registration token (" + std::to_string(token.size()) + " characters): an FCM token is 32 to " +
                   std::to_string(kMaxRegisteredFcmToken) + " characters of A-Z a-z 0-9 - _ : .",
               ""};
}

}  // namespace pushgate
