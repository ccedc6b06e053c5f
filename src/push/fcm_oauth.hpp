// OAuth2 access tokens for FCM HTTP v1: an RS256 JWT assertion signed with the service
// account's key, exchanged at its token_uri. The token is cached and refreshed shortly before
// it expires, one fetch at a time, while pushes that need it wait.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/event_loop.hpp"
#include "common/result.hpp"
#include "push/fcm_credentials.hpp"
#include "http2/client.hpp"

namespace pushgate {

inline constexpr const char* kFcmScope = "https://www.googleapis.com/auth/firebase.messaging";

// The assertion for `iat` (epoch seconds): header alg RS256, typ JWT, kid = private_key_id;
// claims iss = client_email, scope, aud = token_uri, iat, exp = iat + 3600.
// An Error when OpenSSL cannot sign with the account's key.
Result<std::string> make_fcm_assertion(const FcmServiceAccount& account, std::int64_t iat);

struct FcmTokenResult {
  std::string token;  // empty on failure
  std::string error;  // why there is no token
  bool operator_error = false;  // the service account is refused: the operator must fix it
  std::int64_t expires_in = 0;  // seconds, on success
};

// What the token endpoint's answer means. Pure.
FcmTokenResult parse_fcm_token_response(int status, std::string_view body);

class FcmTokenSource {
 public:
  using Ready = std::function<void(const FcmTokenResult&)>;

  // `http` outlives the source.
  FcmTokenSource(EventLoop& loop, Http2Client& http, FcmServiceAccount account, std::string ca_file);
  ~FcmTokenSource();
  FcmTokenSource(const FcmTokenSource&) = delete;
  FcmTokenSource& operator=(const FcmTokenSource&) = delete;

  // Calls `ready` on the loop thread, never inside get(): at once with the cached token,
  // or after the one fetch in progress. After a failed fetch, callers within a short
  // cool-down get the same failure without a new fetch.
  void get(Ready ready);
  // The cached token when it is still valid (fetching its successor alongside once past the
  // refresh point), else nullptr: then get() waits for a fetch. Saves a loop turn per push.
  const std::string* current();
  // FCM answered 401 for `token`: the next get() fetches a new one (once per token).
  void invalidate(const std::string& token);

  std::uint64_t fetches() const { return fetches_; }
  // When the cached token stops being valid (epoch seconds, from the endpoint's expires_in);
  // 0 while there is none: before the first fetch, or after invalidate().
  std::int64_t expires_at() const { return expires_at_epoch_; }
  const std::string& project_id() const { return account_.project_id; }

 private:
  void fetch();
  void finish_fetch(FcmTokenResult result);

  EventLoop& loop_;
  Http2Client& http_;
  FcmServiceAccount account_;
  std::string ca_file_;
  std::string token_;
  std::chrono::steady_clock::time_point refresh_at_, expires_at_;
  std::int64_t expires_at_epoch_ = 0;  // the same as expires_at_, on the wall clock, for /metrics
  bool fetching_ = false;
  std::vector<Ready> waiting_;
  FcmTokenResult last_failure_;
  std::chrono::steady_clock::time_point cool_down_until_;
  std::uint64_t fetches_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace pushgate
