// The APNs provider token: an ES256 JWT (header kid, claims iss and iat) signed with the
// team's .p8 key. One per (team, key), shared by every connection and every app using it.
#pragma once

#include <cstdint>
#include <ctime>
#include <string>

#include "common/keys.hpp"
#include "common/result.hpp"

namespace pushgate {

class ApnsTokenSigner {
 public:
  // Apple: refresh no more than once every 20 minutes and no less than once every 60.
  static constexpr std::int64_t kRefreshAfter = std::int64_t{50} * 60;
  static constexpr std::int64_t kMinAge = std::int64_t{20} * 60;
  // Apple refuses a token older than an hour (ExpiredProviderToken).
  static constexpr std::int64_t kValidity = std::int64_t{60} * 60;

  ApnsTokenSigner(EvpKeyPtr key, std::string key_id, std::string team_id);

  // The token to send at `now` (epoch seconds): the current one, or a new one when it is
  // 50 minutes old. An Error when OpenSSL cannot sign (a broken key): nothing changes then.
  Result<std::string> token(std::int64_t now);

  // APNs answered 403 ExpiredProviderToken: mint anew at the next token() call, but only
  // if the current token is at least 20 minutes old (else Apple answers
  // TooManyProviderTokenUpdates). Returns whether a new token will be minted.
  bool expired(std::int64_t now);

  std::uint64_t mints() const { return mints_; }
  std::int64_t issued_at() const { return issued_at_; }
  // When Apple stops taking the current token (issued_at + 60 min), epoch seconds; 0 before
  // the first one. The token is renewed only by token(), i.e. when a push needs it.
  std::int64_t expires_at() const { return token_.empty() ? 0 : issued_at_ + kValidity; }

  // A signed JWT for these claims, or why OpenSSL could not sign. Pure apart from OpenSSL's
  // randomness; unit-tested.
  static Result<std::string> sign(EVP_PKEY* key, const std::string& key_id, const std::string& team_id, std::int64_t iat);

 private:
  EvpKeyPtr key_;
  std::string key_id_, team_id_;
  std::string token_;
  std::int64_t issued_at_ = 0;
  bool force_ = false;
  std::uint64_t mints_ = 0;
};

}  // namespace pushgate
