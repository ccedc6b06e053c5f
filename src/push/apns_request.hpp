// What APNs is sent for one push and what its answer means. Pure functions: a PushJob and
// the time in, an HTTP/2 request out; a status and a body in, a verdict out.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.hpp"
#include "push/outcome.hpp"
#include "push/provider.hpp"

namespace pushgate {

struct ApnsRequest {
  std::string path;  // /3/device/<token>
  std::vector<std::pair<std::string, std::string>> headers;  // without authorization
  std::string body;  // JSON
};

inline constexpr std::size_t kApnsMaxVoipPayload = 5120;
inline constexpr std::size_t kApnsMaxPayload = 4096;

// The request for `job` at `now` (epoch seconds), or the Outcome that makes sending it
// pointless: a token that is not hex (TokenDead), a payload over Apple's limit (BadRequest).
Result<ApnsRequest, Outcome> build_apns_request(const PushJob& job, std::int64_t now);

// What an APNs answer means for the push.
struct ApnsVerdict {
  OutcomeKind kind;                    // final outcome if not retried
  bool retry = false;                  // worth another attempt within the deadline
  bool provider_token_expired = false; // 403 ExpiredProviderToken: re-mint, then retry
  std::string reason;                  // Apple's reason, or the status when there is none
  std::optional<std::int64_t> timestamp_ms;  // 410: when the token stopped being valid
};

// Classifies a finished HTTP/2 exchange. `body` is Apple's JSON ({"reason": …}), possibly empty.
ApnsVerdict classify_apns_response(long status, std::string_view body);

}  // namespace pushgate
