// ES256 JWT signing with OpenSSL 3 for APNs token authentication.
#include "push/apns_token.hpp"

#include <memory>

#include <openssl/ecdsa.h>
#include <openssl/err.h>

namespace pushgate {

ApnsTokenSigner::ApnsTokenSigner(EvpKeyPtr key, std::string key_id, std::string team_id)
    : key_(std::move(key)), key_id_(std::move(key_id)), team_id_(std::move(team_id)) {}

Result<std::string> ApnsTokenSigner::sign(EVP_PKEY* key, const std::string& key_id, const std::string& team_id,
                                          std::int64_t iat) {
  // The fix for both failures: the key loaded at start-up no longer signs, so another is needed.
  const char* fix = "replace the [[app]]'s key_file with the .p8 key Apple issued for its key_id and send pushgate SIGHUP";
  std::string signing_input = base64url("{\"alg\":\"ES256\",\"kid\":\"" + key_id + "\"}") + "." +
                              base64url("{\"iss\":\"" + team_id + "\",\"iat\":" + std::to_string(iat) + "}");
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  unsigned char der[80];
  size_t der_len = sizeof der;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1 ||
      EVP_DigestSign(ctx.get(), der, &der_len, reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1) {
    ERR_clear_error();
    return Error{"signing the APNs provider token failed: the .p8 key cannot sign", fix};
  }
  // JWS wants r || s, 32 bytes each, not OpenSSL's DER.
  const unsigned char* p = der;
  std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len)),
                                                           ECDSA_SIG_free);
  unsigned char raw[64];
  if (!sig || BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), raw, 32) != 32 ||
      BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), raw + 32, 32) != 32) {
    return Error{"signing the APNs provider token failed: unexpected signature encoding", fix};
  }
  return signing_input + "." + base64url(raw, sizeof raw);
}

Result<std::string> ApnsTokenSigner::token(std::int64_t now) {
  if (token_.empty() || force_ || now - issued_at_ >= kRefreshAfter) {
    auto signed_token = sign(key_.get(), key_id_, team_id_, now);
    if (!signed_token) return std::move(signed_token).error();
    token_ = std::move(signed_token).value();
    issued_at_ = now;
    force_ = false;
    ++mints_;
  }
  return token_;
}

bool ApnsTokenSigner::expired(std::int64_t now) {
  if (now - issued_at_ >= kMinAge) force_ = true;
  return force_;
}

}  // namespace pushgate
