// libFuzzer target: arbitrary bytes where pushgate reads what a provider or an operator's
// credential file gives it — an APNs answer, an FCM answer (with a Retry-After), an OAuth2
// token answer, a service-account JSON — and a POST /push body (JSON or form) from the local
// API. The first byte picks the reader and the status. Any input must end in a verdict, a
// parse error or a KeyError, never a crash or another exception.
#include <cstddef>
#include <cstdint>
#include <string>

#include "api/push_body.hpp"
#include "push/apns_request.hpp"
#include "push/fcm_credentials.hpp"
#include "push/fcm_oauth.hpp"
#include "push/fcm_request.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static const int kStatuses[] = {200, 400, 401, 403, 404, 410, 413, 429, 500, 503};
  int status = kStatuses[(data[0] >> 2) % 10];
  std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  if ((data[0] & 0x80) != 0) {
    (void)pushgate::api::parse_push_body((data[0] & 1) ? "application/x-www-form-urlencoded" : "application/json",
                                         text);
    return 0;
  }
  switch (data[0] & 3) {
    case 0:
      pushgate::classify_apns_response(status, text);
      break;
    case 1: {
      auto cut = text.find('\n');
      std::string retry_after = cut == std::string::npos ? "" : text.substr(0, cut);
      pushgate::classify_fcm_response(status, cut == std::string::npos ? text : text.substr(cut + 1), retry_after);
      break;
    }
    case 2:
      pushgate::parse_fcm_token_response(status, text);
      break;
    default:
      try {
        pushgate::parse_fcm_service_account(text, "fuzz.json");
      } catch (const pushgate::KeyError&) {
      }
  }
  return 0;
}
