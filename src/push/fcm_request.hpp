// What FCM HTTP v1 is sent for one push and what its answer means. Pure functions: a
// PushJob in, a messages:send request out; a status, a body and Retry-After in, a verdict out.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "push/outcome.hpp"
#include "push/provider.hpp"

namespace pushgate {

struct FcmRequest {
  std::string path;  // /v1/projects/<id>/messages:send
  std::string body;  // {"message":{…}}
};

inline constexpr std::size_t kFcmMaxData = 4096;  // FCM's limit on a message's data

// The request for `job`, or the Outcome that makes sending it pointless: a token FCM could
// never accept (TokenDead), data over FCM's 4 KiB (BadRequest).
Result<FcmRequest, Outcome> build_fcm_request(const PushJob& job, const std::string& project_id);

struct FcmVerdict {
  OutcomeKind kind;            // final outcome if not retried
  bool retry = false;          // worth another attempt within the deadline
  bool unauthenticated = false;  // 401: fetch a new access token, then try once more
  std::string reason;          // FCM's errorCode (or status) and message
  std::optional<std::chrono::seconds> retry_after;  // from the Retry-After header
};

// Classifies by error.details[].errorCode first, the HTTP status only when there is none.
FcmVerdict classify_fcm_response(int status, std::string_view body, std::string_view retry_after);

}  // namespace pushgate
